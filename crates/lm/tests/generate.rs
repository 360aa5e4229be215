//! Generation: the KV cache changes nothing, sampling stays inside the filtered sets and
//! follows their probabilities, batches equal single prompts, streaming and stop rules.

use loam_lm::{FinishReason, GenerationConfig, Gpt, GptConfig, choose, filtered_probs, generate, generate_batch, generate_ids};
use loam_nn::{Ctx, ParamStore};
use loam_tensor::Rng;
use loam_text::CharTokenizer;

fn model(seed: u64) -> Gpt {
    let c = GptConfig { n_layer: 2, n_head: 2, n_embd: 16, block_size: 12, vocab_size: 11, ..GptConfig::default() };
    let store = ParamStore::new(seed);
    let gpt = Gpt::new(&c, &store).unwrap();
    // larger weights than GPT-2's init, so the distributions are far from uniform
    for (_, p) in store.params() {
        if p.rank() == 2 {
            p.update(|mut v| v.mapv_inplace(|x| x * 25.0)).unwrap();
        }
    }
    gpt
}

#[test]
fn tokens_are_identical_with_and_without_the_cache() {
    let gpt = model(1);
    for cfg in [
        GenerationConfig { max_new_tokens: 20, ..Default::default() },
        GenerationConfig { max_new_tokens: 20, do_sample: true, temperature: 0.9, top_k: Some(5), seed: 3, ..Default::default() },
        GenerationConfig { max_new_tokens: 20, repetition_penalty: 1.3, no_repeat_ngram_size: 2, ..Default::default() },
    ] {
        // 3 + 20 tokens run past the block size of 12: the window slides in both paths
        let (with, _) = generate_ids(&gpt, &[1, 2, 3], &cfg, true, &mut |_| true).unwrap();
        let (without, _) = generate_ids(&gpt, &[1, 2, 3], &cfg, false, &mut |_| true).unwrap();
        assert_eq!(with, without, "{cfg:?}");
        assert_eq!(with.len(), 20);
    }
}

#[test]
fn sampling_stays_inside_the_filtered_set_and_follows_it() {
    let gpt = model(2);
    let logits = gpt.forward(&[4, 5, 6], 1, 3, None, &mut Ctx::eval()).unwrap().to_vec();
    let last = &logits[2 * 11..3 * 11];
    for cfg in [
        GenerationConfig { do_sample: true, top_k: Some(3), ..Default::default() },
        GenerationConfig { do_sample: true, top_p: Some(0.7), ..Default::default() },
        GenerationConfig { do_sample: true, min_p: Some(0.2), temperature: 1.5, ..Default::default() },
    ] {
        let p = filtered_probs(last, &cfg);
        let support = p.iter().filter(|&&x| x > 0.0).count();
        assert!(support < 11, "the filter removes something: {p:?}");
        let mut counts = [0usize; 11];
        let mut rng = Rng::new(9);
        let n = 20_000;
        for _ in 0..n {
            counts[choose(last, &[], &cfg, &mut rng)] += 1;
        }
        for (i, &c) in counts.iter().enumerate() {
            if p[i] == 0.0 {
                assert_eq!(c, 0, "token {i} is outside the set: {cfg:?}");
            } else {
                // 5 standard deviations of a binomial
                let sd = (n as f32 * p[i] * (1.0 - p[i])).sqrt();
                assert!((c as f32 - n as f32 * p[i]).abs() < 5.0 * sd + 1.0, "token {i}: {c} vs {}", n as f32 * p[i]);
            }
        }
    }
}

#[test]
fn the_same_seed_samples_the_same_tokens() {
    let gpt = model(3);
    let cfg = GenerationConfig { max_new_tokens: 8, do_sample: true, seed: 5, ..Default::default() };
    let a = generate_ids(&gpt, &[1], &cfg, true, &mut |_| true).unwrap();
    assert_eq!(a, generate_ids(&gpt, &[1], &cfg, true, &mut |_| true).unwrap());
    let other = GenerationConfig { seed: 6, ..cfg };
    assert_ne!(a.0, generate_ids(&gpt, &[1], &other, true, &mut |_| true).unwrap().0);
}

#[test]
fn a_padded_batch_equals_each_prompt_alone() {
    let gpt = model(4);
    let prompts = vec![vec![1, 2, 3, 4], vec![7], vec![5, 9]];
    let cfg = GenerationConfig { max_new_tokens: 6, ..Default::default() };
    let batch = generate_batch(&gpt, &prompts, &cfg).unwrap();
    for (p, (ids, _)) in prompts.iter().zip(&batch) {
        let (alone, _) = generate_ids(&gpt, p, &cfg, true, &mut |_| true).unwrap();
        assert_eq!(ids, &alone, "prompt {p:?}");
    }
    assert!(generate_batch(&gpt, &[vec![1; 10]], &cfg).is_err(), "10 + 6 tokens exceed the block size");
}

#[test]
fn streaming_stop_strings_and_end_tokens() {
    let gpt = model(5);
    let tok = CharTokenizer::from_text("abcdefghijk");
    let cfg = GenerationConfig { max_new_tokens: 15, ..Default::default() };
    let mut streamed = String::new();
    let full = generate(&gpt, &tok, "abc", &cfg, &mut |t| streamed.push_str(t)).unwrap();
    assert_eq!(streamed, full.text, "the stream adds up to the text");
    assert_eq!(full.finish_reason, FinishReason::Length);
    assert_eq!(full.text.chars().count(), 15);
    // stop at the first occurrence of a piece of the greedy text
    let stop: String = full.text.chars().skip(4).take(2).collect();
    let cut = full.text.find(&stop).unwrap();
    let mut streamed = String::new();
    let stopped = generate(&gpt, &tok, "abc", &GenerationConfig { stop_strings: vec![stop.clone()], ..cfg.clone() }, &mut |t| streamed.push_str(t)).unwrap();
    assert_eq!(stopped.text, full.text[..cut]);
    assert_eq!(streamed, stopped.text, "the stop string is never streamed");
    assert_eq!(stopped.finish_reason, FinishReason::Stop);
    // an end token ends generation and is not part of the output
    let eos = full.ids[3];
    let (ids, reason) = generate_ids(&gpt, &[0, 1, 2], &GenerationConfig { eos_ids: vec![eos], ..cfg }, true, &mut |_| true).unwrap();
    assert_eq!(reason, FinishReason::Stop);
    assert!(!ids.contains(&(eos as usize)));
    assert!(generate_ids(&gpt, &[], &GenerationConfig::default(), true, &mut |_| true).is_err());
    assert!(generate_ids(&gpt, &[11], &GenerationConfig::default(), true, &mut |_| true).is_err());
}

#[test]
fn every_entry_point_refuses_meaningless_settings() {
    let gpt = model(5);
    let tok = CharTokenizer::from_chars("abcdefghijk".chars());
    // short enough that each would run if it were not refused
    let short = GenerationConfig { max_new_tokens: 4, do_sample: true, ..Default::default() };
    for bad in [
        GenerationConfig { temperature: -1.0, ..short.clone() },
        GenerationConfig { top_p: Some(1.5), ..short.clone() },
        GenerationConfig { repetition_penalty: 0.0, ..short.clone() },
    ] {
        let errs = [
            generate_ids(&gpt, &[1, 2], &bad, true, &mut |_| true).err(),
            generate_batch(&gpt, &[vec![1, 2]], &bad).err(),
            generate(&gpt, &tok, "ab", &bad, &mut |_| ()).err(),
        ];
        for err in errs {
            let err = err.expect("refused");
            assert!(matches!(err, loam_lm::LmError::Config(_)) && err.to_string().starts_with("generation: "), "{err}");
        }
    }
}
