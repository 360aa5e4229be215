//! The assistant without a model: knowledge bases in TOML, JSON and Markdown and their errors;
//! the example shop; the decision rule; hand-off requests and follow-up cues; grounded phrasing
//! against a model stub that lies.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use loam_apps::assistant::{
    Assistant, AssistantConfig, AssistantError, Drift, Format, KnowledgeBase, Lang, Outcome,
    asks_for_person, check_grounding, confidences, confident, is_follow_up,
};
use loam_apps::provider::{
    ChatMessage, Completion, FinishReason, GenParams, OnText, Provider, ProviderError, Role,
};
use loam_apps::search::HashingEmbedder;

/// A fresh folder under the system's temp area, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "loam-kb-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const TOML: &str = r#"
[[entry]]
id = "returns"
tags = ["returns"]
questions = ["How do I return an item?", "Can I send it back?"]
answer = "Return unworn items within 30 days at https://shop.example/returns."
follow_ups = ["refunds"]

[[entry]]
id = "refunds"
questions = ["When do I get my money back?"]
answer = "Refunds are made within 5 business days."
"#;

const JSON: &str = r#"{"entry": [
  {"id": "returns", "tags": ["returns"], "questions": ["How do I return an item?", "Can I send it back?"],
   "answer": "Return unworn items within 30 days at https://shop.example/returns.", "follow_ups": ["refunds"]},
  {"id": "refunds", "questions": ["When do I get my money back?"], "answer": "Refunds are made within 5 business days."}
]}"#;

const MARKDOWN: &str = "# Shop help\n\nNotes before the first entry are ignored.\n\n## returns\nQ: How do I return an item?\nQ: Can I send it back?\nTags: returns\nFollow-ups: refunds\n\nReturn unworn items within 30 days\nat https://shop.example/returns.\n\n## refunds\nQ: When do I get my money back?\nRefunds are made within 5 business days.\n";

#[test]
fn the_three_formats_read_the_same_entries() {
    let dir = TempDir::new("formats");
    let toml = KnowledgeBase::load(&dir.write("kb.toml", TOML)).unwrap();
    let json = KnowledgeBase::load(&dir.write("kb.json", JSON)).unwrap();
    let md = KnowledgeBase::load(&dir.write("kb.md", MARKDOWN)).unwrap();
    assert_eq!(toml.entries(), json.entries());
    assert_eq!(toml.entries(), md.entries());
    let returns = toml.get("returns").unwrap();
    assert_eq!(returns.questions.len(), 2);
    assert_eq!(returns.follow_ups, ["refunds"]);
    assert_eq!(returns.lang, Lang::En);
    // A bare JSON array is a knowledge base too.
    let list = KnowledgeBase::parse(
        &JSON[10..JSON.len() - 1],
        Format::Json,
        Path::new("list.json"),
    )
    .unwrap();
    assert_eq!(list.entries(), toml.entries());
}

#[test]
fn a_folder_is_read_whole_and_duplicates_across_files_are_named() {
    let dir = TempDir::new("folder");
    dir.write("a.toml", TOML);
    dir.write("notes.txt", "not a knowledge base");
    dir.write(
        "b.md",
        "## shipping\nQ: How long does shipping take?\nThree days.\n",
    );
    assert_eq!(KnowledgeBase::load(&dir.0).unwrap().len(), 3);
    dir.write(
        "c.json",
        r#"[{"id": "refunds", "questions": ["Refund?"], "answer": "Yes."}]"#,
    );
    let err = KnowledgeBase::load(&dir.0).unwrap_err().to_string();
    assert!(
        err.contains("c.json") && err.contains("duplicate id") && err.contains("a.toml"),
        "{err}"
    );
}

/// The error of loading `text` as `name`.
fn load_error(name: &str, text: &str) -> String {
    let dir = TempDir::new("errors");
    match KnowledgeBase::load(&dir.write(name, text)) {
        Err(AssistantError::File { path, msg }) => {
            format!("{}: {msg}", path.file_name().unwrap().to_string_lossy())
        }
        other => panic!("{name}: expected a file error, got {other:?}"),
    }
}

#[test]
fn bad_knowledge_bases_are_refused_with_file_and_place() {
    let e = load_error(
        "kb.toml",
        "[[entry]]\nid = \"a\"\nquestions = [\"Q?\"]\nanswer = \"  \"\n",
    );
    assert!(e.starts_with("kb.toml: entry 1 (`a`): empty answer"), "{e}");
    let e = load_error("kb.toml", "[[entry]]\nid = \"a\"\nanswer = \"A.\"\n");
    assert!(e.contains("entry 1 (`a`): no questions"), "{e}");
    let e = load_error(
        "kb.toml",
        &format!("{TOML}\n[[entry]]\nid = \"returns\"\nquestions = [\"Q?\"]\nanswer = \"A.\"\n"),
    );
    assert!(
        e.contains("entry 3 (`returns`): duplicate id: also entry 1"),
        "{e}"
    );
    let e = load_error(
        "kb.toml",
        "[[entry]]\nid = \"a\"\nquestion = [\"Q?\"]\nanswer = \"A.\"\n",
    );
    assert!(
        e.contains("kb.toml") && e.contains("line 3") && e.contains("question"),
        "{e}"
    );
    let e = load_error(
        "kb.json",
        "{\"entry\": [\n{\"id\": \"a\", \"questions\": [\"Q?\"], \"answer\": }\n]}",
    );
    assert!(e.contains("line 2"), "{e}");
    let e = load_error("kb.md", "## a\nQ: Where?\nLang: fr\nHere.\n");
    assert!(e.contains("kb.md: line 3: unknown language `fr`"), "{e}");
    let e = load_error("kb.md", "Just text, no entry.\n");
    assert!(e.contains("no entries"), "{e}");
    let e = load_error("kb.md", "## a\nQ: Where?\n");
    assert!(e.contains("entry 1 (`a`): empty answer"), "{e}");
    let e = load_error("kb.yaml", "a: b");
    assert!(e.contains("must end in .toml, .json or .md"), "{e}");
}

#[test]
fn the_example_shop_has_forty_entries_in_each_language_and_its_follow_ups_exist() {
    let kb = KnowledgeBase::example();
    let count = |lang| kb.entries().iter().filter(|e| e.lang == lang).count();
    assert!(
        count(Lang::En) >= 40 && count(Lang::Zh) >= 40,
        "{} en, {} zh",
        count(Lang::En),
        count(Lang::Zh)
    );
    for e in kb.entries() {
        assert_eq!(Lang::detect(&e.answer), e.lang, "{}", e.id);
        for f in e.follow_ups.iter().filter(|f| !f.contains(' ')) {
            assert!(
                kb.get(f).is_some(),
                "{}: follow-up `{f}` is not an entry",
                e.id
            );
        }
    }
}

#[test]
fn the_decision_rule_needs_threshold_and_gap() {
    assert!(confident(0.6, 0.2, 0.3, 0.1));
    assert!(!confident(0.29, 0.0, 0.3, 0.1), "below the threshold");
    assert!(
        !confident(0.45, 0.40, 0.3, 0.1),
        "ambiguous: the runner-up is too close"
    );
    let c = confidences(&[Some(1.0), Some(0.0), None], 0.5, -10.0);
    assert!((c.iter().sum::<f32>() - 1.0).abs() < 1e-6 && c[2] == 0.0 && c[0] > c[1]);
    // Scores at the out-of-scope level leave most of the probability to "none of them".
    let c = confidences(&[Some(0.4), Some(0.3)], 0.05, 0.5);
    assert!(c[0] < 0.2 && c.iter().sum::<f32>() < 0.25, "{c:?}");
}

#[test]
fn requests_for_a_person_and_follow_ups_are_recognized() {
    for m in [
        "Can I talk to a human?",
        "I want a real person",
        "get me an agent",
        "转人工",
        "我要人工客服",
    ] {
        assert!(asks_for_person(m), "{m}");
    }
    for m in [
        "How do I return an item?",
        "Is the jacket humane to wash?",
        "退货要多久？",
    ] {
        assert!(!asks_for_person(m), "{m}");
    }
    for m in [
        "and how long does that take?",
        "what about for Canada?",
        "那退货呢？",
        "is it free?",
        "要多久？",
    ] {
        assert!(is_follow_up(m), "{m}");
    }
    for m in [
        "How much does standard shipping to the United States cost?",
        "我想知道你们的退货政策是什么样的规定",
    ] {
        assert!(!is_follow_up(m), "{m}");
    }
}

/// A model that answers every request with a fixed text, and keeps the prompts it got.
struct Stub {
    answer: Mutex<String>,
    prompts: Mutex<Vec<Vec<ChatMessage>>>,
}

impl Stub {
    fn new() -> Arc<Stub> {
        Arc::new(Stub {
            answer: Mutex::new(String::new()),
            prompts: Mutex::new(Vec::new()),
        })
    }
    fn says(&self, text: &str) {
        *self.answer.lock().unwrap() = text.to_string();
    }
}

impl Provider for Stub {
    fn model_id(&self) -> String {
        "stub:liar".into()
    }
    fn embedding_model_id(&self) -> Result<String, ProviderError> {
        Err(ProviderError::Unsupported {
            provider: self.model_id(),
            what: "embeddings".into(),
        })
    }
    fn embedding_dim(&self) -> Result<usize, ProviderError> {
        self.embedding_model_id().map(|_| 0)
    }
    fn embed(&self, _: &[&str]) -> Result<Vec<Vec<f32>>, ProviderError> {
        self.embedding_model_id().map(|_| Vec::new())
    }
    fn complete_stream(
        &self,
        _: &str,
        _: &GenParams,
        _: OnText<'_>,
    ) -> Result<Completion, ProviderError> {
        Err(ProviderError::Unsupported {
            provider: self.model_id(),
            what: "completions".into(),
        })
    }
    fn chat_stream(
        &self,
        messages: &[ChatMessage],
        _: &GenParams,
        on_text: OnText<'_>,
    ) -> Result<Completion, ProviderError> {
        self.prompts.lock().unwrap().push(messages.to_vec());
        let text = self.answer.lock().unwrap().clone();
        on_text(&text);
        Ok(Completion {
            text,
            finish_reason: FinishReason::Stop,
            usage: None,
        })
    }
}

#[test]
fn every_lie_of_the_phrasing_model_falls_back_to_the_stored_answer() {
    let stub = Stub::new();
    let embedder = Arc::new(HashingEmbedder::new(512));
    let assistant = Assistant::new(
        KnowledgeBase::example(),
        embedder,
        AssistantConfig::default(),
    )
    .unwrap()
    .with_provider(stub.clone());
    let kb = assistant.knowledge_base();
    // (question asked, entry, what the model says, the drift expected)
    let lies: [(&str, &str, &str, Drift); 9] = [
        (
            "How much does shipping cost?",
            "shipping-cost",
            "Shipping is $4.95, free over $75.",
            Drift::Number("4.95".into()),
        ),
        (
            "What is your return policy?",
            "returns-policy",
            "You can return items within sixty days.",
            Drift::Number("60".into()),
        ),
        (
            "How do I return an item?",
            "returns-how",
            "Start at https://maplelane-returns.example/start and print the label.",
            Drift::Url("maplelane-returns.example/start".into()),
        ),
        (
            "How do I make a warranty claim?",
            "warranty-claim",
            "Write to claims@maplelane.example with photos.",
            Drift::Email("claims@maplelane.example".into()),
        ),
        (
            "How do I return an item?",
            "returns-how",
            "Start your return online; return shipping is free for you.",
            Drift::Promise("free".into()),
        ),
        (
            "Do you ship to Canada?",
            "shipping-canada",
            "Yes, and we guarantee delivery in 5 to 8 business days.",
            Drift::Promise("guarantee".into()),
        ),
        (
            "When will I get my refund?",
            "refund-time",
            "Your refund is made within 5 business days, and you get a $10 voucher.",
            Drift::Promise("voucher".into()),
        ),
        (
            "在哪里申请退货？",
            "returns-how-zh",
            "请在 https://maplelane.example/returns 申请退货，退货运费全免，免费寄回。",
            Drift::Promise("免费".into()),
        ),
        (
            "多少天内可以退货？",
            "returns-policy-zh",
            "收货后六十天内都可以退货。",
            Drift::Number("60".into()),
        ),
    ];
    for (question, entry, lie, drift) in lies {
        stub.says(lie);
        let reply = assistant.reply(&[], question).unwrap();
        assert!(
            matches!(&reply.outcome, Outcome::Answered { entry_id, .. } if entry_id == entry),
            "{question}: {:?}",
            reply.outcome
        );
        let stored = &kb.get(entry).unwrap().answer;
        assert_eq!(&reply.text, stored, "the lie {lie:?} was not caught");
        let phrasing = reply.phrasing.expect("the model was asked");
        assert!(
            phrasing.drift.contains(&drift),
            "{lie:?}: drift {:?}, expected {drift:?}",
            phrasing.drift
        );
    }
    let last = stub.prompts.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last[0].role, Role::System);
    assert!(
        last[0]
            .content
            .contains(&kb.get("returns-policy-zh").unwrap().answer),
        "the entry is in the instructions"
    );
    assert_eq!(last.last().unwrap().content, "多少天内可以退货？");
}

#[test]
fn an_honest_paraphrase_is_used() {
    let stub = Stub::new();
    let embedder = Arc::new(HashingEmbedder::new(512));
    let assistant = Assistant::new(
        KnowledgeBase::example(),
        embedder,
        AssistantConfig::default(),
    )
    .unwrap()
    .with_provider(stub.clone());
    let honest = [
        (
            "How much does shipping cost?",
            "It's $5.95 for standard shipping in the US, and free once your order is over $75.00. Express is $14.95.",
        ),
        (
            "What is your return policy?",
            "You have thirty days from delivery to return anything unworn and unwashed with the tags on. Worn footwear and personalised items can't come back.",
        ),
        (
            "在哪里申请退货？",
            "您可以在 https://maplelane.example/returns/ 输入订单号申请退货，打印运单后交到 UPS 网点，或直接到门店办理。",
        ),
        (
            "多少天内可以退货？",
            "收货后三十天内，未穿着、未洗涤且吊牌完好的商品都可以退货；穿过的鞋类和定制商品除外。",
        ),
    ];
    for (question, paraphrase) in honest {
        stub.says(paraphrase);
        let reply = assistant.reply(&[], question).unwrap();
        assert_eq!(
            reply.text,
            paraphrase,
            "drift: {:?}",
            reply.phrasing.map(|p| p.drift)
        );
    }
    stub.says("");
    let reply = assistant
        .reply(&[], "How much does shipping cost?")
        .unwrap();
    assert_eq!(
        reply.text,
        KnowledgeBase::example()
            .get("shipping-cost")
            .unwrap()
            .answer,
        "an empty rewrite is not used"
    );
}

#[test]
fn grounding_compares_numbers_in_every_form() {
    let entry = "Standard delivery takes 3 to 5 business days and costs $1,000.00 over 2 weeks.";
    assert!(
        check_grounding(
            "It takes three to five business days and costs $1000, over two weeks.",
            entry
        )
        .is_empty()
    );
    assert_eq!(
        check_grounding("It takes 3 to 6 days.", entry),
        vec![Drift::Number("6".into())]
    );
    assert!(check_grounding("需要三到五个工作日。", entry).is_empty());
    assert_eq!(
        check_grounding("需要三到七个工作日。", entry),
        vec![Drift::Number("7".into())]
    );
    let n = |text: &str| check_grounding(text, "");
    let numbers = |text: &str| -> Vec<Drift> {
        ["1000", "5.95", "35", "200", "30", "205", "12", "1"]
            .iter()
            .map(|v| Drift::Number(v.to_string()))
            .filter(|d| n(text).contains(d))
            .collect()
    };
    assert_eq!(
        n("$1,000.00 and 5.95"),
        [Drift::Number("1000".into()), Drift::Number("5.95".into())]
    );
    assert_eq!(
        n("thirty-five days, two hundred items"),
        [Drift::Number("35".into()), Drift::Number("200".into())]
    );
    assert_eq!(
        numbers("三十天内，两百零五件，十二点"),
        [
            Drift::Number("30".into()),
            Drift::Number("205".into()),
            Drift::Number("12".into())
        ]
    );
    assert_eq!(n("请稍等一下，the larger one"), []);
    assert_eq!(
        n("一年保修"),
        [Drift::Number("1".into()), Drift::Promise("保修".into())]
    );
}
