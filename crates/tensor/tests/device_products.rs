//! Matrix products on every device (`device_tests!`): plain, batched, broadcast, the linear
//! layer's `matmul_bias`, transposed operands, and bf16 autocast (2e-2 of the CPU's f32 on a
//! GPU, no effect on the CPU).

mod common;

use common::{RTOL, RTOL_BF16, parity, parity_within};
use loam_tensor::gradcheck::randn;
use loam_tensor::{Device, Result, autocast_bf16, device_tests};

fn products(dev: Device) -> Result<()> {
    let cases: [(&[usize], &[usize]); 6] = [
        (&[5, 7], &[7, 3]),
        (&[2, 5, 7], &[2, 7, 3]),
        (&[2, 5, 7], &[7, 3]),
        (&[5, 7], &[4, 7, 3]),
        (&[2, 1, 5, 7], &[3, 7, 4]),
        (&[1, 6], &[6, 9]),
    ];
    for (sa, sb) in cases {
        parity(
            dev,
            &format!("matmul {sa:?} {sb:?}"),
            vec![randn(sa, 11), randn(sb, 12)],
            |t| t[0].matmul(&t[1]),
        )?;
    }
    parity(
        dev,
        "matmul_bias",
        vec![randn(&[6, 5], 13), randn(&[5, 4], 14), randn(&[4], 15)],
        |t| t[0].matmul_bias(&t[1], &t[2]),
    )?;
    parity(
        dev,
        "a @ bᵀ",
        vec![randn(&[2, 3, 5, 8], 16), randn(&[2, 3, 6, 8], 17)],
        |t| t[0].matmul(&t[1].transpose(-1, -2)?),
    )?;
    parity(
        dev,
        "aᵀ @ b",
        vec![randn(&[8, 5], 18), randn(&[8, 6], 19)],
        |t| t[0].transpose(0, 1)?.matmul(&t[1]),
    )
}

fn products_under_autocast(dev: Device) -> Result<()> {
    let _bf16 = autocast_bf16();
    // the CPU ignores autocast: exact there, bf16 tolerance on a GPU
    let rtol = if dev == Device::Cpu { RTOL } else { RTOL_BF16 };
    parity_within(
        dev,
        "bf16 matmul",
        rtol,
        vec![randn(&[4, 64, 96], 20), randn(&[96, 48], 21)],
        |t| t[0].matmul(&t[1]),
    )?;
    parity_within(
        dev,
        "bf16 batched",
        rtol,
        vec![randn(&[3, 32, 64], 22), randn(&[3, 64, 16], 23)],
        |t| t[0].matmul(&t[1]),
    )
}

device_tests!(products, products_under_autocast);

/// A small model's whole step: embedding, two linear layers with a nonlinearity, a mask and
/// a mean-square loss; the loss and every parameter's gradient match the CPU's.
fn model_step(dev: Device) -> Result<()> {
    let ids = [1, 4, 4, 0, 2, 7];
    let inputs = vec![
        randn(&[8, 16], 50),
        randn(&[16, 32], 51),
        randn(&[32], 52),
        randn(&[32, 5], 53),
    ];
    let mask = loam_tensor::Mask::from_fn(&[6, 5], |ix| ix[1] == 4);
    parity(dev, "model step", inputs, |p| {
        let h = p[0]
            .index_select(0, &ids)?
            .matmul_bias(&p[1], &p[2])?
            .tanh();
        let y = h.matmul(&p[3])?.masked_fill(&mask, 0.0)?;
        Ok(y.mul(&y)?.mean_all())
    })
}

device_tests!(model_step);

/// The caching allocator: after a warm-up step, further steps take no new memory from the
/// driver (the pool's reserved bytes stay put).
#[cfg(feature = "cuda")]
#[test]
fn training_steps_allocate_nothing_new_after_the_first() -> Result<()> {
    if loam_tensor::cuda_device_count() == 0 {
        // straight to stderr, past the harness's capture: the skip shows in every log
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "training_steps_allocate_nothing_new_after_the_first: skipped: no CUDA device");
        return Ok(());
    }
    let dev = Device::Cuda(0);
    let params = [
        randn(&[64, 128], 60),
        randn(&[128, 256], 61),
        randn(&[256], 62),
    ]
    .iter()
    .map(|p| Ok(p.to_device(dev)?.to_var()))
    .collect::<Result<Vec<_>>>()?;
    let step = || -> Result<f32> {
        let x = params[0].index_select(0, &[1, 5, 9, 5, 63, 0, 2, 2])?;
        let y = x.matmul_bias(&params[1], &params[2])?.gelu_tanh();
        let loss = y.mul(&y)?.mean_all();
        let grads = loss.backward()?;
        for p in &params {
            let g = grads.get(p).expect("a gradient for every parameter");
            p.assign(&p.sub(&g.mul_scalar(1e-3))?)?;
        }
        loss.to_scalar()
    };
    step()?;
    step()?;
    let warm = loam_tensor::cuda::reserved_bytes(0)?;
    for _ in 0..3 {
        step()?;
    }
    assert_eq!(
        loam_tensor::cuda::reserved_bytes(0)?,
        warm,
        "the pool grew after warm-up"
    );
    Ok(())
}
