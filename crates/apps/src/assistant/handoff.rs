//! Requests for a person ("talk to a human", "转人工"), which hand the conversation over at once.

use serde::{Deserialize, Serialize};

/// Why a conversation is handed to a person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum HandoffReason {
    /// The user asked for a person.
    Requested,
    /// The assistant missed this many messages in a row.
    Misses {
        /// Consecutive messages not answered, this one included.
        count: usize,
    },
}

/// English phrases that ask for a person (matched in the lowercased message).
const EN: [&str; 18] = [
    "human",
    "real person",
    "a person",
    "an agent",
    "live agent",
    "support agent",
    "representative",
    "operator",
    "someone real",
    "talk to someone",
    "speak to someone",
    "speak with someone",
    "talk to a real",
    "customer service agent",
    "member of staff",
    "staff member",
    "real people",
    "not a bot",
];

/// Chinese phrases that ask for a person.
const ZH: [&str; 9] = [
    "转人工",
    "人工客服",
    "人工服务",
    "真人",
    "找人工",
    "客服人员",
    "人工",
    "接人工",
    "活人",
];

/// True when `message` asks to talk to a person.
///
/// ```
/// use loam_apps::assistant::asks_for_person;
/// assert!(asks_for_person("Can I talk to a human please?"));
/// assert!(asks_for_person("转人工"));
/// assert!(!asks_for_person("How long does delivery take?"));
/// ```
pub fn asks_for_person(message: &str) -> bool {
    let text = message.to_lowercase();
    EN.iter().any(|p| contains_phrase(&text, p)) || ZH.iter().any(|p| text.contains(p))
}

/// `phrase` in `text` on word boundaries ("human" but not "humane").
fn contains_phrase(text: &str, phrase: &str) -> bool {
    text.match_indices(phrase).any(|(i, m)| {
        let before = text[..i].chars().next_back();
        let after = text[i + m.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}
