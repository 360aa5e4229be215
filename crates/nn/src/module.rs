//! The `Module` trait: a layer maps a tensor to a tensor.

use loam_tensor::Tensor;

use crate::error::Result;

/// A layer with one input and one output.
pub trait Module {
    /// Applies the layer.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;
}
