//! The commands on Hugging Face folders, run as a user runs them: `generate --max-length`
//! (`transformers`' first program) gives the tiny GPT-2 fixture's greedy reference, and `chat`
//! keeps a conversation read from piped standard input and answers a messages file; `generate
//! --quant` continues as the folder `quantize` writes.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

/// `$LOAM_FIXTURES`, else `../shared/fixtures` beside the workspace; `None` (saying why) when
/// neither exists.
fn fixtures(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("LOAM_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"));
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("{test}: did not run: no fixtures at {} (set LOAM_FIXTURES)", dir.display());
        None
    }
}

fn xtask() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    // no hub is reachable from a test: a hub id must fail fast rather than wait
    cmd.env("HF_ENDPOINT", "http://127.0.0.1:9");
    cmd
}

#[test]
fn generate_max_length_counts_the_prompt_and_is_greedy_by_default() {
    let Some(fixtures) = fixtures("generate --max-length") else { return };
    let dir = fixtures.join("tiny-gpt2");
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap()).unwrap();
    let case = &reference["cases"][0];
    let prompt_len = case["input_ids"].as_array().unwrap().len();
    let greedy = case["greedy_ids"].as_array().unwrap();
    let max_length = prompt_len + greedy.len();
    let out = xtask()
        .args(["generate", "--model", dir.to_str().unwrap(), "--prompt", case["prompt"].as_str().unwrap(), "--json"])
        .args(["--max-length", &max_length.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["ids"].as_array().unwrap(), greedy);
    assert_eq!(printed["prompt_tokens"].as_u64().unwrap() as usize, prompt_len);

    let out = xtask().args(["generate", "--model", dir.to_str().unwrap(), "--prompt", "Hello there", "--max-length", "2"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--max-length 2") && err.lines().count() == 1, "{err}");
}

#[test]
fn generate_quant_is_the_quantized_folder_in_memory() {
    let Some(fixtures) = fixtures("generate --quant") else { return };
    let tmp = std::env::temp_dir().join(format!("loam-xtask-quant-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    for (name, format) in [("tiny-gpt2", "int8"), ("tiny-t5", "q4"), ("tiny-bart", "int8")] {
        let src = fixtures.join(name);
        let out = tmp.join(format!("{name}-{format}"));
        let src_arg = src.to_str().unwrap();
        let quantized =
            xtask().args(["quantize", "--model", src_arg, "--to", format, "--out"]).arg(&out).output().unwrap();
        assert!(quantized.status.success(), "{}", String::from_utf8_lossy(&quantized.stderr));
        let ids = |model: &std::path::Path, quant: &[&str]| {
            let run = xtask()
                .args(["generate", "--model", model.to_str().unwrap(), "--prompt", "Before we proceed any further"])
                .arg("--greedy")
                .args(["--max-new-tokens", "12", "--json"])
                .args(quant)
                .output()
                .unwrap();
            assert!(run.status.success(), "{name}: {}", String::from_utf8_lossy(&run.stderr));
            serde_json::from_slice::<Value>(&run.stdout).unwrap()["ids"].clone()
        };
        let folder_ids = ids(&out, &[]);
        assert!(!folder_ids.as_array().unwrap().is_empty(), "{name} {format}: nothing generated");
        assert_eq!(ids(&src, &["--quant", format]), folder_ids, "{name} {format}");
    }
    let out = xtask().args(["generate", "--model", "x", "--prompt", "y", "--quant", "int4"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("int4"), "{err}");
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// The tiny GPT-2 fixture with the tiny-llama chat template, in a fresh folder.
fn chat_folder(fixtures: &std::path::Path) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loam-xtask-chat-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["config.json", "generation_config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(fixtures.join("tiny-gpt2").join(file), dir.join(file)).unwrap();
    }
    std::fs::copy(fixtures.join("tiny-llama/chat_template.jinja"), dir.join("chat_template.jinja")).unwrap();
    std::fs::write(dir.join("tokenizer_config.json"), r#"{"eos_token": "<|im_end|>"}"#).unwrap();
    dir
}

#[test]
fn chat_reads_turns_from_stdin_and_answers_a_messages_file() {
    let Some(fixtures) = fixtures("chat") else { return };
    let dir = chat_folder(&fixtures);
    let mut child = xtask()
        .args(["chat", "--model", dir.to_str().unwrap(), "--system", "Be brief.", "--max-new-tokens", "4"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"First Citizen\n/reset\nSecond\n/exit\nnever read\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2, "two replies, one line each; /exit ends");
    assert!(String::from_utf8_lossy(&out.stderr).contains("(conversation reset)"));

    let messages = dir.join("messages.json");
    std::fs::write(&messages, r#"{"messages": [{"role": "user", "content": "Hi"}]}"#).unwrap();
    let out = xtask()
        .args(["chat", "--model", dir.to_str().unwrap(), "--json", messages.to_str().unwrap(), "--max-new-tokens", "3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["role"], "assistant");
    assert_eq!(reply["completion_tokens"], 3);
    assert_eq!(reply["finish_reason"], "length");
    let _ = std::fs::remove_dir_all(&dir);
}
