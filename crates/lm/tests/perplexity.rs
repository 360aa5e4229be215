//! Perplexity figures: a uniform model gives the vocabulary size; a context-free model with
//! known probabilities gives the hand-computed NLL, with and without a stride.

use loam_lm::{Gpt, GptConfig, LmError, Perplexity, perplexity};
use loam_nn::ParamStore;
use loam_tensor::Tensor;

fn config(vocab: usize) -> GptConfig {
    GptConfig { n_layer: 1, n_head: 2, n_embd: 4, block_size: 8, vocab_size: vocab, bias: true, tie_embeddings: false, ..GptConfig::default() }
}

/// A model whose logits are `head · bias` at every position: ln_f's weight is 0, so its
/// output is its bias whatever the input.
fn context_free(vocab: usize, head: Vec<f32>, bias: Vec<f32>) -> Gpt {
    let store = ParamStore::new(0);
    let gpt = Gpt::new(&config(vocab), &store).unwrap();
    store.get("transformer.ln_f.weight").unwrap().assign(&Tensor::zeros(&[4])).unwrap();
    store.get("transformer.ln_f.bias").unwrap().assign(&Tensor::from_vec(bias, &[4]).unwrap()).unwrap();
    store.get("lm_head.weight").unwrap().assign(&Tensor::from_vec(head, &[vocab, 4]).unwrap()).unwrap();
    gpt
}

#[test]
fn a_uniform_model_has_perplexity_equal_to_the_vocabulary() {
    let v = 13;
    let gpt = context_free(v, vec![0.0; v * 4], vec![0.0; 4]);
    let tokens: Vec<usize> = (0..100).map(|i| (i * 7) % v).collect();
    let p = perplexity(&gpt, &tokens, None, 4, &|t| t.len()).unwrap();
    assert!((p.perplexity - v as f64).abs() < 1e-4, "{p:?}");
    assert!((p.bits_per_token - (v as f64).log2()).abs() < 1e-6);
    assert_eq!(p.tokens, (100 - 1) / 8 * 8, "non-overlapping windows, tail left out");
}

#[test]
fn known_probabilities_give_the_hand_computed_nll() {
    // logits = head·[1, 0, 0, 0] = [ln 0.5, ln 0.3, ln 0.2] → p = (0.5, 0.3, 0.2)
    let logits = [0.5f32.ln(), 0.3f32.ln(), 0.2f32.ln()];
    let head: Vec<f32> = logits.iter().flat_map(|&l| [l, 0.0, 0.0, 0.0]).collect();
    let gpt = context_free(3, head, vec![1.0, 0.0, 0.0, 0.0]);
    // 17 tokens: targets are tokens[1..=16] with two windows of 8
    let tokens = [0, 0, 1, 2, 0, 1, 0, 0, 2, 2, 1, 0, 0, 0, 1, 2, 0];
    let nll = |t: &[usize]| -> f64 { t.iter().map(|&i| -[0.5f64, 0.3, 0.2][i].ln()).sum() };
    let p = perplexity(&gpt, &tokens, None, 1, &|t| 2 * t.len()).unwrap();
    let want = nll(&tokens[1..17]) / 16.0;
    assert_eq!(p.tokens, 16);
    assert!((p.mean_nll - want).abs() < 1e-6, "{} vs {want}", p.mean_nll);
    assert!((p.perplexity - want.exp()).abs() < 1e-5);
    assert!((p.bits_per_char - want * 16.0 / std::f64::consts::LN_2 / 32.0).abs() < 1e-6, "two characters per token");
    // a stride scores every token after the first exactly once
    for stride in [1, 3, 8] {
        let s = perplexity(&gpt, &tokens, Some(stride), 2, &|t| t.len()).unwrap();
        assert_eq!(s.tokens, 16, "stride {stride}");
        assert!((s.mean_nll - want).abs() < 1e-6, "stride {stride}");
    }
}

/// The message of a configuration error; any other outcome fails the test.
fn config_error(result: loam_lm::Result<Perplexity>) -> String {
    match result {
        Err(LmError::Config(msg)) => msg,
        Err(other) => panic!("expected a configuration error, got {other:?}"),
        Ok(p) => panic!("expected a configuration error, got {p:?}"),
    }
}

#[test]
fn too_short_input_and_bad_strides_are_errors() {
    let gpt = context_free(3, vec![0.0; 12], vec![0.0; 4]);
    let eval = |tokens: &[usize], stride| config_error(perplexity(&gpt, tokens, stride, 1, &|t| t.len()));
    // without a stride: one whole window (block 8) and the token after it
    assert_eq!(eval(&[0, 1, 2], None), "evaluation needs more than 8 tokens (one window and its next token), got 3");
    assert_eq!(eval(&[0; 8], None), "evaluation needs more than 8 tokens (one window and its next token), got 8");
    // with a stride: one token and its next
    assert_eq!(eval(&[0], Some(1)), "evaluation needs more than 1 tokens (one window and its next token), got 1");
    assert_eq!(eval(&[0; 20], Some(0)), "stride must be in 1..=8");
    assert_eq!(eval(&[0; 20], Some(9)), "stride must be in 1..=8");
    // the boundaries themselves are accepted
    assert!(perplexity(&gpt, &[0; 9], None, 1, &|t| t.len()).is_ok());
    assert!(perplexity(&gpt, &[0; 2], Some(8), 1, &|t| t.len()).is_ok());
}
