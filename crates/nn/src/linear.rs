//! Fully connected layer, in PyTorch's layout (`weight: [out, in]`) or GPT-2's `Conv1D` layout
//! (`weight: [in, out]`).

use loam_tensor::{Tensor, no_grad};

use crate::error::{NnError, Result};
use crate::init::Init;
use crate::module::Module;
use crate::store::Builder;

/// How the weight matrix is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightLayout {
    /// `[out, in]`, as `torch.nn.Linear` (and BERT) stores it; y = x·Wᵀ + b.
    OutIn,
    /// `[in, out]`, as GPT-2's `Conv1D` stores it; y = x·W + b.
    InOut,
}

/// y = x·W (+ b) over the last axis of `x`.
#[derive(Debug, Clone)]
pub struct Linear {
    /// The weight, laid out as `layout` says.
    pub weight: Tensor,
    /// The bias `[out]`, if any.
    pub bias: Option<Tensor>,
    /// The weight's layout.
    pub layout: WeightLayout,
}

impl Linear {
    /// A `[out, in]` layer with PyTorch's default init (uniform ±1/√in for weight and bias).
    pub fn new(d_in: usize, d_out: usize, bias: bool, vb: Builder) -> Result<Linear> {
        let bound = 1.0 / (d_in.max(1) as f32).sqrt();
        let init = Init::Uniform { lo: -bound, hi: bound };
        Linear::with_init(d_in, d_out, bias.then_some(init), WeightLayout::OutIn, init, vb)
    }

    /// A layer with a chosen layout and inits; `bias` is the bias's init, `None` for no bias.
    pub fn with_init(
        d_in: usize,
        d_out: usize,
        bias: Option<Init>,
        layout: WeightLayout,
        weight_init: Init,
        vb: Builder,
    ) -> Result<Linear> {
        let shape = match layout {
            WeightLayout::OutIn => [d_out, d_in],
            WeightLayout::InOut => [d_in, d_out],
        };
        let weight = vb.get(&shape, "weight", weight_init)?;
        let bias = bias.map(|init| vb.get(&[d_out], "bias", init)).transpose()?;
        Ok(Linear { weight, bias, layout })
    }

    /// A copy for inference: the weight stored `[in, out]` row by row, the layout whose
    /// products pack fastest, with no gradient tracking. The copy is outside the parameter
    /// store: train and save through the original.
    pub fn for_inference(&self) -> Result<Linear> {
        let _inference = no_grad();
        let weight = match self.layout {
            WeightLayout::OutIn => self.weight.detach().transpose(0, 1)?.contiguous(),
            WeightLayout::InOut => self.weight.detach().contiguous(),
        };
        Ok(Linear { weight, bias: self.bias.as_ref().map(Tensor::detach), layout: WeightLayout::InOut })
    }

    /// One inference layer computing the outputs of `layers` (same input width) side by side,
    /// `[y₁ | y₂ | …]`, in one product. All or none of them must have a bias.
    pub fn side_by_side(layers: &[&Linear]) -> Result<Linear> {
        let copies = layers.iter().map(|l| l.for_inference()).collect::<Result<Vec<_>>>()?;
        if copies.iter().any(|l| l.d_in() != copies[0].d_in()) {
            return Err(NnError::Config("side_by_side: the layers' input widths differ".into()));
        }
        let _inference = no_grad();
        let weights: Vec<Tensor> = copies.iter().map(|l| l.weight.clone()).collect();
        let weight = Tensor::cat(&weights, 1)?;
        let bias = match copies.iter().filter_map(|l| l.bias.clone()).collect::<Vec<_>>() {
            b if b.is_empty() => None,
            b if b.len() == copies.len() => Some(Tensor::cat(&b, 0)?),
            _ => return Err(NnError::Config("side_by_side: some layers have a bias and some do not".into())),
        };
        Ok(Linear { weight, bias, layout: WeightLayout::InOut })
    }

    /// Input width.
    pub fn d_in(&self) -> usize {
        match self.layout {
            WeightLayout::OutIn => self.weight.shape()[1],
            WeightLayout::InOut => self.weight.shape()[0],
        }
    }

    /// Output width.
    pub fn d_out(&self) -> usize {
        match self.layout {
            WeightLayout::OutIn => self.weight.shape()[0],
            WeightLayout::InOut => self.weight.shape()[1],
        }
    }
}

impl Module for Linear {
    // x: (…, in) → (…, out); the leading axes are flattened into one matrix product
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let shape = x.shape();
        let d_in = *shape.last().unwrap_or(&0);
        let rows = x.elem_count() / d_in.max(1);
        let w = match self.layout {
            WeightLayout::OutIn => self.weight.transpose(0, 1)?,
            WeightLayout::InOut => self.weight.clone(),
        };
        let x2 = if shape.len() == 2 { x.clone() } else { x.reshape(&[rows, d_in])? };
        let y = match &self.bias {
            Some(b) => x2.matmul_bias(&w, b)?,
            None => x2.matmul(&w)?,
        };
        let mut out_shape = shape.to_vec();
        if let Some(last) = out_shape.last_mut() {
            *last = self.d_out();
        }
        Ok(if shape.len() == 2 { y } else { y.reshape(&out_shape)? })
    }
}
