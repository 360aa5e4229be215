//! Products of a few input rows (decoding, a small batch of sequences: fewer than
//! [`GEMM_MIN_ROWS`](crate::GEMM_MIN_ROWS), or [`VNNI_MAX_ROWS`](crate::VNNI_MAX_ROWS) where AMX
//! does not run) with an int8 or 4-bit matrix, the activations quantized to int8
//! ([`Q8Input`], [`Q4Input`]). Every weight is read once per [`X_ROWS`] input rows (eight on
//! the VNNI kernels, [`VNNI_INPUTS`]): the VNNI kernels ([`vnni`](crate::ops::vnni)) when
//! [`kernel_path`] is wide and the CPU has AVX-512 VNNI, portable loops with the same integer
//! arithmetic otherwise. The work is split over rayon's threads by weight rows, or by input
//! rows for a batch ([`split_product`]).

use std::ops::Range;
use std::sync::atomic::Ordering;

use crate::fork::for_each_chunk_mut;
use crate::kernel::{KernelPath, kernel_path};
use crate::ops::quant_input::{CHUNK, GROUP_LANES, LANES, Q4Input, Q8_SPAN, Q8Input};
use crate::ops::quant_matmul::CALLS;
use crate::ops::quant_matrix::{Packed, Q4_BLOCK_BYTES, Q4_BLOCK_GROUPS, QuantFormat, QuantMatrix, f16_at};
use crate::ops::vnni::{VNNI_INPUTS, vnni_available};

/// Input rows a kernel call multiplies together, sharing each load of the weights.
pub(crate) const X_ROWS: usize = 4;
/// Below this many multiply-adds a product stays on one thread.
const PAR_MIN_MACS: usize = 1 << 16;
/// Below this many input values the inputs are quantized on one thread.
const PAR_QUANT_MIN: usize = 1 << 13;

/// Whether the int8-activation products run on the VNNI kernels.
fn vnni_path() -> bool {
    kernel_path() == KernelPath::Wide && vnni_available()
}

/// The input rows, quantized for the weight's format.
enum Inputs {
    Int8(Vec<Q8Input>),
    Q4(Vec<Q4Input>),
}

/// `y[m, n] = x[m, k] · w[n, k]ᵀ` with int8 activations, for an int8 or 4-bit `w` (`p` its
/// packed values).
pub(crate) fn matmul_q8(x: &[f32], m: usize, k: usize, w: &QuantMatrix, p: &Packed, y: &mut [f32]) {
    let n = w.rows;
    let inputs = match w.format {
        QuantFormat::Q4 => Inputs::Q4(quantize_rows(x, k, Q4Input::new)),
        _ => Inputs::Int8(quantize_rows(x, k, Q8Input::new)),
    };
    // out: [rows, len], the outputs of weight rows j0..j0 + len for those input rows
    let part = |rows: Range<usize>, j0: usize, len: usize, out: &mut [f32]| match &inputs {
        Inputs::Int8(xs) => int8_rows(&xs[rows], p, k, j0, len, out),
        Inputs::Q4(xs) => q4_rows(&xs[rows], p, j0, len, out),
    };
    split_product(m, k, n, y, part);
}

/// The rows of `x` (`k` values each) quantized by `new`, split over threads from
/// [`PAR_QUANT_MIN`] values on (the rows of a batch of 32 took 5% of a decoding step on one
/// thread while the other waited).
fn quantize_rows<T: Send>(x: &[f32], k: usize, new: impl Fn(&[f32]) -> T + Sync) -> Vec<T> {
    if x.len() < PAR_QUANT_MIN {
        return x.chunks_exact(k).map(new).collect();
    }
    let mut rows: Vec<Option<T>> = x.chunks_exact(k).map(|_| None).collect();
    let per = rows.len().div_ceil(rayon::current_num_threads());
    for_each_chunk_mut(&mut rows, per, |t, slots| {
        for (i, slot) in slots.iter_mut().enumerate() {
            let r = t * per + i;
            *slot = Some(new(&x[r * k..(r + 1) * k]));
        }
    });
    rows.into_iter().map(|r| r.expect("every row was quantized")).collect()
}

/// `y` (`[m, n]`) from `part(rows, j0, len, out)`, which writes the outputs of weight rows
/// `j0..j0 + len` for input rows `rows` into `out` (`[rows.len(), len]`), split over rayon's
/// threads unless the product has fewer than [`PAR_MIN_MACS`] multiply-adds: by input rows
/// when each thread gets a whole pass of the VNNI kernels ([`VNNI_INPUTS`]) or more (a batch),
/// each thread then writing its own rows of `y` in place; by weight rows (in multiples of four)
/// otherwise. Splitting a batch of 32 by weight rows had cost a copy of every output and a
/// fresh buffer per call (7% of a GPT-2 decoding step in `memmove`, `memset` and page faults).
pub(crate) fn split_product(
    m: usize,
    k: usize,
    n: usize,
    y: &mut [f32],
    part: impl Fn(Range<usize>, usize, usize, &mut [f32]) + Sync,
) {
    let threads = rayon::current_num_threads();
    if m * k * n < PAR_MIN_MACS || threads == 1 {
        part(0..m, 0, n, y);
        return;
    }
    if m >= threads * VNNI_INPUTS {
        let per = m.div_ceil(threads);
        for_each_chunk_mut(y, per * n, |t, out| part(t * per..t * per + out.len() / n, 0, n, out));
        return;
    }
    let per = n.div_ceil(threads).div_ceil(4) * 4;
    if m == 1 {
        // one input row: each part's outputs are a piece of y
        for_each_chunk_mut(y, per, |t, out| part(0..1, t * per, out.len(), out));
        return;
    }
    // parts[t]: [m, len], the outputs of weight rows t·per.. (len of them)
    let mut parts = vec![Vec::new(); n.div_ceil(per)];
    for_each_chunk_mut(&mut parts, 1, |t, out| {
        let (j0, len) = (t * per, per.min(n - t * per));
        out[0] = vec![0.0f32; m * len];
        part(0..m, j0, len, &mut out[0]);
    });
    for (t, out) in parts.into_iter().enumerate() {
        let (j0, len) = (t * per, per.min(n - t * per));
        for (yr, or) in y.chunks_exact_mut(n).zip(out.chunks_exact(len)) {
            yr[j0..j0 + len].copy_from_slice(or);
        }
    }
}

/// `out[r, j] = xs[r] · w[j0 + j, :]` for a packed int8 matrix: `out` `[xs.len(), len]`.
fn int8_rows(xs: &[Q8Input], p: &Packed, k: usize, j0: usize, len: usize, out: &mut [f32]) {
    let q = &p.q[j0 * k..(j0 + len) * k];
    let scales = &p.scales[j0..j0 + len];
    let vnni = vnni_path();
    CALLS[usize::from(!vnni)].fetch_add(1, Ordering::Relaxed);
    // the VNNI kernels share each weight load among up to eight inputs
    let per_call = if vnni { VNNI_INPUTS } else { X_ROWS };
    for (xb, ob) in xs.chunks(per_call).zip(out.chunks_mut(per_call * len)) {
        #[cfg(target_arch = "x86_64")]
        if vnni {
            // SAFETY: q holds len rows of k values, every input was built from k values, ob
            // holds xb.len() × len outputs; the CPU has AVX-512 F, BW (the wide path) and VNNI.
            unsafe { crate::ops::vnni::int8_rows(xb, q, k, scales, ob) };
            continue;
        }
        for (x, orow) in xb.iter().zip(ob.chunks_exact_mut(len)) {
            for ((o, row), &s) in orow.iter_mut().zip(q.chunks_exact(k)).zip(scales) {
                let mut total = 0.0f32;
                for ((ws, qs), ds) in row.chunks(Q8_SPAN).zip(x.q.chunks(Q8_SPAN)).zip(x.d.chunks_exact(LANES)) {
                    // dots[l]: lane l's integer products over the span's chunks
                    let mut dots = [0i32; LANES];
                    for (wc, qc) in ws.chunks(CHUNK).zip(qs.chunks(CHUNK)) {
                        for (i, (&w, &v)) in wc.iter().zip(qc).enumerate() {
                            dots[i * LANES / CHUNK] += i32::from(w as i8) * i32::from(v);
                        }
                    }
                    total += dots.iter().zip(ds).map(|(&dot, &d)| d * dot as f32).sum::<f32>();
                }
                *o = s * total;
            }
        }
    }
}

/// `out[r, j] = xs[r] · w[j0 + j, :]` for a packed 4-bit matrix: `out` `[xs.len(), len]`.
fn q4_rows(xs: &[Q4Input], p: &Packed, j0: usize, len: usize, out: &mut [f32]) {
    let row_bytes = xs[0].groups.div_ceil(Q4_BLOCK_GROUPS) * Q4_BLOCK_BYTES;
    let blocks = &p.q[j0 * row_bytes..(j0 + len) * row_bytes];
    let vnni = vnni_path();
    CALLS[usize::from(!vnni)].fetch_add(1, Ordering::Relaxed);
    let per_call = if vnni { VNNI_INPUTS } else { X_ROWS };
    for (xb, ob) in xs.chunks(per_call).zip(out.chunks_mut(per_call * len)) {
        #[cfg(target_arch = "x86_64")]
        if vnni {
            // SAFETY: blocks holds len whole rows for the inputs' groups, every input was built
            // from rows of those groups, ob holds xb.len() × len outputs; the CPU has AVX-512 F,
            // BW, VL (the wide path), FMA, F16C and VNNI.
            unsafe { crate::ops::vnni::q4_rows(xb, blocks, ob) };
            continue;
        }
        for (x, orow) in xb.iter().zip(ob.chunks_exact_mut(len)) {
            for (o, row) in orow.iter_mut().zip(blocks.chunks_exact(row_bytes)) {
                let mut total = 0.0f32;
                for gi in 0..x.groups {
                    let (block, slot) = (&row[gi / 4 * Q4_BLOCK_BYTES..], gi % 4);
                    let (lo, hi) = Q4Input::runs(gi);
                    let dot: i32 = block[16 + 16 * slot..32 + 16 * slot]
                        .iter()
                        .enumerate()
                        .map(|(i, &b)| {
                            i32::from(b & 15) * i32::from(x.q[lo + i]) + i32::from(b >> 4) * i32::from(x.q[hi + i])
                        })
                        .sum();
                    let (s, m) = (f16_at(block, 2 * slot), f16_at(block, 8 + 2 * slot));
                    total += s * x.d[GROUP_LANES * gi] * dot as f32 + m * x.sums[GROUP_LANES * gi];
                }
                *o = total;
            }
        }
    }
}
