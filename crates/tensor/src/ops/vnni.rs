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
//! Both kernels take a run of output rows (one thread's share; [`quant_matmul`] splits the
//! rows) and keep four rows in flight, sharing each load of the input.
//!
//! [`quant_matmul`]: crate::ops::quant_matmul

/// Whether this CPU has AVX-512 VNNI (asked once); the kernels also need what
/// [`wide_available`](crate::wide_available) checks.
pub fn vnni_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| std::arch::is_x86_feature_detected!("avx512vnni"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{int8_rows, q4_rows};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use crate::ops::quant_input::{Q4Input, Q8Input};

    /// Rows kept in flight.
    const ROWS: usize = 4;

    /// `out[j] = scale[j] · Σ_b d_b · (q_b · w[j, b])` for int8 weights `w` `[out.len(), k]`
    /// (row-major, i8 as u8) against `x` quantized from `k` values.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F, BW and VNNI; `w` must hold `out.len() × k` bytes, `scales`
    /// `out.len()` values, and `x` must have been built from `k` values.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(crate) unsafe fn int8_rows(
        x: &Q8Input,
        w: &[u8],
        k: usize,
        scales: &[f32],
        out: &mut [f32],
    ) {
        let chunks = k.div_ceil(64);
        // the last chunk's bytes that lie inside a row
        let tail = k - (chunks.max(1) - 1) * 64;
        let tail_mask: u64 = if tail == 64 { !0 } else { (1u64 << tail) - 1 };
        let flip = _mm512_set1_epi8(i8::MIN);
        let zero = _mm512_setzero_si512();
        let offset = 128.0 * x.offset;
        for (j0, outs) in (0..out.len()).step_by(ROWS).zip(out.chunks_mut(ROWS)) {
            let live = outs.len();
            // a short last run repeats its last row instead of reading past the matrix
            let rows: [*const u8; ROWS] =
                std::array::from_fn(|c| w[(j0 + c.min(live - 1)) * k..].as_ptr());
            let mut acc = [_mm512_setzero_ps(); ROWS];
            for ch in 0..chunks {
                let mask = if ch + 1 == chunks { tail_mask } else { !0 };
                // SAFETY: x.q holds chunks × 64 values and x.lane_d chunks × 16 scales; the
                // masked load reads only bytes inside each row (ch·64 + tail ≤ k).
                unsafe {
                    let xv = _mm512_loadu_si512(x.q.as_ptr().add(ch * 64).cast());
                    let dv = _mm512_loadu_ps(x.lane_d.as_ptr().add(ch * 16));
                    for c in 0..ROWS {
                        let wv = _mm512_maskz_loadu_epi8(mask, rows[c].add(ch * 64).cast());
                        // masked-out bytes become 128 here and meet zero padding in x
                        let dot = _mm512_dpbusd_epi32(zero, _mm512_xor_si512(wv, flip), xv);
                        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), dv, acc[c]);
                    }
                }
            }
            for c in 0..live {
                outs[c] = scales[j0 + c] * (_mm512_reduce_add_ps(acc[c]) - offset);
            }
        }
    }

    /// `out[j] = Σ_g s[j,g] · d_g · (q_g · n[j,g]) + m[j,g] · Σ x_g` for 4-bit weights: nibbles
    /// `n` (16 bytes a group, `x.groups` groups a row), scales `s` and minima `m` `[out.len(),
    /// groups]`.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F, BW, VL and VNNI and FMA; `nibbles` must hold `out.len() × groups × 16`
    /// bytes and `scales`, `mins` `out.len() × groups` values each.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,fma")]
    pub(crate) unsafe fn q4_rows(
        x: &Q4Input,
        nibbles: &[u8],
        scales: &[f32],
        mins: &[f32],
        out: &mut [f32],
    ) {
        let g = x.groups;
        let chunks = g.div_ceil(4);
        let tail = g - (chunks.max(1) - 1) * 4; // groups in the last chunk: 1..=4
        let (tail_bytes, tail_groups): (u64, u8) = if tail == 4 {
            (!0, 0xF)
        } else {
            ((1u64 << (16 * tail)) - 1, (1u8 << tail) - 1)
        };
        let low = _mm512_set1_epi8(0x0F);
        let zero = _mm512_setzero_si512();
        // lanes 4i..4i+4 hold group i's four partial sums: each takes the group's scale
        let spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
        for (j0, outs) in (0..out.len()).step_by(ROWS).zip(out.chunks_mut(ROWS)) {
            let live = outs.len();
            let rows: [usize; ROWS] = std::array::from_fn(|c| j0 + c.min(live - 1));
            let mut acc = [_mm512_setzero_ps(); ROWS];
            let mut min_acc = [_mm_setzero_ps(); ROWS];
            for ch in 0..chunks {
                let (mb, mg) = if ch + 1 == chunks {
                    (tail_bytes, tail_groups)
                } else {
                    (!0, 0xF)
                };
                // SAFETY: x.q holds chunks × 128 values, x.d and x.sums chunks × 4; the masked
                // loads read only the groups inside each row (4·ch + tail ≤ g).
                unsafe {
                    let x_lo = _mm512_loadu_si512(x.q.as_ptr().add(ch * 128).cast());
                    let x_hi = _mm512_loadu_si512(x.q.as_ptr().add(ch * 128 + 64).cast());
                    let d4 = _mm_loadu_ps(x.d.as_ptr().add(ch * 4));
                    let sums4 = _mm_loadu_ps(x.sums.as_ptr().add(ch * 4));
                    for c in 0..ROWS {
                        let at = rows[c] * g + ch * 4;
                        let b = _mm512_maskz_loadu_epi8(mb, nibbles.as_ptr().add(at * 16).cast());
                        let n_lo = _mm512_and_si512(b, low);
                        let n_hi = _mm512_and_si512(_mm512_srli_epi16(b, 4), low);
                        let dot =
                            _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, n_lo, x_lo), n_hi, x_hi);
                        let s4 = _mm_mul_ps(_mm_maskz_loadu_ps(mg, scales.as_ptr().add(at)), d4);
                        let s = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(s4));
                        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), s, acc[c]);
                        min_acc[c] = _mm_fmadd_ps(
                            _mm_maskz_loadu_ps(mg, mins.as_ptr().add(at)),
                            sums4,
                            min_acc[c],
                        );
                    }
                }
            }
            for c in 0..live {
                let m = min_acc[c];
                let m = _mm_add_ps(m, _mm_movehl_ps(m, m));
                let m = _mm_add_ss(m, _mm_movehdup_ps(m));
                outs[c] = _mm512_reduce_add_ps(acc[c]) + _mm_cvtss_f32(m);
            }
        }
    }
}
