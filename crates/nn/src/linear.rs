//! Fully connected layer, in PyTorch's layout (`weight: [out, in]`) or GPT-2's `Conv1D` layout
//! (`weight: [in, out]`), with an f32 weight (trainable) or a quantized one (int8, 4-bit or
//! bf16, inference only: see [`Linear::quantize`]).

use loam_tensor::{QuantFormat, QuantMatrix, Tensor, no_grad};

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

/// The weight of a [`Linear`] layer.
#[derive(Debug, Clone)]
pub enum LinearWeight {
    /// f32, laid out as the layer's [`WeightLayout`] says; trainable.
    F32(Tensor),
    /// Quantized, always `[out, in]`; inference only (a product whose input tracks gradients
    /// is an error). Boxed, so that a layer stays small whichever weight it holds.
    Quantized(Box<QuantMatrix>),
}

impl LinearWeight {
    /// The f32 weight, or an error naming the layer when it is quantized.
    pub fn f32(&self) -> Result<&Tensor> {
        match self {
            LinearWeight::F32(w) => Ok(w),
            LinearWeight::Quantized(q) => {
                Err(NnError::Config(format!("this Linear layer holds a {} weight, not an f32 one", q.format())))
            }
        }
    }

    /// Bytes of storage.
    pub fn bytes(&self) -> usize {
        match self {
            LinearWeight::F32(w) => 4 * w.elem_count(),
            LinearWeight::Quantized(q) => q.bytes(),
        }
    }
}

/// y = x·W (+ b) over the last axis of `x`.
#[derive(Debug, Clone)]
pub struct Linear {
    /// The weight.
    pub weight: LinearWeight,
    /// The bias `[out]`, if any.
    pub bias: Option<Tensor>,
    /// The layout of the f32 weight; for a quantized weight (always `[out, in]`), the layout of
    /// the f32 weight it was made from, which a checkpoint records.
    pub layout: WeightLayout,
    /// The weight's parameter name (`h.0.attn.c_attn.weight`), which a quantized checkpoint
    /// stores it under; `None` for a layer built outside a store (a fused inference copy).
    pub name: Option<String>,
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
        Ok(Linear { weight: LinearWeight::F32(weight), bias, layout, name: Some(vb.path("weight")) })
    }

    /// An inference copy with the weight in `format` (int8 per output channel, 4-bit groups or
    /// bf16; see [`QuantMatrix`]) and the bias kept in f32. A quantized layer is requantized
    /// from its dequantized values.
    pub fn quantize(&self, format: QuantFormat) -> Result<Linear> {
        let _inference = no_grad();
        let out_in = match (&self.weight, self.layout) {
            (LinearWeight::F32(w), WeightLayout::OutIn) => w.detach(),
            (LinearWeight::F32(w), WeightLayout::InOut) => w.detach().transpose(0, 1)?.contiguous(),
            (LinearWeight::Quantized(q), _) if q.format() == format => return Ok(self.clone()),
            (LinearWeight::Quantized(q), _) => q.dequantize(),
        };
        self.with_quantized(QuantMatrix::quantize(&out_in, format)?)
    }

    /// This layer with the quantized weight `w` (`[out, in]`, as a checkpoint stored it) in
    /// place of its own; the shapes must agree.
    pub fn with_quantized(&self, w: QuantMatrix) -> Result<Linear> {
        if w.shape() != [self.d_out(), self.d_in()] {
            return Err(NnError::Config(format!(
                "{}: a quantized weight {:?} does not fit a layer of {} inputs and {} outputs",
                self.name.as_deref().unwrap_or("Linear"),
                w.shape(),
                self.d_in(),
                self.d_out()
            )));
        }
        Ok(Linear {
            weight: LinearWeight::Quantized(Box::new(w)),
            bias: self.bias.as_ref().map(Tensor::detach),
            layout: self.layout,
            name: self.name.clone(),
        })
    }

    /// A copy for inference: the weight stored `[in, out]` row by row, the layout whose
    /// products pack fastest, with no gradient tracking. The copy is outside the parameter
    /// store: train and save through the original.
    /// A quantized layer is already an inference copy and is returned as it is.
    pub fn for_inference(&self) -> Result<Linear> {
        let _inference = no_grad();
        let weight = match (&self.weight, self.layout) {
            (LinearWeight::Quantized(_), _) => return Ok(self.clone()),
            (LinearWeight::F32(w), WeightLayout::OutIn) => w.detach().transpose(0, 1)?.contiguous(),
            (LinearWeight::F32(w), WeightLayout::InOut) => w.detach().contiguous(),
        };
        Ok(Linear {
            weight: LinearWeight::F32(weight),
            bias: self.bias.as_ref().map(Tensor::detach),
            layout: WeightLayout::InOut,
            name: self.name.clone(),
        })
    }

    /// One inference layer computing the outputs of `layers` (same input width) side by side,
    /// `[y₁ | y₂ | …]`, in one product. All or none of them must have a bias; all must be f32
    /// or all quantized in one format.
    pub fn side_by_side(layers: &[&Linear]) -> Result<Linear> {
        let copies = layers.iter().map(|l| l.for_inference()).collect::<Result<Vec<_>>>()?;
        if copies.iter().any(|l| l.d_in() != copies[0].d_in()) {
            return Err(NnError::Config("side_by_side: the layers' input widths differ".into()));
        }
        let _inference = no_grad();
        let bias = match copies.iter().filter_map(|l| l.bias.clone()).collect::<Vec<_>>() {
            b if b.is_empty() => None,
            b if b.len() == copies.len() => Some(Tensor::cat(&b, 0)?),
            _ => return Err(NnError::Config("side_by_side: some layers have a bias and some do not".into())),
        };
        let quantized: Vec<&QuantMatrix> = copies
            .iter()
            .filter_map(|l| match &l.weight {
                LinearWeight::Quantized(q) => Some(&**q),
                LinearWeight::F32(_) => None,
            })
            .collect();
        if !quantized.is_empty() {
            if quantized.len() != copies.len() {
                return Err(NnError::Config("side_by_side: some layers are quantized and some are not".into()));
            }
            let weight = LinearWeight::Quantized(Box::new(QuantMatrix::stack_rows(&quantized)?));
            return Ok(Linear { weight, bias, layout: WeightLayout::OutIn, name: None });
        }
        let weights = copies.iter().map(|l| l.weight.f32().cloned()).collect::<Result<Vec<_>>>()?;
        let weight = LinearWeight::F32(Tensor::cat(&weights, 1)?);
        Ok(Linear { weight, bias, layout: WeightLayout::InOut, name: None })
    }

    /// Input width.
    pub fn d_in(&self) -> usize {
        match (&self.weight, self.layout) {
            (LinearWeight::Quantized(q), _) => q.shape()[1],
            (LinearWeight::F32(w), WeightLayout::OutIn) => w.shape()[1],
            (LinearWeight::F32(w), WeightLayout::InOut) => w.shape()[0],
        }
    }

    /// Output width.
    pub fn d_out(&self) -> usize {
        match (&self.weight, self.layout) {
            (LinearWeight::Quantized(q), _) => q.shape()[0],
            (LinearWeight::F32(w), WeightLayout::OutIn) => w.shape()[0],
            (LinearWeight::F32(w), WeightLayout::InOut) => w.shape()[1],
        }
    }
}

impl Module for Linear {
    // x: (…, in) → (…, out); the leading axes are flattened into one matrix product
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let shape = x.shape();
        let d_in = *shape.last().unwrap_or(&0);
        let rows = x.elem_count() / d_in.max(1);
        let x2 = if shape.len() == 2 { x.clone() } else { x.reshape(&[rows, d_in])? };
        let y = match (&self.weight, self.layout, &self.bias) {
            (LinearWeight::Quantized(q), _, None) => x2.matmul_quant(q)?,
            (LinearWeight::Quantized(q), _, Some(b)) => x2.matmul_quant(q)?.add(b)?,
            (LinearWeight::F32(w), layout, bias) => {
                let w = if layout == WeightLayout::OutIn { w.transpose(0, 1)? } else { w.clone() };
                match bias {
                    Some(b) => x2.matmul_bias(&w, b)?,
                    None => x2.matmul(&w)?,
                }
            }
        };
        let mut out_shape = shape.to_vec();
        if let Some(last) = out_shape.last_mut() {
            *last = self.d_out();
        }
        Ok(if shape.len() == 2 { y } else { y.reshape(&out_shape)? })
    }
}
