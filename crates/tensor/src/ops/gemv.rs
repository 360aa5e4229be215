//! Vector × matrix products (`m = 1`), the shape of every weight product while decoding one
//! token. They read each weight once and are bound by memory bandwidth, so they run as two
//! streaming AVX-512 kernels split over threads by output column: one for matrices stored
//! row by row (`[in, out]`, Conv1D) and one for matrices stored column by column (a transposed
//! `[out, in]` weight, such as a tied output embedding). A general GEMM packs the matrix first
//! and reaches about half the bandwidth (`cargo xtask bench gpt2-generate`, docs/perf.md).
//!
//! Products of a few rows (a batch of sequences, a beam search's beams) have their own kernels
//! in `skinny`, which sum each output in the same order as these.
//!
//! Each output column is summed in the same order whatever the split, so results are
//! bit-identical across thread counts.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::fork::for_each_part;
use crate::kernel::{KernelPath, kernel_path};
use crate::send_ptr::SendPtr;

/// Vector × matrix and skinny products taken by the wide kernels, and vector × matrix
/// products left to the general GEMM.
static CALLS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// How many vector × matrix products (`m = 1` blocks of a matrix product) and skinny products
/// (a few rows, `ops/skinny.rs`) each path has computed in this process: `(wide kernels,
/// general GEMM)`; a skinny product left to the general GEMM is not counted. Tests read it to
/// know which path ran.
pub fn gemv_calls() -> (u64, u64) {
    (CALLS[0].load(Ordering::Relaxed), CALLS[1].load(Ordering::Relaxed))
}

/// Counts one product under the wide kernels (`true`) or the general GEMM.
pub(crate) fn count_call(wide: bool) {
    CALLS[usize::from(!wide)].fetch_add(1, Ordering::Relaxed);
}

/// Below this many multiply-adds the product stays on one thread.
const PAR_MIN_MACS: usize = 1 << 16;
/// Rows of a row-major matrix streamed together (each one sequential memory stream).
const ROW_GROUP: usize = 8;
/// Output columns per thread part of the row-major kernel (whole AVX-512 registers).
const ROW_BLOCK: usize = 16;
/// Output columns per register block of the column-major kernel.
const COL_BLOCK: usize = 4;

/// `y[j] = Σ_p x[p]·b[p·b_rs + j·b_cs]` for `j < n`, `p < k`, when a kernel serves this layout
/// (the wide [`kernel_path`], and `b_cs == 1` or `b_rs == 1`); returns `false`, writing
/// nothing, otherwise. Each call counts in [`gemv_calls`] under the path that computes it.
///
/// # Safety
/// `x` holds `k` contiguous values, `y` has room for `n`, and every `b` offset above is inside
/// one allocation. `y` overlaps neither input.
pub(crate) unsafe fn gemv(k: usize, n: usize, x: *const f32, b: *const f32, b_rs: isize, b_cs: isize, y: *mut f32) -> bool {
    #[cfg(target_arch = "x86_64")]
    if kernel_path() == KernelPath::Wide && (b_cs == 1 || b_rs == 1) {
        count_call(true);
        let (block, rows) = if b_cs == 1 { (ROW_BLOCK, true) } else { (COL_BLOCK, false) };
        let (x, b, y) = (SendPtr(x as *mut f32), SendPtr(b as *mut f32), SendPtr(y));
        let ld = if rows { b_rs } else { b_cs };
        // columns j0..j0+w of the output
        let part = move |j0: usize, w: usize| {
            let (x, b, y) = (x, b, y);
            // SAFETY: the caller's contract covers columns j0..j0+w; the feature was detected.
            unsafe {
                if rows {
                    x86::gemv_rows(k, w, x.0, b.0.add(j0), ld, y.0.add(j0))
                } else {
                    x86::gemv_cols(k, w, x.0, b.0.offset(j0 as isize * ld), ld, y.0.add(j0))
                }
            }
        };
        let threads = rayon::current_num_threads();
        if k * n < PAR_MIN_MACS || threads == 1 {
            part(0, n);
        } else {
            // whole register blocks per part, so the split changes no summation order
            let per = n.div_ceil(threads).div_ceil(block) * block;
            for_each_part(n.div_ceil(per), |i| part(i * per, per.min(n - i * per)));
        }
        return true;
    }
    let _ = (k, n, x, b, b_rs, b_cs, y);
    count_call(false);
    false
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{COL_BLOCK, ROW_GROUP};

    /// Row-major matrix (row stride `ld`): `y[0..n] = Σ_p x[p]·b[p, 0..n]`. Rows are taken
    /// [`ROW_GROUP`] at a time and each is read front to back (sequential streams the hardware
    /// prefetcher follows); `y` stays in L1 between groups.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gemv_rows(k: usize, n: usize, x: *const f32, b: *const f32, ld: isize, y: *mut f32) {
        let tail = ((1u32 << (n % 16)) - 1) as __mmask16;
        let mut p0 = 0;
        while p0 < k {
            let rows = ROW_GROUP.min(k - p0);
            let xs: [__m512; ROW_GROUP] = std::array::from_fn(|r| {
                // SAFETY: row p0 + r < k exists in x.
                _mm512_set1_ps(if r < rows { unsafe { *x.add(p0 + r) } } else { 0.0 })
            });
            // SAFETY: rows p0..p0+rows, columns 0..n of b and y exist (caller's contract);
            // masked lanes are neither read nor written.
            unsafe {
                let row0 = b.offset(p0 as isize * ld);
                let mut j = 0;
                while j < n {
                    let mask = if j + 16 <= n { 0xffff } else { tail };
                    let mut acc = if p0 == 0 { _mm512_setzero_ps() } else { _mm512_maskz_loadu_ps(mask, y.add(j)) };
                    for (r, xr) in xs.iter().enumerate().take(rows) {
                        let bv = _mm512_maskz_loadu_ps(mask, row0.offset(r as isize * ld).add(j));
                        acc = _mm512_fmadd_ps(*xr, bv, acc);
                    }
                    _mm512_mask_storeu_ps(y.add(j), mask, acc);
                    j += 16;
                }
            }
            p0 += ROW_GROUP;
        }
    }

    /// Column-major matrix (column `j` at `b + j·ld`, contiguous): `y[j] = x · b[:, j]`, four
    /// columns at a time sharing each load of `x`. Each column's stream prefetches the same
    /// place in the next block's column, which the hardware prefetcher (one 4 KiB page at a
    /// time) reaches late.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gemv_cols(k: usize, n: usize, x: *const f32, b: *const f32, ld: isize, y: *mut f32) {
        let kk = k / 16 * 16;
        let tail = ((1u32 << (k - kk)) - 1) as __mmask16;
        let mut j = 0;
        while j < n {
            let live = COL_BLOCK.min(n - j);
            // a short last block repeats its last column instead of reading past the matrix
            let cols: [*const f32; COL_BLOCK] = std::array::from_fn(|c| {
                // SAFETY: column j + min(c, live - 1) < n is inside b.
                unsafe { b.offset((j + c.min(live - 1)) as isize * ld) }
            });
            let mut acc = [_mm512_setzero_ps(); COL_BLOCK];
            let next = j + 2 * COL_BLOCK <= n;
            let mut p = 0;
            // SAFETY: p + 16 ≤ k in the loop and the tail mask covers p..k after it; prefetches
            // do not fault.
            unsafe {
                while p < kk {
                    let xv = _mm512_loadu_ps(x.add(p));
                    for c in 0..COL_BLOCK {
                        if next {
                            let ahead = cols[c].wrapping_offset(COL_BLOCK as isize * ld).wrapping_add(p);
                            _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
                        }
                        acc[c] = _mm512_fmadd_ps(xv, _mm512_loadu_ps(cols[c].add(p)), acc[c]);
                    }
                    p += 16;
                }
                if tail != 0 {
                    let xv = _mm512_maskz_loadu_ps(tail, x.add(p));
                    for c in 0..COL_BLOCK {
                        acc[c] = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(tail, cols[c].add(p)), acc[c]);
                    }
                }
                for (c, a) in acc.iter().enumerate().take(live) {
                    *y.add(j + c) = _mm512_reduce_add_ps(*a);
                }
            }
            j += COL_BLOCK;
        }
    }
}
