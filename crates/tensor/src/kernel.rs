//! Elementwise loops shared by the ops: sequential for small tensors, in parts on two threads
//! (`fork`) for large ones.
//! Each output element is computed independently, so results do not depend on the thread count.
//! The loops (and the gemv kernels) have a wide AVX-512 copy and a portable one; which runs is
//! [`kernel_path`], and `LOAM_FORCE_PORTABLE=1` or [`force_portable`] forces the portable one.

use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Axis, IxDyn, Slice, Zip};

use crate::fork::{for_each_chunk_mut, for_each_chunk_pair_mut};

/// Below this many elements, the work is done on the calling thread.
pub(crate) const PAR_MIN: usize = 1 << 15;

/// Elements per parallel task of the contiguous fast path.
const CHUNK: usize = 1 << 14;

/// The shortest contiguous last axis that [`to_standard`] copies a row at a time (shorter rows
/// go through Zip's element walk).
const ROW_COPY_MIN: usize = 8;

/// Which copy of the vectorized loops runs: the AVX-512 one ([`wide`], the gemv kernels) or
/// the portable one (baseline x86-64, or any other target).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelPath {
    /// Compiled for AVX-512 and run because the CPU has it.
    Wide,
    /// Compiled for the build's baseline target.
    Portable,
}

/// Whether the portable path is forced (`LOAM_FORCE_PORTABLE=1`, or [`force_portable`]).
static PORTABLE: AtomicBool = AtomicBool::new(false);
/// Reads `LOAM_FORCE_PORTABLE` once, before the first use of [`PORTABLE`].
static PORTABLE_FROM_ENV: Once = Once::new();

fn init_from_env() {
    PORTABLE_FROM_ENV.call_once(|| {
        let on = std::env::var("LOAM_FORCE_PORTABLE").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"));
        PORTABLE.store(on, Ordering::Relaxed);
    });
}

/// Forces the portable path (`true`) or lets the CPU choose again (`false`), for the whole
/// process, from the next operation on; overrides `LOAM_FORCE_PORTABLE`, which sets the
/// starting value. Tests use it to run both paths on one machine.
pub fn force_portable(on: bool) {
    init_from_env();
    PORTABLE.store(on, Ordering::Relaxed);
}

/// Whether this CPU can run the wide path (AVX-512 F, BW, DQ, VL with AVX2 and FMA).
pub fn wide_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        has_avx512()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The path the next operation takes: wide when the CPU has AVX-512 and the portable path
/// is not forced.
#[inline]
pub fn kernel_path() -> KernelPath {
    init_from_env();
    if wide_available() && !PORTABLE.load(Ordering::Relaxed) { KernelPath::Wide } else { KernelPath::Portable }
}

/// Runs `body`, compiled for AVX-512 when [`kernel_path`] says so. The crates build for
/// baseline x86-64, whose SSE2 uses a quarter of an AVX-512 register; `body` (with what it
/// inlines: the elementwise function, the lane kernel) is compiled a second time inside a
/// function with the wider target, and the CPU is asked once which copy to run. Rust never
/// fuses a multiply and an add on its own, so both copies give the same bits.
#[inline(always)]
pub(crate) fn wide<R>(body: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if kernel_path() == KernelPath::Wide {
        #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
        fn v4<R>(body: impl FnOnce() -> R) -> R {
            body()
        }
        // SAFETY: the features were detected (`kernel_path` is wide only when they are).
        return unsafe { v4(body) };
    }
    body()
}

/// Whether the CPU has every feature [`wide`]'s copy is compiled for (asked once).
#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    use std::arch::is_x86_feature_detected as has;
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| {
        has!("avx512f") && has!("avx512bw") && has!("avx512dq") && has!("avx512vl") && has!("avx2") && has!("fma")
    })
}

/// Runs `body(output chunk, start index)` over a new buffer of `n` elements, in parallel
/// chunks for large `n`. The buffer is not zeroed first: `body` writes every element of its
/// chunk.
fn fill(n: usize, body: impl Fn(&mut [MaybeUninit<f32>], usize) + Sync + Send) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(n);
    let spare = &mut out.spare_capacity_mut()[..n];
    if n >= PAR_MIN {
        for_each_chunk_mut(spare, CHUNK, |c, o| wide(#[inline(always)] || body(o, c * CHUNK)));
    } else {
        wide(#[inline(always)] || body(spare, 0));
    }
    // SAFETY: every caller's body writes each element of the chunk it is given, and the
    // chunks cover 0..n.
    unsafe { out.set_len(n) };
    out
}

/// The row-major slices of views that all have `shape`, when every one is row-major.
fn slices<'a, const N: usize>(views: &[ArrayViewD<'a, f32>; N]) -> Option<[&'a [f32]; N]> {
    let shape = views[0].shape();
    let mut out = [&[][..]; N];
    for (o, v) in out.iter_mut().zip(views) {
        if v.shape() != shape {
            return None;
        }
        *o = v.to_slice()?;
    }
    Some(out)
}

/// A new row-major array of `shape` written by `part(rows, out)`: `out` is the block of rows
/// `rows` along the first axis (`None`: the whole array), which `part` writes whole. Large
/// arrays go out in parts of about [`CHUNK`] values on two threads (`fork`); strided and
/// broadcast views take this way (Zip walks each part in the order that suits its strides).
fn fill_rows(
    shape: &[usize],
    part: impl Fn(Option<Range<usize>>, ArrayViewMutD<'_, MaybeUninit<f32>>) + Sync,
) -> ArrayD<f32> {
    let mut out = ArrayD::<f32>::uninit(IxDyn(shape));
    let total = out.len();
    match (shape.first(), out.as_slice_mut()) {
        (Some(&n0), Some(all)) if total >= PAR_MIN && n0 >= 2 => {
            let per_row = total / n0;
            let rows = (CHUNK / per_row).max(1);
            for_each_chunk_mut(all, rows * per_row, |p, chunk| {
                let mut block = shape.to_vec();
                block[0] = chunk.len() / per_row;
                let view = ArrayViewMutD::from_shape(IxDyn(&block), chunk).expect("whole rows of a row-major array");
                part(Some(p * rows..p * rows + block[0]), view)
            });
        }
        _ => part(None, out.view_mut()),
    }
    // SAFETY: every caller's part writes every element of its block, and the blocks cover
    // the array.
    unsafe { out.assume_init() }
}

/// Rows `rows` of `v` along its first axis (`None`: all of it).
fn rows_of<'a>(v: &ArrayViewD<'a, f32>, rows: &Option<Range<usize>>) -> ArrayViewD<'a, f32> {
    match rows {
        Some(r) => v.clone().slice_axis_move(Axis(0), Slice::from(r.clone())),
        None => v.clone(),
    }
}

/// `f` applied to every element.
pub(crate) fn map(a: ArrayViewD<'_, f32>, f: impl Fn(f32) -> f32 + Sync + Send) -> ArrayD<f32> {
    if let Some([x]) = slices(&[a.view()]) {
        let out = fill(x.len(), #[inline(always)] |o, s| {
            for (o, &x) in o.iter_mut().zip(&x[s..]) {
                o.write(f(x));
            }
        });
        return ArrayD::from_shape_vec(a.raw_dim(), out).expect("same length");
    }
    fill_rows(a.shape(), |rows, o| {
        Zip::from(o).and(rows_of(&a, &rows)).for_each(|o, &x| {
            o.write(f(x));
        })
    })
}

/// `f` applied to pairs of elements of two arrays of the same shape.
pub(crate) fn map2(
    a: ArrayViewD<'_, f32>,
    b: ArrayViewD<'_, f32>,
    f: impl Fn(f32, f32) -> f32 + Sync + Send,
) -> ArrayD<f32> {
    if let Some([x, y]) = slices(&[a.view(), b.view()]) {
        let out = fill(x.len(), #[inline(always)] |o, s| {
            for ((o, &x), &y) in o.iter_mut().zip(&x[s..]).zip(&y[s..]) {
                o.write(f(x, y));
            }
        });
        return ArrayD::from_shape_vec(a.raw_dim(), out).expect("same length");
    }
    fill_rows(a.shape(), |rows, o| {
        Zip::from(o).and(rows_of(&a, &rows)).and(rows_of(&b, &rows)).for_each(|o, &x, &y| {
            o.write(f(x, y));
        })
    })
}

/// `f` applied to triples of elements of three arrays of the same shape.
pub(crate) fn map3(
    a: ArrayViewD<'_, f32>,
    b: ArrayViewD<'_, f32>,
    c: ArrayViewD<'_, f32>,
    f: impl Fn(f32, f32, f32) -> f32 + Sync + Send,
) -> ArrayD<f32> {
    if let Some([x, y, w]) = slices(&[a.view(), b.view(), c.view()]) {
        let out = fill(x.len(), #[inline(always)] |o, s| {
            for (((o, &x), &y), &w) in o.iter_mut().zip(&x[s..]).zip(&y[s..]).zip(&w[s..]) {
                o.write(f(x, y, w));
            }
        });
        return ArrayD::from_shape_vec(a.raw_dim(), out).expect("same length");
    }
    fill_rows(a.shape(), |rows, o| {
        Zip::from(o).and(rows_of(&a, &rows)).and(rows_of(&b, &rows)).and(rows_of(&c, &rows)).for_each(
            |o, &x, &y, &w| {
                o.write(f(x, y, w));
            },
        )
    })
}

/// A row-major copy of any view (transposed, sliced or broadcast). Zip walks both in the
/// order that suits them, which is far faster than an element iterator over a strided view;
/// a view whose last axis is contiguous (heads split or merged by a permute that keeps it) is
/// copied a whole row at a time.
pub(crate) fn to_standard(a: ArrayViewD<'_, f32>) -> ArrayD<f32> {
    let r = a.ndim();
    if r >= 2 && a.shape()[r - 1] >= ROW_COPY_MIN && a.strides()[r - 1] == 1 {
        return fill_rows(a.shape(), |rows, mut o| {
            Zip::from(o.lanes_mut(Axis(r - 1))).and(rows_of(&a, &rows).lanes(Axis(r - 1))).for_each(|o, x| {
                let x = x.to_slice().expect("a contiguous last axis");
                for (o, &x) in o.into_slice().expect("a row-major output").iter_mut().zip(x) {
                    o.write(x);
                }
            })
        });
    }
    fill_rows(a.shape(), |rows, o| {
        Zip::from(o).and(rows_of(&a, &rows)).for_each(|o, &x| {
            o.write(x);
        })
    })
}

/// `a` itself when it is row-major, else a row-major copy.
pub(crate) fn into_standard(a: ArrayD<f32>) -> ArrayD<f32> {
    if a.is_standard_layout() { a } else { to_standard(a.view()) }
}

/// The values of `a` in row-major order, borrowed when `a` already is row-major.
pub(crate) fn standard(a: ArrayViewD<'_, f32>) -> std::borrow::Cow<'_, [f32]> {
    match a.to_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(to_standard(a).into_raw_vec_and_offset().0),
    }
}

/// A new row-major buffer of `n` rows of `c` values, row `i` written by `row(i, row)` (with
/// [`init`]), which also returns one value per row (statistics, or `()`). Rows run in
/// parallel for large buffers, each on one thread in a fixed order. The buffer is never
/// zeroed: a separate zeroing pass is a whole extra write of memory.
pub(crate) fn rows<S: Send + Default + Clone>(
    n: usize,
    c: usize,
    row: impl Fn(usize, &mut [MaybeUninit<f32>]) -> S + Sync + Send,
) -> (Vec<f32>, Vec<S>) {
    let total = n * c;
    let mut out: Vec<f32> = Vec::with_capacity(total);
    let mut side = vec![S::default(); n];
    if c > 0 {
        let spare = &mut out.spare_capacity_mut()[..total];
        let run = |(i, (o, s)): (usize, (&mut [MaybeUninit<f32>], &mut S))| {
            *s = wide(#[inline(always)] || row(i, o));
        };
        if total >= PAR_MIN {
            // whole rows per part, about CHUNK values each: parts are handed out one at a time
            let per = CHUNK.checked_div(c).map_or(1, |p| p.max(1));
            for_each_chunk_pair_mut(spare, per * c, &mut side, per, |p, o, s| {
                o.chunks_mut(c).zip(s).enumerate().for_each(|(i, os)| run((p * per + i, os)))
            });
        } else {
            spare.chunks_mut(c).zip(side.iter_mut()).enumerate().for_each(run);
        }
    }
    // SAFETY: the rows above cover 0..total, and every caller's `row` writes its whole row
    // (through `init`, which checks it).
    unsafe { out.set_len(total) };
    (out, side)
}

/// Writes `values` into every element of `o` and returns it, now initialized, for reading
/// back. Panics when `values` has another length (a bug in the caller, never bad input).
#[inline(always)]
pub(crate) fn init(o: &mut [MaybeUninit<f32>], values: impl ExactSizeIterator<Item = f32>) -> &mut [f32] {
    assert_eq!(values.len(), o.len(), "a row must be written whole");
    for (o, v) in o.iter_mut().zip(values) {
        o.write(v);
    }
    // SAFETY: each of the `o.len()` elements was written just above.
    unsafe { &mut *(o as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// Applies `f` to every lane along `axis` of same-shaped inputs: `f(input lanes, output lane)`,
/// where `f` writes the whole output lane with [`init`].
/// Lanes run in parallel for large tensors; each lane is computed by one thread in a fixed
/// order, so results do not depend on the thread count.
pub(crate) fn lanes<const N: usize>(
    inputs: [ArrayViewD<'_, f32>; N],
    axis: usize,
    f: impl Fn([&[f32]; N], &mut [MaybeUninit<f32>]) + Sync + Send,
) -> ArrayD<f32> {
    let shape = inputs[0].shape().to_vec();
    let rank = shape.len();
    let mut order: Vec<usize> = (0..rank).filter(|&i| i != axis).collect();
    order.push(axis);
    let moved: Vec<_> = inputs.iter().map(|x| standard(x.clone().permuted_axes(order.clone()))).collect();
    let n = shape[axis];
    let count = shape.iter().product::<usize>().checked_div(n).unwrap_or(0);
    let (out, _) = rows(count, n, #[inline(always)] |i, o| {
        let ins: [&[f32]; N] = std::array::from_fn(|k| &moved[k][i * n..(i + 1) * n]);
        f(ins, o)
    });
    let moved_shape: Vec<usize> = order.iter().map(|&i| shape[i]).collect();
    let mut inverse = vec![0; rank];
    for (i, &a) in order.iter().enumerate() {
        inverse[a] = i;
    }
    ArrayD::from_shape_vec(moved_shape, out).expect("length matches shape").permuted_axes(inverse)
}

/// Σ x, with eight independent partial sums so the adds pipeline and vectorize (a single
/// running sum is bound by the add latency). The order is fixed: same input, same bits.
#[inline(always)]
pub(crate) fn sum(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = x.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for i in 0..8 {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The largest element (−∞ for none), with sixteen running maxima so the comparisons
/// vectorize. A NaN element is skipped, as `f32::max` skips it.
#[inline(always)]
pub(crate) fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 16];
    let chunks = x.chunks_exact(16);
    let tail = chunks.remainder().iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for c in chunks {
        for i in 0..16 {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    acc.iter().copied().fold(tail, f32::max)
}

/// Σ f(x) over the elements, with the same eight partial sums as [`sum`]. The values of `f`
/// are first written to a block on the stack, a loop that vectorizes even when `f` is long
/// (an exponential); summed in place, LLVM keeps `f` scalar.
#[inline(always)]
pub(crate) fn sum_map(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    const BLOCK: usize = 256;
    let mut acc = [0.0f32; 8];
    let mut values = [0.0f32; BLOCK];
    let whole = x.len() / 8 * 8;
    for block in x[..whole].chunks(BLOCK) {
        let values = &mut values[..block.len()];
        for (v, &x) in values.iter_mut().zip(block) {
            *v = f(x);
        }
        for c in values.chunks_exact(8) {
            for i in 0..8 {
                acc[i] += c[i];
            }
        }
    }
    let tail: f32 = x[whole..].iter().map(|&v| f(v)).sum();
    acc.iter().sum::<f32>() + tail
}

/// Σ a·b, with the same eight partial sums as [`sum`].
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// e^x for x ≤ 0 (softmax's x − max, GELU's −x²/2), vectorizable: Cody–Waite range reduction
/// x = n·ln2 + r and Cephes' degree-5 polynomial for e^r, about 1 ulp from libm's expf. Below
/// −87.3 (where e^x leaves the normal floats) the result is exactly 0, so masked scores get
/// weight 0.
#[inline(always)]
pub(crate) fn exp_nonpositive(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer
    let xc = x.max(-87.3);
    let t = xc * LOG2_E + ROUND;
    let n = t - ROUND;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let y = p * r * r + r + 1.0;
    let scale = f32::from_bits(((t.to_bits() as i32 - 0x4B40_0000 + 127) as u32) << 23);
    if x < -87.3 { 0.0 } else { y * scale }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_is_within_two_ulps_of_expf_and_exactly_zero_far_below() {
        let mut worst = 0.0f64;
        for i in 0..=873_000 {
            let x = -(i as f32) * 1e-4;
            let (got, want) = (exp_nonpositive(x) as f64, (x as f64).exp());
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 2.5e-7, "max relative error {worst}");
        assert_eq!(exp_nonpositive(-100.0), 0.0);
        assert_eq!(exp_nonpositive(f32::MIN), 0.0);
        assert_eq!(exp_nonpositive(0.0), 1.0);
    }

    #[test]
    fn partial_sums_match_a_plain_sum() {
        let x: Vec<f32> = (0..1003).map(|i| (i as f32 * 0.37).sin()).collect();
        let plain: f64 = x.iter().map(|&v| v as f64).sum();
        assert!((sum(&x) as f64 - plain).abs() < 1e-4);
        assert!((dot(&x, &x) as f64 - x.iter().map(|&v| (v * v) as f64).sum::<f64>()).abs() < 1e-3);
    }
}
