//! Products whose right operand is a transposed weight (`x · Wᵀ`, `W` stored `[out, in]` as
//! Hugging Face and loam store it) with rows a multiple of 1 KB apart, taken a column block at
//! a time: the block's slice of `Wᵀ` is transposed into a row-major buffer, [`KC`] rows of k at
//! a time (16 × 16 tiles transposed in AVX-512 registers), and the gemm crate multiplies by
//! that buffer.
//!
//! Given `Wᵀ` as it is, the crate packs it by gathering each 64-column panel down the rows of
//! `W`. With rows `k` floats apart and `k` a multiple of 256 (1 KB), the rows of a panel fall
//! into at most four of L1's 64 sets (one for k = 1024, 2048 or 3072; two for 1536 and 2560),
//! and presumably the gather misses L1 over and over: SmolLM2's `down_proj` (k = 2560) ran at
//! 0.65–0.83× the speed of the same product with `W` stored `[in, out]`. Measured in one process, this
//! path against the crate's own packing (alternating blocks of 24 products over distinct
//! weights, so that they come from memory; medians of 7–9 rounds), `[m, k] × [k, 960]`:
//! m = 256: k = 768 1.05×, 1536 1.11×, 2560 1.16–1.25×, 3072 1.06×; m = 128: 1.09–1.35×;
//! m = 64: k = 768 1.13×, 1536 1.35×, 2560 1.42–1.50×, 3072 1.38×. Row strides that spread
//! over the sets (k = 960, 1040) gained nothing at 256 rows (0.95–1.02×) and stay with the
//! crate. Each thread that runs such a product keeps its buffer (up to 512 KB) for reuse.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use gemm::Parallelism;

use crate::kernel::{KernelPath, kernel_path};

/// Rows of k transposed and multiplied at a time: 512 KB of buffer with a 256-column block.
/// The crate's own k blocking groups the sums the same way at k = 1536, 2560 and 3072 (the
/// outputs of both paths were equal to the bit there); elsewhere they differ by rounding.
const KC: usize = 512;

/// A transposed operand whose row stride (in floats) is a multiple of this (1 KB) is taken here.
const CONFLICT_STRIDE: isize = 256;

/// The fewest rows of a product taken here (fewer go to the skinny kernels before this).
const MIN_ROWS: usize = 16;

/// Products computed here, for tests that check which path ran.
static CALLS: AtomicU64 = AtomicU64::new(0);

/// How many products have gone through the transposed-operand path in this process (tests read
/// it to know which path ran).
pub fn transposed_rhs_calls() -> u64 {
    CALLS.load(Ordering::Relaxed)
}

/// Counts one product computed here (by its caller, once for all its column blocks).
pub(crate) fn count_call() {
    CALLS.fetch_add(1, Ordering::Relaxed);
}

thread_local! {
    /// This thread's transposed slice, reused across calls (at most [`KC`] × 256 values).
    static BUFFER: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Whether [`column_block`] serves an `m`-row product whose right operand has row stride
/// `b_rs` and column stride `b_cs`: the wide path on x86-64, a transposed operand (`b_rs` 1)
/// whose columns are a multiple of [`CONFLICT_STRIDE`] apart, at least [`MIN_ROWS`] rows.
pub(crate) fn serves(m: usize, b_rs: isize, b_cs: isize) -> bool {
    cfg!(target_arch = "x86_64")
        && kernel_path() == KernelPath::Wide
        && b_rs == 1
        && b_cs > 0
        && b_cs % CONFLICT_STRIDE == 0
        && m >= MIN_ROWS
}

/// Columns `j0 .. j0 + cols` of `c[m, n] = a[m, k] · b[k, n]`, where `b`'s columns are
/// contiguous (`b_rs == 1`, column `j` at `b + j·b_cs`), on the calling thread.
///
/// # Safety
/// As for a one-thread `gemm::gemm` call over the same operands: every offset inside its
/// allocation, `c` (row stride `ldc`) overlapping neither input.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn column_block(
    m: usize,
    k: usize,
    a: *const f32,
    a_rs: isize,
    a_cs: isize,
    b: *const f32,
    b_cs: isize,
    c: *mut f32,
    ldc: usize,
    (j0, cols): (usize, usize),
) {
    #[cfg(target_arch = "x86_64")]
    BUFFER.with_borrow_mut(|t| {
        t.resize(KC * cols, 0.0);
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            // t[p][j] = b[k0 + p, j0 + j], row-major [kc, cols]
            // SAFETY: columns j0.. j0 + cols, rows k0 .. k0 + kc of b are inside it.
            unsafe { x86::transpose(b.offset(j0 as isize * b_cs + k0 as isize), b_cs as usize, cols, kc, t) };
            // SAFETY: the caller's contract; t is [kc, cols] row-major.
            unsafe {
                gemm::gemm(
                    m,
                    cols,
                    kc,
                    c.add(j0),
                    1,
                    ldc as isize,
                    k0 > 0,
                    a.offset(k0 as isize * a_cs),
                    a_cs,
                    a_rs,
                    t.as_ptr(),
                    1,
                    cols as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                )
            }
        }
    });
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (m, k, a, a_rs, a_cs, b, b_cs, c, ldc, j0, cols);
        unreachable!("serves() is false off x86-64");
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use crate::ops::transpose16::transpose16;

    /// `t[p·rows + j] = src[j·ld + p]` for `j < rows`, `p < len`: `rows` rows of `len` values
    /// (row stride `ld`) transposed into `t` (`[len, rows]` row-major), in 16 × 16 tiles
    /// transposed in registers; the edges one value at a time.
    ///
    /// # Safety
    /// `src` holds `rows` rows of `len` values at stride `ld`; `t` has `len · rows` values; the
    /// CPU has AVX-512 F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn transpose(src: *const f32, ld: usize, rows: usize, len: usize, t: &mut [f32]) {
        let (full_rows, full_len) = (rows / 16 * 16, len / 16 * 16);
        // SAFETY (whole body): every offset below is inside src or t (the contract).
        unsafe {
            for j in (0..full_rows).step_by(16) {
                for p in (0..full_len).step_by(16) {
                    let a: [__m512; 16] = std::array::from_fn(|r| _mm512_loadu_ps(src.add((j + r) * ld + p)));
                    let out = transpose16(a);
                    for (q, v) in out.iter().enumerate() {
                        _mm512_storeu_ps(t.as_mut_ptr().add((p + q) * rows + j), *v);
                    }
                }
            }
            for j in 0..rows {
                let from = if j < full_rows { full_len } else { 0 };
                for p in from..len {
                    t[p * rows + j] = *src.add(j * ld + p);
                }
            }
        }
    }
}
