//! The kinds of copy the writer makes, and their word bounds.

use serde::{Deserialize, Serialize};

use super::constraints::WordBounds;
use super::product::Length;

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A product description for the product page.
    #[default]
    Description,
    /// Ad copy: a headline and a line or two.
    Ad,
}

impl Kind {
    /// Reads `description` or `ad`.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "description" => Some(Kind::Description),
            "ad" => Some(Kind::Ad),
            _ => None,
        }
    }

    /// The word bounds of this kind at `length`: descriptions 25–60, 50–120 or 100–220 words;
    /// ads 8–25, 15–45 or 30–80 words (short, medium, long).
    pub fn bounds(self, length: Length) -> WordBounds {
        let (min, max) = match (self, length) {
            (Kind::Description, Length::Short) => (25, 60),
            (Kind::Description, Length::Medium) => (50, 120),
            (Kind::Description, Length::Long) => (100, 220),
            (Kind::Ad, Length::Short) => (8, 25),
            (Kind::Ad, Length::Medium) => (15, 45),
            (Kind::Ad, Length::Long) => (30, 80),
        };
        WordBounds { min, max }
    }
}
