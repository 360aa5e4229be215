//! Parameter groups (parameters sharing a weight decay) and the per-parameter optimizer state
//! built from them.

use std::collections::HashSet;

use loam_tensor::{Device, Tensor};
use rayon::prelude::*;

use crate::error::{NnError, Result};

/// Parameters that share one weight decay, as in PyTorch's `param_groups`.
#[derive(Debug, Clone)]
pub struct ParamGroup {
    /// The parameters by name; the names key the optimizer's saved state.
    pub params: Vec<(String, Tensor)>,
    /// The weight decay applied to every parameter of the group.
    pub weight_decay: f32,
}

impl ParamGroup {
    /// A group of `params` decayed by `weight_decay`.
    pub fn new(params: Vec<(String, Tensor)>, weight_decay: f32) -> Self {
        ParamGroup { params, weight_decay }
    }

    /// The GPT recipe: parameters of rank ≥ 2 (matmul weights, embeddings) decayed by
    /// `weight_decay`, the others (biases, norm gains) not at all; returns [decayed, not].
    pub fn no_decay_1d(params: Vec<(String, Tensor)>, weight_decay: f32) -> Vec<ParamGroup> {
        let (matrices, vectors) = params.into_iter().partition(|(_, t)| t.rank() >= 2);
        vec![ParamGroup::new(matrices, weight_decay), ParamGroup::new(vectors, 0.0)]
    }
}

/// One parameter with its optimizer state: buffers of its shape (AdamW's two moments, SGD's
/// momentum) and the number of steps it took (PyTorch counts per parameter).
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) name: String,
    pub(crate) param: Tensor,
    pub(crate) weight_decay: f32,
    pub(crate) steps: u64,
    pub(crate) buffers: Buffers,
}

/// A slot's state buffers, where its parameter lives: flat row-major host vectors for a CPU
/// parameter, variables on the device for a GPU one (updated there, in place).
#[derive(Debug)]
pub(crate) enum Buffers {
    /// Host buffers, each the parameter's element count long.
    Host(Vec<Vec<f32>>),
    /// Device variables of the parameter's shape.
    Device(Vec<Tensor>),
}

impl Buffers {
    /// `n` zeroed buffers for `param`, on its device.
    pub(crate) fn zeros(param: &Tensor, n: usize) -> Result<Buffers> {
        Buffers::from_values(param, vec![vec![0.0; param.elem_count()]; n])
    }

    /// Buffers for `param` holding `values` (row-major, one vector per buffer), on its device.
    pub(crate) fn from_values(param: &Tensor, values: Vec<Vec<f32>>) -> Result<Buffers> {
        if param.device() == Device::Cpu {
            return Ok(Buffers::Host(values));
        }
        let tensors = values
            .into_iter()
            .map(|v| Ok(Tensor::from_vec(v, param.shape())?.to_device(param.device())?.to_var()))
            .collect::<Result<Vec<Tensor>>>()?;
        Ok(Buffers::Device(tensors))
    }

    /// Every buffer's values, row-major, copied to the host (for saving).
    pub(crate) fn host_values(&self) -> Result<Vec<Vec<f32>>> {
        match self {
            Buffers::Host(v) => Ok(v.clone()),
            Buffers::Device(ts) => ts.iter().map(|t| Ok(t.to_device(Device::Cpu)?.to_vec())).collect(),
        }
    }
}

/// The slots of `groups`, each with `n_buffers` zeroed buffers; checks that every parameter is
/// a variable, that names are unique and that weight decays are finite and non-negative.
pub(crate) fn slots(groups: Vec<ParamGroup>, n_buffers: usize) -> Result<Vec<Slot>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for group in groups {
        let wd = group.weight_decay;
        if !(wd.is_finite() && wd >= 0.0) {
            return Err(NnError::Config(format!("weight decay must be finite and non-negative, got {wd}")));
        }
        for (name, param) in group.params {
            if !param.is_var() {
                return Err(NnError::Config(format!("`{name}` is not a variable, so an optimizer cannot update it")));
            }
            if !seen.insert(name.clone()) {
                return Err(NnError::Config(format!("parameter `{name}` is given to the optimizer twice")));
            }
            let buffers = Buffers::zeros(&param, n_buffers)?;
            out.push(Slot { name, param, weight_decay: wd, steps: 0, buffers });
        }
    }
    Ok(out)
}

/// The gradients of the slots that have one, in slot order (`None` where absent), after
/// checking every shape, so that a step changes nothing when one gradient is wrong.
pub(crate) fn gather_grads<'g>(slots: &[Slot], grads: &'g loam_tensor::GradStore) -> Result<Vec<Option<&'g Tensor>>> {
    slots
        .iter()
        .map(|s| match grads.get(&s.param) {
            Some(g) if g.shape() != s.param.shape() => Err(NnError::ParamShape {
                name: format!("gradient of {}", s.name),
                expected: s.param.shape().to_vec(),
                found: g.shape().to_vec(),
            }),
            g => Ok(g),
        })
        .collect()
}

/// Calls `f` with a tensor's values in row-major order, copied at memcpy speed (element-wise
/// iteration over a dynamic-rank array is an order of magnitude slower).
pub(crate) fn with_values<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> R {
    let a = t.to_array();
    let a = a.as_standard_layout();
    match a.as_slice() {
        Some(s) => f(s),
        None => f(&a.iter().copied().collect::<Vec<f32>>()),
    }
}

/// Below this many elements a parameter is updated on the calling thread.
const PAR_MIN: usize = 1 << 15;
/// Elements per rayon task; each element is updated independently, so results do not depend on
/// the thread count.
const CHUNK: usize = 1 << 13;

/// One rayon task's share: a chunk of the parameter, of its gradient and of each buffer.
type Task<'a, const N: usize> = (&'a mut [f32], &'a [f32], [&'a mut [f32]; N]);

/// Runs `kernel(param, grad, buffers)` over a parameter's values in place, in chunks on rayon
/// when large. The parameter's storage is used directly when row-major, else through a copy.
pub(crate) fn update_param<const N: usize>(
    param: &Tensor,
    grad: &[f32],
    buffers: [&mut [f32]; N],
    kernel: impl Fn(&mut [f32], &[f32], [&mut [f32]; N]) + Sync,
) -> Result<()> {
    let run = |p: &mut [f32], buffers: [&mut [f32]; N]| {
        if p.len() < PAR_MIN {
            kernel(p, grad, buffers);
            return;
        }
        // Split every buffer into the same chunks; task i gets chunk i of each.
        let mut chunked: Vec<std::slice::ChunksMut<'_, f32>> = buffers.into_iter().map(|b| b.chunks_mut(CHUNK)).collect();
        let tasks: Vec<Task<'_, N>> = p
            .chunks_mut(CHUNK)
            .zip(grad.chunks(CHUNK))
            .map(|(pc, gc)| (pc, gc, std::array::from_fn(|i| chunked[i].next().unwrap_or_default())))
            .collect();
        tasks.into_par_iter().for_each(|(pc, gc, bc)| kernel(pc, gc, bc));
    };
    param.update(|mut view| match view.as_slice_mut() {
        Some(p) => run(p, buffers),
        None => {
            let mut flat: Vec<f32> = view.iter().copied().collect();
            run(&mut flat, buffers);
            view.iter_mut().zip(flat).for_each(|(d, s)| *d = s);
        }
    })?;
    Ok(())
}
