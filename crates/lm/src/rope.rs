//! The frequencies and cos/sin tables of rotary position embeddings: inv_freq = θ^(−2i/d),
//! optionally rescaled by wavelength as Llama 3 does (`rope_scaling` type `llama3`).

use loam_tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// How the rotary frequencies are rescaled for contexts longer than the model was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RopeScaling {
    /// Llama 3.1/3.2: long wavelengths divided by `factor`, short ones kept, a smooth blend
    /// between (`low_freq_factor`, `high_freq_factor` bound the blend, in units of the
    /// original context).
    Llama3 {
        /// Divisor of the low frequencies.
        factor: f32,
        /// Wavelengths above original/low_freq_factor are scaled fully.
        low_freq_factor: f32,
        /// Wavelengths below original/high_freq_factor are kept.
        high_freq_factor: f32,
        /// The context length of pre-training.
        original_max_position_embeddings: usize,
    },
}

/// The `head_dim / 2` inverse frequencies θ^(−2i/head_dim), rescaled by `scaling` when given.
pub fn inv_freq(head_dim: usize, theta: f32, scaling: Option<&RopeScaling>) -> Vec<f32> {
    let d = head_dim as f64;
    let base: Vec<f64> = (0..head_dim / 2).map(|i| 1.0 / f64::from(theta).powf(2.0 * i as f64 / d)).collect();
    let freqs = match scaling {
        None => base,
        Some(&RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_max_position_embeddings }) => {
            let (factor, low, high) = (f64::from(factor), f64::from(low_freq_factor), f64::from(high_freq_factor));
            let old = original_max_position_embeddings as f64;
            let (low_wavelen, high_wavelen) = (old / low, old / high);
            base.into_iter()
                .map(|f| {
                    let wavelen = 2.0 * std::f64::consts::PI / f;
                    if wavelen < high_wavelen {
                        f
                    } else if wavelen > low_wavelen {
                        f / factor
                    } else {
                        let smooth = (old / wavelen - low) / (high - low);
                        (1.0 - smooth) * f / factor + smooth * f
                    }
                })
                .collect()
        }
    };
    freqs.into_iter().map(|f| f as f32).collect()
}

/// cos and sin tables `[rows, t, D/2]` for `positions` (`rows × t`, row-major): angle
/// position·inv_freq[i], the product taken in f32 as `transformers` does.
pub fn rope_tables(inv_freq: &[f32], positions: &[usize], rows: usize, t: usize) -> Result<(Tensor, Tensor)> {
    let half = inv_freq.len();
    let mut cos = Vec::with_capacity(positions.len() * half);
    let mut sin = Vec::with_capacity(positions.len() * half);
    for &p in positions {
        for &f in inv_freq {
            let angle = f64::from(p as f32 * f);
            cos.push(angle.cos() as f32);
            sin.push(angle.sin() as f32);
        }
    }
    Ok((Tensor::from_vec(cos, &[rows, t, half])?, Tensor::from_vec(sin, &[rows, t, half])?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama3_scaling_keeps_high_frequencies_and_divides_low_ones() {
        let scaling = RopeScaling::Llama3 {
            factor: 32.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192,
        };
        let plain = inv_freq(64, 500_000.0, None);
        let scaled = inv_freq(64, 500_000.0, Some(&scaling));
        assert_eq!(plain[0], scaled[0]); // wavelength 2π, far below 8192/4
        assert!((scaled[31] - plain[31] / 32.0).abs() <= 1e-6 * plain[31]); // longest wavelength
        let blended = (0..32).filter(|&i| scaled[i] != plain[i] && (scaled[i] - plain[i] / 32.0).abs() > 1e-9 * plain[i]).count();
        assert!(blended > 0, "some frequencies lie between the two wavelengths");
    }
}
