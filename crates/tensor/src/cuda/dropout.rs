//! Dropout on the GPU (`kernels/dropout.cu`): the keep mask comes from a counter-based hash of
//! one seed drawn from the caller's generator, so it is reproducible from the seed and the
//! backward regenerates it instead of storing it. (The CPU draws one number per element, so
//! the two devices drop different elements for the same seed.)

use cudarc::driver::PushKernelArg;

use super::context::driver_error;
use super::{Buffer, launch, output};
use crate::backprop::DeviceBackward;
use crate::error::Result;
use crate::storage::Storage;
use crate::tensor::Tensor;

struct Dropout {
    seed: u64,
    p: f32,
}

fn apply(op: &'static str, x: &Buffer, seed: u64, p: f32) -> Result<Buffer> {
    let n = x.len();
    let scale = 1.0 / (1.0 - p);
    output(op, x.ordinal(), n, |g, out| {
        if n == 0 {
            return Ok(());
        }
        let f = g.function(op, "dropout", "dropout")?;
        let (xs, n64) = (x.slice()?, n as i64);
        let mut l = g.stream.launch_builder(&f);
        l.arg(&seed).arg(&p).arg(&scale).arg(xs).arg(out).arg(&n64);
        // SAFETY: the signature matches `dropout`; x and out hold n elements.
        unsafe { l.launch(launch::elementwise(n)) }
            .map(drop)
            .map_err(driver_error(op))
    })
}

// x: (D…) → (D…); p in (0, 1) checked by the caller
pub(crate) fn dropout(t: &Tensor, x: &Buffer, p: f32, seed: u64) -> Result<Tensor> {
    let out = apply("dropout", x, seed, p)?;
    Ok(Tensor::from_device_op(
        Storage::Cuda(out),
        t.shape().to_vec(),
        &[t],
        move || Box::new(Dropout { seed, p }),
    ))
}

impl DeviceBackward for Dropout {
    fn backward(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let dx = apply(
            "dropout backward",
            &super::buffer("dropout backward", g)?,
            self.seed,
            self.p,
        )?;
        Ok(vec![Some(super::tensor(dx, g.shape()))])
    }
}
