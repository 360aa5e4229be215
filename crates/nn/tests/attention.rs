//! Attention against a naive reference, causality to the bit, padding, and the KV cache.

use loam_nn::{AttentionMask, Ctx, DecoderCache, DecoderLayer, KvCache, LayerConfig, MultiHeadAttention, ParamStore, Activation, attention_weights};
use loam_tensor::gradcheck::randn;
use loam_tensor::{Mask, Tensor};

/// softmax(q·kᵀ/√d)·v by loops in f64, masked positions skipped: q,k,v `[T, D]` of one head.
fn naive(q: &[f32], k: &[f32], v: &[f32], tq: usize, tk: usize, d: usize, hidden: impl Fn(usize, usize) -> bool) -> Vec<f64> {
    let mut out = vec![0.0; tq * d];
    for i in 0..tq {
        let scores: Vec<f64> = (0..tk)
            .map(|j| {
                if hidden(i, j) {
                    f64::NEG_INFINITY
                } else {
                    (0..d).map(|c| q[i * d + c] as f64 * k[j * d + c] as f64).sum::<f64>() / (d as f64).sqrt()
                }
            })
            .collect();
        let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = scores.iter().map(|s| (s - m).exp()).sum();
        for j in 0..tk {
            let p = (scores[j] - m).exp() / z;
            for c in 0..d {
                out[i * d + c] += p * v[j * d + c] as f64;
            }
        }
    }
    out
}

#[test]
fn scaled_dot_product_matches_naive_reference() {
    let (b, h, t, d) = (2, 3, 5, 4);
    let (q, k, v) = (randn(&[b, h, t, d], 1), randn(&[b, h, t, d], 2), randn(&[b, h, t, d], 3));
    let lengths = [5, 3];
    let mask = AttentionMask::causal().with_key_lengths(lengths.to_vec()).build(b, t, t, 0).unwrap().unwrap();
    let y = loam_nn::scaled_dot_product_attention(&q, &k, &v, Some(&mask), loam_nn::Dropout::new(0.0), &mut Ctx::eval()).unwrap();
    let (qv, kv, vv, yv) = (q.to_vec(), k.to_vec(), v.to_vec(), y.to_vec());
    for bi in 0..b {
        for hi in 0..h {
            let o = (bi * h + hi) * t * d;
            let r = &(o..o + t * d);
            let want = naive(&qv[r.clone()], &kv[r.clone()], &vv[r.clone()], t, t, d, |i, j| j > i || j >= lengths[bi]);
            for (got, want) in yv[r.clone()].iter().zip(want) {
                assert!((*got as f64 - want).abs() < 1e-5, "batch {bi} head {hi}: {got} vs {want}");
            }
        }
    }
}

fn layer(seed: u64) -> (ParamStore, MultiHeadAttention) {
    let store = ParamStore::new(seed);
    let attn = MultiHeadAttention::new(8, 2, true, true, 0.0, store.builder()).unwrap();
    (store, attn)
}

#[test]
fn changing_a_later_token_leaves_earlier_outputs_unchanged_to_the_bit() {
    let (_s, attn) = layer(1);
    let x = randn(&[2, 6, 8], 4);
    let y = attn.forward_t(&x, None, &AttentionMask::causal(), None, &mut Ctx::eval()).unwrap().to_vec();
    for changed in 0..6 {
        let mut v = x.to_vec();
        for b in 0..2 {
            for c in 0..8 {
                v[(b * 6 + changed) * 8 + c] += 3.0;
            }
        }
        let x2 = Tensor::from_vec(v, &[2, 6, 8]).unwrap();
        let y2 = attn.forward_t(&x2, None, &AttentionMask::causal(), None, &mut Ctx::eval()).unwrap().to_vec();
        for b in 0..2 {
            for pos in 0..6 {
                let r = (b * 6 + pos) * 8..(b * 6 + pos + 1) * 8;
                if pos < changed {
                    assert_eq!(y[r.clone()], y2[r.clone()], "position {pos} saw position {changed}");
                } else if pos == changed {
                    assert_ne!(y[r.clone()], y2[r], "position {pos} must see itself");
                }
            }
        }
    }
}

#[test]
fn padded_keys_get_zero_weight_and_do_not_change_real_outputs() {
    let (b, h, t, d) = (2, 2, 5, 4);
    let (q, k) = (randn(&[b, h, t, d], 5), randn(&[b, h, t, d], 6));
    let mask = AttentionMask::none().with_key_lengths(vec![5, 2]).build(b, t, t, 0).unwrap();
    let w = attention_weights(&q, &k, mask.as_ref()).unwrap().to_vec();
    for hi in 0..h {
        for i in 0..t {
            let row = &w[((h + hi) * t + i) * t..((h + hi) * t + i + 1) * t];
            assert_eq!(&row[2..], &[0.0, 0.0, 0.0], "padded keys of sequence 1");
            assert!((row[0] + row[1] - 1.0).abs() < 1e-6);
        }
    }
    // what the padding holds does not matter at real positions
    let (_s, attn) = layer(2);
    let x = randn(&[2, 5, 8], 7);
    let m = AttentionMask::causal().with_key_lengths(vec![5, 2]);
    let y = attn.forward_t(&x, None, &m, None, &mut Ctx::eval()).unwrap().to_vec();
    let mut v = x.to_vec();
    for pos in 2..5 {
        for c in 0..8 {
            v[(5 + pos) * 8 + c] = 1e3 * (c as f32 - 4.0);
        }
    }
    let y2 = attn.forward_t(&Tensor::from_vec(v, &[2, 5, 8]).unwrap(), None, &m, None, &mut Ctx::eval()).unwrap().to_vec();
    assert_eq!(y[..5 * 8], y2[..5 * 8], "sequence 0 untouched");
    assert_eq!(y[5 * 8..7 * 8], y2[5 * 8..7 * 8], "real positions of sequence 1");
}

#[test]
fn arbitrary_masks_combine_with_causal() {
    let (q, k) = (randn(&[1, 1, 4, 2], 8), randn(&[1, 1, 4, 2], 9));
    // additionally hide key 0 from every query but the first
    let custom = Mask::from_fn(&[4, 4], |ix| ix[1] == 0 && ix[0] > 0);
    let mask = AttentionMask::causal().with_custom(custom).build(1, 4, 4, 0).unwrap();
    let w = attention_weights(&q, &k, mask.as_ref()).unwrap().to_vec();
    assert_eq!(w[0], 1.0);
    for i in 1..4 {
        assert_eq!(w[i * 4], 0.0);
        for j in i + 1..4 {
            assert_eq!(w[i * 4 + j], 0.0);
        }
    }
}

#[test]
fn kv_cache_incremental_outputs_equal_full_recomputation() {
    let (_s, attn) = layer(3);
    let x = randn(&[2, 7, 8], 10);
    let full = attn.forward_t(&x, None, &AttentionMask::causal(), None, &mut Ctx::eval()).unwrap().to_vec();
    let mut cache = KvCache::new();
    // a 3-token prompt, then one token at a time
    let mut outs = vec![attn.forward_t(&x.narrow(1, 0, 3).unwrap(), None, &AttentionMask::causal(), Some(&mut cache), &mut Ctx::eval()).unwrap()];
    for pos in 3..7 {
        let step = x.narrow(1, pos, 1).unwrap();
        outs.push(attn.forward_t(&step, None, &AttentionMask::causal(), Some(&mut cache), &mut Ctx::eval()).unwrap());
    }
    assert_eq!(cache.len(), 7);
    let inc = Tensor::cat(&outs, 1).unwrap().to_vec();
    for (a, b) in full.iter().zip(&inc) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
}

#[test]
fn decoder_with_cache_equals_full_decoder() {
    let cfg = LayerConfig { d_model: 8, n_heads: 2, d_ff: 16, dropout: 0.0, attn_dropout: 0.0, act: Activation::Relu, pre_norm: false, eps: 1e-5, bias: true };
    let store = ParamStore::new(4);
    let dec = DecoderLayer::new(&cfg, store.builder()).unwrap();
    let (tgt, mem) = (randn(&[1, 5, 8], 11), randn(&[1, 3, 8], 12));
    let mm = AttentionMask::none();
    let full = dec.forward_t(&tgt, &mem, &AttentionMask::causal(), &mm, None, &mut Ctx::eval()).unwrap().to_vec();
    let mut cache = DecoderCache::default();
    let mut inc = Vec::new();
    for pos in 0..5 {
        let y = dec.forward_t(&tgt.narrow(1, pos, 1).unwrap(), &mem, &AttentionMask::causal(), &mm, Some(&mut cache), &mut Ctx::eval()).unwrap();
        inc.extend(y.to_vec());
    }
    for (a, b) in full.iter().zip(&inc) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn bad_configurations_are_errors() {
    let store = ParamStore::new(0);
    assert!(MultiHeadAttention::new(10, 3, true, true, 0.0, store.builder()).is_err());
    let (_s, fused) = layer(5);
    let x = randn(&[1, 2, 8], 1);
    assert!(fused.forward_t(&x, Some(&x), &AttentionMask::none(), None, &mut Ctx::eval()).is_err(), "fused cannot cross-attend");
    assert!(fused.forward_t(&randn(&[2, 8], 1), None, &AttentionMask::none(), None, &mut Ctx::eval()).is_err());
    let wrong_lengths = AttentionMask::none().with_key_lengths(vec![1, 2, 3]);
    assert!(fused.forward_t(&x, None, &wrong_lengths, None, &mut Ctx::eval()).is_err());
}

/// The inference copy of an attention layer (weights `[in, out]`, separate q/k/v fused into one
/// product) computes what the original does, with and without a padding mask.
#[test]
fn the_inference_copy_of_attention_computes_the_same() {
    let store = ParamStore::new(3);
    let attn = MultiHeadAttention::new(8, 2, true, false, 0.0, store.builder()).unwrap();
    let fast = attn.for_inference().unwrap();
    assert!(matches!(fast.proj, loam_nn::Projections::Fused(_)));
    let x = randn(&[2, 5, 8], 4);
    for mask in [AttentionMask::none(), AttentionMask::none().with_key_lengths(vec![5, 3])] {
        let want = attn.forward_t(&x, None, &mask, None, &mut Ctx::eval()).unwrap().to_vec();
        let got = fast.forward_t(&x, None, &mask, None, &mut Ctx::eval()).unwrap().to_vec();
        for (i, (a, b)) in want.iter().zip(&got).enumerate() {
            assert!((a - b).abs() < 1e-5, "element {i}: {a} vs {b}");
        }
    }
    // the copy holds no parameters of the store and records no graph
    let y = fast.forward_t(&x.to_var(), None, &AttentionMask::none(), None, &mut Ctx::eval()).unwrap();
    let grads = y.sum_all().backward().unwrap();
    for (name, p) in store.params() {
        assert!(grads.get(&p).is_none(), "{name} got a gradient through the copy");
    }
}

#[test]
fn a_left_padded_batch_decoded_with_the_cache_equals_each_sequence_without_it() {
    let (_s, attn) = layer(6);
    // three sequences of 6 positions, of which the first 0, 2 and 5 are padding in the batch
    let pad = vec![0, 2, 5];
    let x = randn(&[3, 6, 8], 21);
    let mask = AttentionMask::causal().with_left_pad(pad.clone());
    let mut cache = KvCache::new();
    let mut outs = vec![attn.forward_t(&x.narrow(1, 0, 3).unwrap(), None, &mask, Some(&mut cache), &mut Ctx::eval()).unwrap()];
    for pos in 3..6 {
        outs.push(attn.forward_t(&x.narrow(1, pos, 1).unwrap(), None, &mask, Some(&mut cache), &mut Ctx::eval()).unwrap());
    }
    let batched = Tensor::cat(&outs, 1).unwrap();
    assert_eq!(cache.len(), 6);
    let (k, _) = cache.get().unwrap().unwrap();
    assert_eq!(k.shape(), &[3, 2, 6, 4]);
    for (r, &p) in pad.iter().enumerate() {
        // the sequence's real positions alone, no cache (the composed attention)
        let alone = x.narrow(0, r, 1).unwrap().narrow(1, p, 6 - p).unwrap();
        let want = attn.forward_t(&alone, None, &AttentionMask::causal(), None, &mut Ctx::eval()).unwrap().to_vec();
        let got = batched.narrow(0, r, 1).unwrap().narrow(1, p, 6 - p).unwrap().to_vec();
        for (a, b) in want.iter().zip(&got) {
            assert!((a - b).abs() < 1e-5, "row {r}: {a} vs {b}");
        }
    }
    // the mask that the composed attention builds from the same padding hides the same keys
    let m = mask.build(3, 1, 6, 5).unwrap().unwrap();
    let hidden = Mask::from_fn(&[3, 1, 1, 6], |ix| ix[3] < pad[ix[0]]);
    assert_eq!((m.shape(), m.to_vec()), (hidden.shape(), hidden.to_vec()));
}
