//! Activation functions by name, as model configs spell them.

use loam_tensor::Tensor;

use crate::error::{NnError, Result};

/// An elementwise activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// max(x, 0).
    Relu,
    /// Exact GELU, x·Φ(x) (BERT's `gelu`, PyTorch's default).
    Gelu,
    /// Tanh approximation of GELU (GPT-2's `gelu_new`).
    GeluTanh,
    /// x·σ(x) (`silu`, `swish`).
    Silu,
    /// tanh.
    Tanh,
}

impl Activation {
    /// Applies the activation.
    // x: (D…) → (D…)
    pub fn forward(self, x: &Tensor) -> Tensor {
        match self {
            Activation::Relu => x.relu(),
            Activation::Gelu => x.gelu(),
            Activation::GeluTanh => x.gelu_tanh(),
            Activation::Silu => x.silu(),
            Activation::Tanh => x.tanh(),
        }
    }

    /// The activation a Hugging Face config names (`hidden_act` / `activation_function`).
    pub fn from_hf_name(name: &str) -> Result<Activation> {
        Ok(match name {
            "relu" => Activation::Relu,
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "silu" | "swish" => Activation::Silu,
            "tanh" => Activation::Tanh,
            other => return Err(NnError::Config(format!("unsupported activation `{other}`"))),
        })
    }
}
