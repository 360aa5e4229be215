//! The `Tensor` handle: shape, storage on a device (an ndarray on the CPU, a buffer on a CUDA
//! GPU) and, when it tracks gradients, the op that made it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use ndarray::{ArcArray, ArrayD, ArrayViewMutD, IxDyn};

use crate::backprop::{self, Backward, BackwardOp, DeviceBackward};
use crate::device::{DType, Device};
use crate::error::{Result, TensorError};
use crate::rng::Rng;
use crate::storage::Storage;

/// CPU storage: a reference-counted, possibly strided ndarray (views share it).
pub(crate) type Array = ArcArray<f32, IxDyn>;

/// A unique tensor identity, the key of a [`crate::GradStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(u64);

impl TensorId {
    fn fresh() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        TensorId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// The op that produced a tensor and the tensors it read; taken (and freed) by backward.
pub(crate) struct Node {
    pub(crate) op: Backward,
    pub(crate) inputs: Vec<Tensor>,
}

struct Inner {
    id: TensorId,
    shape: Vec<usize>,
    data: RwLock<Storage>,
    node: Mutex<Option<Node>>,
    tracks: bool,
    is_var: bool,
    /// Times the values were changed in place ([`Tensor::update`], [`Tensor::assign`], the
    /// fused optimizer steps).
    version: AtomicU64,
}

/// An n-dimensional `f32` tensor on a [`Device`]. Cloning is cheap (a reference count). On the
/// CPU, views such as [`Tensor::transpose`] share storage and carry strides; on a GPU storage
/// is always contiguous row-major and views are materialised by a copy kernel.
#[derive(Clone)]
pub struct Tensor(Arc<Inner>);

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor[{:?}, id {}{}]", self.shape(), self.0.id.0, if self.0.is_var { ", var" } else { "" })
    }
}

fn element_count(shape: &[usize]) -> usize {
    shape.iter().product()
}

impl Tensor {
    fn build(data: Array, node: Option<Node>, is_var: bool) -> Tensor {
        let shape = data.shape().to_vec();
        Tensor::build_on(Storage::Cpu(data), shape, node, is_var)
    }

    fn build_on(data: Storage, shape: Vec<usize>, node: Option<Node>, is_var: bool) -> Tensor {
        let tracks = is_var || node.is_some();
        Tensor(Arc::new(Inner {
            id: TensorId::fresh(),
            shape,
            data: RwLock::new(data),
            node: Mutex::new(node),
            tracks,
            is_var,
            version: AtomicU64::new(0),
        }))
    }

    /// Wraps an ndarray (any layout) as a constant tensor.
    pub fn from_array(data: impl Into<ArcArray<f32, IxDyn>>) -> Tensor {
        Tensor::build(data.into(), None, false)
    }

    /// The result of an op: records `make_op` and the inputs when gradients are enabled and
    /// some input tracks them; otherwise a constant.
    pub(crate) fn from_op<F>(data: impl Into<Array>, inputs: &[&Tensor], make_op: F) -> Tensor
    where
        F: FnOnce() -> Box<dyn BackwardOp>,
    {
        let data = data.into();
        let shape = data.shape().to_vec();
        Tensor::from_storage_op(Storage::Cpu(data), shape, inputs, || Backward::Host(make_op()))
    }

    /// The result of an op on any device whose backward works on tensors (GPU ops and
    /// device moves): records `make_op` as [`Tensor::from_op`] does.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))] // GPU ops and device moves only
    pub(crate) fn from_device_op<F>(data: Storage, shape: Vec<usize>, inputs: &[&Tensor], make_op: F) -> Tensor
    where
        F: FnOnce() -> Box<dyn DeviceBackward>,
    {
        Tensor::from_storage_op(data, shape, inputs, || Backward::Device(make_op()))
    }

    fn from_storage_op(data: Storage, shape: Vec<usize>, inputs: &[&Tensor], make_op: impl FnOnce() -> Backward) -> Tensor {
        if backprop::grad_enabled() && inputs.iter().any(|t| t.0.tracks) {
            let node = Node { op: make_op(), inputs: inputs.iter().map(|t| (*t).clone()).collect() };
            Tensor::build_on(data, shape, Some(node), false)
        } else {
            Tensor::build_on(data, shape, None, false)
        }
    }

    /// A constant tensor on `storage`'s device with the given shape.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    pub(crate) fn from_storage(data: Storage, shape: Vec<usize>) -> Tensor {
        Tensor::build_on(data, shape, None, false)
    }

    /// A tensor from a row-major buffer; errors when the length does not fill the shape.
    pub fn from_vec(data: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
        let expected = element_count(shape);
        if data.len() != expected {
            return Err(TensorError::ElementCount { op: "from_vec", len: data.len(), shape: shape.to_vec(), expected });
        }
        let arr = ArrayD::from_shape_vec(IxDyn(shape), data)
            .map_err(|e| TensorError::invalid("from_vec", e.to_string()))?;
        Ok(Tensor::from_array(arr))
    }

    /// A tensor copied from a row-major slice.
    pub fn from_slice(data: &[f32], shape: &[usize]) -> Result<Tensor> {
        Tensor::from_vec(data.to_vec(), shape)
    }

    /// A rank-0 tensor holding one value.
    pub fn scalar(value: f32) -> Tensor {
        Tensor::from_array(ArrayD::from_elem(IxDyn(&[]), value))
    }

    /// All zeros.
    pub fn zeros(shape: &[usize]) -> Tensor {
        Tensor::full(shape, 0.0)
    }

    /// All ones.
    pub fn ones(shape: &[usize]) -> Tensor {
        Tensor::full(shape, 1.0)
    }

    /// Every element equal to `value`.
    pub fn full(shape: &[usize], value: f32) -> Tensor {
        Tensor::from_array(ArrayD::from_elem(IxDyn(shape), value))
    }

    /// `start, start + step, …` up to but excluding `end`, as a 1-D tensor.
    pub fn arange(start: f32, end: f32, step: f32) -> Result<Tensor> {
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            return Err(TensorError::invalid("arange", format!("start {start}, end {end}, step {step}")));
        }
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        let v: Vec<f32> = (0..n).map(|i| start + i as f32 * step).collect();
        Tensor::from_vec(v, &[n])
    }

    /// The `n × n` identity matrix.
    pub fn eye(n: usize) -> Tensor {
        Tensor::from_array(ArrayD::from_shape_fn(IxDyn(&[n, n]), |ix| if ix[0] == ix[1] { 1.0 } else { 0.0 }))
    }

    /// Uniform samples in `[lo, hi)` from a seeded generator.
    pub fn uniform(shape: &[usize], lo: f32, hi: f32, rng: &mut Rng) -> Tensor {
        let v = (0..element_count(shape)).map(|_| lo + (hi - lo) * rng.uniform()).collect();
        Tensor::from_array(ArrayD::from_shape_vec(IxDyn(shape), v).expect("length matches shape"))
    }

    /// Uniform samples in `[0, 1)`.
    pub fn rand(shape: &[usize], rng: &mut Rng) -> Tensor {
        Tensor::uniform(shape, 0.0, 1.0, rng)
    }

    /// Normal samples with the given mean and standard deviation.
    pub fn randn(shape: &[usize], mean: f32, std: f32, rng: &mut Rng) -> Tensor {
        let v = (0..element_count(shape)).map(|_| mean + std * rng.normal()).collect();
        Tensor::from_array(ArrayD::from_shape_vec(IxDyn(shape), v).expect("length matches shape"))
    }

    /// A trainable variable holding a copy of `self`'s values: gradients flow to it and an
    /// optimizer may update it in place.
    pub fn to_var(&self) -> Tensor {
        match self.storage() {
            Storage::Cpu(a) => Tensor::build(crate::kernel::to_standard(a.view()).into_shared(), None, true),
            #[cfg(feature = "cuda")]
            Storage::Cuda(b) => Tensor::build_on(Storage::Cuda(b.duplicate()), self.shape().to_vec(), None, true),
        }
    }

    /// The same values, cut from the graph: no gradient flows through the result.
    pub fn detach(&self) -> Tensor {
        Tensor::build_on(self.storage(), self.shape().to_vec(), None, false)
    }

    /// This tensor's identity.
    pub fn id(&self) -> TensorId {
        self.0.id
    }

    /// How many times this tensor's values have been changed in place (an optimizer step,
    /// [`Tensor::assign`]): with [`Tensor::id`], what a cache derived from the values (a
    /// quantized copy, a screen) checks to know whether it is still current.
    pub fn version(&self) -> u64 {
        self.0.version.load(Ordering::Acquire)
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.0.shape
    }

    /// The number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.shape.len()
    }

    /// The number of elements.
    pub fn elem_count(&self) -> usize {
        element_count(&self.0.shape)
    }

    /// The device holding the elements.
    pub fn device(&self) -> Device {
        self.0.data.read().unwrap_or_else(|e| e.into_inner()).device()
    }

    /// A copy on `device` (the same tensor when it is already there). Differentiable: the
    /// gradient goes back to the source device. Errors when the device is missing or the
    /// build lacks the `cuda` feature.
    pub fn to_device(&self, device: Device) -> Result<Tensor> {
        let src = self.device();
        if src == device {
            return Ok(self.clone());
        }
        #[cfg(not(feature = "cuda"))]
        return Err(crate::storage::no_cuda_feature("to_device"));
        #[cfg(feature = "cuda")]
        let data = match (self.storage(), device) {
            (Storage::Cpu(a), Device::Cuda(n)) => {
                let host = crate::kernel::standard(a.view());
                Storage::Cuda(crate::cuda::Buffer::from_host("to_device", n, &host)?)
            }
            (Storage::Cuda(b), Device::Cuda(n)) => Storage::Cuda(b.to_other_gpu("to_device", n)?),
            (Storage::Cuda(b), _) => Storage::Cpu(self.host_array_of("to_device", &b)?),
            (Storage::Cpu(_), _) => return Ok(self.clone()),
        };
        #[cfg(feature = "cuda")]
        Ok(Tensor::from_device_op(data, self.shape().to_vec(), &[self], || Box::new(backprop::ToDevice { src })))
    }

    #[cfg(feature = "cuda")]
    fn host_array_of(&self, op: &'static str, b: &crate::cuda::Buffer) -> Result<Array> {
        let v = b.to_host(op)?;
        Ok(ArrayD::from_shape_vec(IxDyn(self.shape()), v).map_err(|e| TensorError::invalid(op, e.to_string()))?.into_shared())
    }

    /// Always [`DType::F32`] today.
    pub fn dtype(&self) -> DType {
        DType::F32
    }

    /// Whether this is a trainable variable.
    pub fn is_var(&self) -> bool {
        self.0.is_var
    }

    /// Whether gradients flow to or through this tensor.
    pub fn tracks_grad(&self) -> bool {
        self.0.tracks
    }

    /// Whether the storage is laid out row-major without gaps.
    pub fn is_contiguous(&self) -> bool {
        match self.storage() {
            Storage::Cpu(a) => a.is_standard_layout(),
            #[cfg(feature = "cuda")]
            Storage::Cuda(_) => true,
        }
    }

    /// The GPU buffer when the tensor lives on a GPU: the test at the top of each op that
    /// sends it to its CUDA kernels.
    #[cfg(feature = "cuda")]
    pub(crate) fn cuda_buffer(&self) -> Option<crate::cuda::Buffer> {
        match self.storage() {
            Storage::Cuda(b) => Some(b),
            Storage::Cpu(_) => None,
        }
    }

    /// An error naming `op` when the tensor is on a GPU: for the inference-only CPU kernels
    /// (quantized and bf16 weights) that have no CUDA version yet.
    pub(crate) fn cpu_only(&self, op: &'static str) -> Result<()> {
        match self.device() {
            Device::Cpu => Ok(()),
            d => Err(TensorError::cuda(op, format!("not on CUDA yet: the input is on {d}; use f32 weights on the GPU or move the input to the cpu"))),
        }
    }

    /// A shared handle on the storage, whichever the device (cheap).
    pub(crate) fn storage(&self) -> Storage {
        self.0.data.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A shared handle on the CPU storage (cheap). Ops dispatch GPU inputs to their CUDA
    /// kernels before they reach this; for a GPU tensor it is a host copy (what `to_vec` and
    /// friends need) and panics only if the driver fails to copy (use [`Tensor::try_to_vec`]
    /// to get that as an error).
    pub(crate) fn arr(&self) -> Array {
        match self.storage() {
            Storage::Cpu(a) => a,
            #[cfg(feature = "cuda")]
            Storage::Cuda(b) => self.host_array_of("to_host", &b).unwrap_or_else(|e| panic!("{e}")),
        }
    }

    /// The values in row-major order, copied from the device; a driver failure is an error.
    pub fn try_to_vec(&self) -> Result<Vec<f32>> {
        match self.storage() {
            Storage::Cpu(_) => Ok(self.to_vec()),
            #[cfg(feature = "cuda")]
            Storage::Cuda(b) => b.to_host("to_vec"),
        }
    }

    /// The values as an owned ndarray.
    pub fn to_array(&self) -> ArrayD<f32> {
        self.arr().into_owned()
    }

    /// The values in row-major order (copied from the GPU for a GPU tensor, which panics only
    /// if the driver fails: [`Tensor::try_to_vec`] returns that as an error).
    pub fn to_vec(&self) -> Vec<f32> {
        self.with_slice(<[f32]>::to_vec)
    }

    /// Calls `f` with the values in row-major order, borrowed without a copy when the storage
    /// is contiguous.
    pub fn with_slice<R>(&self, f: impl FnOnce(&[f32]) -> R) -> R {
        let a = self.arr();
        match a.as_slice() {
            Some(s) => f(s),
            None => f(&crate::kernel::standard(a.view())),
        }
    }

    /// The single value of a one-element tensor.
    pub fn to_scalar(&self) -> Result<f32> {
        if self.elem_count() != 1 {
            return Err(TensorError::invalid("to_scalar", format!("tensor of shape {:?} is not a scalar", self.shape())));
        }
        Ok(self.try_to_vec()?[0])
    }

    /// Updates a variable in place (the optimizer's step) on the CPU. Errors on
    /// non-variables and on GPU tensors (use `loam_tensor::adamw_step` or [`Tensor::assign`]).
    pub fn update<R>(&self, f: impl FnOnce(ArrayViewMutD<'_, f32>) -> R) -> Result<R> {
        if !self.0.is_var {
            return Err(TensorError::invalid("update", "only variables can be updated in place"));
        }
        let mut guard = self.0.data.write().unwrap_or_else(|e| e.into_inner());
        self.0.version.fetch_add(1, Ordering::AcqRel);
        match &mut *guard {
            Storage::Cpu(a) => Ok(f(a.view_mut())),
            #[cfg(feature = "cuda")]
            Storage::Cuda(b) => Err(TensorError::invalid(
                "update",
                format!("a closure on host memory cannot update a tensor on cuda:{}", b.ordinal()),
            )),
        }
    }

    /// Runs `f` on the GPU buffer of a variable, unshared first (a copy when a view still
    /// holds it), to update it in place. Errors on non-variables and CPU tensors.
    #[cfg(feature = "cuda")]
    pub(crate) fn update_cuda<R>(&self, op: &'static str, f: impl FnOnce(&mut crate::cuda::Buffer) -> Result<R>) -> Result<R> {
        if !self.0.is_var {
            return Err(TensorError::invalid(op, "only variables can be updated in place"));
        }
        let mut guard = self.0.data.write().unwrap_or_else(|e| e.into_inner());
        self.0.version.fetch_add(1, Ordering::AcqRel);
        match &mut *guard {
            Storage::Cuda(b) => f(b),
            Storage::Cpu(_) => Err(TensorError::invalid(op, "expected a tensor on a CUDA device, found one on the cpu")),
        }
    }

    /// Replaces a variable's values with those of `src` (same shape).
    pub fn assign(&self, src: &Tensor) -> Result<()> {
        if src.shape() != self.shape() {
            return Err(TensorError::ShapeMismatch {
                op: "assign",
                lhs: self.shape().to_vec(),
                rhs: src.shape().to_vec(),
                detail: "a variable keeps its shape".into(),
            });
        }
        crate::storage::common_device("assign", &[self, src])?;
        match src.storage() {
            Storage::Cpu(values) => self.update(|mut v| v.assign(&values)),
            #[cfg(feature = "cuda")]
            Storage::Cuda(values) => self.update_cuda("assign", |b| b.copy_from("assign", &values)),
        }
    }

    pub(crate) fn take_node(&self) -> Option<Node> {
        self.0.node.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    pub(crate) fn node_inputs(&self) -> Vec<Tensor> {
        let guard = self.0.node.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().map(|n| n.inputs.clone()).unwrap_or_default()
    }
}
