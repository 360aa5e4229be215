//! TextRank (Mihalcea & Tarau, 2004): PageRank over the graph whose nodes are sentences and
//! whose edge weights are their similarities.

/// Damping factor of the random walk.
pub const DAMPING: f64 = 0.85;

/// The stationary score of each node of the weighted graph `sim` (`n × n`, symmetric, the
/// diagonal ignored, negative weights treated as 0): S = (1 − d)/n + d · Σ_j w_ji / (Σ_k w_jk) · S_j,
/// iterated until no score moves by more than `1e-9` (at most 200 rounds). A sentence with no
/// edges keeps (1 − d)/n.
pub fn textrank(sim: &[Vec<f64>]) -> Vec<f64> {
    let n = sim.len();
    if n == 0 {
        return Vec::new();
    }
    let weight = |i: usize, j: usize| if i == j { 0.0 } else { sim[i][j].max(0.0) };
    let out_sum: Vec<f64> = (0..n).map(|j| (0..n).map(|k| weight(j, k)).sum()).collect();
    let mut scores = vec![1.0 / n as f64; n];
    for _ in 0..200 {
        let next: Vec<f64> = (0..n)
            .map(|i| {
                let incoming: f64 = (0..n).filter(|&j| out_sum[j] > 0.0).map(|j| weight(j, i) / out_sum[j] * scores[j]).sum();
                (1.0 - DAMPING) / n as f64 + DAMPING * incoming
            })
            .collect();
        let moved = next.iter().zip(&scores).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        scores = next;
        if moved < 1e-9 {
            break;
        }
    }
    scores
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_connected_sentence_ranks_first() {
        // 0 is similar to both others; 1 and 2 are not similar to each other.
        let sim = vec![vec![1.0, 0.5, 0.5], vec![0.5, 1.0, 0.0], vec![0.5, 0.0, 1.0]];
        let s = textrank(&sim);
        assert!(s[0] > s[1] && (s[1] - s[2]).abs() < 1e-9, "{s:?}");
        assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-6, "PageRank scores sum to one: {s:?}");
    }
}
