//! The AMX matrix product for bfloat16 weights: `out[m, n] = round_bf16(x[m, k]) · w[n, k]ᵀ`,
//! f32 sums of exact bf16 products (`tdpbf16ps`), for inputs of 16 rows or more on CPUs with
//! AMX (see `amx`). The activations are rounded to bf16 as they are packed, as PyTorch's
//! oneDNN kernels do; the result differs from the f32 product of the rounded operands only in
//! the order of the additions (and subnormals, which the instruction flushes to zero).
//!
//! Products with int8 weights use it too by default (`amx_int8`): int8 values are exact in
//! bf16, and each column is scaled by its weight row's scale as the block is stored. So do
//! those with 4-bit weights (`amx_q4`), widened to bf16 a pair of column groups at a time.
//!
//! Layouts (what `tdpbf16ps` reads): the activations as `[mp, kp]` bf16, row-major, `mp` the
//! rows padded with zeros to a multiple of 32 and `kp` the columns to a multiple of 32, so that
//! a tile row is 16 consecutive pairs of k. The weights, packed once per matrix and cached
//! ([`Bf16Matrix`](super::bf16_matmul::Bf16Matrix) keeps them), as column groups of 16 outputs,
//! each a run of 1024-byte tiles along k: tile row `r` holds, for each of the 16 columns `c`,
//! the pair `w[c, 2r]`, `w[c, 2r + 1]` of that 32-wide step of k (zero past `n` and `k`).

use std::mem::MaybeUninit;

use crate::fork::for_each_chunk_mut;

use super::amx::{
    Block, Operands, Weights, block_bf16, block_bf16_into, count_call, for_each_block, for_each_block_into,
};
use crate::send_ptr::SendPtr;

/// bf16 values along k in one tile step (16 pairs, 64 bytes).
const STEP: usize = 32;

/// Largest packed-activation buffer (bf16 values) a thread keeps for its next product: 8 MiB,
/// a 512-token prompt at 8192 wide; longer ones allocate per product.
const KEPT_MAX: usize = 4 << 20;
/// Rows of activations one task rounds and packs.
const PACK_ROWS: usize = 16;

/// f32 → bf16 bits, rounding to nearest even (NaN stays NaN), as `Bf16Matrix` rounds; a
/// select rather than an early return, so that the packing loop vectorizes.
#[inline(always)]
pub(crate) fn round(x: f32) -> u16 {
    let b = x.to_bits();
    let r = (b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16) as u16;
    if x.is_nan() { 0x7fc0 } else { r }
}

thread_local! {
    /// The packed activations of the last product on this thread, kept for the next.
    static PACKED: std::cell::Cell<Vec<u16>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The bytes of a slice of bf16 bits.
fn bytes(v: &[u16]) -> &[u8] {
    // SAFETY: u16 has no padding and u8 no alignment; the length covers the same memory.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), v.len() * 2) }
}

/// `w` `[n, k]` (bf16 bits, row-major) in the tile layout: `[np / 16, kt, 16 rows, 16 columns,
/// 2]` with `np` = n padded to 32 and `kt` = ⌈k / 32⌉.
pub(crate) fn pack_weights(w: &[u16], n: usize, k: usize) -> Vec<u16> {
    let (groups, kt) = (n.div_ceil(32) * 2, k.div_ceil(STEP));
    let mut out = vec![0u16; groups * kt * 512];
    for_each_chunk_mut(&mut out, (kt * 512).max(1), |g, tiles| {
        for c in 0..16.min(n.saturating_sub(g * 16)) {
            let row = &w[(g * 16 + c) * k..(g * 16 + c + 1) * k];
            for (p, &v) in row.iter().enumerate() {
                // step p / 32, tile row (p % 32) / 2, lane c, half p % 2
                tiles[(p / STEP) * 512 + (p % STEP / 2) * 32 + c * 2 + p % 2] = v;
            }
        }
    });
    out
}

/// [`pack_weights`]' tiles as the weights of a product.
pub(crate) fn packed(tiles: &[u16]) -> Weights<'_> {
    Weights::Packed(bytes(tiles))
}

/// `out[m, n] = round_bf16(x[m, k]) · w[n, k]ᵀ` with `weights` in [`pack_weights`]' layout
/// (all of it, [`packed`], or a pair of column groups at a time), each column `j` then
/// multiplied by `col_scale[j]` when given (int8 weights' row scales); the caller checks
/// `amx_on` and that `k` and `n` are not zero. Every value of `out` is written (it need not be
/// initialized, nor zeroed first).
pub(crate) fn gemm(
    x: &[f32],
    m: usize,
    k: usize,
    weights: Weights<'_>,
    n: usize,
    col_scale: Option<&[f32]>,
    out: &mut [MaybeUninit<f32>],
) {
    let (mp, kt) = (m.div_ceil(32) * 32, k.div_ceil(STEP));
    let kp = kt * STEP;
    // a: [mp, kp] bf16, zero past m and k, in this thread's kept buffer (taken, so that a
    // product nested in another's rayon wait gets a fresh one): every element is written
    // below, so it is neither zeroed first nor allocated again
    let mut a = PACKED.take();
    a.resize(mp * kp, 0);
    for_each_chunk_mut(&mut a, kp * PACK_ROWS, |c, o| {
        crate::kernel::wide(
            #[inline(always)]
            || {
                for (i, o) in o.chunks_mut(kp).enumerate() {
                    let (vals, pad) = o.split_at_mut(k);
                    match x.get((c * PACK_ROWS + i) * k..(c * PACK_ROWS + i + 1) * k) {
                        Some(row) => {
                            for (o, &v) in vals.iter_mut().zip(row) {
                                *o = round(v);
                            }
                            pad.fill(0);
                        }
                        None => o.fill(0),
                    }
                }
            },
        )
    });
    let ops = Operands {
        a: bytes(&a),
        mp,
        b: weights,
        np: n.div_ceil(32) * 32,
        kt,
    };
    assert!(out.len() >= m * n, "AMX output");
    let po = SendPtr(out.as_mut_ptr().cast::<f32>());
    let edge = |i0: usize, j0: usize, block: &Block| {
        let (rows, cols) = (32.min(m.saturating_sub(i0)), 32.min(n - j0));
        for r in 0..rows {
            // SAFETY: row i0 + r < m and columns j0..j0+cols ≤ n of `out` [m, n]; each block
            // (i0, j0) is handed to one task only.
            let dst = unsafe {
                std::slice::from_raw_parts_mut(po.get().add((i0 + r) * n + j0).cast::<MaybeUninit<f32>>(), cols)
            };
            // the row's 32 lanes are two runs of 16 (columns 0–15 and 16–31), copied whole
            for (half, dst) in dst.chunks_mut(16).enumerate() {
                let lanes = block.row_half(r, half);
                match col_scale {
                    Some(s) => {
                        let s = &s[j0 + 16 * half..];
                        for ((d, &v), &s) in dst.iter_mut().zip(lanes).zip(s) {
                            d.write(f32::from_bits(v) * s);
                        }
                    }
                    None => {
                        for (d, &v) in dst.iter_mut().zip(lanes) {
                            d.write(f32::from_bits(v));
                        }
                    }
                }
            }
        }
    };
    match col_scale {
        None => for_each_block_into(&ops, block_bf16, block_bf16_into, po, m, n, edge),
        Some(_) => for_each_block(&ops, block_bf16, edge),
    }
    if a.capacity() <= KEPT_MAX {
        PACKED.set(a);
    }
    count_call();
}
