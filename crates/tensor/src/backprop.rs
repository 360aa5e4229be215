//! Reverse-mode autograd: the op trait every differentiable op implements, the no-grad scope,
//! and `backward`, which walks the graph once and frees it as it goes.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};

use ndarray::ArrayD;

use crate::error::{Result, TensorError};
use crate::tensor::{Tensor, TensorId};

/// The backward half of an op: given the gradient of its output, the gradients of its inputs
/// (in the order they were recorded), `None` where an input needs none.
pub(crate) trait BackwardOp: Send + Sync {
    /// Gradients of the inputs; `needs[i]` says whether input `i` tracks gradients.
    fn backward(&self, grad: &ArrayD<f32>, needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>>;
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
        let mut pending: HashMap<TensorId, ArrayD<f32>> = HashMap::new();
        pending.insert(self.id(), ArrayD::ones(self.shape()));
        let mut store = GradStore::default();
        for t in order.iter().rev() {
            let Some(grad) = pending.remove(&t.id()) else { continue };
            if t.is_var() {
                store.insert(t, Tensor::from_array(grad));
                continue;
            }
            let Some(node) = t.take_node() else { continue };
            let needs: Vec<bool> = node.inputs.iter().map(|i| i.tracks_grad()).collect();
            let input_grads = node.op.backward(&grad, &needs)?;
            for (input, g) in node.inputs.iter().zip(input_grads) {
                let Some(g) = g else { continue };
                if !input.tracks_grad() {
                    continue;
                }
                debug_assert_eq!(g.shape(), input.shape(), "gradient shape of an op input");
                match pending.get_mut(&input.id()) {
                    Some(acc) => *acc += &g,
                    None => {
                        pending.insert(input.id(), g);
                    }
                }
            }
        }
        Ok(store)
    }
}
