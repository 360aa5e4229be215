//! Pretrained Hugging Face models: BERT encoders (all-MiniLM-L6-v2 and kin) with sentence
//! embeddings, GPT-2 import and export, the Llama family (Llama, SmolLM2, Qwen2), the
//! encoder–decoders T5 (flan-t5) and BART (distilbart), all read
//! from the model folders `transformers` writes (`config.json`, `model.safetensors` or sharded
//! weights, `tokenizer.json`).
//!
//! Weights are validated as they are read: a truncated file, a forged header, overlapping or
//! out-of-bounds offsets, an unsupported dtype, a shape that disagrees with the config or a
//! missing tensor is an error naming the file and the tensor. The reader of each file is
//! [`loam_nn::TensorFile`]; [`HfWeights`] joins the files of one folder. See `docs/pretrained.md`.

mod bart;
mod bert;
mod config;
mod embed;
mod encdec;
mod fetch;
mod gpt2;
mod hub;
mod llama;
mod t5;
mod task_params;
mod quantized;
mod weights;

pub use bart::{Bart, BartConfig, load_bart};
pub use bert::{BertBatch, BertEmbeddings, BertForMaskedLM, BertModel};
pub use config::{BertConfig, Gpt2Config, read_json};
pub use embed::{DEFAULT_BATCH_SIZE, DEFAULT_MAX_SEQ_LEN, SentenceEncoder, mean_pool_normalize};
pub use fetch::{ALL_MINILM_L6_V2, KNOWN_MODELS, ModelSource, cache_dir, fetch_model, known_model, minilm_dir, verify};
pub use hub::{DEFAULT_ENDPOINT, Fetched, Hub, HubId, KNOWN_HUB_MODELS, MODEL_FILES, hub_endpoint, resolve_model};
pub use gpt2::{Gpt2, TIED_HEAD, gpt2_config_json, load_gpt2, save_gpt2};
pub use llama::{HfLlama, LlamaHfConfig, LlamaOptions, load_llama};
pub use t5::{T5, T5Config, load_t5, relative_position_bucket};
pub use task_params::TaskParams;
pub use quantized::{QUANT_FORMAT_KEY, QUANT_WEIGHTS_KEY, QuantizedWeight, save_quantized};
pub use weights::{HfWeights, INDEX_FILE, WEIGHTS_FILE};
