//! The loam side of `cargo xtask bench gpt2-train`: GPT-2 124M (`GptConfig::default()`)
//! trained on random token ids at B×T = 16×1024, one step being forward, cross-entropy,
//! backward, global-norm clipping at 1.0 and an AdamW step (lr 6e-4, betas 0.9/0.95, weight
//! decay 0.1 on matrices), on CUDA under bf16 autocast (f32 weights and optimizer state).
//! [`WARMUP`] untimed steps, then `--iters` timed ones (default [`STEPS`]), each ended by
//! reading a value back (which waits for the device); the figure is the median step.
//!
//! MFU = model FLOPs per second ÷ [`PEAK_TFLOPS`] (the H100/H200 SXM dense bf16 figure of
//! NVIDIA's datasheet), with 6·N + 12·L·T·d FLOPs per token: N the parameters without the
//! position table, 12·L·T·d the attention products forward and backward without the causal
//! halving (nanoGPT's and PaLM's count). `xtask/py/gpt2-train.py` measures the same step in
//! PyTorch, eager and with `torch.compile`; the cases are named alike so the table shows both
//! ratios (the loam record is the same measurement under both names).

use std::time::Instant;

use anyhow::{Result, ensure};
use loam_lm::{Gpt, GptConfig};
use loam_nn::optim::{AdamW, AdamWConfig, clip_grad_norm};
use loam_nn::{Ctx, ParamStore};
use loam_tensor::{Device, Rng, autocast_bf16};

use crate::record::Record;

/// Sequences per step.
pub const BATCH: usize = 16;
/// Positions per sequence.
pub const SEQ: usize = 1024;
/// Untimed steps before timing.
const WARMUP: usize = 3;
/// Timed steps by default.
pub const STEPS: usize = 10;
/// The peak the MFU divides by: dense bf16 on an H100/H200 SXM, TFLOP/s.
pub const PEAK_TFLOPS: f64 = 989.0;

/// What one measurement gives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// Median seconds per step.
    pub secs: f64,
    /// Training tokens per second at the median step.
    pub tokens_per_s: f64,
    /// Model FLOPs utilization, in percent of [`PEAK_TFLOPS`].
    pub mfu_percent: f64,
    /// The loss of the last step.
    pub last_loss: f32,
}

/// Model FLOPs per token: 6·N + 12·L·T·d (N without the position table).
pub fn flops_per_token(config: &GptConfig, params: usize, t: usize) -> f64 {
    let n = params - config.block_size * config.n_embd;
    6.0 * n as f64 + 12.0 * (config.n_layer * t * config.n_embd) as f64
}

/// Trains a GPT of `config` (its `block_size` must be `t`) on `device` for `warmup` + `steps`
/// steps of `b` random sequences; bf16 autocast on a GPU.
pub fn measure(
    config: &GptConfig,
    b: usize,
    t: usize,
    device: Device,
    warmup: usize,
    steps: usize,
) -> Result<Figures> {
    ensure!(steps > 0, "at least one timed step");
    let host = ParamStore::new(1337);
    let (gpt, store) = Gpt::new(config, &host)?.to_device(&host, device)?;
    drop(host);
    let params = store.trainable();
    let n_params: usize = params.iter().map(|(_, p)| p.elem_count()).sum();
    let adam = AdamWConfig {
        lr: 6e-4,
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-8,
    };
    let mut opt = AdamW::no_decay_1d(params.clone(), 0.1, adam)?;
    let last = params
        .last()
        .map(|(_, p)| p.clone())
        .ok_or_else(|| anyhow::anyhow!("the model has no parameters"))?;
    let mut rng = Rng::new(0);
    let vocab = config.vocab_size as u64;
    let mut step = |i: usize| -> Result<f32> {
        let ids: Vec<usize> = (0..b * (t + 1))
            .map(|_| rng.below(vocab) as usize)
            .collect();
        let (x, y): (Vec<usize>, Vec<usize>) = (0..b)
            .flat_map(|r| (0..t).map(move |p| (r * (t + 1) + p, r * (t + 1) + p + 1)))
            .map(|(i, j)| (ids[i], ids[j]))
            .unzip();
        let _autocast = (device != Device::Cpu).then(autocast_bf16);
        let loss = gpt.loss(&x, &y, b, t, &mut Ctx::train(i as u64))?;
        let mut grads = loss.backward()?;
        clip_grad_norm(&mut grads, params.iter().map(|(_, p)| p), 1.0)?;
        opt.step(&grads)?;
        // reading a value back waits for the step's last kernels
        let _: f32 = last.narrow(0, 0, 1)?.sum_all().to_scalar()?;
        Ok(loss.to_scalar()?)
    };
    for i in 0..warmup {
        step(i)?;
    }
    let mut times = Vec::with_capacity(steps);
    let mut last_loss = f32::NAN;
    for i in 0..steps {
        let start = Instant::now();
        last_loss = step(warmup + i)?;
        times.push(start.elapsed().as_secs_f64());
    }
    ensure!(last_loss.is_finite(), "the loss is {last_loss}");
    times.sort_by(f64::total_cmp);
    let secs = times[times.len() / 2];
    let tokens_per_s = (b * t) as f64 / secs;
    let mfu_percent =
        100.0 * flops_per_token(config, n_params, t) * tokens_per_s / (PEAK_TFLOPS * 1e12);
    Ok(Figures {
        secs,
        tokens_per_s,
        mfu_percent,
        last_loss,
    })
}

/// The case names the PyTorch side uses for GPT-2 124M at `b`×`t` on `device`: eager, then
/// `torch.compile`.
pub fn cases(b: usize, t: usize, device: Device) -> [String; 2] {
    let precision = if device == Device::Cpu {
        "f32"
    } else {
        "bf16 autocast"
    };
    let eager = format!("gpt2-124M train step B{b}xT{t} {precision}");
    [eager.clone(), format!("{eager}, torch.compile")]
}

/// GPT-2 124M at [`BATCH`]×[`SEQ`] on `device`, `steps` timed steps: one record per case name
/// of the PyTorch side (the CPU has only the eager one).
pub fn run(device: Device, steps: Option<usize>) -> Result<Vec<Record>> {
    let f = measure(
        &GptConfig::default(),
        BATCH,
        SEQ,
        device,
        WARMUP,
        steps.unwrap_or(STEPS),
    )?;
    let figures = [
        ("tokens_per_s", f.tokens_per_s),
        ("ms_per_iter", f.secs * 1e3),
        ("mfu_percent", f.mfu_percent),
    ];
    let names = cases(BATCH, SEQ, device);
    let names = if device == Device::Cpu {
        &names[..1]
    } else {
        &names[..]
    };
    Ok(names
        .iter()
        .map(|case| Record::loam("gpt2-train", case, &figures))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_gpt_trains_on_the_cpu_and_its_figures_add_up() {
        let config = GptConfig {
            n_layer: 2,
            n_head: 2,
            n_embd: 32,
            block_size: 16,
            vocab_size: 64,
            ..GptConfig::default()
        };
        let f = measure(&config, 2, 16, Device::Cpu, 1, 3).unwrap();
        assert!(f.secs > 0.0 && f.last_loss.is_finite());
        assert!((f.tokens_per_s - 32.0 / f.secs).abs() < 1e-6 * f.tokens_per_s);
        // random ids: the loss stays near ln(64) after a few steps
        assert!((f.last_loss - 64f32.ln()).abs() < 0.5, "{}", f.last_loss);
    }

    #[test]
    fn gpt2_small_counts_about_124m_parameters_in_its_flops() {
        let c = GptConfig::default();
        let params = 124_439_808; // GPT-2 small with the 1024×768 position table
        let per_token = flops_per_token(&c, params, 1024);
        assert_eq!(
            per_token,
            6.0 * (params - 1024 * 768) as f64 + 12.0 * (12 * 1024 * 768) as f64
        );
        // the names xtask/py/gpt2-train.py prints
        assert_eq!(
            cases(16, 1024, Device::Cuda(0))[1],
            "gpt2-124M train step B16xT1024 bf16 autocast, torch.compile"
        );
        assert_eq!(
            cases(16, 1024, Device::Cpu)[0],
            "gpt2-124M train step B16xT1024 f32"
        );
    }
}
