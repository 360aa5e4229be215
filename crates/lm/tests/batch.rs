//! Batched decoding and continuous batching against the tiny GPT-2 and Llama fixtures: every
//! sequence of a ragged batch (own prompt length, settings, end tokens) gets the tokens it gets
//! alone, under admission and finish churn in the scheduler, and cancelling frees the slot.

mod hf_common;

use std::sync::Arc;

use loam_nn::{Ctx, KvCache};
use loam_tensor::Tensor;

use loam_lm::hf::{LlamaOptions, load_gpt2, load_llama};
use loam_lm::{
    BatchScheduler, CausalLm, FinishReason, GenerationConfig, StreamEvent, generate_batch_each,
    generate_ids,
};

fn gpt2() -> Option<Arc<dyn CausalLm>> {
    let dir = hf_common::fixtures("tiny-gpt2 batch")?.join("tiny-gpt2");
    Some(Arc::new(load_gpt2(&dir).unwrap().model))
}

fn llama() -> Option<Arc<dyn CausalLm>> {
    let dir = hf_common::fixtures("tiny-llama batch")?.join("tiny-llama");
    Some(Arc::new(
        load_llama(&dir, LlamaOptions::default()).unwrap().model,
    ))
}

fn alone(
    model: &dyn CausalLm,
    prompt: &[usize],
    cfg: &GenerationConfig,
) -> (Vec<usize>, FinishReason) {
    generate_ids(model, prompt, cfg, true, &mut |_| true).unwrap()
}

/// Prompts of lengths 1 to 9 with their own max_new_tokens, one ending on an end token that
/// its greedy run produces (so a row stops early), one sampled with its own seed.
fn requests(model: &dyn CausalLm) -> Vec<(Vec<usize>, GenerationConfig)> {
    let mut reqs: Vec<(Vec<usize>, GenerationConfig)> = (0..7)
        .map(|i| {
            let prompt: Vec<usize> = (0..[3, 1, 9, 5, 2, 7, 4][i])
                .map(|j| (j * 37 + i * 101 + 5) % model.vocab_size())
                .collect();
            (
                prompt,
                GenerationConfig {
                    max_new_tokens: [6, 10, 4, 12, 8, 1, 9][i],
                    ..GenerationConfig::default()
                },
            )
        })
        .collect();
    let (free, _) = alone(model, &reqs[3].0, &reqs[3].1);
    reqs[3].1.eos_ids = vec![free[4] as u32];
    reqs[4].1 = GenerationConfig {
        do_sample: true,
        temperature: 0.8,
        top_k: Some(40),
        seed: 11,
        ..reqs[4].1.clone()
    };
    reqs
}

fn batch_equals_alone(model: &dyn CausalLm) {
    let reqs = requests(model);
    let batch = generate_batch_each(model, &reqs).unwrap();
    for ((prompt, cfg), got) in reqs.iter().zip(&batch) {
        assert_eq!(got, &alone(model, prompt, cfg), "prompt {prompt:?}");
    }
    assert_eq!(batch[3].1, FinishReason::Stop, "the end token stops row 3");
    assert!(batch[3].0.len() <= 4);
    assert_eq!(batch[1], (batch[1].0.clone(), FinishReason::Length));
}

#[test]
fn a_ragged_batch_with_its_own_settings_equals_each_sequence_alone_gpt2() {
    let Some(model) = gpt2() else { return };
    batch_equals_alone(model.as_ref());
}

#[test]
fn a_ragged_batch_with_its_own_settings_equals_each_sequence_alone_llama() {
    let Some(model) = llama() else { return };
    batch_equals_alone(model.as_ref());
}

#[test]
fn the_scheduler_admits_and_retires_under_churn_without_changing_tokens() {
    for model in [gpt2(), llama()].into_iter().flatten() {
        let reqs = requests(model.as_ref());
        let scheduler = Arc::new(BatchScheduler::new(Arc::clone(&model), 3).unwrap());
        // submitted from several threads; at most 3 run, the rest join as others finish
        let threads: Vec<_> = reqs
            .iter()
            .cloned()
            .map(|(prompt, cfg)| {
                let s = Arc::clone(&scheduler);
                std::thread::spawn(move || s.submit(prompt, cfg).unwrap().wait().unwrap())
            })
            .collect();
        for ((prompt, cfg), t) in reqs.iter().zip(threads) {
            assert_eq!(
                t.join().unwrap(),
                alone(model.as_ref(), prompt, cfg),
                "prompt {prompt:?}"
            );
        }
        assert_eq!((scheduler.running(), scheduler.waiting()), (0, 0));
    }
}

/// A model that takes at least 5 ms per forward pass, so that a cancel lands long before a
/// 120-token sequence could end on its own.
struct Slow(Arc<dyn CausalLm>);

impl CausalLm for Slow {
    fn vocab_size(&self) -> usize {
        self.0.vocab_size()
    }

    fn max_positions(&self) -> usize {
        self.0.max_positions()
    }

    fn new_cache(&self) -> Vec<KvCache> {
        self.0.new_cache()
    }

    fn forward_padded(
        &self,
        ids: &[usize],
        b: usize,
        t: usize,
        left_pad: Option<&[usize]>,
        cache: Option<&mut Vec<KvCache>>,
        ctx: &mut Ctx,
    ) -> loam_lm::Result<Tensor> {
        std::thread::sleep(std::time::Duration::from_millis(5));
        self.0.forward_padded(ids, b, t, left_pad, cache, ctx)
    }
}

#[test]
fn cancelling_ends_the_stream_and_frees_the_slot() {
    let Some(model) = gpt2() else { return };
    let slow: Arc<dyn CausalLm> = Arc::new(Slow(Arc::clone(&model)));
    let scheduler = BatchScheduler::new(slow, 1).unwrap();
    let long = GenerationConfig {
        max_new_tokens: 120,
        ..GenerationConfig::default()
    };
    let a = scheduler.submit(vec![1, 2, 3], long).unwrap();
    let short = GenerationConfig {
        max_new_tokens: 5,
        ..GenerationConfig::default()
    };
    let b = scheduler.submit(vec![4, 5], short.clone()).unwrap();
    assert!(matches!(a.next_event(), Some(StreamEvent::Token(_))));
    a.cancel();
    let mut after = 0;
    let end = loop {
        match a.next_event() {
            Some(StreamEvent::Token(_)) => after += 1,
            other => break other,
        }
    };
    assert_eq!(end, Some(StreamEvent::Cancelled));
    assert!(after < 30, "{after} tokens after cancelling");
    // the one slot went to b, which runs to its end with the tokens it gets alone
    assert_eq!(b.wait().unwrap(), alone(model.as_ref(), &[4, 5], &short));
    assert_eq!(scheduler.running(), 0);
}

#[test]
fn bad_requests_are_refused_at_submission() {
    let Some(model) = gpt2() else { return };
    let scheduler = BatchScheduler::new(Arc::clone(&model), 2).unwrap();
    let cfg = GenerationConfig::default();
    let err = |p: Vec<usize>, c: GenerationConfig| {
        scheduler
            .submit(p, c)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert!(err(vec![], cfg.clone()).contains("at least one token"));
    assert!(err(vec![9999], cfg.clone()).contains("outside the vocabulary"));
    assert!(
        err(
            vec![1; 100],
            GenerationConfig {
                max_new_tokens: 64,
                ..cfg.clone()
            }
        )
        .contains("exceed the context")
    );
    assert!(
        err(
            vec![1],
            GenerationConfig {
                stop_strings: vec!["x".into()],
                ..cfg.clone()
            }
        )
        .contains("stop strings")
    );
    assert!(
        err(
            vec![1],
            GenerationConfig {
                temperature: -1.0,
                ..cfg
            }
        )
        .contains("temperature")
    );
    assert!(BatchScheduler::new(model, 0).is_err());
}
