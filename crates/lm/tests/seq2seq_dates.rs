//! The learning demonstration of docs/lm.md ("Encoder–decoder"): loam's encoder–decoder
//! trained from scratch on pairs written by `cargo xtask seq2seq-data` (dates between formats
//! by default), with held-out exact match, BLEU and loss logged to `metrics.jsonl`, the loss
//! curve plotted, and the model exported in BART's layout; then the held-out exact match of the
//! trained model with int8, q4 and bf16 projections. Ignored by default (it trains for
//! minutes); run as
//!
//! ```text
//! cargo xtask seq2seq-data --task dates --out /tmp/dates
//! LOAM_SEQ2SEQ_DATA=/tmp/dates LOAM_SEQ2SEQ_OUT=/tmp/dates-run \
//!   cargo test --release -p loam-lm --test seq2seq_dates -- --ignored --nocapture
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use loam_lm::seq2seq::{Seq2Seq, Seq2SeqConfig, char_tokenizer_json, evaluate, export_bart};
use loam_lm::{EncodedPair, Metric, MetricsLog, encode_pairs, make_batch, plot_losses, read_pairs};
use loam_nn::optim::{AdamW, AdamWConfig, Schedule, clip_grad_norm};
use loam_nn::{Ctx, ParamStore};
use loam_tensor::{QuantFormat, Rng};
use loam_text::{HfTokenizer, Tokenizer};

#[test]
#[ignore]
fn trains_to_high_exact_match_on_held_out_pairs() {
    let started = Instant::now();
    let data = PathBuf::from(
        std::env::var("LOAM_SEQ2SEQ_DATA")
            .expect("LOAM_SEQ2SEQ_DATA: a folder from cargo xtask seq2seq-data"),
    );
    let out = PathBuf::from(
        std::env::var("LOAM_SEQ2SEQ_OUT").unwrap_or_else(|_| "target/seq2seq-run".into()),
    );
    std::fs::create_dir_all(&out).unwrap();
    let train = read_pairs(&data.join("train.jsonl")).unwrap();
    let valid = read_pairs(&data.join("valid.jsonl")).unwrap();
    let tok_json = char_tokenizer_json(
        train
            .iter()
            .flat_map(|p| [p.source.as_str(), p.target.as_str()]),
    );
    let tok_path = out.join("tokenizer.json");
    std::fs::write(&tok_path, &tok_json).unwrap();
    let tok = HfTokenizer::load(&tok_path).unwrap();
    let config = Seq2SeqConfig {
        n_layer: 2,
        n_embd: 128,
        d_ff: 256,
        block_size: 40,
        vocab_size: tok.vocab_size(),
        dropout: 0.0,
        ..Seq2SeqConfig::default()
    };
    let train = encode_pairs(&train, &tok, &tok, config.eos_id, config.block_size).unwrap();
    let valid = encode_pairs(&valid, &tok, &tok, config.eos_id, config.block_size).unwrap();
    let store = ParamStore::new(1337);
    let model = Seq2Seq::new(&config, &store).unwrap();
    let params = store.trainable();
    let (steps, batch_size, eval_every, label_smoothing) = (1000, 64, 100, 0.1);
    let schedule = Schedule::WarmupCosine {
        lr: 1e-3,
        min_lr: 1e-4,
        warmup: 100,
        total: steps,
    };
    let mut opt = AdamW::no_decay_1d(
        params.clone(),
        0.01,
        AdamWConfig {
            lr: 1e-3,
            beta2: 0.98,
            ..AdamWConfig::default()
        },
    )
    .unwrap();
    let mut log = MetricsLog::open(&out.join("metrics.jsonl"), 0).unwrap();
    let mut rng = Rng::new(7);
    let mut last = None;
    for step in 1..=steps {
        let rows: Vec<&EncodedPair> = (0..batch_size)
            .map(|_| &train[rng.below(train.len() as u64) as usize])
            .collect();
        let batch = make_batch(&rows, config.pad_id, config.bos_id, config.eos_id);
        let t0 = Instant::now();
        let loss = model
            .loss(&batch, label_smoothing, &mut Ctx::train(step as u64))
            .unwrap();
        let mut grads = loss.backward().unwrap();
        let grad_norm = clip_grad_norm(&mut grads, params.iter().map(|(_, t)| t), 1.0).unwrap();
        let lr = schedule.lr(step - 1);
        opt.set_lr(lr);
        opt.step(&grads).unwrap();
        let tokens = batch.labels.iter().filter(|&&l| l >= 0).count();
        if step % 10 == 0 {
            let tokens_per_s = tokens as f64 / t0.elapsed().as_secs_f64();
            log.log(Metric::Train {
                step,
                loss: loss.to_scalar().unwrap(),
                lr,
                grad_norm,
                tokens_per_s,
            })
            .unwrap();
        }
        if step % eval_every == 0 || step == steps {
            let e = evaluate(&model, &tok, &valid, 100).unwrap();
            let metrics = BTreeMap::from([
                ("exact_match_pct".to_string(), 100.0 * e.exact_match),
                ("bleu".to_string(), e.bleu),
            ]);
            log.log(Metric::Eval {
                step,
                val_loss: e.loss as f32,
                val_ppl: e.loss.exp() as f32,
                metrics,
            })
            .unwrap();
            eprintln!(
                "step {step:>5}  val loss {:.4}  exact match {:.3}  BLEU {:.1}  {:.0} s  e.g. {:?}",
                e.loss,
                e.exact_match,
                e.bleu,
                started.elapsed().as_secs_f64(),
                e.outputs[0]
            );
            last = Some(e);
        }
    }
    plot_losses(&log.history, &out.join("loss.png"), &out.join("loss.svg")).unwrap();
    export_bart(&model, &store, &tok_path, &out.join("bart")).unwrap();
    let last = last.unwrap();
    eprintln!(
        "wall {:.0} s, held-out exact match {:.3}",
        started.elapsed().as_secs_f64(),
        last.exact_match
    );
    assert!(
        last.exact_match >= 0.95,
        "held-out exact match {}",
        last.exact_match
    );
    // the trained model with quantized projections (docs/pretrained.md, "Quantized weights")
    for (format, max_loss) in [(QuantFormat::Int8, 0.01), (QuantFormat::Q4, 0.05), (QuantFormat::Bf16, 0.01)] {
        let q = evaluate(&model.quantize(format).unwrap(), &tok, &valid, 100).unwrap();
        eprintln!(
            "{format}: val loss {:.4}, exact match {:.3}, BLEU {:.1} (f32: {:.4}, {:.3}, {:.1})",
            q.loss, q.exact_match, q.bleu, last.loss, last.exact_match, last.bleu
        );
        assert!(
            q.exact_match >= last.exact_match - max_loss,
            "{format}: held-out exact match {} against f32's {}",
            q.exact_match,
            last.exact_match
        );
    }
}
