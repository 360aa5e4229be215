//! f32 matrix products on AMX (the exact three-way bf16 split, `ops/amx_f32.rs`) against an f64
//! reference, beside the f32 FMA kernels on the same inputs: on ragged shapes (m, k, n not
//! multiples of 16 or 32, more rows than one pass), transposed operands (as the backward
//! products pass them), batches, values of mixed signs spread over 2⁻³⁰…2³⁰, the error of each
//! output relative to Σ|a||b| must stay within [`FACTOR`] times the FMA kernels' largest error
//! (and their mean error within `FACTOR` times theirs). The switches are process-wide, so this
//! file holds a single test. On a CPU without AMX the AMX half is skipped with one line on stderr.

use loam_tensor::{Tensor, amx_available, amx_f32_calls, amx_f32_products, amx_kernels, force_portable};

/// How much larger the AMX error may be than the FMA kernels' on the same inputs.
const FACTOR: f64 = 2.0;

/// How each operand is laid out: row-major, or the transpose of a row-major matrix (a view
/// with unit row stride, as `g @ Bᵀ` and `Aᵀ @ g` pass them).
#[derive(Clone, Copy, Debug)]
enum Layout {
    Plain,
    TransposedA,
    TransposedB,
}

/// `(batch, m, k, n, layout)`: ragged shapes, one with more rows than a
/// pass (256), a batch of attention-like heads. Row-major left operands have more than 48
/// rows (the skinny kernels keep those of fewer).
const CASES: [(usize, usize, usize, usize, Layout); 7] = [
    (1, 49, 1001, 45, Layout::Plain),
    (1, 17, 257, 301, Layout::TransposedA),
    (1, 100, 33, 333, Layout::TransposedA),
    (1, 300, 130, 70, Layout::TransposedB),
    (1, 64, 768, 130, Layout::Plain),
    (3, 65, 96, 190, Layout::Plain),
    (1, 48, 200, 129, Layout::TransposedA),
];

/// A small deterministic generator (xorshift64*), so the test needs no crate.
struct Gen(u64);

impl Gen {
    /// The next value in [0, 1).
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `len` values of mixed signs: a normal-ish mantissa times 2^e, e uniform in ±`spread`.
    fn values(&mut self, len: usize, spread: f64) -> Vec<f32> {
        (0..len)
            .map(|_| {
                let sign = if self.unit() < 0.5 { -1.0 } else { 1.0 };
                let e = (self.unit() * 2.0 - 1.0) * spread;
                (sign * (0.5 + self.unit()) * e.exp2()) as f32
            })
            .collect()
    }
}

/// An operand `[batch, rows, cols]` holding `v` (logical row-major order), stored transposed
/// when `transposed` (then the tensor is a strided view).
fn operand(v: &[f32], batch: usize, rows: usize, cols: usize, transposed: bool) -> Tensor {
    let t = if transposed {
        let mut s = vec![0.0; v.len()];
        for b in 0..batch {
            for i in 0..rows {
                for j in 0..cols {
                    s[b * rows * cols + j * rows + i] = v[b * rows * cols + i * cols + j];
                }
            }
        }
        Tensor::from_vec(s, &[batch, cols, rows]).and_then(|t| t.transpose(-2, -1))
    } else {
        Tensor::from_vec(v.to_vec(), &[batch, rows, cols])
    };
    t.expect("operand shape")
}

/// The error of each output against the exact product, relative to Σ|a||b|: (max, mean).
fn errors(a: &[f32], b: &[f32], got: &[f32], (nb, m, k, n): (usize, usize, usize, usize)) -> (f64, f64) {
    let (mut max, mut sum) = (0.0f64, 0.0f64);
    for bi in 0..nb {
        for i in 0..m {
            for j in 0..n {
                let (mut s, mut abs) = (0.0f64, 0.0f64);
                for p in 0..k {
                    let t = f64::from(a[bi * m * k + i * k + p]) * f64::from(b[bi * k * n + p * n + j]);
                    s += t;
                    abs += t.abs();
                }
                let e = (f64::from(got[bi * m * n + i * n + j]) - s).abs() / abs.max(f64::MIN_POSITIVE);
                max = max.max(e);
                sum += e;
            }
        }
    }
    (max, sum / (nb * m * n) as f64)
}

#[test]
fn amx_f32_products_are_as_accurate_as_the_fma_kernels_and_the_switches_turn_them_off() {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let inputs: Vec<_> = CASES
        .iter()
        .map(|&(nb, m, k, n, layout)| {
            let (av, bv) = (g.values(nb * m * k, 30.0), g.values(nb * k * n, 30.0));
            let a = operand(&av, nb, m, k, matches!(layout, Layout::TransposedA));
            let b = operand(&bv, nb, k, n, matches!(layout, Layout::TransposedB));
            (av, bv, a, b)
        })
        .collect();
    let products =
        || -> Vec<Vec<f32>> { inputs.iter().map(|(_, _, a, b)| a.matmul(b).expect("product").to_vec()).collect() };
    amx_f32_products(false);
    let calls = amx_f32_calls();
    let fma = products();
    assert_eq!(amx_f32_calls(), calls, "AMX ran while turned off");
    if !amx_available() {
        use std::io::Write;
        let _ = std::io::stderr().write_all(b"amx_f32: AMX path not tested: this CPU or kernel lacks AMX\n");
        return;
    }
    amx_f32_products(true);
    let amx = products();
    let batches: u64 = CASES.iter().map(|c| c.0 as u64).sum();
    assert_eq!(amx_f32_calls(), calls + batches, "every case (batch element) ran on AMX");
    for (((av, bv, _, _), (f, x)), &(nb, m, k, n, layout)) in inputs.iter().zip(fma.iter().zip(&amx)).zip(&CASES) {
        let (fma_max, fma_mean) = errors(av, bv, f, (nb, m, k, n));
        let (amx_max, amx_mean) = errors(av, bv, x, (nb, m, k, n));
        eprintln!(
            "{nb}×[{m},{k}]×[{k},{n}] {layout:?}: error / Σ|a||b| max {amx_max:.2e} mean {amx_mean:.2e} (AMX), {fma_max:.2e} {fma_mean:.2e} (FMA)"
        );
        assert!(x != f, "{layout:?} [{m},{k}]×[{k},{n}]: AMX gave the FMA values (did it run?)");
        assert!(
            amx_max <= FACTOR * fma_max && amx_mean <= FACTOR * fma_mean,
            "{layout:?} [{m},{k}]×[{k},{n}]: AMX error max {amx_max:.3e} mean {amx_mean:.3e}, FMA {fma_max:.3e} {fma_mean:.3e}"
        );
    }
    // the other switches keep the FMA kernels
    for off in [0, 1] {
        if off == 0 {
            amx_kernels(false);
        } else {
            force_portable(true);
        }
        let calls = amx_f32_calls();
        let _ = products();
        assert_eq!(amx_f32_calls(), calls, "AMX f32 ran with switch {off} off");
        amx_kernels(true);
        force_portable(false);
    }
}
