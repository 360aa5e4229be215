//! Reverse-mode autograd: the op traits differentiable ops implement, the no-grad scope, and
//! `backward`, which walks the graph once and frees it as it goes.
//!
//! CPU ops implement [`BackwardOp`] on ndarrays (their gradients accumulate in place on the
//! host); GPU ops and device moves implement [`DeviceBackward`] on tensors, so a backward on a
//! GPU is written with the GPU's forward ops or its own kernels. A gradient always lives on
//! the device of the tensor it belongs to.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};

use ndarray::ArrayD;

use crate::device::Device;
use crate::error::{Result, TensorError};
use crate::storage::Storage;
use crate::tensor::{Tensor, TensorId};

/// The backward half of an op: given the gradient of its output, the gradients of its inputs
/// (in the order they were recorded), `None` where an input needs none.
pub(crate) trait BackwardOp: Send + Sync {
    /// Gradients of the inputs; `needs[i]` says whether input `i` tracks gradients. The op
    /// owns the output's gradient, so an input gradient that is the same values (add, reshape,
    /// permute) takes its buffer instead of a copy.
    fn backward(&self, grad: ArrayD<f32>, needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>>;
}

/// The backward half of an op whose gradients are tensors on the op's device (GPU ops, moves
/// between devices): given the gradient of the output, those of the inputs, `None` where an
/// input needs none. It runs without recording a graph.
pub(crate) trait DeviceBackward: Send + Sync {
    /// Gradients of the inputs; `needs[i]` says whether input `i` tracks gradients.
    fn backward(&self, grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>>;
}

/// The backward of a recorded op, by the kind of gradient it works on.
pub(crate) enum Backward {
    /// A CPU op on ndarrays.
    Host(Box<dyn BackwardOp>),
    /// An op on tensors of any device.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))] // GPU ops and device moves only
    Device(Box<dyn DeviceBackward>),
}

/// `to_device`: the gradient goes back to the source device.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))] // GPU ops and device moves only
pub(crate) struct ToDevice {
    /// Where the input lived.
    pub(crate) src: Device,
}

impl DeviceBackward for ToDevice {
    fn backward(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(grad.to_device(self.src)?)])
    }
}

/// A gradient on its way: an ndarray on the host (added to in place) or a tensor on a GPU.
enum Pending {
    Host(ArrayD<f32>),
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))] // GPU ops and device moves only
    Device(Tensor),
}

impl Pending {
    fn of(t: Tensor) -> Pending {
        let storage = t.storage();
        match storage {
            Storage::Cpu(a) => {
                // the last handle on a fresh gradient: unshared, so no copy
                drop(t);
                Pending::Host(a.into_owned())
            }
            #[cfg(feature = "cuda")]
            Storage::Cuda(_) => Pending::Device(t),
        }
    }

    fn into_tensor(self) -> Tensor {
        match self {
            Pending::Host(a) => Tensor::from_array(a),
            Pending::Device(t) => t,
        }
    }

    fn shape(&self) -> &[usize] {
        match self {
            Pending::Host(a) => a.shape(),
            Pending::Device(t) => t.shape(),
        }
    }

    /// Adds `g` (of the same shape and device).
    fn accumulate(&mut self, g: Pending) -> Result<()> {
        match (self, g) {
            (Pending::Host(acc), Pending::Host(g)) => *acc += &g,
            (Pending::Device(acc), g) => *acc = acc.add(&g.into_tensor())?,
            (Pending::Host(_), Pending::Device(g)) => {
                return Err(TensorError::DeviceMismatch { op: "backward", lhs: Device::Cpu, rhs: g.device() });
            }
        }
        Ok(())
    }
}

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

pub(crate) fn grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// While alive, ops on this thread record no graph (inference). Restores the previous state
/// when dropped.
#[must_use = "the scope ends when the guard is dropped"]
pub struct NoGradGuard {
    previous: bool,
}

/// Starts a no-grad scope: `let _g = no_grad();`.
pub fn no_grad() -> NoGradGuard {
    NoGradGuard { previous: GRAD_ENABLED.with(|g| g.replace(false)) }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.previous));
    }
}

/// Gradients of the variables a loss depends on, keyed by tensor id.
#[derive(Debug, Default)]
pub struct GradStore {
    grads: HashMap<TensorId, Tensor>,
}

impl GradStore {
    /// The gradient of `t`, if it received one.
    pub fn get(&self, t: &Tensor) -> Option<&Tensor> {
        self.grads.get(&t.id())
    }

    /// The gradient stored under `id`.
    pub fn get_id(&self, id: TensorId) -> Option<&Tensor> {
        self.grads.get(&id)
    }

    /// Removes and returns the gradient of `t`.
    pub fn remove(&mut self, t: &Tensor) -> Option<Tensor> {
        self.grads.remove(&t.id())
    }

    /// Stores (or replaces) the gradient of `t`.
    pub fn insert(&mut self, t: &Tensor, grad: Tensor) {
        self.grads.insert(t.id(), grad);
    }

    /// The number of gradients held.
    pub fn len(&self) -> usize {
        self.grads.len()
    }

    /// Whether no gradient is held.
    pub fn is_empty(&self) -> bool {
        self.grads.is_empty()
    }

    /// All (id, gradient) pairs, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&TensorId, &Tensor)> {
        self.grads.iter()
    }
}

/// The tensors that lead to `root` and track gradients, inputs before the ops that read them.
fn topological_order(root: &Tensor) -> Vec<Tensor> {
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    // (tensor, children already pushed)
    let mut stack = vec![(root.clone(), false)];
    while let Some((t, expanded)) = stack.pop() {
        if expanded {
            order.push(t);
            continue;
        }
        if !t.tracks_grad() || !seen.insert(t.id()) {
            continue;
        }
        let inputs = t.node_inputs();
        stack.push((t, true));
        for input in inputs {
            if input.tracks_grad() && !seen.contains(&input.id()) {
                stack.push((input, false));
            }
        }
    }
    order
}

impl Tensor {
    /// Backpropagates from this scalar and returns the gradients of every variable it depends
    /// on. Gradients of a tensor used several times add up. The graph is consumed: its nodes
    /// and saved buffers are freed as the walk passes them.
    pub fn backward(&self) -> Result<GradStore> {
        if self.elem_count() != 1 {
            return Err(TensorError::invalid("backward", format!("needs a one-element loss, got shape {:?}", self.shape())));
        }
        let order = topological_order(self);
        let _scope = no_grad();
        let mut pending: HashMap<TensorId, Pending> = HashMap::new();
        let seed = Tensor::ones(self.shape()).to_device(self.device())?;
        pending.insert(self.id(), Pending::of(seed));
        let mut store = GradStore::default();
        for t in order.iter().rev() {
            let Some(grad) = pending.remove(&t.id()) else { continue };
            if t.is_var() {
                store.insert(t, grad.into_tensor());
                continue;
            }
            let Some(node) = t.take_node() else { continue };
            let needs: Vec<bool> = node.inputs.iter().map(|i| i.tracks_grad()).collect();
            let input_grads: Vec<Option<Pending>> = match (&node.op, grad) {
                (Backward::Host(op), Pending::Host(g)) => op.backward(g, &needs)?.into_iter().map(|g| g.map(Pending::Host)).collect(),
                (Backward::Host(op), g) => {
                    let g = g.into_tensor().arr().into_owned();
                    op.backward(g, &needs)?.into_iter().map(|g| g.map(Pending::Host)).collect()
                }
                (Backward::Device(op), g) => op.backward(&g.into_tensor(), &needs)?.into_iter().map(|g| g.map(Pending::of)).collect(),
            };
            for (input, g) in node.inputs.iter().zip(input_grads) {
                let Some(g) = g else { continue };
                if !input.tracks_grad() {
                    continue;
                }
                debug_assert_eq!(g.shape(), input.shape(), "gradient shape of an op input");
                match pending.get_mut(&input.id()) {
                    Some(acc) => acc.accumulate(g)?,
                    None => {
                        pending.insert(input.id(), g);
                    }
                }
            }
        }
        Ok(store)
    }
}
