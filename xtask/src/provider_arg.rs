//! The model-provider flags of the commands that generate through `loam_apps::provider`: a
//! local model (any folder the one loader reads) or an OpenAI-compatible endpoint.

use std::path::PathBuf;

use anyhow::Result;
use loam_apps::provider::{DEFAULT_API_KEY_ENV, LocalProvider, OpenAiConfig, OpenAiProvider, Provider};

/// Where generated text comes from.
#[derive(clap::Args)]
pub struct ProviderArgs {
    /// A local model: a loam run folder or a Hugging Face folder (GPT-2, Llama, SmolLM2, Qwen2,
    /// T5, BART).
    #[arg(long, conflicts_with = "openai_base")]
    pub model: Option<PathBuf>,
    /// An OpenAI-compatible server (e.g. https://api.openai.com).
    #[arg(long, requires = "openai_model")]
    pub openai_base: Option<String>,
    /// The model name at the OpenAI-compatible server.
    #[arg(long, requires = "openai_base")]
    pub openai_model: Option<String>,
    /// The environment variable holding the server's API key.
    #[arg(long, default_value = DEFAULT_API_KEY_ENV)]
    pub openai_key_env: String,
}

impl ProviderArgs {
    /// The provider the flags name; `None` when they name none.
    pub fn provider(&self) -> Result<Option<Box<dyn Provider>>> {
        Ok(match (&self.model, &self.openai_base, &self.openai_model) {
            (Some(dir), _, _) => Some(Box::new(LocalProvider::from_dir(dir)?)),
            (None, Some(base), Some(model)) => {
                let mut config = OpenAiConfig::new(base.clone(), model.clone());
                config.api_key_env = self.openai_key_env.clone();
                Some(Box::new(OpenAiProvider::new(config)?))
            }
            _ => None,
        })
    }
}
