//! f32 matrix products on AMX, as accurate as an f32 sgemm ("bf16×6", as cuBLAS's BF16x9 FP32
//! emulation): each f32 operand is split exactly into three bf16 parts, `a = a₁ + a₂ + a₃` with
//! `a₁ = bf16(a)`, `a₂ = bf16(a − a₁)`, `a₃ = a − a₁ − a₂` (round to nearest; every difference is
//! exact in f32, and `a₃` fits bf16's 8 bits), and `a·b` is the sum of the six partial products
//! of size above 2⁻²⁴·|a||b|: `a₃b₁ + a₂b₂ + a₁b₃ + a₂b₁ + a₁b₂ + a₁b₁` (the three dropped,
//! `a₂b₃ + a₃b₂ + a₃b₃`, total at most 2⁻²³·|a||b|, below f32's own rounding of the product).
//! The six are one AMX bf16 product with `k' = 6k`, on operands concatenated along k:
//! `[A₃ A₂ A₁ A₂ A₁ A₁] · [B₁; B₂; B₃; B₁; B₂; B₁]`, smallest terms first so that the large
//! `A₁B₁` terms are added last (the accumulator's rounding then matches an f32 FMA chain's).
//! `tdpbf16ps` forms each bf16 product exactly and sums in f32, so the error against the exact
//! product stays within a small factor of an f32 FMA kernel's own (`tests/amx_f32.rs` pins it).
//!
//! Limits: AMX treats subnormal bf16 inputs and results as zero, so the parts of an operand
//! below 2⁻¹²⁶ (≈ 1.2·10⁻³⁸) are lost: an operand of magnitude below about 2⁻¹⁰² loses its low
//! bits, and products of parts whose value falls below 2⁻¹²⁶ vanish; each output's absolute
//! error grows by at most about `6k·2⁻¹²⁶`, far below anything a model's values reach. A
//! NaN or infinite operand makes the outputs it meets NaN (its second part is NaN), where an
//! sgemm gives ±∞ for an infinity. The largest finite f32s, which would round to
//! bf16 infinity, are split by truncation instead (still exact, slightly larger dropped terms).
//!
//! Both operands are split and packed on the fly for every product (no cache: the same path
//! serves training, where the weights change every step), in parallel; any strides (the
//! backward products pass transposed views). The switch: on by default on AMX machines;
//! [`amx_f32_products`] or `LOAM_AMX_F32=0` turns it off, as do `LOAM_AMX=0` / `amx_kernels`
//! and `force_portable`. [`use_amx_f32`] holds the measured crossover.

#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unused_imports))]

use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rayon::prelude::*;

use crate::kernel::wide;

use super::amx::{AMX_MIN_ROWS, Block, Operands, SendPtr, amx_on, block_bf16, for_each_block};

/// bf16 values along k in one tile step (16 pairs, 64 bytes).
const STEP: usize = 32;
/// The six segments of the concatenated k axis: which part of A (0 = a₁, 1 = a₂, 2 = a₃) meets
/// which part of B, smallest products first.
const SEGMENTS: [(usize, usize); 6] = [(2, 0), (1, 1), (0, 2), (1, 0), (0, 1), (0, 0)];
/// Below this many multiply-adds an f32 product stays on the FMA kernels (measured with
/// `cargo xtask bench amx-f32-pairwise`, see `use_amx_f32`).
const MIN_MACS: usize = 1 << 20;
/// The fewest inner-dimension terms for which AMX wins (see `use_amx_f32`).
const MIN_K: usize = 32;

/// Whether f32 products may use AMX ([`amx_f32_products`], or `LOAM_AMX_F32`).
static WANTED: AtomicBool = AtomicBool::new(true);
/// Reads `LOAM_AMX_F32` once, before the first use of [`WANTED`].
static WANTED_FROM_ENV: Once = Once::new();
/// f32 products computed on AMX, for tests that check which path ran.
static CALLS: AtomicU64 = AtomicU64::new(0);

fn init_from_env() {
    WANTED_FROM_ENV.call_once(|| {
        let off = std::env::var("LOAM_AMX_F32")
            .is_ok_and(|v| matches!(v.trim(), "0" | "false" | "off"));
        WANTED.store(!off, Ordering::Relaxed);
    });
}

/// Lets f32 matrix products of 16 rows or more use AMX with the exact three-way bf16 split
/// (`true`, the default where the CPU has AMX), or keeps them on the f32 FMA kernels
/// (`false`), for the whole process from the next product on; overrides `LOAM_AMX_F32`
/// (`LOAM_AMX_F32=0` starts off). `amx_kernels(false)` and `force_portable` turn it off too.
pub fn amx_f32_products(on: bool) {
    init_from_env();
    WANTED.store(on, Ordering::Relaxed);
}

/// How many f32 matrix products (batch elements counted one by one) AMX has computed in this
/// process.
pub fn amx_f32_calls() -> u64 {
    CALLS.load(Ordering::Relaxed)
}

/// Whether an `m × k` by `k × n` f32 product goes to [`gemm`]: AMX on and wanted, at least
/// 16 rows and 32 columns, k ≥ 32 and 2²⁰ multiply-adds. Measured on this machine (2 vCPUs,
/// interleaved with the FMA kernels in one process, `bench amx-f32-pairwise`): the split and
/// packing of both operands cost about as much as the FMA product itself below that size,
/// and AMX wins from there on (see docs/perf.md, "f32 products on AMX").
pub(crate) fn use_amx_f32(m: usize, k: usize, n: usize) -> bool {
    m >= AMX_MIN_ROWS && n >= 32 && k >= MIN_K && m * k * n >= MIN_MACS && {
        init_from_env();
        WANTED.load(Ordering::Relaxed)
    } && amx_on()
}

/// f32 bits → bf16 bits, rounding to nearest even (a NaN may become an infinity: [`split16`]
/// keeps NaN in the next part).
#[inline(always)]
fn round(b: u32) -> u32 {
    b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16
}

/// The parts of 16 values: `[a₁, a₂, a₃]`, each 16 bf16 bits (see the module docs). Written
/// without branches so that it compiles to vector code inside [`wide`].
#[inline(always)]
fn split16(v: &[f32; 16]) -> [[u16; 16]; 3] {
    let mut parts = [[0u16; 16]; 3];
    for (c, &x) in v.iter().enumerate() {
        let b = x.to_bits();
        let h = round(b);
        // rounding the largest finite values would overflow to infinity: truncate them (exact)
        let h = if h & 0x7fff == 0x7f80 { b >> 16 } else { h };
        let r1 = x - f32::from_bits(h << 16);
        let h2 = round(r1.to_bits());
        let r2 = r1 - f32::from_bits(h2 << 16);
        parts[0][c] = h as u16;
        parts[1][c] = h2 as u16;
        parts[2][c] = round(r2.to_bits()) as u16;
    }
    parts
}

/// The bytes of a slice of bf16 bits.
fn bytes(v: &[u16]) -> &[u8] {
    // SAFETY: u16 has no padding and u8 no alignment; the length covers the same memory.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), v.len() * 2) }
}

/// A read-only strided matrix that may cross to rayon workers.
#[derive(Clone, Copy)]
struct Strided {
    ptr: *const f32,
    rs: isize,
    cs: isize,
}
unsafe impl Send for Strided {}
unsafe impl Sync for Strided {}

impl Strided {
    /// Up to 16 values of row `i` from column `j` (`len` of them, zeros after).
    ///
    /// # Safety
    /// Row `i`, columns `j..j + len` are inside the caller's operand; `len ≤ 16`.
    #[inline(always)]
    unsafe fn row16(self, i: usize, j: usize, len: usize) -> [f32; 16] {
        let mut v = [0f32; 16];
        // SAFETY: forwarded from the caller.
        unsafe {
            let p = self.ptr.offset(i as isize * self.rs + j as isize * self.cs);
            if self.cs == 1 {
                v[..len].copy_from_slice(std::slice::from_raw_parts(p, len));
            } else {
                for (c, d) in v[..len].iter_mut().enumerate() {
                    *d = *p.offset(c as isize * self.cs);
                }
            }
        }
        v
    }
}

/// `out[i·ldo + j] = Σ_p x[i·a_rs + p·a_cs] · w[p·b_rs + j·b_cs]` for an `m × k` by `k × n`
/// product, on AMX with the six-term bf16 split; the caller checks [`use_amx_f32`].
///
/// Layouts: each of the six segments of the concatenated k axis is `k2` = k rounded up to even
/// long (so that the bf16 pairs of a tile row never straddle two segments), the whole padded
/// to tile steps of 32; `a` `[mp, kp]` row-major, `b` in the tile layout of `amx_bf16`.
///
/// # Safety
/// `x` and `w` address `m × k` and `k × n` readable f32 matrices with these strides; `out`
/// addresses `m` writable rows of `n` f32, `ldo` apart, that nothing else reads or writes
/// during the call.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm(
    m: usize,
    k: usize,
    n: usize,
    x: *const f32,
    a_rs: isize,
    a_cs: isize,
    w: *const f32,
    b_rs: isize,
    b_cs: isize,
    out: *mut f32,
    ldo: usize,
) {
    let (mp, np, k2) = (m.div_ceil(32) * 32, n.div_ceil(32) * 32, k.next_multiple_of(2));
    let kt = (6 * k2).div_ceil(STEP);
    let kp = kt * STEP;
    let (x, w) = (Strided { ptr: x, rs: a_rs, cs: a_cs }, Strided { ptr: w, rs: b_rs, cs: b_cs });
    // a: [mp, kp] bf16; segment s of row i holds part SEGMENTS[s].0 of x[i, ..]
    let mut a = vec![0u16; mp * kp];
    a.par_chunks_mut(kp).take(m).enumerate().for_each(|(i, row)| {
        wide(|| {
            for p0 in (0..k).step_by(16) {
                let len = 16.min(k - p0);
                // SAFETY: i < m, columns p0..p0+len ≤ k.
                let parts = split16(&unsafe { x.row16(i, p0, len) });
                for (s, &(pa, _)) in SEGMENTS.iter().enumerate() {
                    row[s * k2 + p0..][..len].copy_from_slice(&parts[pa][..len]);
                }
            }
        })
    });
    // b: [np / 16, kt, 16 rows, 16 columns, 2]: column group g, concatenated term q = s·k2 + p
    // (p even) at tile q / 32, row (q % 32) / 2, the pair (p, p + 1) of each column
    let mut b = vec![0u16; np / 16 * kt * 512];
    b.par_chunks_mut(kt * 512).enumerate().for_each(|(g, tiles)| {
        let cols = 16.min(n.saturating_sub(g * 16));
        if cols == 0 {
            return;
        }
        wide(|| {
            for p in (0..k).step_by(2) {
                // SAFETY: rows p (and p + 1 when < k) and columns g·16..g·16+cols ≤ n.
                let (r0, r1) = unsafe {
                    (w.row16(p, g * 16, cols), if p + 1 < k { w.row16(p + 1, g * 16, cols) } else { [0.0; 16] })
                };
                let (s0, s1) = (split16(&r0), split16(&r1));
                let mut pairs = [[0u16; 32]; 3];
                for (t, pair) in pairs.iter_mut().enumerate() {
                    for c in 0..16 {
                        pair[2 * c] = s0[t][c];
                        pair[2 * c + 1] = s1[t][c];
                    }
                }
                for (s, &(_, pb)) in SEGMENTS.iter().enumerate() {
                    let q = s * k2 + p;
                    tiles[(q / STEP) * 512 + (q % STEP / 2) * 32..][..32].copy_from_slice(&pairs[pb]);
                }
            }
        })
    });
    let ops = Operands { a: bytes(&a), mp, b: bytes(&b), np, kt };
    let po = SendPtr(out);
    for_each_block(&ops, block_bf16, |i0, j0, block: &Block| {
        let (rows, cols) = (32.min(m.saturating_sub(i0)), 32.min(n.saturating_sub(j0)));
        for r in 0..rows {
            // SAFETY: row i0 + r < m and columns j0..j0+cols ≤ n of the caller's output; each
            // block (i0, j0) is handed to one task only.
            let dst = unsafe { std::slice::from_raw_parts_mut(po.get().add((i0 + r) * ldo + j0), cols) };
            for (c, d) in dst.iter_mut().enumerate() {
                *d = f32::from_bits(block.lane(r, c));
            }
        }
    });
    CALLS.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::split16;

    /// The three parts sum back to the value exactly, each fits bf16, and they shrink by 2⁸;
    /// a non-finite value gives a NaN part (its products are NaN).
    #[test]
    fn split_is_exact() {
        let part = |h: u16| f32::from_bits(u32::from(h) << 16);
        let mut v = [0f32; 16];
        let mut x = 1.0f32;
        for i in 0..500u32 {
            for (c, d) in v.iter_mut().enumerate() {
                x = (x * 1.618_034 + i as f32 * 0.001).rem_euclid(7.0) - 3.5;
                *d = [x, x * 1e30, x * 1e-30, f32::MAX, -f32::MAX, 1.0 / 3.0][c % 6];
            }
            let [a1, a2, a3] = split16(&v);
            for c in 0..16 {
                let x = v[c];
                assert_eq!(part(a1[c]) + part(a2[c]) + part(a3[c]), x, "split of {x}");
                assert!(part(a2[c]).abs() <= x.abs() * 2f32.powi(-7), "second part of {x}");
            }
        }
        let mut v = [1.0f32; 16];
        v[0] = f32::INFINITY;
        v[1] = f32::NAN;
        let parts = split16(&v);
        assert!((0..2).all(|c| parts.iter().any(|p| part(p[c]).is_nan())));
    }
}
