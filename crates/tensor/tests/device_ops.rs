//! The ops on every device: each test runs on the CPU and (when a GPU is visible) on CUDA
//! device 0, through `loam_tensor::device_tests!`. On a device, the forward result and the
//! gradient of every input must match the CPU's within 1e-5 relative (+1e-6 absolute); the
//! CPU's own gradients are checked against finite differences in `grad.rs`.

mod common;

use common::parity;
use loam_tensor::gradcheck::{away_from_zero, distinct, randn, uniform};
use loam_tensor::{Device, Result, Tensor, TensorError, device_tests};

fn unary_ops(dev: Device) -> Result<()> {
    let x = randn(&[3, 5, 7], 1);
    let pos = uniform(&[3, 5, 7], 0.2, 3.0, 2);
    let one = |f: fn(&Tensor) -> Tensor| move |t: &[Tensor]| Ok(f(&t[0]));
    parity(dev, "neg", vec![x.clone()], one(Tensor::neg))?;
    parity(dev, "add_scalar", vec![x.clone()], |t| {
        Ok(t[0].add_scalar(0.5))
    })?;
    parity(dev, "mul_scalar", vec![x.clone()], |t| {
        Ok(t[0].mul_scalar(-1.5))
    })?;
    parity(dev, "powf", vec![pos.clone()], |t| Ok(t[0].powf(1.7)))?;
    parity(dev, "sqrt", vec![pos.clone()], one(Tensor::sqrt))?;
    parity(dev, "exp", vec![x.clone()], one(Tensor::exp))?;
    parity(dev, "log", vec![pos], one(Tensor::log))?;
    parity(dev, "tanh", vec![x.clone()], one(Tensor::tanh))?;
    parity(
        dev,
        "relu",
        vec![away_from_zero(&x, 0.05)],
        one(Tensor::relu),
    )?;
    parity(dev, "gelu", vec![x.clone()], one(Tensor::gelu))?;
    parity(dev, "gelu_tanh", vec![x.clone()], one(Tensor::gelu_tanh))?;
    parity(dev, "silu", vec![x.clone()], one(Tensor::silu))?;
    parity(dev, "sigmoid", vec![x], one(Tensor::sigmoid))
}

fn binary_ops_broadcast(dev: Device) -> Result<()> {
    for (sa, sb) in [
        (vec![4, 5], vec![4, 5]),
        (vec![2, 3, 4], vec![3, 1]),
        (vec![1, 4], vec![3, 1]),
        (vec![5], vec![2, 5]),
    ] {
        let a = randn(&sa, 3);
        let b = away_from_zero(&randn(&sb, 4), 0.3);
        parity(dev, "add", vec![a.clone(), b.clone()], |t| t[0].add(&t[1]))?;
        parity(dev, "sub", vec![a.clone(), b.clone()], |t| t[0].sub(&t[1]))?;
        parity(dev, "mul", vec![a.clone(), b.clone()], |t| t[0].mul(&t[1]))?;
        parity(dev, "div", vec![a, b], |t| t[0].div(&t[1]))?;
    }
    Ok(())
}

fn reductions(dev: Device) -> Result<()> {
    let x = randn(&[3, 4, 5], 5);
    for keep in [false, true] {
        parity(dev, "sum 0,2", vec![x.clone()], |t| t[0].sum(&[0, 2], keep))?;
        parity(dev, "sum -1", vec![x.clone()], |t| t[0].sum(&[-1], keep))?;
        parity(dev, "mean 1", vec![x.clone()], |t| t[0].mean(&[1], keep))?;
    }
    parity(dev, "sum_all", vec![x.clone()], |t| Ok(t[0].sum_all()))?;
    parity(dev, "mean_all", vec![x], |t| Ok(t[0].mean_all()))?;
    let d = distinct(&[3, 4, 5], 6);
    parity(dev, "max 1", vec![d.clone()], |t| t[0].max(&[1], false))?;
    parity(dev, "max 0,2 keep", vec![d.clone()], |t| {
        t[0].max(&[0, 2], true)
    })?;
    parity(dev, "max_all", vec![d], |t| Ok(t[0].max_all()))?;
    // ties share the gradient
    parity(
        dev,
        "max ties",
        vec![Tensor::from_vec(
            vec![1.0, 3.0, 3.0, 2.0, 2.0, 0.0],
            &[2, 3],
        )?],
        |t| t[0].max(&[1], false),
    )
}

/// Reductions large enough that one output is split across blocks (partials, then a second
/// pass), against a float64 reference.
fn large_reductions(dev: Device) -> Result<()> {
    let x = uniform(&[300, 1000], 0.5, 1.5, 12);
    let host = x.to_vec();
    let x = x.to_device(dev)?;
    let want: f64 = host.iter().map(|&v| v as f64).sum();
    let got = x.sum_all().to_scalar()? as f64;
    assert!(
        (got - want).abs() <= 1e-4 * want,
        "sum_all {got}, float64 {want}"
    );
    let want_max = host.iter().copied().fold(f32::MIN, f32::max);
    assert_eq!(x.max_all().to_scalar()?, want_max);
    let cols = x.reshape(&[100_000, 3])?.sum(&[0], false)?.try_to_vec()?;
    for (c, got) in cols.iter().enumerate() {
        let want: f64 = host.iter().skip(c).step_by(3).map(|&v| v as f64).sum();
        assert!(
            (*got as f64 - want).abs() <= 1e-4 * want,
            "column {c}: {got}, float64 {want}"
        );
    }
    Ok(())
}

fn layout_ops(dev: Device) -> Result<()> {
    let x = randn(&[2, 3, 4], 8);
    parity(dev, "permute", vec![x.clone()], |t| {
        t[0].permute(&[2, 0, 1])
    })?;
    parity(dev, "transpose", vec![x.clone()], |t| {
        t[0].transpose(-1, -2)
    })?;
    parity(
        dev,
        "transpose then matmul-free sum",
        vec![x.clone()],
        |t| t[0].transpose(0, 2)?.sum(&[0], false),
    )?;
    parity(dev, "narrow", vec![x.clone()], |t| t[0].narrow(2, 1, 2))?;
    parity(dev, "reshape", vec![x.clone()], |t| t[0].reshape(&[6, 4]))?;
    parity(dev, "unsqueeze", vec![x.clone()], |t| t[0].unsqueeze(1))?;
    parity(dev, "contiguous", vec![x.clone()], |t| {
        Ok(t[0].transpose(0, 1)?.contiguous())
    })?;
    parity(dev, "broadcast_as", vec![randn(&[3, 1], 9)], |t| {
        t[0].broadcast_as(&[2, 3, 4])
    })?;
    parity(dev, "a value used twice", vec![x], |t| {
        t[0].mul(&t[0])?.add(&t[0].exp())
    })
}

fn moves_and_mismatches(dev: Device) -> Result<()> {
    let x = randn(&[4, 3], 10);
    // a round trip keeps the values, and the gradient flows back through both moves
    parity(dev, "round trip", vec![x.clone()], |t| {
        t[0].to_device(Device::Cpu)?
            .to_device(dev)?
            .exp()
            .to_device(dev)
    })?;
    if dev == Device::Cpu {
        return Ok(());
    }
    let (a, b) = (x.to_device(dev)?, x.clone());
    let mixes: [(&str, Result<Tensor>); 5] = [
        ("add", a.add(&b)),
        ("matmul", b.matmul(&a.transpose(0, 1)?)),
        ("cat", Tensor::cat(&[b.clone(), a.clone()], 0)),
        (
            "where_cond",
            Tensor::where_cond(
                &loam_tensor::Mask::causal(3).reshape(&[3, 3])?.not(),
                &a.narrow(0, 0, 3)?.narrow(1, 0, 3)?,
                &b.narrow(0, 0, 3)?.narrow(1, 0, 3)?,
            ),
        ),
        ("assign", a.to_var().assign(&b).map(|()| b.clone())),
    ];
    for (op, r) in mixes {
        let err = r.unwrap_err();
        assert!(
            matches!(&err, TensorError::DeviceMismatch { op: o, .. } if *o == op),
            "{op}: {err}"
        );
        assert!(
            err.to_string().contains("cuda:0") && err.to_string().contains("cpu"),
            "{err}"
        );
    }
    let err = a.to_var().update(|_| ()).unwrap_err();
    assert!(err.to_string().contains("cuda:0"), "{err}");
    Ok(())
}

device_tests!(
    unary_ops,
    large_reductions,
    binary_ops_broadcast,
    reductions,
    layout_ops,
    moves_and_mismatches
);
