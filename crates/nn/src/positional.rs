//! Position encodings: learned (GPT-2, BERT) and fixed sinusoidal (the original Transformer).

use loam_tensor::{Device, Tensor, TensorError};

use crate::embedding::Embedding;
use crate::error::Result;
use crate::init::Init;
use crate::store::Builder;

fn check_range(op: &'static str, offset: usize, len: usize, max: usize) -> Result<()> {
    if offset + len > max {
        return Err(TensorError::IndexOutOfRange { op, index: (offset + len) as i64, size: max }.into());
    }
    Ok(())
}

/// A learned table of `max_len` position vectors.
#[derive(Debug, Clone)]
pub struct LearnedPositional {
    /// The table `[max_len, dim]`.
    pub table: Embedding,
}

impl LearnedPositional {
    /// A table for `max_len` positions of width `dim`.
    pub fn new(max_len: usize, dim: usize, init: Init, vb: Builder) -> Result<LearnedPositional> {
        Ok(LearnedPositional { table: Embedding::new(max_len, dim, init, vb)? })
    }

    /// The vectors of positions `offset..offset + len`: `[len, dim]`.
    pub fn forward(&self, offset: usize, len: usize) -> Result<Tensor> {
        check_range("learned positions", offset, len, self.table.weight.shape()[0])?;
        Ok(self.table.weight.narrow(0, offset, len)?)
    }
}

/// The fixed sinusoidal encoding: PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(…).
#[derive(Debug, Clone)]
pub struct SinusoidalPositional {
    table: Tensor,
}

impl SinusoidalPositional {
    /// The table for `max_len` positions of width `dim`.
    pub fn new(max_len: usize, dim: usize) -> SinusoidalPositional {
        let mut v = vec![0.0f32; max_len * dim];
        for p in 0..max_len {
            for i in 0..dim {
                let angle = p as f64 / 10000f64.powf((i / 2 * 2) as f64 / dim as f64);
                v[p * dim + i] = if i % 2 == 0 { angle.sin() } else { angle.cos() } as f32;
            }
        }
        SinusoidalPositional { table: Tensor::from_vec(v, &[max_len, dim]).expect("length matches") }
    }

    /// This table on `device` (the model's), so that its rows add to activations there.
    pub fn to_device(&self, device: Device) -> Result<SinusoidalPositional> {
        if self.table.device() == device {
            return Ok(self.clone());
        }
        Ok(SinusoidalPositional { table: self.table.to_device(device)? })
    }

    /// The vectors of positions `offset..offset + len`: `[len, dim]` (no gradient).
    pub fn forward(&self, offset: usize, len: usize) -> Result<Tensor> {
        check_range("sinusoidal positions", offset, len, self.table.shape()[0])?;
        Ok(self.table.narrow(0, offset, len)?)
    }
}
