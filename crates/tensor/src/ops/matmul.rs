//! Matrix products with batch dimensions and broadcasting, on the `gemm` crate (runtime
//! dispatch to AVX-512/AVX2 kernels, rayon threads). Strided views (transposes) are passed to
//! the kernel as they are, with one exception: a large product by a transposed weight whose
//! rows are a multiple of 1 KB apart goes to `transposed_rhs`, which transposes it a block at
//! a time. Vector × matrix products (`m = 1`, decoding) go to the bandwidth-bound kernels of
//! `gemv`, products of a few rows (batched decoding, beam search) to those of `skinny`, small
//! ones (attention's heads) to `small_gemm`, products of many rows by a right operand that fits
//! in L2 (a layer over a training batch) to `row_blocks`. With
//! `LOAM_AMX_F32=1` (or `amx_f32_products(true)`) the products of 16 rows or more that those
//! do not take, batched ones included, go to AMX with the exact bf16 split of `amx_f32`
//! instead of the gemm crate (off by default: slower where measured).

use gemm::Parallelism;
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};

#[cfg(target_arch = "x86_64")]
use super::amx_f32;
use super::gemv::gemv;
use super::row_blocks;
use super::skinny::skinny;
use super::small_gemm;
use super::transposed_rhs;
use crate::backprop::BackwardOp;
use crate::fork::for_each_part;
use crate::error::{Result, TensorError};
use crate::kernel::{PAR_MIN, standard, wide};
use crate::send_ptr::SendPtr;
use crate::shape::{broadcast_shapes, sum_to_shape};
use crate::tensor::{Array, Tensor};

/// Below this many multiply-adds a product runs on one thread (threads cost more than they give).
const PAR_MIN_MACS: usize = 1 << 18;

/// Offset (in elements) of batch element `b` of a view whose leading `batch.len()` axes have
/// the given strides.
fn batch_offset(mut b: usize, batch: &[usize], strides: &[isize]) -> isize {
    let mut off = 0;
    for (d, s) in batch.iter().zip(strides).rev() {
        off += (b % d) as isize * s;
        b /= d;
    }
    off
}

/// A right operand of this many elements (1 MiB, the size of an L2 cache) or more is taken in
/// column blocks.
const LARGE_RHS: usize = 1 << 18;
/// Width of a column block (the last one of a product may be narrower).
const BLOCK_COLUMNS: usize = 256;

/// The number of column blocks an `m × k` by `k × n` product is computed in on `threads`
/// threads, one one-thread gemm call per block; `None` when it goes to the gemm crate whole.
///
/// With a large right operand the gemm crate runs faster on slices of 256 columns than on the
/// whole (why is not pinned down: the crate sizes its blocks from the cache sizes the CPU
/// reports, and this machine shares its L3 with other tenants), and on several threads each
/// thread then packs only its own slices instead of joining the crate's threading, which forks
/// inside its cache blocks. Measured on this machine in alternating blocks of calls (so that
/// both sides see the same phase of the machine), speed against the whole product: two
/// threads, n = 512 1.01×, n = 1024 1.05–1.08×, n = 2048 1.18–1.22×, `[1024, 768] × [768,
/// 3072]` 1.10–1.13× (blocks of 512 columns: 1.00–1.18×); one thread, n = 2048 1.05–1.09×,
/// `[1024, 768] × [768, 3072]` 1.02–1.26×, n = 512–1024 within the noise (0.87–1.07×).
/// Against MKL (`cargo xtask bench gemm-pairwise`): two threads n = 1024 0.80–0.89× →
/// 0.91–0.96×, n = 2048 0.75–0.79× → 0.91–0.94×; one thread n = 2048 0.73–0.81× → 0.89–0.91×.
/// Vector × matrix and skinny products have their own kernels; with fewer blocks than threads
/// the product is split by rows (one one-thread gemm call per thread), or, with too few rows,
/// left to the crate's threading.
///
/// The block count is rounded up to a multiple of the thread count and the columns shared out
/// by whole 64-column panels, so that the threads get equal work: 320 columns were one block of
/// 256 and one of 64 (one thread idle three quarters of the time), and are now 192 + 128.
/// Alternating in one process, 12 products over distinct weights a block of calls, medians of
/// 11 rounds: `[m, 960] × [960, 320]` 1.19–1.41× at 256 rows (three runs), 1.30–1.31× at 128,
/// 1.00–1.34× at 64; `[512, 1536] × [1536, 384]` (MiniLM) 1.28×; `[256, 768] × [768, 768]`
/// (3 blocks before, 4 of 192 now) 1.12×. Where the blocks already came out even (n = 960,
/// 2304, 2560) the split is the same as before. Blocks of 240 columns for n = 960 (an even
/// split, not by panels) ran at 0.92–0.97×: a partial panel in every block costs more than it
/// balances.
fn column_blocks(m: usize, n: usize, k: usize, threads: usize) -> Option<usize> {
    let blocks = n.div_ceil(BLOCK_COLUMNS);
    (m > 1 && k * n >= LARGE_RHS && blocks >= threads.max(2))
        .then(|| blocks.next_multiple_of(threads.max(1)).min(n.div_ceil(PANEL)))
}

/// The gemm crate's panel width for f32 on AVX-512 (four vectors): column blocks are whole
/// panels, so that no block ends in a partial one but the last.
const PANEL: usize = 64;

/// Column block `p` of `blocks` of a product with `n` columns: (start, width). The panels are
/// shared out as evenly as they go, the first blocks one panel wider when they do not divide.
fn column_block(n: usize, blocks: usize, p: usize) -> (usize, usize) {
    let (q0, count) = row_part(n.div_ceil(PANEL), blocks, p);
    let start = q0 * PANEL;
    (start, (count * PANEL).min(n - start))
}

/// The fewest rows a thread's part of a product split by rows has.
const MIN_PART_ROWS: usize = 16;

/// Part `p` of `parts` of `m` rows: (start, rows), the first parts one row longer when the
/// rows do not divide evenly.
pub(super) fn row_part(m: usize, parts: usize, p: usize) -> (usize, usize) {
    let (base, extra) = (m / parts, m % parts);
    (p * base + p.min(extra), base + usize::from(p < extra))
}

/// `a @ b` where a: (…, m, k) and b: (…, k, n) already broadcast to the same batch shape;
/// returns (…, m, n), row-major.
fn batched_gemm(a: ArrayViewD<'_, f32>, b: ArrayViewD<'_, f32>) -> ArrayD<f32> {
    let r = a.ndim();
    let (m, k, n) = (a.shape()[r - 2], a.shape()[r - 1], b.shape()[r - 1]);
    let batch = a.shape()[..r - 2].to_vec();
    let nb: usize = batch.iter().product();
    let mut out_shape = batch.clone();
    out_shape.extend([m, n]);
    if m == 0 || n == 0 || k == 0 || nb == 0 {
        return ArrayD::<f32>::zeros(IxDyn(&out_shape));
    }
    // every element is written by the kernel (read_dst = false), so no zero fill
    let mut out = ArrayD::<f32>::uninit(IxDyn(&out_shape));
    let (sa, sb) = (a.strides(), b.strides());
    let (a_rs, a_cs, b_rs, b_cs) = (sa[r - 2], sa[r - 1], sb[r - 2], sb[r - 1]);
    let (pa, pb) = (SendPtr(a.as_ptr() as *mut f32), SendPtr(b.as_ptr() as *mut f32));
    let po = SendPtr(out.as_mut_ptr().cast::<f32>());
    // batch element `i`'s left operand, right operand and output matrix: offsets computed from
    // the views' own shapes and strides, so inside them, and inside `out`
    let operands = |i: usize| {
        let (pa, pb, po) = (pa, pb, po);
        let x = pa.get().wrapping_offset(batch_offset(i, &batch, sa));
        (x, pb.get().wrapping_offset(batch_offset(i, &batch, sb)), po.at(i * m * n))
    };
    // batch element `i`'s whole output by a streaming kernel (threaded by column inside),
    // when one serves this shape and layout
    let streamed = |i: usize| {
        let (x, w, y) = operands(i);
        // SAFETY: the operands are inside the views, the views outlive this call, and each call
        // writes only its own output matrix.
        unsafe {
            (a_cs == 1 || k == 1) && if m == 1 { gemv(k, n, x, w, b_rs, b_cs, y) } else { skinny(m, k, n, x, a_rs, w, b_rs, b_cs, y, n) }
        }
    };
    // rows i0..i0+rows, columns j0..j0+cols of batch element `i`'s output by the general GEMM
    let block = |i: usize, (i0, rows): (usize, usize), (j0, cols): (usize, usize), par: Parallelism| {
        let (x, w, y) = operands(i);
        // SAFETY: as `streamed`; each call writes only its own block of the output.
        unsafe {
            let (x, w, y) = (x.offset(i0 as isize * a_rs), w.offset(j0 as isize * b_cs), y.add(i0 * n + j0));
            gemm::gemm(rows, cols, k, y, 1, n as isize, false, x, a_cs, a_rs, w, b_cs, b_rs, 0.0, 1.0, false, false, false, par)
        }
    };
    // batch element i's whole output; true when the small-product kernel computed it
    let small = small_gemm::serves(m, k, n);
    let whole = |i: usize, par: Parallelism| {
        if streamed(i) {
            return false;
        }
        if small {
            let (x, w, y) = operands(i);
            // SAFETY: as `streamed`; the call writes only batch element i's output matrix.
            unsafe { small_gemm::product(m, k, n, x, a_rs, a_cs, w, b_rs, b_cs, y, n) }
            true
        } else {
            block(i, (0, m), (0, n), par);
            false
        }
    };
    // elements `range`, counting those the small-product kernel computed
    let run = |range: std::ops::Range<usize>, par: Parallelism| {
        small_gemm::count_calls(range.filter(|&i| whole(i, par)).count())
    };
    #[cfg(target_arch = "x86_64")]
    if amx_f32::use_amx_f32(m) {
        // batch elements one after the other, each split over the threads inside; the
        // streaming kernels keep the products they serve (up to 48 rows)
        for i in (0..nb).filter(|&i| !streamed(i)) {
            let (x, w, y) = operands(i);
            // SAFETY: as `streamed`; each call writes only its own output matrix.
            unsafe { amx_f32::gemm(m, k, n, x, a_rs, a_cs, w, b_rs, b_cs, y, n) }
        }
        // SAFETY: AMX wrote all nb·m·n elements above.
        return unsafe { out.assume_init() };
    }
    let macs = m * n * k;
    if macs >= PAR_MIN_MACS && (nb == 1 || macs >= 4 * PAR_MIN_MACS) {
        let threads = rayon::current_num_threads();
        for i in 0..nb {
            if streamed(i) {
                continue;
            }
            if row_blocks::serves(m, k, n, a_cs, b_cs) {
                let (x, w, y) = operands(i);
                // SAFETY: as `streamed`; the product writes only batch element i's output.
                unsafe { row_blocks::product(m, k, n, x, a_rs, w, b_rs, y, n) };
                continue;
            }
            match column_blocks(m, n, k, threads) {
                Some(blocks) if transposed_rhs::serves(m, b_rs, b_cs) => {
                    for_each_part(blocks, |p| {
                        let (x, w, y) = operands(i);
                        let cols = column_block(n, blocks, p);
                        // SAFETY: as `streamed`; each part writes only its own columns.
                        unsafe { transposed_rhs::column_block(m, k, x, a_rs, a_cs, w, b_cs, y, n, cols) }
                    });
                    transposed_rhs::count_call();
                }
                Some(blocks) => {
                    for_each_part(blocks, |p| block(i, (0, m), column_block(n, blocks, p), Parallelism::None))
                }
                None if m >= threads * MIN_PART_ROWS => for_each_part(threads, |p| block(i, row_part(m, threads, p), (0, n), Parallelism::None)),
                None => run(i..i + 1, Parallelism::Rayon(0)),
            }
        }
    } else if nb > 1 && nb * macs >= PAR_MIN_MACS {
        // runs of elements per part: a handoff per element (an atomic both threads contend
        // for) cost about 5% on a batch of attention heads
        let parts = nb.min(4 * rayon::current_num_threads());
        for_each_part(parts, |p| {
            let (i0, len) = row_part(nb, parts, p);
            run(i0..i0 + len, Parallelism::None)
        });
    } else {
        run(0..nb, Parallelism::None);
    }
    // SAFETY: the kernel wrote all nb·m·n elements above.
    unsafe { out.assume_init() }
}

/// Broadcasts a (…, r, c) view to the batch shape `batch`.
fn to_batch<'a>(x: &'a Array, batch: &[usize]) -> ArrayViewD<'a, f32> {
    let r = x.ndim();
    let mut shape = batch.to_vec();
    shape.extend_from_slice(&x.shape()[r - 2..]);
    x.broadcast(shape.as_slice()).expect("batch shape is a broadcast of the input's")
}

/// The last two axes swapped (a view).
fn t<'a>(x: ArrayViewD<'a, f32>) -> ArrayViewD<'a, f32> {
    let mut v = x;
    let r = v.ndim();
    v.swap_axes(r - 2, r - 1);
    v
}

struct Matmul {
    a: Array,
    b: Array,
}

struct MatmulBias {
    product: Matmul,
}

impl Tensor {
    /// `self @ rhs + bias` for a matrix `(m, k)`, a matrix `(k, n)` and a bias `(n)`: a linear
    /// layer in one op. The bias is added to the product's rows in place (no second output,
    /// no broadcast pass).
    // x: (m, k), w: (k, n), bias: (n) → (m, n)
    pub fn matmul_bias(&self, rhs: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let (sa, sb, sc) = (self.shape(), rhs.shape(), bias.shape());
        let mismatch = |rhs: &[usize], detail: String| TensorError::ShapeMismatch { op: "matmul_bias", lhs: sa.to_vec(), rhs: rhs.to_vec(), detail };
        if sa.len() != 2 || sb.len() != 2 {
            return Err(mismatch(sb, "both operands must be matrices".into()));
        }
        if sa[1] != sb[0] {
            return Err(mismatch(sb, format!("inner dimensions {} and {} differ", sa[1], sb[0])));
        }
        if sc != [sb[1]] {
            return Err(mismatch(sc, format!("the bias must be [{}]", sb[1])));
        }
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() || rhs.device().is_cuda() || bias.device().is_cuda() {
            return self.matmul(rhs)?.add(bias);
        }
        let (a, b, c) = (self.arr(), rhs.arr(), bias.arr());
        let mut out = batched_gemm(a.view(), b.view());
        let bias_row = standard(c.view());
        let n = sb[1];
        if let Some(rows) = out.as_slice_mut().filter(|_| n > 0) {
            let add = |row: &mut [f32]| {
                wide(
                    #[inline(always)]
                    || {
                        for (o, &b) in row.iter_mut().zip(bias_row.iter()) {
                            *o += b;
                        }
                    },
                )
            };
            let (m, threads) = (rows.len() / n, rayon::current_num_threads());
            if rows.len() >= PAR_MIN && m >= threads {
                let po = SendPtr(rows.as_mut_ptr());
                for_each_part(threads, |p| {
                    let (i0, r) = row_part(m, threads, p);
                    // SAFETY: part p's rows i0..i0+r are inside the output and no other part's.
                    let part = unsafe { std::slice::from_raw_parts_mut(po.get().add(i0 * n), r * n) };
                    part.chunks_mut(n).for_each(add);
                });
            } else {
                rows.chunks_mut(n).for_each(add);
            }
        }
        Ok(Tensor::from_op(out, &[self, rhs, bias], || Box::new(MatmulBias { product: Matmul { a, b } })))
    }

    /// Matrix product over the last two axes, `(…, m, k) @ (…, k, n) → (…, m, n)`, with the
    /// leading (batch) axes broadcast as in NumPy. Both operands need rank ≥ 2.
    // a: (…, m, k), b: (…, k, n) → (…, m, n)
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        let (sa, sb) = (self.shape(), rhs.shape());
        let mismatch = |detail: String| TensorError::ShapeMismatch { op: "matmul", lhs: sa.to_vec(), rhs: sb.to_vec(), detail };
        if sa.len() < 2 || sb.len() < 2 {
            return Err(mismatch("both operands need at least two axes".into()));
        }
        let (ra, rb) = (sa.len(), sb.len());
        if sa[ra - 1] != sb[rb - 2] {
            return Err(mismatch(format!("inner dimensions {} and {} differ", sa[ra - 1], sb[rb - 2])));
        }
        let batch = broadcast_shapes("matmul", &sa[..ra - 2], &sb[..rb - 2])?;
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() || rhs.device().is_cuda() {
            return crate::cuda::matmul::matmul(self, rhs);
        }
        let (a, b) = (self.arr(), rhs.arr());
        let out = batched_gemm(to_batch(&a, &batch), to_batch(&b, &batch));
        Ok(Tensor::from_op(out, &[self, rhs], || Box::new(Matmul { a, b })))
    }
}

impl BackwardOp for Matmul {
    // g: (…, m, n); dA = g @ Bᵀ: (…, m, k); dB = Aᵀ @ g: (…, k, n); summed over broadcast batches
    fn backward(&self, g: ArrayD<f32>, needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        let r = g.ndim();
        let batch = &g.shape()[..r - 2];
        let ga = needs[0].then(|| {
            let b = to_batch(&self.b, batch);
            sum_to_shape(batched_gemm(g.view(), t(b)), self.a.shape())
        });
        let gb = needs[1].then(|| {
            let a = to_batch(&self.a, batch);
            sum_to_shape(batched_gemm(t(a), g.view()), self.b.shape())
        });
        Ok(vec![ga, gb])
    }
}

impl BackwardOp for MatmulBias {
    // g: (m, n); dA and dB as for the product; dbias = Σ_rows g
    fn backward(&self, g: ArrayD<f32>, needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        let gbias = needs[2].then(|| g.sum_axis(Axis(0)));
        let mut grads = self.product.backward(g, &needs[..2])?;
        grads.push(gbias);
        Ok(grads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_blocks_cover_the_columns_in_whole_panels_evenly() {
        for n in [257, 300, 320, 384, 520, 768, 960, 1000, 2304, 2560, 3072, 50257] {
            for threads in [1, 2, 3, 8] {
                let Some(blocks) = column_blocks(64, n, 1024, threads) else { continue };
                let parts: Vec<(usize, usize)> = (0..blocks).map(|p| column_block(n, blocks, p)).collect();
                let mut next = 0;
                for &(start, width) in &parts {
                    assert_eq!(start, next, "n {n}, {threads} threads: blocks {parts:?}");
                    assert!(width > 0, "n {n}, {threads} threads: an empty block in {parts:?}");
                    next = start + width;
                    assert!(next == n || width.is_multiple_of(PANEL), "n {n}: a partial panel inside, {parts:?}");
                }
                assert_eq!(next, n, "n {n}, {threads} threads: blocks {parts:?}");
                let panels: Vec<usize> = parts.iter().map(|&(_, w)| w.div_ceil(PANEL)).collect();
                let (most, least) = (panels.iter().max().unwrap(), panels.iter().min().unwrap());
                assert!(most - least <= 1, "n {n}, {threads} threads: uneven blocks {parts:?}");
                assert!(*most <= BLOCK_COLUMNS / PANEL, "n {n}: a block wider than {BLOCK_COLUMNS}");
                assert!(
                    blocks.is_multiple_of(threads) || blocks == n.div_ceil(PANEL),
                    "n {n}, {threads} threads: {blocks} blocks"
                );
            }
        }
        assert_eq!(column_block(320, 2, 0), (0, 192));
        assert_eq!(column_block(320, 2, 1), (192, 128));
    }
}
