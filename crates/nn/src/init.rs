//! How a new parameter is filled.

use loam_tensor::{Rng, Tensor};

/// An initialization scheme. Fan-in and fan-out follow PyTorch's convention for a weight of
/// shape `[out, in, …]`: fan_in = in·receptive, fan_out = out·receptive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
    /// Every element the same value.
    Const(f32),
    /// Normal with a mean and standard deviation (GPT-2 uses std 0.02).
    Normal {
        /// Mean.
        mean: f32,
        /// Standard deviation.
        std: f32,
    },
    /// Uniform in `[lo, hi)`.
    Uniform {
        /// Lower bound.
        lo: f32,
        /// Upper bound.
        hi: f32,
    },
    /// Glorot uniform: bound √(6 / (fan_in + fan_out)).
    XavierUniform,
    /// Glorot normal: std √(2 / (fan_in + fan_out)).
    XavierNormal,
    /// He uniform for ReLU: bound √2·√(3 / fan_in).
    KaimingUniform,
    /// He normal for ReLU: std √2 / √fan_in.
    KaimingNormal,
}

/// (fan_in, fan_out) of a shape `[out, in, …]`; a vector counts as `[n]` with both fans n.
fn fans(shape: &[usize]) -> (f32, f32) {
    match shape {
        [] => (1.0, 1.0),
        [n] => (*n as f32, *n as f32),
        [out, inp, rest @ ..] => {
            let r: usize = rest.iter().product();
            ((inp * r) as f32, (out * r) as f32)
        }
    }
}

impl Init {
    /// A new tensor of `shape` filled by this scheme, drawing from `rng`.
    pub fn tensor(self, shape: &[usize], rng: &mut Rng) -> Tensor {
        let (fan_in, fan_out) = fans(shape);
        match self {
            Init::Zeros => Tensor::zeros(shape),
            Init::Ones => Tensor::ones(shape),
            Init::Const(v) => Tensor::full(shape, v),
            Init::Normal { mean, std } => Tensor::randn(shape, mean, std, rng),
            Init::Uniform { lo, hi } => Tensor::uniform(shape, lo, hi, rng),
            Init::XavierUniform => {
                let b = (6.0 / (fan_in + fan_out)).sqrt();
                Tensor::uniform(shape, -b, b, rng)
            }
            Init::XavierNormal => Tensor::randn(shape, 0.0, (2.0 / (fan_in + fan_out)).sqrt(), rng),
            Init::KaimingUniform => {
                let b = 2f32.sqrt() * (3.0 / fan_in).sqrt();
                Tensor::uniform(shape, -b, b, rng)
            }
            Init::KaimingNormal => Tensor::randn(shape, 0.0, 2f32.sqrt() / fan_in.sqrt(), rng),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn std_of(t: &Tensor) -> f32 {
        let v = t.to_vec();
        let m = v.iter().sum::<f32>() / v.len() as f32;
        (v.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / v.len() as f32).sqrt()
    }

    #[test]
    fn schemes_have_their_spread() {
        let mut rng = Rng::new(0);
        let s = [256, 512];
        let xu = Init::XavierUniform.tensor(&s, &mut rng);
        let bound = (6.0f32 / 768.0).sqrt();
        assert!(xu.to_vec().iter().all(|v| v.abs() <= bound));
        assert!((std_of(&xu) - bound / 3f32.sqrt()).abs() < 0.002);
        assert!((std_of(&Init::XavierNormal.tensor(&s, &mut rng)) - (2.0f32 / 768.0).sqrt()).abs() < 0.002);
        assert!((std_of(&Init::KaimingNormal.tensor(&s, &mut rng)) - (2.0f32 / 512.0).sqrt()).abs() < 0.002);
        assert!((std_of(&Init::KaimingUniform.tensor(&s, &mut rng)) - (2.0f32 / 512.0).sqrt()).abs() < 0.002);
        assert!((std_of(&Init::Normal { mean: 0.0, std: 0.02 }.tensor(&s, &mut rng)) - 0.02).abs() < 0.0005);
        assert_eq!(Init::Const(3.0).tensor(&[2], &mut rng).to_vec(), vec![3.0, 3.0]);
    }
}
