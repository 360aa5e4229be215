//! A conversation with a chat model: the messages so far, rendered with the model's chat
//! template into a prompt, each reply generated (streamed) until the template's end-of-turn
//! token or an EOS id of `generation_config.json`, then kept as the assistant's turn.

use crate::auto::AutoModel;
use crate::chat_template::{ChatMessage, ChatTemplate};
use crate::error::{LmError, Result};
use crate::generate::{Generated, generate};
use crate::sampling::GenerationConfig;

/// A conversation with one model.
pub struct Chat<'m> {
    model: &'m AutoModel,
    template: &'m ChatTemplate,
    system: Option<String>,
    /// The turns so far (the system message first, when there is one).
    pub messages: Vec<ChatMessage>,
    /// How replies are generated; its EOS ids always include the model's end-of-turn ids.
    pub config: GenerationConfig,
}

impl<'m> Chat<'m> {
    /// A new conversation, opened by `system` when given. `config`'s EOS ids are joined by the
    /// model's (see [`AutoModel::generation_config`]). A model without a chat template is an
    /// error.
    pub fn new(model: &'m AutoModel, system: Option<&str>, mut config: GenerationConfig) -> Result<Chat<'m>> {
        let template = model.chat_template.as_ref().ok_or_else(|| {
            LmError::file(&model.dir, "has no chat template (chat_template.jinja, or `chat_template` in tokenizer_config.json)")
        })?;
        model.causal_lm()?;
        for id in model.generation_config().eos_ids {
            if !config.eos_ids.contains(&id) {
                config.eos_ids.push(id);
            }
        }
        let mut chat = Chat { model, template, system: system.map(str::to_string), messages: Vec::new(), config };
        chat.reset();
        Ok(chat)
    }

    /// Forgets every turn but the system message.
    pub fn reset(&mut self) {
        self.messages = self.system.iter().map(|s| ChatMessage::new("system", s)).collect();
    }

    /// The prompt of the conversation so far, ending with the opening of the assistant's turn.
    pub fn prompt(&self) -> Result<String> {
        self.template.render(&self.messages, true)
    }

    /// Adds the user's `text`, generates the reply (each new piece of text goes to `on_text`
    /// as it comes) and adds it to the conversation; on an error the conversation is as it was.
    pub fn say(&mut self, text: &str, on_text: &mut dyn FnMut(&str)) -> Result<Generated> {
        self.messages.push(ChatMessage::new("user", text));
        let reply = self.reply(on_text);
        if reply.is_err() {
            self.messages.pop();
        }
        reply
    }

    /// Generates the assistant's reply to the messages so far and adds it to them.
    pub fn reply(&mut self, on_text: &mut dyn FnMut(&str)) -> Result<Generated> {
        let prompt = self.prompt()?;
        let generated = generate(self.model.causal_lm()?, &self.model.tokenizer, &prompt, &self.config, on_text)?;
        self.messages.push(ChatMessage::new("assistant", &generated.text));
        Ok(generated)
    }
}
