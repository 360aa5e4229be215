//! The graph is freed after backward: resident memory stays flat over 1,000 training steps.

use loam_tensor::{Rng, Tensor};

/// Resident set size in bytes (Linux), or `None` elsewhere.
fn rss_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[test]
fn resident_memory_stays_flat_over_1000_steps() {
    let mut rng = Rng::new(0);
    let w1 = Tensor::randn(&[64, 128], 0.0, 0.1, &mut rng).to_var();
    let w2 = Tensor::randn(&[128, 16], 0.0, 0.1, &mut rng).to_var();
    let x = Tensor::randn(&[32, 64], 0.0, 1.0, &mut rng);
    let targets: Vec<i64> = (0..32).map(|i| i % 16).collect();
    let step = || {
        let h = x.matmul(&w1).unwrap().layer_norm(None, None, 1e-5).unwrap().gelu();
        let loss = h.matmul(&w2).unwrap().cross_entropy(&targets, None).unwrap();
        let grads = loss.backward().unwrap();
        for w in [&w1, &w2] {
            let g = grads.get(w).unwrap().to_array();
            w.update(|mut v| v.scaled_add(-0.01, &g)).unwrap();
        }
        loss.to_scalar().unwrap()
    };
    let first = step();
    for _ in 0..100 {
        step();
    }
    let Some(before) = rss_bytes() else {
        eprintln!("memory test did not run: /proc/self/statm is not readable on this system");
        return;
    };
    let mut last = first;
    for _ in 0..1000 {
        last = step();
    }
    let after = rss_bytes().unwrap();
    assert!(last < first, "the loss falls ({first} → {last})");
    // one step's graph holds ~200 KB; a leak over 1,000 steps would add ~200 MB
    let growth = after.saturating_sub(before);
    assert!(growth < 8 << 20, "resident memory grew by {growth} bytes over 1,000 steps");
}
