//! The 16 × 16 transpose of 32-bit lanes in AVX-512 registers, for the kernels that reorder a
//! matrix into another kernel's layout on the way: `transposed_rhs` (a transposed weight into
//! the gemm crate's row-major operand) and `amx_q4` (4-bit weights into AMX tiles).

use std::arch::x86_64::*;

/// The 16 × 16 transpose of `a` (row `r` of the result is column `r` of `a`): 32-bit and
/// 64-bit interleaves within 128-bit lanes, then two rounds of lane shuffles.
#[inline]
#[target_feature(enable = "avx512f")]
pub(crate) fn transpose16(a: [__m512; 16]) -> [__m512; 16] {
    // b[2i], b[2i+1]: rows 2i and 2i+1 interleaved (low and high pairs of each lane)
    let b: [__m512; 16] = std::array::from_fn(|x| {
        let (r, hi) = (x & !1, x & 1 == 1);
        if hi { _mm512_unpackhi_ps(a[r], a[r + 1]) } else { _mm512_unpacklo_ps(a[r], a[r + 1]) }
    });
    // c[4i+q], lane l: column 4l+q of rows 4i..4i+3
    let c: [__m512; 16] = std::array::from_fn(|x| {
        let (i4, q) = (x & !3, x & 3);
        let (lo, hi) = (_mm512_castps_pd(b[i4 + (q >> 1)]), _mm512_castps_pd(b[i4 + 2 + (q >> 1)]));
        _mm512_castpd_ps(if q & 1 == 1 { _mm512_unpackhi_pd(lo, hi) } else { _mm512_unpacklo_pd(lo, hi) })
    });
    let mut out = [_mm512_setzero_ps(); 16];
    for q in 0..4 {
        let d0 = _mm512_shuffle_f32x4::<0x44>(c[q], c[4 + q]);
        let d1 = _mm512_shuffle_f32x4::<0xEE>(c[q], c[4 + q]);
        let d2 = _mm512_shuffle_f32x4::<0x44>(c[8 + q], c[12 + q]);
        let d3 = _mm512_shuffle_f32x4::<0xEE>(c[8 + q], c[12 + q]);
        out[q] = _mm512_shuffle_f32x4::<0x88>(d0, d2);
        out[4 + q] = _mm512_shuffle_f32x4::<0xDD>(d0, d2);
        out[8 + q] = _mm512_shuffle_f32x4::<0x88>(d1, d3);
        out[12 + q] = _mm512_shuffle_f32x4::<0xDD>(d1, d3);
    }
    out
}
