//! `cargo xtask bench amx-f32-pairwise`: f32 matrix products on AMX (the exact three-way bf16
//! split, six bf16 products in one) against the f32 FMA kernels they would replace, both in this
//! process, in alternating blocks of calls as `gemm-pairwise` does, so a loaded machine's drift
//! hits both sides alike. Cases: the products of a SmolLM2-360M prompt of 256 tokens, GPT-2's
//! first MLP product over 1024 tokens, the small product of issue 16, attention's batched heads
//! (12 × T 256 × d 64, both products) and a few square sizes. Reported: each side's median
//! GFLOP/s (f32 multiply-adds × 2) and the median of the per-round ratios (`pairwise_ratio`,
//! AMX's speed over the FMA kernels'); the measurement behind the switch's default.

use std::time::Instant;

use anyhow::{Result, bail};
use loam_tensor::{Rng, Tensor, amx_available, amx_f32_calls, amx_f32_products};

use crate::measure::median;
use crate::record::Record;

/// `(batch, m, k, n)` of each case.
const CASES: [(usize, usize, usize, usize); 11] = [
    (1, 256, 960, 960),
    (1, 256, 960, 320),
    (1, 256, 960, 2560),
    (1, 256, 2560, 960),
    (1, 1024, 768, 3072),
    (1, 64, 768, 3072),
    (1, 768, 128, 384),
    (12, 256, 64, 256),
    (12, 256, 256, 64),
    (1, 512, 512, 512),
    (1, 1024, 1024, 1024),
];
/// Alternating rounds per case.
const ROUNDS: usize = 9;
/// Calls per block; the first [`UNTIMED`] are not timed.
const BLOCK: usize = 4;
/// Calls at the start of a block that are not timed.
const UNTIMED: usize = 1;

/// Runs every case and returns one record each (AMX's GFLOP/s, the FMA kernels', the ratio).
pub fn run() -> Result<Vec<Record>> {
    if !amx_available() {
        bail!("amx-f32-pairwise needs a CPU with AMX (tile, bf16, int8) and Linux 5.16 or later; this one has none");
    }
    let _inference = loam_tensor::no_grad();
    let mut records = Vec::new();
    for (batch, m, k, n) in CASES {
        let mut rng = Rng::new(0);
        let a = Tensor::randn(&[batch, m, k], 0.0, 1.0, &mut rng);
        let b = Tensor::randn(&[batch, k, n], 0.0, 1.0, &mut rng);
        // both sides once, and a check that they agree to f32 accuracy
        amx_f32_products(false);
        let fma = a.matmul(&b)?.to_vec();
        amx_f32_products(true);
        let calls = amx_f32_calls();
        let amx = a.matmul(&b)?.to_vec();
        if amx_f32_calls() == calls {
            bail!("[{m},{k}]x[{k},{n}]: the AMX f32 path did not run (LOAM_AMX=0 or the portable path forced?)");
        }
        let scale = fma.iter().fold(0.0f32, |s, v| s.max(v.abs())).max(1e-6);
        let worst = amx.iter().zip(&fma).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max) / scale;
        if worst > 1e-5 {
            bail!("[{m},{k}]x[{k},{n}]: AMX and the FMA kernels differ by {worst} of the largest output");
        }
        let (mut amx_s, mut fma_s, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let (mut amx_t, mut fma_t) = (0.0, 0.0);
            for on in if round % 2 == 0 { [true, false] } else { [false, true] } {
                amx_f32_products(on);
                for call in 0..BLOCK {
                    let start = Instant::now();
                    std::hint::black_box(a.matmul(&b)?);
                    if call >= UNTIMED {
                        *(if on { &mut amx_t } else { &mut fma_t }) += start.elapsed().as_secs_f64();
                    }
                }
            }
            amx_s.push(amx_t);
            fma_s.push(fma_t);
            ratios.push(fma_t / amx_t);
        }
        amx_f32_products(false);
        let gflops = |secs: f64| 2.0 * (batch * m * n * k) as f64 * (BLOCK - UNTIMED) as f64 / secs / 1e9;
        let case = if batch > 1 { format!("{batch}x[{m},{k}]x[{k},{n}]") } else { format!("[{m},{k}]x[{k},{n}]") };
        records.push(Record::loam(
            "amx-f32-pairwise",
            &case,
            &[
                ("gflops_amx", gflops(median(&mut amx_s))),
                ("gflops_fma", gflops(median(&mut fma_s))),
                ("pairwise_ratio", median(&mut ratios)),
            ],
        ));
    }
    Ok(records)
}
