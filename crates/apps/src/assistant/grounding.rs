//! Grounded phrasing: a model rewrites the retrieved answer for the conversation, and the
//! rewrite is used only when it says nothing the entry does not: every number (digits, English
//! number words, Chinese numerals), URL, e-mail address and promise word ("free", "refund",
//! "guarantee", "免费", …) of the rewrite must be in the stored answer. Anything else is drift,
//! and the stored answer is given instead.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::assistant::lang::Lang;
use crate::assistant::numbers::numbers;
use crate::provider::{ChatMessage, GenParams, Provider, Role};

/// Something a rewrite says that its entry does not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Drift {
    /// A number (amount, count, date or time part) not in the entry.
    Number(String),
    /// A URL or web address not in the entry.
    Url(String),
    /// An e-mail address not in the entry.
    Email(String),
    /// A promise word not in the entry.
    Promise(String),
    /// The model wrote nothing.
    Empty,
}

/// English promise words, matched as word stems ("refund" matches "refunded").
const EN_PROMISES: [&str; 26] = [
    "refund",
    "free",
    "guarantee",
    "warrant",
    "lifetime",
    "compensat",
    "discount",
    "voucher",
    "coupon",
    "credit",
    "waive",
    "no charge",
    "no cost",
    "unlimited",
    "promise",
    "money back",
    "money-back",
    "exception",
    "upgrade",
    "priority",
    "overnight",
    "bonus",
    "complimentary",
    "reimburse",
    "always",
    "never",
];

/// Chinese promise words.
const ZH_PROMISES: [&str; 18] = [
    "免费",
    "退款",
    "保证",
    "保修",
    "终身",
    "赔偿",
    "补偿",
    "折扣",
    "优惠",
    "代金券",
    "包邮",
    "全额",
    "承诺",
    "无条件",
    "永久",
    "返现",
    "赠送",
    "退还",
];

/// The ways `candidate` says more than `source`; empty when it is grounded.
///
/// ```
/// use loam_apps::assistant::{Drift, check_grounding};
/// let entry = "Standard shipping costs $5.95 and is free on orders over $75.";
/// assert!(check_grounding("Shipping is $5.95, or free when you spend over $75.", entry).is_empty());
/// assert_eq!(check_grounding("Shipping is $4.95.", entry), vec![Drift::Number("4.95".into())]);
/// ```
pub fn check_grounding(candidate: &str, source: &str) -> Vec<Drift> {
    let mut drift = Vec::new();
    let known: HashSet<String> = numbers(source).into_iter().collect();
    for n in numbers(candidate) {
        if !known.contains(&n) {
            drift.push(Drift::Number(n));
        }
    }
    let (src_urls, src_emails) = addresses(source);
    let (urls, emails) = addresses(candidate);
    drift.extend(
        urls.into_iter()
            .filter(|u| !src_urls.contains(u))
            .map(Drift::Url),
    );
    drift.extend(
        emails
            .into_iter()
            .filter(|e| !src_emails.contains(e))
            .map(Drift::Email),
    );
    let (cand, src) = (candidate.to_lowercase(), source.to_lowercase());
    for p in EN_PROMISES.iter().chain(&ZH_PROMISES) {
        if cand.contains(p) && !src.contains(p) {
            drift.push(Drift::Promise((*p).to_string()));
        }
    }
    drift.dedup();
    drift
}

/// The URLs (scheme stripped, lowercased, without a trailing slash) and e-mail addresses of
/// `text`.
fn addresses(text: &str) -> (HashSet<String>, HashSet<String>) {
    let mut urls = HashSet::new();
    let mut emails = HashSet::new();
    let edge = |c: char| !(c.is_ascii_alphanumeric() || c == '/');
    for token in
        text.split(|c: char| c.is_whitespace() || !c.is_ascii() || "()<>\"'，。、".contains(c))
    {
        let token = token.trim_matches(edge).to_lowercase();
        if token.contains('@') {
            emails.insert(token);
            continue;
        }
        let bare = token
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let host = bare.split('/').next().unwrap_or("");
        let looks_like_host = host.rsplit_once('.').is_some_and(|(name, tld)| {
            !name.is_empty() && tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic())
        });
        if token.starts_with("http") || token.starts_with("www.") || looks_like_host {
            urls.insert(bare.to_string());
        }
    }
    (urls, emails)
}

/// The outcome of asking a model to phrase an answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Phrasing {
    /// What the model wrote.
    pub generated: String,
    /// What it says that the entry does not; empty when its text was used.
    pub drift: Vec<Drift>,
}

/// Asks `provider` to rewrite `answer` for the conversation (`messages`: the turns so far,
/// ending with the user's message) in `lang`.
pub(crate) fn phrase(
    provider: &dyn Provider,
    messages: &[ChatMessage],
    answer: &str,
    lang: Lang,
) -> crate::assistant::Result<Phrasing> {
    let system = format!(
        "You are the customer-service assistant of a shop. Answer the customer's last message in {} using only \
         the stored answer below. Rephrase it to fit the conversation, briefly and politely. Do not add any number, \
         price, date, link, e-mail address, promise or policy that the stored answer does not contain.\n\n\
         Stored answer: {answer}",
        lang.name()
    );
    let mut prompt = vec![ChatMessage::new(Role::System, system)];
    prompt.extend(messages.iter().cloned());
    let params = GenParams {
        max_tokens: 200,
        temperature: 0.0,
        ..GenParams::default()
    };
    let generated = provider.chat(&prompt, &params)?.text.trim().to_string();
    let mut drift = check_grounding(&generated, answer);
    if generated.is_empty() {
        drift.push(Drift::Empty);
    }
    Ok(Phrasing { generated, drift })
}
