//! The built-in training corpus of `cargo xtask train`: customer-service conversations written
//! by a small grammar in this file. It needs no download, is the project's own text, and has
//! enough structure (speakers, products, order numbers, polite formulas) for a character model
//! to learn visibly in a few minutes.

use loam_tensor::Rng;

const NAMES: &[&str] = &["Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jun", "Kofi", "Lena", "Mateo", "Nora", "Omar", "Priya"];
const PRODUCTS: &[&str] = &[
    "blue kettle", "desk lamp", "rain jacket", "coffee grinder", "wool scarf", "phone case", "garden hose", "reading chair",
    "travel mug", "bike helmet", "yoga mat", "tea set", "backpack", "wall clock", "bread knife", "winter boots",
];
const PROBLEMS: &[&str] = &[
    "has not arrived yet", "arrived damaged", "is the wrong size", "stopped working after a week", "is missing a part",
    "was charged twice", "came in the wrong colour", "is not what I ordered",
];
const FEELINGS: &[&str] = &["I am a bit worried.", "Can you help me?", "What can I do?", "I need it by Friday.", "This is the second time.", "Thank you for your time."];
const APOLOGIES: &[&str] = &["I am sorry to hear that.", "I understand, and I am sorry.", "Thank you for telling us.", "That should not have happened."];
const CHECKS: &[&str] = &["Let me check your order", "I am looking at order", "I can see order", "I found order"];
const FIXES: &[&str] = &[
    "I have sent a new {p} today, and it should arrive in {n} days.",
    "I have refunded the full amount to your card; it takes {n} working days.",
    "I have booked a free pickup for the {p} on {d}.",
    "I have added a discount of {n}0 percent to your next order.",
    "A replacement part for the {p} is on its way and will arrive on {d}.",
];
const DAYS: &[&str] = &["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const CLOSINGS: &[&str] = &["Is there anything else I can do for you?", "Does that help?", "Can I help with anything else today?"];
const THANKS: &[&str] = &["No, that is all. Thank you!", "That is great, thanks a lot.", "Perfect, have a nice day.", "Thanks, that solves it."];
const GOODBYES: &[&str] = &["You are welcome. Have a good day!", "Happy to help. Goodbye!", "Thank you for shopping with us."];

fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    items[rng.below(items.len() as u64) as usize]
}

/// One conversation between a customer and an agent.
fn conversation(rng: &mut Rng) -> String {
    let (customer, agent) = (pick(rng, NAMES), pick(rng, NAMES));
    let product = pick(rng, PRODUCTS);
    let order = 1000 + rng.below(9000);
    let fix = pick(rng, FIXES)
        .replace("{p}", product)
        .replace("{n}", &(2 + rng.below(5)).to_string())
        .replace("{d}", pick(rng, DAYS));
    format!(
        "Customer ({customer}): Hello, my {product} {problem}. {feeling}\n\
         Agent ({agent}): Hello {customer}. {apology} {check} {order}.\n\
         Agent ({agent}): {fix}\n\
         Agent ({agent}): {closing}\n\
         Customer ({customer}): {thanks}\n\
         Agent ({agent}): {goodbye}\n\n",
        problem = pick(rng, PROBLEMS),
        feeling = pick(rng, FEELINGS),
        apology = pick(rng, APOLOGIES),
        check = pick(rng, CHECKS),
        closing = pick(rng, CLOSINGS),
        thanks = pick(rng, THANKS),
        goodbye = pick(rng, GOODBYES),
    )
}

/// At least `min_bytes` of conversations, the same for the same seed.
pub fn default_corpus(seed: u64, min_bytes: usize) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::with_capacity(min_bytes + 1024);
    while out.len() < min_bytes {
        out.push_str(&conversation(&mut rng));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_is_deterministic_and_varied() {
        let a = default_corpus(1, 20_000);
        assert_eq!(a, default_corpus(1, 20_000));
        assert_ne!(a, default_corpus(2, 20_000));
        assert!(a.len() >= 20_000);
        let convs: std::collections::HashSet<&str> = a.split("\n\n").collect();
        assert!(convs.len() > 50, "conversations repeat too much");
        assert!(a.is_ascii());
    }
}
