//! Chinese, emoji, combining marks and right-to-left text come through everything intact.

mod common;

use common::{MULTILINGUAL, TempDir};
use loam_text::{
    CharTokenizer, CleanConfig, Cleaner, DatasetConfig, Split, StopWords, TokenDataset, Tokenizer, TokenizerSpec,
    build_dataset, clean, load_tokenizer, split_sentences,
};

#[test]
fn every_cleaning_step_leaves_other_scripts_alone() {
    let config: CleanConfig = "nfc,html,control,whitespace,mask,dedup-lines".parse().unwrap();
    let (out, report) = clean(MULTILINGUAL, &config);
    let out = out.unwrap();
    // NFC composes e + U+0301 into é; everything else is byte for byte the same.
    let composed = MULTILINGUAL.replace("e\u{301}", "\u{e9}").replace("n\u{303}", "\u{f1}");
    assert_eq!(out, composed);
    assert_eq!(report.texts_renormalized, 1);
    assert!(out.contains("👩🏽‍💻") && out.contains('\u{200F}') && out.contains("🇯🇵"));
    // Without normalization, the combining marks stay as they are.
    let (out, _) = clean(MULTILINGUAL, &"html,control,whitespace,mask".parse().unwrap());
    assert_eq!(out.unwrap(), MULTILINGUAL);
}

#[test]
fn lowercasing_and_nfkc_touch_only_what_they_must() {
    let (out, report) = clean("ÀÉÎ Straße ΣΑΣ 中文 👍 مرحبا", &"lower".parse().unwrap());
    assert_eq!(out.unwrap(), "àéî straße σας 中文 👍 مرحبا");
    assert_eq!(report.chars_lowercased, 7);
    let (out, _) = clean("ＡＢＣ１２３ ﬁ 中文", &"nfkc".parse().unwrap());
    assert_eq!(out.unwrap(), "ABC123 fi 中文");
}

#[test]
fn html_web_preset_on_mixed_page() {
    let page = "<html><body><h1>标题 &amp; Title</h1><p>联系 <a href=\"mailto:x@y.cn\">x@y.cn</a> 或访问 \
                https://例子.cn/路径 https://example.cn/path。</p><p>مرحبا&nbsp;بالعالم 👋</p>\
                <p>联系 x@y.cn</p></body></html>";
    let mut cleaner = Cleaner::new(CleanConfig::web());
    let out = cleaner.clean_document(page).unwrap();
    // Block tags become line breaks (one blank line kept between paragraphs); URLs are matched
    // in ASCII only, so an internationalized one stays and the Chinese around a URL is kept.
    assert_eq!(out, "标题 & Title\n\n联系 <email> 或访问 https://例子.cn/路径 <url>。\n\nمرحبا بالعالم 👋\n\n联系 <email>\n");
    let r = cleaner.report();
    assert_eq!((r.emails_masked, r.urls_masked, r.html_entities_decoded), (2, 1, 2));
}

#[test]
fn char_and_bpe_datasets_round_trip_multilingual_text() {
    let dir = TempDir::new("unicode-ds");
    let corpus = dir.write("mixed.txt", MULTILINGUAL.repeat(30));
    for spec in ["char", "bpe:300", "unigram:150"] {
        let out = dir.join(spec.replace(':', "-").as_str());
        let mut config = DatasetConfig::new(&corpus, &out, spec.parse::<TokenizerSpec>().unwrap());
        config.val_fraction = 0.0;
        config.document_separator = false;
        build_dataset(&config).unwrap();
        let data = TokenDataset::open(&out).unwrap();
        let tok = load_tokenizer(&data.tokenizer_path()).unwrap();
        let train = data.split(Split::Train).unwrap();
        let text = tok.decode(&train.tokens(0, train.len()).unwrap(), false).unwrap();
        assert_eq!(text, MULTILINGUAL.repeat(30), "{spec}");
    }
    let chars = CharTokenizer::from_text(MULTILINGUAL);
    assert!(chars.token_to_id("\u{301}").is_some(), "a combining mark is a character of its own");
}

#[test]
fn sentences_and_stop_words_in_several_scripts() {
    let sentences = split_sentences(MULTILINGUAL);
    assert_eq!(sentences[0], "English words, 中文句子很好。");
    assert!(sentences.iter().any(|s| s.contains("👩🏽‍💻🎉")));
    assert_eq!(sentences.concat().chars().filter(|c| !c.is_whitespace()).count(), MULTILINGUAL.chars().filter(|c| !c.is_whitespace()).count());
    let words = StopWords::english_and_chinese().content_words("and the नमस्ते e\u{301}te\u{301} שלום");
    assert_eq!(words, vec!["नमस्ते", "e\u{301}te\u{301}", "שלום"]);
}
