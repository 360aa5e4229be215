//! Causal softmax of attention scores in one pass: the scaling, the causal mask and the
//! softmax that attention otherwise runs as three ops (`mul_scalar`, `masked_fill`,
//! `softmax`), each reading and writing the whole `Tq × Tk` score matrix, forward and backward.
//! The hidden keys are never read: their weights are written as zeros (and their gradients
//! too), so a prompt of T tokens exponentiates about T²/2 scores instead of T².

use ndarray::{ArrayD, IxDyn};

use crate::backprop::BackwardOp;
use crate::error::{Result, TensorError};
use crate::kernel::{dot, exp_nonpositive, init, max, rows, standard, sum};
use crate::tensor::{Array, Tensor};

const OP: &str = "causal_softmax";

/// The keys row `i` of a causal softmax sees: `0..past + i % t + 1`.
#[inline(always)]
fn seen(i: usize, t: usize, past: usize) -> usize {
    past + i % t + 1
}

/// What the backward needs: the weights and the layout of the rows.
struct CausalSoftmax {
    y: Array,
    scale: f32,
    t: usize,
    past: usize,
}

impl Tensor {
    /// softmax(`self`·`scale`) along the last axis of raw scores `[…, R, Tk]`, where row `r`
    /// (counted over all leading axes) is the query at position `past + r % t`: keys after
    /// it weigh exactly 0. With `R = G·t` this is grouped-query attention's stacked layout
    /// (the `G` query heads of a k/v head as `G·t` rows), and with `G = 1` plain causal
    /// attention of `t` new queries after `past` cached positions. Equal to
    /// `(self·scale).masked_fill(mask, f32::MIN).softmax(-1)` up to the order of the additions.
    /// Inference only: an input that tracks gradients is an error unless gradients are off.
    // scores: (…, R, Tk) → weights (…, R, Tk)
    pub fn causal_softmax(&self, scale: f32, t: usize, past: usize) -> Result<Tensor> {
        self.cpu_only(OP)?;
        let s = self.shape();
        if s.len() < 2 || t == 0 || !scale.is_finite() || scale <= 0.0 {
            return Err(TensorError::invalid(
                OP,
                format!("needs scores [.., R, Tk], t > 0 and a positive scale, got shape {s:?}, t {t}, scale {scale}"),
            ));
        }
        let (r, tk) = (s[s.len() - 2], s[s.len() - 1]);
        if !r.is_multiple_of(t) || past + t > tk {
            return Err(TensorError::invalid(
                OP,
                format!("{r} query rows are not groups of {t} queries after {past} cached positions within {tk} keys"),
            ));
        }
        let x = self.arr();
        let xs = standard(x.view());
        let n = self.elem_count() / tk.max(1);
        // row i sees keys 0..=past + i % t (R is a multiple of t, so i % t = (i % R) % t)
        let (y, _) = rows(
            n,
            tk,
            #[inline(always)]
            |i, y| {
                let seen = seen(i, t, past);
                let x = &xs[i * tk..i * tk + seen];
                // max(v·scale) = max(v)·scale for scale > 0 (rounding is monotonic)
                let m = max(x) * scale;
                let (head, tail) = y.split_at_mut(seen);
                let head = init(head, x.iter().map(|&v| exp_nonpositive(v * scale - m)));
                let inv = 1.0 / sum(head);
                head.iter_mut().for_each(|w| *w *= inv);
                init(tail, std::iter::repeat_n(0.0, tk - seen));
            },
        );
        let y: Array = ArrayD::from_shape_vec(IxDyn(s), y).expect("n rows of tk").into();
        Ok(Tensor::from_op(y.clone(), &[self], || Box::new(CausalSoftmax { y, scale, t, past })))
    }
}

impl BackwardOp for CausalSoftmax {
    // dx = scale · y ⊙ (g − Σ g⊙y) over the keys a row sees; 0 for the hidden ones
    fn backward(&self, g: ArrayD<f32>, _needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        let shape = g.shape().to_vec();
        let tk = shape[shape.len() - 1];
        let (gs, ys) = (standard(g.view()), standard(self.y.view()));
        let (scale, t, past) = (self.scale, self.t, self.past);
        let (dx, _) = rows(
            ys.len() / tk.max(1),
            tk,
            #[inline(always)]
            |i, dx| {
                let seen = seen(i, t, past);
                let (y, g) = (&ys[i * tk..i * tk + seen], &gs[i * tk..i * tk + seen]);
                let dot = dot(g, y);
                let (head, tail) = dx.split_at_mut(seen);
                init(head, y.iter().zip(g).map(|(&y, &g)| scale * y * (g - dot)));
                init(tail, std::iter::repeat_n(0.0, tk - seen));
            },
        );
        Ok(vec![Some(ArrayD::from_shape_vec(IxDyn(&shape), dx).expect("the output's shape"))])
    }
}

#[cfg(test)]
mod tests {
    use crate::{Mask, Rng, Tensor};

    #[test]
    fn matches_the_composed_scale_mask_softmax() {
        let mut rng = Rng::new(3);
        // [B, KV, G·T, Tk]: 2 query heads of 5 new positions after 3 cached ones
        let (g, t, past) = (2, 5, 3);
        let x = Tensor::randn(&[2, 3, g * t, past + t], 0.0, 3.0, &mut rng);
        let mask = Mask::from_fn(&[1, 1, g * t, past + t], |ix| ix[3] > past + ix[2] % t);
        let want = x.mul_scalar(0.125).masked_fill(&mask, f32::MIN).unwrap().softmax(-1).unwrap().to_vec();
        let got = x.causal_softmax(0.125, t, past).unwrap().to_vec();
        let worst = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-6, "max difference {worst}");
        // the hidden keys weigh exactly zero
        assert_eq!(got[past + 1], 0.0);
    }

    #[test]
    fn bad_shapes_are_errors() {
        let x = Tensor::zeros(&[1, 6, 8]);
        assert!(x.causal_softmax(1.0, 4, 0).unwrap_err().to_string().contains("groups of 4"));
        assert!(x.causal_softmax(1.0, 3, 6).is_err());
        assert!(x.causal_softmax(0.0, 3, 0).is_err());
    }
}
