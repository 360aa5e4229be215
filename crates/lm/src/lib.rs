//! `loam-lm`: language models (GPT, the Llama family, BERT, loam's encoder–decoder), the
//! training loop (causal and masked LM objectives), perplexity, masked-LM scoring and
//! fill-mask, generation (decoder-only [`CausalLm`] and encoder–decoder [`Seq2SeqLm`] models),
//! one loader for every model ([`AutoModel`]) and chat.
//!
//! ```
//! use loam_lm::{Gpt, GptConfig};
//! use loam_nn::{Ctx, ParamStore};
//!
//! # fn main() -> loam_lm::Result<()> {
//! let config = GptConfig { n_layer: 2, n_head: 2, n_embd: 16, block_size: 8, vocab_size: 10, ..GptConfig::default() };
//! let store = ParamStore::new(1337);
//! let gpt = Gpt::new(&config, &store)?;
//! let logits = gpt.forward(&[1, 2, 3], 1, 3, None, &mut Ctx::eval())?;
//! assert_eq!(logits.shape(), &[1, 3, 10]);
//! # Ok(())
//! # }
//! ```

mod auto;
mod auto_device;
mod batch_scheduler;
mod beam_models;
mod beam_search;
mod causal_lm;
mod chat;
mod clm;
mod chat_template;
mod decode_batch;
mod default_corpus;
mod device;
mod error;
mod fill_mask;
mod generate;
mod gpt;
mod llama;
mod masking;
mod measure;
mod pair_data;
mod pairs;
pub mod metrics;
mod mlm;
mod mlm_score;
mod objective;
mod perplexity;
mod plot;
mod quantize;
mod run_checkpoint;
mod run_data;
mod run_folder;
mod rope;
mod sampling;
mod screened_head;
pub mod seq2seq;
mod seq2seq_generate;
mod seq2seq_lm;
mod seq2seq_objective;
mod stop_strings;
mod text_stream;
mod train_config;
mod trainable;
mod trained_model;
mod trainer;
pub mod hf;

pub use auto::{Architecture, AutoModel, GenerationDefaults, ModelKind, SUPPORTED_MODEL_TYPES};
pub use batch_scheduler::{BatchScheduler, SequenceHandle, StreamEvent};
pub use beam_models::{beam_search, beam_search_seq2seq, beam_search_seq2seq_stopping, beam_search_stopping};
pub use beam_search::{BeamConfig, EarlyStopping, Hypothesis};
pub use causal_lm::CausalLm;
pub use chat::Chat;
pub use chat_template::{CHAT_TEMPLATE_FILE, ChatMessage, ChatTemplate, TOKENIZER_CONFIG_FILE};
pub use decode_batch::{DecodeBatch, SeqEvent, check_request, generate_batch_each};
pub use default_corpus::default_corpus;
pub use device::select_device;
pub use error::{LmError, Result};
pub use generate::{FinishReason, Generated, generate, generate_batch, generate_ids, generate_until};
pub use gpt::{Gpt, GptCache, GptConfig};
pub use llama::{Llama, LlamaConfig};
pub use measure::peak_rss_mb;
pub use fill_mask::{MaskCandidate, MaskFill, fill_mask, fill_mask_ids, mask_token_id};
pub use metrics::{Metric, MetricsLog};
pub use mlm_score::{MlmScore, MlmScoreOptions, mlm_score};
pub use objective::{Objective, ObjectiveKind, Validation};
pub use pairs::{EncodedPair, Pair, encode_pairs, make_batch, read_pairs};
pub use perplexity::{Perplexity, perplexity};
pub use plot::{font_available, plot_losses};
pub use quantize::{QuantizeReport, quantize_folder};
pub use run_checkpoint::{LoadedModel, TrainState, load_model};
pub use run_folder::RunFolder;
pub use rope::{RopeScaling, inv_freq, rope_tables};
pub use seq2seq::{Seq2Seq, Seq2SeqBatch, Seq2SeqConfig};
pub use sampling::{GenerationConfig, argmax, choose, filtered_probs};
pub use seq2seq_generate::{generate_seq2seq, generate_seq2seq_text, generate_seq2seq_until};
pub use stop_strings::{stop_cut, text_until_stop};
pub use screened_head::ScreenedHead;
pub use seq2seq_lm::{EncoderOutput, Seq2SeqCache, Seq2SeqLm, reorder_caches};
pub use train_config::{DataConfig, ModelArchitecture, ModelConfig, OptimConfig, RunConfig, SampleConfig, TrainConfig};
pub use trainable::TrainableModel;
pub use trained_model::TrainedModel;
pub use trainer::{RunOptions, TrainSummary, saved_config, train};
