//! Quantized weights: products against the f32 product of the dequantized weights on ragged
//! shapes (not multiples of the group or the vector width), on both kernel paths, and the
//! errors of an inference-only weight. The portable/wide switch is process-wide, so one test
//! walks both paths in turn.

use loam_tensor::{
    KernelPath, QuantFormat, QuantMatrix, Rng, Tensor, force_portable, kernel_path, no_grad, quant_gemv_calls,
    wide_available,
};

/// `x · wᵀ` for the dequantized `w`, summed in f64: `x` `[m, k]`, `w` `[n, k]`.
fn reference(x: &[f32], w: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
    (0..m * n)
        .map(|o| {
            let (i, j) = (o / n, o % n);
            (0..k).map(|p| f64::from(x[i * k + p]) * f64::from(w[j * k + p])).sum()
        })
        .collect()
}

/// Products on the current path for every format and shape, checked against the reference;
/// returns the outputs.
fn products() -> Vec<Vec<f32>> {
    let mut rng = Rng::new(11);
    let mut outs = Vec::new();
    // (m, k, n): vectors (m < 4) and matrices, k below, at and between multiples of 16 and 32,
    // n odd and large enough to be split over threads
    let shapes = [(1, 5, 3), (1, 37, 21), (2, 77, 130), (1, 768, 2305), (3, 33, 7), (4, 45, 19), (17, 100, 300)];
    for format in [QuantFormat::Int8, QuantFormat::Q4, QuantFormat::Bf16] {
        for (m, k, n) in shapes {
            let w = QuantMatrix::quantize(&Tensor::randn(&[n, k], 0.0, 1.0, &mut rng), format).unwrap();
            let x = Tensor::randn(&[m, k], 0.0, 1.0, &mut rng);
            let got = x.matmul_quant(&w).unwrap();
            assert_eq!(got.shape(), &[m, n]);
            let got = got.to_vec();
            let want = reference(&x.to_vec(), &w.dequantize().to_vec(), m, k, n);
            for (o, (&g, &r)) in got.iter().zip(&want).enumerate() {
                let tol = 2e-5 * (k as f64).sqrt() * (1.0 + r.abs());
                assert!((f64::from(g) - r).abs() <= tol, "{format} [{m}, {k}]·[{n}, {k}]ᵀ: y[{o}] = {g}, want {r}");
            }
            outs.push(got);
        }
    }
    outs
}

#[test]
fn both_kernel_paths_match_the_dequantized_f32_product() {
    // the AMX kernels (16 rows or more) quantize the activations: tests/amx.rs checks them
    loam_tensor::amx_kernels(false);
    force_portable(true);
    assert_eq!(kernel_path(), KernelPath::Portable);
    let before = quant_gemv_calls();
    let portable = products();
    let after = quant_gemv_calls();
    assert_eq!(after.0, before.0, "a wide quantized kernel ran with the portable path forced");
    assert!(after.1 >= before.1 + 10, "the portable kernels ran {} times", after.1 - before.1);

    force_portable(false);
    if !wide_available() {
        eprintln!("quant: wide path not tested: this CPU lacks AVX-512 (portable path tested)");
        return;
    }
    assert_eq!(kernel_path(), KernelPath::Wide);
    let before = quant_gemv_calls();
    let wide = products();
    let after = quant_gemv_calls();
    assert!(after.0 >= before.0 + 10, "the wide kernels ran {} times", after.0 - before.0);
    assert_eq!(after.1, before.1, "a quantized product left the wide path on an AVX-512 CPU");
    assert_eq!(portable.len(), wide.len());
}

#[test]
fn quantized_products_stay_close_to_the_f32_weights() {
    // the quantization error itself, for a product the size of a GPT-2 layer: relative to the
    // output's scale, int8 is within 1% and q4 within 15%
    let mut rng = Rng::new(4);
    let (k, n) = (768, 256);
    let w = Tensor::randn(&[n, k], 0.0, 0.02, &mut rng);
    let x = Tensor::randn(&[1, k], 0.0, 1.0, &mut rng);
    let exact = x.matmul(&w.transpose(0, 1).unwrap()).unwrap().to_vec();
    let rms = (exact.iter().map(|v| v * v).sum::<f32>() / n as f32).sqrt();
    for (format, bound) in [(QuantFormat::Bf16, 0.01), (QuantFormat::Int8, 0.01), (QuantFormat::Q4, 0.15)] {
        let got = x.matmul_quant(&QuantMatrix::quantize(&w, format).unwrap()).unwrap().to_vec();
        let err = (got.iter().zip(&exact).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / n as f32).sqrt();
        assert!(err <= bound * rms, "{format}: rms error {err} vs output rms {rms}");
    }
}

#[test]
fn training_through_a_quantized_weight_and_wrong_widths_are_errors() {
    let w = QuantMatrix::quantize(&Tensor::ones(&[3, 2]), QuantFormat::Int8).unwrap();
    let x = Tensor::ones(&[1, 2]).to_var();
    let err = x.matmul_quant(&w).unwrap_err().to_string();
    assert!(err.contains("matmul_quant") && err.contains("no backward"), "{err}");
    {
        let _g = no_grad();
        assert_eq!(x.matmul_quant(&w).unwrap().to_vec(), vec![2.0; 3]);
    }
    let err = Tensor::ones(&[1, 3]).matmul_quant(&w).unwrap_err().to_string();
    assert!(err.contains("matmul_quant") && err.contains("2 columns"), "{err}");
}
