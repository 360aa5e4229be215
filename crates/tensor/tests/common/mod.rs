//! Shared by the per-device op tests: the CPU/device parity check.

#![allow(dead_code)]

use loam_tensor::gradcheck::randn;
use loam_tensor::{Device, Result, Tensor};

/// Relative tolerance of f32 results against the CPU.
pub const RTOL: f32 = 1e-5;
/// Relative tolerance of bf16-autocast results against the CPU's f32.
pub const RTOL_BF16: f32 = 2e-2;
/// Absolute tolerance added to the relative one.
pub const ATOL: f32 = 1e-6;

/// Asserts `got` matches `want` elementwise within `rtol` relative (+ [`ATOL`]), relative to
/// the largest magnitude of `want` when `scale_by_max` (products in bf16 round their inputs,
/// so their error scales with the row, not the element).
pub fn close_within(what: &str, want: &[f32], got: &[f32], rtol: f32, scale_by_max: bool) {
    assert_eq!(want.len(), got.len(), "{what}: lengths");
    let max = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (i, (&w, &g)) in want.iter().zip(got).enumerate() {
        let scale = if scale_by_max {
            max
        } else {
            w.abs().max(g.abs())
        };
        assert!(
            (w - g).abs() <= ATOL + rtol * scale,
            "{what}[{i}]: cpu {w}, device {g}"
        );
    }
}

/// [`parity_within`] at the f32 tolerance.
pub fn parity(
    dev: Device,
    name: &str,
    inputs: Vec<Tensor>,
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
) -> Result<()> {
    parity_within(dev, name, RTOL, inputs, f)
}

/// Runs `f` on the CPU and on `dev` with the same inputs (as variables) and compares the
/// outputs and the gradients of a weighted sum of the output within `rtol` (relative to the
/// largest value when `rtol` is the bf16 one).
pub fn parity_within(
    dev: Device,
    name: &str,
    rtol: f32,
    inputs: Vec<Tensor>,
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
) -> Result<()> {
    let by_max = rtol >= RTOL_BF16;
    let cpu: Vec<Tensor> = inputs.iter().map(Tensor::to_var).collect();
    let on_dev = inputs
        .iter()
        .map(|t| Ok(t.to_device(dev)?.to_var()))
        .collect::<Result<Vec<_>>>()?;
    let (yc, yd) = (f(&cpu)?, f(&on_dev)?);
    assert_eq!(yd.device(), dev, "{name}: output device");
    assert_eq!(yc.shape(), yd.shape(), "{name}: output shape");
    close_within(name, &yc.to_vec(), &yd.try_to_vec()?, rtol, by_max);
    let w = randn(yc.shape(), 7);
    let (gc, gd) = (
        yc.mul(&w)?.sum_all().backward()?,
        yd.mul(&w.to_device(dev)?)?.sum_all().backward()?,
    );
    for (i, (c, d)) in cpu.iter().zip(&on_dev).enumerate() {
        match (gc.get(c), gd.get(d)) {
            (Some(a), Some(b)) => {
                assert_eq!(b.device(), dev, "{name}: gradient {i} device");
                close_within(
                    &format!("{name} gradient {i}"),
                    &a.to_vec(),
                    &b.try_to_vec()?,
                    rtol,
                    by_max,
                );
            }
            (None, None) => {}
            _ => panic!("{name}: input {i} has a gradient on one device only"),
        }
    }
    Ok(())
}
