//! The fused ops (layer norm, RMS norm, softmax, log-softmax, cross-entropy, RoPE, attention,
//! AdamW) on every device against the CPU: values within 1e-5 (absolute + relative), gradients
//! within 1e-4 (their sums run in another order), bf16 attention within 2e-2, AdamW bit for
//! bit. The CUDA instances print `skipped: no CUDA device` where no GPU is visible.

use loam_tensor::gradcheck::{randn, uniform};
use loam_tensor::{AdamWStep, Device, Result, Tensor, adamw_step, autocast_bf16, device_tests};

/// Forward values and the gradients of Σ f(inputs) ⊙ r with respect to every input, computed
/// on `device` and returned to the host.
fn run(
    device: Device,
    inputs: &[Tensor],
    f: &dyn Fn(&[Tensor]) -> Result<Tensor>,
) -> Result<(Vec<f32>, Vec<Vec<f32>>)> {
    let vars: Vec<Tensor> = inputs
        .iter()
        .map(|t| Ok(t.to_device(device)?.to_var()))
        .collect::<Result<_>>()?;
    let out = f(&vars)?;
    assert_eq!(out.device(), device, "the op's result left the device");
    let r = uniform(out.shape(), -1.0, 1.0, 99).to_device(device)?;
    let grads = out.mul(&r)?.sum_all().backward()?;
    let g = vars
        .iter()
        .map(|v| {
            grads
                .get(v)
                .map_or(Ok(vec![0.0; v.elem_count()]), |g| g.try_to_vec())
        })
        .collect::<Result<_>>()?;
    Ok((out.try_to_vec()?, g))
}

/// Panics unless every |a − b| ≤ tol·(1 + |b|).
fn close(what: &str, a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}[{i}]: {x} on the device vs {y} on the CPU"
        );
    }
}

/// The op on `device` against the op on the CPU, values at `tol`, gradients at 10·`tol`.
fn same_as_cpu(
    what: &str,
    device: Device,
    inputs: &[Tensor],
    tol: f32,
    f: &dyn Fn(&[Tensor]) -> Result<Tensor>,
) -> Result<()> {
    let (y, g) = run(device, inputs, f)?;
    let (y_cpu, g_cpu) = run(Device::Cpu, inputs, f)?;
    close(&format!("{what} on {device}: values"), &y, &y_cpu, tol);
    for (i, (g, g_cpu)) in g.iter().zip(&g_cpu).enumerate() {
        close(
            &format!("{what} on {device}: gradient of input {i}"),
            g,
            g_cpu,
            10.0 * tol,
        );
    }
    Ok(())
}

fn layer_norm_matches_cpu(device: Device) -> Result<()> {
    for (i, &c) in [5usize, 64, 1000].iter().enumerate() {
        let x = randn(&[3, 7, c], i as u64).mul_scalar(3.0).add_scalar(1.5);
        let (w, b) = (randn(&[c], 10 + i as u64), randn(&[c], 20 + i as u64));
        same_as_cpu(
            "layer_norm",
            device,
            &[x.clone(), w.clone(), b],
            1e-5,
            &|t| t[0].layer_norm(Some(&t[1]), Some(&t[2]), 1e-5),
        )?;
        same_as_cpu(
            "layer_norm without bias",
            device,
            &[x.clone(), w],
            1e-5,
            &|t| t[0].layer_norm(Some(&t[1]), None, 1e-5),
        )?;
        same_as_cpu("layer_norm without weight", device, &[x], 1e-5, &|t| {
            t[0].layer_norm(None, None, 1e-5)
        })?;
    }
    Ok(())
}

fn rms_norm_matches_cpu(device: Device) -> Result<()> {
    for (i, &c) in [3usize, 96, 1500].iter().enumerate() {
        let (x, w) = (randn(&[4, 9, c], i as u64), randn(&[c], 30 + i as u64));
        same_as_cpu("rms_norm", device, &[x, w], 1e-5, &|t| {
            t[0].rms_norm(&t[1], 1e-6)
        })?;
    }
    Ok(())
}

fn softmax_matches_cpu(device: Device) -> Result<()> {
    let x = randn(&[3, 5, 300], 1).mul_scalar(4.0);
    for axis in [-1isize, 1, 0] {
        same_as_cpu(
            &format!("softmax({axis})"),
            device,
            std::slice::from_ref(&x),
            1e-5,
            &|t| t[0].softmax(axis),
        )?;
        same_as_cpu(
            &format!("log_softmax({axis})"),
            device,
            std::slice::from_ref(&x),
            1e-5,
            &|t| t[0].log_softmax(axis),
        )?;
    }
    Ok(())
}

fn cross_entropy_matches_cpu(device: Device) -> Result<()> {
    let x = randn(&[2, 6, 500], 2).mul_scalar(3.0);
    let targets: Vec<i64> = (0..12)
        .map(|i| {
            if i % 5 == 3 {
                -100
            } else {
                (i * 37 % 500) as i64
            }
        })
        .collect();
    same_as_cpu(
        "cross_entropy",
        device,
        std::slice::from_ref(&x),
        1e-5,
        &|t| t[0].cross_entropy(&targets, Some(-100)),
    )?;
    let ignored = vec![-100; 12];
    same_as_cpu(
        "cross_entropy, every row ignored",
        device,
        std::slice::from_ref(&x),
        1e-5,
        &|t| t[0].cross_entropy(&ignored, Some(-100)),
    )?;
    let err = x
        .to_device(device)?
        .cross_entropy(&[500; 12], None)
        .unwrap_err();
    assert!(err.to_string().contains("cross_entropy"), "{err}");
    Ok(())
}

/// cos and sin tables `[b, t, half]` of random angles.
fn tables(b: usize, t: usize, half: usize, seed: u64) -> Result<(Tensor, Tensor)> {
    let angle = uniform(&[b, t, half], -3.0, 3.0, seed).to_vec();
    let cos = Tensor::from_vec(angle.iter().map(|a| a.cos()).collect(), &[b, t, half])?;
    Ok((
        cos,
        Tensor::from_vec(angle.iter().map(|a| a.sin()).collect(), &[b, t, half])?,
    ))
}

fn rope_matches_cpu(device: Device) -> Result<()> {
    let x = randn(&[2, 3, 5, 8], 3);
    for b in [1usize, 2] {
        let (cos, sin) = tables(b, 5, 4, 4 + b as u64)?;
        same_as_cpu(
            &format!("rope with {b} table(s)"),
            device,
            std::slice::from_ref(&x),
            1e-5,
            &|t| {
                t[0].rope(
                    &cos.to_device(t[0].device())?,
                    &sin.to_device(t[0].device())?,
                )
            },
        )?;
    }
    Ok(())
}

fn attention_matches_cpu(device: Device) -> Result<()> {
    // head dims below, at and between multiples of 32; lengths across tile edges (32)
    for (i, &(causal, tq, tk, d)) in [
        (true, 70, 70, 64),
        (false, 33, 45, 16),
        (true, 5, 40, 80),
        (true, 1, 1, 128),
        (false, 9, 9, 200),
    ]
    .iter()
    .enumerate()
    {
        let seed = 10 * i as u64;
        let q = randn(&[2, 3, tq, d], seed);
        let k = randn(&[2, 3, tk, d], seed + 1);
        let v = randn(&[2, 3, tk, d], seed + 2);
        let scale = 1.0 / (d as f32).sqrt();
        same_as_cpu(
            &format!("attention causal {causal} Tq {tq} Tk {tk} D {d}"),
            device,
            &[q, k, v],
            1e-5,
            &|t| t[0].scaled_dot_product_attention(&t[1], &t[2], causal, scale),
        )?;
    }
    Ok(())
}

fn bf16_attention_is_close_to_f32(device: Device) -> Result<()> {
    let (q, k, v) = (
        randn(&[2, 4, 50, 64], 1),
        randn(&[2, 4, 50, 64], 2),
        randn(&[2, 4, 50, 64], 3),
    );
    let f = |t: &[Tensor]| t[0].scaled_dot_product_attention(&t[1], &t[2], true, 0.125);
    let (y, g) = {
        let _bf16 = autocast_bf16();
        run(device, &[q.clone(), k.clone(), v.clone()], &f)?
    };
    let (y_cpu, g_cpu) = run(Device::Cpu, &[q, k, v], &f)?;
    close(
        &format!("bf16 attention on {device}: values"),
        &y,
        &y_cpu,
        2e-2,
    );
    for (i, (g, g_cpu)) in g.iter().zip(&g_cpu).enumerate() {
        close(
            &format!("bf16 attention on {device}: gradient of input {i}"),
            g,
            g_cpu,
            2e-2,
        );
    }
    Ok(())
}

fn adamw_step_matches_cpu_bits(device: Device) -> Result<()> {
    let shapes: [&[usize]; 3] = [&[64, 33], &[5], &[10_000]];
    let make = |device: Device| -> Result<Vec<[Tensor; 3]>> {
        shapes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let var = |t: Tensor| -> Result<Tensor> { Ok(t.to_device(device)?.to_var()) };
                Ok([
                    var(randn(s, i as u64))?,
                    var(Tensor::zeros(s))?,
                    var(Tensor::zeros(s))?,
                ])
            })
            .collect()
    };
    let (ours, cpu) = (make(device)?, make(Device::Cpu)?);
    for step in 1..=3u64 {
        let s = AdamWStep {
            lr: 1e-2,
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.1,
            step,
        };
        let grads: Vec<Tensor> = shapes
            .iter()
            .enumerate()
            .map(|(i, sh)| randn(sh, 100 * step + i as u64))
            .collect();
        for (state, device) in [(&ours, device), (&cpu, Device::Cpu)] {
            let g: Vec<Tensor> = grads
                .iter()
                .map(|g| g.to_device(device))
                .collect::<Result<_>>()?;
            let col = |j: usize| state.iter().map(|t| &t[j]).collect::<Vec<&Tensor>>();
            adamw_step(&col(0), &g.iter().collect::<Vec<_>>(), &col(1), &col(2), &s)?;
        }
    }
    for (i, (a, b)) in ours.iter().zip(&cpu).enumerate() {
        for (j, what) in ["parameter", "exp_avg", "exp_avg_sq"].iter().enumerate() {
            let (x, y) = (a[j].try_to_vec()?, b[j].try_to_vec()?);
            let diff = x
                .iter()
                .zip(&y)
                .position(|(x, y)| x.to_bits() != y.to_bits());
            assert!(
                diff.is_none(),
                "{what} {i} on {device} differs from the CPU's at {diff:?}"
            );
        }
    }
    Ok(())
}

fn mixed_devices_are_errors(device: Device) -> Result<()> {
    if device == Device::Cpu {
        return Ok(());
    }
    let x = randn(&[2, 8], 1);
    let w = Tensor::ones(&[8]).to_device(device)?;
    let err = x.layer_norm(Some(&w), None, 1e-5).unwrap_err();
    assert!(err.to_string().contains("layer_norm"), "{err}");
    let q = randn(&[1, 1, 4, 8], 2);
    let err = q
        .scaled_dot_product_attention(&q.to_device(device)?, &q, true, 1.0)
        .unwrap_err();
    assert!(
        err.to_string().contains("scaled_dot_product_attention"),
        "{err}"
    );
    Ok(())
}

device_tests!(
    layer_norm_matches_cpu,
    rms_norm_matches_cpu,
    softmax_matches_cpu,
    cross_entropy_matches_cpu,
    rope_matches_cpu,
    attention_matches_cpu,
    bf16_attention_is_close_to_f32,
    adamw_step_matches_cpu_bits,
    mixed_devices_are_errors,
);
