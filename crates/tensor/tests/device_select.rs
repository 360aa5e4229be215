//! Selection ops on every device (`device_tests!`): embedding lookup and gather with their
//! scatter-add backward (repeated indices), concatenation, masks, dropout, and the clear
//! error of the inference-only CPU kernels on a GPU.

mod common;

use common::parity;
use loam_tensor::gradcheck::randn;
use loam_tensor::{
    Bf16Matrix, Device, Mask, QuantFormat, QuantMatrix, Result, Rng, Tensor, TensorError,
    device_tests, no_grad,
};

fn indexing(dev: Device) -> Result<()> {
    let table = randn(&[10, 6], 30);
    parity(
        dev,
        "embedding lookup (repeats)",
        vec![table.clone()],
        |t| t[0].index_select(0, &[3, 1, 3, 9, 0, 3]),
    )?;
    parity(
        dev,
        "index_select axis 1",
        vec![randn(&[2, 5, 3], 31)],
        |t| t[0].index_select(1, &[4, 4, 0]),
    )?;
    let index = [2, 0, 2, 1, 1, 1];
    parity(dev, "gather", vec![randn(&[2, 3], 32)], |t| {
        t[0].gather(1, &index, &[2, 3])
    })?;
    parity(dev, "gather axis 0", vec![randn(&[3, 2], 33)], |t| {
        t[0].gather(0, &[2, 2, 0, 1], &[2, 2])
    })?;
    let err = table.to_device(dev)?.index_select(0, &[10]).unwrap_err();
    assert!(
        matches!(
            err,
            TensorError::IndexOutOfRange {
                index: 10,
                size: 10,
                ..
            }
        ),
        "{err}"
    );
    Ok(())
}

fn concatenation(dev: Device) -> Result<()> {
    let (a, b, c) = (
        randn(&[2, 3, 4], 34),
        randn(&[2, 1, 4], 35),
        randn(&[2, 2, 4], 36),
    );
    parity(dev, "cat axis 1", vec![a.clone(), b, c], |t| {
        Tensor::cat(t, 1)
    })?;
    parity(
        dev,
        "cat axis -1",
        vec![a.clone(), randn(&[2, 3, 2], 37)],
        |t| Tensor::cat(t, -1),
    )?;
    parity(dev, "stack", vec![a.clone(), randn(&[2, 3, 4], 38)], |t| {
        Tensor::stack(t, 0)
    })
}

fn masks(dev: Device) -> Result<()> {
    let scores = randn(&[2, 3, 4, 4], 39);
    let causal = Mask::causal(4);
    parity(dev, "masked_fill causal", vec![scores.clone()], |t| {
        t[0].masked_fill(&causal, -1e4)
    })?;
    let padding = Mask::padding(&[3, 1], 4).reshape(&[2, 1, 1, 4])?;
    parity(dev, "masked_fill padding", vec![scores], |t| {
        t[0].masked_fill(&padding, 0.5)
    })?;
    let m = Mask::from_fn(&[3, 1], |ix| ix[0] != 1);
    parity(
        dev,
        "where_cond",
        vec![randn(&[3, 4], 40), randn(&[4], 41)],
        |t| Tensor::where_cond(&m, &t[0], &t[1]),
    )
}

fn dropout(dev: Device) -> Result<()> {
    let x = Tensor::ones(&[64, 64]).to_device(dev)?.to_var();
    let p = 0.25;
    let y = x.dropout(p, &mut Rng::new(5))?;
    let v = y.try_to_vec()?;
    let kept = v.iter().filter(|&&e| e != 0.0).count() as f32 / v.len() as f32;
    assert!((kept - (1.0 - p)).abs() < 0.03, "kept fraction {kept}");
    assert!(
        v.iter()
            .all(|&e| e == 0.0 || (e - 1.0 / (1.0 - p)).abs() < 1e-6),
        "kept elements are scaled by 1/(1-p)"
    );
    // one seed, one mask; the gradient is the mask itself (d y / d x = scale where kept)
    assert_eq!(x.dropout(p, &mut Rng::new(5))?.try_to_vec()?, v);
    let g = y.sum_all().backward()?;
    assert_eq!(g.get(&x).expect("gradient").try_to_vec()?, v);
    assert_ne!(
        x.dropout(p, &mut Rng::new(6))?.try_to_vec()?,
        v,
        "another seed, another mask"
    );
    Ok(())
}

fn inference_only_kernels_say_so_on_a_gpu(dev: Device) -> Result<()> {
    let _g = no_grad();
    let w = randn(&[8, 64], 42);
    let x = randn(&[2, 64], 43).to_device(dev)?;
    let q = x.matmul_quant(&QuantMatrix::quantize(&w, QuantFormat::Int8)?);
    let b = x.matmul_bf16(&Bf16Matrix::from_tensor(&w)?);
    if dev == Device::Cpu {
        assert_eq!(q?.shape(), &[2, 8]);
        assert_eq!(b?.shape(), &[2, 8]);
    } else {
        for r in [q, b] {
            let err = r.unwrap_err();
            assert!(err.to_string().contains("not on CUDA yet"), "{err}");
        }
    }
    Ok(())
}

device_tests!(
    indexing,
    concatenation,
    masks,
    dropout,
    inference_only_kernels_say_so_on_a_gpu
);
