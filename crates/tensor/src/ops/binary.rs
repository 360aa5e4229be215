//! Elementwise add, sub, mul and div with NumPy broadcasting; backward sums the gradient over
//! the broadcast axes.

use ndarray::ArrayD;

use crate::backprop::BackwardOp;
use crate::error::Result;
use crate::kernel::map2;
use crate::shape::{broadcast_shapes, sum_to_shape};
use crate::tensor::{Array, Tensor};

#[derive(Debug, Clone, Copy)]
enum Kind {
    Add,
    Sub,
    Mul,
    Div,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Add => "add",
            Kind::Sub => "sub",
            Kind::Mul => "mul",
            Kind::Div => "div",
        }
    }
}

struct Binary {
    kind: Kind,
    a: Array,
    b: Array,
}

// a: (A…), b: (B…) → out: broadcast(A, B)
fn forward(kind: Kind, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    #[cfg(feature = "cuda")]
    if a.device().is_cuda() || b.device().is_cuda() {
        let code = [crate::cuda::binary::ADD, crate::cuda::binary::SUB, crate::cuda::binary::MUL, crate::cuda::binary::DIV][kind as usize];
        return crate::cuda::binary::forward(kind.name(), code, a, b);
    }
    let shape = broadcast_shapes(kind.name(), a.shape(), b.shape())?;
    let (aa, ba) = (a.arr(), b.arr());
    let av = aa.broadcast(shape.as_slice()).expect("shape is the broadcast of both");
    let bv = ba.broadcast(shape.as_slice()).expect("shape is the broadcast of both");
    let out = match kind {
        Kind::Add => map2(av, bv, |x, y| x + y),
        Kind::Sub => map2(av, bv, |x, y| x - y),
        Kind::Mul => map2(av, bv, |x, y| x * y),
        Kind::Div => map2(av, bv, |x, y| x / y),
    };
    Ok(Tensor::from_op(out, &[a, b], || Box::new(Binary { kind, a: aa, b: ba })))
}

impl BackwardOp for Binary {
    fn backward(&self, g: ArrayD<f32>, needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        let shape = g.shape().to_vec();
        let a = self.a.broadcast(shape.as_slice()).expect("inputs broadcast to the output");
        let b = self.b.broadcast(shape.as_slice()).expect("inputs broadcast to the output");
        // b's gradient first, so that a's takes g's own buffer where it is g (add, sub)
        let gb = needs[1].then(|| {
            let full = match self.kind {
                Kind::Add => g.clone(),
                Kind::Sub => g.mapv(|g| -g),
                Kind::Mul => map2(g.view(), a.view(), |g, x| g * x),
                Kind::Div => crate::kernel::map3(g.view(), a.view(), b.view(), |g, x, y| -g * x / (y * y)),
            };
            sum_to_shape(full, self.b.shape())
        });
        let ga = needs[0].then(|| {
            let full = match self.kind {
                Kind::Add | Kind::Sub => g,
                Kind::Mul => map2(g.view(), b.view(), |g, y| g * y),
                Kind::Div => map2(g.view(), b.view(), |g, y| g / y),
            };
            sum_to_shape(full, self.a.shape())
        });
        Ok(vec![ga, gb])
    }
}

impl Tensor {
    /// `self + rhs`, broadcasting.
    pub fn add(&self, rhs: &Tensor) -> Result<Tensor> {
        forward(Kind::Add, self, rhs)
    }

    /// `self - rhs`, broadcasting.
    pub fn sub(&self, rhs: &Tensor) -> Result<Tensor> {
        forward(Kind::Sub, self, rhs)
    }

    /// `self * rhs` elementwise, broadcasting.
    pub fn mul(&self, rhs: &Tensor) -> Result<Tensor> {
        forward(Kind::Mul, self, rhs)
    }

    /// `self / rhs` elementwise, broadcasting.
    pub fn div(&self, rhs: &Tensor) -> Result<Tensor> {
        forward(Kind::Div, self, rhs)
    }
}
