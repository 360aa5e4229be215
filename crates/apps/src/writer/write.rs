//! Writing copy: render the prompt, ask the provider, check the constraints, and retry with a
//! new seed (telling the model what was wrong) until the copy passes or the tries run out.

use serde::{Deserialize, Serialize};

use super::constraints::{Constraints, Violation, WordBounds};
use super::error::{Result, WriterError};
use super::kind::Kind;
use super::product::Product;
use super::prompt::Prompts;
use crate::provider::{GenParams, Provider};

/// How the writer works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WriterConfig {
    /// What to write.
    pub kind: Kind,
    /// Tries per product at most (≥ 1); try `i` (from 0) uses seed `seed + i`.
    pub max_tries: usize,
    /// The seed of the first try.
    pub seed: u64,
    /// Words and phrases the copy must not use.
    pub banned: Vec<String>,
    /// Word bounds instead of those of the kind and the product's length.
    pub bounds: Option<WordBounds>,
    /// Generation parameters (the seed is set per try).
    pub params: GenParams,
}

impl Default for WriterConfig {
    /// Descriptions, 3 tries, seed 0, nothing banned, 300 tokens at temperature 0.8.
    fn default() -> Self {
        WriterConfig {
            kind: Kind::Description,
            max_tries: 3,
            seed: 0,
            banned: Vec::new(),
            bounds: None,
            params: GenParams { max_tokens: 300, temperature: 0.8, ..GenParams::default() },
        }
    }
}

/// One try: its seed, the copy, and how it failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// The seed of the try.
    pub seed: u64,
    /// The copy it produced.
    pub text: String,
    /// Its violations (empty: it passed).
    pub violations: Vec<Violation>,
}

/// The copy for one product: the first passing try, else the try with the fewest violations
/// and the list of what failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteOutcome {
    /// The product's name.
    pub product: String,
    /// What was written.
    pub kind: Kind,
    /// The copy.
    pub text: String,
    /// Whether it meets every constraint.
    pub passed: bool,
    /// The constraints it fails (empty when it passed).
    pub violations: Vec<Violation>,
    /// Every try, in order.
    pub attempts: Vec<Attempt>,
}

/// Writes product copy through a [`Provider`].
pub struct Writer<'a> {
    provider: &'a dyn Provider,
    config: WriterConfig,
    prompts: Prompts,
}

impl<'a> Writer<'a> {
    /// A writer over `provider`.
    pub fn new(provider: &'a dyn Provider, config: WriterConfig) -> Result<Self> {
        if config.max_tries == 0 {
            return Err(WriterError::Config("max_tries must be at least 1".into()));
        }
        if let Some(b) = config.bounds.filter(|b| b.min > b.max) {
            return Err(WriterError::Config(format!("word bounds {}–{} are empty", b.min, b.max)));
        }
        config.params.validate()?;
        Ok(Writer { provider, config, prompts: Prompts::new()? })
    }

    /// The constraints of `product`'s copy.
    pub fn constraints(&self, product: &Product) -> Constraints {
        let mut required = vec![product.name.clone()];
        required.extend(product.features.iter().cloned());
        let facts = [&product.name, &product.category]
            .into_iter()
            .chain(&product.features)
            .chain(product.audience.as_ref())
            .chain(product.tone.as_ref())
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n");
        let bounds = self.config.bounds.unwrap_or_else(|| self.config.kind.bounds(product.length));
        Constraints { required, facts, bounds, banned: self.config.banned.clone() }
    }

    /// Writes copy for one product, retrying while it fails its constraints.
    pub fn write(&self, product: &Product) -> Result<WriteOutcome> {
        let constraints = self.constraints(product);
        let mut attempts: Vec<Attempt> = Vec::new();
        let mut problems: Vec<String> = Vec::new();
        for i in 0..self.config.max_tries {
            let seed = self.config.seed.wrapping_add(i as u64);
            let messages = self.prompts.messages(self.config.kind, product, constraints.bounds, &constraints.banned, &problems)?;
            let params = GenParams { seed: Some(seed), ..self.config.params.clone() };
            let text = self.provider.chat(&messages, &params)?.text.trim().to_string();
            let violations = constraints.check(&text);
            problems = violations.iter().map(ToString::to_string).collect();
            let passed = violations.is_empty();
            attempts.push(Attempt { seed, text, violations });
            if passed {
                break;
            }
        }
        let best = attempts.iter().min_by_key(|a| a.violations.len()).cloned().unwrap_or_else(|| Attempt { seed: self.config.seed, text: String::new(), violations: Vec::new() });
        Ok(WriteOutcome {
            product: product.name.clone(),
            kind: self.config.kind,
            text: best.text,
            passed: best.violations.is_empty(),
            violations: best.violations,
            attempts,
        })
    }

    /// Writes copy for each product in order.
    pub fn write_all(&self, products: &[Product]) -> Result<Vec<WriteOutcome>> {
        products.iter().map(|p| self.write(p)).collect()
    }
}
