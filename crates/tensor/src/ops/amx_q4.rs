//! The AMX matrix product for 4-bit weights ([`QuantMatrix`] in [`QuantFormat::Q4`]), for
//! inputs of 16 rows or more on CPUs with AMX (see `amx`): batched decoding, prompts, batches
//! of sentences. `out[m, n] = round_bf16(x[m, k]) · round_bf16(w[n, k])ᵀ`, with `w` the
//! dequantized weights (`min + scale · q` in f32, as [`QuantMatrix::dequantize`] gives them)
//! rounded to bf16, f32 sums of exact bf16 products (`amx_bf16`'s kernel).
//!
//! The weights are never held widened: each task of the product widens the pair of column
//! groups it is about to multiply (32 weight rows) into its own 2 · ⌈k / 32⌉ KB of tiles
//! ([`Weights::PerPair`]) and runs the row blocks of the activations over them before the
//! next pair (in passes of 256 rows, each widening its pairs again). A 4-bit group is exactly
//! one 32-wide tile step along k, so a column's step is one lookup: the group's 16 possible
//! values, `min + scale · q` for q = 0..15 rounded to bf16, form a table, and the 32 nibbles
//! index it (`vpermw`). Each column's steps are written as rows of the tiles, and each tile is
//! then transposed in place (in registers) into the pair-per-lane order of the tile layout.
//!
//! Rounding the dequantized weights to bf16 changes a weight by at most 2⁻⁹ of itself, against
//! the 4-bit step of up to 1/15 of its group's range; the vector kernels of fewer rows
//! quantize the activations to int8 instead (`quant_q8`), a coarser rounding than bf16's.

use std::mem::MaybeUninit;

use super::amx::{AMX_MIN_ROWS, Weights, amx_on};
use super::amx_bf16;
use super::quant_matrix::{Q4_BLOCK_BYTES, QuantFormat, QuantMatrix, q4_blocks};

/// Computes `out[m, n] = x[m, k] · w[n, k]ᵀ` on AMX and returns `true` when `w` is 4-bit, `x`
/// has [`AMX_MIN_ROWS`] rows or more and AMX is on (`amx_on`); otherwise returns `false` and
/// leaves `out`.
pub(crate) fn try_gemm(x: &[f32], m: usize, k: usize, w: &QuantMatrix, out: &mut [f32]) -> bool {
    let n = w.rows;
    let Some(p) = w.packed.as_ref().filter(|_| w.format == QuantFormat::Q4) else {
        return false;
    };
    if m < AMX_MIN_ROWS || k == 0 || n == 0 || !amx_on() {
        return false;
    }
    let row_bytes = q4_blocks(k) * Q4_BLOCK_BYTES;
    assert!(p.q.len() >= n * row_bytes, "4-bit blocks of a [{n}, {k}] matrix");
    let pack = |jp: usize, tiles: &mut [u8]| {
        // SAFETY: AMX is on, so the wide path is (AVX-512 F and BW); p.q holds n rows of
        // row_bytes (asserted above); tiles holds two column groups of ⌈k / 32⌉ tiles (what
        // `Weights::PerPair` hands over).
        unsafe { x86::pack_pair(&p.q, row_bytes, n, k, jp, tiles) }
    };
    // SAFETY: f32 and MaybeUninit<f32> share their layout, and the product only writes
    // initialized values into `out`
    let out = unsafe { &mut *(out as *mut [f32] as *mut [MaybeUninit<f32>]) };
    amx_bf16::gemm(x, m, k, Weights::PerPair(&pack), n, None, out);
    true
}

mod x86 {
    use std::arch::x86_64::*;

    use crate::ops::quant_matrix::{Q4_BLOCK_BYTES, Q4_BLOCK_GROUPS, Q4_GROUP};
    use crate::ops::transpose16::transpose16;

    /// Bytes of one AMX tile (16 rows of 64).
    const TILE: usize = 1024;

    /// Column groups `2·jp` and `2·jp + 1` of the 4-bit matrix `q` (`n` rows of `row_bytes`,
    /// `k` weights a row) as bf16 tiles in `amx_bf16`'s layout: per group `⌈k / 32⌉` tiles,
    /// tile row `r` holding the pair `w[c, 32s + 2r]`, `w[c, 32s + 2r + 1]` of each column `c`
    /// in lane `c`; zero past `n` and past `k`.
    ///
    /// # Safety
    /// The CPU has AVX-512 F and BW; `q` holds `n` rows of `row_bytes` = ⌈k / 128⌉ blocks;
    /// `tiles` holds `2 · ⌈k / 32⌉` tiles.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn pack_pair(q: &[u8], row_bytes: usize, n: usize, k: usize, jp: usize, tiles: &mut [u8]) {
        let kt = k.div_ceil(Q4_GROUP);
        assert!(tiles.len() >= 2 * kt * TILE && q.len() >= n * row_bytes, "4-bit tile packing");
        let four = 0x0004_0004_0004_0004;
        let consts = Consts {
            levels: _mm512_setr_ps(0., 1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11., 12., 13., 14., 15.),
            shifts: _mm512_setr_epi64(0, 0, 0, 0, four, four, four, four),
        };
        for g in 0..2 {
            let first = (2 * jp + g) * 16;
            let live = n.saturating_sub(first).min(16);
            let group = &mut tiles[g * kt * TILE..(g + 1) * kt * TILE];
            // first each column's row, front to back: its step s's 32 values in k order (16
            // pairs) go to row c of tile s
            for c in 0..16 {
                let row = (c < live).then(|| &q[(first + c) * row_bytes..(first + c + 1) * row_bytes]);
                for s in 0..kt {
                    let values = match row {
                        // SAFETY: the row holds ⌈kt / 4⌉ blocks (the contract).
                        Some(row) => unsafe { step(row.as_ptr(), s, k, &consts) },
                        None => _mm512_setzero_si512(),
                    };
                    // SAFETY: row c of tile s is 64 bytes inside `group`.
                    unsafe { _mm512_storeu_si512(group.as_mut_ptr().add(s * TILE + 64 * c).cast(), values) };
                }
            }
            // then each tile transposed in place: lane r of row c → lane c of row r
            for tile in group.chunks_exact_mut(TILE) {
                let rows: [__m512; 16] = std::array::from_fn(|r| {
                    // SAFETY: a tile is 16 rows of 64 bytes.
                    unsafe { _mm512_loadu_ps(tile.as_ptr().add(64 * r).cast()) }
                });
                for (r, row) in transpose16(rows).iter().enumerate() {
                    // SAFETY: as above.
                    unsafe { _mm512_storeu_ps(tile.as_mut_ptr().add(64 * r).cast(), *row) };
                }
            }
        }
    }

    /// The constant vectors of [`step`].
    struct Consts {
        /// q = 0..15 as f32, for the value table.
        levels: __m512,
        /// Shifts of the 32 u16 lanes holding the 16 nibble bytes twice: 0 for the first 16
        /// (the low nibbles, elements 0..16), 4 for the next (the high ones, elements 16..32).
        shifts: __m512i,
    }

    /// The 32 weights of group `s` of a 4-bit row at `row`, rounded to bf16, in k order (zero
    /// past `k`).
    ///
    /// # Safety
    /// The CPU has AVX-512 F and BW; `row` holds block `s / 4` (80 bytes).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn step(row: *const u8, s: usize, k: usize, consts: &Consts) -> __m512i {
        let slot = s % Q4_BLOCK_GROUPS;
        // lanes 0..4 of `sm` the block's four scales, 4..8 its minima (the rest unused)
        // SAFETY: block s / 4 is inside the row; its 80 bytes hold the 32 read here and the
        // slot's 16 nibble bytes.
        let (sm, bytes) = unsafe {
            let block = row.add(s / Q4_BLOCK_GROUPS * Q4_BLOCK_BYTES);
            (_mm512_cvtph_ps(_mm256_loadu_si256(block.cast())), _mm_loadu_si128(block.add(16 + 16 * slot).cast()))
        };
        let scale = _mm512_permutexvar_ps(_mm512_set1_epi32(slot as i32), sm);
        let min = _mm512_permutexvar_ps(_mm512_set1_epi32(4 + slot as i32), sm);
        // the group's 16 values, rounded to bf16 (to nearest even) in the high half of each
        // lane, as `amx_bf16` rounds
        let table = _mm512_castps_si512(_mm512_add_ps(min, _mm512_mul_ps(scale, consts.levels)));
        let lsb = _mm512_and_si512(_mm512_srli_epi32::<16>(table), _mm512_set1_epi32(1));
        let table = _mm512_add_epi32(table, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
        let nibbles = _mm512_cvtepu8_epi16(_mm256_broadcastsi128_si256(bytes));
        let nibbles = _mm512_and_si512(_mm512_srlv_epi16(nibbles, consts.shifts), _mm512_set1_epi16(15));
        // value q sits in the high u16 of lane q: index 2q + 1
        let index = _mm512_or_si512(_mm512_slli_epi16::<1>(nibbles), _mm512_set1_epi16(1));
        let rest = k - s * Q4_GROUP;
        let keep: __mmask32 = if rest >= 32 { u32::MAX } else { (1u32 << rest) - 1 };
        _mm512_maskz_mov_epi16(keep, _mm512_permutexvar_epi16(index, table))
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::ops::quant_matrix::{QuantFormat, QuantMatrix, q4_blocks};
        use crate::ops::amx_bf16::round;
        use crate::{Rng, Tensor};

        /// The tiles packed one value at a time from the dequantized matrix: every lane, the
        /// padding past n and k included.
        #[test]
        fn packed_pairs_hold_the_rounded_dequantized_weights() {
            if !(is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")) {
                return;
            }
            let mut rng = Rng::new(5);
            for (n, k) in [(32, 32), (45, 77), (70, 300), (16, 129), (33, 1)] {
                let w = QuantMatrix::quantize(&Tensor::randn(&[n, k], 0.0, 1.0, &mut rng), QuantFormat::Q4).unwrap();
                let d = w.dequantize().to_vec();
                let p = w.packed.as_ref().unwrap();
                let (kt, row_bytes) = (k.div_ceil(32), q4_blocks(k) * Q4_BLOCK_BYTES);
                for jp in 0..n.div_ceil(32) {
                    let mut tiles = vec![0xAAu8; 2 * kt * TILE];
                    // SAFETY: AVX-512 F and BW checked above; sizes as pack_pair asks.
                    unsafe { pack_pair(&p.q, row_bytes, n, k, jp, &mut tiles) };
                    for (at, pair) in tiles.chunks_exact(4).enumerate() {
                        let (g, s, r, c) = (at / (kt * 256), at / 256 % kt, at / 16 % 16, at % 16);
                        let j = (2 * jp + g) * 16 + c;
                        for h in 0..2 {
                            let p = 32 * s + 2 * r + h;
                            let want = if j < n && p < k { round(d[j * k + p]) } else { 0 };
                            let got = u16::from_le_bytes([pair[2 * h], pair[2 * h + 1]]);
                            assert_eq!(got, want, "n {n} k {k}: column {j}, weight {p}");
                        }
                    }
                }
            }
        }
    }
}
