//! Chat templates against `transformers`' `apply_chat_template`: the `chat` cases of the
//! tiny-llama and tiny-qwen2 fixtures, rendered byte for byte and tokenized id for id; the
//! forms `tokenizer_config.json` may take; Python methods, `raise_exception` and errors that
//! name the template's line.

mod hf_common;

use std::path::{Path, PathBuf};

use loam_lm::{ChatMessage, ChatTemplate};
use loam_text::{HfTokenizer, Tokenizer};
use serde_json::Value;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loam-chat-template-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn messages(v: &Value) -> Vec<ChatMessage> {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn fixture_chats_render_and_tokenize_as_transformers_does() {
    let Some(fixtures) = hf_common::fixtures("chat template parity") else { return };
    for model in ["tiny-llama", "tiny-qwen2"] {
        let dir = fixtures.join(model);
        let template = ChatTemplate::from_dir(&dir).unwrap().expect("the fixture has a template");
        let tokenizer = HfTokenizer::load(&dir.join("tokenizer.json")).unwrap();
        let reference: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap()).unwrap();
        let cases = reference["chat"].as_array().unwrap();
        assert!(!cases.is_empty());
        for case in cases {
            let rendered = template.render(&messages(&case["messages"]), true).unwrap();
            assert_eq!(rendered, case["rendered"].as_str().unwrap(), "{model}");
            let ids = tokenizer.encode(&rendered, false).unwrap();
            let expected: Vec<u32> = serde_json::from_value(case["input_ids"].clone()).unwrap();
            assert_eq!(ids, expected, "{model}: {rendered:?}");
        }
        assert_eq!(template.token("eos_token"), Some("<|im_end|>"), "{model}");
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn tokenizer_config_templates_in_both_forms_with_token_objects() {
    let dir = temp_dir("config-forms");
    let source = "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content.strip() }}{{ eos_token }}{% endfor %}";
    let config = serde_json::json!({
        "bos_token": {"content": "<s>", "lstrip": false},
        "eos_token": "</s>",
        "chat_template": [{"name": "tool_use", "template": "tools"}, {"name": "default", "template": source}],
    });
    write(&dir, "tokenizer_config.json", &config.to_string());
    let template = ChatTemplate::from_dir(&dir).unwrap().unwrap();
    let out = template.render(&[ChatMessage::new("user", "  hi  ")], false).unwrap();
    assert_eq!(out, "<s>[user] hi</s>");

    write(&dir, "tokenizer_config.json", &serde_json::json!({ "chat_template": "plain {{ messages | length }}" }).to_string());
    let template = ChatTemplate::from_dir(&dir).unwrap().unwrap();
    assert_eq!(template.render(&[ChatMessage::new("user", "a")], false).unwrap(), "plain 1");

    write(&dir, "chat_template.jinja", "from the file");
    let template = ChatTemplate::from_dir(&dir).unwrap().unwrap();
    assert_eq!(template.render(&[], false).unwrap(), "from the file", "chat_template.jinja wins");

    let none = temp_dir("no-template");
    assert!(ChatTemplate::from_dir(&none).unwrap().is_none());
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&none);
}

#[test]
fn trimmed_blocks_python_methods_and_tojson() {
    let source = "{% for m in messages %}\n  {% if m.role.startswith('sys') %}\nS:{{ m.content | tojson }}\n  {% else %}\n{{ m.role.upper() }}:{{ m.content.split(',') | join('|') }}\n  {% endif %}\n{% endfor %}\n";
    let template = ChatTemplate::new(source, Path::new("inline"), Vec::new()).unwrap();
    let out = template.render(&[ChatMessage::new("system", "é \"q\""), ChatMessage::new("user", "a,b")], false).unwrap();
    assert_eq!(out, "S:\"é \\\"q\\\"\"\nUSER:a|b\n");
}

#[test]
fn errors_name_the_template_line() {
    let source = "line one\n{% if messages[0].role != 'user' %}\n{{ raise_exception('the first message must be the user\\'s') }}\n{% endif %}";
    let template = ChatTemplate::new(source, Path::new("strict.jinja"), Vec::new()).unwrap();
    let err = template.render(&[ChatMessage::new("assistant", "x")], false).unwrap_err().to_string();
    assert!(err.contains("strict.jinja") && err.contains("line 3") && err.contains("the first message must be the user's"), "{err}");
    assert!(template.render(&[ChatMessage::new("user", "x")], false).is_ok());

    let err = ChatTemplate::new("ok\n{% for m in messages %}", Path::new("broken.jinja"), Vec::new()).unwrap_err().to_string();
    assert!(err.contains("broken.jinja") && err.contains("line 2") && err.contains("does not compile"), "{err}");
}
