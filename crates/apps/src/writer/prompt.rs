//! The prompt templates (minijinja, in `templates/`, compiled into the crate) and their
//! rendering into chat messages.

use minijinja::{Environment, context};

use super::constraints::WordBounds;
use super::error::{Result, WriterError};
use super::kind::Kind;
use super::product::Product;
use crate::provider::{ChatMessage, Role};

/// The system message: the writer's rules.
const SYSTEM: &str = include_str!("templates/system.j2");
/// The request for a product description.
const DESCRIPTION: &str = include_str!("templates/description.j2");
/// The request for an advertisement.
const AD: &str = include_str!("templates/ad.j2");

/// The writer's templates, parsed once.
pub struct Prompts {
    env: Environment<'static>,
}

impl Prompts {
    /// Parses the templates.
    pub fn new() -> Result<Self> {
        let mut env = Environment::new();
        for (name, source) in [("system", SYSTEM), ("description", DESCRIPTION), ("ad", AD)] {
            env.add_template(name, source).map_err(|e| WriterError::Template { template: name.into(), msg: e.to_string() })?;
        }
        Ok(Prompts { env })
    }

    /// The chat messages asking for `kind` copy of `product`, with the problems of the previous
    /// draft (empty on the first try).
    pub fn messages(&self, kind: Kind, product: &Product, bounds: WordBounds, banned: &[String], problems: &[String]) -> Result<Vec<ChatMessage>> {
        let render = |name: &str| {
            let ctx = context! {
                product => product,
                language => product.language,
                min_words => bounds.min,
                max_words => bounds.max,
                banned => banned,
                problems => problems,
            };
            self.env
                .get_template(name)
                .and_then(|t| t.render(ctx))
                .map_err(|e| WriterError::Template { template: name.into(), msg: e.to_string() })
        };
        let request = match kind {
            Kind::Description => "description",
            Kind::Ad => "ad",
        };
        Ok(vec![ChatMessage::new(Role::System, render("system")?), ChatMessage::new(Role::User, render(request)?)])
    }
}
