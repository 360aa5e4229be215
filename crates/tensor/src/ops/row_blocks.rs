//! Products of many rows by a right operand that fits in L2, split over the threads in blocks
//! of rows handed out one at a time: a layer's projection over a training batch, such as the
//! built-in GPT's `[768, 128] × [128, 384]` (its attention input over 12 sequences of 64).
//!
//! `matmul` gives other products of this size to the gemm crate once per thread, on an equal
//! share of the rows each: a fixed split, with each thread packing the whole right operand. On
//! a shared machine the two cores do not run at the same speed: measured on a Xeon with 2
//! vCPUs, one thread's half of `[768, 128] × [128, 384]` took 11–25% longer than the other's
//! in three runs of four (summed over 7000 products), and the faster thread waited for it (the
//! gemm crate's smaller parts cost more than they balanced: each packs the whole right operand
//! again). Here the rows go out in blocks of [`BLOCK_ROWS`] to whichever thread asks first
//! (`fork::for_each_part`), so the faster thread takes more of them, and each thread packs the
//! right operand once per product, when it takes its first block, into its own buffer: one
//! copy packed by the caller for both was slower than the gemm crate (0.90–0.94×), the other
//! core reading it across the caches.
//!
//! The right operand is packed into panels of 64 columns (`k` rows of 64 values, 64-byte
//! aligned), and every 6-row × 64-column tile of the output is accumulated in registers over
//! the whole of `k` (each sum in the order p = 0, 1, …, k − 1, whatever the thread count),
//! reading the tile's rows of the left operand by broadcasts; tiles at the edges use the
//! masked tile of `small_gemm`.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::matmul::row_part;
use super::small_gemm::{COLS, ROWS};
use crate::fork::for_each_part;
use crate::kernel::{KernelPath, kernel_path};
use crate::send_ptr::SendPtr;

/// Rows of a block, the unit the threads take (eight tiles of 6 rows); the blocks of a product
/// are as many as its rows make, rounded up to a multiple of the thread count, and share its
/// tiles out evenly. Blocks of 96 and 192 rows were no faster (`docs/perf.md`).
const BLOCK_ROWS: usize = 48;
/// Columns of a packed panel: the width of a tile, which `small_gemm`'s edge tiles share.
const PANEL: usize = COLS;
/// The longest inner dimension taken: a tile's rows of the left operand (6 × k values) stay
/// in L1 while it passes over the panels.
const MAX_K: usize = 256;
/// The largest right operand (k·n values, 512 KB) taken: each thread's packed copy stays in
/// its L2.
const MAX_RHS: usize = 1 << 17;
/// The fewest rows taken: two blocks.
const MIN_ROWS: usize = 2 * BLOCK_ROWS;

/// Products computed here, for tests that check which path ran.
static CALLS: AtomicU64 = AtomicU64::new(0);

/// How many products the row-block kernel has computed in this process (tests read it to
/// know which path ran).
pub fn row_block_calls() -> u64 {
    CALLS.load(Ordering::Relaxed)
}

/// Numbers the products, so that a thread knows whether its packed copy is the current one.
static PRODUCT: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    /// This thread's packed right operand and the number of the product it belongs to.
    static PACKED: RefCell<(usize, Vec<f32>)> = const { RefCell::new((0, Vec::new())) };
}

/// Whether [`product`] serves an `m × k` by `k × n` product whose left operand has columns of
/// stride `a_cs` and right operand columns of stride `b_cs`: x86-64 with the wide path,
/// contiguous rows in both operands, at least [`MIN_ROWS`] rows, `k` at most [`MAX_K`] and a
/// right operand of at most [`MAX_RHS`] values.
pub(crate) fn serves(m: usize, k: usize, n: usize, a_cs: isize, b_cs: isize) -> bool {
    cfg!(target_arch = "x86_64")
        && kernel_path() == KernelPath::Wide
        && a_cs == 1
        && b_cs == 1
        && m >= MIN_ROWS
        && k <= MAX_K
        && k * n <= MAX_RHS
}

/// `c[m, n] = a[m, k] · b[k, n]` (`a` and `b` with row strides `a_rs` and `b_rs` and
/// contiguous columns; `c` row-major with row stride `ldc`), on every thread of the fork.
/// The caller checked [`serves`].
///
/// # Safety
/// `a` holds `m` rows of stride `a_rs` and `k` values, `b` `k` rows of stride `b_rs` and `n`
/// values; `c` has room for `m` rows of `ldc ≥ n` and overlaps neither input.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn product(
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    a_rs: isize,
    b: *const f32,
    b_rs: isize,
    c: *mut f32,
    ldc: usize,
) {
    let id = PRODUCT.fetch_add(1, Ordering::Relaxed);
    let (a, b, c) = (SendPtr(a.cast_mut()), SendPtr(b.cast_mut()), SendPtr(c));
    let tiles = m.div_ceil(ROWS);
    let blocks = m.div_ceil(BLOCK_ROWS).next_multiple_of(rayon::current_num_threads().max(1));
    for_each_part(blocks, |part| {
        let (a, b, c) = (a, b, c);
        let (t0, count) = row_part(tiles, blocks, part);
        if count == 0 {
            // more threads than tiles: nothing for this block
            return;
        }
        let i0 = t0 * ROWS;
        let rows = (count * ROWS).min(m - i0);
        PACKED.with_borrow_mut(|(packed_for, buf)| {
            if *packed_for != id {
                // SAFETY: b's k rows of n values (the caller's contract).
                unsafe { pack(k, n, b.get(), b_rs, buf) };
                *packed_for = id;
            }
            let panels = aligned(buf);
            #[cfg(target_arch = "x86_64")]
            // SAFETY: rows i0..i0 + rows of a and c, inside them (the caller's contract); the
            // panels hold b as `pack` wrote it; serves() checked AVX-512.
            unsafe {
                x86::rows(k, n, rows, a.get().offset(i0 as isize * a_rs), a_rs, panels, c.at(i0 * ldc), ldc)
            }
            #[cfg(not(target_arch = "x86_64"))]
            let _ = (panels, rows, a_rs, ldc);
        })
    });
    CALLS.fetch_add(1, Ordering::Relaxed);
}

/// The first 64-byte boundary of `buf` (its packed panels start there).
fn aligned(buf: &[f32]) -> *const f32 {
    buf.as_ptr().wrapping_add(buf.as_ptr().align_offset(64))
}

/// Packs `b` (`k` rows of stride `b_rs`, `n` contiguous values) into `buf` as panels of
/// [`PANEL`] columns, each `k` rows of [`PANEL`] values (the last panel's rows padded), the
/// first starting at a 64-byte boundary.
///
/// # Safety
/// `b` holds `k` rows of `n` values at stride `b_rs`.
unsafe fn pack(k: usize, n: usize, b: *const f32, b_rs: isize, buf: &mut Vec<f32>) {
    let len = n.div_ceil(PANEL) * k * PANEL;
    // up to 15 values of slack to reach a 64-byte boundary
    if buf.len() < len + 15 {
        buf.resize(len + 15, 0.0);
    }
    let skip = buf.as_ptr().align_offset(64);
    for (q, panel) in buf[skip..skip + len].chunks_exact_mut(k * PANEL).enumerate() {
        let (j0, w) = (q * PANEL, (n - q * PANEL).min(PANEL));
        for (p, row) in panel.chunks_exact_mut(PANEL).enumerate() {
            // SAFETY: row p, columns j0..j0 + w of b (the caller's contract).
            let src = unsafe { std::slice::from_raw_parts(b.offset(p as isize * b_rs).add(j0), w) };
            row[..w].copy_from_slice(src);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{PANEL, ROWS};
    use crate::ops::small_gemm::x86 as tile;

    /// Output rows `0..m` of `a · b` (`b` packed in panels), tile by tile: a tile's rows of
    /// `a` pass over every panel before the next tile's.
    ///
    /// # Safety
    /// `a` holds `m` rows of stride `a_rs` and `k` values; `panels` as `super::pack` wrote
    /// them for `k` and `n`; `c` has room for `m` rows of `ldc ≥ n`; AVX-512 F present.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn rows(
        k: usize,
        n: usize,
        m: usize,
        a: *const f32,
        a_rs: isize,
        panels: *const f32,
        c: *mut f32,
        ldc: usize,
    ) {
        for i0 in (0..m).step_by(ROWS) {
            let height = (m - i0).min(ROWS);
            for j0 in (0..n).step_by(PANEL) {
                let w = (n - j0).min(PANEL);
                // SAFETY: rows i0.. of a and c, panel j0 / PANEL of the packed operand, all
                // inside them (the caller's contract).
                unsafe {
                    let (a, b, c) = (a.offset(i0 as isize * a_rs), panels.add(j0 * k), c.add(i0 * ldc + j0));
                    if height == ROWS && w == PANEL {
                        full(k, a, a_rs as usize, b, c, ldc);
                    } else {
                        let t = tile::Operands { k, a, a_rs, a_cs: 1, b, ldb: PANEL as isize, c, ldc };
                        tile::edge(height, w, t);
                    }
                }
            }
        }
    }

    /// A whole 6 × 64 tile: `c[6, 64] = a[6, k] · b[k, 64]` (`b` one packed panel), `k`
    /// unrolled by four, the panel read by aligned loads: beside `small_gemm`'s general tile
    /// (any strides, masked last vector) because it ran the whole product about 4% faster
    /// (0.92–0.94× against 0.89–0.90× the gemm crate, in an earlier state of this path).
    #[target_feature(enable = "avx512f")]
    unsafe fn full(k: usize, a: *const f32, a_rs: usize, b: *const f32, c: *mut f32, ldc: usize) {
        // SAFETY (whole body): rows 0..6 of a (k values each), rows 0..k of the panel and
        // rows 0..6 of c (64 values each) are inside them (the caller's contract).
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); 4]; ROWS];
            let step = |acc: &mut [[__m512; 4]; ROWS], p: usize| {
                let row = b.add(p * PANEL);
                let w = [
                    _mm512_load_ps(row),
                    _mm512_load_ps(row.add(16)),
                    _mm512_load_ps(row.add(32)),
                    _mm512_load_ps(row.add(48)),
                ];
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm512_set1_ps(*a.add(r * a_rs + p));
                    for (acc, &w) in acc.iter_mut().zip(&w) {
                        *acc = _mm512_fmadd_ps(x, w, *acc);
                    }
                }
            };
            let mut p = 0;
            while p + 4 <= k {
                step(&mut acc, p);
                step(&mut acc, p + 1);
                step(&mut acc, p + 2);
                step(&mut acc, p + 3);
                p += 4;
            }
            while p < k {
                step(&mut acc, p);
                p += 1;
            }
            for (r, acc) in acc.iter().enumerate() {
                for (v, &acc) in acc.iter().enumerate() {
                    _mm512_storeu_ps(c.add(r * ldc + 16 * v), acc);
                }
            }
        }
    }
}
