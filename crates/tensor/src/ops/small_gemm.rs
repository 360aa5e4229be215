//! Small products, the heads of attention above all (`[T, d] × [d, T]` and `[T, T] × [T, d]`
//! for each sequence and head, forward and backward), in one AVX-512 kernel per product.
//!
//! The gemm crate packs both operands for its cache blocking on every call. At these sizes (a
//! right operand of a few KB, which sits in L1) the packing and the call are a large share of
//! each product: `48 × [64, 32] × [32, 64]` ran at 0.80× MKL's `cblas_sgemm_batch` on two
//! threads. Here each output tile of up to [`ROWS`] rows × [`COLS`] columns is accumulated in
//! registers over the whole of k, one fused multiply-add per step and output (each sum in the
//! order p = 0, 1, …, k − 1), reading the right operand row by row and the left one by
//! broadcasts, whatever its strides. A right operand whose rows are not contiguous (a
//! transpose: `kᵀ`) is first copied row-major into a per-thread buffer.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::kernel::{KernelPath, kernel_path};

/// Rows of an output tile (6 rows × 4 vectors of accumulators: 24 of the 32 AVX-512 registers).
pub(crate) const ROWS: usize = 6;
/// Columns of an output tile (four AVX-512 vectors).
pub(crate) const COLS: usize = 64;
/// The largest right operand (k·n values, 64 KB) taken here: it stays in L1 or L2 while every
/// row of the left one passes; larger products go to the gemm crate's cache blocking.
const MAX_RHS: usize = 1 << 14;
/// The most multiply-adds of a product taken here; beyond, packing pays for itself.
const MAX_MACS: usize = 1 << 20;

/// Products computed here, for tests that check which path ran.
static CALLS: AtomicU64 = AtomicU64::new(0);

/// How many products the small-product kernel has computed in this process (tests read it to
/// know which path ran).
pub fn small_gemm_calls() -> u64 {
    CALLS.load(Ordering::Relaxed)
}

/// Counts `products` computed by [`product`] (callers count once per batch of products, not
/// once per product: a counter both threads bump for every head is a contended cache line).
pub(crate) fn count_calls(products: usize) {
    if products > 0 {
        CALLS.fetch_add(products as u64, Ordering::Relaxed);
    }
}

thread_local! {
    /// A row-major copy of a strided right operand, reused across calls.
    static PACKED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Whether [`product`] serves an `m × k` by `k × n` product: x86-64 with the wide path
/// (AVX-512), a right operand of at most [`MAX_RHS`] values and at most [`MAX_MACS`]
/// multiply-adds.
pub(crate) fn serves(m: usize, k: usize, n: usize) -> bool {
    cfg!(target_arch = "x86_64") && kernel_path() == KernelPath::Wide && k * n <= MAX_RHS && m * k * n <= MAX_MACS
}

/// `c[m, n] = a[m, k] · b[k, n]` (`c` row-major with row stride `ldc`; `a` and `b` with any
/// strides, in elements), on the calling thread. The caller checked [`serves`] and counts the
/// call ([`count_calls`]).
///
/// # Safety
/// Every `a` and `b` offset the strides give for those shapes is inside its allocation; `c`
/// has room for `m` rows of `ldc ≥ n` and overlaps neither input.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn product(
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    a_rs: isize,
    a_cs: isize,
    b: *const f32,
    b_rs: isize,
    b_cs: isize,
    c: *mut f32,
    ldc: usize,
) {
    #[cfg(target_arch = "x86_64")]
    {
        let ops = x86::Operands { k, a, a_rs, a_cs, b, ldb: b_rs, c, ldc };
        if b_cs == 1 {
            // SAFETY: the caller checked `serves` (AVX-512 present); the operands as the
            // contract says, b's rows contiguous with stride b_rs.
            unsafe { x86::product(m, n, ops) }
        } else {
            PACKED.with_borrow_mut(|packed| {
                // b as row-major [k, n]
                packed.clear();
                for p in 0..k as isize {
                    // SAFETY: (p, j) is inside b's view (the caller's contract).
                    packed.extend((0..n as isize).map(|j| unsafe { *b.offset(p * b_rs + j * b_cs) }));
                }
                // SAFETY: as above, b now the row-major copy.
                unsafe { x86::product(m, n, x86::Operands { b: packed.as_ptr(), ldb: n as isize, ..ops }) }
            })
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (m, k, n, a, a_rs, a_cs, b, b_rs, b_cs, c, ldc);
        unreachable!("serves() is false off x86-64");
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use std::arch::x86_64::*;

    use super::{COLS, ROWS};

    /// The operands of a product (or of one output tile): `a` rows of stride `a_rs`, columns
    /// of stride `a_cs`, over `k`; `b` rows of stride `ldb` with contiguous columns; `c` rows
    /// of stride `ldc`.
    #[derive(Clone, Copy)]
    pub(crate) struct Operands {
        pub(crate) k: usize,
        pub(crate) a: *const f32,
        pub(crate) a_rs: isize,
        pub(crate) a_cs: isize,
        pub(crate) b: *const f32,
        pub(crate) ldb: isize,
        pub(crate) c: *mut f32,
        pub(crate) ldc: usize,
    }

    /// Output rows `0..R` × columns `0..16·V` of `t.a · t.b` into `t.c`, the last vector's
    /// lanes limited by `last`.
    #[target_feature(enable = "avx512f")]
    unsafe fn tile<const R: usize, const V: usize>(t: Operands, last: __mmask16) {
        let Operands { k, a, a_rs, a_cs, b, ldb, c, ldc } = t;
        // SAFETY (whole body): the offsets are inside the operands (the caller's contract);
        // masked lanes are neither read nor written.
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); V]; R];
            for p in 0..k as isize {
                let row = b.offset(p * ldb);
                let mut w = [_mm512_setzero_ps(); V];
                for (v, w) in w.iter_mut().enumerate() {
                    let mask = if v + 1 == V { last } else { 0xFFFF };
                    *w = _mm512_maskz_loadu_ps(mask, row.add(16 * v));
                }
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm512_set1_ps(*a.offset(r as isize * a_rs + p * a_cs));
                    for (acc, &w) in acc.iter_mut().zip(&w) {
                        *acc = _mm512_fmadd_ps(x, w, *acc);
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                for (v, &acc) in acc.iter().enumerate() {
                    let mask = if v + 1 == V { last } else { 0xFFFF };
                    _mm512_mask_storeu_ps(c.add(r * ldc + 16 * v), mask, acc);
                }
            }
        }
    }

    /// [`tile`] with `R` rows and `v` (1 to 4) vectors.
    #[target_feature(enable = "avx512f")]
    unsafe fn rows<const R: usize>(v: usize, t: Operands, last: __mmask16) {
        // SAFETY: as the caller's.
        unsafe {
            match v {
                1 => tile::<R, 1>(t, last),
                2 => tile::<R, 2>(t, last),
                3 => tile::<R, 3>(t, last),
                _ => tile::<R, 4>(t, last),
            }
        }
    }

    /// `c[m, n] = a[m, k] · b[k, n]` (the operands `ops`) in tiles of [`ROWS`] × [`COLS`].
    ///
    /// # Safety
    /// As `super::product`, with `b`'s columns contiguous, on a CPU with AVX-512 F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn product(m: usize, n: usize, ops: Operands) {
        let Operands { a, a_rs, b, c, ldc, .. } = ops;
        for j0 in (0..n).step_by(COLS) {
            for i0 in (0..m).step_by(ROWS) {
                // SAFETY: rows i0.. and columns j0.. of the operands and the output, inside
                // them (the caller's contract).
                unsafe {
                    let t = Operands { a: a.offset(i0 as isize * a_rs), b: b.add(j0), c: c.add(i0 * ldc + j0), ..ops };
                    edge((m - i0).min(ROWS), (n - j0).min(COLS), t);
                }
            }
        }
    }

    /// One output tile of `height` (1 to [`ROWS`]) rows × `width` (1 to [`COLS`]) columns of
    /// `t.a · t.b` into `t.c`.
    ///
    /// # Safety
    /// The tile's rows and columns of the operands and the output are inside them; AVX-512 F
    /// present.
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn edge(height: usize, width: usize, t: Operands) {
        let last: __mmask16 = if width.is_multiple_of(16) { 0xFFFF } else { (1u16 << (width % 16)) - 1 };
        let v = width.div_ceil(16);
        // SAFETY: as the caller's.
        unsafe {
            match height {
                1 => rows::<1>(v, t, last),
                2 => rows::<2>(v, t, last),
                3 => rows::<3>(v, t, last),
                4 => rows::<4>(v, t, last),
                5 => rows::<5>(v, t, last),
                _ => rows::<6>(v, t, last),
            }
        }
    }
}
