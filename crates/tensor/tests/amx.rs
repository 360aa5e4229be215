//! The AMX kernels of matrix products with bf16, int8 and 4-bit weights (16 input rows or
//! more), against f64 references of the operands they multiply (bf16-rounded activations, and
//! for int8 weights optionally per-row int8 activations; 4-bit weights dequantized and rounded
//! to bf16), on ragged shapes (rows, columns and k not multiples of the tiles, more
//! rows than one pass), on one and two threads, and with AMX turned off or the portable path
//! forced (the other paths run: the AMX call count does not move). The switches are
//! process-wide, so this file holds a single test. On a CPU without AMX the AMX half is
//! skipped with one line on stderr.

use loam_tensor::{
    Bf16Matrix, QuantActivations, QuantFormat, QuantMatrix, Rng, Tensor, amx_available, amx_calls,
    amx_int8_activations, amx_kernels, force_portable, set_quant_activations,
};

/// Shapes `(m, k, n)`, m ≥ 16: tails of 16, 32 and 64 everywhere, k = 1, k > 512, m > 256.
const SHAPES: [(usize, usize, usize); 8] = [
    (16, 1, 1),
    (17, 33, 31),
    (32, 64, 32),
    (33, 257, 65),
    (40, 96, 513),
    (64, 960, 130),
    (300, 100, 70),
    (19, 1101, 47),
];

/// `x` `[m, k]` · `w` `[n, k]`ᵀ in f64, with Σ|terms| of each output (for the tolerance).
fn reference(x: &[f64], w: &[f64], m: usize, k: usize, n: usize) -> Vec<(f64, f64)> {
    (0..m * n)
        .map(|o| {
            let (i, j) = (o / n, o % n);
            (0..k)
                .map(|p| x[i * k + p] * w[j * k + p])
                .fold((0.0, 0.0), |(s, a), t| (s + t, a + t.abs()))
        })
        .collect()
}

/// `x` quantized per row as the int8 kernel does: values `round(x / s)` times `s = max|x| / 127`.
fn int8_rows(x: &[f32], k: usize) -> Vec<f64> {
    x.chunks(k)
        .flat_map(|row| {
            let amax = row.iter().fold(0.0f32, |a, v| a.max(v.abs()));
            let s = amax / 127.0;
            row.iter().map(move |&v| {
                if amax == 0.0 {
                    0.0
                } else {
                    f64::from((v * (127.0 / amax)).round()) * f64::from(s)
                }
            })
        })
        .collect()
}

/// Every shape with bf16 and with int8 weights on the current path; `amx` says whether the
/// reference rounds the activations to bf16, `int8` whether it quantizes them to int8 instead
/// for int8 weights. Tolerance: f32 sums of k terms are within k·2⁻²⁴·Σ|terms|
/// of the exact sum; 1e-5·Σ|terms| covers the k here in practice (the error grows as √k). The
/// int8 sums are exact in i32, only the two scale products round. Returns the outputs.
fn products(amx: bool, int8: bool) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(3);
    let mut outs = Vec::new();
    for (m, k, n) in SHAPES {
        let wf = Tensor::randn(&[n, k], 0.0, 1.0, &mut rng);
        let x = Tensor::randn(&[m, k], 0.0, 1.0, &mut rng);
        let xv = x.to_vec();
        let wb = Bf16Matrix::from_tensor(&wf).unwrap();
        let wq = QuantMatrix::quantize(&wf, QuantFormat::Int8).unwrap();
        let f64s = |v: &[f32]| v.iter().map(|&v| f64::from(v)).collect::<Vec<_>>();
        let rounded = f64s(&if amx {
            Bf16Matrix::from_tensor(&x).unwrap().to_tensor().to_vec()
        } else {
            xv.clone()
        });
        let cases = [
            (
                "bf16",
                x.matmul_bf16(&wb).unwrap().to_vec(),
                wb.to_tensor().to_vec(),
                rounded.clone(),
            ),
            (
                "int8",
                x.matmul_quant(&wq).unwrap().to_vec(),
                wq.dequantize().to_vec(),
                if amx && int8 {
                    int8_rows(&xv, k)
                } else {
                    rounded
                },
            ),
        ];
        // 4-bit weights against this reference on AMX only (the dequantized weights rounded
        // to bf16); off AMX they take int8 activations or f32 blocks, which tests/quant.rs
        // checks. Run either way, so that the AMX call counts cover them.
        let wq4 = QuantMatrix::quantize(&wf, QuantFormat::Q4).unwrap();
        let q4_product = x.matmul_quant(&wq4).unwrap().to_vec();
        let q4 = amx.then(|| {
            let w = Bf16Matrix::from_tensor(&wq4.dequantize()).unwrap().to_tensor().to_vec();
            ("q4", q4_product, w, cases[0].3.clone())
        });
        for (name, got, w, xs) in cases.into_iter().chain(q4) {
            let w = f64s(&w);
            for (o, (&g, (want, size))) in got.iter().zip(reference(&xs, &w, m, k, n)).enumerate() {
                let tol = if name == "int8" && amx && int8 {
                    1e-6 * size
                } else {
                    1e-5 * size
                } + 1e-30;
                assert!(
                    (f64::from(g) - want).abs() <= tol,
                    "{name} amx {amx} int8 {int8} m {m} k {k} n {n}: y[{}, {}] = {g}, want {want}",
                    o / n,
                    o % n
                );
            }
            if name != "q4" {
                outs.push(got);
            }
        }
    }
    outs
}

/// `f` on a rayon pool of `threads` threads.
fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn amx_products_match_their_references_and_the_switches_turn_them_off() {
    // The references off AMX assume f32 activations for int8 weights (the AMX kernels do not
    // read this switch; with int8 activations tests/quant.rs checks the other paths).
    set_quant_activations(QuantActivations::F32);
    force_portable(true);
    let before = amx_calls();
    let portable = on_threads(2, || products(false, false));
    assert_eq!(amx_calls(), before, "AMX ran with the portable path forced");
    force_portable(false);
    if !amx_available() {
        use std::io::Write;
        let _ = std::io::stderr().write_all(
            b"amx: AMX path not tested: this CPU or kernel lacks AMX (other paths tested)\n",
        );
        return;
    }
    amx_kernels(true);
    for int8 in [false, true] {
        amx_int8_activations(int8);
        let calls = amx_calls();
        let one = on_threads(1, || products(true, int8));
        assert_eq!(
            amx_calls(),
            calls + 3 * SHAPES.len() as u64,
            "every product ran on AMX"
        );
        let two = on_threads(2, || products(true, int8));
        assert!(one == two, "AMX results depend on the thread count");
        for ((a, b), i) in one.iter().zip(&portable).zip(0..) {
            if SHAPES[i / 2].1 > 1 {
                assert!(
                    a != b,
                    "shape {:?}: AMX gave the portable values (did it run?)",
                    SHAPES[i / 2]
                );
            }
        }
        // a non-finite activation gives a row of NaN and leaves the other rows finite
        let wf = Tensor::randn(&[20, 40], 0.0, 1.0, &mut Rng::new(1));
        let mut xv = Tensor::randn(&[16, 40], 0.0, 1.0, &mut Rng::new(2)).to_vec();
        xv[3 * 40 + 7] = f32::NAN;
        let x = Tensor::from_vec(xv, &[16, 40]).unwrap();
        let int8_weights = QuantMatrix::quantize(&wf, QuantFormat::Int8).unwrap();
        for y in [
            x.matmul_quant(&int8_weights).unwrap(),
            x.matmul_bf16(&Bf16Matrix::from_tensor(&wf).unwrap())
                .unwrap(),
        ] {
            let y = y.to_vec();
            assert!(
                y[3 * 20..4 * 20].iter().all(|v| v.is_nan())
                    && y[..3 * 20].iter().all(|v| v.is_finite()),
                "{y:?}"
            );
        }
    }
    amx_int8_activations(false);
    // turned off, the products go back to the f32 paths
    amx_kernels(false);
    let calls = amx_calls();
    assert!(
        on_threads(2, || products(false, false)) == portable,
        "with AMX off the results differ from the other path"
    );
    assert_eq!(amx_calls(), calls, "AMX ran while turned off");
    amx_kernels(true);
    set_quant_activations(QuantActivations::Int8);
}
