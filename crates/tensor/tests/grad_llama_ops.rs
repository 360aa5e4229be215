//! The ops of the Llama family (RMSNorm, rotary embeddings): values against their composed
//! definitions, gradients against central finite differences on shapes and values drawn by
//! proptest (fixed seed). Tolerances: `loam_tensor::gradcheck::{ATOL, RTOL}` for gradients,
//! 1e-5 for values.

use loam_tensor::gradcheck::{check, randn, uniform};
use loam_tensor::Tensor;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn config() -> Config {
    Config { cases: 32, rng_seed: RngSeed::Fixed(0x11a3), failure_persistence: None, ..Config::default() }
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.to_vec().iter().zip(b.to_vec()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// x·w/√(mean(x²) + eps) from elementary ops.
fn rms_norm_composed(x: &Tensor, w: &Tensor, eps: f32) -> Tensor {
    let inv = x.mul(x).unwrap().mean(&[-1], true).unwrap().add_scalar(eps).powf(-0.5);
    x.mul(&inv).unwrap().mul(w).unwrap()
}

/// x·cos + rotate_half(x)·sin from elementary ops, tables `[B or 1, T, D/2]` → `[B or 1, 1, T, D]`.
fn rope_composed(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Tensor {
    let d = x.shape()[3];
    let full = |t: &Tensor| Tensor::cat(&[t.clone(), t.clone()], -1).unwrap().unsqueeze(1).unwrap();
    let (x1, x2) = (x.narrow(3, 0, d / 2).unwrap(), x.narrow(3, d / 2, d / 2).unwrap());
    let rotated = Tensor::cat(&[x2.neg(), x1], -1).unwrap();
    x.mul(&full(cos)).unwrap().add(&rotated.mul(&full(sin)).unwrap()).unwrap()
}

/// `[B, H, T, D]` with dims 1..=3 and D even in 2..=8, and whether the tables are per row.
fn rope_case() -> impl Strategy<Value = ([usize; 4], bool)> {
    (1usize..=3, 1usize..=3, 1usize..=4, 1usize..=4, any::<bool>()).prop_map(|(b, h, t, half, per_row)| ([b, h, t, 2 * half], per_row))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn rms_norm(rows in 1usize..=4, c in 3usize..=9, seed in any::<u64>()) {
        let x = randn(&[rows, c], seed).mul_scalar(3.0);
        let w = randn(&[c], seed ^ 1);
        let fused = x.rms_norm(&w, 1e-5).unwrap();
        prop_assert!(max_diff(&fused, &rms_norm_composed(&x, &w, 1e-5)) <= 1e-5);
        check("rms_norm", &[x.clone(), w], |x| x[0].rms_norm(&x[1], 1e-5));
        check("transpose→rms_norm", &[x.reshape(&[c, rows]).unwrap()], |x| {
            let w = Tensor::ones(&[c]);
            x[0].transpose(0, 1)?.rms_norm(&w, 1e-5)
        });
    }

    #[test]
    fn rope(([b, h, t, d], per_row) in rope_case(), seed in any::<u64>()) {
        let x = randn(&[b, h, t, d], seed);
        let tb = if per_row { b } else { 1 };
        let angle = uniform(&[tb, t, d / 2], -3.0, 3.0, seed ^ 1).to_vec();
        let cos = Tensor::from_vec(angle.iter().map(|a| a.cos()).collect(), &[tb, t, d / 2]).unwrap();
        let sin = Tensor::from_vec(angle.iter().map(|a| a.sin()).collect(), &[tb, t, d / 2]).unwrap();
        prop_assert!(max_diff(&x.rope(&cos, &sin).unwrap(), &rope_composed(&x, &cos, &sin)) <= 1e-5);
        // rows read where they lie (a permuted projection) and a view whose rows are strided
        let projected = randn(&[b, t, h, d], seed ^ 2).permute(&[0, 2, 1, 3]).unwrap();
        let strided = randn(&[b, h, d, t], seed ^ 3).transpose(2, 3).unwrap();
        for v in [projected, strided] {
            prop_assert!(max_diff(&v.rope(&cos, &sin).unwrap(), &rope_composed(&v.contiguous(), &cos, &sin)) <= 1e-5);
        }
        check("rope", std::slice::from_ref(&x), |x| x[0].rope(&cos, &sin));
        check("permute→rope", &[x.permute(&[0, 2, 1, 3]).unwrap().contiguous()], |x| x[0].permute(&[0, 2, 1, 3])?.rope(&cos, &sin));
    }
}

#[test]
fn rope_rejects_odd_widths_and_mismatched_tables() {
    let x = Tensor::zeros(&[1, 2, 3, 5]);
    let err = x.rope(&Tensor::zeros(&[1, 3, 2]), &Tensor::zeros(&[1, 3, 2])).unwrap_err().to_string();
    assert!(err.contains("rope") && err.contains("D even"), "{err}");
    let x = Tensor::zeros(&[2, 2, 3, 4]);
    let err = x.rope(&Tensor::zeros(&[2, 4, 2]), &Tensor::zeros(&[2, 4, 2])).unwrap_err().to_string();
    assert!(err.contains("rope") && err.contains("[2, 3, 2]"), "{err}");
}

#[test]
fn rms_norm_rejects_a_weight_of_another_width() {
    let err = Tensor::zeros(&[2, 4]).rms_norm(&Tensor::ones(&[3]), 1e-5).unwrap_err().to_string();
    assert!(err.contains("rms_norm") && err.contains("[4]"), "{err}");
}
