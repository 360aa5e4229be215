//! The storage of a key/value cache ([`KvBuffer`]): f32 as the projections give it, or f16
//! (rounded to nearest even), which halves the bytes a decoding step reads from the cache (at
//! batch 32 and 80 positions GPT-2's cache is 188 MB a step in f32, more than its int8
//! weights). Attention widens f16 values to f32 as it reads them (exact), so the only change
//! to the arithmetic is the rounding of what was stored: 11 significant bits, as llama.cpp's
//! default cache keeps (bf16 would keep 8). A value beyond f16's range (±65504) is an error,
//! not an infinity.
//!
//! [`KvBuffer`]: super::kv_attention::KvBuffer

use half::f16;

use crate::kernel::{KernelPath, kernel_path};

/// How a [`KvBuffer`](crate::KvBuffer) keeps its keys and values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KvPrecision {
    /// f32: exactly the projected keys and values.
    #[default]
    F32,
    /// IEEE half precision (11 significant bits, finite up to ±65504), rounded to nearest
    /// even: half the memory and half the bytes read per decoding step.
    F16,
}

/// A cache's keys and values, `[B, H, cap, D]` each, in its precision.
#[derive(Debug, Clone)]
pub(crate) enum KvStore {
    F32 { k: Vec<f32>, v: Vec<f32> },
    F16 { k: Vec<f16>, v: Vec<f16> },
}

/// `len · d` values of each of `blocks` blocks of `from` (blocks of `from_cap · d`) into blocks
/// of `cap · d`, zeros after them.
fn regrown<T: Copy + Default>(from: &[T], blocks: usize, d: usize, len: usize, from_cap: usize, cap: usize) -> Vec<T> {
    let mut grown = vec![T::default(); blocks * cap * d];
    for i in 0..blocks {
        grown[i * cap * d..][..len * d].copy_from_slice(&from[i * from_cap * d..][..len * d]);
    }
    grown
}

/// Blocks `rows` (of `block` values each) of `from`, in that order.
fn picked<T: Copy>(from: &[T], rows: &[usize], block: usize) -> Vec<T> {
    rows.iter().flat_map(|&r| &from[r * block..(r + 1) * block]).copied().collect()
}

/// `src` rounded to f16 into `dst`; the first finite value that f16 cannot hold, if any. On
/// the wide path 16 values at a time by `vcvtps2ph` (the same rounding).
fn narrowed(dst: &mut [f16], src: &[f32]) -> Option<f32> {
    #[cfg(target_arch = "x86_64")]
    if kernel_path() == KernelPath::Wide {
        let whole = src.len() / 16 * 16;
        // SAFETY: the features were detected (`kernel_path` is wide only when they are); the
        // slices hold `whole` values
        let head = unsafe { x86::narrowed(&mut dst[..whole], &src[..whole]) };
        return head.or_else(|| narrowed_portable(&mut dst[whole..], &src[whole..]));
    }
    narrowed_portable(dst, src)
}

/// [`narrowed`] one value at a time.
fn narrowed_portable(dst: &mut [f16], src: &[f32]) -> Option<f32> {
    let mut overflow = None;
    for (o, &x) in dst.iter_mut().zip(src) {
        *o = f16::from_f32(x);
        if o.is_infinite() && x.is_finite() {
            overflow.get_or_insert(x);
        }
    }
    overflow
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use half::f16;

    /// [`super::narrowed`] for a multiple of 16 values: finite values of magnitude 65520 or
    /// more round to infinity in f16.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn narrowed(dst: &mut [f16], src: &[f32]) -> Option<f32> {
        let (limit, inf) = (_mm512_set1_ps(65520.0), _mm512_set1_ps(f32::INFINITY));
        let mut beyond = 0u16;
        for (o, x) in dst.chunks_exact_mut(16).zip(src.chunks_exact(16)) {
            // SAFETY: 16 values each
            unsafe {
                let v = _mm512_loadu_ps(x.as_ptr());
                let a = _mm512_abs_ps(v);
                beyond |= _mm512_cmp_ps_mask::<_CMP_GE_OQ>(a, limit) & _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, inf);
                let h = _mm512_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v);
                _mm256_storeu_si256(o.as_mut_ptr().cast(), h);
            }
        }
        if beyond == 0 { None } else { src.iter().copied().find(|x| x.is_finite() && x.abs() >= 65520.0) }
    }
}

impl KvStore {
    /// No values, kept in `precision`.
    pub(crate) fn new(precision: KvPrecision) -> KvStore {
        match precision {
            KvPrecision::F32 => KvStore::F32 { k: Vec::new(), v: Vec::new() },
            KvPrecision::F16 => KvStore::F16 { k: Vec::new(), v: Vec::new() },
        }
    }

    pub(crate) fn precision(&self) -> KvPrecision {
        match self {
            KvStore::F32 { .. } => KvPrecision::F32,
            KvStore::F16 { .. } => KvPrecision::F16,
        }
    }

    /// Writes `keys` and `values` (as many) from value `at` on, rounded to f16 when so kept.
    /// `Err` holds a finite value beyond f16's range (what was written then is not to be used).
    pub(crate) fn write(&mut self, at: usize, keys: &[f32], values: &[f32]) -> Result<(), f32> {
        let n = keys.len();
        match self {
            KvStore::F32 { k, v } => {
                k[at..at + n].copy_from_slice(keys);
                v[at..at + n].copy_from_slice(values);
            }
            KvStore::F16 { k, v } => {
                if let Some(x) = narrowed(&mut k[at..at + n], keys).or(narrowed(&mut v[at..at + n], values)) {
                    return Err(x);
                }
            }
        }
        Ok(())
    }

    /// `blocks` blocks of `from_cap · d` values become blocks of `cap · d`, their first
    /// `len · d` values kept and zeros after them.
    pub(crate) fn regrow(&mut self, blocks: usize, d: usize, len: usize, from_cap: usize, cap: usize) {
        match self {
            KvStore::F32 { k, v } => {
                *k = regrown(k, blocks, d, len, from_cap, cap);
                *v = regrown(v, blocks, d, len, from_cap, cap);
            }
            KvStore::F16 { k, v } => {
                *k = regrown(k, blocks, d, len, from_cap, cap);
                *v = regrown(v, blocks, d, len, from_cap, cap);
            }
        }
    }

    /// Blocks `rows` of `block` values, in that order.
    pub(crate) fn pick(&self, rows: &[usize], block: usize) -> KvStore {
        match self {
            KvStore::F32 { k, v } => KvStore::F32 { k: picked(k, rows, block), v: picked(v, rows, block) },
            KvStore::F16 { k, v } => KvStore::F16 { k: picked(k, rows, block), v: picked(v, rows, block) },
        }
    }

    /// Appends keys and values `at..at + n` to `keys` and `values` as f32 (exact).
    pub(crate) fn extend_f32(&self, at: usize, n: usize, keys: &mut Vec<f32>, values: &mut Vec<f32>) {
        match self {
            KvStore::F32 { k, v } => {
                keys.extend_from_slice(&k[at..at + n]);
                values.extend_from_slice(&v[at..at + n]);
            }
            KvStore::F16 { k, v } => {
                keys.extend(k[at..at + n].iter().map(|x| x.to_f32()));
                values.extend(v[at..at + n].iter().map(|x| x.to_f32()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_values_round_to_nearest_even_read_back_exactly_and_overflow_is_an_error() {
        let mut store = KvStore::new(KvPrecision::F16);
        store.regrow(1, 2, 0, 0, 2);
        // 1 + 2⁻¹¹ is halfway between two f16 values: to even (1.0); 1 + 3·2⁻¹¹ rounds up
        let (half, three) = (1.0 + 1.0 / 2048.0, 1.0 + 3.0 / 2048.0);
        assert_eq!(store.write(0, &[half, three, -2.5, 65504.0], &[0.1, 0.2, 0.3, 0.4]), Ok(()));
        let (mut k, mut v) = (Vec::new(), Vec::new());
        store.extend_f32(0, 4, &mut k, &mut v);
        assert_eq!(k, [1.0, 1.0 + 4.0 / 2048.0, -2.5, 65504.0]);
        assert!(v.iter().zip([0.1f32, 0.2, 0.3, 0.4]).all(|(a, b)| a != &b && (a - b).abs() <= b / 2048.0));
        store.regrow(1, 2, 1, 2, 3);
        let (mut k, mut v) = (Vec::new(), Vec::new());
        store.extend_f32(0, 6, &mut k, &mut v);
        assert_eq!(k, [1.0, 1.0 + 4.0 / 2048.0, 0.0, 0.0, 0.0, 0.0], "one position kept, room zeroed");
        assert_eq!(store.pick(&[0, 0], 2).precision(), KvPrecision::F16);
        assert_eq!(store.write(2, &[1.0, 7e4], &[0.0, 0.0]), Err(7e4), "beyond ±65504");
        assert_eq!(store.write(2, &[1.0, 1.0], &[-1e6, f32::INFINITY]), Err(-1e6));
        assert_eq!(store.write(2, &[f32::INFINITY, f32::NAN], &[1.0, 1.0]), Ok(()), "not finite to begin with");
    }

    #[test]
    fn rows_of_16_and_more_round_as_single_values_do_and_refuse_overflow_anywhere() {
        // 16 values at a time on the wide path, the tail one by one: both against half's
        // rounding, with values near f16's limits, subnormals and halfway cases
        let src: Vec<f32> = (0..45)
            .map(|i| match i % 5 {
                0 => 65504.0 + i as f32 / 4.0,
                1 => (i as f32 * 0.37).sin() * 1e-6,
                2 => 1.0 + (2 * i + 1) as f32 / 4096.0,
                3 => -(i as f32) * 1234.567,
                _ => (i as f32 * 1.3).cos(),
            })
            .collect();
        let mut store = KvStore::new(KvPrecision::F16);
        store.regrow(1, 45, 0, 0, 1);
        assert_eq!(store.write(0, &src, &src), Ok(()));
        let (mut k, mut v) = (Vec::new(), Vec::new());
        store.extend_f32(0, 45, &mut k, &mut v);
        let want: Vec<f32> = src.iter().map(|&x| f16::from_f32(x).to_f32()).collect();
        assert_eq!(k, want);
        for at in [3, 20, 44] {
            let mut bad = src.clone();
            bad[at] = -70000.0;
            assert_eq!(store.write(0, &src, &bad), Err(-70000.0), "overflow at {at}");
        }
    }
}
