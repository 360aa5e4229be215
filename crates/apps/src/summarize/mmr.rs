//! Maximal marginal relevance (Carbonell & Goldstein, 1998): pick sentences one at a time,
//! trading relevance against similarity to what is already picked, so that a summary does not
//! say the same thing twice.

/// Indices of `k` items chosen greedily by λ · relevance − (1 − λ) · max similarity to the
/// items already chosen (`relevance` scaled so its largest value is 1; ties go to the earlier
/// item). `lambda` = 1 is plain ranking by relevance.
pub fn mmr_select(relevance: &[f64], sim: &[Vec<f64>], k: usize, lambda: f64) -> Vec<usize> {
    let top = relevance.iter().copied().fold(0.0, f64::max);
    let scale = if top > 0.0 { 1.0 / top } else { 1.0 };
    let mut chosen: Vec<usize> = Vec::new();
    while chosen.len() < k.min(relevance.len()) {
        let best = (0..relevance.len())
            .filter(|i| !chosen.contains(i))
            .map(|i| {
                let redundancy = chosen.iter().map(|&j| sim[i][j]).fold(0.0, f64::max);
                (i, lambda * relevance[i] * scale - (1.0 - lambda) * redundancy)
            })
            .fold(None, |best: Option<(usize, f64)>, (i, v)| match best {
                Some((_, b)) if b >= v => best,
                _ => Some((i, v)),
            });
        match best {
            Some((i, _)) => chosen.push(i),
            None => break,
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redundant_sentences_give_way_to_new_ones() {
        // 0 and 1 say the same thing; 2 is less relevant but new.
        let relevance = [1.0, 0.95, 0.6];
        let sim = vec![vec![1.0, 0.98, 0.0], vec![0.98, 1.0, 0.0], vec![0.0, 0.0, 1.0]];
        assert_eq!(mmr_select(&relevance, &sim, 2, 1.0), [0, 1]);
        assert_eq!(mmr_select(&relevance, &sim, 2, 0.7), [0, 2]);
    }
}
