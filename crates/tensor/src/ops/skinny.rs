//! Skinny matrix products: a few rows (`2 ≤ m ≤` [`MAX_ROWS`]) times a large matrix, the
//! shape of every weight product of a batched decoding step or a beam search (`[B, k] × [k, n]`
//! with `B` sequences). Like the vector × matrix kernels of `gemv`, they read the matrix once,
//! straight from memory, instead of packing it as a general GEMM does on every call, and use
//! each loaded block of it for every row:
//!
//! - a row-major matrix (`[in, out]`, Conv1D) is read [`KC`] rows at a time, each row front to
//!   back (sequential streams the hardware prefetcher follows), in register tiles of up to
//!   [`MR`] rows × [`NR`] 16-lane vectors; each tile of the matrix, loaded once, serves every
//!   row group, and the output rows stay in cache between passes;
//! - a column-major matrix (a transposed `[out, in]` weight, such as a tied output embedding)
//!   is read [`COLS`] contiguous columns at a time, each dotted with up to [`MRC`] rows per
//!   register tile.
//!
//! Threads split the output columns. Each output element is summed over `k` in the same order
//! as its row's vector × matrix product in `gemv` (one fused multiply-add per step, in order of
//! `k`, for a row-major matrix; sixteen lane sums reduced at the end for a column-major one),
//! so results are bit-identical across thread counts, row counts and tilings.

use super::gemv::count_call;
use crate::fork::for_each_part;
use crate::kernel::{KernelPath, kernel_path};
use crate::send_ptr::SendPtr;

/// The most rows a skinny product takes; above it the general GEMM (which packs the matrix
/// once and reuses it across many rows) is faster.
pub(crate) const MAX_ROWS: usize = 48;

/// Rows of a row-major matrix streamed together in one pass.
const KC: usize = 16;
/// Rows of the left operand per register tile (row-major matrix).
const MR: usize = 8;
/// 16-lane vectors of output columns per register tile (row-major matrix).
const NR: usize = 2;
/// Columns of a column-major matrix per register tile.
const COLS: usize = 4;
/// Rows of the left operand per register tile (column-major matrix).
const MRC: usize = 4;

/// Below this many multiply-adds the product stays on one thread.
const PAR_MIN_MACS: usize = 1 << 16;

/// `y[i, j] = Σ_p x[i, p]·b[p·b_rs + j·b_cs]` for `i < m`, `j < n`, `p < k`, with `x` rows
/// `x_rs` apart (each `k` contiguous values) and `y` rows `y_rs` apart, when a kernel serves
/// this shape and layout (the wide [`kernel_path`], `2 ≤ m ≤` [`MAX_ROWS`], and `b_cs == 1`
/// or `b_rs == 1`); returns `false`, writing nothing, otherwise. Counts in
/// [`crate::gemv_calls`] as a wide product.
///
/// # Safety
/// `x` holds `m` rows of `k` contiguous values, `y` has room for `m` rows of `n`, every `b`
/// offset above is inside one allocation, and `y` overlaps neither input.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn skinny(
    m: usize,
    k: usize,
    n: usize,
    x: *const f32,
    x_rs: isize,
    b: *const f32,
    b_rs: isize,
    b_cs: isize,
    y: *mut f32,
    y_rs: usize,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if kernel_path() == KernelPath::Wide && (2..=MAX_ROWS).contains(&m) && (b_cs == 1 || b_rs == 1)
    {
        count_call(true);
        let rows = b_cs == 1;
        let (ld, block) = if rows { (b_rs, 16) } else { (b_cs, COLS) };
        let (x, b, y) = (SendPtr(x as *mut f32), SendPtr(b as *mut f32), SendPtr(y));
        // columns j0..j0+w of every output row
        let part = move |j0: usize, w: usize| {
            let (x, b, y) = (x, b, y);
            // SAFETY: the caller's contract covers columns j0..j0+w; the feature was detected.
            unsafe {
                if rows {
                    x86::rows(m, k, w, x.0, x_rs, b.0.add(j0), ld, y.0.add(j0), y_rs)
                } else {
                    x86::cols(
                        m,
                        k,
                        w,
                        x.0,
                        x_rs,
                        b.0.offset(j0 as isize * ld),
                        ld,
                        y.0.add(j0),
                        y_rs,
                    )
                }
            }
        };
        let threads = rayon::current_num_threads();
        if m * k * n < PAR_MIN_MACS || threads == 1 {
            part(0, n);
        } else {
            let per = n.div_ceil(threads).div_ceil(block) * block;
            for_each_part(n.div_ceil(per), |i| part(i * per, per.min(n - i * per)));
        }
        return true;
    }
    let _ = (m, k, n, x, x_rs, b, b_rs, b_cs, y, y_rs);
    false
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{COLS, KC, MR, MRC, NR};

    /// The lanes of the 16-lane vector at column `j` that lie below `n`.
    #[inline(always)]
    fn lanes(n: usize, j: usize) -> __mmask16 {
        if j + 16 <= n {
            0xffff
        } else if j >= n {
            0
        } else {
            ((1u32 << (n - j)) - 1) as __mmask16
        }
    }

    /// Row-major matrix (row stride `ld`): `y[0..m, 0..n] = x[0..m, 0..k] · b[0..k, 0..n]`.
    /// Rows of `b` are taken [`KC`] at a time and each is read front to back; for each tile of
    /// [`NR`] vectors the rows of `x` go [`MR`] at a time, accumulating into `y` (zeroed by the
    /// first pass).
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn rows(
        m: usize,
        k: usize,
        n: usize,
        x: *const f32,
        x_rs: isize,
        b: *const f32,
        ld: isize,
        y: *mut f32,
        y_rs: usize,
    ) {
        let mut p0 = 0;
        while p0 < k {
            let kc = KC.min(k - p0);
            let mut j = 0;
            while j < n {
                let masks: [__mmask16; NR] = std::array::from_fn(|v| lanes(n, j + 16 * v));
                let mut i = 0;
                while i < m {
                    // SAFETY: rows i.., columns p0..p0+kc of x, rows p0..p0+kc of b and rows
                    // i.. of y exist (caller's contract); columns past n are masked.
                    unsafe {
                        let (xt, bt, yt) = (
                            x.offset(i as isize * x_rs).add(p0),
                            b.offset(p0 as isize * ld).add(j),
                            y.add(i * y_rs + j),
                        );
                        match m - i {
                            1 => rows_tile::<1>(kc, p0 == 0, xt, x_rs, bt, ld, yt, y_rs, masks),
                            2 => rows_tile::<2>(kc, p0 == 0, xt, x_rs, bt, ld, yt, y_rs, masks),
                            3 => rows_tile::<3>(kc, p0 == 0, xt, x_rs, bt, ld, yt, y_rs, masks),
                            4 => rows_tile::<4>(kc, p0 == 0, xt, x_rs, bt, ld, yt, y_rs, masks),
                            5 => rows_tile::<5>(kc, p0 == 0, xt, x_rs, bt, ld, yt, y_rs, masks),
                            6 => rows_tile::<6>(kc, p0 == 0, xt, x_rs, bt, ld, yt, y_rs, masks),
                            7 => rows_tile::<7>(kc, p0 == 0, xt, x_rs, bt, ld, yt, y_rs, masks),
                            _ => rows_tile::<MR>(kc, p0 == 0, xt, x_rs, bt, ld, yt, y_rs, masks),
                        }
                    }
                    i += MR;
                }
                j += 16 * NR;
            }
            p0 += KC;
        }
    }

    /// One register tile: `R` rows of `y` × the [`NR`] vectors of columns `masks` selects,
    /// plus `kc` steps of `x[r, p]·b[p, ·]` (from zero when `first`).
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn rows_tile<const R: usize>(
        kc: usize,
        first: bool,
        x: *const f32,
        x_rs: isize,
        b: *const f32,
        ld: isize,
        y: *mut f32,
        y_rs: usize,
        masks: [__mmask16; NR],
    ) {
        // SAFETY: as `rows` (the caller's tile is inside the operands).
        unsafe {
            let mut acc: [[__m512; NR]; R] = std::array::from_fn(|r| {
                std::array::from_fn(|v| {
                    if first {
                        _mm512_setzero_ps()
                    } else {
                        _mm512_maskz_loadu_ps(masks[v], y.add(r * y_rs + 16 * v))
                    }
                })
            });
            for p in 0..kc {
                let row = b.offset(p as isize * ld);
                let bv: [__m512; NR] =
                    std::array::from_fn(|v| _mm512_maskz_loadu_ps(masks[v], row.add(16 * v)));
                for (r, a) in acc.iter_mut().enumerate() {
                    let xv = _mm512_set1_ps(*x.offset(r as isize * x_rs).add(p));
                    for (a, bv) in a.iter_mut().zip(&bv) {
                        *a = _mm512_fmadd_ps(xv, *bv, *a);
                    }
                }
            }
            for (r, a) in acc.iter().enumerate() {
                for (v, a) in a.iter().enumerate() {
                    _mm512_mask_storeu_ps(y.add(r * y_rs + 16 * v), masks[v], *a);
                }
            }
        }
    }

    /// Column-major matrix (column `j` at `b + j·ld`, `k` contiguous values):
    /// `y[i, j] = x[i, ·] · b[·, j]`, [`COLS`] columns at a time, each block of columns (in
    /// cache after the first row group) dotted with [`MRC`] rows of `x` at a time.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn cols(
        m: usize,
        k: usize,
        n: usize,
        x: *const f32,
        x_rs: isize,
        b: *const f32,
        ld: isize,
        y: *mut f32,
        y_rs: usize,
    ) {
        let mut j = 0;
        while j < n {
            let live = COLS.min(n - j);
            // a short last block repeats its last column instead of reading past the matrix
            let cols: [*const f32; COLS] = std::array::from_fn(|c| {
                // SAFETY: column j + min(c, live - 1) < n is inside b.
                unsafe { b.offset((j + c.min(live - 1)) as isize * ld) }
            });
            let mut i = 0;
            while i < m {
                // SAFETY: rows i.. of x and y exist, columns j..j+live of y (caller's contract).
                unsafe {
                    let (xt, yt) = (x.offset(i as isize * x_rs), y.add(i * y_rs + j));
                    match m - i {
                        1 => cols_tile::<1>(k, xt, x_rs, cols, yt, y_rs, live),
                        2 => cols_tile::<2>(k, xt, x_rs, cols, yt, y_rs, live),
                        3 => cols_tile::<3>(k, xt, x_rs, cols, yt, y_rs, live),
                        _ => cols_tile::<MRC>(k, xt, x_rs, cols, yt, y_rs, live),
                    }
                }
                i += MRC;
            }
            j += COLS;
        }
    }

    /// One register tile: `y[r, c] = x[r, ·] · cols[c]` for `r < R`, `c < live`, in sixteen
    /// lane sums reduced at the end (the order of `gemv`'s column-major kernel).
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn cols_tile<const R: usize>(
        k: usize,
        x: *const f32,
        x_rs: isize,
        cols: [*const f32; COLS],
        y: *mut f32,
        y_rs: usize,
        live: usize,
    ) {
        let kk = k / 16 * 16;
        let tail = ((1u32 << (k - kk)) - 1) as __mmask16;
        let mut acc = [[_mm512_setzero_ps(); COLS]; R];
        // SAFETY: p + 16 ≤ k in the loop and the tail mask covers p..k after it; rows r < R of
        // x and y exist (the caller's tile).
        unsafe {
            let mut p = 0;
            while p < kk {
                let bv: [__m512; COLS] = std::array::from_fn(|c| _mm512_loadu_ps(cols[c].add(p)));
                for (r, a) in acc.iter_mut().enumerate() {
                    let xv = _mm512_loadu_ps(x.offset(r as isize * x_rs).add(p));
                    for (a, bv) in a.iter_mut().zip(&bv) {
                        *a = _mm512_fmadd_ps(xv, *bv, *a);
                    }
                }
                p += 16;
            }
            if tail != 0 {
                let bv: [__m512; COLS] =
                    std::array::from_fn(|c| _mm512_maskz_loadu_ps(tail, cols[c].add(p)));
                for (r, a) in acc.iter_mut().enumerate() {
                    let xv = _mm512_maskz_loadu_ps(tail, x.offset(r as isize * x_rs).add(p));
                    for (a, bv) in a.iter_mut().zip(&bv) {
                        *a = _mm512_fmadd_ps(xv, *bv, *a);
                    }
                }
            }
            for (r, a) in acc.iter().enumerate() {
                for (c, a) in a.iter().enumerate().take(live) {
                    *y.add(r * y_rs + c) = _mm512_reduce_add_ps(*a);
                }
            }
        }
    }
}
