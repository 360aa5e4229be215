//! The Llama inference path (under `no_grad`: attention's scale, causal mask and softmax in one
//! op, SwiGLU's `silu(gate) ⊙ up` in one op, and `forward_last`, which runs the output head
//! for the last position only) against the differentiable path that training runs: the same
//! logits within 1e-5, with and without a KV cache (prompts and single decoding steps), in f32
//! and with bfloat16 weights.

use loam_lm::{CausalLm, Llama, LlamaConfig, argmax};
use loam_nn::{Ctx, ParamStore};
use loam_tensor::{QuantFormat, Tensor, no_grad};

const TOL: f32 = 1e-5;

/// Three query heads over one k/v head, so that grouped-query rows stack as `G·T`.
fn config() -> LlamaConfig {
    LlamaConfig {
        n_layer: 2,
        n_head: 3,
        n_kv_head: 1,
        n_embd: 24,
        head_dim: None,
        intermediate_size: 40,
        block_size: 64,
        vocab_size: 50,
        initializer_range: 0.3,
        ..LlamaConfig::default()
    }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The last position's logits of `[1, T, vocab]`.
fn last(logits: &Tensor) -> Vec<f32> {
    let t = logits.shape()[1];
    logits.narrow(1, t - 1, 1).unwrap().to_vec()
}

#[test]
fn the_fused_inference_path_computes_what_the_differentiable_one_does() {
    let model = Llama::new(&config(), &ParamStore::new(11)).unwrap();
    let ids: Vec<usize> = (0..20).map(|i| (i * 7 + 3) % 50).collect();
    // the parameters track gradients here: the composed ops run
    let tracked = model.forward(&ids, 1, 20, None, &mut Ctx::eval()).unwrap();
    assert!(tracked.tracks_grad());
    let _g = no_grad();
    let fused = model.forward(&ids, 1, 20, None, &mut Ctx::eval()).unwrap();
    assert!(!fused.tracks_grad());
    let diff = max_diff(&tracked.to_vec(), &fused.to_vec());
    assert!(diff <= TOL, "fused and composed logits differ by {diff}");
    // the logits are not all alike, so the comparison means something
    let v = fused.to_vec();
    assert!(v.iter().any(|&x| (x - v[0]).abs() > 1e-2));

    // 12 prompt tokens, then 8 more through the cache, each step's last logits alone
    let mut cache = model.new_cache();
    let first = model.forward_last(&ids[..12], 1, 12, None, Some(&mut cache), &mut Ctx::eval()).unwrap();
    assert_eq!(first.shape(), &[1, 1, 50]);
    let full12 = model.forward(&ids[..12], 1, 12, None, &mut Ctx::eval()).unwrap();
    assert!(max_diff(&first.to_vec(), &last(&full12)) <= TOL);
    let rest = model.forward_last(&ids[12..], 1, 8, None, Some(&mut cache), &mut Ctx::eval()).unwrap();
    let diff = max_diff(&rest.to_vec(), &last(&tracked));
    assert!(diff <= TOL, "cached last logits differ from the whole prompt's by {diff}");

    // decoding steps, one position each (attention over the host cache): every step's logits
    // are those of the whole prefix
    let mut cache = model.new_cache();
    model.forward_last(&ids[..5], 1, 5, None, Some(&mut cache), &mut Ctx::eval()).unwrap();
    for n in 5..20 {
        let step = model.forward_last(&ids[n..=n], 1, 1, None, Some(&mut cache), &mut Ctx::eval()).unwrap();
        let diff = max_diff(&step.to_vec(), &last(&tracked.narrow(1, 0, n + 1).unwrap()));
        assert!(diff <= TOL, "step {n}: logits differ from the whole prefix's by {diff}");
    }
}

#[test]
fn bf16_weights_take_the_same_paths() {
    let model = Llama::new(&config(), &ParamStore::new(5)).unwrap().to_bf16().unwrap();
    let _g = no_grad();
    let ids: Vec<usize> = (0..40).map(|i| (i * 11 + 1) % 50).collect();
    let all = model.forward(&ids, 1, 40, None, &mut Ctx::eval()).unwrap();
    let mut cache = model.new_cache();
    let got = model.forward_last(&ids, 1, 40, None, Some(&mut cache), &mut Ctx::eval()).unwrap();
    // the head of one position is a vector product, of 40 a matrix product (AMX rounds the
    // activations to bf16 there): the two agree to bf16's precision
    let (want, got) = (last(&all), got.to_vec());
    let largest = want.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let diff = max_diff(&want, &got);
    assert!(diff <= 1e-2 * largest, "last logits differ by {diff} (largest {largest})");
    assert_eq!(cache[0].len(), 40);
}

/// Greedy steps (`next_greedy`, the head screened in bf16) against the argmax of the logits
/// of the same step, then again after the tied head's weights change in place (as a
/// fine-tuning step changes them): the screen made before must not answer for the new ones.
#[test]
fn greedy_steps_take_the_argmax_of_the_logits_also_after_the_weights_change() {
    let store = ParamStore::new(4);
    let model = Llama::new(&config(), &store).unwrap();
    let _g = no_grad();
    let steps = |model: &Llama| -> Vec<usize> {
        let (mut logits_cache, mut greedy_cache) = (model.new_cache(), model.new_cache());
        let mut new = vec![3, 14, 15, 9, 26];
        let mut picked = Vec::new();
        for _ in 0..8 {
            let logits =
                model.forward_last(&new, 1, new.len(), None, Some(&mut logits_cache), &mut Ctx::eval()).unwrap();
            let want = argmax(&logits.to_vec());
            let got = CausalLm::next_greedy(model, &new, &mut greedy_cache, &mut Ctx::eval()).unwrap();
            assert_eq!(got, want, "step {}", picked.len());
            picked.push(got);
            new = vec![got];
        }
        picked
    };
    let before = steps(&model);
    let embed = store.get("model.embed_tokens.weight").expect("the tied embedding");
    embed.assign(&embed.mul_scalar(-1.5)).unwrap();
    let after = steps(&model);
    assert_ne!(before, after, "negated logits pick other tokens");
}

/// A quantized untied head has no f32 weight to screen: greedy steps compute its logits.
#[test]
fn greedy_steps_of_a_quantized_untied_head_take_the_argmax_of_its_logits() {
    let c = LlamaConfig { tie_embeddings: false, ..config() };
    let model = Llama::new(&c, &ParamStore::new(6)).unwrap().quantize(QuantFormat::Int8).unwrap();
    let _g = no_grad();
    let (mut logits_cache, mut greedy_cache) = (model.new_cache(), model.new_cache());
    let mut new = vec![1, 2, 3];
    for step in 0..5 {
        let logits = model.forward_last(&new, 1, new.len(), None, Some(&mut logits_cache), &mut Ctx::eval());
        let logits = logits.unwrap();
        let want = argmax(&logits.to_vec());
        let got = CausalLm::next_greedy(&model, &new, &mut greedy_cache, &mut Ctx::eval()).unwrap();
        assert_eq!(got, want, "step {step}");
        new = vec![got];
    }
}
