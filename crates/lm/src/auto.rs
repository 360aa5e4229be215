//! One loader for every model loam runs, from a loam run folder (`config.toml`), a Hugging
//! Face folder (`config.json`, whose `model_type` picks the model) or a hub id fetched into
//! loam's cache. It gives the model, its tokenizer, its generation defaults
//! (`generation_config.json`) and its chat template, so that every command takes the same
//! `--model`.

use std::path::{Path, PathBuf};

use loam_nn::ParamStore;
use loam_tensor::QuantFormat;
use loam_text::{AnyTokenizer, Tokenizer, load_tokenizer};
use serde::Deserialize;

use crate::causal_lm::CausalLm;
use crate::chat_template::ChatTemplate;
use crate::error::{LmError, Result};
use crate::hf::{
    Bart, BertConfig, BertForMaskedLM, BertModel, Gpt2, HfLlama, LlamaOptions, T5, load_gpt2, load_llama,
    TaskParams, read_json, resolve_model,
};
use crate::sampling::GenerationConfig;
use crate::seq2seq_lm::Seq2SeqLm;
use crate::train_config::TrainConfig;
use crate::trained_model::TrainedModel;
use crate::{LoadedModel, load_model};

/// The config of a loam run folder (as its checkpoints are written).
const RUN_CONFIG_FILE: &str = "config.toml";
/// The tokenizer of a Hugging Face folder.
const HF_TOKENIZER_FILE: &str = "tokenizer.json";

/// The `model_type`s the loader knows, for error messages.
pub const SUPPORTED_MODEL_TYPES: &[&str] = &["gpt2", "bert", "llama", "qwen2", "t5", "bart"];

/// Which model a folder holds, from its files alone (no weights read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelKind {
    /// A loam run folder or checkpoint (`config.toml`): a GPT, Llama or BERT loam trained.
    LoamRun,
    /// Hugging Face GPT-2 (`model_type` `gpt2`).
    Gpt2,
    /// Hugging Face BERT (`model_type` `bert`): an encoder, for embeddings and fill-mask.
    Bert,
    /// The Llama family (`model_type` `llama` or `qwen2`), with the type as written.
    Llama(String),
    /// Hugging Face T5 (`model_type` `t5`: T5, flan-t5), an encoder–decoder.
    T5,
    /// Hugging Face BART (`model_type` `bart`: BART, distilbart), an encoder–decoder.
    Bart,
}

/// Only the fields of `config.json` that pick the model.
#[derive(Deserialize)]
struct ModelType {
    model_type: Option<String>,
    /// The task classes the weights were saved from (`BertForMaskedLM`…).
    #[serde(default)]
    architectures: Vec<String>,
}

impl ModelKind {
    /// The kind of model in `dir`: `config.toml` makes a loam run; otherwise `config.json`'s
    /// `model_type` decides, and an unknown type is an error naming it and the known ones.
    pub fn detect(dir: &Path) -> Result<ModelKind> {
        if dir.join(RUN_CONFIG_FILE).is_file() {
            return Ok(ModelKind::LoamRun);
        }
        let config = dir.join("config.json");
        if !config.is_file() {
            return Err(LmError::file(dir, format!("not a model folder: neither {RUN_CONFIG_FILE} (a loam run) nor config.json (Hugging Face)")));
        }
        let t: ModelType = read_json(&config)?;
        match t.model_type.as_deref() {
            Some("gpt2") => Ok(ModelKind::Gpt2),
            Some("bert") => Ok(ModelKind::Bert),
            Some(family @ ("llama" | "qwen2")) => Ok(ModelKind::Llama(family.to_string())),
            Some("t5") => Ok(ModelKind::T5),
            Some("bart") => Ok(ModelKind::Bart),
            Some(other) => Err(LmError::file(
                config,
                format!("model_type `{other}` is not supported; loam loads {}", SUPPORTED_MODEL_TYPES.join(", ")),
            )),
            None => Err(LmError::file(config, "no `model_type`: cannot tell which model this is")),
        }
    }
}

/// A loaded model, by family.
pub enum Architecture {
    /// loam's GPT, Llama or BERT from a run folder, with the training config it was made with.
    LoamRun {
        /// The model.
        model: TrainedModel,
        /// Its parameters.
        store: ParamStore,
        /// Its training config.
        config: Box<TrainConfig>,
    },
    /// Hugging Face GPT-2.
    Gpt2(Gpt2),
    /// A Hugging Face Llama-family decoder (Llama, SmolLM2, Qwen2).
    Llama(HfLlama),
    /// A Hugging Face T5 encoder–decoder.
    T5 {
        /// The model.
        model: Box<T5>,
        /// Its f32 tensors.
        store: ParamStore,
    },
    /// A Hugging Face BART encoder–decoder.
    Bart {
        /// The model.
        model: Box<Bart>,
        /// Its f32 tensors.
        store: ParamStore,
    },
    /// A Hugging Face BERT encoder.
    Bert {
        /// The encoder.
        model: BertModel,
        /// Its parameters.
        store: ParamStore,
    },
    /// A Hugging Face BERT with its masked-LM head (`architectures` names `BertForMaskedLM`).
    BertForMaskedLM {
        /// The model.
        model: BertForMaskedLM,
        /// Its parameters.
        store: ParamStore,
    },
}

/// `generation_config.json` (or `config.json` when it is missing): how `transformers`
/// generates with this model by default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GenerationDefaults {
    /// Sample rather than take the most likely token (false when not said, as in
    /// `transformers`).
    #[serde(default)]
    pub do_sample: bool,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f32>,
    /// Top-k filter when sampling (`transformers` uses 50 when not said).
    #[serde(default)]
    pub top_k: Option<usize>,
    /// Top-p filter when sampling.
    #[serde(default)]
    pub top_p: Option<f32>,
    /// Min-p filter when sampling.
    #[serde(default)]
    pub min_p: Option<f32>,
    /// Repetition penalty.
    #[serde(default)]
    pub repetition_penalty: Option<f32>,
    /// End-of-sequence ids (`eos_token_id`: one id or a list).
    #[serde(default, rename = "eos_token_id", deserialize_with = "one_or_many")]
    pub eos_ids: Vec<u32>,
    /// The beginning-of-sequence id.
    #[serde(default, rename = "bos_token_id")]
    pub bos_id: Option<u32>,
}

/// `null`, one id or a list of ids.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Ids {
        One(u32),
        Many(Vec<u32>),
    }
    Ok(match Option::<Ids>::deserialize(d)? {
        None => Vec::new(),
        Some(Ids::One(id)) => vec![id],
        Some(Ids::Many(ids)) => ids,
    })
}

/// `transformers`' top-k when sampling and the config does not say.
const HF_DEFAULT_TOP_K: usize = 50;

impl GenerationDefaults {
    /// The defaults of a Hugging Face folder: `generation_config.json`, else the ids in
    /// `config.json`.
    pub fn from_dir(dir: &Path) -> Result<GenerationDefaults> {
        let path = dir.join("generation_config.json");
        read_json(&if path.is_file() { path } else { dir.join("config.json") })
    }

    /// What `cargo xtask generate` always did with a loam run: sampling at temperature 0.8.
    pub fn loam_run() -> GenerationDefaults {
        GenerationDefaults {
            do_sample: true,
            temperature: Some(0.8),
            top_k: None,
            top_p: None,
            min_p: None,
            repetition_penalty: None,
            eos_ids: Vec::new(),
            bos_id: None,
        }
    }

    /// A generation config with these defaults (and `max_new_tokens` 64 until the caller
    /// sets it).
    pub fn to_config(&self, hugging_face: bool) -> GenerationConfig {
        let default_k = (hugging_face && self.do_sample).then_some(HF_DEFAULT_TOP_K);
        GenerationConfig {
            do_sample: self.do_sample,
            temperature: self.temperature.unwrap_or(1.0),
            top_k: self.top_k.or(default_k).filter(|&k| k > 0),
            top_p: self.top_p.filter(|&p| p < 1.0),
            min_p: self.min_p,
            repetition_penalty: self.repetition_penalty.unwrap_or(1.0),
            eos_ids: self.eos_ids.clone(),
            ..GenerationConfig::default()
        }
    }
}

/// A model with everything needed to run it.
pub struct AutoModel {
    /// The folder it was loaded from (the cache folder for a hub id).
    pub dir: PathBuf,
    /// The model.
    pub architecture: Architecture,
    /// Its tokenizer.
    pub tokenizer: AnyTokenizer,
    /// How it generates by default.
    pub generation: GenerationDefaults,
    /// Its chat template, when it has one.
    pub chat_template: Option<ChatTemplate>,
}

impl AutoModel {
    /// Loads `model`: a folder (a loam run or a Hugging Face folder; an existing folder always
    /// wins) or a hub id (`gpt2`, `owner/name[@revision]`), fetched into loam's cache first.
    /// `log` receives a line per file fetched.
    pub fn load(model: &str, log: &mut dyn FnMut(&str)) -> Result<AutoModel> {
        AutoModel::from_dir(&resolve_model(model, log)?)
    }

    /// Loads the model folder `dir`.
    pub fn from_dir(dir: &Path) -> Result<AutoModel> {
        let kind = ModelKind::detect(dir)?;
        if kind == ModelKind::LoamRun {
            let LoadedModel { model, store, tokenizer, config } = load_model(dir)?;
            // an encoder–decoder trained on pairs writes its target greedily, as it was scored
            let generation = match model {
                TrainedModel::Seq2Seq(_) => GenerationDefaults { do_sample: false, temperature: None, ..GenerationDefaults::loam_run() },
                _ => GenerationDefaults::loam_run(),
            };
            return Ok(AutoModel {
                dir: dir.to_path_buf(),
                architecture: Architecture::LoamRun { model, store, config: Box::new(config) },
                tokenizer,
                generation,
                chat_template: ChatTemplate::from_dir(dir)?,
            });
        }
        let architecture = match kind {
            ModelKind::Gpt2 => Architecture::Gpt2(load_gpt2(dir)?),
            ModelKind::Bert => {
                let config = dir.join("config.json");
                BertConfig::load(&config)?;
                if read_json::<ModelType>(&config)?.architectures.iter().any(|a| a == "BertForMaskedLM") {
                    let (model, store) = BertForMaskedLM::from_dir(dir)?;
                    Architecture::BertForMaskedLM { model, store }
                } else {
                    let (model, store) = BertModel::from_dir(dir)?;
                    Architecture::Bert { model, store }
                }
            }
            ModelKind::Llama(_) => Architecture::Llama(load_llama(dir, LlamaOptions::default())?),
            ModelKind::T5 => {
                let (model, store) = T5::from_dir(dir)?;
                Architecture::T5 { model: Box::new(model), store }
            }
            ModelKind::Bart => {
                let (model, store) = Bart::from_dir(dir)?;
                Architecture::Bart { model: Box::new(model), store }
            }
            ModelKind::LoamRun => unreachable!("handled above"),
        };
        let tokenizer_path = dir.join(HF_TOKENIZER_FILE);
        if !tokenizer_path.is_file() {
            return Err(LmError::file(dir, format!("no {HF_TOKENIZER_FILE}: loam reads the tokenizer from it")));
        }
        Ok(AutoModel {
            dir: dir.to_path_buf(),
            architecture,
            tokenizer: load_tokenizer(&tokenizer_path)?,
            generation: GenerationDefaults::from_dir(dir)?,
            chat_template: ChatTemplate::from_dir(dir)?,
        })
    }

    /// `gpt`, `gpt2`, `bert`… for messages.
    pub fn model_type(&self) -> &'static str {
        match &self.architecture {
            Architecture::LoamRun { model: TrainedModel::Gpt(_), .. } => "loam gpt",
            Architecture::LoamRun { model: TrainedModel::Llama(_), .. } => "loam llama",
            Architecture::LoamRun { model: TrainedModel::Bert(_), .. } => "loam bert",
            Architecture::LoamRun { model: TrainedModel::Seq2Seq(_), .. } => "loam seq2seq",
            Architecture::Gpt2(_) => "gpt2",
            Architecture::Llama(l) if l.config.model_type == "qwen2" => "qwen2",
            Architecture::Llama(_) => "llama",
            Architecture::Bert { .. } | Architecture::BertForMaskedLM { .. } => "bert",
            Architecture::T5 { .. } => "t5",
            Architecture::Bart { .. } => "bart",
        }
    }

    /// The model as an encoder–decoder generator, or `None` for other models.
    pub fn seq2seq_lm(&self) -> Option<&dyn Seq2SeqLm> {
        match &self.architecture {
            Architecture::T5 { model, .. } => Some(model.as_ref()),
            Architecture::Bart { model, .. } => Some(model.as_ref()),
            Architecture::LoamRun { model: TrainedModel::Seq2Seq(m), .. } => Some(m),
            _ => None,
        }
    }

    /// The model as a decoder-only text generator; an encoder or an encoder–decoder (see
    /// [`AutoModel::seq2seq_lm`]) is an error.
    pub fn causal_lm(&self) -> Result<&dyn CausalLm> {
        match &self.architecture {
            Architecture::LoamRun { model, .. } => model.causal_lm(),
            Architecture::Gpt2(g) => Ok(&g.model),
            Architecture::Llama(l) => Ok(&l.model),
            Architecture::Bert { .. } | Architecture::BertForMaskedLM { .. } => Err(LmError::file(
                &self.dir,
                "a BERT encoder does not generate text (it gives embeddings and fill-mask predictions)",
            )),
            Architecture::T5 { .. } | Architecture::Bart { .. } => Err(LmError::file(
                &self.dir,
                format!("{} is an encoder–decoder: it generates from a source text, not as a continuation", self.model_type()),
            )),
        }
    }

    /// The model as a masked language model (a loam MLM run or a Hugging Face
    /// `BertForMaskedLM`); any other model is an error.
    pub fn masked_lm(&self) -> Result<&BertForMaskedLM> {
        match &self.architecture {
            Architecture::LoamRun { model, .. } => model.masked_lm().map_err(|e| LmError::file(&self.dir, e.to_string())),
            Architecture::BertForMaskedLM { model, .. } => Ok(model),
            Architecture::Bert { .. } => Err(LmError::file(
                &self.dir,
                "this BERT has no masked-LM head (config.json's `architectures` does not name BertForMaskedLM)",
            )),
            Architecture::Gpt2(_) | Architecture::Llama(_) | Architecture::T5 { .. } | Architecture::Bart { .. } => {
                Err(LmError::file(&self.dir, format!("a {} model is not a masked language model", self.model_type())))
            }
        }
    }

    /// Replaces the model with an inference copy whose linear layers (and a tied GPT head) are
    /// in `format`: a quantized checkpoint's model without writing one. It then runs under
    /// `no_grad` only (generation, evaluation and embedding do).
    pub fn quantize(&mut self, format: QuantFormat) -> Result<()> {
        match &mut self.architecture {
            Architecture::LoamRun { model: TrainedModel::Gpt(g), .. } => *g = g.quantize(format)?,
            Architecture::LoamRun { model: TrainedModel::Llama(l), .. } => *l = l.quantize(format)?,
            Architecture::Gpt2(g) => g.model = g.model.quantize(format)?,
            Architecture::Llama(l) => l.model = l.model.quantize(format)?,
            Architecture::Bert { model, .. } => *model = model.quantize(format)?,
            Architecture::LoamRun { model: TrainedModel::Bert(m), .. } | Architecture::BertForMaskedLM { model: m, .. } => {
                *m = m.quantize(format)?
            }
            Architecture::T5 { model, .. } => **model = model.quantize(format)?,
            Architecture::Bart { model, .. } => **model = model.quantize(format)?,
            Architecture::LoamRun { model: TrainedModel::Seq2Seq(m), .. } => *m = m.quantize(format)?,
        }
        Ok(())
    }

    /// How the model's authors run it for `task` (`summarization`, …): see [`TaskParams`]; a
    /// loam run has no such settings.
    pub fn task_params(&self, task: &str) -> Result<TaskParams> {
        if self.is_hugging_face() { TaskParams::from_dir(&self.dir, task) } else { Ok(TaskParams::default()) }
    }

    /// Whether the model came from a Hugging Face folder (its defaults follow `transformers`).
    pub fn is_hugging_face(&self) -> bool {
        !matches!(self.architecture, Architecture::LoamRun { .. })
    }

    /// The model's generation defaults as a config; its end-of-turn ids are the
    /// `generation_config.json` EOS ids and the chat template's `eos_token`.
    pub fn generation_config(&self) -> GenerationConfig {
        let mut cfg = self.generation.to_config(self.is_hugging_face());
        let template_eos = self.chat_template.as_ref().and_then(|t| t.token("eos_token")).and_then(|t| self.tokenizer.token_to_id(t));
        if let Some(id) = template_eos.filter(|id| !cfg.eos_ids.contains(id)) {
            cfg.eos_ids.push(id);
        }
        cfg
    }
}
