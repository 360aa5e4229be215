//! A provider over loam models in this process: a generator of text (any model the one loader
//! reads — a loam run, Hugging Face GPT-2, the Llama family, T5 and BART — or a [`CausalLm`]
//! given directly), and a sentence encoder (MiniLM) for embeddings, either optional. Chats go
//! through the model's own chat template when it has one.
//!
//! An encoder–decoder (T5, BART, a loam encoder–decoder run) is text-to-text: a completion's
//! prompt is its source and the answer its target; a chat's source is its one user message
//! (after any system messages), or the whole conversation when there are more turns
//! ([`render_source`]). It summarizes as its authors said ([`Provider::task_summary`]): the
//! `summarization` entry of its `config.json` (T5's `"summarize: "` prefix, beams, lengths).

use std::path::Path;
use std::sync::Arc;

use loam_lm::hf::{SentenceEncoder, TaskParams};
use loam_lm::{
    Architecture, AutoModel, CausalLm, ChatTemplate, GenerationConfig, LmError, Seq2SeqLm, beam_search_seq2seq_stopping,
    generate_seq2seq_until, generate_until, text_until_stop,
};
use loam_text::Tokenizer;

use super::chat::{ChatMessage, render_chat, render_source};
use super::error::{ProviderError, Result};
use super::{Completion, FinishReason, GenParams, OnText, Provider, Usage};

/// Where the decoder comes from.
enum Decoder {
    /// Loaded by [`AutoModel`] (checked to generate when loaded: a decoder or an
    /// encoder–decoder), with its tokenizer, EOS ids and chat template.
    Loaded(Arc<AutoModel>),
    /// Given directly, with its tokenizer.
    Given { model: Arc<dyn CausalLm>, tokenizer: Arc<dyn Tokenizer> },
}

/// A decoder with its tokenizer and where generation ends.
struct Generator {
    decoder: Decoder,
    eos_ids: Vec<u32>,
    /// An encoder–decoder's `summarization` settings, read from its folder when loaded.
    summarization: Option<TaskParams>,
}

impl Generator {
    /// The model as an encoder–decoder, when it is one.
    fn seq2seq(&self) -> Option<&dyn Seq2SeqLm> {
        match &self.decoder {
            Decoder::Loaded(m) => m.seq2seq_lm(),
            Decoder::Given { .. } => None,
        }
    }

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
        let generator = Generator { decoder: Decoder::Given { model, tokenizer }, eos_ids, summarization: None };
        LocalProvider { id: id.into(), generator: Some(generator), encoder: None }
    }

    /// A provider that only embeds, with the sentence encoder in `dir` (e.g. all-MiniLM-L6-v2).
    pub fn encoder_only(dir: &Path) -> Result<Self> {
        let id = local_id(dir);
        LocalProvider { id, generator: None, encoder: None }.with_encoder_dir(dir)
    }

    /// A provider over a model loaded by [`AutoModel`]; generation ends at its EOS ids (its
    /// generation config's and its chat template's end-of-turn token, an encoder–decoder's own
    /// when its config names none). An encoder is an error, and so is an encoder–decoder whose
    /// `summarization` settings cannot be read.
    pub fn from_auto(id: impl Into<String>, model: AutoModel) -> Result<Self> {
        let seq2seq_eos = model.seq2seq_lm().map(|m| m.eos_token_ids());
        let summarization = match seq2seq_eos {
            Some(_) => Some(model.task_params("summarization")?),
            None => {
                model.causal_lm()?;
                None
            }
        };
        let mut eos_ids = model.generation_config().eos_ids;
        if eos_ids.is_empty() {
            eos_ids = seq2seq_eos.unwrap_or_default();
        }
        // a loam run ends at its tokenizer's end-of-text token
        if matches!(model.architecture, Architecture::LoamRun { .. }) {
            eos_ids.extend(model.tokenizer.end_of_text_id());
        }
        let generator = Generator { decoder: Decoder::Loaded(Arc::new(model)), eos_ids, summarization };
        Ok(LocalProvider { id: id.into(), generator: Some(generator), encoder: None })
    }

    /// Loads any generative model folder the one loader reads: a loam run (`config.toml`), a
    /// Hugging Face GPT-2, Llama, SmolLM2, Qwen2, T5 or BART folder (`config.json`).
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

    /// How `params` generate with this provider's model, `extra_stop` added to the stop strings.
    fn config(g: &Generator, params: &GenParams, extra_stop: Option<&str>) -> GenerationConfig {
        let mut stop_strings = params.stop.clone();
        stop_strings.extend(extra_stop.map(String::from));
        GenerationConfig {
            max_new_tokens: params.max_tokens,
            do_sample: params.temperature > 0.0,
            temperature: if params.temperature > 0.0 { params.temperature } else { 1.0 },
            top_p: params.top_p,
            eos_ids: g.eos_ids.clone(),
            stop_strings,
            seed: params.seed.unwrap_or(0),
            ..GenerationConfig::default()
        }
    }

    /// The token ids of an encoder–decoder's source `text` (with the tokenizer's special
    /// tokens); a source longer than the encoder reads is an error that says both lengths.
    fn source(&self, g: &Generator, model: &dyn Seq2SeqLm, text: &str) -> Result<Vec<usize>> {
        let ids = g.tokenizer().encode(text, true).map_err(LmError::from)?;
        let ids: Vec<usize> = ids.into_iter().map(|i| i as usize).collect();
        if let Some(limit) = model.max_source_positions().filter(|&l| ids.len() > l) {
            return Err(ProviderError::Model(LmError::Config(format!(
                "{}: the source is {} tokens and this encoder reads at most {limit}; shorten the text (the extractive \
                 summarizer takes any length)",
                self.id,
                ids.len()
            ))));
        }
        Ok(ids)
    }

    /// Generates after `prompt` (the source of an encoder–decoder) with `extra_stop` added to the
    /// stop strings.
    fn run(
        &self,
        prompt: &str,
        params: &GenParams,
        extra_stop: Option<&str>,
        on_text: OnText<'_>,
    ) -> Result<Completion> {
        params.validate()?;
        let g = self.generator()?;
        let cfg = Self::config(g, params, extra_stop);
        // a cancel stops generation at once: no further token is computed
        let mut cancelled = false;
        let mut streamed = String::new();
        let mut on_piece = |piece: &str| {
            if !cancelled {
                streamed.push_str(piece);
                cancelled = !on_text(piece);
            }
            !cancelled
        };
        let out = match g.seq2seq() {
            Some(model) => {
                let source = self.source(g, model, prompt)?;
                generate_seq2seq_until(model, g.tokenizer(), &source, &cfg, &mut on_piece)?
            }
            None => generate_until(g.model()?, g.tokenizer(), prompt, &cfg, &mut on_piece)?,
        };
        let usage = Some(Usage { prompt_tokens: out.prompt_tokens, completion_tokens: out.ids.len() });
        if cancelled {
            return Ok(Completion { text: streamed, finish_reason: FinishReason::Cancelled, usage });
        }
        Ok(Completion { text: out.text, finish_reason: finish_reason(out.finish_reason), usage })
    }
}

/// Why loam's generation ended, as a provider says it.
fn finish_reason(reason: loam_lm::FinishReason) -> FinishReason {
    match reason {
        loam_lm::FinishReason::Stop => FinishReason::Stop,
        loam_lm::FinishReason::Length => FinishReason::Length,
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
    /// end-of-turn token), or with [`render_chat`] for a model without one; an encoder–decoder
    /// takes it as its source (see the module's documentation).
    fn chat_stream(&self, messages: &[ChatMessage], params: &GenParams, on_text: OnText<'_>) -> Result<Completion> {
        let g = self.generator()?;
        if g.seq2seq().is_some() {
            return self.run(&render_source(messages), params, None, on_text);
        }
        match g.chat_template() {
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

    /// An encoder–decoder's summary: the source is the document after the `summarization`
    /// prefix of its config, searched with that entry's beams and lengths (within
    /// `params.max_tokens` and the decoder's positions; sampled beams at a temperature above 0).
    /// `None` for a decoder.
    fn task_summary(&self, text: &str, params: &GenParams) -> Option<Result<Completion>> {
        let g = self.generator().ok()?;
        let (model, task) = (g.seq2seq()?, g.summarization.as_ref()?);
        Some(self.summarize_with(g, model, task, text, params))
    }
}

impl LocalProvider {
    /// [`Provider::task_summary`] with the encoder–decoder `model` and its settings `task`.
    fn summarize_with(
        &self,
        g: &Generator,
        model: &dyn Seq2SeqLm,
        task: &TaskParams,
        text: &str,
        params: &GenParams,
    ) -> Result<Completion> {
        params.validate()?;
        let source = self.source(g, model, &format!("{}{}", task.prefix.as_deref().unwrap_or(""), text.trim()))?;
        let mut cfg = Self::config(g, params, None);
        // within the decoder's positions, the decoder start token among them
        let room = model.max_target_positions().map_or(usize::MAX, |l| l.saturating_sub(1));
        cfg.max_new_tokens = task.max_new_tokens(params.max_tokens).min(room);
        cfg.no_repeat_ngram_size = task.no_repeat_ngram_size.unwrap_or(0);
        let beam = task.beam_config(cfg.max_new_tokens);
        let best = beam_search_seq2seq_stopping(model, &source, &cfg, &beam, g.tokenizer())?.into_iter().next();
        let Some(best) = best else { return Err(self.unsupported("beam search returned no summary")) };
        let (text, _) = text_until_stop(g.tokenizer(), &best.ids, &cfg.stop_strings)?;
        let usage = Some(Usage { prompt_tokens: source.len(), completion_tokens: best.ids.len() });
        Ok(Completion { text, finish_reason: finish_reason(best.finish_reason), usage })
    }
}
