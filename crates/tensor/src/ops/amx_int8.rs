//! The AMX matrix products for int8 weights ([`QuantMatrix`] in [`QuantFormat::Int8`]), for
//! inputs of 16 rows or more on CPUs with AMX (see `amx`): MiniLM's batches of sentences,
//! prompts, batched decoding. Two ways, chosen by `amx_int8_activations`:
//!
//! - bf16 activations (the default): the int8 weights widened to bf16 (exact) and the bf16
//!   kernel of `amx_bf16`, each output column scaled by its weight row's scale on store;
//! - int8 activations: `out[i, j] = sx[i] · sw[j] · Σ_p qx[i, p] · qw[j, p]`, the activations
//!   quantized per row (symmetric: `sx[i] = max|x[i, :]| / 127`, `qx = round(x / sx)`), i32
//!   sums of int8 products (`tdpbssd`), both scales applied on store. A row holding a NaN or
//!   an infinity gives a row of NaN (its scale cannot represent it).
//!
//! Layouts (what `tdpbssd` reads): the activations as `[mp, kp]` int8, `mp` padded with zero
//! rows to a multiple of 32 and `kp` with zeros to a multiple of 64. The weights as column
//! groups of 16 outputs, each a run of 1024-byte tiles along k: tile row `r` holds, for each of
//! the 16 columns `c`, the quad `q[c, 4r..4r + 4]` of that 64-wide step of k (the bf16 way uses
//! `amx_bf16`'s layout). Either packing is made once per matrix and cached here, keyed by the
//! matrix's storage and dropped with it.

use std::sync::{Arc, Mutex, Weak};

use crate::fork::{for_each_chunk_mut, for_each_chunk_pair_mut};
use crate::ops::quant_matrix::{Packed, QuantFormat, QuantMatrix};

/// int8 values along k in one tile step (16 quads, 64 bytes).
const STEP: usize = 64;

/// Weights packed for one of the two ways.
enum Tiles {
    /// For `tdpbssd`.
    Int8(Vec<u8>),
    /// For `tdpbf16ps` (the int8 values as bf16).
    Bf16(Vec<u16>),
}

/// Packed weights by the storage they were packed from: a weak handle (the entry goes when the
/// matrix does; holding it keeps the address from being reused) and the tiles.
type Cache = Vec<(Weak<Vec<u8>>, Arc<Tiles>)>;
static CACHE: Mutex<Cache> = Mutex::new(Vec::new());

/// `q` `[n, k]` (int8 as bytes, row-major) in the tile layout: `[np / 16, kt, 16 rows,
/// 16 columns, 4]` with `np` = n padded to 32 and `kt` = ⌈k / 64⌉.
fn pack_weights(q: &[u8], n: usize, k: usize) -> Vec<u8> {
    let (groups, kt) = (n.div_ceil(32) * 2, k.div_ceil(STEP));
    let mut out = vec![0u8; groups * kt * 1024];
    for_each_chunk_mut(&mut out, (kt * 1024).max(1), |g, tiles| {
        for c in 0..16.min(n.saturating_sub(g * 16)) {
            let row = &q[(g * 16 + c) * k..(g * 16 + c + 1) * k];
            for (p, &v) in row.iter().enumerate() {
                // step p / 64, tile row (p % 64) / 4, lane c, byte p % 4
                tiles[(p / STEP) * 1024 + (p % STEP / 4) * 64 + c * 4 + p % 4] = v;
            }
        }
    });
    out
}

/// The tiles of `p` (`[n, k]`) for int8 activations (`int8`) or bf16 ones, from the cache
/// or packed now and cached.
fn tiles(p: &Packed, n: usize, k: usize, int8: bool) -> Arc<Tiles> {
    let lock = || CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let key = Arc::as_ptr(&p.q);
    let fits = |t: &Tiles| matches!(t, Tiles::Int8(_)) == int8;
    if let Some((_, t)) = lock()
        .iter()
        .find(|(w, t)| w.as_ptr() == key && w.strong_count() > 0 && fits(t))
    {
        return t.clone();
    }
    let packed = Arc::new(if int8 {
        Tiles::Int8(pack_weights(&p.q, n, k))
    } else {
        // int8 values are exact in bf16: the upper half of their f32 bits
        let bits: Vec<u16> =
            p.q.iter()
                .map(|&v| (f32::from(v as i8).to_bits() >> 16) as u16)
                .collect();
        Tiles::Bf16(super::amx_bf16::pack_weights(&bits, n, k))
    });
    let mut cache = lock();
    cache.retain(|(w, _)| w.strong_count() > 0 && w.as_ptr() != key);
    cache.push((Arc::downgrade(&p.q), packed.clone()));
    packed
}

/// `x` `[m, k]` quantized per row to int8 in `[mp, kp]` (zero padding), with the row scales;
/// a row with a non-finite value gets a NaN scale.
fn quantize_rows(x: &[f32], m: usize, k: usize, mp: usize, kp: usize) -> (Vec<u8>, Vec<f32>) {
    let mut q = vec![0u8; mp * kp];
    let mut scales = vec![0.0f32; m];
    for_each_chunk_pair_mut(&mut q, kp, &mut scales, 1, |i, q, s| {
        let (s, row) = (&mut s[0], &x[i * k..(i + 1) * k]);
        if row.iter().any(|v| !v.is_finite()) {
            *s = f32::NAN;
            return;
        }
        let amax = row.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        if amax == 0.0 {
            return;
        }
        *s = amax / 127.0;
        let inv = 127.0 / amax;
        for (q, &v) in q.iter_mut().zip(row) {
            *q = ((v * inv).round() as i8) as u8;
        }
    });
    (q, scales)
}

/// Computes `out[m, n] = x[m, k] · w[n, k]ᵀ` on AMX and returns `true` when `w` is int8, `x`
/// has 16 rows or more and AMX is on (`amx_on`); otherwise returns `false` and leaves `out`.
pub(crate) fn try_gemm(x: &[f32], m: usize, k: usize, w: &QuantMatrix, out: &mut [f32]) -> bool {
    let n = w.rows;
    let go = w.format == QuantFormat::Int8
        && m >= super::amx::AMX_MIN_ROWS
        && k > 0
        && n > 0
        && super::amx::amx_on();
    #[cfg(target_arch = "x86_64")]
    if go && let Some(p) = &w.packed {
        use super::amx::{Block, Operands, Weights, block_int8, for_each_block};
        use crate::send_ptr::SendPtr;
        let sw = &p.scales[..n];
        let packed = tiles(p, n, k, super::amx::int8_activations());
        let b = match &*packed {
            Tiles::Bf16(t) => {
                // SAFETY: f32 and MaybeUninit<f32> share their layout, and the product only
                // writes initialized values into `out`
                let out = unsafe { &mut *(out as *mut [f32] as *mut [std::mem::MaybeUninit<f32>]) };
                super::amx_bf16::gemm(x, m, k, super::amx_bf16::packed(t), n, Some(sw), out);
                return true;
            }
            Tiles::Int8(b) => b,
        };
        let (mp, kt) = (m.div_ceil(32) * 32, k.div_ceil(STEP));
        let (a, sx) = quantize_rows(x, m, k, mp, kt * STEP);
        let ops = Operands {
            a: &a,
            mp,
            b: Weights::Packed(b),
            np: n.div_ceil(32) * 32,
            kt,
        };
        let po = SendPtr(out.as_mut_ptr());
        for_each_block(&ops, block_int8, |i0, j0, block: &Block| {
            let (rows, cols) = (32.min(m.saturating_sub(i0)), 32.min(n - j0));
            for r in 0..rows {
                let s = sx[i0 + r];
                // SAFETY: row i0 + r < m and columns j0..j0+cols ≤ n of `out` [m, n]; each
                // block (i0, j0) is handed to one task only.
                let dst = unsafe {
                    std::slice::from_raw_parts_mut(po.get().add((i0 + r) * n + j0), cols)
                };
                for (c, d) in dst.iter_mut().enumerate() {
                    *d = block.lane(r, c) as i32 as f32 * s * sw[j0 + c];
                }
            }
        });
        super::amx::count_call();
        return true;
    }
    let _ = (go, x, out);
    false
}
