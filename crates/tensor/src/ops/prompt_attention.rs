//! Causal attention of a whole prompt over a key/value cache, for [`KvBuffer::attend`] with
//! many queries: the queries go in blocks of [`ROWS`] positions, and each block takes two
//! register-tiled products of the small-product kernel, its scores over only the keys its
//! last query sees (`Q_blk · K[..e]ᵀ`) and its output (`P · V[..e]`), with the causal softmax
//! in between on a score block that stays in cache. Each head's keys are transposed once per
//! call, for all its blocks and the `G` query heads that share them. Against the composed
//! attention (one `[G·T, T]` score matrix per key/value head, its softmax, a product, a
//! permute of the heads), about half the multiply-adds of a fresh prompt are never done (the
//! keys after each block), the score matrix never reaches memory, and the heads are written
//! merged, `[B, Tq, H·D]`.
//!
//! The softmax of a row is the composed one's (`causal_softmax`'s arithmetic); the sums
//! of the two products run in key order and in `D` order, so a block's outputs differ from the
//! per-query path's only by the order of the additions.
//!
//! [`KvBuffer::attend`]: super::kv_attention::KvBuffer::attend

use std::cell::RefCell;
use std::mem::MaybeUninit;

use crate::fork::{for_each_chunk_mut, for_each_part};
use crate::kernel::{KernelPath, exp_nonpositive, kernel_path, max, sum, wide};
use crate::send_ptr::SendPtr;

use super::small_gemm;

/// Query positions per block: the keys of a block's diagonal (up to `ROWS − 1` per row)
/// are the work done beyond the causal half, and the transposed keys are shared by
/// `G·ROWS` rows.
const ROWS: usize = 32;

/// The fewest queries taken here; fewer (a decoding step) go one query at a time.
const MIN_QUERIES: usize = 16;

thread_local! {
    /// A block's scores `[ROWS, e]`, reused across calls.
    static SCORES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Whether [`attend`] serves `tq` queries: the wide path (the small-product kernel is
/// AVX-512) and a prompt of at least [`MIN_QUERIES`] positions.
pub(crate) fn serves(tq: usize) -> bool {
    cfg!(target_arch = "x86_64") && kernel_path() == KernelPath::Wide && tq >= MIN_QUERIES
}

/// The shapes of one call: `b` sequences, `hq` query heads over `hkv` key/value heads, `tq`
/// queries at the last positions of `len` cached ones, head width `d`, and the cache's room
/// `cap` (positions per head block).
#[derive(Clone, Copy)]
pub(crate) struct Dims {
    pub(crate) b: usize,
    pub(crate) hq: usize,
    pub(crate) hkv: usize,
    pub(crate) tq: usize,
    pub(crate) d: usize,
    pub(crate) len: usize,
    pub(crate) cap: usize,
}

/// softmax(q·kᵀ·scale + causal mask)·v for queries `q` `[B, Hq, Tq, D]` (row-major) over
/// `keys` and `values` `[B, Hkv, cap, D]` (the first `len` positions of each block used),
/// into `out` `[B, Tq, Hq·D]`, every element of which is written. The caller checked the
/// shapes and [`serves`].
pub(crate) fn attend(q: &[f32], keys: &[f32], values: &[f32], n: Dims, scale: f32, out: &mut [MaybeUninit<f32>]) {
    let Dims { b, hq, hkv, tq, d, len, cap } = n;
    assert!(
        q.len() == b * hq * tq * d && out.len() == b * tq * hq * d && keys.len() >= b * hkv * cap * d,
        "prompt attention called with buffers that do not match its shapes"
    );
    assert!(values.len() == keys.len() && tq <= len && len <= cap && hq.is_multiple_of(hkv));
    // the keys of every (sequence, key/value head) transposed, [B·Hkv, D, len]: shared by
    // its blocks and its G query heads
    let mut kt = vec![0.0f32; b * hkv * d * len];
    for_each_chunk_mut(&mut kt, d * len, |kv, kt| {
        wide(
            #[inline(always)]
            || transpose(&keys[kv * cap * d..][..len * d], d, kt),
        )
    });
    let blocks = tq.div_ceil(ROWS);
    let heads = b * hkv;
    let dst = SendPtr(out.as_mut_ptr().cast::<f32>());
    // part p: the block `blocks − 1 − p / heads` (the largest first, so that the parts left
    // at the end are the short ones) of (sequence, key/value head) `p % heads`
    let part = |p: usize| {
        let (block, kv) = (blocks - 1 - p / heads, p % heads);
        let kt = &kt[kv * d * len..][..d * len];
        // the scratch borrowed out here: a closure inside the borrow's own code would not
        // be compiled for AVX-512 by `wide`
        SCORES.with_borrow_mut(|scores| {
            wide(
                #[inline(always)]
                || block_of(q, kt, &values[kv * cap * d..], n, scale, (kv, block), dst, scores),
            )
        })
    };
    if blocks * heads == 1 {
        part(0);
    } else {
        for_each_part(blocks * heads, part);
    }
}

/// `kt` `[D, L]` = `keys` `[L, D]` transposed, in runs of 16 keys (16 rows read, each of the D
/// rows written 16 values at a time).
#[inline(always)]
fn transpose(keys: &[f32], d: usize, kt: &mut [f32]) {
    let len = keys.len() / d;
    for j0 in (0..len).step_by(16) {
        let run = (len - j0).min(16);
        for p in 0..d {
            let to = &mut kt[p * len + j0..][..run];
            for (i, t) in to.iter_mut().enumerate() {
                *t = keys[(j0 + i) * d + p];
            }
        }
    }
}

/// Block `block` of queries for (sequence, key/value head) `kv` (`kv = r·Hkv + head`), whose
/// keys transposed are `kt` `[D, len]` and whose values start `values`: the `G` query heads of
/// that key/value head. `scores` is scratch room.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block_of(
    q: &[f32],
    kt: &[f32],
    values: &[f32],
    n: Dims,
    scale: f32,
    (kv, block): (usize, usize),
    dst: SendPtr,
    scores: &mut Vec<f32>,
) {
    let Dims { hq, hkv, tq, d, len, .. } = n;
    let (r, head) = (kv / hkv, kv % hkv);
    let g = hq / hkv;
    let i0 = block * ROWS;
    let rows = (tq - i0).min(ROWS);
    // query i sits at position len − tq + i and sees keys 0..=that; e: the block's last one's
    let first = len - tq;
    let e = first + i0 + rows;
    scores.clear();
    scores.resize(rows * e, 0.0);
    for h in head * g..(head + 1) * g {
        let qb = &q[((r * hq + h) * tq + i0) * d..][..rows * d];
        // SAFETY: qb is rows × D row-major, kt D rows of len ≥ e, scores rows × e; none
        // overlap.
        unsafe {
            let (kt, ldk) = (kt.as_ptr(), len as isize);
            small_gemm::product(rows, d, e, qb.as_ptr(), d as isize, 1, kt, ldk, 1, scores.as_mut_ptr(), e)
        };
        for (i, row) in scores.chunks_exact_mut(e).enumerate() {
            let (seen, hidden) = row.split_at_mut(first + i0 + i + 1);
            // max(v·scale) = max(v)·scale for scale > 0 (rounding is monotonic)
            let m = max(seen) * scale;
            for w in seen.iter_mut() {
                *w = exp_nonpositive(*w * scale - m);
            }
            let inv = 1.0 / sum(seen);
            seen.iter_mut().for_each(|w| *w *= inv);
            hidden.fill(0.0);
        }
        // the output rows (r, i0 + i, h) of [B, Tq, Hq·D]
        let at = ((r * tq + i0) * hq + h) * d;
        // SAFETY: scores is rows × e, values' first e rows of D; the output rows
        // i0..i0 + rows of head h of sequence r are written by this part alone, inside
        // `out` (the caller's shapes).
        unsafe {
            small_gemm::product(
                rows,
                e,
                d,
                scores.as_ptr(),
                e as isize,
                1,
                values.as_ptr(),
                d as isize,
                1,
                dst.0.add(at),
                hq * d,
            )
        };
    }
    small_gemm::count_calls(2 * g);
}
