//! The loam side of `cargo xtask bench matmul`: matrix products in GFLOP/s, and softmax, layer
//! norm, cross-entropy and add in GB/s (bytes read and written once per call / time).
//!
//! The cases and their names match `xtask/py/matmul.py`, so the two sides line up by case.

use std::time::Duration;

use anyhow::Result;
use loam_tensor::{Rng, Tensor};

use crate::measure::median_secs;
use crate::record::Record;

/// Timed-repeat budget of one case; the whole benchmark stays well under a minute.
const BUDGET: Duration = Duration::from_millis(1000);
/// Rows and columns of the softmax, layer norm and add inputs.
const ROWS_COLS: [usize; 2] = [4096, 1024];
/// Rows (tokens) and vocabulary of the cross-entropy logits.
const LOGITS: [usize; 2] = [512, 8192];
/// Bytes of an f32.
const F32: usize = 4;

/// Runs every case and returns one loam record each.
pub fn run() -> Result<Vec<Record>> {
    let _inference = loam_tensor::no_grad();
    let mut rng = Rng::new(0);
    let mut records = Vec::new();
    for n in [256, 512, 1024, 2048] {
        records.push(matmul(&format!("n={n}"), &[n, n], &[n, n], &mut rng)?);
    }
    records.push(matmul(
        "[768,128]x[128,384]",
        &[768, 128],
        &[128, 384],
        &mut rng,
    )?);
    records.push(matmul(
        "48x[64,32]x[32,64]",
        &[48, 64, 32],
        &[48, 32, 64],
        &mut rng,
    )?);

    let [rows, cols] = ROWS_COLS;
    let elems = rows * cols;
    let x = Tensor::randn(&ROWS_COLS, 0.0, 1.0, &mut rng);
    let y = Tensor::randn(&ROWS_COLS, 0.0, 1.0, &mut rng);
    let w = Tensor::randn(&[cols], 1.0, 0.1, &mut rng);
    let b = Tensor::randn(&[cols], 0.0, 0.1, &mut rng);
    let case = |op: &str| format!("{op} [{rows},{cols}]");
    records.push(bandwidth(&case("softmax"), 2 * elems * F32, || {
        x.softmax(-1)
    })?);
    let ln_bytes = (2 * elems + 2 * cols) * F32;
    records.push(bandwidth(&case("layer_norm"), ln_bytes, || {
        x.layer_norm(Some(&w), Some(&b), 1e-5)
    })?);
    records.push(bandwidth(&case("add"), 3 * elems * F32, || x.add(&y))?);

    let [tokens, vocab] = LOGITS;
    let logits = Tensor::randn(&LOGITS, 0.0, 1.0, &mut rng);
    let targets: Vec<i64> = (0..tokens).map(|i| ((i * 7919) % vocab) as i64).collect();
    let ce_bytes = tokens * vocab * F32 + tokens * size_of::<i64>() + F32;
    let ce_case = format!("cross_entropy [{tokens},{vocab}]");
    records.push(bandwidth(&ce_case, ce_bytes, || {
        logits.cross_entropy(&targets, Some(-100))
    })?);
    Ok(records)
}

/// Times `a @ b` for operands of the given shapes (the last two axes multiply).
fn matmul(case: &str, a_shape: &[usize], b_shape: &[usize], rng: &mut Rng) -> Result<Record> {
    let a = Tensor::randn(a_shape, 0.0, 1.0, rng);
    let b = Tensor::randn(b_shape, 0.0, 1.0, rng);
    let (m, k) = (a_shape[a_shape.len() - 2], a_shape[a_shape.len() - 1]);
    let n = b_shape[b_shape.len() - 1];
    let batch: usize = a_shape[..a_shape.len() - 2].iter().product();
    let flops = 2.0 * (batch * m * n * k) as f64;
    let secs = median_secs(BUDGET, || a.matmul(&b))?;
    Ok(Record::loam(
        "matmul",
        case,
        &[("gflops", flops / secs / 1e9), ("ms_per_iter", secs * 1e3)],
    ))
}

/// Times a memory-bound operation that reads and writes `bytes` per call.
fn bandwidth(
    case: &str,
    bytes: usize,
    f: impl FnMut() -> loam_tensor::Result<Tensor>,
) -> Result<Record> {
    let secs = median_secs(BUDGET, f)?;
    Ok(Record::loam(
        "matmul",
        case,
        &[
            ("gb_per_s", bytes as f64 / secs / 1e9),
            ("ms_per_iter", secs * 1e3),
        ],
    ))
}
