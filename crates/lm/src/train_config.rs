//! The training configuration, read from TOML: model, data, optimizer, schedule, batch,
//! evaluation, checkpoints, seed, threads and device. Every field has a default, so a config
//! file names only what it changes: a key it leaves out, in any section, keeps the value of
//! the built-in run ([`TrainConfig::default`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use loam_tensor::Device;

use crate::error::{LmError, Result};
use crate::gpt::GptConfig;
use crate::hf::{BertConfig, LlamaHfConfig};
use crate::llama::LlamaConfig;
use crate::objective::ObjectiveKind;
use crate::sampling::GenerationConfig;
use crate::seq2seq::Seq2SeqConfig;

/// Which model a run trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelArchitecture {
    /// loam's GPT ([`crate::Gpt`]).
    Gpt,
    /// A Llama-family decoder ([`crate::Llama`]): RMSNorm, rotary positions, grouped-query
    /// attention, SwiGLU.
    Llama,
    /// A BERT encoder with its masked-LM head ([`crate::hf::BertForMaskedLM`]), trained with
    /// `objective = "mlm"`.
    Bert,
    /// loam's encoder–decoder Transformer ([`crate::Seq2Seq`]), trained with
    /// `objective = "seq2seq"` on (source, target) pairs.
    Seq2seq,
}

/// The `[model]` section: the architecture and objective, the keys all share, and the keys of
/// one only. [`ModelConfig::gpt`], [`ModelConfig::llama`] and [`ModelConfig::bert`] refuse a
/// key another architecture owns, and an objective their architecture does not train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// `gpt`, `llama`, `bert` or `seq2seq`.
    pub architecture: ModelArchitecture,
    /// What the model is trained to do: `clm` (causal language modelling, the default; gpt
    /// and llama), `mlm` (masked language modelling; bert) or `seq2seq` (pairs; seq2seq).
    pub objective: ObjectiveKind,
    /// Number of blocks.
    pub n_layer: usize,
    /// Attention (query) heads per block.
    pub n_head: usize,
    /// Embedding width.
    pub n_embd: usize,
    /// Longest context (positions).
    pub block_size: usize,
    /// Vocabulary size; 0 means "take it from the tokenizer".
    pub vocab_size: usize,
    /// GPT and BERT: dropout on embeddings, attention weights and residual branches.
    pub dropout: f32,
    /// GPT only: biases in linear layers and layer norms.
    pub bias: bool,
    /// The output head shares the token embedding.
    pub tie_embeddings: bool,
    /// GPT and BERT: `gelu` (exact) or `gelu_new` (tanh approximation).
    pub activation: String,
    /// Epsilon of the norms (GPT's layer norm, Llama's RMSNorm).
    pub layer_norm_eps: f32,
    /// Llama only: key/value heads (grouped-query attention); 0 means `n_head`.
    pub n_kv_head: usize,
    /// Llama, BERT and seq2seq: feed-forward inner width; 0 means (Llama) the multiple of 64
    /// at or above 8/3·`n_embd`, (BERT, seq2seq) 4·`n_embd`.
    pub intermediate_size: usize,
    /// Llama only: rotary base θ.
    pub rope_theta: f32,
    /// Llama only: a Hugging Face Llama or Qwen2 folder (`config.json`, safetensors weights,
    /// `tokenizer.json`) whose weights start the run instead of a random init (full
    /// fine-tuning); its config gives the shape and its `tokenizer.json` the tokenizer. See
    /// [`TrainConfig::with_pretrained`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
}

/// The default rotary base of a trained Llama.
const DEFAULT_ROPE_THETA: f32 = 10_000.0;

impl Default for ModelConfig {
    /// The built-in run's: a 4-layer, 128-wide character GPT with 64 positions.
    fn default() -> Self {
        ModelConfig {
            architecture: ModelArchitecture::Gpt,
            objective: ObjectiveKind::Clm,
            n_layer: 4,
            n_head: 4,
            n_embd: 128,
            block_size: 64,
            vocab_size: 0,
            dropout: 0.0,
            bias: false,
            tie_embeddings: true,
            activation: "gelu".into(),
            layer_norm_eps: 1e-5,
            n_kv_head: 0,
            intermediate_size: 0,
            rope_theta: DEFAULT_ROPE_THETA,
            init_from: None,
        }
    }
}

impl ModelArchitecture {
    /// The name in a config (`gpt`, `llama`, `bert`, `seq2seq`).
    pub fn name(self) -> &'static str {
        match self {
            ModelArchitecture::Gpt => "gpt",
            ModelArchitecture::Llama => "llama",
            ModelArchitecture::Bert => "bert",
            ModelArchitecture::Seq2seq => "seq2seq",
        }
    }
}

impl From<GptConfig> for ModelConfig {
    /// A GPT's shape as a `[model]` section.
    fn from(g: GptConfig) -> Self {
        ModelConfig {
            architecture: ModelArchitecture::Gpt,
            n_layer: g.n_layer,
            n_head: g.n_head,
            n_embd: g.n_embd,
            block_size: g.block_size,
            vocab_size: g.vocab_size,
            dropout: g.dropout,
            bias: g.bias,
            tie_embeddings: g.tie_embeddings,
            activation: g.activation,
            layer_norm_eps: g.layer_norm_eps,
            ..ModelConfig::default()
        }
    }
}

impl ModelConfig {
    /// The GPT this section describes; a Llama-only key that is set is an error naming it.
    pub fn gpt(&self) -> Result<GptConfig> {
        let refuse = |key: &str| Err(LmError::Config(format!("model config: `{key}` applies to architecture = \"llama\" only, not to a gpt")));
        if self.architecture != ModelArchitecture::Gpt {
            return Err(LmError::Config("model config: architecture is not \"gpt\"".into()));
        }
        self.require_objective(ObjectiveKind::Clm)?;
        if self.n_kv_head != 0 {
            return refuse("n_kv_head");
        }
        if self.intermediate_size != 0 {
            return refuse("intermediate_size");
        }
        if self.rope_theta != DEFAULT_ROPE_THETA {
            return refuse("rope_theta");
        }
        Ok(GptConfig {
            n_layer: self.n_layer,
            n_head: self.n_head,
            n_embd: self.n_embd,
            block_size: self.block_size,
            vocab_size: self.vocab_size,
            dropout: self.dropout,
            bias: self.bias,
            tie_embeddings: self.tie_embeddings,
            activation: self.activation.clone(),
            layer_norm_eps: self.layer_norm_eps,
        })
    }

    /// The Llama this section describes (no biases, normal(0, 0.02) init, `layer_norm_eps`
    /// as the RMSNorm epsilon); a GPT-only key that is set is an error naming it.
    pub fn llama(&self) -> Result<LlamaConfig> {
        let refuse = |key: &str| Err(LmError::Config(format!("model config: `{key}` applies to architecture = \"gpt\" only, not to a llama")));
        if self.architecture != ModelArchitecture::Llama {
            return Err(LmError::Config("model config: architecture is not \"llama\"".into()));
        }
        self.require_objective(ObjectiveKind::Clm)?;
        if self.dropout > 0.0 {
            return refuse("dropout");
        }
        if self.bias {
            return refuse("bias");
        }
        if self.activation != ModelConfig::default().activation {
            return refuse("activation");
        }
        if let Some(dir) = &self.init_from {
            let (_, pretrained) = self.with_pretrained(dir)?;
            return Ok(LlamaConfig { block_size: self.block_size, ..pretrained });
        }
        let intermediate_size = match self.intermediate_size {
            0 => (8 * self.n_embd).div_ceil(3).div_ceil(64) * 64,
            n => n,
        };
        Ok(LlamaConfig {
            n_layer: self.n_layer,
            n_head: self.n_head,
            n_kv_head: if self.n_kv_head == 0 { self.n_head } else { self.n_kv_head },
            n_embd: self.n_embd,
            head_dim: None,
            intermediate_size,
            block_size: self.block_size,
            vocab_size: self.vocab_size,
            rms_norm_eps: self.layer_norm_eps,
            rope_theta: self.rope_theta,
            rope_scaling: None,
            attention_bias: false,
            attention_out_bias: false,
            tie_embeddings: self.tie_embeddings,
            initializer_range: 0.02,
        })
    }

    /// The BERT with masked-LM head this section describes (post-LN, learned positions for
    /// `block_size` tokens, two token types, biases, the head tied to the word embeddings,
    /// normal(0, 0.02) init); a GPT- or Llama-only key that is set is an error naming it.
    pub fn bert(&self) -> Result<BertConfig> {
        let refuse = |key: &str, why: &str| Err(LmError::Config(format!("model config: `{key}` does not apply to architecture = \"bert\" ({why})")));
        if self.architecture != ModelArchitecture::Bert {
            return Err(LmError::Config("model config: architecture is not \"bert\"".into()));
        }
        self.require_objective(ObjectiveKind::Mlm)?;
        if self.bias {
            return refuse("bias", "BERT always has biases");
        }
        if !self.tie_embeddings {
            return refuse("tie_embeddings", "the masked-LM head is always tied to the word embeddings");
        }
        if self.n_kv_head != 0 {
            return refuse("n_kv_head", "llama only");
        }
        if self.rope_theta != DEFAULT_ROPE_THETA {
            return refuse("rope_theta", "llama only");
        }
        if self.init_from.is_some() {
            return refuse("init_from", "llama only");
        }
        let config = BertConfig {
            model_type: "bert".into(),
            vocab_size: self.vocab_size,
            hidden_size: self.n_embd,
            num_hidden_layers: self.n_layer,
            num_attention_heads: self.n_head,
            intermediate_size: if self.intermediate_size == 0 { 4 * self.n_embd } else { self.intermediate_size },
            hidden_act: self.activation.clone(),
            max_position_embeddings: self.block_size,
            type_vocab_size: 2,
            layer_norm_eps: f64::from(self.layer_norm_eps),
            position_embedding_type: None,
            attention_probs_dropout_prob: self.dropout,
            hidden_dropout_prob: self.dropout,
            pad_token_id: None,
            is_decoder: false,
        };
        config.validate(Path::new("[model]"))?;
        if self.block_size < 3 {
            return Err(LmError::Config(format!("model config: block_size {} leaves no room for a token between [CLS] and [SEP]", self.block_size)));
        }
        Ok(config)
    }

    /// The encoder–decoder this section describes (BART's layout: post-LN, learned
    /// positions, GELU by default, `n_layer` layers in each stack, one character vocabulary
    /// shared by source and target, `block_size` tokens of source and of target); a GPT- or
    /// Llama-only key that is set is an error naming it.
    pub fn seq2seq(&self) -> Result<Seq2SeqConfig> {
        let refuse = |key: &str| Err(LmError::Config(format!("model config: `{key}` does not apply to architecture = \"seq2seq\" (llama only)")));
        if self.architecture != ModelArchitecture::Seq2seq {
            return Err(LmError::Config("model config: architecture is not \"seq2seq\"".into()));
        }
        self.require_objective(ObjectiveKind::Seq2seq)?;
        if self.n_kv_head != 0 {
            return refuse("n_kv_head");
        }
        if self.rope_theta != DEFAULT_ROPE_THETA {
            return refuse("rope_theta");
        }
        if self.init_from.is_some() {
            return refuse("init_from");
        }
        let config = Seq2SeqConfig {
            n_layer: self.n_layer,
            n_head: self.n_head,
            n_embd: self.n_embd,
            d_ff: self.intermediate_size,
            block_size: self.block_size,
            vocab_size: self.vocab_size,
            activation: self.activation.clone(),
            dropout: self.dropout,
            bias: self.bias,
            layer_norm_eps: self.layer_norm_eps,
            tie_embeddings: self.tie_embeddings,
            ..Seq2SeqConfig::default()
        };
        config.validate()?;
        Ok(config)
    }

    /// An error unless the objective is `wanted` (the one this architecture trains).
    fn require_objective(&self, wanted: ObjectiveKind) -> Result<()> {
        if self.objective == wanted {
            return Ok(());
        }
        let (given, arch, want) = (self.objective.name(), self.architecture.name(), wanted.name());
        Err(LmError::Config(format!(
            "model config: objective = \"{given}\" does not train architecture = \"{arch}\", which trains with objective = \"{want}\" (clm: gpt, llama; mlm: bert; seq2seq: seq2seq)"
        )))
    }

    /// This section with the shape of the pretrained Llama in `dir` (its `config.json`) and
    /// that model's own [`LlamaConfig`]. A shape key left at its built-in value takes the
    /// folder's; one set to another value that disagrees is an error naming it. `block_size`
    /// stays the run's (the training context), at most the folder's `max_position_embeddings`.
    fn with_pretrained(&self, dir: &Path) -> Result<(ModelConfig, LlamaConfig)> {
        let config_path = dir.join("config.json");
        let p = LlamaHfConfig::load(&config_path)?.to_llama_config(&config_path)?;
        let shaped = ModelConfig {
            architecture: ModelArchitecture::Llama,
            n_layer: p.n_layer,
            n_head: p.n_head,
            n_kv_head: p.n_kv_head,
            n_embd: p.n_embd,
            intermediate_size: p.intermediate_size,
            vocab_size: p.vocab_size,
            tie_embeddings: p.tie_embeddings,
            layer_norm_eps: p.rms_norm_eps,
            rope_theta: p.rope_theta,
            ..self.clone()
        };
        let keys = |c: &ModelConfig| {
            [
                ("n_layer", c.n_layer as f64),
                ("n_head", c.n_head as f64),
                ("n_kv_head", c.n_kv_head as f64),
                ("n_embd", c.n_embd as f64),
                ("intermediate_size", c.intermediate_size as f64),
                ("vocab_size", c.vocab_size as f64),
                ("tie_embeddings", f64::from(u8::from(c.tie_embeddings))),
                ("layer_norm_eps", f64::from(c.layer_norm_eps)),
                ("rope_theta", f64::from(c.rope_theta)),
            ]
        };
        let (given, built_in, theirs) = (keys(self), keys(&ModelConfig::default()), keys(&shaped));
        for (((key, g), (_, d)), (_, t)) in given.into_iter().zip(built_in).zip(theirs) {
            if g != d && g != t {
                return Err(LmError::Config(format!(
                    "model config: `{key}` = {g} disagrees with init_from's {} ({t}); leave it out to take the pretrained model's",
                    config_path.display()
                )));
            }
        }
        if self.block_size > p.block_size {
            return Err(LmError::Config(format!(
                "model config: `block_size` = {} is above init_from's max_position_embeddings {} ({})",
                self.block_size,
                p.block_size,
                config_path.display()
            )));
        }
        Ok((shaped, p))
    }
}

/// Where the training text comes from and how it is tokenized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// A text file or folder; `None` trains on the built-in corpus (not `seq2seq`).
    pub corpus: Option<PathBuf>,
    /// `seq2seq` only: the training pairs, `.jsonl` (`source`/`target` keys) or `.tsv`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train: Option<PathBuf>,
    /// `seq2seq` only: the held-out pairs, scored for loss, exact match and BLEU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid: Option<PathBuf>,
    /// Tokenizer spec of loam-text: `char`, `bpe:VOCAB`, `wordpiece:VOCAB`, `unigram:VOCAB` or
    /// a path to a `tokenizer.json`.
    pub tokenizer: String,
    /// Fraction of the tokens held out for validation (the contiguous tail).
    pub val_fraction: f64,
    /// Replace invalid UTF-8 in the corpus with U+FFFD (and count it) instead of failing.
    pub lossy_utf8: bool,
    /// `mlm` only: the chance that a token (or word) is chosen for the loss (BERT's 0.15); a
    /// chosen one is masked 80%, replaced by a random token 10%, kept 10%.
    pub mask_prob: f64,
    /// `mlm` only: choose whole words (a token and its WordPiece `##` pieces) as one.
    pub whole_word_mask: bool,
    /// `seq2seq` only: label smoothing of the training loss (0: plain cross-entropy).
    pub label_smoothing: f32,
}

/// BERT's masking rate.
const DEFAULT_MASK_PROB: f64 = 0.15;

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            corpus: None,
            train: None,
            valid: None,
            tokenizer: "char".into(),
            val_fraction: 0.1,
            lossy_utf8: false,
            mask_prob: DEFAULT_MASK_PROB,
            whole_word_mask: false,
            label_smoothing: 0.0,
        }
    }
}

/// Optimizer, schedule and loop settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// Optimizer steps.
    pub iters: usize,
    /// Sequences per micro-batch.
    pub batch_size: usize,
    /// Micro-batches whose gradients are averaged into one step.
    pub grad_accum: usize,
    /// Peak learning rate.
    pub lr: f32,
    /// Learning rate at the end of the cosine decay.
    pub min_lr: f32,
    /// Linear warmup steps: lr·(it+1)/(warmup+1).
    pub warmup: usize,
    /// AdamW β₁.
    pub beta1: f32,
    /// AdamW β₂.
    pub beta2: f32,
    /// Decoupled weight decay, on matrices only (not on 1-D parameters).
    pub weight_decay: f32,
    /// Clip gradients to this global norm (0: no clipping).
    pub grad_clip: f32,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            iters: 2000,
            batch_size: 12,
            grad_accum: 1,
            lr: 1e-3,
            min_lr: 1e-4,
            warmup: 100,
            beta1: 0.9,
            beta2: 0.99,
            weight_decay: 0.1,
            grad_clip: 1.0,
        }
    }
}

/// Logging, evaluation, checkpoints and the machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Steps between metrics lines.
    pub log_interval: usize,
    /// Steps between validation runs.
    pub eval_interval: usize,
    /// Batches of a validation run (0: every window of the validation split).
    pub eval_batches: usize,
    /// Steps between checkpoints.
    pub checkpoint_interval: usize,
    /// Checkpoints kept besides the best one.
    pub keep_last: usize,
    /// Fixes init, data order, dropout and sampling.
    pub seed: u64,
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// `cpu`, `cuda` (GPU 0) or `cuda:N`; a GPU needs a build with the `cuda` feature.
    pub device: String,
    /// On a GPU, compute matrix products and attention in bfloat16 with f32 accumulation
    /// (autocast; weights and optimizer state stay f32). Not available on the CPU.
    pub bf16: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            log_interval: 10,
            eval_interval: 250,
            eval_batches: 20,
            checkpoint_interval: 500,
            keep_last: 2,
            seed: 1337,
            threads: 0,
            device: "cpu".into(),
            bf16: false,
        }
    }
}

/// Samples shown during and after training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SampleConfig {
    /// Prompts to continue.
    pub prompts: Vec<String>,
    /// Tokens per sample.
    pub max_new_tokens: usize,
    /// Sampling temperature (0: greedy).
    pub temperature: f32,
    /// Top-k filter (0: off).
    pub top_k: usize,
}

impl Default for SampleConfig {
    fn default() -> Self {
        SampleConfig { prompts: vec!["\n".into()], max_new_tokens: 200, temperature: 0.8, top_k: 40 }
    }
}

impl SampleConfig {
    /// The generation settings of these samples: `max_new_tokens` new tokens, drawn with `seed`.
    pub fn generation(&self, max_new_tokens: usize, seed: u64) -> GenerationConfig {
        GenerationConfig {
            max_new_tokens,
            do_sample: self.temperature > 0.0,
            temperature: self.temperature,
            top_k: (self.top_k > 0).then_some(self.top_k),
            seed,
            ..GenerationConfig::default()
        }
    }
}

/// A whole training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// The model (its `vocab_size` 0 is taken from the tokenizer).
    pub model: ModelConfig,
    /// The data.
    pub data: DataConfig,
    /// The optimizer and schedule.
    pub optim: OptimConfig,
    /// Logging, evaluation, checkpoints, machine.
    pub run: RunConfig,
    /// Samples.
    pub sample: SampleConfig,
}

impl Default for TrainConfig {
    /// The built-in run: a 4-layer, 128-wide character GPT on the built-in corpus, 600 steps.
    fn default() -> Self {
        TrainConfig {
            model: ModelConfig::default(),
            data: DataConfig::default(),
            optim: OptimConfig { iters: 600, warmup: 50, ..OptimConfig::default() },
            run: RunConfig { eval_interval: 100, checkpoint_interval: 200, ..RunConfig::default() },
            sample: SampleConfig { prompts: vec!["Customer (".into()], max_new_tokens: 240, ..SampleConfig::default() },
        }
    }
}

impl TrainConfig {
    /// Parses a TOML config; unknown keys are errors, and keys it leaves out keep the
    /// built-in run's values (a `[model]` section that sets only `dropout` trains the built-in
    /// model with that dropout).
    pub fn from_toml(text: &str, origin: &Path) -> Result<TrainConfig> {
        let bad = |e: String| LmError::file(origin, format!("invalid training config: {e}"));
        // parsed once as it is, for errors that point into the file
        toml::from_str::<TrainConfig>(text).map_err(|e| bad(one_line(&e, text)))?;
        let given: toml::Table = toml::from_str(text).map_err(|e| bad(one_line(&e, text)))?;
        let mut merged = toml::Table::try_from(TrainConfig::default()).expect("the config serializes");
        merge(&mut merged, given);
        merged.try_into().map_err(|e: toml::de::Error| bad(e.to_string()))
    }

    /// The config with `model.init_from`'s shape and tokenizer filled in (itself without
    /// `init_from`): the `[model]` shape keys from the folder's `config.json` (see
    /// [`ModelConfig::llama`]), `data.tokenizer` the folder's `tokenizer.json`. A shape key or
    /// a tokenizer set to something else is an error naming it.
    pub fn with_pretrained(&self) -> Result<TrainConfig> {
        let Some(dir) = &self.model.init_from else { return Ok(self.clone()) };
        let (model, _) = self.model.with_pretrained(dir)?;
        let tokenizer = dir.join("tokenizer.json").display().to_string();
        if self.data.tokenizer != DataConfig::default().tokenizer && self.data.tokenizer != tokenizer {
            return Err(LmError::Config(format!(
                "data config: `tokenizer` = \"{}\" disagrees with init_from, whose tokenizer is {tokenizer}; leave it out",
                self.data.tokenizer
            )));
        }
        Ok(TrainConfig { model, data: DataConfig { tokenizer, ..self.data.clone() }, ..self.clone() })
    }

    /// Reads a TOML config file.
    pub fn load(path: &Path) -> Result<TrainConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| LmError::file(path, format!("cannot read: {e}")))?;
        TrainConfig::from_toml(&text, path)
    }

    /// The config as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the config serializes")
    }

    /// The keys (`data.corpus`, `model.dropout`…) whose values differ from `other`'s, each
    /// with both values: `key: this → other`.
    pub fn differences(&self, other: &TrainConfig) -> Vec<String> {
        let (a, b) = (flatten(self), flatten(other));
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        let show = |v: Option<&String>| v.map_or("(none)".to_string(), Clone::clone);
        keys.into_iter().filter(|k| a.get(*k) != b.get(*k)).map(|k| format!("{k}: {} → {}", show(a.get(k)), show(b.get(k)))).collect()
    }

    /// Checks the loop settings (the model is checked once its vocabulary is known).
    pub fn validate(&self) -> Result<()> {
        let o = &self.optim;
        let bad = |m: &str| Err(LmError::Config(format!("training config: {m}")));
        if o.iters == 0 || o.batch_size == 0 || o.grad_accum == 0 {
            return bad("iters, batch_size and grad_accum must be positive");
        }
        if !(o.lr > 0.0 && o.min_lr >= 0.0 && o.min_lr <= o.lr) {
            return bad("need 0 ≤ min_lr ≤ lr and lr > 0");
        }
        if self.run.log_interval == 0 || self.run.eval_interval == 0 || self.run.checkpoint_interval == 0 {
            return bad("log_interval, eval_interval and checkpoint_interval must be positive");
        }
        self.sample.generation(self.sample.max_new_tokens, self.run.seed).validate().map_err(|e| LmError::Config(format!("training config [sample]: {e}")))?;
        if self.model.objective != ObjectiveKind::Mlm && (self.data.mask_prob != DEFAULT_MASK_PROB || self.data.whole_word_mask) {
            return bad("mask_prob and whole_word_mask apply to objective = \"mlm\" only");
        }
        let d = &self.data;
        if self.model.objective == ObjectiveKind::Seq2seq {
            if d.train.is_none() || d.valid.is_none() {
                return bad("objective = \"seq2seq\" needs [data] train and valid (pairs files, .jsonl or .tsv)");
            }
            if d.corpus.is_some() {
                return bad("objective = \"seq2seq\" trains on [data] train and valid pairs, not on a corpus");
            }
            if d.tokenizer != DataConfig::default().tokenizer {
                return bad("objective = \"seq2seq\" builds its character tokenizer from the pairs; leave [data] tokenizer out");
            }
            if !(0.0..1.0).contains(&d.label_smoothing) {
                return bad("need 0 ≤ label_smoothing < 1");
            }
        } else if d.train.is_some() || d.valid.is_some() || d.label_smoothing != 0.0 {
            return bad("[data] train, valid and label_smoothing apply to objective = \"seq2seq\" only");
        }
        if !(self.data.mask_prob > 0.0 && self.data.mask_prob <= 1.0) {
            return bad("need 0 < mask_prob ≤ 1");
        }
        // the name only: whether the device is there is checked when the run starts
        let device = Device::parse(&self.run.device)
            .map_err(|e| LmError::Config(format!("training config [run]: device `{}`: {e}", self.run.device)))?;
        if self.run.bf16 && device == Device::Cpu {
            return bad("bf16 autocast applies on a GPU only; leave [run] bf16 out on the CPU");
        }
        Ok(())
    }
}

/// A TOML error on one line: `line L, column C: message`.
fn one_line(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().trim();
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_string(),
    }
}

/// Puts the keys of `over` into `base`, section by section.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// `section.key` → the value as TOML text.
fn flatten(config: &TrainConfig) -> std::collections::BTreeMap<String, String> {
    let table = toml::Table::try_from(config).expect("the config serializes");
    let mut out = std::collections::BTreeMap::new();
    for (section, value) in table {
        match value {
            toml::Value::Table(keys) => {
                for (key, v) in keys {
                    out.insert(format!("{section}.{key}"), v.to_string());
                }
            }
            v => {
                out.insert(section, v.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_section_keeps_the_built_in_values() {
        let c = TrainConfig::from_toml("[model]\ndropout = 0.1\n[optim]\nlr = 2e-3\n", Path::new("c.toml")).unwrap();
        let mut expected = TrainConfig::default();
        expected.model.dropout = 0.1;
        expected.optim.lr = 2e-3;
        assert_eq!(c, expected);
        assert_eq!(c.model.vocab_size, 0, "the vocabulary comes from the tokenizer");
        let err = TrainConfig::from_toml("[model]\nn_layers = 3\n", Path::new("c.toml")).unwrap_err().to_string();
        assert!(err.contains("c.toml") && err.contains("n_layers") && err.contains("line 2, column 1"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn the_model_section_picks_the_architecture_and_refuses_keys_of_the_other() {
        let llama = TrainConfig::from_toml("[model]\narchitecture = \"llama\"\nn_kv_head = 2\n", Path::new("c.toml")).unwrap().model;
        let l = llama.llama().unwrap();
        assert_eq!((l.n_head, l.n_kv_head, l.intermediate_size, l.rope_theta), (4, 2, 384, 10_000.0), "384 = 64·⌈(8/3·128)/64⌉");
        assert!(llama.gpt().is_err());
        assert!(TrainConfig::default().model.gpt().is_ok());
        let err = TrainConfig::from_toml("[model]\narchitecture = \"mamba\"\n", Path::new("c.toml")).unwrap_err().to_string();
        assert!(err.contains("mamba") && err.contains("gpt") && err.contains("llama"), "{err}");
        for (toml, key) in [("architecture = \"llama\"\ndropout = 0.1", "dropout"), ("architecture = \"llama\"\nbias = true", "bias"), ("rope_theta = 5e5", "rope_theta"), ("n_kv_head = 2", "n_kv_head"), ("architecture = \"bert\"\nobjective = \"mlm\"\nrope_theta = 5e5", "rope_theta"), ("architecture = \"bert\"\nobjective = \"mlm\"\ntie_embeddings = false", "tie_embeddings")] {
            let m = TrainConfig::from_toml(&format!("[model]\n{toml}\n"), Path::new("c.toml")).unwrap().model;
            let err = match m.architecture {
                ModelArchitecture::Gpt => m.gpt().unwrap_err(),
                ModelArchitecture::Llama => m.llama().unwrap_err(),
                ModelArchitecture::Bert => m.bert().unwrap_err(),
                ModelArchitecture::Seq2seq => m.seq2seq().unwrap_err(),
            };
            assert!(err.to_string().contains(&format!("`{key}`")), "{err}");
        }
    }

    #[test]
    fn differences_name_each_key() {
        let a = TrainConfig::default();
        let mut b = a.clone();
        b.data.corpus = Some("b.txt".into());
        b.model.dropout = 0.5;
        assert_eq!(a.differences(&b), vec!["data.corpus: (none) → \"b.txt\"".to_string(), "model.dropout: 0.0 → 0.5".into()]);
        assert!(a.differences(&a).is_empty());
    }
}
