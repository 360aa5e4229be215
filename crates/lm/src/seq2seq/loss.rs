//! Cross-entropy with label smoothing, as PyTorch's
//! `CrossEntropyLoss(ignore_index=…, label_smoothing=ε)`: each counted row's loss is
//! (1 − ε)·(−log p_target) + ε·mean_c(−log p_c), averaged over the rows that count.

use loam_tensor::Tensor;

use crate::error::{LmError, Result};

/// The target id of rows that do not count (PyTorch's default `ignore_index`).
pub const IGNORE_INDEX: i64 = -100;

/// Mean label-smoothed cross-entropy of `logits` `[N, V]` against `targets` (N ids; rows
/// whose target is `ignore_index` do not count; with none counted the loss is 0).
// logits: [N, V], targets: N → scalar ()
pub fn label_smoothed_cross_entropy(
    logits: &Tensor,
    targets: &[i64],
    ignore_index: Option<i64>,
    smoothing: f32,
) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&smoothing) {
        return Err(LmError::Config(format!(
            "label_smoothing {smoothing} is not in [0, 1]"
        )));
    }
    let nll = logits.cross_entropy(targets, ignore_index)?;
    if smoothing == 0.0 {
        return Ok(nll);
    }
    let counted: Vec<usize> = (0..targets.len())
        .filter(|&i| Some(targets[i]) != ignore_index)
        .collect();
    if counted.is_empty() {
        return Ok(nll);
    }
    // rows: [C, V], the counted rows; mean over C·V of −log p is (1/C) Σ_rows mean_c(−log p_c)
    let rows = logits.index_select(0, &counted)?;
    let uniform = rows.log_softmax(-1)?.mean_all().mul_scalar(-smoothing);
    Ok(nll.mul_scalar(1.0 - smoothing).add(&uniform)?)
}
