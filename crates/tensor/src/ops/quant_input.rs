//! Activations quantized on the fly for the integer quantized products: an input vector `x`
//! is cut into blocks, each with an f32 scale `d = max|x_block| / 127` and int8 values
//! `q = round(x / d)` in −127..=127 (ties to even; a block of zeros has `d = 0`). A product
//! with a weight row then sums integer products a block at a time (`vpdpbusd`, AVX-512 VNNI)
//! and applies `d` (and the weight's scales) in f32 once a block.
//!
//! For int8 weights ([`Q8Input`]) a block is not a run of neighbours but one 4-value lane of
//! `vpdpbusd`'s i32 accumulator across a span of [`Q8_SPAN`] values: values `4l..4l + 4` of each
//! of the span's four 64-value chunks (16 values). The kernel then adds four chunks into one
//! i32 register before it converts and scales it, instead of converting and scaling after every
//! instruction, which had made the scaling as costly as the products. For 4-bit weights
//! ([`Q4Input`]) a block is a weight group of 32 neighbours (llama.cpp's Q8_0 blocks).
//!
//! Which activations a product uses is [`QuantActivations`], process-wide: int8 (the default)
//! or f32 (the weights widened to f32 against the exact input, as before VNNI), for quality
//! comparisons and the interleaved speed bench. A model whose quality needs the exact input
//! (sentence embeddings) chooses f32 for the products its own thread calls with
//! [`quant_activations_scope`].

use std::cell::Cell;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::ops::quant_matrix::{Q4_GROUP, groups};

/// Values of one AVX-512 register of bytes: the int8 activations are padded to a multiple.
pub(crate) const CHUNK: usize = 64;
/// Values of one i32 lane of `vpdpbusd` (four bytes).
const LANE: usize = 4;
/// Lanes of a chunk, and scales of a span.
pub(crate) const LANES: usize = CHUNK / LANE;
/// The i32 lanes of `vpdpbusd` that a 4-bit group's products land in (its 16 low-nibble and 16
/// high-nibble values, four a lane).
pub(crate) const GROUP_LANES: usize = 4;
/// Values whose lanes share their scales in the activations of a product with int8 weights:
/// four chunks (the last span of a row may be shorter).
pub const Q8_SPAN: usize = 4 * CHUNK;

/// The activations a product of fewer than [`GEMM_MIN_ROWS`](crate::GEMM_MIN_ROWS) rows with
/// an int8 or 4-bit matrix uses (larger products and bf16 weights always use f32 activations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantActivations {
    /// Blocks of int8 values with an f32 scale each, multiplied as integers
    /// (`vpdpbusd` where the CPU has AVX-512 VNNI). The default.
    Int8,
    /// The exact f32 input, each weight widened to f32.
    F32,
}

/// Whether [`QuantActivations::F32`] is chosen (`LOAM_QUANT_ACTIVATIONS=f32`, or
/// [`set_quant_activations`]).
static F32_ACTIVATIONS: AtomicBool = AtomicBool::new(false);
/// Reads `LOAM_QUANT_ACTIVATIONS` once, before the first use of [`F32_ACTIVATIONS`].
static FROM_ENV: Once = Once::new();

fn init_from_env() {
    FROM_ENV.call_once(|| {
        let f32 = std::env::var("LOAM_QUANT_ACTIVATIONS").is_ok_and(|v| v.trim() == "f32");
        F32_ACTIVATIONS.store(f32, Ordering::Relaxed);
    });
}

/// Chooses the activations of the quantized vector products for the whole process, from the
/// next product on; overrides `LOAM_QUANT_ACTIVATIONS` (`int8` or `f32`), which sets the
/// starting value.
pub fn set_quant_activations(mode: QuantActivations) {
    init_from_env();
    F32_ACTIVATIONS.store(mode == QuantActivations::F32, Ordering::Relaxed);
}

thread_local! {
    /// This thread's choice while a [`QuantActivationsGuard`] lives, over the process's.
    static SCOPED: Cell<Option<QuantActivations>> = const { Cell::new(None) };
}

/// Restores this thread's previous choice of activations when dropped.
#[must_use = "the choice lasts as long as the guard"]
pub struct QuantActivationsGuard {
    previous: Option<QuantActivations>,
}

/// Chooses `mode` for the quantized products this thread calls, over the process's choice,
/// until the guard is dropped: `let _exact = quant_activations_scope(QuantActivations::F32);`.
/// Products called from other threads (rayon workers running their own closures) keep theirs.
pub fn quant_activations_scope(mode: QuantActivations) -> QuantActivationsGuard {
    QuantActivationsGuard { previous: SCOPED.with(|s| s.replace(Some(mode))) }
}

impl Drop for QuantActivationsGuard {
    fn drop(&mut self) {
        SCOPED.with(|s| s.set(self.previous));
    }
}

/// The activations the next quantized vector product called from this thread uses.
pub fn quant_activations() -> QuantActivations {
    if let Some(mode) = SCOPED.with(Cell::get) {
        return mode;
    }
    init_from_env();
    if F32_ACTIVATIONS.load(Ordering::Relaxed) { QuantActivations::F32 } else { QuantActivations::Int8 }
}

/// `round(v / d)` in −127..=127 for a block's scale `d > 0`, ties to even: adding and taking
/// away 1.5 · 2²³ rounds in the FPU's own mode (exact here: `|v / d|` is about 127 at most),
/// which vectorizes on any x86-64 (`round_ties_even` calls `rintf` without SSE4.1).
fn quantize_value(v: f32, d: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0;
    ((v / d + ROUND) - ROUND).clamp(-127.0, 127.0)
}

/// One block's scale and values: `d = max|x| / 127`, `q = round(x / d)`.
fn quantize_block(x: &[f32], q: &mut [i8]) -> f32 {
    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    if d > 0.0 {
        for (o, &v) in q.iter_mut().zip(x) {
            *o = quantize_value(v, d) as i8;
        }
    }
    d
}

/// An input vector quantized for int8 weights (per output channel), a scale per lane of each
/// span ([`Q8_SPAN`]).
pub(crate) struct Q8Input {
    /// The values in order, zero-padded to a multiple of [`CHUNK`].
    pub(crate) q: Vec<i8>,
    /// [`LANES`] scales a span: `d[s · LANES + l]` is the scale of values `4l..4l + 4` of each
    /// chunk of span `s` (padded to whole spans with zeros).
    pub(crate) d: Vec<f32>,
    /// `Σ_b d_b · Σ q_b`: the wide kernel reads weights as `w + 128` (unsigned) and subtracts
    /// `128 ·` this once a row.
    pub(crate) offset: f32,
}

impl Q8Input {
    /// `x` quantized a lane of a span at a time.
    pub(crate) fn new(x: &[f32]) -> Q8Input {
        let mut q = vec![0i8; x.len().div_ceil(CHUNK) * CHUNK];
        let mut d = vec![0.0f32; x.len().div_ceil(Q8_SPAN) * LANES];
        let mut offset = 0.0f32;
        for ((xs, qs), ds) in x.chunks(Q8_SPAN).zip(q.chunks_mut(Q8_SPAN)).zip(d.chunks_exact_mut(LANES)) {
            // amax[i]: the largest |value| at position i of the span's chunks
            let mut amax = [0.0f32; CHUNK];
            for xc in xs.chunks(CHUNK) {
                for (m, &v) in amax.iter_mut().zip(xc) {
                    *m = m.max(v.abs());
                }
            }
            // scale[i]: the scale of position i's lane
            let mut scale = [0.0f32; CHUNK];
            for ((dl, ml), sl) in ds.iter_mut().zip(amax.chunks_exact(LANE)).zip(scale.chunks_exact_mut(LANE)) {
                *dl = ml.iter().fold(0.0f32, |a, &b| a.max(b)) / 127.0;
                sl.fill(*dl);
            }
            // sums[i]: the quantized values at position i of the span's chunks, added (exact
            // in f32: at most 4 × 127)
            let mut sums = [0.0f32; CHUNK];
            for (xc, qc) in xs.chunks(CHUNK).zip(qs.chunks_mut(CHUNK)) {
                // fixed-length loops over a whole chunk (zero-padded), which vectorize
                let mut v = [0.0f32; CHUNK];
                v[..xc.len()].copy_from_slice(xc);
                let mut t = [0.0f32; CHUNK];
                for ((t, &v), &sl) in t.iter_mut().zip(&v).zip(&scale) {
                    *t = if sl > 0.0 { quantize_value(v, sl) } else { 0.0 };
                }
                for ((o, &t), sum) in qc.iter_mut().zip(&t).zip(&mut sums) {
                    *o = t as i32 as i8;
                    *sum += t;
                }
            }
            offset += sums.chunks_exact(LANE).zip(&*ds).map(|(sl, &dl)| dl * sl.iter().sum::<f32>()).sum::<f32>();
        }
        Q8Input { q, d, offset }
    }
}

/// An input vector quantized for 4-bit weights: blocks of [`Q4_GROUP`] values,
/// laid out to meet the packed nibbles. Four groups' 64 packed bytes hold their elements
/// 0..16 in the low nibbles and 16..32 in the high ones, so the values of four groups
/// (128 bytes) are stored as the four runs of elements 0..16, then the four runs of 16..32.
pub(crate) struct Q4Input {
    /// The values in nibble order, zero-padded to whole runs of four groups.
    pub(crate) q: Vec<i8>,
    /// Each group's scale four times (`d[4g..4g + 4]`: the four i32 lanes of `vpdpbusd` that
    /// group `g`'s products land in), zero-padded to whole runs of four groups.
    pub(crate) d: Vec<f32>,
    /// The sum of each group's quantized inputs (`d · Σ q`) at `sums[4g]`, zeros at
    /// `sums[4g + 1..4g + 4]`: for the groups' minima (`Σ (m + s·n)·x = m·Σx + s·Σ n·x`), laid
    /// out like `d`.
    pub(crate) sums: Vec<f32>,
    /// Groups of a weight row.
    pub(crate) groups: usize,
}

impl Q4Input {
    /// `x` quantized a group at a time, in nibble order.
    pub(crate) fn new(x: &[f32]) -> Q4Input {
        let g = groups(x.len());
        let g4 = g.div_ceil(4) * 4;
        let mut q = vec![0i8; g4 * Q4_GROUP];
        let (mut d, mut sums) = (vec![0.0f32; g4 * GROUP_LANES], vec![0.0f32; g4 * GROUP_LANES]);
        let mut block = [0i8; Q4_GROUP];
        for (gi, xb) in x.chunks(Q4_GROUP).enumerate() {
            block.fill(0);
            let dg = quantize_block(xb, &mut block);
            d[gi * GROUP_LANES..(gi + 1) * GROUP_LANES].fill(dg);
            sums[gi * GROUP_LANES] = dg * block.iter().map(|&v| i32::from(v)).sum::<i32>() as f32;
            let (lo, hi) = Q4Input::runs(gi);
            q[lo..lo + 16].copy_from_slice(&block[..16]);
            q[hi..hi + 16].copy_from_slice(&block[16..]);
        }
        Q4Input { q, d, sums, groups: g }
    }

    /// Where group `gi`'s elements 0..16 and 16..32 start in [`Q4Input::q`].
    pub(crate) fn runs(gi: usize) -> (usize, usize) {
        let lo = gi / 4 * 128 + gi % 4 * 16;
        (lo, lo + 64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_blocks_are_lanes_of_a_span_and_pad_with_zeros() {
        // 300 values: one whole span (256) and 44 values of a second
        let x: Vec<f32> = (0..300).map(|i| if i == 64 + 5 { 50.0 } else { (i % 7) as f32 - 3.0 }).collect();
        let q = Q8Input::new(&x);
        assert_eq!((q.q.len(), q.d.len()), (320, 32));
        // lane 1 of span 0 holds values 4..8 of each chunk: value 69 (chunk 1) sets its scale
        assert_eq!(q.d[1], 50.0 / 127.0);
        assert_eq!(q.q[69], 127);
        assert_eq!(q.q[4], 3); // value 4 is 1: 1 / (50 / 127) = 2.54, in the same lane
        // lane 0 of span 0 (values 0..4 of each chunk) never sees more than 3
        assert_eq!(q.d[0], 3.0 / 127.0);
        // span 1 has 44 values: lanes 11.. are padding with scale 0
        assert!(q.d[16 + 11..].iter().all(|&d| d == 0.0) && q.d[16 + 10] > 0.0);
        assert!(q.q[300..].iter().all(|&v| v == 0));
        let offset: f32 = (0..300).map(|i| q.d[i / Q8_SPAN * LANES + i % CHUNK / LANE] * f32::from(q.q[i])).sum();
        assert!((q.offset - offset).abs() < 1e-4, "{} vs {offset}", q.offset);
    }

    #[test]
    fn four_bit_inputs_follow_the_nibble_order() {
        let x: Vec<f32> = (0..40).map(|i| (i + 1) as f32).collect();
        let q = Q4Input::new(&x);
        assert_eq!((q.groups, q.q.len(), q.d.len()), (2, 128, 16));
        assert_eq!(q.d[4..8], [40.0 / 127.0; 4]);
        assert_eq!(q.sums[5..8], [0.0; 3]);
        assert_eq!(q.q[0], (1.0f32 / (32.0 / 127.0)).round_ties_even() as i8);
        assert_eq!(q.q[64], (17.0f32 / (32.0 / 127.0)).round_ties_even() as i8);
        assert_eq!(q.q[16], (33.0f32 / (40.0 / 127.0)).round_ties_even() as i8); // group 1, element 0
        assert_eq!(q.q[64 + 16 + 7], 0); // group 1 has 8 elements
        let d1 = 40.0f32 / 127.0;
        let want: f32 = (33..=40).map(|v| d1 * (v as f32 / d1).round_ties_even()).sum();
        assert!((q.sums[4] - want).abs() < 1e-4, "{} vs {want}", q.sums[4]);
    }

    #[test]
    fn the_mode_switch_reads_back() {
        set_quant_activations(QuantActivations::F32);
        assert_eq!(quant_activations(), QuantActivations::F32);
        set_quant_activations(QuantActivations::Int8);
        assert_eq!(quant_activations(), QuantActivations::Int8);
    }

    #[test]
    fn a_scope_chooses_for_its_thread_until_dropped() {
        let (int8, f32) = (QuantActivations::Int8, QuantActivations::F32);
        for (outer, inner) in [(f32, int8), (int8, f32)] {
            {
                let _outer = quant_activations_scope(outer);
                assert_eq!(quant_activations(), outer);
                {
                    let _inner = quant_activations_scope(inner);
                    assert_eq!(quant_activations(), inner);
                }
                assert_eq!(quant_activations(), outer, "the inner scope restores the outer one");
                let elsewhere = std::thread::spawn(|| SCOPED.with(Cell::get)).join().unwrap();
                assert_eq!(elsewhere, None, "another thread keeps the process's choice");
            }
            assert_eq!(SCOPED.with(Cell::get), None, "the process's choice is back");
        }
    }
}
