//! The model a training config builds: loam's GPT or a Llama, its parameters in one
//! [`ParamStore`], as the trainer trains it and a run folder loads it.

use loam_nn::ParamStore;

use crate::causal_lm::CausalLm;
use crate::error::Result;
use crate::gpt::Gpt;
use crate::llama::Llama;
use crate::train_config::{ModelArchitecture, ModelConfig};
use crate::trainable::TrainableModel;

/// A trained (or trainable) model of either architecture.
#[derive(Debug, Clone)]
pub enum TrainedModel {
    /// `architecture = "gpt"`.
    Gpt(Gpt),
    /// `architecture = "llama"`.
    Llama(Llama),
}

impl TrainedModel {
    /// Builds the model `config` describes in `store`; keys that do not apply to its
    /// architecture are errors.
    pub fn new(config: &ModelConfig, store: &ParamStore) -> Result<TrainedModel> {
        Ok(match config.architecture {
            ModelArchitecture::Gpt => TrainedModel::Gpt(Gpt::new(&config.gpt()?, store)?),
            ModelArchitecture::Llama => TrainedModel::Llama(Llama::new(&config.llama()?, store)?),
        })
    }

    /// The model as a text generator.
    pub fn causal_lm(&self) -> &dyn CausalLm {
        match self {
            TrainedModel::Gpt(m) => m,
            TrainedModel::Llama(m) => m,
        }
    }

    /// The model as the training loop sees it.
    pub fn trainable(&self) -> &dyn TrainableModel {
        match self {
            TrainedModel::Gpt(m) => m,
            TrainedModel::Llama(m) => m,
        }
    }
}
