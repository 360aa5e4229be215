//! `cargo xtask bench amx-pairwise`: the AMX kernels of products with bf16, int8 and 4-bit
//! weights against the paths they replace (bf16: widen to f32 and gemm; int8: dequantize blocks
//! and gemm; 4-bit: the VNNI kernels with int8 activations below 64 rows, dequantized blocks
//! and gemm from 64), both in this process, in alternating blocks of calls as `gemm-pairwise`
//! does, so a loaded machine's drift hits both sides alike. Cases: SmolLM2-360M's products
//! (bf16) and all-MiniLM-L6-v2's (int8) at 256 input rows; GPT-2's (4-bit) at 32 rows (a batch
//! of 32 sequences decoding) and 256 (a prompt). Reported: each side's median GFLOP/s and the
//! median of the per-round ratios (`pairwise_ratio`, AMX's speed over the other path's).

use std::time::Instant;

use anyhow::{Result, bail};
use loam_tensor::{QuantFormat, QuantMatrix, Rng, Tensor, amx_available, amx_kernels};

use crate::measure::median;
use crate::record::Record;

/// `(weight format, m, k, n)`: SmolLM2-360M's q/o, k/v, gate/up and down products and
/// MiniLM's attention, up and down products, 256 rows each; GPT-2's qkv, up and down products
/// at 32 rows and its up product at 256.
const CASES: [(&str, usize, usize, usize); 11] = [
    ("bf16", 256, 960, 960),
    ("bf16", 256, 960, 320),
    ("bf16", 256, 960, 2560),
    ("bf16", 256, 2560, 960),
    ("int8", 256, 384, 384),
    ("int8", 256, 384, 1536),
    ("int8", 256, 1536, 384),
    ("q4", 32, 768, 2304),
    ("q4", 32, 768, 3072),
    ("q4", 32, 3072, 768),
    ("q4", 256, 768, 3072),
];
/// Alternating rounds per case.
const ROUNDS: usize = 15;
/// Calls per block; the first [`UNTIMED`] are not timed.
const BLOCK: usize = 6;
/// Calls at the start of a block that are not timed.
const UNTIMED: usize = 2;

/// Runs every case and returns one record each (AMX's GFLOP/s, the other path's, the ratio).
pub fn run() -> Result<Vec<Record>> {
    if !amx_available() {
        bail!(
            "amx-pairwise needs a CPU with AMX (tile, bf16, int8) and Linux 5.16 or later; this one has none"
        );
    }
    let _inference = loam_tensor::no_grad();
    let mut records = Vec::new();
    for (format, m, k, n) in CASES {
        let mut rng = Rng::new(0);
        let w = Tensor::randn(&[n, k], 0.0, 0.05, &mut rng);
        let x = Tensor::randn(&[m, k], 0.0, 1.0, &mut rng);
        // a bf16 QuantMatrix multiplies through matmul_bf16
        let weights = QuantMatrix::quantize(&w, QuantFormat::parse(format)?)?;
        let product = || x.matmul_quant(&weights);
        // both sides once (packs the weights for AMX), and a check that they agree
        amx_kernels(false);
        let other = product()?.to_vec();
        amx_kernels(true);
        let amx = product()?.to_vec();
        let scale = other.iter().fold(0.0f32, |a, v| a.max(v.abs())).max(1e-6);
        let worst = amx
            .iter()
            .zip(&other)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max)
            / scale;
        if worst > 0.05 {
            bail!(
                "{format} [{m},{k}]x[{n},{k}]ᵀ: AMX and the other path differ by {worst} of the largest output"
            );
        }
        let (mut amx_s, mut other_s, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let (mut amx_t, mut other_t) = (0.0, 0.0);
            for on in if round % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            } {
                amx_kernels(on);
                for call in 0..BLOCK {
                    let start = Instant::now();
                    std::hint::black_box(product()?);
                    if call >= UNTIMED {
                        *(if on { &mut amx_t } else { &mut other_t }) +=
                            start.elapsed().as_secs_f64();
                    }
                }
            }
            amx_s.push(amx_t);
            other_s.push(other_t);
            ratios.push(other_t / amx_t);
        }
        amx_kernels(true);
        let gflops = |secs: f64| 2.0 * (m * n * k) as f64 * (BLOCK - UNTIMED) as f64 / secs / 1e9;
        let case = format!("{format} [{m},{k}]x[{n},{k}]T");
        records.push(Record::loam(
            "amx-pairwise",
            &case,
            &[
                ("gflops_amx", gflops(median(&mut amx_s))),
                ("gflops_other", gflops(median(&mut other_s))),
                ("pairwise_ratio", median(&mut ratios)),
            ],
        ));
    }
    Ok(records)
}
