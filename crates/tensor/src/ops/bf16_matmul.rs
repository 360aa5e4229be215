//! Products with a weight matrix kept in bfloat16, half the memory of f32, for inference:
//! y = x·Wᵀ with W `[out, in]` as PyTorch's `Linear` (and a Hugging Face file) stores it. The
//! weight is widened to f32 as it is read: one row at a time for vector × matrix products
//! (decoding, bound by memory bandwidth, so half the bytes is up to twice the speed), each load
//! shared by up to four inputs for products of up to 63 rows (beams, batched decoding), and in
//! blocks of rows for larger products (prompts), each block then multiplied by the gemm crate;
//! asked for with `native_bf16` (off by default: slower on the CPUs measured), matrix products
//! on CPUs with AVX512-BF16 instead go to the native kernel of `bf16_gemm`, which also rounds
//! the activations to bf16 (`force_portable` always keeps this file's path). Products of 16
//! rows or more on CPUs with AMX go to `amx_bf16` first (on by default; `amx_kernels`).
//! There is no backward: training keeps f32 weights.

use gemm::Parallelism;
use ndarray::{ArrayD, IxDyn};

use crate::backprop::grad_enabled;
use crate::fork::{for_each_chunk_mut, for_each_part};
use crate::error::{Result, TensorError};
use crate::kernel::standard;
use crate::send_ptr::SendPtr;
use crate::tensor::Tensor;

/// Weight rows widened together for one gemm call of a matrix product.
const BLOCK_ROWS: usize = 256;
/// Below this many multiply-adds a vector product stays on one thread.
const PAR_MIN_MACS: usize = 1 << 16;
/// Input rows from which a product goes through widened blocks and gemm rather than passes
/// over the weight rows that serve up to [`PASS_INPUTS`] inputs each (where AMX does not take
/// it first, from 16 rows). GPT-2 124M decoding with bf16 weights, tokens/s, widened blocks
/// against passes (`bench gpt2-generate --batch B --quant bf16`, two runs each; from 16 rows
/// with `LOAM_AMX=0`): batch 8 64–70 against 233–260, 12 96–103 against 236–252, 16 128–131
/// against 248–254, 32 206–209 against 242–255, 48 233–235 against 235–298.
const GEMM_MIN_ROWS: usize = 64;
/// Inputs one pass over the weight rows multiplies together, sharing each load of the weights.
const PASS_INPUTS: usize = 4;
/// Input rows from which the native kernel takes a product when asked for (`native_bf16`).
const NATIVE_MIN_ROWS: usize = 4;

/// A bfloat16 matrix `[rows, cols]`, row-major, stored as the upper 16 bits of each f32.
#[derive(Debug, Clone)]
pub struct Bf16Matrix {
    bits: std::sync::Arc<Vec<u16>>,
    rows: usize,
    cols: usize,
    /// The bits in AMX's tile layout, packed on the first AMX product and shared by clones.
    tiles: std::sync::Arc<std::sync::OnceLock<Vec<u16>>>,
}

/// f32 → bf16 bits, rounding to nearest even (NaN stays NaN).
fn to_bf16(x: f32) -> u16 {
    if x.is_nan() {
        return 0x7fc0;
    }
    let b = x.to_bits();
    ((b + 0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

/// bf16 bits → f32 (exact).
#[inline(always)]
fn to_f32(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

impl Bf16Matrix {
    /// The matrix `t` (rank 2) rounded to bfloat16.
    pub fn from_tensor(t: &Tensor) -> Result<Bf16Matrix> {
        if t.rank() != 2 {
            return Err(TensorError::invalid("Bf16Matrix", format!("needs a matrix, got shape {:?}", t.shape())));
        }
        let bits = t.with_slice(|v| v.iter().map(|&x| to_bf16(x)).collect());
        Ok(Bf16Matrix { bits: std::sync::Arc::new(bits), rows: t.shape()[0], cols: t.shape()[1], tiles: Default::default() })
    }

    /// A matrix over stored bfloat16 bits (row-major); the length must be `rows × cols`.
    pub fn from_bits(bits: Vec<u16>, rows: usize, cols: usize) -> Result<Bf16Matrix> {
        if bits.len() != rows * cols {
            return Err(TensorError::invalid("Bf16Matrix", format!("{} values do not fill [{rows}, {cols}]", bits.len())));
        }
        Ok(Bf16Matrix { bits: std::sync::Arc::new(bits), rows, cols, tiles: Default::default() })
    }

    /// The stored bits, row-major.
    pub fn bits(&self) -> &[u16] {
        &self.bits
    }

    /// The dimensions `[rows, cols]`.
    pub fn shape(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }

    /// Bytes of storage (two per element).
    pub fn bytes(&self) -> usize {
        self.bits.len() * 2
    }

    /// Rows `ids` widened to f32, shaped `shape` followed by `cols` (an embedding lookup).
    pub fn rows_f32(&self, ids: &[usize], shape: &[usize]) -> Result<Tensor> {
        if let Some(&bad) = ids.iter().find(|&&i| i >= self.rows) {
            return Err(TensorError::IndexOutOfRange { op: "Bf16Matrix::rows_f32", index: bad as i64, size: self.rows });
        }
        let c = self.cols;
        let data: Vec<f32> = ids.iter().flat_map(|&i| self.bits[i * c..(i + 1) * c].iter().map(|&b| to_f32(b))).collect();
        let mut full = shape.to_vec();
        full.push(c);
        Tensor::from_vec(data, &full)
    }

    /// The matrix in AMX's tile layout (`amx_bf16`), packed on first use and kept.
    #[cfg(target_arch = "x86_64")]
    fn amx_tiles(&self) -> &[u16] {
        self.tiles.get_or_init(|| super::amx_bf16::pack_weights(&self.bits, self.rows, self.cols))
    }

    /// The whole matrix widened to f32.
    pub fn to_tensor(&self) -> Tensor {
        let data = self.bits.iter().map(|&b| to_f32(b)).collect();
        Tensor::from_vec(data, &[self.rows, self.cols]).expect("rows × cols values")
    }
}

/// `y[j] = x · w[j, :]` for `j < n` (w row-major `[n, k]`), split over threads by output.
fn gemv_bf16(x: &[f32], w: &[u16], n: usize, y: &mut [f32]) {
    let k = x.len();
    #[cfg(target_arch = "x86_64")]
    let paired = std::arch::is_x86_feature_detected!("avx512f").then(|| x86::pair_order(x));
    let part = |j0: usize, out: &mut [f32]| {
        #[cfg(target_arch = "x86_64")]
        if let Some(xp) = &paired {
            // SAFETY: rows j0..j0+out.len() of w hold k values each; the feature was detected.
            unsafe { x86::dot_rows(x, xp, &w[j0 * k..(j0 + out.len()) * k], out) };
            return;
        }
        for (o, row) in out.iter_mut().zip(w[j0 * k..].chunks_exact(k)) {
            *o = x.iter().zip(row).map(|(&a, &b)| a * to_f32(b)).sum();
        }
    };
    let threads = rayon::current_num_threads();
    if k * n < PAR_MIN_MACS || threads == 1 {
        part(0, y);
    } else {
        let per = n.div_ceil(threads).div_ceil(4) * 4;
        for_each_chunk_mut(y, per, |i, out| part(i * per, out));
    }
}

/// `out[m, n] = x[m, k] · w[n, k]ᵀ` for fewer than [`GEMM_MIN_ROWS`] input rows (beams, a
/// batch decoding): passes over the weight rows, each taking up to [`PASS_INPUTS`] inputs so
/// that every load of 32 weights serves all of them, split over threads by weight rows. One
/// pass per input had read the matrix once per row, and widening it for gemm at every call
/// cost more still: flan-t5-small's beam-4 decoding ran at 0.41× its f32 speed with bf16
/// weights, GPT-2's batch 4 at a quarter of its speed now (docs/perf.md). Each output is
/// summed exactly as `gemv_bf16` sums it, whatever the inputs beside it.
fn gemv_bf16_rows(x: &[f32], m: usize, k: usize, w: &[u16], n: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        let paired: Vec<Vec<f32>> = x.chunks_exact(k.max(1)).map(x86::pair_order).collect();
        let po = SendPtr(out.as_mut_ptr());
        let part = |j0: usize, len: usize| {
            let rows = &w[j0 * k..(j0 + len) * k];
            for g0 in (0..m).step_by(PASS_INPUTS) {
                let xs = |i: usize| &x[(g0 + i) * k..(g0 + i + 1) * k];
                let xps = |i: usize| paired[g0 + i].as_slice();
                let at = po.at(g0 * n + j0);
                // SAFETY: `rows` holds len rows of k values; outputs j0..j0 + len of input rows
                // g0.. are inside `out` and written by this part only; avx512f was detected.
                unsafe {
                    match m - g0 {
                        1 => x86::dot_rows_inputs::<1>([xs(0)], [xps(0)], rows, at, n),
                        2 => x86::dot_rows_inputs::<2>([xs(0), xs(1)], [xps(0), xps(1)], rows, at, n),
                        3 => x86::dot_rows_inputs::<3>(
                            [xs(0), xs(1), xs(2)],
                            [xps(0), xps(1), xps(2)],
                            rows,
                            at,
                            n,
                        ),
                        _ => x86::dot_rows_inputs::<4>(
                            [xs(0), xs(1), xs(2), xs(3)],
                            [xps(0), xps(1), xps(2), xps(3)],
                            rows,
                            at,
                            n,
                        ),
                    }
                }
            }
        };
        let threads = rayon::current_num_threads();
        if m * k * n < PAR_MIN_MACS || threads == 1 {
            part(0, n);
        } else {
            let per = n.div_ceil(threads).div_ceil(2) * 2;
            for_each_part(n.div_ceil(per), |t| part(t * per, per.min(n - t * per)));
        }
        return;
    }
    for (row, y) in x.chunks_exact(k.max(1)).zip(out.chunks_exact_mut(n.max(1))) {
        gemv_bf16(row, w, n, y);
    }
}

/// `out[m, n] = x[m, k] · w[n, k]ᵀ`: blocks of [`BLOCK_ROWS`] weight rows widened to f32 and
/// multiplied by the gemm crate, the blocks split over threads.
fn gemm_bf16(x: &[f32], m: usize, k: usize, w: &[u16], n: usize, out: &mut [f32]) {
    let po = SendPtr(out.as_mut_ptr());
    for_each_part(n.div_ceil(BLOCK_ROWS), |blk| {
        let j0 = blk * BLOCK_ROWS;
        let cols = BLOCK_ROWS.min(n - j0);
        // block: [cols, k], row-major f32
        let block: Vec<f32> = w[j0 * k..(j0 + cols) * k].iter().map(|&b| to_f32(b)).collect();
        // SAFETY: x is [m, k] and block [cols, k] row-major; the block writes columns
        // j0..j0+cols of every output row, which no other block writes.
        unsafe {
            gemm::gemm(
                m, cols, k, po.get().add(j0), 1, n as isize, false, x.as_ptr(), 1, k as isize, block.as_ptr(), k as isize, 1,
                0.0, 1.0, false, false, false, Parallelism::None,
            );
        }
    });
}

/// Whether a product of `m` rows, `k` columns and `n` outputs goes to the AMX kernel (x86-64
/// with AMX, not turned off, the wide path not forced off).
fn goes_amx(m: usize, k: usize, n: usize) -> bool {
    m >= super::amx::AMX_MIN_ROWS && k > 0 && n > 0 && cfg!(target_arch = "x86_64") && super::amx::amx_on()
}

/// Whether a product with `m` input rows goes to the native bf16 kernel (asked for, x86-64
/// with AVX512-BF16, the wide path not forced off).
fn goes_native(m: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        m >= NATIVE_MIN_ROWS && super::bf16_gemm::native_available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = m;
        false
    }
}

impl Tensor {
    /// The width `k` of `self (…, k)` as the input of an inference-only product `op` by a
    /// weight `[rows, cols]`: its last axis must be `cols`, and it must not track gradients
    /// (`no_backward` says why not) unless gradients are off.
    pub(crate) fn inference_input(&self, op: &'static str, rows: usize, cols: usize, no_backward: impl FnOnce() -> String) -> Result<usize> {
        let s = self.shape();
        let k = *s.last().unwrap_or(&0);
        if s.is_empty() || k != cols {
            return Err(TensorError::ShapeMismatch {
                op,
                lhs: s.to_vec(),
                rhs: vec![rows, cols],
                detail: format!("the input's last axis must be the weight's {cols} columns"),
            });
        }
        if grad_enabled() && self.tracks_grad() {
            return Err(TensorError::invalid(op, no_backward()));
        }
        Ok(k)
    }

    /// The `m × n` values a weight-only product wrote for this `(…, k)` input, as `(…, n)`.
    pub(crate) fn inference_output(&self, n: usize, out: Vec<f32>) -> Tensor {
        let mut shape = self.shape().to_vec();
        *shape.last_mut().expect("rank ≥ 1") = n;
        Tensor::from_array(ArrayD::from_shape_vec(IxDyn(&shape), out).expect("m × n values"))
    }
}

impl Tensor {
    /// `self (…, k) · wᵀ` for a bfloat16 weight `w` `[n, k]`: → `(…, n)`. Inference only: an
    /// input that tracks gradients is an error (there is no backward).
    pub fn matmul_bf16(&self, w: &Bf16Matrix) -> Result<Tensor> {
        self.cpu_only("matmul_bf16")?;
        let k = self.inference_input("matmul_bf16", w.rows, w.cols, || "has no backward: train with f32 weights (or under no_grad)".into())?;
        let (n, m) = (w.rows, self.elem_count() / k.max(1));
        let x = self.arr();
        let xs = standard(x.view());
        #[cfg(target_arch = "x86_64")]
        if goes_amx(m, k, n) {
            // no zero fill: the AMX product writes every value
            let mut out = Vec::with_capacity(m * n);
            let tiles = super::amx_bf16::packed(w.amx_tiles());
            super::amx_bf16::gemm(&xs, m, k, tiles, n, None, &mut out.spare_capacity_mut()[..m * n]);
            // SAFETY: the product wrote all m × n values
            unsafe { out.set_len(m * n) };
            return Ok(self.inference_output(n, out));
        }
        let mut out = vec![0.0f32; m * n];
        if goes_native(m) {
            #[cfg(target_arch = "x86_64")]
            super::bf16_gemm::gemm_bf16_native(&xs, m, k, &w.bits, n, &mut out);
        } else if m >= GEMM_MIN_ROWS {
            gemm_bf16(&xs, m, k, &w.bits, n, &mut out);
        } else if m == 1 {
            gemv_bf16(&xs, &w.bits, n, &mut out);
        } else {
            gemv_bf16_rows(&xs, m, k, &w.bits, n, &mut out);
        }
        Ok(self.inference_output(n, out))
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::to_f32;

    /// Values in a block of 32.
    const BLOCK: usize = 32;

    /// `x` with each whole block of [`BLOCK`] values reordered as its 16 even-indexed values
    /// then its 16 odd-indexed ones, the order in which `dot_rows` widens a block of weights;
    /// a last partial block is left out (`dot_rows` takes it from `x`).
    pub(super) fn pair_order(x: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(x.len() / BLOCK * BLOCK);
        for block in x.chunks_exact(BLOCK) {
            out.extend(block.iter().step_by(2));
            out.extend(block.iter().skip(1).step_by(2));
        }
        out
    }

    /// `out[j] = x · w[j, :]`, w row-major `[out.len(), x.len()]`, with `xp` = `pair_order(x)`.
    /// Four rows at a time share each load of `xp`; one 64-byte load gives 32 weights, whose
    /// even-indexed values widen to f32 by a shift and odd-indexed ones by a mask (a bf16 is
    /// the upper half of its f32), so a weight costs a third of the instructions of widening
    /// 16 at a time, and the kernel keeps up with memory on two threads. Each row's stream
    /// prefetches the same place in the next group of four rows, which the hardware
    /// prefetcher (one 4 KiB page at a time) does not reach early enough.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn dot_rows(x: &[f32], xp: &[f32], w: &[u16], out: &mut [f32]) {
        let k = x.len();
        let kk = xp.len();
        let tail = |row: &[u16]| -> f32 { x[kk..].iter().zip(&row[kk..]).map(|(&a, &b)| a * to_f32(b)).sum() };
        let high = _mm512_set1_epi32(0xffff_0000_u32 as i32);
        let end = w.as_ptr_range().end;
        for (j0, outs) in (0..out.len()).step_by(4).zip(out.chunks_mut(4)) {
            let live = outs.len();
            // a short last group repeats its last row instead of reading past the matrix
            let rows: [&[u16]; 4] = std::array::from_fn(|c| &w[(j0 + c.min(live - 1)) * k..(j0 + c.min(live - 1) + 1) * k]);
            let mut even = [_mm512_setzero_ps(); 4];
            let mut odd = [_mm512_setzero_ps(); 4];
            let mut p = 0;
            // SAFETY: p + 32 ≤ kk ≤ k inside every row and xp; prefetches do not fault.
            unsafe {
                while p < kk {
                    let xe = _mm512_loadu_ps(xp.as_ptr().add(p));
                    let xo = _mm512_loadu_ps(xp.as_ptr().add(p + 16));
                    for c in 0..4 {
                        let at = rows[c].as_ptr().add(p);
                        let ahead = at.wrapping_add(4 * k);
                        if ahead < end {
                            _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
                        }
                        let v = _mm512_loadu_si512(at.cast());
                        even[c] = _mm512_fmadd_ps(xe, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)), even[c]);
                        odd[c] = _mm512_fmadd_ps(xo, _mm512_castsi512_ps(_mm512_and_si512(v, high)), odd[c]);
                    }
                    p += BLOCK;
                }
            }
            for c in 0..live {
                outs[c] = _mm512_reduce_add_ps(_mm512_add_ps(even[c], odd[c])) + tail(rows[c]);
            }
        }
    }

    /// `out[i · ldo + j] = xs[i] · w[j, :]` for `X` inputs (`xps[i]` = `pair_order(xs[i])`) and
    /// every row `j` of `w` (row-major, `k` = `xs[i].len()` values a row): two weight rows at a
    /// time, each 64-byte load of a row widened once (as `dot_rows` widens it) for all `X`
    /// inputs. Every (input, row) keeps `dot_rows`' even and odd sums and adds them as it
    /// does, so the bits are those of `dot_rows`. Each row's stream prefetches the place four
    /// rows on.
    ///
    /// # Safety
    /// `w` holds whole rows of `k` values; `out` has room for `X` rows of stride `ldo` with
    /// `w.len() / k` values each, which nothing else reads or writes meanwhile; AVX-512 F present.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn dot_rows_inputs<const X: usize>(
        xs: [&[f32]; X],
        xps: [&[f32]; X],
        w: &[u16],
        out: *mut f32,
        ldo: usize,
    ) {
        let k = xs[0].len();
        let kk = xps[0].len();
        let tail =
            |x: &[f32], row: &[u16]| -> f32 { x[kk..].iter().zip(&row[kk..]).map(|(&a, &b)| a * to_f32(b)).sum() };
        let high = _mm512_set1_epi32(0xffff_0000_u32 as i32);
        let end = w.as_ptr_range().end;
        let n = w.len() / k.max(1);
        for j0 in (0..n).step_by(2) {
            let live = (n - j0).min(2);
            // a short last pair repeats its row instead of reading past the matrix
            let row = |c: usize| j0 + c.min(live - 1);
            let rows: [&[u16]; 2] = std::array::from_fn(|c| &w[row(c) * k..(row(c) + 1) * k]);
            // [input][row]
            let mut even = [[_mm512_setzero_ps(); 2]; X];
            let mut odd = [[_mm512_setzero_ps(); 2]; X];
            let mut p = 0;
            // SAFETY: p + 32 ≤ kk ≤ k inside every row and every xps[i]; prefetches do not fault.
            unsafe {
                while p < kk {
                    let mut we = [_mm512_setzero_ps(); 2];
                    let mut wo = [_mm512_setzero_ps(); 2];
                    for c in 0..2 {
                        let at = rows[c].as_ptr().add(p);
                        let ahead = at.wrapping_add(4 * k);
                        if ahead < end {
                            _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
                        }
                        let v = _mm512_loadu_si512(at.cast());
                        we[c] = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
                        wo[c] = _mm512_castsi512_ps(_mm512_and_si512(v, high));
                    }
                    for i in 0..X {
                        let xe = _mm512_loadu_ps(xps[i].as_ptr().add(p));
                        let xo = _mm512_loadu_ps(xps[i].as_ptr().add(p + 16));
                        for c in 0..2 {
                            even[i][c] = _mm512_fmadd_ps(xe, we[c], even[i][c]);
                            odd[i][c] = _mm512_fmadd_ps(xo, wo[c], odd[i][c]);
                        }
                    }
                    p += BLOCK;
                }
                for i in 0..X {
                    for c in 0..live {
                        let sum = _mm512_reduce_add_ps(_mm512_add_ps(even[i][c], odd[i][c])) + tail(xs[i], rows[c]);
                        *out.add(i * ldo + j0 + c) = sum;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;

    #[test]
    fn products_agree_with_the_widened_f32_matrix() {
        let mut rng = Rng::new(5);
        let shapes = [
            (1, 37, 9),
            (1, 64, 300),
            (1, 100, 13),
            (2, 960, 70),
            (3, 40, 17),
            (4, 256, 1023),
            (5, 33, 260),
            (7, 96, 3),
            (9, 64, 40),
            (40, 96, 513),
        ];
        for (m, k, n) in shapes {
            let w = Bf16Matrix::from_tensor(&Tensor::randn(&[n, k], 0.0, 1.0, &mut rng)).unwrap();
            let x = Tensor::randn(&[m, k], 0.0, 1.0, &mut rng);
            // the native kernel rounds the activations of matrix products to bf16 too
            let xr = if goes_native(m) || goes_amx(m, k, n) { Bf16Matrix::from_tensor(&x).unwrap().to_tensor() } else { x.clone() };
            let want = xr.matmul(&w.to_tensor().transpose(0, 1).unwrap()).unwrap().to_vec();
            let got = x.matmul_bf16(&w).unwrap().to_vec();
            let worst = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(worst < 1e-4, "m {m} k {k} n {n}: max difference {worst}");
        }
    }

    #[test]
    fn a_row_of_a_few_has_the_bits_it_has_alone() {
        let mut rng = Rng::new(9);
        for (m, k, n) in [(2, 96, 33), (3, 40, 17), (4, 512, 1023), (7, 130, 64), (15, 70, 20)] {
            let w = Bf16Matrix::from_tensor(&Tensor::randn(&[n, k], 0.0, 1.0, &mut rng)).unwrap();
            let x = Tensor::randn(&[m, k], 0.0, 1.0, &mut rng);
            let together = x.matmul_bf16(&w).unwrap().to_vec();
            for (r, row) in x.to_vec().chunks_exact(k).enumerate() {
                let alone = Tensor::from_vec(row.to_vec(), &[1, k]).unwrap().matmul_bf16(&w).unwrap().to_vec();
                assert_eq!(&together[r * n..(r + 1) * n], alone.as_slice(), "m {m} k {k} n {n}: row {r}");
            }
        }
    }

    #[test]
    fn an_input_that_tracks_gradients_is_refused() {
        let w = Bf16Matrix::from_tensor(&Tensor::ones(&[3, 2])).unwrap();
        let x = Tensor::ones(&[1, 2]).to_var();
        let err = x.matmul_bf16(&w).unwrap_err().to_string();
        assert!(err.contains("matmul_bf16") && err.contains("no backward"), "{err}");
        let _g = crate::no_grad();
        assert_eq!(x.matmul_bf16(&w).unwrap().to_vec(), vec![2.0; 3]);
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        assert_eq!(to_f32(to_bf16(1.0 + 1.0 / 256.0)), 1.0); // halfway, rounds to even
        assert_eq!(to_f32(to_bf16(1.0 + 3.0 / 256.0)), 1.0 + 4.0 / 256.0);
        assert!(to_f32(to_bf16(f32::NAN)).is_nan());
    }
}
