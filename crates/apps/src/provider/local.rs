//! A provider over loam models in this process: a decoder ([`CausalLm`]: a loam GPT run, an HF
//! GPT-2) for text, and a sentence encoder (MiniLM) for embeddings, either optional.

use std::path::Path;
use std::sync::Arc;

use loam_lm::hf::{SentenceEncoder, load_gpt2};
use loam_lm::{CausalLm, GenerationConfig, generate, load_model};
use loam_text::{HfTokenizer, Tokenizer};

use super::chat::{ChatMessage, render_chat};
use super::error::{ProviderError, Result};
use super::{Completion, FinishReason, GenParams, OnText, Provider, Usage};

/// A decoder with its tokenizer.
struct Generator {
    model: Arc<dyn CausalLm>,
    tokenizer: Arc<dyn Tokenizer>,
    eos_ids: Vec<u32>,
}

/// Loam models run in this process.
pub struct LocalProvider {
    id: String,
    generator: Option<Generator>,
    encoder: Option<(String, Arc<SentenceEncoder>)>,
}

/// `local:<last component of dir>`: the same model gives the same id on every machine.
fn local_id(dir: &Path) -> String {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| dir.display().to_string());
    format!("local:{name}")
}

impl LocalProvider {
    /// A provider over a decoder and its tokenizer; generation ends at any of `eos_ids`.
    pub fn new(id: impl Into<String>, model: Arc<dyn CausalLm>, tokenizer: Arc<dyn Tokenizer>, eos_ids: Vec<u32>) -> Self {
        LocalProvider { id: id.into(), generator: Some(Generator { model, tokenizer, eos_ids }), encoder: None }
    }

    /// A provider that only embeds, with the sentence encoder in `dir` (e.g. all-MiniLM-L6-v2).
    pub fn encoder_only(dir: &Path) -> Result<Self> {
        let id = local_id(dir);
        LocalProvider { id, generator: None, encoder: None }.with_encoder_dir(dir)
    }

    /// Loads a loam run folder (a checkpoint: `config.toml`, `model.safetensors`,
    /// `tokenizer.json`); generation ends at the tokenizer's end-of-text token.
    pub fn from_run_dir(dir: &Path) -> Result<Self> {
        let m = load_model(dir)?;
        let eos_ids = m.tokenizer.end_of_text_id().into_iter().collect();
        Ok(Self::new(local_id(dir), Arc::new(m.gpt), Arc::new(m.tokenizer), eos_ids))
    }

    /// Loads a Hugging Face GPT-2 folder (`config.json`, safetensors weights, `tokenizer.json`);
    /// generation ends at the config's `eos_token_id`.
    pub fn from_gpt2_dir(dir: &Path) -> Result<Self> {
        let gpt2 = load_gpt2(dir)?;
        let tokenizer = HfTokenizer::load(&dir.join("tokenizer.json")).map_err(loam_lm::LmError::from)?;
        let eos_ids = gpt2.config.eos_token_id.map(|e| e as u32).into_iter().collect();
        Ok(Self::new(local_id(dir), Arc::new(gpt2.model), Arc::new(tokenizer), eos_ids))
    }

    /// Loads either kind of folder: a loam run (`config.toml`) or an HF GPT-2 (`config.json`).
    pub fn from_dir(dir: &Path) -> Result<Self> {
        if dir.join("config.toml").is_file() {
            Self::from_run_dir(dir)
        } else if dir.join("config.json").is_file() {
            Self::from_gpt2_dir(dir)
        } else {
            Err(ProviderError::Config(format!("{}: neither a loam run folder (config.toml) nor a Hugging Face GPT-2 folder (config.json)", dir.display())))
        }
    }

    /// Adds the sentence encoder in `dir` for embeddings.
    pub fn with_encoder_dir(self, dir: &Path) -> Result<Self> {
        let encoder = SentenceEncoder::from_dir(dir)?;
        Ok(self.with_encoder(local_id(dir), Arc::new(encoder)))
    }

    /// Adds a loaded sentence encoder for embeddings, under the model id `id`.
    pub fn with_encoder(mut self, id: impl Into<String>, encoder: Arc<SentenceEncoder>) -> Self {
        self.encoder = Some((id.into(), encoder));
        self
    }

    fn encoder(&self) -> Result<&(String, Arc<SentenceEncoder>)> {
        self.encoder.as_ref().ok_or_else(|| self.unsupported("no sentence encoder is loaded for embeddings"))
    }

    fn generator(&self) -> Result<&Generator> {
        self.generator.as_ref().ok_or_else(|| self.unsupported("no generative model is loaded"))
    }

    fn unsupported(&self, what: &str) -> ProviderError {
        ProviderError::Unsupported { provider: self.id.clone(), what: what.to_string() }
    }

    /// Generates after `prompt` with `extra_stop` added to the stop strings.
    fn run(&self, prompt: &str, params: &GenParams, extra_stop: Option<&str>, on_text: OnText<'_>) -> Result<Completion> {
        params.validate()?;
        let g = self.generator()?;
        let mut stop_strings = params.stop.clone();
        stop_strings.extend(extra_stop.map(String::from));
        let cfg = GenerationConfig {
            max_new_tokens: params.max_tokens,
            do_sample: params.temperature > 0.0,
            temperature: if params.temperature > 0.0 { params.temperature } else { 1.0 },
            top_p: params.top_p,
            eos_ids: g.eos_ids.clone(),
            stop_strings,
            seed: params.seed.unwrap_or(0),
            ..GenerationConfig::default()
        };
        // `generate` cannot be stopped from its callback: after a cancel the pieces are dropped
        // and only the text streamed so far is returned.
        let mut cancelled = false;
        let mut streamed = String::new();
        let out = generate(g.model.as_ref(), g.tokenizer.as_ref(), prompt, &cfg, &mut |piece| {
            if !cancelled {
                streamed.push_str(piece);
                cancelled = !on_text(piece);
            }
        })?;
        let usage = Some(Usage { prompt_tokens: out.prompt_tokens, completion_tokens: out.ids.len() });
        if cancelled {
            return Ok(Completion { text: streamed, finish_reason: FinishReason::Cancelled, usage });
        }
        let finish_reason = match out.finish_reason {
            loam_lm::FinishReason::Stop => FinishReason::Stop,
            loam_lm::FinishReason::Length => FinishReason::Length,
        };
        Ok(Completion { text: out.text, finish_reason, usage })
    }
}

impl Provider for LocalProvider {
    fn model_id(&self) -> String {
        self.id.clone()
    }

    fn embedding_model_id(&self) -> Result<String> {
        Ok(self.encoder()?.0.clone())
    }

    fn embedding_dim(&self) -> Result<usize> {
        Ok(self.encoder()?.1.dim())
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(self.encoder()?.1.encode(texts)?)
    }

    fn complete_stream(&self, prompt: &str, params: &GenParams, on_text: OnText<'_>) -> Result<Completion> {
        self.run(prompt, params, None, on_text)
    }

    /// Renders the conversation with [`render_chat`] (these models have no chat template).
    fn chat_stream(&self, messages: &[ChatMessage], params: &GenParams, on_text: OnText<'_>) -> Result<Completion> {
        let (prompt, stop) = render_chat(messages);
        self.run(&prompt, params, Some(stop), on_text)
    }
}
