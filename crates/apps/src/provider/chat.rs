//! Chat messages, and the plain-text format in which a local model without a chat template
//! sees a conversation.

use serde::{Deserialize, Serialize};

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the assistant.
    System,
    /// The person.
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// The role's name in OpenAI's messages and in chat templates (`system`, `user`,
    /// `assistant`).
    pub fn name(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }

    /// The role's label in the fallback format (`System`, `User`, `Assistant`).
    pub fn label(self) -> &'static str {
        match self {
            Role::System => "System",
            Role::User => "User",
            Role::Assistant => "Assistant",
        }
    }
}

/// One message of a conversation, as in OpenAI's `messages: [{role, content}]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    pub content: String,
}

impl ChatMessage {
    /// A message from `role`.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        ChatMessage { role, content: content.into() }
    }
}

/// Renders a conversation for a model without a chat template: each message as
/// `Label: content` followed by a blank line, then `Assistant:` for the model to continue.
/// Returns the prompt and the stop string that ends the answer where the model would start the
/// next user turn (`\nUser:`).
///
/// ```
/// use loam_apps::provider::{ChatMessage, Role, render_chat};
/// let (prompt, stop) = render_chat(&[ChatMessage::new(Role::System, "Be brief."), ChatMessage::new(Role::User, "Hi")]);
/// assert_eq!(prompt, "System: Be brief.\n\nUser: Hi\n\nAssistant:");
/// assert_eq!(stop, "\nUser:");
/// ```
pub fn render_chat(messages: &[ChatMessage]) -> (String, &'static str) {
    let mut prompt = String::new();
    for m in messages {
        prompt.push_str(m.role.label());
        prompt.push_str(": ");
        prompt.push_str(m.content.trim());
        prompt.push_str("\n\n");
    }
    prompt.push_str("Assistant:");
    (prompt, "\nUser:")
}

/// Renders a conversation as the source of an encoder–decoder (T5, BART), which answers a text
/// rather than continuing one: the system messages and the one user message, a paragraph each,
/// when that is all there is; otherwise the conversation as [`render_chat`] writes it.
///
/// ```
/// use loam_apps::provider::{ChatMessage, Role, render_source};
/// let one = render_source(&[ChatMessage::new(Role::System, "Be brief."), ChatMessage::new(Role::User, "Hi")]);
/// assert_eq!(one, "Be brief.\n\nHi");
/// let more = render_source(&[ChatMessage::new(Role::User, "Hi"), ChatMessage::new(Role::Assistant, "Hello"),
///                             ChatMessage::new(Role::User, "Bye")]);
/// assert_eq!(more, "User: Hi\n\nAssistant: Hello\n\nUser: Bye\n\nAssistant:");
/// ```
pub fn render_source(messages: &[ChatMessage]) -> String {
    let turns = messages.iter().filter(|m| m.role != Role::System).count();
    let last_is_user = messages.last().is_some_and(|m| m.role == Role::User);
    if turns == 1 && last_is_user {
        messages.iter().map(|m| m.content.trim()).collect::<Vec<_>>().join("\n\n")
    } else {
        render_chat(messages).0
    }
}
