//! The languages the assistant answers in, told apart by script, and its own sentences in each.

use serde::{Deserialize, Serialize};

/// A language of the knowledge base and of the conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English (and any text mostly in Latin script).
    En,
    /// Chinese.
    Zh,
}

impl Lang {
    /// Chinese when the text holds more CJK ideographs than Latin-script words, else English.
    ///
    /// ```
    /// use loam_apps::assistant::Lang;
    /// assert_eq!(Lang::detect("可以用 PayPal 付款吗？"), Lang::Zh);
    /// assert_eq!(Lang::detect("Do you ship to 加拿大?"), Lang::En);
    /// ```
    pub fn detect(text: &str) -> Lang {
        let ideographs = text.chars().filter(|&c| is_cjk(c)).count();
        let latin_words = text
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| w.chars().any(|c| c.is_ascii_alphabetic()))
            .count();
        if ideographs > latin_words {
            Lang::Zh
        } else {
            Lang::En
        }
    }

    /// The language's code (`en`, `zh`).
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    /// The language's name in English, for instructions to a model.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Zh => "Simplified Chinese",
        }
    }

    /// Asks the user to rephrase, offering `suggestions` (the nearest topics' first questions).
    pub fn rephrase(self, suggestions: &[String]) -> String {
        let quoted = |open: &str, close: &str, or: &str| {
            suggestions
                .iter()
                .map(|s| format!("{open}{s}{close}"))
                .collect::<Vec<_>>()
                .join(or)
        };
        match (self, suggestions.is_empty()) {
            (Lang::En, true) => {
                "Sorry, I did not understand. Could you rephrase your question?".into()
            }
            (Lang::En, false) => {
                format!(
                    "Sorry, I am not sure what you mean. Did you mean {}? You can also rephrase your question.",
                    quoted("\"", "\"", " or ")
                )
            }
            (Lang::Zh, true) => "抱歉，我没有理解您的问题，能换个说法吗？".into(),
            (Lang::Zh, false) => format!(
                "抱歉，我不太确定您的意思。您是想问{}吗？也可以换个说法再问一次。",
                quoted("“", "”", "还是")
            ),
        }
    }

    /// Tells the user that a person takes over.
    pub fn handoff(self) -> String {
        match self {
            Lang::En => "I am passing you to a member of our team, who will see this conversation and reply here.".into(),
            Lang::Zh => "我将为您转接人工客服，客服人员会看到本次对话并在这里回复您。".into(),
        }
    }
}

/// A CJK ideograph (the unified blocks, extension A and the compatibility block).
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}')
}
