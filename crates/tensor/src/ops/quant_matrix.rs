//! Weight-only quantized matrices for inference: a weight `[out, in]` (as PyTorch's `Linear`
//! stores it) kept in fewer bytes than f32, widened back as its products read it. Three
//! formats:
//!
//! - [`QuantFormat::Bf16`]: bfloat16 ([`Bf16Matrix`]), 2 bytes a weight;
//! - [`QuantFormat::Int8`]: int8 per output channel, symmetric: row `j` is `scale[j] · q[j, i]`
//!   with `q` in −127..=127 and `scale[j] = max|w[j, :]| / 127`; 1 byte a weight plus one f32 a
//!   row;
//! - [`QuantFormat::Q4`]: 4 bits in groups of [`Q4_GROUP`] along a row, with an f16 scale and an
//!   f16 minimum per group: `w = min + scale · q`, `q` in 0..=15; 20 bytes per 32 weights
//!   (0.625 bytes a weight). Layout [`Q4_LAYOUT`]: each row is a run of blocks of
//!   [`Q4_BLOCK_GROUPS`] groups, [`Q4_BLOCK_BYTES`] bytes each, one stream that the kernels read
//!   front to back: the four groups' f16 scales (8 bytes, little-endian), their four f16
//!   minima (8 bytes), then their nibbles (4 × 16 bytes). A group's 16 bytes hold its elements
//!   `i` (low nibble) and `i + 16` (high nibble) in byte `i`, so one 64-byte load gives the
//!   four groups' weights as two runs of 16 per group. A row whose length is not a multiple of
//!   the group ends with a short group padded with zeros, and a row whose groups are not a
//!   multiple of four with whole zero groups (scale, minimum and nibbles 0).
//!
//! There is no backward: training keeps f32 weights, and a product whose input tracks
//! gradients is an error (see [`Tensor::matmul_quant`](crate::Tensor::matmul_quant)).

use std::sync::Arc;

use half::f16;

use crate::error::{Result, TensorError};
use crate::ops::bf16_matmul::Bf16Matrix;
use crate::tensor::Tensor;

/// Weights per 4-bit group (one scale and one minimum each).
pub const Q4_GROUP: usize = 32;
/// Groups of a 4-bit block: the unit a row is stored and read in.
pub const Q4_BLOCK_GROUPS: usize = 4;
/// Bytes of a 4-bit block: four f16 scales, four f16 minima and 64 bytes of nibbles.
pub const Q4_BLOCK_BYTES: usize = 8 + 8 + Q4_BLOCK_GROUPS * Q4_GROUP / 2;
/// The version of the 4-bit layout, recorded in checkpoints: 1 was separate f32 scales and
/// minima, 2 the blocks above.
pub const Q4_LAYOUT: u32 = 2;

/// The storage format of a [`QuantMatrix`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuantFormat {
    /// bfloat16, 2 bytes a weight.
    Bf16,
    /// int8 per output channel with an f32 scale a row.
    Int8,
    /// 4-bit groups of [`Q4_GROUP`] with an f16 scale and minimum each, in blocks of
    /// [`Q4_BLOCK_BYTES`].
    Q4,
}

impl QuantFormat {
    /// The name used on the command line and in checkpoint metadata: `bf16`, `int8`, `q4`.
    pub fn name(self) -> &'static str {
        match self {
            QuantFormat::Bf16 => "bf16",
            QuantFormat::Int8 => "int8",
            QuantFormat::Q4 => "q4",
        }
    }

    /// The format called `name` ([`QuantFormat::name`]); an unknown name is an error listing
    /// the known ones.
    pub fn parse(name: &str) -> Result<QuantFormat> {
        match name {
            "bf16" => Ok(QuantFormat::Bf16),
            "int8" => Ok(QuantFormat::Int8),
            "q4" => Ok(QuantFormat::Q4),
            other => {
                Err(TensorError::invalid("QuantFormat", format!("unknown format `{other}`: use int8, q4 or bf16")))
            }
        }
    }
}

impl std::fmt::Display for QuantFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The packed values of an int8 or 4-bit matrix.
#[derive(Debug, Clone)]
pub(crate) struct Packed {
    /// Int8: `rows × cols` bytes (i8 as u8). Q4: `rows × blocks(cols)` blocks of
    /// [`Q4_BLOCK_BYTES`].
    pub(crate) q: Arc<Vec<u8>>,
    /// Int8: one per row. Q4: empty (the scales are in the blocks).
    pub(crate) scales: Arc<Vec<f32>>,
}

/// A weight matrix `[rows, cols]` (`[out, in]`) in a [`QuantFormat`], for inference.
#[derive(Debug, Clone)]
pub struct QuantMatrix {
    pub(crate) format: QuantFormat,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) bf16: Option<Bf16Matrix>,
    pub(crate) packed: Option<Packed>,
}

/// The stored parts of a quantized matrix, as a checkpoint writes them.
#[derive(Debug, Clone, PartialEq)]
pub enum QuantParts {
    /// bfloat16 bits, row-major.
    Bf16(Vec<u16>),
    /// Int8 values row-major and one scale a row.
    Int8 {
        /// `rows × cols` values.
        q: Vec<i8>,
        /// `rows` scales.
        scales: Vec<f32>,
    },
    /// The blocks of layout [`Q4_LAYOUT`]: `rows × ⌈groups / 4⌉` of [`Q4_BLOCK_BYTES`] bytes.
    Q4 {
        /// The blocks, row after row.
        blocks: Vec<u8>,
    },
}

/// Groups of a 4-bit row of `cols` weights.
pub(crate) fn groups(cols: usize) -> usize {
    cols.div_ceil(Q4_GROUP)
}

/// Blocks of a 4-bit row of `cols` weights.
pub(crate) fn q4_blocks(cols: usize) -> usize {
    groups(cols).div_ceil(Q4_BLOCK_GROUPS)
}

/// The f16 at `bytes[at..at + 2]` (little-endian) as f32.
pub(crate) fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([bytes[at], bytes[at + 1]])).to_f32()
}

impl QuantMatrix {
    /// The matrix `t` (rank 2, `[out, in]`) quantized to `format`. Non-finite weights are an
    /// error: a scale cannot represent them.
    pub fn quantize(t: &Tensor, format: QuantFormat) -> Result<QuantMatrix> {
        if t.rank() != 2 {
            return Err(TensorError::invalid(
                "QuantMatrix::quantize",
                format!("needs a matrix, got shape {:?}", t.shape()),
            ));
        }
        let (rows, cols) = (t.shape()[0], t.shape()[1]);
        let w = t.to_vec();
        if let Some(i) = w.iter().position(|v| !v.is_finite()) {
            return Err(TensorError::invalid(
                "QuantMatrix::quantize",
                format!("weight [{}, {}] is {}: only finite weights quantize", i / cols.max(1), i % cols.max(1), w[i]),
            ));
        }
        let packed = match format {
            QuantFormat::Bf16 => {
                return Ok(QuantMatrix { format, rows, cols, bf16: Some(Bf16Matrix::from_tensor(t)?), packed: None });
            }
            QuantFormat::Int8 => quantize_int8(&w, rows, cols),
            QuantFormat::Q4 => quantize_q4(&w, rows, cols)?,
        };
        Ok(QuantMatrix { format, rows, cols, bf16: None, packed: Some(packed) })
    }

    /// A matrix from stored parts (as [`QuantMatrix::parts`] gives them), checking every length
    /// against `[rows, cols]` and that scales and minima are finite (for 4-bit blocks, also
    /// those of the padding groups, which multiply zeros).
    pub fn from_parts(rows: usize, cols: usize, parts: QuantParts) -> Result<QuantMatrix> {
        let bad = |what: String| TensorError::invalid("QuantMatrix::from_parts", format!("[{rows}, {cols}]: {what}"));
        let check = |name: &str, got: usize, want: usize| -> Result<()> {
            if got == want { Ok(()) } else { Err(bad(format!("{name} has {got} values, expected {want}"))) }
        };
        let finite = |name: &str, v: &[f32]| -> Result<()> {
            match v.iter().position(|x| !x.is_finite()) {
                None => Ok(()),
                Some(i) => Err(bad(format!("{name}[{i}] is {}", v[i]))),
            }
        };
        let (format, packed) = match parts {
            QuantParts::Bf16(bits) => {
                check("bf16 values", bits.len(), rows * cols)?;
                let bf16 = Bf16Matrix::from_bits(bits, rows, cols)?;
                return Ok(QuantMatrix { format: QuantFormat::Bf16, rows, cols, bf16: Some(bf16), packed: None });
            }
            QuantParts::Int8 { q, scales } => {
                check("int8 values", q.len(), rows * cols)?;
                check("int8 scales", scales.len(), rows)?;
                finite("scales", &scales)?;
                if let Some(i) = q.iter().position(|&v| v == i8::MIN) {
                    return Err(bad(format!("int8 value {i} is −128, outside the symmetric range ±127")));
                }
                let q = q.into_iter().map(|v| v as u8).collect();
                (QuantFormat::Int8, Packed { q: Arc::new(q), scales: Arc::new(scales) })
            }
            QuantParts::Q4 { blocks } => {
                check("q4 bytes", blocks.len(), rows * q4_blocks(cols) * Q4_BLOCK_BYTES)?;
                for (b, block) in blocks.chunks_exact(Q4_BLOCK_BYTES).enumerate() {
                    // the 8 f16 scales and minima: exponent all ones is an infinity or a NaN
                    if let Some(i) =
                        (0..8).find(|i| f16_at(block, 2 * i).is_nan() || f16_at(block, 2 * i).is_infinite())
                    {
                        let what = if i < 4 { "scale" } else { "minimum" };
                        return Err(bad(format!("block {b}: {what} {} is {}", i % 4, f16_at(block, 2 * i))));
                    }
                }
                (QuantFormat::Q4, Packed { q: Arc::new(blocks), scales: Arc::new(Vec::new()) })
            }
        };
        Ok(QuantMatrix { format, rows, cols, bf16: None, packed: Some(packed) })
    }

    /// The rows of `parts` one after another (`[Σ rows, cols]`): several layers' weights as
    /// one product. All must have the same format and columns.
    pub fn stack_rows(parts: &[&QuantMatrix]) -> Result<QuantMatrix> {
        let Some(first) = parts.first() else {
            return Err(TensorError::invalid("QuantMatrix::stack_rows", "no matrices to stack"));
        };
        if let Some(m) = parts.iter().find(|m| m.format != first.format || m.cols != first.cols) {
            return Err(TensorError::invalid(
                "QuantMatrix::stack_rows",
                format!(
                    "{} [{}, {}] cannot stack under {} [{}, {}]",
                    m.format, m.rows, m.cols, first.format, first.rows, first.cols
                ),
            ));
        }
        let rows = parts.iter().map(|m| m.rows).sum();
        let all = parts.iter().map(|m| m.parts());
        let stacked = match first.format {
            QuantFormat::Bf16 => QuantParts::Bf16(
                all.flat_map(|p| match p {
                    QuantParts::Bf16(b) => b,
                    _ => unreachable!("same format"),
                })
                .collect(),
            ),
            QuantFormat::Int8 => {
                let (mut q, mut scales) = (Vec::new(), Vec::new());
                for p in all {
                    if let QuantParts::Int8 { q: pq, scales: ps } = p {
                        q.extend(pq);
                        scales.extend(ps);
                    }
                }
                QuantParts::Int8 { q, scales }
            }
            QuantFormat::Q4 => QuantParts::Q4 {
                blocks: all
                    .flat_map(|p| match p {
                        QuantParts::Q4 { blocks } => blocks,
                        _ => unreachable!("same format"),
                    })
                    .collect(),
            },
        };
        QuantMatrix::from_parts(rows, first.cols, stacked)
    }

    /// The stored parts, for writing to a checkpoint.
    pub fn parts(&self) -> QuantParts {
        match (&self.bf16, &self.packed) {
            (Some(b), _) => QuantParts::Bf16(b.bits().to_vec()),
            (None, Some(p)) if self.format == QuantFormat::Int8 => {
                QuantParts::Int8 { q: p.q.iter().map(|&v| v as i8).collect(), scales: p.scales.to_vec() }
            }
            (None, Some(p)) => QuantParts::Q4 { blocks: p.q.to_vec() },
            (None, None) => unreachable!("a QuantMatrix holds bf16 or packed values"),
        }
    }

    /// The format.
    pub fn format(&self) -> QuantFormat {
        self.format
    }

    /// The dimensions `[rows, cols]` (`[out, in]`).
    pub fn shape(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }

    /// Bytes of storage: values, scales and minima.
    pub fn bytes(&self) -> usize {
        match (&self.bf16, &self.packed) {
            (Some(b), _) => b.bytes(),
            (None, Some(p)) => p.q.len() + 4 * p.scales.len(),
            (None, None) => 0,
        }
    }

    /// The matrix the stored values stand for, in f32 `[rows, cols]`.
    pub fn dequantize(&self) -> Tensor {
        let mut out = vec![0.0f32; self.rows * self.cols];
        self.dequantize_rows(0, &mut out);
        Tensor::from_vec(out, &[self.rows, self.cols]).expect("rows × cols values")
    }

    /// Rows `j0..j0 + out.len() / cols` widened to f32 into `out` (row-major).
    pub(crate) fn dequantize_rows(&self, j0: usize, out: &mut [f32]) {
        let c = self.cols;
        if c == 0 {
            return;
        }
        match (&self.bf16, &self.packed) {
            (Some(b), _) => {
                for (o, &bits) in out.iter_mut().zip(&b.bits()[j0 * c..]) {
                    *o = f32::from_bits(u32::from(bits) << 16);
                }
            }
            (None, Some(p)) if self.format == QuantFormat::Int8 => {
                for (r, row) in out.chunks_exact_mut(c).enumerate() {
                    let s = p.scales[j0 + r];
                    for (o, &q) in row.iter_mut().zip(&p.q[(j0 + r) * c..]) {
                        *o = s * f32::from(q as i8);
                    }
                }
            }
            (None, Some(p)) => {
                let row_bytes = q4_blocks(c) * Q4_BLOCK_BYTES;
                for (r, row) in out.chunks_exact_mut(c).enumerate() {
                    let stored = &p.q[(j0 + r) * row_bytes..(j0 + r + 1) * row_bytes];
                    for (gi, vals) in row.chunks_mut(Q4_GROUP).enumerate() {
                        let (block, slot) = (&stored[gi / 4 * Q4_BLOCK_BYTES..], gi % 4);
                        let (s, m) = (f16_at(block, 2 * slot), f16_at(block, 8 + 2 * slot));
                        let nibbles = &block[16 + 16 * slot..32 + 16 * slot];
                        for (i, o) in vals.iter_mut().enumerate() {
                            let q = if i < 16 { nibbles[i] & 15 } else { nibbles[i - 16] >> 4 };
                            *o = m + s * f32::from(q);
                        }
                    }
                }
            }
            (None, None) => {}
        }
    }
}

/// Symmetric int8 per row: `scale = max|w| / 127`, `q = round(w / scale)`.
fn quantize_int8(w: &[f32], rows: usize, cols: usize) -> Packed {
    let mut q = vec![0u8; rows * cols];
    let mut scales = vec![0.0f32; rows];
    if cols > 0 {
        for ((row, qr), s) in w.chunks_exact(cols).zip(q.chunks_exact_mut(cols)).zip(scales.iter_mut()) {
            let amax = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            *s = amax / 127.0;
            let inv = if amax > 0.0 { 127.0 / amax } else { 0.0 };
            for (o, &v) in qr.iter_mut().zip(row) {
                *o = (v * inv).round().clamp(-127.0, 127.0) as i8 as u8;
            }
        }
    }
    Packed { q: Arc::new(q), scales: Arc::new(scales) }
}

/// 4-bit groups: `min` and `scale = (max − min) / 15` per group, both rounded to f16, then
/// `q = round((w − min) / scale)` against the rounded pair (the values the products use). A
/// group whose minimum or scale is beyond f16's range (±65504) is an error.
fn quantize_q4(w: &[f32], rows: usize, cols: usize) -> Result<Packed> {
    let row_bytes = q4_blocks(cols) * Q4_BLOCK_BYTES;
    let mut q = vec![0u8; rows * row_bytes];
    if cols == 0 {
        return Ok(Packed { q: Arc::new(q), scales: Arc::new(Vec::new()) });
    }
    for (r, (row, stored)) in w.chunks_exact(cols).zip(q.chunks_exact_mut(row_bytes.max(1))).enumerate() {
        for (gi, vals) in row.chunks(Q4_GROUP).enumerate() {
            let lo = vals.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = vals.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let (s16, m16) = (f16::from_f32((hi - lo) / 15.0), f16::from_f32(lo));
            if s16.is_infinite() || m16.is_infinite() {
                return Err(TensorError::invalid(
                    "QuantMatrix::quantize",
                    format!(
                        "row {r}, weights {}..{}: range [{lo}, {hi}] is beyond q4's f16 scales (±65504)",
                        gi * Q4_GROUP,
                        gi * Q4_GROUP + vals.len()
                    ),
                ));
            }
            let (scale, min) = (s16.to_f32(), m16.to_f32());
            let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
            let (block, slot) = (&mut stored[gi / 4 * Q4_BLOCK_BYTES..(gi / 4 + 1) * Q4_BLOCK_BYTES], gi % 4);
            block[2 * slot..2 * slot + 2].copy_from_slice(&s16.to_bits().to_le_bytes());
            block[8 + 2 * slot..10 + 2 * slot].copy_from_slice(&m16.to_bits().to_le_bytes());
            let nibbles = &mut block[16 + 16 * slot..32 + 16 * slot];
            for (i, &v) in vals.iter().enumerate() {
                let n = ((v - min) * inv).round().clamp(0.0, 15.0) as u8;
                nibbles[i % 16] |= if i < 16 { n } else { n << 4 };
            }
        }
    }
    Ok(Packed { q: Arc::new(q), scales: Arc::new(Vec::new()) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn int8_round_trip_is_within_half_a_step_of_each_row() {
        let mut rng = Rng::new(1);
        let t = Tensor::randn(&[7, 45], 0.0, 1.0, &mut rng);
        let m = QuantMatrix::quantize(&t, QuantFormat::Int8).unwrap();
        let (w, d) = (t.to_vec(), m.dequantize().to_vec());
        for r in 0..7 {
            let row = &w[r * 45..(r + 1) * 45];
            let step = row.iter().fold(0.0f32, |a, v| a.max(v.abs())) / 127.0;
            let err = max_abs_diff(row, &d[r * 45..(r + 1) * 45]);
            assert!(err <= 0.5 * step * 1.0001, "row {r}: error {err} > half step {step}");
        }
        assert_eq!(m.bytes(), 7 * 45 + 7 * 4);
    }

    #[test]
    fn q4_round_trip_is_within_half_a_step_of_each_group_and_keeps_ragged_tails() {
        let mut rng = Rng::new(2);
        let cols = 77; // two whole groups and a short one
        let t = Tensor::randn(&[5, cols], 0.0, 1.0, &mut rng);
        let m = QuantMatrix::quantize(&t, QuantFormat::Q4).unwrap();
        let (w, d) = (t.to_vec(), m.dequantize().to_vec());
        for r in 0..5 {
            for g0 in (0..cols).step_by(Q4_GROUP) {
                let idx = r * cols + g0..r * cols + (g0 + Q4_GROUP).min(cols);
                let vals = &w[idx.clone()];
                let lo = vals.iter().copied().fold(f32::INFINITY, f32::min);
                let hi = vals.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let err = max_abs_diff(vals, &d[idx]);
                // half a step, plus the rounding of the minimum and the scale to f16 (2⁻¹¹)
                let bound = 0.5 * (hi - lo) / 15.0 + (lo.abs() + (hi - lo)) / 2048.0 + 1e-7;
                assert!(err <= bound, "row {r} group at {g0}: error {err} > {bound}");
            }
        }
        // three groups fill one block of four: 80 bytes a row, 20 per 32 weights
        assert_eq!(m.bytes(), 5 * Q4_BLOCK_BYTES);
        assert_eq!(QuantMatrix::quantize(&Tensor::zeros(&[3, 256]), QuantFormat::Q4).unwrap().bytes(), 3 * 8 * 20);
    }

    #[test]
    fn q4_blocks_hold_f16_scales_then_minima_then_nibbles() {
        // one row of 40: group 0 is 0, 1, …, 15, 0, 1, …, 15 (scale 1, minimum 0); group 1 is
        // eight values of −2 and 5.5 (scale 0.5, minimum −2); groups 2 and 3 are padding
        let mut w: Vec<f32> = (0..32).map(|i| (i % 16) as f32).collect();
        w.extend([-2.0, 5.5, -2.0, 5.5, -2.0, 5.5, -2.0, 5.5]);
        let m = QuantMatrix::quantize(&Tensor::from_vec(w.clone(), &[1, 40]).unwrap(), QuantFormat::Q4).unwrap();
        let QuantParts::Q4 { blocks } = m.parts() else { panic!("q4 parts") };
        assert_eq!(blocks.len(), Q4_BLOCK_BYTES);
        let h = |v: f32| f16::from_f32(v).to_bits().to_le_bytes();
        assert_eq!(blocks[0..2], h(1.0));
        assert_eq!(blocks[2..4], h(0.5));
        assert_eq!(blocks[4..8], [0; 4]);
        assert_eq!(blocks[8..10], h(0.0));
        assert_eq!(blocks[10..12], h(-2.0));
        assert_eq!(blocks[16 + 3], 3 | (3 << 4)); // group 0: elements 3 and 19
        assert_eq!(blocks[32..40], [0, 15, 0, 15, 0, 15, 0, 15]); // group 1: low nibbles only
        assert!(blocks[40..].iter().all(|&b| b == 0));
        assert_eq!(m.dequantize().to_vec(), w);
    }

    #[test]
    fn q4_blocks_with_non_finite_scales_and_weights_beyond_f16_are_refused() {
        let m = QuantMatrix::quantize(&Tensor::ones(&[2, 33]), QuantFormat::Q4).unwrap();
        let QuantParts::Q4 { mut blocks } = m.parts() else { panic!("q4 parts") };
        blocks[Q4_BLOCK_BYTES + 10..Q4_BLOCK_BYTES + 12].copy_from_slice(&f16::INFINITY.to_bits().to_le_bytes());
        let err = QuantMatrix::from_parts(2, 33, QuantParts::Q4 { blocks }).unwrap_err().to_string();
        assert!(err.contains("block 1: minimum 1 is inf"), "{err}");
        let t = Tensor::from_vec(vec![0.0, 1e6], &[1, 2]).unwrap();
        let err = QuantMatrix::quantize(&t, QuantFormat::Q4).unwrap_err().to_string();
        assert!(err.contains("row 0, weights 0..2") && err.contains("f16"), "{err}");
    }

    #[test]
    fn parts_give_back_the_same_matrix_and_bad_parts_are_refused() {
        let mut rng = Rng::new(3);
        let t = Tensor::randn(&[4, 40], 0.0, 1.0, &mut rng);
        for format in [QuantFormat::Bf16, QuantFormat::Int8, QuantFormat::Q4] {
            let m = QuantMatrix::quantize(&t, format).unwrap();
            let back = QuantMatrix::from_parts(4, 40, m.parts()).unwrap();
            assert_eq!(back.format(), format);
            assert_eq!(back.dequantize().to_vec(), m.dequantize().to_vec(), "{format}");
            let err = QuantMatrix::from_parts(5, 40, m.parts()).unwrap_err().to_string();
            assert!(err.contains("[5, 40]") && err.contains("expected"), "{format}: {err}");
        }
        let err = QuantMatrix::from_parts(1, 2, QuantParts::Int8 { q: vec![1, -128], scales: vec![1.0] }).unwrap_err();
        assert!(err.to_string().contains("−128"), "{err}");
        let err =
            QuantMatrix::from_parts(1, 2, QuantParts::Int8 { q: vec![1, 2], scales: vec![f32::NAN] }).unwrap_err();
        assert!(err.to_string().contains("scales[0] is NaN"), "{err}");
    }

    #[test]
    fn non_finite_weights_and_unknown_formats_are_errors() {
        let t = Tensor::from_vec(vec![1.0, f32::INFINITY, 0.0, 2.0], &[2, 2]).unwrap();
        let err = QuantMatrix::quantize(&t, QuantFormat::Int8).unwrap_err().to_string();
        assert!(err.contains("weight [0, 1] is inf"), "{err}");
        assert!(QuantFormat::parse("q3").unwrap_err().to_string().contains("int8, q4 or bf16"));
        assert_eq!(QuantFormat::parse("q4").unwrap(), QuantFormat::Q4);
    }

    #[test]
    fn stacked_rows_dequantize_to_the_stacked_matrices() {
        let mut rng = Rng::new(6);
        let (a, b) = (Tensor::randn(&[3, 50], 0.0, 1.0, &mut rng), Tensor::randn(&[2, 50], 0.0, 1.0, &mut rng));
        for format in [QuantFormat::Bf16, QuantFormat::Int8, QuantFormat::Q4] {
            let (qa, qb) = (QuantMatrix::quantize(&a, format).unwrap(), QuantMatrix::quantize(&b, format).unwrap());
            let both = QuantMatrix::stack_rows(&[&qa, &qb]).unwrap();
            assert_eq!(both.shape(), [5, 50]);
            let mut want = qa.dequantize().to_vec();
            want.extend(qb.dequantize().to_vec());
            assert_eq!(both.dequantize().to_vec(), want, "{format}");
        }
        let other = QuantMatrix::quantize(&a, QuantFormat::Q4).unwrap();
        let int8 = QuantMatrix::quantize(&a, QuantFormat::Int8).unwrap();
        assert!(QuantMatrix::stack_rows(&[&int8, &other]).unwrap_err().to_string().contains("cannot stack"));
    }

    #[test]
    fn a_zero_row_quantizes_to_zero() {
        let t = Tensor::zeros(&[2, 33]);
        for format in [QuantFormat::Int8, QuantFormat::Q4] {
            let m = QuantMatrix::quantize(&t, format).unwrap();
            assert!(m.dequantize().to_vec().iter().all(|&v| v == 0.0), "{format}");
        }
    }
}
