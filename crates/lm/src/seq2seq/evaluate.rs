//! Validation of an encoder–decoder on held-out pairs: the teacher-forced loss, and greedy
//! decoding scored by exact match and by corpus BLEU over target tokens (sacreBLEU's corpus
//! BLEU with `tokenize none` on the id sequences, so that a character-level model's outputs
//! score per token rather than as one word each).

use loam_tensor::no_grad;
use loam_text::Tokenizer;
use serde::Serialize;

use crate::error::Result;
use crate::metrics::bleu::{Bleu, Tokenize};
use crate::pairs::{EncodedPair, make_batch};
use crate::seq2seq::model::Seq2Seq;

/// The figures of one validation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Seq2SeqScores {
    /// Mean cross-entropy per target token (end id included), without label smoothing.
    pub loss: f64,
    /// Fraction of pairs whose greedy output is the target exactly (ids), 0–1.
    pub exact_match: f64,
    /// Corpus BLEU (0–100) of the output tokens against the target tokens.
    pub bleu: f64,
    /// The decoded outputs, one per pair.
    pub outputs: Vec<String>,
}

/// Scores `model` on `pairs` in batches of `batch_size`; `tokenizer` decodes the targets'
/// vocabulary.
pub fn evaluate(
    model: &Seq2Seq,
    tokenizer: &dyn Tokenizer,
    pairs: &[EncodedPair],
    batch_size: usize,
) -> Result<Seq2SeqScores> {
    let _g = no_grad();
    let c = &model.config;
    let (mut loss_sum, mut tokens, mut exact) = (0.0f64, 0usize, 0usize);
    let mut outputs = Vec::with_capacity(pairs.len());
    let (mut hyp_tokens, mut ref_tokens) = (
        Vec::with_capacity(pairs.len()),
        Vec::with_capacity(pairs.len()),
    );
    let joined = |v: &[usize]| v.iter().map(usize::to_string).collect::<Vec<_>>().join(" ");
    for chunk in pairs.chunks(batch_size.max(1)) {
        let rows: Vec<&EncodedPair> = chunk.iter().collect();
        let batch = make_batch(&rows, c.pad_id, c.bos_id, c.eos_id);
        let n = chunk.iter().map(|p| p.target.len() + 1).sum::<usize>();
        loss_sum += model
            .loss(&batch, 0.0, &mut loam_nn::Ctx::eval())?
            .to_scalar()? as f64
            * n as f64;
        tokens += n;
        for (out, pair) in model
            .greedy(&batch, c.block_size - 1)?
            .into_iter()
            .zip(chunk)
        {
            exact += usize::from(out == pair.target);
            let ids: Vec<u32> = out.iter().map(|&id| id as u32).collect();
            outputs.push(tokenizer.decode(&ids, true)?);
            hyp_tokens.push(joined(&out));
            ref_tokens.push(joined(&pair.target));
        }
    }
    let hyps: Vec<&str> = hyp_tokens.iter().map(String::as_str).collect();
    let refs: Vec<&str> = ref_tokens.iter().map(String::as_str).collect();
    let bleu = Bleu {
        tokenize: Tokenize::None,
        ..Bleu::default()
    }
    .corpus_score(&hyps, &[&refs])?
    .score;
    Ok(Seq2SeqScores {
        loss: loss_sum / tokens.max(1) as f64,
        exact_match: exact as f64 / pairs.len().max(1) as f64,
        bleu,
        outputs,
    })
}
