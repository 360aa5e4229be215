//! Beam search against `transformers` on the tiny GPT-2 (`tiny-gpt2/beam-reference.json`):
//! 4 beams with early stopping, and 3 beams returning 3 sequences with a 2-gram ban and a
//! length penalty of 0.6, token ids identical; and the settings beam search refuses.

mod hf_common;

use hf_common::ids;

use loam_lm::hf::load_gpt2;
use loam_lm::{BeamConfig, EarlyStopping, FinishReason, GenerationConfig, beam_search};

#[test]
fn tiny_gpt2_beams_match_transformers() {
    let Some(fixtures) = hf_common::fixtures("tiny-gpt2 beam search") else { return };
    let dir = fixtures.join("tiny-gpt2");
    let gpt2 = load_gpt2(&dir).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("beam-reference.json")).unwrap()).unwrap();
    for case in reference["cases"].as_array().unwrap() {
        let g = &case["generate"];
        let prompt = ids(&case["input_ids"]);
        let cfg = GenerationConfig {
            max_new_tokens: g["max_new_tokens"].as_u64().unwrap() as usize,
            no_repeat_ngram_size: g["no_repeat_ngram_size"].as_u64().unwrap_or(0) as usize,
            eos_ids: gpt2.config.eos_token_id.map(|e| e as u32).into_iter().collect(),
            ..GenerationConfig::default()
        };
        let beam = BeamConfig {
            num_beams: g["num_beams"].as_u64().unwrap() as usize,
            length_penalty: g["length_penalty"].as_f64().unwrap() as f32,
            early_stopping: if g["early_stopping"].as_bool().unwrap() { EarlyStopping::True } else { EarlyStopping::False },
            num_return_sequences: g["num_return_sequences"].as_u64().unwrap_or(1) as usize,
            min_new_tokens: 0,
        };
        let got = beam_search(&gpt2.model, &prompt, &cfg, &beam).unwrap();
        let want: Vec<Vec<usize>> = case["sequences"].as_array().unwrap().iter().map(ids).collect();
        let got_ids: Vec<Vec<usize>> = got.iter().map(|h| h.ids.clone()).collect();
        assert_eq!(got_ids, want, "{}", case["prompt"]);
        assert!(got.iter().all(|h| h.finish_reason == FinishReason::Length));
        assert!(got.windows(2).all(|w| w[0].score >= w[1].score), "best first");
    }
}

#[test]
fn one_beam_is_greedy_and_min_new_tokens_holds_eos_back() {
    let Some(fixtures) = hf_common::fixtures("tiny-gpt2 beam search") else { return };
    let gpt2 = load_gpt2(&fixtures.join("tiny-gpt2")).unwrap();
    let prompt = [50, 47, 45, 37, 47, 26, 199, 450, 12, 366, 70, 84, 1, 436, 358, 351];
    let cfg = GenerationConfig { max_new_tokens: 16, ..GenerationConfig::default() };
    let (greedy, _) = loam_lm::generate_ids(&gpt2.model, &prompt, &cfg, true, &mut |_| true).unwrap();
    let one = beam_search(&gpt2.model, &prompt, &cfg, &BeamConfig { num_beams: 1, ..BeamConfig::default() }).unwrap();
    assert_eq!(one[0].ids, greedy);
    // make a later token of the greedy path (one not seen before it) an EOS: greedy search
    // ends there, and with min_new_tokens past it cannot
    let k = (1..greedy.len()).find(|&i| !greedy[..i].contains(&greedy[i])).unwrap_or_else(|| panic!("no new token on the greedy path {greedy:?}"));
    let eos = GenerationConfig { eos_ids: vec![greedy[k] as u32], ..cfg.clone() };
    let one_beam = BeamConfig { num_beams: 1, ..BeamConfig::default() };
    let early = beam_search(&gpt2.model, &prompt, &eos, &one_beam).unwrap();
    assert_eq!((early[0].ids.clone(), early[0].finish_reason), (greedy[..k].to_vec(), FinishReason::Stop));
    let held = beam_search(&gpt2.model, &prompt, &eos, &BeamConfig { min_new_tokens: k + 2, ..one_beam }).unwrap();
    assert!(held[0].ids.len() >= k + 2 && !held[0].ids[..k + 1].contains(&greedy[k]), "{:?}", held[0].ids);
}

#[test]
fn meaningless_beam_settings_are_refused() {
    let Some(fixtures) = hf_common::fixtures("tiny-gpt2 beam search") else { return };
    let gpt2 = load_gpt2(&fixtures.join("tiny-gpt2")).unwrap();
    let cfg = GenerationConfig { max_new_tokens: 4, ..GenerationConfig::default() };
    let cases = [
        (BeamConfig { num_beams: 0, ..BeamConfig::default() }, "num_beams must be at least 1"),
        (BeamConfig { num_beams: 2, num_return_sequences: 3, ..BeamConfig::default() }, "num_return_sequences 3"),
        (BeamConfig { length_penalty: f32::NAN, ..BeamConfig::default() }, "length_penalty NaN"),
    ];
    for (beam, what) in cases {
        let err = beam_search(&gpt2.model, &[1, 2], &cfg, &beam).unwrap_err().to_string();
        assert!(err.contains(what), "{what}: {err}");
    }
    let err = beam_search(&gpt2.model, &[1, 2], &GenerationConfig { max_new_tokens: 100_000, ..cfg }, &BeamConfig::default()).unwrap_err().to_string();
    assert!(err.contains("exceed the context"), "{err}");
    assert_eq!("never".parse::<EarlyStopping>().unwrap(), EarlyStopping::Never);
    assert!("sometimes".parse::<EarlyStopping>().is_err());
}
