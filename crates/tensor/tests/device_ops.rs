//! The ops on every device: each test runs on the CPU and (when a GPU is visible) on CUDA
//! device 0, through `loam_tensor::device_tests!`. On a device, the forward result and the
//! gradient of every input must match the CPU's within 1e-5 relative (+1e-6 absolute); the
//! CPU's own gradients are checked against finite differences in `grad.rs`.

use loam_tensor::gradcheck::{away_from_zero, distinct, randn, uniform};
use loam_tensor::{Device, Result, Tensor, TensorError, device_tests};

const RTOL: f32 = 1e-5;
const ATOL: f32 = 1e-6;

fn close(what: &str, want: &[f32], got: &[f32]) {
    assert_eq!(want.len(), got.len(), "{what}: lengths");
    for (i, (&w, &g)) in want.iter().zip(got).enumerate() {
        assert!(
            (w - g).abs() <= ATOL + RTOL * w.abs().max(g.abs()),
            "{what}[{i}]: cpu {w}, device {g}"
        );
    }
}

/// Runs `f` on the CPU and on `dev` with the same inputs (as variables) and compares the
/// outputs and the gradients of a weighted sum of the output.
fn parity(
    dev: Device,
    name: &str,
    inputs: &[Tensor],
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
) -> Result<()> {
    let cpu: Vec<Tensor> = inputs.iter().map(Tensor::to_var).collect();
    let on_dev = inputs
        .iter()
        .map(|t| Ok(t.to_device(dev)?.to_var()))
        .collect::<Result<Vec<_>>>()?;
    let (yc, yd) = (f(&cpu)?, f(&on_dev)?);
    assert_eq!(yd.device(), dev, "{name}: output device");
    assert_eq!(yc.shape(), yd.shape(), "{name}: output shape");
    close(name, &yc.to_vec(), &yd.try_to_vec()?);
    let w = randn(yc.shape(), 7);
    let (gc, gd) = (
        yc.mul(&w)?.sum_all().backward()?,
        yd.mul(&w.to_device(dev)?)?.sum_all().backward()?,
    );
    for (i, (c, d)) in cpu.iter().zip(&on_dev).enumerate() {
        match (gc.get(c), gd.get(d)) {
            (Some(a), Some(b)) => {
                assert_eq!(b.device(), dev, "{name}: gradient {i} device");
                close(
                    &format!("{name} gradient {i}"),
                    &a.to_vec(),
                    &b.try_to_vec()?,
                );
            }
            (None, None) => {}
            _ => panic!("{name}: input {i} has a gradient on one device only"),
        }
    }
    Ok(())
}

fn unary_ops(dev: Device) -> Result<()> {
    let x = randn(&[3, 5, 7], 1);
    let pos = uniform(&[3, 5, 7], 0.2, 3.0, 2);
    let one = |f: fn(&Tensor) -> Tensor| move |t: &[Tensor]| Ok(f(&t[0]));
    parity(dev, "neg", &[x.clone()], one(Tensor::neg))?;
    parity(
        dev,
        "add_scalar",
        &[x.clone()],
        |t| Ok(t[0].add_scalar(0.5)),
    )?;
    parity(dev, "mul_scalar", &[x.clone()], |t| {
        Ok(t[0].mul_scalar(-1.5))
    })?;
    parity(dev, "powf", &[pos.clone()], |t| Ok(t[0].powf(1.7)))?;
    parity(dev, "sqrt", &[pos.clone()], one(Tensor::sqrt))?;
    parity(dev, "exp", &[x.clone()], one(Tensor::exp))?;
    parity(dev, "log", &[pos], one(Tensor::log))?;
    parity(dev, "tanh", &[x.clone()], one(Tensor::tanh))?;
    parity(dev, "relu", &[away_from_zero(&x, 0.05)], one(Tensor::relu))?;
    parity(dev, "gelu", &[x.clone()], one(Tensor::gelu))?;
    parity(dev, "gelu_tanh", &[x.clone()], one(Tensor::gelu_tanh))?;
    parity(dev, "silu", &[x.clone()], one(Tensor::silu))?;
    parity(dev, "sigmoid", &[x], one(Tensor::sigmoid))
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
        parity(dev, "add", &[a.clone(), b.clone()], |t| t[0].add(&t[1]))?;
        parity(dev, "sub", &[a.clone(), b.clone()], |t| t[0].sub(&t[1]))?;
        parity(dev, "mul", &[a.clone(), b.clone()], |t| t[0].mul(&t[1]))?;
        parity(dev, "div", &[a, b], |t| t[0].div(&t[1]))?;
    }
    Ok(())
}

fn reductions(dev: Device) -> Result<()> {
    let x = randn(&[3, 4, 5], 5);
    for keep in [false, true] {
        parity(dev, "sum 0,2", &[x.clone()], |t| t[0].sum(&[0, 2], keep))?;
        parity(dev, "sum -1", &[x.clone()], |t| t[0].sum(&[-1], keep))?;
        parity(dev, "mean 1", &[x.clone()], |t| t[0].mean(&[1], keep))?;
    }
    parity(dev, "sum_all", &[x.clone()], |t| Ok(t[0].sum_all()))?;
    parity(dev, "mean_all", &[x], |t| Ok(t[0].mean_all()))?;
    let d = distinct(&[3, 4, 5], 6);
    parity(dev, "max 1", &[d.clone()], |t| t[0].max(&[1], false))?;
    parity(dev, "max 0,2 keep", &[d.clone()], |t| {
        t[0].max(&[0, 2], true)
    })?;
    parity(dev, "max_all", &[d], |t| Ok(t[0].max_all()))?;
    // ties share the gradient
    parity(
        dev,
        "max ties",
        &[Tensor::from_vec(
            vec![1.0, 3.0, 3.0, 2.0, 2.0, 0.0],
            &[2, 3],
        )?],
        |t| t[0].max(&[1], false),
    )
}

fn layout_ops(dev: Device) -> Result<()> {
    let x = randn(&[2, 3, 4], 8);
    parity(dev, "permute", &[x.clone()], |t| t[0].permute(&[2, 0, 1]))?;
    parity(dev, "transpose", &[x.clone()], |t| t[0].transpose(-1, -2))?;
    parity(dev, "transpose then matmul-free sum", &[x.clone()], |t| {
        t[0].transpose(0, 2)?.sum(&[0], false)
    })?;
    parity(dev, "narrow", &[x.clone()], |t| t[0].narrow(2, 1, 2))?;
    parity(dev, "reshape", &[x.clone()], |t| t[0].reshape(&[6, 4]))?;
    parity(dev, "unsqueeze", &[x.clone()], |t| t[0].unsqueeze(1))?;
    parity(dev, "contiguous", &[x.clone()], |t| {
        Ok(t[0].transpose(0, 1)?.contiguous())
    })?;
    parity(dev, "broadcast_as", &[randn(&[3, 1], 9)], |t| {
        t[0].broadcast_as(&[2, 3, 4])
    })?;
    parity(dev, "a value used twice", &[x], |t| {
        t[0].mul(&t[0])?.add(&t[0].exp())
    })
}

fn moves_and_mismatches(dev: Device) -> Result<()> {
    let x = randn(&[4, 3], 10);
    // a round trip keeps the values, and the gradient flows back through both moves
    parity(dev, "round trip", &[x.clone()], |t| {
        t[0].to_device(Device::Cpu)?
            .to_device(dev)?
            .exp()
            .to_device(dev)
    })?;
    if dev == Device::Cpu {
        return Ok(());
    }
    let (a, b) = (x.to_device(dev)?, x.clone());
    let err = a.add(&b).unwrap_err();
    assert!(
        matches!(err, TensorError::DeviceMismatch { op: "add", .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("cuda:0") && err.to_string().contains("cpu"),
        "{err}"
    );
    let err = a.to_var().update(|_| ()).unwrap_err();
    assert!(err.to_string().contains("cuda:0"), "{err}");
    Ok(())
}

device_tests!(
    unary_ops,
    binary_ops_broadcast,
    reductions,
    layout_ops,
    moves_and_mismatches
);
