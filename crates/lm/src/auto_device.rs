//! Moving a loaded model onto a device: every model loads on the CPU, and a loam run (GPT,
//! Llama, BERT, encoder–decoder) or a Hugging Face GPT-2 is then built again from a copy of
//! its parameters on the GPU. The other Hugging Face families run on the CPU only.

use loam_tensor::Device;

use crate::auto::{Architecture, AutoModel};
use crate::error::{LmError, Result};
use crate::hf::Gpt2;
use crate::trained_model::TrainedModel;

impl AutoModel {
    /// This model on `device` (itself on the CPU). Move a model before quantizing it: a
    /// quantized model stays on the CPU.
    pub fn to_device(self, device: Device) -> Result<AutoModel> {
        if device == Device::Cpu {
            return Ok(self);
        }
        let kind = self.model_type();
        let architecture = match self.architecture {
            Architecture::LoamRun {
                model: TrainedModel::Gpt(g),
                store,
                config,
            } => {
                let (g, store) = g.to_device(&store, device)?;
                Architecture::LoamRun {
                    model: TrainedModel::Gpt(g),
                    store,
                    config,
                }
            }
            Architecture::LoamRun { store, config, .. } => {
                let store = store.to_device(device)?;
                Architecture::LoamRun {
                    model: TrainedModel::new(&config.model, &store)?,
                    store,
                    config,
                }
            }
            Architecture::Gpt2(g) => {
                let (model, store) = g.model.to_device(&g.store, device)?;
                Architecture::Gpt2(Gpt2 {
                    model,
                    store,
                    config: g.config,
                })
            }
            _ => {
                return Err(LmError::Config(format!(
                    "a {kind} model runs on the CPU only in this version of loam (on {device}: loam runs and GPT-2)"
                )));
            }
        };
        Ok(AutoModel {
            architecture,
            ..self
        })
    }
}
