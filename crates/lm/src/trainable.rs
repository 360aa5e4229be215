//! What the training loop needs of a model, so that one loop (data, progress, evaluation,
//! checkpoints) can serve every objective. The GPT and the Llama implement it.

use loam_nn::Ctx;
use loam_tensor::Tensor;
use loam_text::Tokenizer;

use crate::error::Result;
use crate::generate::generate;
use crate::gpt::Gpt;
use crate::llama::Llama;
use crate::perplexity::perplexity;
use crate::sampling::GenerationConfig;

/// A model the training loop can train (its parameters live in the `ParamStore` it was built
/// with): the loss of a batch, a full validation loss, and samples to show.
pub trait TrainableModel: Sync {
    /// Positions of a training window.
    fn block_size(&self) -> usize;

    /// Mean loss of `b` windows of `t` positions: inputs `x`, targets `y`, `b × t` each.
    fn loss(&self, x: &[usize], y: &[usize], b: usize, t: usize, ctx: &mut Ctx) -> Result<Tensor>;

    /// Mean loss per token over every non-overlapping window of `tokens`.
    fn full_loss(&self, tokens: &[usize]) -> Result<f64>;

    /// The text the model writes after `prompt`.
    fn sample(&self, tokenizer: &dyn Tokenizer, prompt: &str, cfg: &GenerationConfig) -> Result<String>;
}

impl TrainableModel for Gpt {
    fn block_size(&self) -> usize {
        self.config.block_size
    }

    fn loss(&self, x: &[usize], y: &[usize], b: usize, t: usize, ctx: &mut Ctx) -> Result<Tensor> {
        Gpt::loss(self, x, y, b, t, ctx)
    }

    fn full_loss(&self, tokens: &[usize]) -> Result<f64> {
        Ok(perplexity(self, tokens, None, 64, &|t| t.len())?.mean_nll)
    }

    fn sample(&self, tokenizer: &dyn Tokenizer, prompt: &str, cfg: &GenerationConfig) -> Result<String> {
        Ok(generate(self, tokenizer, prompt, cfg, &mut |_| ())?.text)
    }
}

impl TrainableModel for Llama {
    fn block_size(&self) -> usize {
        self.config.block_size
    }

    fn loss(&self, x: &[usize], y: &[usize], b: usize, t: usize, ctx: &mut Ctx) -> Result<Tensor> {
        Llama::loss(self, x, y, b, t, ctx)
    }

    fn full_loss(&self, tokens: &[usize]) -> Result<f64> {
        Ok(perplexity(self, tokens, None, 64, &|t| t.len())?.mean_nll)
    }

    fn sample(&self, tokenizer: &dyn Tokenizer, prompt: &str, cfg: &GenerationConfig) -> Result<String> {
        Ok(generate(self, tokenizer, prompt, cfg, &mut |_| ())?.text)
    }
}
