//! Reciprocal-rank fusion (Cormack, Clarke and Büttcher, 2009): several rankings of the same
//! items merged by Σ 1 / (k + rank), ranks counted from 1.

use std::collections::HashMap;
use std::hash::Hash;

/// The fusion constant of the paper, which damps the weight of the very first ranks.
pub const RRF_K: f32 = 60.0;

/// The items of `rankings` (each best first, without repeats) by fused score, best first;
/// ties go to the item with the better single rank, then to the one seen first.
pub fn reciprocal_rank_fusion<T: Clone + Eq + Hash>(rankings: &[Vec<T>], k: f32) -> Vec<(T, f32)> {
    // item -> (score, best rank, first seen)
    let mut fused: HashMap<T, (f32, usize, usize)> = HashMap::new();
    let mut seen = 0;
    for ranking in rankings {
        for (i, item) in ranking.iter().enumerate() {
            let entry = fused.entry(item.clone()).or_insert_with(|| {
                seen += 1;
                (0.0, usize::MAX, seen)
            });
            entry.0 += 1.0 / (k + (i + 1) as f32);
            entry.1 = entry.1.min(i + 1);
        }
    }
    let mut out: Vec<(T, (f32, usize, usize))> = fused.into_iter().collect();
    out.sort_by(|a, b| b.1.0.total_cmp(&a.1.0).then(a.1.1.cmp(&b.1.1)).then(a.1.2.cmp(&b.1.2)));
    out.into_iter().map(|(item, (score, _, _))| (item, score)).collect()
}
