//! Quantized weights: products against the f64 product of the dequantized weights (and, with
//! int8 activations, of the activations quantized the documented way) on ragged shapes (not
//! multiples of the group or the vector width), on both kernel paths, both activation modes
//! and 1, 2 and 3 threads, and the errors of an inference-only weight. The portable/wide and
//! activation switches are process-wide, so one test walks every combination in turn.

use loam_tensor::{
    KernelPath, Q8_SPAN, VNNI_MAX_ROWS, QuantActivations, QuantFormat, QuantMatrix, Rng, Tensor, force_portable,
    kernel_path, no_grad, quant_gemv_calls, set_quant_activations, vnni_available, wide_available,
};

/// Held by every test that sets a process-wide switch (activation mode, kernel path): the
/// test harness runs the tests of this file on parallel threads.
static SWITCHES: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `x · wᵀ` for the dequantized `w`, summed in f64: `x` `[m, k]`, `w` `[n, k]`.
fn reference(x: &[f32], w: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
    (0..m * n)
        .map(|o| {
            let (i, j) = (o / n, o % n);
            (0..k).map(|p| f64::from(x[i * k + p]) * f64::from(w[j * k + p])).sum()
        })
        .collect()
}

/// `d · round(v / d)` for each value of a block, `d = max|block| / 127` (ties to even).
fn quantize_block(block: &[f32]) -> Vec<f32> {
    let d = block.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
    block.iter().map(|&v| if d > 0.0 { d * (v / d).round_ties_even() } else { 0.0 }).collect()
}

/// The activations a product with int8 activations sees (products of fewer than
/// [`VNNI_MAX_ROWS`] rows where AMX does not run; larger ones keep f32 activations): with
/// 4-bit weights each row cut into blocks of 32 neighbours; with int8 weights into spans of
/// [`Q8_SPAN`] (256) values, a block being values `4l..4l + 4` of each 64-value chunk of a span.
fn q8_activations(x: &[f32], k: usize, format: QuantFormat) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(k) {
        if format == QuantFormat::Q4 {
            row.chunks(32).for_each(|block| out.extend(quantize_block(block)));
            continue;
        }
        for span in row.chunks(Q8_SPAN) {
            let mut values = vec![0.0f32; span.len()];
            for lane in 0..16 {
                let at: Vec<usize> = (0..span.len()).filter(|i| i % 64 / 4 == lane).collect();
                let block: Vec<f32> = at.iter().map(|&i| span[i]).collect();
                for (&i, v) in at.iter().zip(quantize_block(&block)) {
                    values[i] = v;
                }
            }
            out.extend(values);
        }
    }
    out
}

/// Products on the current path and activation mode for every format and shape, checked
/// against the reference; returns the outputs.
fn products(activations: QuantActivations) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(11);
    let mut outs = Vec::new();
    // (m, k, n): a few rows (in kernel calls of up to 8 rows) and matrices, k below, at and
    // between multiples of 16, 32, 64 and 256 (the int8 activations' spans), n odd and large
    // enough to be split over threads
    let shapes = [
        (1, 5, 3),
        (1, 37, 21),
        (2, 77, 130),
        (1, 768, 2305),
        (1, 200, 97),
        (3, 33, 7),
        (1, 64, 9),
        (4, 45, 19),
        (5, 130, 67),
        (9, 768, 300),
        (8, 300, 41),
        (12, 600, 37),
        (15, 40, 33),
        (17, 100, 300),
        (40, 70, 45),
    ];
    for format in [QuantFormat::Int8, QuantFormat::Q4, QuantFormat::Bf16] {
        for (m, k, n) in shapes {
            let w = QuantMatrix::quantize(&Tensor::randn(&[n, k], 0.0, 1.0, &mut rng), format).unwrap();
            let x = Tensor::randn(&[m, k], 0.0, 1.0, &mut rng);
            let got = x.matmul_quant(&w).unwrap();
            assert_eq!(got.shape(), &[m, n]);
            let got = got.to_vec();
            let int8_in = activations == QuantActivations::Int8 && format != QuantFormat::Bf16 && m < VNNI_MAX_ROWS;
            let xs = if int8_in { q8_activations(&x.to_vec(), k, format) } else { x.to_vec() };
            let want = reference(&xs, &w.dequantize().to_vec(), m, k, n);
            for (o, (&g, &r)) in got.iter().zip(&want).enumerate() {
                let tol = 2e-5 * (k as f64).sqrt() * (1.0 + r.abs());
                assert!(
                    (f64::from(g) - r).abs() <= tol,
                    "{format} {activations:?} [{m}, {k}]·[{n}, {k}]ᵀ: y[{o}] = {g}, want {r}"
                );
            }
            outs.push(got);
        }
    }
    outs
}

/// The products on `threads` threads.
fn products_on(threads: usize, activations: QuantActivations) -> Vec<Vec<f32>> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| products(activations))
}

/// Every element of `a` within `rel` of `b`'s (relative to 1 + |b|).
fn assert_close(a: &[Vec<f32>], b: &[Vec<f32>], rel: f32, what: &str) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        for (&p, &q) in x.iter().zip(y) {
            assert!((p - q).abs() <= rel * (1.0 + q.abs()), "{what}: {p} vs {q}");
        }
    }
}

#[test]
fn both_kernel_paths_and_activation_modes_match_the_dequantized_f32_product() {
    let _switches = SWITCHES.lock().unwrap_or_else(|e| e.into_inner());
    // the AMX kernels (16 rows or more) round the activations: tests/amx.rs checks them
    loam_tensor::amx_kernels(false);
    for activations in [QuantActivations::Int8, QuantActivations::F32] {
        set_quant_activations(activations);
        force_portable(true);
        assert_eq!(kernel_path(), KernelPath::Portable);
        let before = quant_gemv_calls();
        let portable = products_on(2, activations);
        let after = quant_gemv_calls();
        assert_eq!(after.0, before.0, "a wide quantized kernel ran with the portable path forced");
        assert!(after.1 >= before.1 + 10, "the portable kernels ran {} times", after.1 - before.1);

        force_portable(false);
        if !wide_available() || (activations == QuantActivations::Int8 && !vnni_available()) {
            eprintln!("quant: wide {activations:?} path not tested: this CPU lacks AVX-512 (VNNI)");
            continue;
        }
        assert_eq!(kernel_path(), KernelPath::Wide);
        for threads in [1, 2, 3] {
            let before = quant_gemv_calls();
            let wide = products_on(threads, activations);
            let after = quant_gemv_calls();
            assert!(after.0 >= before.0 + 10, "the wide kernels ran {} times", after.0 - before.0);
            assert_eq!(after.1, before.1, "a quantized product left the wide path on an AVX-512 CPU");
            // same arithmetic up to the order of f32 sums
            assert_close(&wide, &portable, 1e-4, &format!("{activations:?} wide on {threads} threads vs portable"));
        }
    }
    set_quant_activations(QuantActivations::Int8);
}

#[test]
fn int8_activations_change_a_vector_product_by_their_rounding_only() {
    // the kernels see the quantized activations: a different input in one block changes the
    // output by exactly that block's contribution, and int8 activations differ from f32 ones
    let _switches = SWITCHES.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = Rng::new(9);
    let (k, n) = (96, 40);
    let w = QuantMatrix::quantize(&Tensor::randn(&[n, k], 0.0, 1.0, &mut rng), QuantFormat::Int8).unwrap();
    let x = Tensor::randn(&[1, k], 0.0, 1.0, &mut rng);
    set_quant_activations(QuantActivations::F32);
    let exact = x.matmul_quant(&w).unwrap().to_vec();
    set_quant_activations(QuantActivations::Int8);
    let int8 = x.matmul_quant(&w).unwrap().to_vec();
    assert!(exact.iter().zip(&int8).any(|(a, b)| a != b), "int8 activations gave the f32 products");
    let rms = (exact.iter().map(|v| v * v).sum::<f32>() / n as f32).sqrt();
    let err = (exact.iter().zip(&int8).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / n as f32).sqrt();
    assert!(err <= 0.01 * rms, "int8 activations: rms error {err} vs output rms {rms}");
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
        let y = x.matmul_quant(&w).unwrap().to_vec();
        assert!(y.iter().all(|&v| (v - 2.0).abs() < 1e-5), "{y:?}");
    }
    for format in [QuantFormat::Int8, QuantFormat::Q4] {
        let w = QuantMatrix::quantize(&Tensor::ones(&[3, 2]), format).unwrap();
        assert_eq!(Tensor::zeros(&[0, 2]).matmul_quant(&w).unwrap().shape(), &[0, 3], "{format}: no rows");
    }
    let err = Tensor::ones(&[1, 3]).matmul_quant(&w).unwrap_err().to_string();
    assert!(err.contains("matmul_quant") && err.contains("2 columns"), "{err}");
}
