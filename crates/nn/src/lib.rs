//! `loam-nn`: transformer building blocks, named parameters and optimizers on [`loam_tensor`].
//!
//! Layers are small structs built from their dimensions and a [`Builder`] path, so parameter
//! names follow the checkpoint (`h.0.attn.c_attn.weight`) and Hugging Face files load as they
//! are.
//!
//! ```
//! use loam_nn::{Linear, Module, ParamStore};
//! use loam_tensor::Tensor;
//!
//! # fn main() -> loam_nn::Result<()> {
//! let store = ParamStore::new(1337);
//! let fc = Linear::new(4, 3, true, store.builder().pp("fc"))?;
//! let y = fc.forward(&Tensor::ones(&[2, 4]))?;
//! assert_eq!(y.shape(), &[2, 3]);
//! assert_eq!(store.num_params(), 4 * 3 + 3);
//! # Ok(())
//! # }
//! ```

mod activation;
mod atomic_write;
mod attention;
mod attention_mask;
mod ctx;
mod decoder_layer;
mod dropout;
mod embedding;
mod encoder_layer;
mod error;
mod feed_forward;
mod init;
mod kv_cache;
mod layer_config;
mod linear;
mod module;
mod norm;
pub mod optim;
mod positional;
pub mod safetensors_io;
mod store;
pub mod tensor_file;

pub use activation::Activation;
pub use atomic_write::write_atomic;
pub use attention::{MultiHeadAttention, Projections, attention_weights, scaled_dot_product_attention};
pub use attention_mask::AttentionMask;
pub use ctx::Ctx;
pub use decoder_layer::{DecoderCache, DecoderLayer};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use encoder_layer::EncoderLayer;
pub use error::{NnError, Result};
pub use feed_forward::FeedForward;
pub use init::Init;
pub use kv_cache::KvCache;
pub use layer_config::LayerConfig;
pub use linear::{Linear, LinearWeight, WeightLayout};
pub use module::Module;
pub use norm::{LayerNorm, RmsNorm};
pub use positional::{LearnedPositional, SinusoidalPositional};
pub use store::{Builder, ParamStore};
pub use tensor_file::{RawTensor, StoredDtype, TensorEntry, TensorFile};
