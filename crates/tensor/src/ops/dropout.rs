//! Dropout with inverted scaling: kept elements are multiplied by 1/(1−p), so evaluation
//! needs no rescaling. The mask comes from the caller's seeded generator.

use ndarray::{ArrayD, IxDyn};

use crate::backprop::BackwardOp;
use crate::error::{Result, TensorError};
use crate::kernel::map2;
use crate::rng::Rng;
use crate::tensor::Tensor;

struct Dropout {
    /// 0 where dropped, 1/(1−p) where kept; same shape as the input
    scale: ArrayD<f32>,
}

impl Tensor {
    /// Zeroes each element with probability `p` (in `[0, 1)`) and scales the rest by
    /// 1/(1−p). Call it in training only; `p = 0` returns the input unchanged.
    // x: (D…) → (D…)
    pub fn dropout(&self, p: f32, rng: &mut Rng) -> Result<Tensor> {
        if !(0.0..1.0).contains(&p) {
            return Err(TensorError::invalid("dropout", format!("probability {p} is not in [0, 1)")));
        }
        if p == 0.0 {
            return Ok(self.clone());
        }
        #[cfg(feature = "cuda")]
        if let Some(x) = self.cuda_buffer() {
            return crate::cuda::dropout::dropout(self, &x, p, rng.next_u64());
        }
        let keep = 1.0 / (1.0 - p);
        let scale: Vec<f32> = (0..self.elem_count()).map(|_| if rng.uniform() < p { 0.0 } else { keep }).collect();
        let scale = ArrayD::from_shape_vec(IxDyn(self.shape()), scale).expect("one per element");
        let out = map2(self.arr().view(), scale.view(), |x, s| x * s);
        Ok(Tensor::from_op(out, &[self], || Box::new(Dropout { scale })))
    }
}

impl BackwardOp for Dropout {
    fn backward(&self, g: ArrayD<f32>, _needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        Ok(vec![Some(map2(g.view(), self.scale.view(), |g, s| g * s))])
    }
}
