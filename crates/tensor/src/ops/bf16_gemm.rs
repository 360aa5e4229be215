//! The native bfloat16 matrix product for prompts on CPUs with AVX512-BF16: `out[m, n] =
//! x[m, k] · w[n, k]ᵀ` with `w` in bf16, the activations `x` rounded to bf16 as they are
//! packed (as PyTorch's oneDNN kernels do), and products summed in f32 by `vdpbf16ps`, which
//! multiplies pairs of bf16 values exactly and adds both products to an f32 lane.
//!
//! Layout: `x` is packed once as `[m, k/2]` pairs (two bf16 in one 32-bit word, k padded to
//! even with a zero); the columns are split into blocks of [`BLOCK_COLS`] over threads, and
//! each block, [`KC`] pairs of k at a time, is packed into panels `[KC, 32]` of pair words (32
//! output columns, zero past `n`). The micro-kernel keeps an 8 × 32 tile of the output in
//! sixteen registers and, for each pair of k, broadcasts one pair of each x row against two
//! 16-column halves of the panel. The result is `x` rounded to bf16 times `w` in f32 up to the
//! order of the additions (and subnormals, which the instruction flushes to zero).
//!
//! Off by default: on the Xeon this was written on (AVX512-BF16 and AMX), `vdpbf16ps` retires
//! a quarter as often as an f32 `vfmadd` (0.55 against 2.1 G instructions/s on one thread), so
//! its 32 multiply-adds an instruction are half the f32 rate and the widen-then-f32-gemm path
//! is faster (this kernel ran at 0.3–1.1× of it a round, 0.5–0.8× in the median, on
//! SmolLM2-360M's products with 256 rows, 2 threads, a loaded machine). `native_bf16` (in
//! `bf16_native`) or `LOAM_BF16_NATIVE=1` turns it on, for CPUs whose bf16 dot products run at
//! full rate.

use crate::fork::{for_each_chunk_mut, for_each_part};
use crate::kernel::{KernelPath, kernel_path};
use crate::send_ptr::SendPtr;

/// Output columns of one thread's block (a multiple of the panel width 32).
const BLOCK_COLS: usize = 64;
/// Pairs of k packed at a time: a 32-column panel of 256 pairs is 32 KiB, one L1 cache.
const KC: usize = 256;
/// Rows of the micro-kernel's output tile.
const MR: usize = 8;
/// Columns of one panel (two registers of 16 lanes).
const NR: usize = 32;

/// Whether the native kernel runs: asked for, an AVX512-BF16 CPU and the wide path not
/// forced off.
pub(crate) fn native_available() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    super::bf16_native::asked() && kernel_path() == KernelPath::Wide && *HAS.get_or_init(|| std::arch::is_x86_feature_detected!("avx512bf16"))
}

/// f32 → bf16 bits, rounding to nearest even (NaN stays NaN), as `Bf16Matrix` rounds.
#[inline(always)]
fn round(x: f32) -> u32 {
    if x.is_nan() {
        return 0x7fc0;
    }
    let b = x.to_bits();
    (b + 0x7fff + ((b >> 16) & 1)) >> 16
}

/// `x` `[m, k]` rounded to bf16 and packed as `[m, k/2]` words, the even k in the low half.
fn pack_rows(x: &[f32], m: usize, k: usize) -> Vec<u32> {
    let kp = k.div_ceil(2);
    let mut out = vec![0u32; m * kp];
    for_each_chunk_mut(&mut out, kp.max(1), |i, o| {
        let row = &x[i * k..(i + 1) * k];
        for (o, pair) in o.iter_mut().zip(row.chunks(2)) {
            let hi = pair.get(1).map_or(0, |&v| round(v));
            *o = round(pair[0]) | (hi << 16);
        }
    });
    out
}

/// Columns `j0..j0 + NR` (those below `n`) and pairs `p0..p0 + kc` of `w` `[n, k]` into
/// `panel` `[kc, NR]` of pair words, zero past `n` and past k.
fn pack_panel(w: &[u16], n: usize, k: usize, j0: usize, p0: usize, kc: usize, panel: &mut [u32]) {
    panel[..kc * NR].fill(0);
    for c in 0..NR.min(n.saturating_sub(j0)) {
        let row = &w[(j0 + c) * k..(j0 + c + 1) * k];
        for p in 0..kc {
            let e = 2 * (p0 + p);
            let lo = u32::from(row[e]);
            let hi = row.get(e + 1).map_or(0, |&v| u32::from(v));
            panel[p * NR + c] = lo | (hi << 16);
        }
    }
}

/// `out[m, n] = round_bf16(x[m, k]) · w[n, k]ᵀ` on the native kernel; the caller checks
/// [`native_available`] first. Column blocks run on rayon's threads.
pub(crate) fn gemm_bf16_native(x: &[f32], m: usize, k: usize, w: &[u16], n: usize, out: &mut [f32]) {
    let kp = k.div_ceil(2);
    let a = pack_rows(x, m, k);
    out.fill(0.0);
    let po = SendPtr(out.as_mut_ptr());
    for_each_part(n.div_ceil(BLOCK_COLS), |blk| {
        let mut panel = vec![0u32; KC * NR];
        let jb = blk * BLOCK_COLS;
        for p0 in (0..kp).step_by(KC) {
            let kc = KC.min(kp - p0);
            for j0 in (jb..n.min(jb + BLOCK_COLS)).step_by(NR) {
                pack_panel(w, n, k, j0, p0, kc, &mut panel);
                let cols = NR.min(n - j0);
                for i0 in (0..m).step_by(MR) {
                    let rows = MR.min(m - i0);
                    // SAFETY: the feature was detected (native_available); rows i0..i0+rows of
                    // `a` hold kp words, the panel kc × NR, and the tile writes columns
                    // j0..j0+cols < n of rows below m, inside this block, which no other
                    // worker writes.
                    unsafe { x86::tile(&a[i0 * kp + p0..], kp, &panel[..kc * NR], kc, po.get().add(i0 * n + j0), n, rows, cols) };
                }
            }
        }
    });
}

mod x86 {
    use std::arch::x86_64::*;

    use super::{MR, NR};

    /// Adds the `rows × cols` tile `a[rows, kc] · panel[kc, NR]` to `c` (row stride `ldc`);
    /// `a` rows are `lda` words apart.
    #[target_feature(enable = "avx512f,avx512bf16")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn tile(a: &[u32], lda: usize, panel: &[u32], kc: usize, c: *mut f32, ldc: usize, rows: usize, cols: usize) {
        // SAFETY: forwarded from the caller.
        unsafe {
            match rows {
                8 => tile_r::<8>(a, lda, panel, kc, c, ldc, cols),
                7 => tile_r::<7>(a, lda, panel, kc, c, ldc, cols),
                6 => tile_r::<6>(a, lda, panel, kc, c, ldc, cols),
                5 => tile_r::<5>(a, lda, panel, kc, c, ldc, cols),
                4 => tile_r::<4>(a, lda, panel, kc, c, ldc, cols),
                3 => tile_r::<3>(a, lda, panel, kc, c, ldc, cols),
                2 => tile_r::<2>(a, lda, panel, kc, c, ldc, cols),
                _ => tile_r::<1>(a, lda, panel, kc, c, ldc, cols),
            }
        }
    }

    /// [`tile`] for `R ≤ MR` rows, the accumulators kept in registers.
    #[target_feature(enable = "avx512f,avx512bf16")]
    #[inline]
    unsafe fn tile_r<const R: usize>(a: &[u32], lda: usize, panel: &[u32], kc: usize, c: *mut f32, ldc: usize, cols: usize) {
        debug_assert!(R <= MR && cols <= NR && panel.len() >= kc * NR);
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        let pa = a.as_ptr();
        let pb = panel.as_ptr();
        // SAFETY: p < kc: the panel holds kc × NR words and each row of `a` kc words from here.
        unsafe {
            for p in 0..kc {
                let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(pb.add(p * NR).cast()));
                let b1: __m512bh = std::mem::transmute(_mm512_loadu_si512(pb.add(p * NR + 16).cast()));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x: __m512bh = std::mem::transmute(_mm512_set1_epi32(*pa.add(r * lda + p) as i32));
                    acc[0] = _mm512_dpbf16_ps(acc[0], x, b0);
                    acc[1] = _mm512_dpbf16_ps(acc[1], x, b1);
                }
            }
        }
        let lanes = |live: usize| -> __mmask16 { if live >= 16 { 0xffff } else { ((1u32 << live) - 1) as __mmask16 } };
        let (m0, m1) = (lanes(cols), lanes(cols.saturating_sub(16)));
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: row r < rows of the output, columns below `cols` (the masks).
            unsafe {
                let row = c.add(r * ldc);
                _mm512_mask_storeu_ps(row, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, row), acc[0]));
                if m1 != 0 {
                    let hi = row.add(16);
                    _mm512_mask_storeu_ps(hi, m1, _mm512_add_ps(_mm512_maskz_loadu_ps(m1, hi), acc[1]));
                }
            }
        }
    }
}
