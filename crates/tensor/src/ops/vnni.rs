//! AVX-512 VNNI kernels for the vector × quantized-matrix products with int8 activations
//! ([`Q8Input`], [`Q4Input`]): `vpdpbusd` multiplies 64 unsigned bytes by 64 signed bytes and
//! adds each run of four products into one of 16 i32 lanes, so one instruction does the work
//! of the widening kernels' sixteen conversions and four FMAs.
//!
//! `vpdpbusd` wants one side unsigned. 4-bit weights are unsigned already (0..=15). Int8
//! weights are read as `w + 128` (a XOR of the sign bit, one instruction per 64 weights): the
//! sum over a block becomes `Σ (w + 128)·q = Σ w·q + 128·Σ q`, and the second term depends
//! on the input alone, so it is subtracted once per output ([`Q8Input::offset`]) rather than
//! needing a per-row weight sum (the other usual trick) or a sign flip of every weight.
//!
//! Both kernels take a run of weight rows (one thread's share; [`quant_q8`] splits the rows)
//! and up to [`VNNI_INPUTS`] input rows, and keep several weight rows in flight: each load of
//! a weight serves every input row, each load of an input every row in flight.
//!
//! The int8 kernel adds the `vpdpbusd` of a span's four chunks ([`Q8_SPAN`]) in one i32
//! register before it converts it to f32 and applies the lanes' scales: one conversion and one
//! FMA per four products instead of per product. `vpdpbusd` and the conversion share one port
//! on these CPUs, so the scaling had cost as much as the products. Measured on
//! `[32, k] × [k, n]` (`k, n` = 768, 3072 / 3072, 768 / 768, 2304 / 768, 50257; a Xeon without
//! AMX, two binaries alternating, GMAC/s): 70–85 / 59–65 / 76–104 / 87–89 with blocks of 32
//! neighbours against 104–109 / 77–90 / 82–113 / 100–112 with spans, both with the
//! activations quantized the same fast way (see [`Q8Input::new`]).
//!
//! [`Q8_SPAN`]: crate::Q8_SPAN
//!
//! [`quant_q8`]: crate::ops::quant_q8

/// Whether this CPU has AVX-512 VNNI and F16C (for the q4 blocks' f16 scales; asked once); the
/// kernels also need what
/// [`wide_available`](crate::wide_available) checks.
pub fn vnni_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx512vnni") && std::arch::is_x86_feature_detected!("f16c")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Inputs a kernel multiplies together: eight, each weight load shared by all of them. For the
/// int8 kernel against two calls of four, GPT-2 124M int8 on a Xeon without AMX, tokens/s: batch 8
/// 277.3–277.9 → 359.6–363.3 and batch 32 317.9–326.3 → 342.0–351.7 (one binary, switched
/// alternately), 300.7–332.4 → 340.0–341.2 and 287.9–299.0 → 314.7–338.7 (two binaries,
/// alternating).
pub(crate) const VNNI_INPUTS: usize = 8;

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{int8_rows, q4_rows};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::VNNI_INPUTS;
    use crate::ops::quant_input::{CHUNK, LANES, Q4Input, Q8_SPAN, Q8Input};
    use crate::ops::quant_matrix::Q4_BLOCK_BYTES;

    /// Rows kept in flight.
    const ROWS: usize = 4;
    /// Chunks of a span of the int8 activations ([`Q8_SPAN`]): the int8 kernel's i32 sums run
    /// over this many `vpdpbusd` before they are converted and scaled.
    const SPAN_CHUNKS: usize = Q8_SPAN / CHUNK;
    /// How far ahead of its reads the 4-bit kernel asks for each row's blocks (the int8 kernel
    /// asks for the same line of the rows it reads next, `R` rows below): 2 KB measured
    /// 1.37–1.38× faster than none (the hardware prefetcher alone) over one GPT-2 token's
    /// products, interleaved in one process on a loaded machine; 1 KB 1.14–1.48×, 4 KB
    /// 0.95–1.67×.
    const PREFETCH_BYTES: usize = 2048;

    /// `out[r, j] = scale[j] · Σ_b d_b · (q_b · w[j, b])` for each input `xs[r]` (1 to
    /// [`VNNI_INPUTS`] of them) and int8 weights `w` `[scales.len(), k]` (row-major, i8 as u8);
    /// `out` is `[xs.len(), scales.len()]`. Weight rows in flight: four for one or two inputs,
    /// two from three on (each in flight costs two registers an input: the span's i32 sums and
    /// the row's f32 total; one row in flight for eight inputs measured slower).
    ///
    /// # Safety
    /// The CPU must have AVX-512 F, BW and VNNI; `w` must hold `scales.len() × k` bytes, `out`
    /// `xs.len() × scales.len()` values, and every input must have been built from `k` values.
    pub(crate) unsafe fn int8_rows(xs: &[Q8Input], w: &[u8], k: usize, scales: &[f32], out: &mut [f32]) {
        debug_assert!((1..=VNNI_INPUTS).contains(&xs.len()), "{} inputs", xs.len());
        // SAFETY: as this function's.
        unsafe {
            match xs.len() {
                1 => int8_block::<1, 4>(xs, w, k, scales, out),
                2 => int8_block::<2, 4>(xs, w, k, scales, out),
                3 => int8_block::<3, 2>(xs, w, k, scales, out),
                4 => int8_block::<4, 2>(xs, w, k, scales, out),
                5 => int8_block::<5, 2>(xs, w, k, scales, out),
                6 => int8_block::<6, 2>(xs, w, k, scales, out),
                7 => int8_block::<7, 2>(xs, w, k, scales, out),
                _ => int8_block::<8, 2>(xs, w, k, scales, out),
            }
        }
    }

    /// [`int8_rows`] for `N` inputs and `R` weight rows in flight: `R × N` i32 sums and as many
    /// f32 totals in registers.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn int8_block<const N: usize, const R: usize>(
        xs: &[Q8Input],
        w: &[u8],
        k: usize,
        scales: &[f32],
        out: &mut [f32],
    ) {
        let n = scales.len();
        let chunks = k.div_ceil(CHUNK);
        // the last chunk's bytes that lie inside a row
        let tail = k - (chunks.max(1) - 1) * CHUNK;
        let tail_mask: u64 = if tail == CHUNK { !0 } else { (1u64 << tail) - 1 };
        let flip = _mm512_set1_epi8(i8::MIN);
        let offsets: [f32; N] = std::array::from_fn(|r| 128.0 * xs[r].offset);
        let end = w.as_ptr_range().end;
        for j0 in (0..n).step_by(R) {
            let live = R.min(n - j0);
            // a short last run repeats its last row instead of reading past the matrix
            let rows: [*const u8; R] = std::array::from_fn(|c| w[(j0 + c.min(live - 1)) * k..].as_ptr());
            let mut acc = [[_mm512_setzero_ps(); N]; R];
            for s0 in (0..chunks).step_by(SPAN_CHUNKS) {
                // dots[c][r]: the span's integer products of row c and input r, by lane
                let mut dots = [[_mm512_setzero_si512(); N]; R];
                for ch in s0..chunks.min(s0 + SPAN_CHUNKS) {
                    let mask = if ch + 1 == chunks { tail_mask } else { !0 };
                    // SAFETY: each x.q holds chunks × 64 values; the masked load reads only
                    // bytes inside each row (ch·64 + tail ≤ k).
                    unsafe {
                        // masked-out bytes become 128 here and meet zero padding in x
                        let wv: [__m512i; R] = std::array::from_fn(|c| {
                            let line = rows[c].add(ch * CHUNK);
                            // the same line of the row the next run of rows holds here: 1.2–1.3×
                            // at 32 inputs, more than PREFETCH_BYTES ahead gave
                            let ahead = line.wrapping_add(R * k);
                            if ahead < end {
                                _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
                            }
                            _mm512_xor_si512(_mm512_maskz_loadu_epi8(mask, line.cast()), flip)
                        });
                        for r in 0..N {
                            let xv = _mm512_loadu_si512(xs[r].q.as_ptr().add(ch * CHUNK).cast());
                            for c in 0..R {
                                dots[c][r] = _mm512_dpbusd_epi32(dots[c][r], wv[c], xv);
                            }
                        }
                    }
                }
                for r in 0..N {
                    // SAFETY: x.d holds LANES scales for each of the ⌈chunks / 4⌉ spans.
                    let dv = unsafe { _mm512_loadu_ps(xs[r].d.as_ptr().add(s0 / SPAN_CHUNKS * LANES)) };
                    for c in 0..R {
                        acc[c][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dots[c][r]), dv, acc[c][r]);
                    }
                }
            }
            for c in 0..live {
                for r in 0..N {
                    out[r * n + j0 + c] = scales[j0 + c] * (_mm512_reduce_add_ps(acc[c][r]) - offsets[r]);
                }
            }
        }
    }

    /// `out[r, j] = Σ_g s[j,g] · d_g · (q_g · n[j,g]) + m[j,g] · Σ x_g` for each input `xs[r]`
    /// (1 to [`VNNI_INPUTS`] of them) and 4-bit weights in blocks of four groups
    /// ([`Q4_BLOCK_BYTES`] each: f16 scales `s`, f16 minima `m`, nibbles `n`), a row being
    /// `⌈groups / 4⌉` blocks; `out` is `[xs.len(), rows]`. Weight rows in flight: four for up
    /// to four inputs, two from five on.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F, BW, VL and VNNI, FMA and F16C; `blocks` must hold whole rows
    /// of blocks for the inputs' `groups`, `out` `xs.len() × rows` values, and every input must
    /// have been built from rows of `groups` groups.
    pub(crate) unsafe fn q4_rows(xs: &[Q4Input], blocks: &[u8], out: &mut [f32]) {
        debug_assert!((1..=VNNI_INPUTS).contains(&xs.len()), "{} inputs", xs.len());
        // SAFETY: as this function's.
        unsafe {
            match xs.len() {
                1 => q4_block::<1, ROWS>(xs, blocks, out),
                2 => q4_block::<2, ROWS>(xs, blocks, out),
                3 => q4_block::<3, ROWS>(xs, blocks, out),
                4 => q4_block::<4, ROWS>(xs, blocks, out),
                5 => q4_block::<5, 2>(xs, blocks, out),
                6 => q4_block::<6, 2>(xs, blocks, out),
                7 => q4_block::<7, 2>(xs, blocks, out),
                _ => q4_block::<8, 2>(xs, blocks, out),
            }
        }
    }

    /// [`q4_rows`] for `N` inputs and `R` weight rows in flight: `R × N` accumulators whose lanes
    /// `4i..4i + 4` gather group `i` of each block (scaled products, and the minimum's term in
    /// lane `4i`), reduced once a row.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,fma,f16c")]
    unsafe fn q4_block<const N: usize, const R: usize>(xs: &[Q4Input], blocks: &[u8], out: &mut [f32]) {
        let chunks = xs[0].groups.div_ceil(4);
        let row_bytes = chunks * Q4_BLOCK_BYTES;
        let n = blocks.len() / row_bytes.max(1);
        let low = _mm512_set1_epi8(0x0F);
        let zero = _mm512_setzero_si512();
        // each of the four scales (f32 elements 0..4), and of the four minima (4..8), over the
        // four lanes of its group
        let scales = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
        let minima = _mm512_set_epi32(7, 7, 7, 7, 6, 6, 6, 6, 5, 5, 5, 5, 4, 4, 4, 4);
        let end = blocks.as_ptr_range().end;
        for j0 in (0..n).step_by(R) {
            let live = R.min(n - j0);
            // a short last run repeats its last row instead of reading past the matrix
            let rows: [*const u8; R] = std::array::from_fn(|c| blocks[(j0 + c.min(live - 1)) * row_bytes..].as_ptr());
            let mut acc = [[_mm512_setzero_ps(); N]; R];
            for ch in 0..chunks {
                for c in 0..R {
                    // SAFETY: each row holds chunks blocks; each x.q holds chunks × 128 values,
                    // x.d and x.sums chunks × 16.
                    unsafe {
                        let block = rows[c].add(ch * Q4_BLOCK_BYTES);
                        // the block PREFETCH_BYTES ahead in this row's stream (its two lines)
                        let ahead = block.wrapping_add(PREFETCH_BYTES);
                        if ahead < end {
                            _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
                            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64).cast());
                        }
                        // the four scales and four minima, f16 → f32
                        let sm = _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128(block.cast())));
                        let s16 = _mm512_permutexvar_ps(scales, sm);
                        let m16 = _mm512_permutexvar_ps(minima, sm);
                        let b = _mm512_loadu_si512(block.add(16).cast());
                        let lo = _mm512_and_si512(b, low);
                        let hi = _mm512_and_si512(_mm512_srli_epi16(b, 4), low);
                        for r in 0..N {
                            let x = &xs[r];
                            let x_lo = _mm512_loadu_si512(x.q.as_ptr().add(ch * 128).cast());
                            let x_hi = _mm512_loadu_si512(x.q.as_ptr().add(ch * 128 + 64).cast());
                            let d16 = _mm512_loadu_ps(x.d.as_ptr().add(ch * 16));
                            let sums16 = _mm512_loadu_ps(x.sums.as_ptr().add(ch * 16));
                            let dot = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, lo, x_lo), hi, x_hi);
                            let scaled = _mm512_mul_ps(_mm512_cvtepi32_ps(dot), d16);
                            acc[c][r] = _mm512_fmadd_ps(m16, sums16, _mm512_fmadd_ps(scaled, s16, acc[c][r]));
                        }
                    }
                }
            }
            for c in 0..live {
                for r in 0..N {
                    out[r * n + j0 + c] = _mm512_reduce_add_ps(acc[c][r]);
                }
            }
        }
    }
}
