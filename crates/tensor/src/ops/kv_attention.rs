//! Attention over a growing key/value cache in host memory, for incremental decoding. The
//! cache keeps `[B, H, capacity, D]` and grows in place (in steps of [`GROW`] positions), so a
//! decoding step appends `B·H` rows instead of copying every cached position; [`KvBuffer::attend`]
//! computes softmax(q·kᵀ/√D)·v for each sequence and head straight from it, reading only the
//! keys a query sees (no padding, no positions after its own), with no score matrix, mask or
//! head permutation in between, and writes the heads merged, `[B, Tq, H·D]`.
//!
//! A query's weights are those of the composed attention (scores, `f32::MIN` on hidden keys,
//! softmax): the same keys in the same order whatever the batch around it, so a sequence
//! decoded in a batch gets exactly the numbers it gets alone.
//!
//! The cache keeps f32 or f16 ([`KvPrecision`]); the kernels read f16 values widened to f32
//! (exact), so an f16 cache differs from an f32 one only by the rounding of what it stored.

use std::cell::RefCell;

use half::f16;

use crate::error::{Result, TensorError};
use crate::fork::for_each_part;
use crate::kernel::{KernelPath, dot, exp_nonpositive, kernel_path};
use crate::send_ptr::SendPtr;
use crate::tensor::Tensor;

use super::kv_store::{KvPrecision, KvStore};
use super::prompt_attention;

/// Positions added to the capacity at a time when the cache is full.
pub const GROW: usize = 64;

/// Below this many multiply-adds a call runs on the calling thread.
const PAR_MIN: usize = 1 << 15;

/// Keys and values `[B, H, len, D]` of the positions decoded so far, in host memory with room
/// for more positions.
#[derive(Debug, Clone)]
pub struct KvBuffer {
    /// Sequences, heads and head width.
    b: usize,
    h: usize,
    d: usize,
    /// Cached positions and room for positions.
    len: usize,
    cap: usize,
    /// Keys and values `[B, H, cap, D]`; positions `len..cap` are unused.
    store: KvStore,
}

/// A query's scratch room, reused across calls: its scores, and its head's keys and values
/// widened to f32 where an f16 cache has no kernel of its own (other head widths, the
/// portable path).
#[derive(Default)]
struct Scratch {
    scores: Vec<f32>,
    keys: Vec<f32>,
    values: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// `[B, H, T, D]` of a rank-4 CPU tensor, or an error naming `what`.
fn heads_shape(op: &'static str, what: &str, x: &Tensor) -> Result<[usize; 4]> {
    x.cpu_only(op)?;
    match x.shape() {
        &[b, h, t, d] => Ok([b, h, t, d]),
        s => Err(TensorError::invalid(op, format!("{what} must be [B, H, T, D], got {s:?}"))),
    }
}

impl KvBuffer {
    /// An empty cache for `b` sequences of `h` heads of width `d`, keeping `precision`.
    pub fn new(b: usize, h: usize, d: usize, precision: KvPrecision) -> KvBuffer {
        KvBuffer { b, h, d, len: 0, cap: 0, store: KvStore::new(precision) }
    }

    /// A cache holding keys `k` and values `v` `[B, H, L, D]` (on the CPU) in f32.
    pub fn from_tensors(k: &Tensor, v: &Tensor) -> Result<KvBuffer> {
        KvBuffer::with_room(k, v, 0, KvPrecision::F32)
    }

    /// A cache holding keys `k` and values `v` `[B, H, L, D]` (on the CPU) in `precision`, with
    /// room for `positions` positions in all (at least `L`), so that appending up to there
    /// moves nothing.
    pub fn with_room(k: &Tensor, v: &Tensor, positions: usize, precision: KvPrecision) -> Result<KvBuffer> {
        let [b, h, _, d] = heads_shape("KvBuffer::with_room", "keys", k)?;
        let mut buf = KvBuffer::new(b, h, d, precision);
        buf.reserve(positions);
        buf.append(k, v)?;
        Ok(buf)
    }

    /// Makes room for `positions` positions in all (rounded up to [`GROW`]), moving the cache
    /// once now instead of every [`GROW`] positions while it fills; nothing when there is room.
    pub fn reserve(&mut self, positions: usize) {
        if positions > self.cap {
            self.regrow(positions.next_multiple_of(GROW));
        }
    }

    /// The number of cached positions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The positions there is room for before the cache moves.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `[B, H, D]`: sequences, heads and head width.
    pub fn dims(&self) -> [usize; 3] {
        [self.b, self.h, self.d]
    }

    /// How the keys and values are kept.
    pub fn precision(&self) -> KvPrecision {
        self.store.precision()
    }

    /// Appends keys `k` and values `v` `[B, H, t, D]` (on the CPU, this cache's `B`, `H`, `D`),
    /// growing the room in steps of [`GROW`] positions when it is full. An f16 cache rounds them
    /// to nearest even; a finite value beyond f16's range (±65504) is an error, and nothing is
    /// appended.
    pub fn append(&mut self, k: &Tensor, v: &Tensor) -> Result<()> {
        const OP: &str = "KvBuffer::append";
        let [b, h, t, d] = heads_shape(OP, "keys", k)?;
        if v.shape() != k.shape() || [b, h, d] != [self.b, self.h, self.d] {
            return Err(TensorError::ShapeMismatch {
                op: OP,
                lhs: vec![self.b, self.h, self.len, self.d],
                rhs: k.shape().to_vec(),
                detail: format!("new keys and values (values {:?}) must share the cache's B, H and D", v.shape()),
            });
        }
        v.cpu_only(OP)?;
        let need = self.len + t;
        self.reserve(need);
        let (len, cap, store) = (self.len, self.cap, &mut self.store);
        k.with_slice(|ks| {
            v.with_slice(|vs| {
                // row (i, s) of [B·H, t, D] goes to position len + s of block i
                ks.chunks_exact(t * d)
                    .zip(vs.chunks_exact(t * d))
                    .enumerate()
                    .try_for_each(|(i, (kb, vb))| store.write((i * cap + len) * d, kb, vb))
            })
        })
        .map_err(|x| TensorError::invalid(OP, format!("a key or value of {x} is beyond f16's range (±65504)")))?;
        self.len = need;
        Ok(())
    }

    /// Moves the cached positions into room for `cap` positions.
    fn regrow(&mut self, cap: usize) {
        self.store.regrow(self.b * self.h, self.d, self.len, self.cap, cap);
        self.cap = cap;
    }

    /// A cache of sequences `rows` of this one, in that order (beam search's reordering):
    /// `[rows.len(), H, len, D]`, with this one's room.
    pub fn select_rows(&self, rows: &[usize]) -> Result<KvBuffer> {
        if let Some(&bad) = rows.iter().find(|&&r| r >= self.b) {
            return Err(TensorError::invalid(
                "KvBuffer::select_rows",
                format!("row {bad} is outside a cache of {} sequences", self.b),
            ));
        }
        let store = self.store.pick(rows, self.h * self.cap * self.d);
        Ok(KvBuffer { b: rows.len(), store, ..*self })
    }

    /// The cached keys and values as f32 `[B·H, len, D]` (row-major, a copy).
    fn packed_f32(&self) -> (Vec<f32>, Vec<f32>) {
        let (blocks, d, len, cap) = (self.b * self.h, self.d, self.len, self.cap);
        let (mut k, mut v) = (Vec::with_capacity(blocks * len * d), Vec::with_capacity(blocks * len * d));
        for i in 0..blocks {
            self.store.extend_f32(i * cap * d, len * d, &mut k, &mut v);
        }
        (k, v)
    }

    /// The cached keys and values as f32 tensors `[B, H, len, D]` (a copy).
    pub fn to_tensors(&self) -> Result<(Tensor, Tensor)> {
        let (k, v) = self.packed_f32();
        let shape = [self.b, self.h, self.len, self.d];
        Ok((Tensor::from_vec(k, &shape)?, Tensor::from_vec(v, &shape)?))
    }

    /// softmax(q·kᵀ/√D)·v over the cache for queries `q` `[B, Hq, Tq, D]` sitting at the last
    /// `Tq` cached positions, with the heads merged: `[B, Tq, Hq·D]`. `Hq` is the cache's `H`
    /// or a multiple `G·H` of it (grouped-query attention): query head `j` reads key/value head
    /// `j / G`. Row `r` hides its first `left_pad[r]` keys; `causal` hides the keys after each
    /// query's position. A query that sees no key weights all keys equally, as the composed
    /// attention does. No gradient. A causal prompt of 16 queries or more with no padding
    /// goes in blocks of queries through register-tiled products on the wide path, each block
    /// over the keys it sees (`prompt_attention`); one query at a time otherwise.
    pub fn attend(&self, q: &Tensor, left_pad: Option<&[usize]>, causal: bool) -> Result<Tensor> {
        const OP: &str = "KvBuffer::attend";
        let [b, h, tq, d] = heads_shape(OP, "queries", q)?;
        if [b, d] != [self.b, self.d] || h == 0 || !h.is_multiple_of(self.h) || tq > self.len || tq == 0 {
            return Err(TensorError::ShapeMismatch {
                op: OP,
                lhs: vec![self.b, self.h, self.len, self.d],
                rhs: q.shape().to_vec(),
                detail: "queries need the cache's B and D, a multiple of its H heads, and 1 to len positions".into(),
            });
        }
        let g = h / self.h;
        if let Some(pad) = left_pad
            && pad.len() != b
        {
            return Err(TensorError::invalid(OP, format!("{} left paddings for {b} sequences", pad.len())));
        }
        let (len, cap) = (self.len, self.cap);
        let scale = 1.0 / (d as f32).sqrt();
        if causal && left_pad.is_none_or(|pad| pad.iter().all(|&p| p == 0)) && prompt_attention::serves(tq) {
            // a prompt: blocks of queries through the small-product kernel, which writes every
            // output element; an f16 cache widened to f32 first (once per prompt)
            let widened;
            let (keys, values, cap) = match &self.store {
                KvStore::F32 { k, v } => (k, v, cap),
                KvStore::F16 { .. } => {
                    widened = self.packed_f32();
                    (&widened.0, &widened.1, len)
                }
            };
            let dims = prompt_attention::Dims { b, hq: h, hkv: self.h, tq, d, len, cap };
            let mut out: Vec<f32> = Vec::with_capacity(b * tq * h * d);
            q.with_slice(|qs| {
                let spare = &mut out.spare_capacity_mut()[..b * tq * h * d];
                prompt_attention::attend(qs, keys, values, dims, scale, spare)
            });
            // SAFETY: `attend` wrote all b·tq·h·d elements.
            unsafe { out.set_len(b * tq * h * d) };
            return Tensor::from_vec(out, &[b, tq, h * d]);
        }
        let mut out = vec![0.0f32; b * tq * h * d];
        let at = Queries { b, h, g, tq, d, len, cap, left_pad, causal, scale };
        q.with_slice(|qs| match &self.store {
            KvStore::F32 { k, v } => at.attend(qs, k, v, &mut out),
            KvStore::F16 { k, v } => at.attend(qs, k, v, &mut out),
        });
        Tensor::from_vec(out, &[b, tq, h * d])
    }
}

/// The shapes and settings of [`KvBuffer::attend`]'s one-query-at-a-time path: `b` sequences,
/// `h` query heads, `g` of them to a key/value head, `tq` queries of width `d` at the last of
/// `len` positions, blocks of `cap` positions in the cache.
struct Queries<'a> {
    b: usize,
    h: usize,
    g: usize,
    tq: usize,
    d: usize,
    len: usize,
    cap: usize,
    left_pad: Option<&'a [usize]>,
    causal: bool,
    scale: f32,
}

impl Queries<'_> {
    /// Queries `qs` `[B, H, Tq, D]` over `keys` and `values` `[B, H / G, cap, D]` into `out`
    /// `[B, Tq, H·D]`.
    fn attend<E: KvElem>(&self, qs: &[f32], keys: &[E], values: &[E], out: &mut [f32]) {
        let Queries { b, h, g, tq, d, len, cap, left_pad, causal, scale } = *self;
        let dst = SendPtr(out.as_mut_ptr());
        // one part per (sequence, query head): its Tq queries, rows of D in `out` [B, Tq, H·D]
        let part = |p: usize| {
            let (r, head) = (p / h, p % h);
            let pad = left_pad.map_or(0, |pad| pad[r]);
            // the (sequence, key/value head) block of the cache
            let kv = r * (h / g) + head / g;
            let keys = &keys[kv * cap * d..][..len * d];
            let values = &values[kv * cap * d..][..len * d];
            SCRATCH.with_borrow_mut(|scratch| {
                for i in 0..tq {
                    let query = &qs[(p * tq + i) * d..][..d];
                    let last = if causal { len - tq + i } else { len - 1 };
                    // SAFETY: each (r, i, head) row of `out` is written by this part only, and
                    // `out` outlives the parts
                    let row = unsafe { std::slice::from_raw_parts_mut(dst.at(((r * tq + i) * h + head) * d), d) };
                    attend_one(&Query { query, keys, values, d, pad, last, scale }, row, scratch);
                }
            });
        };
        if b * h * tq * len * d < PAR_MIN {
            (0..b * h).for_each(part);
        } else {
            for_each_part(b * h, part);
        }
    }
}

/// A value of the cache as the per-query kernels read it: f32 or f16.
trait KvElem: Copy + Sync {
    /// `q` with its keys and values as f32: its own, or widened into `keys` and `values`.
    fn widened<'a>(q: &Query<'a, Self>, keys: &'a mut Vec<f32>, values: &'a mut Vec<f32>) -> Query<'a, f32>;

    /// Sixteen values from `p` as f32.
    ///
    /// # Safety
    /// `p` points at 16 values, and the caller has AVX-512F.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load16(p: *const Self) -> std::arch::x86_64::__m512;
}

impl KvElem for f32 {
    fn widened<'a>(q: &Query<'a, f32>, _: &'a mut Vec<f32>, _: &'a mut Vec<f32>) -> Query<'a, f32> {
        Query { ..*q }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const f32) -> std::arch::x86_64::__m512 {
        // SAFETY: as the caller promised
        unsafe { std::arch::x86_64::_mm512_loadu_ps(p) }
    }
}

impl KvElem for f16 {
    fn widened<'a>(q: &Query<'a, f16>, keys: &'a mut Vec<f32>, values: &'a mut Vec<f32>) -> Query<'a, f32> {
        for (to, from) in [(&mut *keys, q.keys), (&mut *values, q.values)] {
            to.clear();
            to.extend(from.iter().map(|x| x.to_f32()));
        }
        Query { query: q.query, keys, values, d: q.d, pad: q.pad, last: q.last, scale: q.scale }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const f16) -> std::arch::x86_64::__m512 {
        use std::arch::x86_64::*;
        // SAFETY: as the caller promised (vcvtph2ps is AVX-512F)
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p.cast())) }
    }
}

/// One query of [`KvBuffer::attend`]: its D values, the keys and values of its head (`len × D`,
/// row-major, f32 or f16), the range it sees (`pad..=last`, all keys equally when empty) and
/// the scale.
struct Query<'a, E> {
    query: &'a [f32],
    keys: &'a [E],
    values: &'a [E],
    d: usize,
    pad: usize,
    last: usize,
    scale: f32,
}

impl<E> Query<'_, E> {
    /// The first and one-past-last key a query weighs, and whether it sees them (otherwise it
    /// weighs all keys equally).
    fn range(&self) -> (usize, usize, bool) {
        let seen = self.pad <= self.last;
        if seen { (self.pad, self.last + 1, true) } else { (0, self.keys.len() / self.d, false) }
    }
}

/// The query's output `row` (D values). On the wide path, head widths of 64 and 128 take the
/// AVX-512 kernel (query and output in registers, fused multiply-adds, f16 widened as it is
/// loaded), other widths this file's loops compiled for AVX-512.
fn attend_one<E: KvElem>(q: &Query<E>, row: &mut [f32], scratch: &mut Scratch) {
    #[cfg(target_arch = "x86_64")]
    if kernel_path() == KernelPath::Wide {
        #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
        fn v4<E: KvElem>(q: &Query<E>, row: &mut [f32], scratch: &mut Scratch) {
            match q.d {
                // SAFETY: the features were detected; D = 16·N
                64 => unsafe { x86::attend::<4, E>(q, row, &mut scratch.scores) },
                128 => unsafe { x86::attend::<8, E>(q, row, &mut scratch.scores) },
                _ => attend_widened(q, row, scratch),
            }
        }
        // SAFETY: the features were detected (`kernel_path` is wide only when they are).
        return unsafe { v4(q, row, scratch) };
    }
    attend_widened(q, row, scratch)
}

/// [`attend_body`] on the query's keys and values as f32.
#[inline(always)]
fn attend_widened<E: KvElem>(q: &Query<E>, row: &mut [f32], scratch: &mut Scratch) {
    let Scratch { scores, keys, values } = scratch;
    attend_body(&E::widened(q, keys, values), row, scores)
}

/// [`attend_one`]'s work in plain loops (the portable path; same bits on either copy: Rust
/// fuses no multiply-add on its own).
#[inline(always)]
fn attend_body(q: &Query<f32>, row: &mut [f32], scores: &mut Vec<f32>) {
    let d = q.d;
    let (lo, hi, seen) = q.range();
    scores.clear();
    scores.resize(hi - lo, 0.0);
    if seen {
        for (j, s) in scores.iter_mut().enumerate() {
            let key = &q.keys[(lo + j) * d..(lo + j + 1) * d];
            *s = dot(q.query, key) * q.scale;
        }
    }
    let sum = softmax_numerators(scores);
    row.fill(0.0);
    for (j, w) in scores.iter().enumerate() {
        let w = w / sum;
        let value = &q.values[(lo + j) * d..(lo + j + 1) * d];
        for (o, x) in row.iter_mut().zip(value) {
            *o += w * x;
        }
    }
}

/// `scores` replaced by e^(score − max); returns their sum.
#[inline(always)]
fn softmax_numerators(scores: &mut [f32]) -> f32 {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for s in scores.iter_mut() {
        *s = exp_nonpositive(*s - max);
        sum += *s;
    }
    sum
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{KvElem, Query, softmax_numerators};

    /// The sums of the 16 lanes of each of `acc`, added as `_mm512_reduce_add_ps` adds them
    /// (lanes i and i + 8, then i + 4, i + 2, i + 1), four at once: three shuffle-and-add
    /// steps for the four instead of four for each.
    #[inline(always)]
    unsafe fn sum4(acc: [__m512; 4]) -> [f32; 4] {
        // SAFETY: register operations only (the caller has AVX-512F)
        unsafe {
            // quarters [a.0 + a.2, a.1 + a.3, b.0 + b.2, b.1 + b.3] of pairs (a, b)
            let halves = |a: __m512, b: __m512| {
                _mm512_add_ps(_mm512_shuffle_f32x4::<0x44>(a, b), _mm512_shuffle_f32x4::<0xee>(a, b))
            };
            let (x, y) = (halves(acc[0], acc[1]), halves(acc[2], acc[3]));
            // quarter i: the four partial sums of acc[i]
            let quarters = _mm512_add_ps(_mm512_shuffle_f32x4::<0x88>(x, y), _mm512_shuffle_f32x4::<0xdd>(x, y));
            let pairs = _mm512_add_ps(quarters, _mm512_permute_ps::<0x4e>(quarters));
            let total = _mm512_add_ps(pairs, _mm512_permute_ps::<0xb1>(pairs));
            let mut lanes = [0.0f32; 16];
            _mm512_storeu_ps(lanes.as_mut_ptr(), total);
            [lanes[0], lanes[4], lanes[8], lanes[12]]
        }
    }

    /// One query for D = 16·N: the query's N registers are loaded once, four keys' dot
    /// products run side by side (their value rows fetched meanwhile, and their sums taken
    /// together, [`sum4`]), and two sets of the output's N registers (even and odd keys) take
    /// each value row by a fused multiply-add.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn attend<const N: usize, E: KvElem>(q: &Query<E>, row: &mut [f32], scores: &mut Vec<f32>) {
        let (lo, hi, seen) = q.range();
        let d = 16 * N;
        scores.clear();
        scores.resize(hi - lo, 0.0);
        // SAFETY: every key and value row below is one of rows lo..hi of `len × D` slices, and
        // query and row hold D values
        unsafe {
            if seen {
                let qv: [__m512; N] = std::array::from_fn(|c| _mm512_loadu_ps(q.query.as_ptr().add(16 * c)));
                let keys = q.keys.as_ptr().add(lo * d);
                let dot = |j: usize| -> __m512 {
                    let key = keys.add(j * d);
                    let mut acc = _mm512_mul_ps(qv[0], E::load16(key));
                    for (c, qc) in qv.iter().enumerate().skip(1) {
                        acc = _mm512_fmadd_ps(*qc, E::load16(key.add(16 * c)), acc);
                    }
                    acc
                };
                let n = scores.len();
                // the value rows of these keys, fetched while the scores are computed
                let ahead = q.values.as_ptr().add(lo * d).cast::<i8>();
                let lines = 4 * d * size_of::<E>() / 64;
                let mut j = 0;
                while j + 4 <= n {
                    for l in 0..lines {
                        _mm_prefetch::<_MM_HINT_T0>(ahead.add((j * d * size_of::<E>()) + 64 * l));
                    }
                    let sums = sum4([dot(j), dot(j + 1), dot(j + 2), dot(j + 3)]);
                    for (i, s) in sums.iter().enumerate() {
                        scores[j + i] = s * q.scale;
                    }
                    j += 4;
                }
                for (i, s) in scores.iter_mut().enumerate().skip(j) {
                    *s = _mm512_reduce_add_ps(dot(i)) * q.scale;
                }
            }
            let sum = softmax_numerators(scores);
            let values = q.values.as_ptr().add(lo * d);
            // even keys into `even`, odd keys into `odd`: two independent chains
            let (mut even, mut odd) = ([_mm512_setzero_ps(); N], [_mm512_setzero_ps(); N]);
            let axpy = |acc: &mut [__m512; N], j: usize| {
                let w = _mm512_set1_ps(scores[j] / sum);
                let value = values.add(j * d);
                for (c, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_fmadd_ps(w, E::load16(value.add(16 * c)), *a);
                }
            };
            let n = scores.len();
            for j in (0..n / 2 * 2).step_by(2) {
                axpy(&mut even, j);
                axpy(&mut odd, j + 1);
            }
            if n % 2 == 1 {
                axpy(&mut even, n - 1);
            }
            for c in 0..N {
                _mm512_storeu_ps(row.as_mut_ptr().add(16 * c), _mm512_add_ps(even[c], odd[c]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn append_grows_in_place_and_reads_back_what_was_written() -> Result<()> {
        let mut rng = Rng::new(3);
        let parts: Vec<Tensor> =
            [5, 1, 70, 1].iter().map(|&t| Tensor::randn(&[2, 3, t, 4], 0.0, 1.0, &mut rng)).collect();
        let mut buf = KvBuffer::new(2, 3, 4, KvPrecision::F32);
        for p in &parts {
            buf.append(p, &p.mul_scalar(2.0))?;
        }
        assert_eq!(buf.len(), 77);
        let (k, v) = buf.to_tensors()?;
        let want = Tensor::cat(&parts, 2)?;
        assert_eq!(k.to_vec(), want.to_vec());
        assert_eq!(v.to_vec(), want.mul_scalar(2.0).to_vec());
        assert!(buf.append(&Tensor::zeros(&[2, 2, 1, 4]), &Tensor::zeros(&[2, 2, 1, 4])).is_err());
        Ok(())
    }

    #[test]
    fn reserved_room_is_kept_until_it_is_used_up() -> Result<()> {
        let mut rng = Rng::new(4);
        let first = Tensor::randn(&[2, 3, 5, 4], 0.0, 1.0, &mut rng);
        let mut buf = KvBuffer::with_room(&first, &first, 150, KvPrecision::F32)?;
        assert_eq!(buf.capacity(), 192, "150 positions rounded up to whole steps of {GROW}");
        buf.reserve(100);
        assert_eq!(buf.capacity(), 192, "room that is there already is not reallocated");
        let mut all = vec![first];
        for _ in 0..187 {
            let t = Tensor::randn(&[2, 3, 1, 4], 0.0, 1.0, &mut rng);
            buf.append(&t, &t)?;
            all.push(t);
        }
        assert_eq!((buf.len(), buf.capacity()), (192, 192));
        let t = Tensor::randn(&[2, 3, 1, 4], 0.0, 1.0, &mut rng);
        buf.append(&t, &t)?;
        all.push(t);
        assert_eq!(buf.capacity(), 256, "full: grown by one step");
        let (k, _) = buf.to_tensors()?;
        assert_eq!(k.to_vec(), Tensor::cat(&all, 2)?.to_vec());
        Ok(())
    }
}
