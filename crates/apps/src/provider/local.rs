//! A provider over loam models in this process: a decoder for text (any model the one loader
//! reads — a loam run, Hugging Face GPT-2, the Llama family — or a [`CausalLm`] given
//! directly), and a sentence encoder (MiniLM) for embeddings, either optional. Chats go through
//! the model's own chat template when it has one.

use std::path::Path;
use std::sync::Arc;

use loam_lm::hf::SentenceEncoder;
use loam_lm::{Architecture, AutoModel, CausalLm, ChatTemplate, GenerationConfig, generate_until};
use loam_text::Tokenizer;

use super::chat::{ChatMessage, render_chat};
use super::error::{ProviderError, Result};
use super::{Completion, FinishReason, GenParams, OnText, Provider, Usage};

/// Where the decoder comes from.
enum Decoder {
    /// Loaded by [`AutoModel`] (checked to generate when loaded), with its tokenizer, EOS ids
    /// and chat template.
    Loaded(Arc<AutoModel>),
    /// Given directly, with its tokenizer.
    Given { model: Arc<dyn CausalLm>, tokenizer: Arc<dyn Tokenizer> },
}

/// A decoder with its tokenizer and where generation ends.
struct Generator {
    decoder: Decoder,
    eos_ids: Vec<u32>,
}

impl Generator {
    fn model(&self) -> Result<&dyn CausalLm> {
        match &self.decoder {
            Decoder::Loaded(m) => Ok(m.causal_lm()?),
            Decoder::Given { model, .. } => Ok(model.as_ref()),
        }
    }

    fn tokenizer(&self) -> &dyn Tokenizer {
        match &self.decoder {
            Decoder::Loaded(m) => &m.tokenizer,
            Decoder::Given { tokenizer, .. } => tokenizer.as_ref(),
        }
    }

    fn chat_template(&self) -> Option<&ChatTemplate> {
        match &self.decoder {
            Decoder::Loaded(m) => m.chat_template.as_ref(),
            Decoder::Given { .. } => None,
        }
    }
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
        LocalProvider { id: id.into(), generator: Some(Generator { decoder: Decoder::Given { model, tokenizer }, eos_ids }), encoder: None }
    }

    /// A provider that only embeds, with the sentence encoder in `dir` (e.g. all-MiniLM-L6-v2).
    pub fn encoder_only(dir: &Path) -> Result<Self> {
        let id = local_id(dir);
        LocalProvider { id, generator: None, encoder: None }.with_encoder_dir(dir)
    }

    /// A provider over a model loaded by [`AutoModel`]; generation ends at its EOS ids (its
    /// generation config's and its chat template's end-of-turn token). An encoder is an error.
    pub fn from_auto(id: impl Into<String>, model: AutoModel) -> Result<Self> {
        model.causal_lm()?;
        let mut eos_ids = model.generation_config().eos_ids;
        // a loam run ends at its tokenizer's end-of-text token
        if matches!(model.architecture, Architecture::LoamRun { .. }) {
            eos_ids.extend(model.tokenizer.end_of_text_id());
        }
        Ok(LocalProvider { id: id.into(), generator: Some(Generator { decoder: Decoder::Loaded(Arc::new(model)), eos_ids }), encoder: None })
    }

    /// Loads any generative model folder the one loader reads: a loam run (`config.toml`), a
    /// Hugging Face GPT-2, Llama, SmolLM2 or Qwen2 folder (`config.json`).
    pub fn from_dir(dir: &Path) -> Result<Self> {
        Self::from_auto(local_id(dir), AutoModel::from_dir(dir)?)
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
        let model = g.model()?;
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
        // a cancel stops generation at once: no further token is computed
        let mut cancelled = false;
        let mut streamed = String::new();
        let out = generate_until(model, g.tokenizer(), prompt, &cfg, &mut |piece| {
            if !cancelled {
                streamed.push_str(piece);
                cancelled = !on_text(piece);
            }
            !cancelled
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

    /// Renders the conversation with the model's chat template (the reply ends at its
    /// end-of-turn token), or with [`render_chat`] for a model without one.
    fn chat_stream(&self, messages: &[ChatMessage], params: &GenParams, on_text: OnText<'_>) -> Result<Completion> {
        match self.generator()?.chat_template() {
            Some(template) => {
                let turns: Vec<loam_lm::ChatMessage> =
                    messages.iter().map(|m| loam_lm::ChatMessage::new(m.role.name(), &m.content)).collect();
                let prompt = template.render(&turns, true)?;
                self.run(&prompt, params, None, on_text)
            }
            None => {
                let (prompt, stop) = render_chat(messages);
                self.run(&prompt, params, Some(stop), on_text)
            }
        }
    }
}
