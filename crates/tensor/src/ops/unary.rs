//! Elementwise functions and scalar arithmetic. Each kind's value and derivative are written
//! side by side; the derivative may use the input `x` and the output `y`.

use std::f32::consts::{FRAC_2_SQRT_PI, FRAC_1_SQRT_2};

use ndarray::{ArrayD, ArrayViewD};

use crate::backprop::BackwardOp;
use crate::error::Result;
use crate::kernel::{exp_nonpositive, map, map2};
use crate::tensor::{Array, Tensor};

#[derive(Debug, Clone, Copy)]
enum Kind {
    Neg,
    AddScalar(f32),
    MulScalar(f32),
    Powf(f32),
    Sqrt,
    Exp,
    Log,
    Tanh,
    Relu,
    Gelu,
    GeluTanh,
    Silu,
    Sigmoid,
}

#[cfg(feature = "cuda")]
impl Kind {
    /// The kernel's number for this kind (`K_*` in `cuda/kernels/unary.cu`) and its scalar.
    fn code(self) -> crate::cuda::unary::Code {
        let (kind, c) = match self {
            Kind::Neg => (0, 0.0),
            Kind::AddScalar(c) => (1, c),
            Kind::MulScalar(c) => (2, c),
            Kind::Powf(e) => (3, e),
            Kind::Sqrt => (4, 0.0),
            Kind::Exp => (5, 0.0),
            Kind::Log => (6, 0.0),
            Kind::Tanh => (7, 0.0),
            Kind::Relu => (8, 0.0),
            Kind::Gelu => (9, 0.0),
            Kind::GeluTanh => (10, 0.0),
            Kind::Silu => (11, 0.0),
            Kind::Sigmoid => (12, 0.0),
        };
        crate::cuda::unary::Code { kind, c }
    }
}

/// sqrt(2/π), the scale inside the tanh approximation of GELU.
const SQRT_2_OVER_PI: f32 = FRAC_2_SQRT_PI * FRAC_1_SQRT_2;
/// The cubic coefficient of the tanh approximation of GELU.
const GELU_C: f32 = 0.044_715;

/// erf(x) as a rational function of x² on [-4, 4] (the coefficients of Eigen's and XLA's
/// float erf; beyond ±4, erf is ±1 in f32), within 4e-7 of the exact value (a few f32 ulps).
/// Division and multiply-adds only, so loops over it
/// vectorize, unlike libm's branchy erff.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    p = x2 * p + -2.101_024e-6;
    p = x2 * p + -5.692_506_4e-5;
    p = x2 * p + -7.349_906_3e-4;
    p = x2 * p + -2.954_6e-3;
    p = x2 * p + -1.609_603_3e-2;
    let mut q = x2 * -1.456_607_2e-5 + -2.133_740_6e-4;
    q = x2 * q + -1.682_827e-3;
    q = x2 * q + -7.373_329e-3;
    q = x2 * q + -1.426_474e-2;
    x * p / q
}

/// tanh(x) in multiply-adds and one division, so loops over it vectorize (libm's tanhf is a
/// scalar call into expm1f: GELU's tanh form spent 13% of a batched GPT-2 decoding step
/// there). Below |x| = 0.625, Cephes' odd polynomial x + x³·P(x²); above, (1 − e)/(1 + e)
/// with e = e^(−2|x|), which has no cancellation there; within a few f32 ulps of the exact
/// value (tested), ±1 beyond ±9, NaN for NaN.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let e = exp_nonpositive(-2.0 * a);
    let far = (1.0 - e) / (1.0 + e);
    let z = x * x;
    let mut p = -5.704_988_7e-3f32;
    p = p * z + 2.063_909e-2;
    p = p * z + -5.373_971_6e-2;
    p = p * z + 1.333_144_2e-1;
    p = p * z + -3.333_328e-1;
    let near = a + a * z * p;
    // a NaN fails the comparison and keeps `near`, which is NaN
    let t = if a >= 0.625 { far } else { near };
    t.copysign(x)
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// GELU's exact form, x·Φ(x).
#[inline(always)]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2))
}

/// d/dx x·Φ(x) = Φ(x) + x·φ(x).
#[inline(always)]
fn gelu_grad(x: f32) -> f32 {
    let cdf = 0.5 * (1.0 + erf(x * FRAC_1_SQRT_2));
    let pdf = exp_nonpositive(-0.5 * x * x) * (0.5 * FRAC_2_SQRT_PI * FRAC_1_SQRT_2);
    cdf + x * pdf
}

/// GELU's tanh approximation, 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))).
#[inline(always)]
fn gelu_tanh(x: f32) -> f32 {
    0.5 * x * (1.0 + tanh(SQRT_2_OVER_PI * (x + GELU_C * x * x * x)))
}

/// Derivative of [`gelu_tanh`].
#[inline(always)]
fn gelu_tanh_grad(x: f32) -> f32 {
    let t = tanh(SQRT_2_OVER_PI * (x + GELU_C * x * x * x));
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * x * x)
}

/// y = f(x) for every element. One loop per kind (no per-element dispatch), so each
/// vectorizes where its function allows.
fn values(kind: Kind, x: ArrayViewD<'_, f32>) -> ArrayD<f32> {
    match kind {
        Kind::Neg => map(x, |x| -x),
        Kind::AddScalar(c) => map(x, move |x| x + c),
        Kind::MulScalar(c) => map(x, move |x| x * c),
        Kind::Powf(e) => map(x, move |x| x.powf(e)),
        Kind::Sqrt => map(x, f32::sqrt),
        Kind::Exp => map(x, f32::exp),
        Kind::Log => map(x, f32::ln),
        Kind::Tanh => map(x, tanh),
        Kind::Relu => map(x, |x| x.max(0.0)),
        Kind::Gelu => map(x, gelu),
        Kind::GeluTanh => map(x, gelu_tanh),
        Kind::Silu => map(x, |x| x * sigmoid(x)),
        Kind::Sigmoid => map(x, sigmoid),
    }
}

/// dx = g · f'(x) for every element, f' written with the input `x` or the output `y` (g itself
/// where f' = 1).
fn gradients(kind: Kind, g: ArrayD<f32>, x: ArrayViewD<'_, f32>, y: ArrayViewD<'_, f32>) -> ArrayD<f32> {
    let gv = g.view();
    match kind {
        Kind::Neg => map(gv, |g| -g),
        Kind::AddScalar(_) => g,
        Kind::MulScalar(c) => map(gv, move |g| g * c),
        Kind::Powf(e) => map2(gv, x, move |g, x| g * e * x.powf(e - 1.0)),
        Kind::Sqrt => map2(gv, y, |g, y| g * 0.5 / y),
        Kind::Exp => map2(gv, y, |g, y| g * y),
        Kind::Log => map2(gv, x, |g, x| g / x),
        Kind::Tanh => map2(gv, y, |g, y| g * (1.0 - y * y)),
        Kind::Relu => map2(gv, x, |g, x| if x > 0.0 { g } else { 0.0 }),
        Kind::Gelu => map2(gv, x, |g, x| g * gelu_grad(x)),
        Kind::GeluTanh => map2(gv, x, |g, x| g * gelu_tanh_grad(x)),
        Kind::Silu => map2(gv, x, |g, x| {
            let s = sigmoid(x);
            g * s * (1.0 + x * (1.0 - s))
        }),
        Kind::Sigmoid => map2(gv, y, |g, y| g * y * (1.0 - y)),
    }
}

struct Unary {
    kind: Kind,
    x: Array,
    y: Array,
}

// x: (D…) → (D…)
fn forward(kind: Kind, t: &Tensor) -> Tensor {
    #[cfg(feature = "cuda")]
    if let Some(x) = t.cuda_buffer() {
        return crate::cuda::unary::forward(kind.code(), t, &x);
    }
    let x = t.arr();
    let y: Array = values(kind, x.view()).into();
    Tensor::from_op(y.clone(), &[t], || Box::new(Unary { kind, x, y }))
}

impl BackwardOp for Unary {
    fn backward(&self, g: ArrayD<f32>, _needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        Ok(vec![Some(gradients(self.kind, g, self.x.view(), self.y.view()))])
    }
}

impl Tensor {
    /// `-self`.
    pub fn neg(&self) -> Tensor {
        forward(Kind::Neg, self)
    }

    /// `self + c`.
    pub fn add_scalar(&self, c: f32) -> Tensor {
        forward(Kind::AddScalar(c), self)
    }

    /// `self - c`.
    pub fn sub_scalar(&self, c: f32) -> Tensor {
        forward(Kind::AddScalar(-c), self)
    }

    /// `self * c`.
    pub fn mul_scalar(&self, c: f32) -> Tensor {
        forward(Kind::MulScalar(c), self)
    }

    /// `self / c`.
    pub fn div_scalar(&self, c: f32) -> Tensor {
        forward(Kind::MulScalar(1.0 / c), self)
    }

    /// `self` raised to the power `e`, elementwise.
    pub fn powf(&self, e: f32) -> Tensor {
        forward(Kind::Powf(e), self)
    }

    /// Square root.
    pub fn sqrt(&self) -> Tensor {
        forward(Kind::Sqrt, self)
    }

    /// Natural exponential.
    pub fn exp(&self) -> Tensor {
        forward(Kind::Exp, self)
    }

    /// Natural logarithm.
    pub fn log(&self) -> Tensor {
        forward(Kind::Log, self)
    }

    /// Hyperbolic tangent.
    pub fn tanh(&self) -> Tensor {
        forward(Kind::Tanh, self)
    }

    /// `max(x, 0)`.
    pub fn relu(&self) -> Tensor {
        forward(Kind::Relu, self)
    }

    /// GELU, exact form `x·Φ(x)` with the error function (BERT, PyTorch's default).
    pub fn gelu(&self) -> Tensor {
        forward(Kind::Gelu, self)
    }

    /// GELU, tanh approximation (GPT-2's `gelu_new`).
    pub fn gelu_tanh(&self) -> Tensor {
        forward(Kind::GeluTanh, self)
    }

    /// SiLU (swish), `x·σ(x)`.
    pub fn silu(&self) -> Tensor {
        forward(Kind::Silu, self)
    }

    /// Logistic sigmoid.
    pub fn sigmoid(&self) -> Tensor {
        forward(Kind::Sigmoid, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_erf_is_within_a_few_f32_ulps_of_libm() {
        let worst = (-6000..=6000)
            .map(|i| i as f32 * 1e-3)
            .map(|x| (erf(x) as f64 - libm::erf(x as f64)).abs())
            .fold(0.0, f64::max);
        assert!(worst < 4e-7, "max |erf error| {worst}");
    }

    #[test]
    fn fast_tanh_is_within_a_few_f32_ulps_of_the_exact_value() {
        let xs = (-12_000..=12_000).map(|i| i as f32 * 1e-3).chain((-300..=300).map(|i| i as f32 * 1e-6));
        let worst = xs
            .map(|x| {
                let exact = (x as f64).tanh();
                (tanh(x) as f64 - exact).abs() / exact.abs().max(f64::from(f32::MIN_POSITIVE))
            })
            .fold(0.0, f64::max);
        assert!(worst < 2.0 * f64::from(f32::EPSILON), "max relative tanh error {worst}");
        assert_eq!(tanh(0.0).to_bits(), 0.0f32.to_bits());
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!((tanh(f32::INFINITY), tanh(f32::NEG_INFINITY)), (1.0, -1.0));
        assert!(tanh(f32::NAN).is_nan());
    }
}
