//! Gradient checks through every layer and through whole encoder and decoder blocks, on
//! shapes drawn by proptest; parameter save/load. Tolerances: `loam_tensor::gradcheck`.

use loam_nn::{
    Activation, AttentionMask, Ctx, DecoderLayer, Embedding, EncoderLayer, FeedForward, Init, LayerConfig, LayerNorm,
    LearnedPositional, Linear, Module, MultiHeadAttention, NnError, ParamStore, RmsNorm, SinusoidalPositional, WeightLayout,
};
use loam_tensor::gradcheck::{check, check_vars, randn};
use loam_tensor::{Tensor, TensorError};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn config() -> Config {
    Config { cases: 8, rng_seed: RngSeed::Fixed(0x2a), failure_persistence: None, ..Config::default() }
}

/// The tensor error inside a layer error (the gradient checker speaks `TensorError`).
fn tensor_err(e: NnError) -> TensorError {
    match e {
        NnError::Tensor(t) => t,
        other => panic!("{other}"),
    }
}

/// Checks the gradients of `f` with respect to its input and to every parameter of `store`.
fn check_layer(name: &str, store: &ParamStore, x: &Tensor, f: impl Fn(&Tensor) -> loam_nn::Result<Tensor>) {
    check(name, &[x.clone()], |i| f(&i[0]).map_err(tensor_err));
    let params = store.params();
    let refs: Vec<(&str, &Tensor)> = params.iter().map(|(n, t)| (n.as_str(), t)).collect();
    check_vars(name, &refs, || f(x).map_err(tensor_err));
}

fn small_cfg(d: usize, heads: usize, pre_norm: bool) -> LayerConfig {
    LayerConfig { d_model: d, n_heads: heads, d_ff: 2 * d, dropout: 0.0, attn_dropout: 0.0, act: Activation::Gelu, pre_norm, eps: 1e-5, bias: true }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn linear_both_layouts(b in 1usize..3, t in 1usize..4, d_in in 1usize..5, d_out in 1usize..5, seed in any::<u64>()) {
        let store = ParamStore::new(seed);
        let fc = Linear::new(d_in, d_out, true, store.builder().pp("fc"))?;
        check_layer("linear", &store, &randn(&[b, t, d_in], seed), |x| fc.forward(x));
        let store = ParamStore::new(seed);
        let conv = Linear::with_init(d_in, d_out, Some(Init::Normal { mean: 0.0, std: 0.5 }), WeightLayout::InOut, Init::Normal { mean: 0.0, std: 0.5 }, store.builder())?;
        check_layer("conv1d linear", &store, &randn(&[t, d_in], seed), |x| conv.forward(x));
    }

    #[test]
    fn norms_activations_feed_forward(t in 1usize..4, d in 3usize..6, seed in any::<u64>()) {
        let x = randn(&[2, t, d], seed).mul_scalar(2.0);
        let store = ParamStore::new(seed);
        let ln = LayerNorm::new(d, true, 1e-5, store.builder())?;
        check_layer("layer norm", &store, &x, |x| ln.forward(x));
        let store = ParamStore::new(seed);
        let rms = RmsNorm::new(d, 1e-6, store.builder())?;
        check_layer("rms norm", &store, &x, |x| rms.forward(x));
        for act in [Activation::Gelu, Activation::GeluTanh, Activation::Silu, Activation::Tanh] {
            let store = ParamStore::new(seed);
            let ffn = FeedForward::new(d, 2 * d, act, true, store.builder())?;
            check_layer("feed forward", &store, &x, |x| ffn.forward(x));
        }
    }

    #[test]
    fn embedding_and_positions(v in 2usize..6, d in 1usize..4, t in 1usize..5, seed in any::<u64>()) {
        let store = ParamStore::new(seed);
        let emb = Embedding::new(v, d, Init::Normal { mean: 0.0, std: 1.0 }, store.builder().pp("wte"))?;
        let pos = LearnedPositional::new(8, d, Init::Normal { mean: 0.0, std: 1.0 }, store.builder().pp("wpe"))?;
        let ids: Vec<usize> = (0..2 * t).map(|i| (i * 7 + seed as usize) % v).collect();
        let params = store.params();
        let refs: Vec<(&str, &Tensor)> = params.iter().map(|(n, t)| (n.as_str(), t)).collect();
        check_vars("embedding + positions", &refs, || {
            let x = emb.forward_ids(&ids, &[2, t]).map_err(tensor_err)?;
            x.add(&pos.forward(1, t).map_err(tensor_err)?)
        });
    }

    #[test]
    fn attention_self_and_cross(t in 1usize..4, s in 1usize..4, seed in any::<u64>(), fused in any::<bool>()) {
        let (d, h) = (4, 2);
        let store = ParamStore::new(seed);
        let attn = MultiHeadAttention::new(d, h, true, fused, 0.0, store.builder())?;
        let x = randn(&[2, t, d], seed);
        check_layer("causal self-attention", &store, &x, |x| attn.forward_t(x, None, &AttentionMask::causal(), None, &mut Ctx::eval()));
        let padded = AttentionMask::none().with_key_lengths(vec![t, t.div_ceil(2)]);
        check_layer("padded self-attention", &store, &x, |x| attn.forward_t(x, None, &padded, None, &mut Ctx::eval()));
        if !fused {
            let mem = randn(&[2, s, d], seed ^ 3);
            check_layer("cross-attention", &store, &x, |x| attn.forward_t(x, Some(&mem), &AttentionMask::none(), None, &mut Ctx::eval()));
            check("cross-attention wrt memory", &[mem], |m| {
                attn.forward_t(&x, Some(&m[0]), &AttentionMask::none(), None, &mut Ctx::eval()).map_err(tensor_err)
            });
        }
    }

    #[test]
    fn encoder_and_decoder_blocks(t in 1usize..4, s in 1usize..4, seed in any::<u64>(), pre_norm in any::<bool>()) {
        let cfg = small_cfg(4, 2, pre_norm);
        let store = ParamStore::new(seed);
        let enc = EncoderLayer::new(&cfg, store.builder().pp("enc"))?;
        let src = randn(&[2, s, 4], seed);
        let src_mask = AttentionMask::none().with_key_lengths(vec![s, 1]);
        check_layer("encoder layer", &store, &src, |x| enc.forward_t(x, &src_mask, &mut Ctx::eval()));
        let store = ParamStore::new(seed);
        let dec = DecoderLayer::new(&cfg, store.builder().pp("dec"))?;
        let tgt = randn(&[2, t, 4], seed ^ 1);
        check_layer("decoder layer", &store, &tgt, |x| dec.forward_t(x, &src, &AttentionMask::causal(), &src_mask, None, &mut Ctx::eval()));
    }
}

#[test]
fn dropout_in_a_block_is_seeded_and_off_in_eval() {
    let mut cfg = small_cfg(8, 2, true);
    cfg.dropout = 0.5;
    let store = ParamStore::new(1);
    let enc = EncoderLayer::new(&cfg, store.builder()).unwrap();
    let x = randn(&[1, 3, 8], 2);
    let m = AttentionMask::none();
    let a = enc.forward_t(&x, &m, &mut Ctx::train(7)).unwrap().to_vec();
    let b = enc.forward_t(&x, &m, &mut Ctx::train(7)).unwrap().to_vec();
    let c = enc.forward_t(&x, &m, &mut Ctx::train(8)).unwrap().to_vec();
    let e1 = enc.forward_t(&x, &m, &mut Ctx::eval()).unwrap().to_vec();
    let e2 = enc.forward_t(&x, &m, &mut Ctx::eval()).unwrap().to_vec();
    assert_eq!(a, b, "same seed, same masks");
    assert_ne!(a, c, "another seed, other masks");
    assert_eq!(e1, e2);
    assert_ne!(a, e1);
}

#[test]
fn sinusoidal_table_matches_the_formula() {
    let pe = SinusoidalPositional::new(50, 6);
    let row = pe.forward(7, 1).unwrap().to_vec();
    for i in 0..6 {
        let angle = 7.0f64 / 10000f64.powf((i / 2 * 2) as f64 / 6.0);
        let want = if i % 2 == 0 { angle.sin() } else { angle.cos() };
        assert!((row[i] as f64 - want).abs() < 1e-6);
    }
    assert!(pe.forward(45, 6).is_err(), "past the table");
}

#[test]
fn store_builder_shares_and_checks_parameters() {
    let store = ParamStore::new(0);
    let vb = store.builder().pp("h").pp(0).pp("attn");
    let w = vb.get(&[3, 4], "weight", Init::Zeros).unwrap();
    assert_eq!(vb.path("weight"), "h.0.attn.weight");
    let again = vb.get(&[3, 4], "weight", Init::Ones).unwrap();
    assert_eq!(w.id(), again.id(), "fetched, not created twice");
    let err = vb.get(&[4, 3], "weight", Init::Zeros).unwrap_err();
    assert!(err.to_string().contains("h.0.attn.weight"), "{err}");
    assert_eq!(store.num_params(), 12);
    assert_eq!(store.freeze("h.0"), 1);
    assert_eq!(store.num_trainable(), 0);
    assert_eq!(store.unfreeze("h"), 1);
    assert_eq!(store.trainable().len(), 1);
}

#[test]
fn save_then_load_gives_identical_parameters_and_names_bad_tensors() {
    let dir = std::env::temp_dir().join(format!("loam-nn-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    let cfg = small_cfg(8, 2, true);
    let store = ParamStore::new(3);
    EncoderLayer::new(&cfg, store.builder().pp("enc")).unwrap();
    store.save(&path, None).unwrap();
    let other = ParamStore::new(4);
    EncoderLayer::new(&cfg, other.builder().pp("enc")).unwrap();
    assert_ne!(store.params()[0].1.to_vec(), other.params()[0].1.to_vec());
    other.load(&path).unwrap();
    for ((n1, a), (n2, b)) in store.params().iter().zip(other.params()) {
        assert_eq!(n1, &n2);
        assert_eq!(a.to_vec(), b.to_vec(), "{n1}");
    }
    // a store that needs a tensor the file lacks
    let bigger = ParamStore::new(5);
    EncoderLayer::new(&cfg, bigger.builder().pp("enc")).unwrap();
    bigger.builder().get(&[2], "extra", Init::Zeros).unwrap();
    let err = bigger.load(&path).unwrap_err();
    assert!(err.to_string().contains("`extra` is missing") && err.to_string().contains("model.safetensors"), "{err}");
    // a tensor with another shape
    let wider = ParamStore::new(6);
    EncoderLayer::new(&LayerConfig { d_ff: 32, ..cfg }, wider.builder().pp("enc")).unwrap();
    let err = wider.load(&path).unwrap_err();
    assert!(err.to_string().contains("enc.ffn.fc1.bias") && err.to_string().contains("[32]"), "{err}");
    // a corrupt file
    std::fs::write(&path, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}").unwrap();
    let err = other.load(&path).unwrap_err();
    assert!(err.to_string().contains("model.safetensors"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `Linear::for_inference` (a `[in, out]` copy of a `[out, in]` layer) and `side_by_side`
/// (several layers as one product) compute the layers' outputs; mixing biased and unbiased
/// layers is an error.
#[test]
fn inference_copies_of_linear_layers_compute_the_same() {
    let store = ParamStore::new(5);
    let b = store.builder();
    let (p, q) = (Linear::new(6, 4, true, b.pp("p")).unwrap(), Linear::new(6, 3, true, b.pp("q")).unwrap());
    let x = randn(&[2, 3, 6], 6);
    let close = |a: &Tensor, b: &Tensor| {
        assert_eq!(a.shape(), b.shape());
        for (u, v) in a.to_vec().iter().zip(b.to_vec()) {
            assert!((u - v).abs() < 1e-6, "{u} vs {v}");
        }
    };
    let fast = p.for_inference().unwrap();
    assert_eq!(fast.weight.f32().unwrap().shape(), &[6, 4]);
    close(&fast.forward(&x).unwrap(), &p.forward(&x).unwrap());
    let both = Linear::side_by_side(&[&p, &q]).unwrap();
    let want = Tensor::cat(&[p.forward(&x).unwrap(), q.forward(&x).unwrap()], -1).unwrap();
    close(&both.forward(&x).unwrap(), &want);
    let no_bias = Linear::new(6, 2, false, b.pp("r")).unwrap();
    assert!(Linear::side_by_side(&[&p, &no_bias]).is_err());
    assert!(Linear::side_by_side(&[&p, &Linear::new(5, 2, true, b.pp("s")).unwrap()]).is_err());
}

/// A quantized `Linear` (either layout) computes the product of its dequantized weight plus
/// the bias, refuses to train, stacks with others of its format, and refuses a weight that
/// does not fit. The activations stay f32 here (by default products of a few rows round them
/// to int8 blocks: loam-tensor's `tests/quant.rs` checks that arithmetic).
#[test]
fn quantized_linear_layers_compute_with_their_dequantized_weights() {
    use loam_nn::LinearWeight;
    use loam_tensor::{QuantActivations, QuantFormat, QuantMatrix, set_quant_activations};
    set_quant_activations(QuantActivations::F32);
    let store = ParamStore::new(8);
    let b = store.builder();
    let out_in = Linear::new(40, 9, true, b.pp("p")).unwrap();
    let init = Init::Normal { mean: 0.0, std: 0.5 };
    let in_out = Linear::with_init(40, 7, Some(init), WeightLayout::InOut, init, b.pp("c")).unwrap();
    let x = randn(&[2, 3, 40], 9);
    for layer in [&out_in, &in_out] {
        assert_eq!(layer.name.as_deref(), Some(if layer.d_out() == 9 { "p.weight" } else { "c.weight" }));
        for format in [QuantFormat::Int8, QuantFormat::Q4, QuantFormat::Bf16] {
            let q = layer.quantize(format).unwrap();
            let LinearWeight::Quantized(w) = &q.weight else { panic!("{format}: not quantized") };
            assert_eq!((q.d_in(), q.d_out(), q.name.clone()), (layer.d_in(), layer.d_out(), layer.name.clone()));
            let want = x.matmul(&w.dequantize().transpose(0, 1).unwrap()).unwrap().add(layer.bias.as_ref().unwrap()).unwrap();
            let got = q.forward(&x).unwrap();
            assert_eq!(got.shape(), &[2, 3, layer.d_out()]);
            for (u, v) in got.to_vec().iter().zip(want.to_vec()) {
                assert!((u - v).abs() < 1e-4, "{format}: {u} vs {v}");
            }
            let err = q.forward(&x.to_var()).unwrap_err().to_string();
            assert!(err.contains("no backward"), "{format}: {err}");
        }
    }
    let (p, r) = (out_in.quantize(QuantFormat::Int8).unwrap(), Linear::new(40, 5, true, b.pp("r")).unwrap());
    let both = Linear::side_by_side(&[&p, &r.quantize(QuantFormat::Int8).unwrap()]).unwrap();
    let want = Tensor::cat(&[p.forward(&x).unwrap(), r.quantize(QuantFormat::Int8).unwrap().forward(&x).unwrap()], -1).unwrap();
    assert_eq!(both.forward(&x).unwrap().to_vec(), want.to_vec());
    assert!(Linear::side_by_side(&[&p, &r]).unwrap_err().to_string().contains("some layers are quantized"));
    let wrong = QuantMatrix::quantize(&randn(&[9, 41], 1), QuantFormat::Int8).unwrap();
    let err = out_in.with_quantized(wrong).unwrap_err().to_string();
    assert!(err.contains("p.weight") && err.contains("[9, 41]"), "{err}");
    set_quant_activations(QuantActivations::Int8);
}
