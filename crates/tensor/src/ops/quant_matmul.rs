//! Products with a [`QuantMatrix`] weight: y = x·Wᵀ with W `[out, in]`.
//!
//! A product of fewer than [`GEMM_MIN_ROWS`] input rows (decoding, small batches: bound by
//! memory bandwidth) reads the packed weights once per few rows, split over two threads
//! (`fork`) by weight rows, or by input rows for a batch; so does a product of fewer than
//! [`VNNI_MAX_ROWS`] rows where AMX does not run. By default ([`QuantActivations::Int8`]) each
//! input row is quantized to int8 in blocks with a scale each (lanes of 256-value spans for
//! int8 weights, groups of 32 for 4-bit ones: `quant_input`) and multiplied as integers
//! ([`matmul_q8`]: AVX-512 VNNI kernels, or portable loops with the same arithmetic). With
//! [`QuantActivations::F32`] (or on an AVX-512 CPU without VNNI) each weight is widened to f32
//! against the exact input instead (the AVX-512 kernels below, or a portable loop): int8
//! weights once per four input rows, below 16 rows; 4-bit ones once per row, below four rows.
//!
//! On a CPU with AMX, products of 16 rows or more go to `amx_int8` (int8 weights) and `amx_q4`
//! (4-bit weights, widened to bf16 a pair of column groups at a time, never held widened).
//! Elsewhere larger products (a prompt, a batch of sentences) widen blocks of weight rows to
//! f32 and multiply them with the gemm crate against the exact f32 activations: they are bound
//! by the gemm's arithmetic, not by reading the weights, and int8 activations would only add
//! error (MiniLM's int8 embeddings fell from cosine ≥ 0.995 to 0.9948 of f32 with them). bf16
//! weights go through [`Tensor::matmul_bf16`].

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use gemm::Parallelism;

use crate::fork::for_each_part;
use crate::error::Result;
use crate::kernel::{KernelPath, kernel_path, standard};
use crate::ops::quant_input::{QuantActivations, quant_activations};
use crate::ops::quant_matrix::{
    Packed, Q4_BLOCK_BYTES, Q4_BLOCK_GROUPS, Q4_GROUP, QuantFormat, QuantMatrix, f16_at, groups,
};
use crate::ops::quant_q8::{matmul_q8, split_product};
use crate::ops::vnni::vnni_available;
use crate::send_ptr::SendPtr;
use crate::tensor::Tensor;

/// Weight rows widened together for one gemm call of a matrix product.
const BLOCK_ROWS: usize = 128;
/// Input rows from which a product may go to AMX (where it runs) or to widened blocks and gemm
/// (past [`VNNI_MAX_ROWS`] with int8 activations); fewer rows (decoding, small batches) take the
/// vector kernels, every weight read once per four input rows (eight for int8 weights on VNNI).
pub const GEMM_MIN_ROWS: usize = 16;
/// Input rows below which int8 and 4-bit weights stay on the vector kernels with int8
/// activations (past [`GEMM_MIN_ROWS`]) where AMX does not run (`amx_int8` and `amx_q4` take
/// them from 16 rows where it does). Widening them to f32 for the gemm crate made batched
/// decoding of GPT-2 124M at 32 rows about half as fast: 198 against 437 tokens/s in q4,
/// 178–201 against 349–369 in int8 (on an AVX-512 VNNI Xeon without AMX).
pub const VNNI_MAX_ROWS: usize = 64;
/// [`GEMM_MIN_ROWS`] with f32 activations and 4-bit weights, whose vector kernel reads the
/// weights once per row (int8 ones, read once per four rows, keep [`GEMM_MIN_ROWS`]).
const Q4_F32_GEMM_MIN_ROWS: usize = 4;

/// Vector products computed by the wide (AVX-512, with VNNI for int8 activations) and by the
/// portable kernels (a product split over
/// threads counts once per part).
pub(crate) static CALLS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// How many quantized vector products ran on the wide and on the portable kernels, for tests
/// that check which path ran.
pub fn quant_gemv_calls() -> (u64, u64) {
    (CALLS[0].load(Ordering::Relaxed), CALLS[1].load(Ordering::Relaxed))
}

/// One input vector prepared for a 4-bit product with f32 activations: zero-padded to whole groups, with the sum of
/// each group (the minimum's term: Σ (min + s·q)·x = min·Σx + s·Σ q·x).
struct Q4F32Input {
    /// `groups × 32` values.
    x: Vec<f32>,
    /// One sum per group.
    sums: Vec<f32>,
}

impl Q4F32Input {
    fn new(x: &[f32]) -> Q4F32Input {
        let g = groups(x.len());
        let mut padded = vec![0.0f32; g * Q4_GROUP];
        padded[..x.len()].copy_from_slice(x);
        let sums = padded.chunks_exact(Q4_GROUP).map(|c| c.iter().sum()).collect();
        Q4F32Input { x: padded, sums }
    }
}

/// `out[r, j] = x[r] · w[j0 + j, :]` for the rows of `x` (`[m, k]`) and a packed int8 matrix
/// against f32 activations, on the path [`kernel_path`] chose; `out` is `[m, len]`.
fn int8_rows(x: &[f32], k: usize, p: &Packed, j0: usize, len: usize, out: &mut [f32]) {
    let q = &p.q[j0 * k..(j0 + len) * k];
    let scales = &p.scales[j0..j0 + len];
    #[cfg(target_arch = "x86_64")]
    if kernel_path() == KernelPath::Wide {
        for (xb, ob) in x.chunks(4 * k).zip(out.chunks_mut(4 * len)) {
            // SAFETY: q holds len rows of k values, xb whole rows of k values and ob as many rows
            // of len outputs; the wide path implies AVX-512 F and BW.
            unsafe {
                match xb.len() / k {
                    1 => x86::int8_rows::<1>(xb, q, scales, ob),
                    2 => x86::int8_rows::<2>(xb, q, scales, ob),
                    3 => x86::int8_rows::<3>(xb, q, scales, ob),
                    _ => x86::int8_rows::<4>(xb, q, scales, ob),
                }
            }
        }
        CALLS[0].fetch_add(1, Ordering::Relaxed);
        return;
    }
    CALLS[1].fetch_add(1, Ordering::Relaxed);
    for (x, out) in x.chunks_exact(k).zip(out.chunks_exact_mut(len)) {
        for ((o, row), &s) in out.iter_mut().zip(q.chunks_exact(k.max(1))).zip(scales) {
            let mut acc = [0.0f32; 8];
            let (xc, rc) = (x.chunks_exact(8), row.chunks_exact(8));
            let tail: f32 = xc.remainder().iter().zip(rc.remainder()).map(|(&a, &b)| a * f32::from(b as i8)).sum();
            for (xa, ra) in xc.zip(rc) {
                for i in 0..8 {
                    acc[i] += xa[i] * f32::from(ra[i] as i8);
                }
            }
            *o = s * (acc.iter().sum::<f32>() + tail);
        }
    }
}

/// `out[j] = x · w[j0 + j, :]` for a packed 4-bit matrix against f32 activations, on the path [`kernel_path`] chose.
fn q4_rows(x: &Q4F32Input, p: &Packed, j0: usize, out: &mut [f32]) {
    let row_bytes = x.sums.len().div_ceil(Q4_BLOCK_GROUPS) * Q4_BLOCK_BYTES;
    let blocks = &p.q[j0 * row_bytes..(j0 + out.len()) * row_bytes];
    #[cfg(target_arch = "x86_64")]
    if kernel_path() == KernelPath::Wide {
        // SAFETY: blocks holds out.len() whole rows for x's groups; x.x holds groups × 32
        // values; the wide path implies AVX-512 F and BW.
        unsafe { x86::q4_rows(&x.x, &x.sums, blocks, out) };
        CALLS[0].fetch_add(1, Ordering::Relaxed);
        return;
    }
    CALLS[1].fetch_add(1, Ordering::Relaxed);
    for (o, row) in out.iter_mut().zip(blocks.chunks_exact(row_bytes)) {
        let mut total = 0.0f32;
        for (gi, xs) in x.x.chunks_exact(Q4_GROUP).enumerate() {
            let (block, slot) = (&row[gi / 4 * Q4_BLOCK_BYTES..], gi % 4);
            let bytes = &block[16 + 16 * slot..32 + 16 * slot];
            let mut dot = [0.0f32; 16];
            for i in 0..16 {
                dot[i] = xs[i] * f32::from(bytes[i] & 15) + xs[i + 16] * f32::from(bytes[i] >> 4);
            }
            total += f16_at(block, 2 * slot) * dot.iter().sum::<f32>() + f16_at(block, 8 + 2 * slot) * x.sums[gi];
        }
        *o = total;
    }
}

/// Whether products of a few rows use int8 activations: asked for, and either the portable
/// path or a CPU with VNNI (an AVX-512 CPU without it keeps its f32 kernels, faster than the
/// portable loops).
fn int8_activations() -> bool {
    quant_activations() == QuantActivations::Int8 && (kernel_path() == KernelPath::Portable || vnni_available())
}

/// `y[r, j] = x[r] · w[j, :]` for the `m` rows of `x` and every row of `w` with f32
/// activations, split over threads by output; int8 weights are read once per four rows of `x`,
/// 4-bit ones once per row.
fn gemv_quant(x: &[f32], m: usize, w: &QuantMatrix, p: &Packed, y: &mut [f32]) {
    let (k, n) = (w.cols, w.rows);
    // Some: the inputs with their group sums, for 4-bit weights
    let q4: Option<Vec<Q4F32Input>> =
        (w.format == QuantFormat::Q4).then(|| x.chunks_exact(k).map(Q4F32Input::new).collect());
    // out: [rows, len], the outputs of weight rows j0..j0 + len for those input rows
    let part = |rows: Range<usize>, j0: usize, len: usize, out: &mut [f32]| match &q4 {
        None => int8_rows(&x[rows.start * k..rows.end * k], k, p, j0, len, out),
        Some(q4) => {
            for (xq, o) in q4[rows].iter().zip(out.chunks_exact_mut(len)) {
                q4_rows(xq, p, j0, o);
            }
        }
    };
    split_product(m, k, n, y, part);
}

/// `out[m, n] = x[m, k] · w[n, k]ᵀ`: blocks of [`BLOCK_ROWS`] weight rows widened to f32 and
/// multiplied by the gemm crate, the blocks split over threads.
fn gemm_quant(x: &[f32], m: usize, k: usize, w: &QuantMatrix, out: &mut [f32]) {
    let n = w.rows;
    let po = SendPtr(out.as_mut_ptr());
    for_each_part(n.div_ceil(BLOCK_ROWS), |blk| {
        let j0 = blk * BLOCK_ROWS;
        let cols = BLOCK_ROWS.min(n - j0);
        // block: [cols, k], row-major f32
        let mut block = vec![0.0f32; cols * k];
        w.dequantize_rows(j0, &mut block);
        // SAFETY: x is [m, k] and block [cols, k] row-major; the block writes columns
        // j0..j0+cols of every output row, which no other block writes.
        unsafe {
            gemm::gemm(
                m,
                cols,
                k,
                po.get().add(j0),
                1,
                n as isize,
                false,
                x.as_ptr(),
                1,
                k as isize,
                block.as_ptr(),
                k as isize,
                1,
                0.0,
                1.0,
                false,
                false,
                false,
                Parallelism::None,
            );
        }
    });
}

/// A product with a 4-bit weight on AMX (`amx_q4`) where it serves; `false` elsewhere.
fn q4_on_amx(x: &[f32], m: usize, k: usize, w: &QuantMatrix, out: &mut [f32]) -> bool {
    #[cfg(target_arch = "x86_64")]
    return super::amx_q4::try_gemm(x, m, k, w, out);
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (x, m, k, w, out);
        false
    }
}

impl Tensor {
    /// `self (…, k) · wᵀ` for a quantized weight `w` `[n, k]`: → `(…, n)`. Inference only: an
    /// input that tracks gradients is an error (there is no backward).
    pub fn matmul_quant(&self, w: &QuantMatrix) -> Result<Tensor> {
        self.cpu_only("matmul_quant")?;
        let k = self.inference_input("matmul_quant", w.rows, w.cols, || {
            format!("a {} weight has no backward: train with f32 weights (or run under no_grad)", w.format)
        })?;
        let (Some(p), None) = (&w.packed, &w.bf16) else {
            let bf16 = w.bf16.as_ref().expect("a QuantMatrix holds bf16 or packed values");
            return self.matmul_bf16(bf16);
        };
        let (n, m) = (w.rows, self.elem_count() / k.max(1));
        let x = self.arr();
        let xs = standard(x.view());
        let mut out = vec![0.0f32; m * n];
        if k > 0 && n > 0 && m > 0 && !q4_on_amx(&xs, m, k, w, &mut out) {
            let int8 = int8_activations();
            let f32_gemm_min = if w.format == QuantFormat::Q4 { Q4_F32_GEMM_MIN_ROWS } else { GEMM_MIN_ROWS };
            if int8 && m < GEMM_MIN_ROWS {
                matmul_q8(&xs, m, k, w, p, &mut out);
            } else if m >= GEMM_MIN_ROWS && super::amx_int8::try_gemm(&xs, m, k, w, &mut out) {
                // int8 weights on AMX (ops/amx_int8.rs): 16 rows or more, AMX on
            } else if int8 && m < VNNI_MAX_ROWS {
                matmul_q8(&xs, m, k, w, p, &mut out);
            } else if m >= f32_gemm_min {
                gemm_quant(&xs, m, k, w, &mut out);
            } else {
                gemv_quant(&xs, m, w, p, &mut out);
            }
        }
        Ok(self.inference_output(n, out))
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use crate::ops::quant_matrix::{Q4_BLOCK_BYTES, f16_at};

    /// Sixteen int8 values at `p` widened to f32.
    #[inline(always)]
    unsafe fn load_i8(p: *const u8) -> __m512 {
        // SAFETY: the caller guarantees 16 bytes at p.
        unsafe { _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(p.cast()))) }
    }

    /// `out[r, j] = scale[j] · (x[r] · q[j, :])` for the `N` rows of `xs` (`[N, k]`), q row-major
    /// int8 `[scales.len(), k]`, four weight rows at a time sharing each load of the inputs, and
    /// each widened weight shared by the `N` inputs; `out` is `[N, scales.len()]`.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn int8_rows<const N: usize>(xs: &[f32], q: &[u8], scales: &[f32], out: &mut [f32]) {
        let n = scales.len();
        let k = xs.len() / N;
        let kk = k / 16 * 16;
        let tail = |r: usize, row: &[u8]| -> f32 {
            xs[r * k + kk..(r + 1) * k].iter().zip(&row[kk..]).map(|(&a, &b)| a * f32::from(b as i8)).sum()
        };
        for j0 in (0..n).step_by(4) {
            let live = 4.min(n - j0);
            // a short last group repeats its last row instead of reading past the matrix
            let rows: [&[u8]; 4] =
                std::array::from_fn(|c| &q[(j0 + c.min(live - 1)) * k..(j0 + c.min(live - 1) + 1) * k]);
            let mut acc = [[_mm512_setzero_ps(); N]; 4];
            let mut i = 0;
            // SAFETY: i + 16 ≤ kk ≤ k inside every row of q and of xs.
            unsafe {
                while i < kk {
                    let wv: [__m512; 4] = std::array::from_fn(|c| load_i8(rows[c].as_ptr().add(i)));
                    for r in 0..N {
                        let xv = _mm512_loadu_ps(xs.as_ptr().add(r * k + i));
                        for (a, &w) in acc.iter_mut().zip(&wv) {
                            a[r] = _mm512_fmadd_ps(xv, w, a[r]);
                        }
                    }
                    i += 16;
                }
            }
            for c in 0..live {
                for r in 0..N {
                    out[r * n + j0 + c] = scales[j0 + c] * (_mm512_reduce_add_ps(acc[c][r]) + tail(r, rows[c]));
                }
            }
        }
    }

    /// `out[j] = Σ_g scale[j,g] · (x_g · q[j,g]) + min[j,g] · Σ x_g` for 4-bit blocks
    /// (`blocks`: whole rows of [`Q4_BLOCK_BYTES`]-byte blocks of four groups, `sums.len()`
    /// groups a row), two rows at a time sharing each load of `x`.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn q4_rows(x: &[f32], sums: &[f32], blocks: &[u8], out: &mut [f32]) {
        let g = sums.len();
        let row_bytes = g.div_ceil(4) * Q4_BLOCK_BYTES;
        let low = _mm512_set1_epi32(15);
        for (j0, outs) in (0..out.len()).step_by(2).zip(out.chunks_mut(2)) {
            let live = outs.len();
            let rows: [&[u8]; 2] = std::array::from_fn(|c| &blocks[(j0 + c.min(live - 1)) * row_bytes..]);
            let mut acc = [_mm512_setzero_ps(); 2];
            let mut min_terms = [0.0f32; 2];
            for (gi, &sum) in sums.iter().enumerate() {
                let (at, slot) = (gi / 4 * Q4_BLOCK_BYTES, gi % 4);
                // SAFETY: group gi of x holds 32 values; block gi / 4 of each row 80 bytes.
                unsafe {
                    let x_lo = _mm512_loadu_ps(x.as_ptr().add(gi * 32));
                    let x_hi = _mm512_loadu_ps(x.as_ptr().add(gi * 32 + 16));
                    for c in 0..2 {
                        let block = &rows[c][at..at + Q4_BLOCK_BYTES];
                        let b = _mm512_cvtepu8_epi32(_mm_loadu_si128(block.as_ptr().add(16 + 16 * slot).cast()));
                        let q_lo = _mm512_cvtepi32_ps(_mm512_and_si512(b, low));
                        let q_hi = _mm512_cvtepi32_ps(_mm512_srli_epi32(b, 4));
                        let dot = _mm512_fmadd_ps(x_hi, q_hi, _mm512_mul_ps(x_lo, q_lo));
                        acc[c] = _mm512_fmadd_ps(dot, _mm512_set1_ps(f16_at(block, 2 * slot)), acc[c]);
                        min_terms[c] += f16_at(block, 8 + 2 * slot) * sum;
                    }
                }
            }
            for c in 0..live {
                outs[c] = _mm512_reduce_add_ps(acc[c]) + min_terms[c];
            }
        }
    }
}
