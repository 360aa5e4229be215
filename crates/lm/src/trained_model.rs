//! The model a training config builds: loam's GPT, a Llama, a BERT with its masked-LM head or
//! loam's encoder–decoder,
//! its parameters in one [`ParamStore`], as the trainer trains it and a run folder loads it.

use loam_nn::ParamStore;

use crate::causal_lm::CausalLm;
use crate::error::{LmError, Result};
use crate::gpt::Gpt;
use crate::hf::BertForMaskedLM;
use crate::llama::Llama;
use crate::seq2seq::Seq2Seq;
use crate::train_config::{ModelArchitecture, ModelConfig};

/// A trained (or trainable) model of any architecture.
#[derive(Debug, Clone)]
pub enum TrainedModel {
    /// `architecture = "gpt"`.
    Gpt(Gpt),
    /// `architecture = "llama"`.
    Llama(Llama),
    /// `architecture = "bert"` (`objective = "mlm"`).
    Bert(BertForMaskedLM),
    /// `architecture = "seq2seq"` (`objective = "seq2seq"`).
    Seq2Seq(Seq2Seq),
}

impl TrainedModel {
    /// Builds the model `config` describes in `store`; keys that do not apply to its
    /// architecture, and an objective it is not trained with, are errors.
    pub fn new(config: &ModelConfig, store: &ParamStore) -> Result<TrainedModel> {
        Ok(match config.architecture {
            ModelArchitecture::Gpt => TrainedModel::Gpt(Gpt::new(&config.gpt()?, store)?),
            ModelArchitecture::Llama => TrainedModel::Llama(Llama::new(&config.llama()?, store)?),
            ModelArchitecture::Bert => TrainedModel::Bert(BertForMaskedLM::new(&config.bert()?, store.builder())?),
            ModelArchitecture::Seq2seq => TrainedModel::Seq2Seq(Seq2Seq::new(&config.seq2seq()?, store)?),
        })
    }

    /// The model as a text generator; a BERT or an encoder–decoder is an error.
    pub fn causal_lm(&self) -> Result<&dyn CausalLm> {
        match self {
            TrainedModel::Gpt(m) => Ok(m),
            TrainedModel::Llama(m) => Ok(m),
            TrainedModel::Bert(_) => Err(LmError::Config(
                "a loam BERT (objective = \"mlm\") does not generate text; it fills masks (`cargo xtask fill-mask`)".into(),
            )),
            TrainedModel::Seq2Seq(_) => Err(LmError::Config(
                "a loam encoder–decoder (objective = \"seq2seq\") writes a target for a source, it does not continue a prompt".into(),
            )),
        }
    }

    /// The model as a masked language model; a decoder is an error.
    pub fn masked_lm(&self) -> Result<&BertForMaskedLM> {
        match self {
            TrainedModel::Bert(m) => Ok(m),
            TrainedModel::Gpt(_) | TrainedModel::Llama(_) => {
                Err(LmError::Config("a loam GPT or Llama (objective = \"clm\") is not a masked language model".into()))
            }
            TrainedModel::Seq2Seq(_) => {
                Err(LmError::Config("a loam encoder–decoder (objective = \"seq2seq\") is not a masked language model".into()))
            }
        }
    }
}
