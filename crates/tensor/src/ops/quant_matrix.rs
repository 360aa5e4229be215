//! Weight-only quantized matrices for inference: a weight `[out, in]` (as PyTorch's `Linear`
//! stores it) kept in fewer bytes than f32, widened back as its products read it. Three
//! formats:
//!
//! - [`QuantFormat::Bf16`]: bfloat16 ([`Bf16Matrix`]), 2 bytes a weight;
//! - [`QuantFormat::Int8`]: int8 per output channel, symmetric: row `j` is `scale[j] · q[j, i]`
//!   with `q` in −127..=127 and `scale[j] = max|w[j, :]| / 127`; 1 byte a weight plus one f32 a
//!   row;
//! - [`QuantFormat::Q4`]: 4 bits in groups of [`Q4_GROUP`] along a row, with an f32 scale and an
//!   f32 minimum per group: `w = min + scale · q`, `q` in 0..=15; 0.75 bytes a weight. A group's
//!   16 bytes hold its elements `i` (low nibble) and `i + 16` (high nibble) in byte `i`, so one
//!   16-byte load gives two runs of 16 consecutive weights. A row whose length is not a multiple
//!   of the group ends with a short group padded with zeros.
//!
//! There is no backward: training keeps f32 weights, and a product whose input tracks
//! gradients is an error (see [`Tensor::matmul_quant`](crate::Tensor::matmul_quant)).

use std::sync::Arc;

use crate::error::{Result, TensorError};
use crate::ops::bf16_matmul::Bf16Matrix;
use crate::tensor::Tensor;

/// Weights per 4-bit group (one scale and one minimum each).
pub const Q4_GROUP: usize = 32;

/// The storage format of a [`QuantMatrix`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuantFormat {
    /// bfloat16, 2 bytes a weight.
    Bf16,
    /// int8 per output channel with an f32 scale a row.
    Int8,
    /// 4-bit groups of [`Q4_GROUP`] with an f32 scale and minimum each.
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
    /// Int8: `rows × cols` bytes (i8 as u8). Q4: `rows × groups × 16` bytes.
    pub(crate) q: Arc<Vec<u8>>,
    /// Int8: one per row. Q4: one per group, row-major `[rows, groups]`.
    pub(crate) scales: Arc<Vec<f32>>,
    /// Q4 only: one per group, `[rows, groups]`; empty for int8.
    pub(crate) mins: Arc<Vec<f32>>,
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
    /// Packed nibbles (16 bytes a group) with a scale and a minimum a group.
    Q4 {
        /// `rows × groups × 16` bytes.
        q: Vec<u8>,
        /// `rows × groups` scales.
        scales: Vec<f32>,
        /// `rows × groups` minima.
        mins: Vec<f32>,
    },
}

/// Groups of a 4-bit row of `cols` weights.
pub(crate) fn groups(cols: usize) -> usize {
    cols.div_ceil(Q4_GROUP)
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
            QuantFormat::Q4 => quantize_q4(&w, rows, cols),
        };
        Ok(QuantMatrix { format, rows, cols, bf16: None, packed: Some(packed) })
    }

    /// A matrix from stored parts (as [`QuantMatrix::parts`] gives them), checking every length
    /// against `[rows, cols]` and that scales and minima are finite.
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
        let g = groups(cols);
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
                (QuantFormat::Int8, Packed { q: Arc::new(q), scales: Arc::new(scales), mins: Arc::new(Vec::new()) })
            }
            QuantParts::Q4 { q, scales, mins } => {
                check("q4 bytes", q.len(), rows * g * Q4_GROUP / 2)?;
                check("q4 scales", scales.len(), rows * g)?;
                check("q4 minima", mins.len(), rows * g)?;
                finite("scales", &scales)?;
                finite("minima", &mins)?;
                (QuantFormat::Q4, Packed { q: Arc::new(q), scales: Arc::new(scales), mins: Arc::new(mins) })
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
            QuantFormat::Q4 => {
                let (mut q, mut scales, mut mins) = (Vec::new(), Vec::new(), Vec::new());
                for p in all {
                    if let QuantParts::Q4 { q: pq, scales: ps, mins: pm } = p {
                        q.extend(pq);
                        scales.extend(ps);
                        mins.extend(pm);
                    }
                }
                QuantParts::Q4 { q, scales, mins }
            }
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
            (None, Some(p)) => QuantParts::Q4 { q: p.q.to_vec(), scales: p.scales.to_vec(), mins: p.mins.to_vec() },
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
            (None, Some(p)) => p.q.len() + 4 * (p.scales.len() + p.mins.len()),
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
                let g = groups(c);
                for (r, row) in out.chunks_exact_mut(c).enumerate() {
                    let j = j0 + r;
                    for (i, o) in row.iter_mut().enumerate() {
                        let gi = j * g + i / Q4_GROUP;
                        let byte = p.q[gi * Q4_GROUP / 2 + i % Q4_GROUP % 16];
                        let q = if i % Q4_GROUP < 16 { byte & 15 } else { byte >> 4 };
                        *o = p.mins[gi] + p.scales[gi] * f32::from(q);
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
    Packed { q: Arc::new(q), scales: Arc::new(scales), mins: Arc::new(Vec::new()) }
}

/// 4-bit groups: `min` and `scale = (max − min) / 15` per group, `q = round((w − min) / scale)`.
fn quantize_q4(w: &[f32], rows: usize, cols: usize) -> Packed {
    let g = groups(cols);
    let mut q = vec![0u8; rows * g * Q4_GROUP / 2];
    let mut scales = vec![0.0f32; rows * g];
    let mut mins = vec![0.0f32; rows * g];
    for r in 0..rows {
        for gi in 0..g {
            let vals = &w[r * cols + gi * Q4_GROUP..r * cols + (cols.min((gi + 1) * Q4_GROUP))];
            let lo = vals.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = vals.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let scale = (hi - lo) / 15.0;
            let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
            let at = r * g + gi;
            scales[at] = scale;
            mins[at] = lo;
            let bytes = &mut q[at * Q4_GROUP / 2..(at + 1) * Q4_GROUP / 2];
            for (i, &v) in vals.iter().enumerate() {
                let n = ((v - lo) * inv).round().clamp(0.0, 15.0) as u8;
                bytes[i % 16] |= if i < 16 { n } else { n << 4 };
            }
        }
    }
    Packed { q: Arc::new(q), scales: Arc::new(scales), mins: Arc::new(mins) }
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
                assert!(err <= 0.5 * (hi - lo) / 15.0 * 1.0001 + 1e-7, "row {r} group at {g0}: error {err}");
            }
        }
        assert_eq!(m.bytes(), 5 * 3 * 16 + 5 * 3 * 8);
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
