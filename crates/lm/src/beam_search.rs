//! Beam search as `transformers`' `generate` does it (its vectorized `_beam_search`), for
//! decoder-only ([`CausalLm`]) and encoder–decoder ([`Seq2SeqLm`]) models, the beams decoded
//! as one batch with the KV cache reordered as beams are kept.
//!
//! Each step: log-softmax of the last logits; the repetition penalty, the n-gram ban, the
//! EOS ban before `min_new_tokens`, and the forced first/last tokens; the running scores added;
//! the best `max(2, 1 + #eos)·num_beams` continuations; those that end (EOS or the last
//! position) and rank in the first `num_beams` join the finished set with score
//! Σ log p / new_tokens^length_penalty, the best `num_beams` others keep running. The search
//! ends as `early_stopping` says: `true` when `num_beams` hypotheses are finished, `false`
//! when no running beam can still beat the worst finished one at the current length, `never`
//! when none can at the longest length (for a positive length penalty).

use std::str::FromStr;

use loam_nn::Ctx;
use loam_tensor::no_grad;
use serde::Serialize;

use crate::causal_lm::CausalLm;
use crate::error::{LmError, Result};
use crate::generate::FinishReason;
use crate::sampling::{GenerationConfig, penalize};
use crate::seq2seq_lm::{Seq2SeqLm, reorder_caches};

/// When beam search stops (`transformers`' `early_stopping`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EarlyStopping {
    /// As soon as `num_beams` hypotheses are finished.
    True,
    /// When no running beam can beat the worst finished one at the current length.
    #[default]
    False,
    /// When no running beam can beat it at the longest possible length.
    Never,
}

impl FromStr for EarlyStopping {
    type Err = LmError;

    /// `true`, `false` or `never`.
    fn from_str(s: &str) -> Result<EarlyStopping> {
        match s {
            "true" => Ok(EarlyStopping::True),
            "false" => Ok(EarlyStopping::False),
            "never" => Ok(EarlyStopping::Never),
            other => Err(LmError::Config(format!("early_stopping `{other}`: expected true, false or never"))),
        }
    }
}

/// The settings of beam search besides those of [`GenerationConfig`] (`max_new_tokens`,
/// `eos_ids`, `repetition_penalty` and `no_repeat_ngram_size` apply too).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BeamConfig {
    /// Beams kept at each step.
    pub num_beams: usize,
    /// Finished scores are Σ log p / new_tokens^length_penalty.
    pub length_penalty: f32,
    /// When the search stops.
    pub early_stopping: EarlyStopping,
    /// Hypotheses returned, best first (at most `num_beams`).
    pub num_return_sequences: usize,
    /// EOS is banned until this many tokens are generated.
    pub min_new_tokens: usize,
}

impl Default for BeamConfig {
    /// `transformers`' defaults with 4 beams: length penalty 1, `early_stopping` false, one
    /// sequence returned.
    fn default() -> Self {
        BeamConfig { num_beams: 4, length_penalty: 1.0, early_stopping: EarlyStopping::False, num_return_sequences: 1, min_new_tokens: 0 }
    }
}

impl BeamConfig {
    /// Refuses no beams, more sequences returned than beams, and a length penalty that is not
    /// a number.
    pub fn validate(&self) -> Result<()> {
        if self.num_beams == 0 {
            return Err(LmError::Config("beam search: num_beams must be at least 1".into()));
        }
        if self.num_return_sequences == 0 || self.num_return_sequences > self.num_beams {
            return Err(LmError::Config(format!(
                "beam search: num_return_sequences {} must be in 1..={} (num_beams)",
                self.num_return_sequences, self.num_beams
            )));
        }
        if !self.length_penalty.is_finite() {
            return Err(LmError::Config(format!("beam search: length_penalty {} must be finite", self.length_penalty)));
        }
        Ok(())
    }
}

/// One finished hypothesis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hypothesis {
    /// The new token ids (after the prompt or the decoder start token; without the EOS).
    pub ids: Vec<usize>,
    /// Σ log p / new_tokens^length_penalty.
    pub score: f32,
    /// Whether it ended with an EOS token or at the length limit.
    pub finish_reason: FinishReason,
}

/// What is fixed about one search.
struct Search<'a> {
    cfg: &'a GenerationConfig,
    beam: &'a BeamConfig,
    vocab: usize,
    /// Tokens before the first generated one (the prompt, or the decoder start token).
    prompt_len: usize,
    max_len: usize,
    forced_bos: Option<usize>,
    forced_eos: Option<usize>,
}

/// One decoding step of the beams: (origins, last tokens) → next-token logits per beam.
type Step<'a> = dyn FnMut(Option<&[usize]>, &[usize]) -> Result<Vec<Vec<f32>>> + 'a;

/// `transformers`' stand-in for minus infinity in beam scores.
const NEG: f32 = -1.0e9;

/// Indices of the `k` largest values of `v`, largest first (lower index first among ties),
/// selected before sorting so that a step over `num_beams · vocab` scores stays cheap.
fn top_desc(v: &[f32], k: usize) -> Vec<usize> {
    let cmp = |a: &usize, b: &usize| v[*b].total_cmp(&v[*a]).then(a.cmp(b));
    let mut idx: Vec<usize> = (0..v.len()).collect();
    if k < idx.len() {
        idx.select_nth_unstable_by(k, cmp);
        idx.truncate(k);
    }
    idx.sort_by(cmp);
    idx
}

/// log-softmax of one row.
fn log_softmax(row: &mut [f32]) {
    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = row.iter().map(|&x| (x - m).exp()).sum::<f32>().ln();
    row.iter_mut().for_each(|x| *x = *x - m - lse);
}

impl Search<'_> {
    /// Runs the search from `prompt`; `step(origins, last)` returns the next-token logits of
    /// each running beam after reordering the model's cache so that beam `i` continues old beam
    /// `origins[i]` and feeding it token `last[i]` (the first call, with no origins, feeds the
    /// prompt and returns `num_beams` copies of its last logits).
    fn run(&self, prompt: &[usize], step: &mut Step<'_>) -> Result<Vec<Hypothesis>> {
        let (nb, v) = (self.beam.num_beams, self.vocab);
        let keep = 2.max(1 + self.cfg.eos_ids.len()) * nb;
        let mut running: Vec<Vec<usize>> = vec![prompt.to_vec(); nb];
        let mut running_scores = vec![NEG; nb];
        running_scores[0] = 0.0;
        // finished slots: sequence, score, finished
        let mut finished: Vec<(Vec<usize>, f32, bool)> = vec![(prompt.to_vec(), NEG, false); nb];
        let mut unsatisfied = true;
        let mut rows = step(None, prompt)?;
        let mut cur_len = prompt.len();
        loop {
            // accumulated log-probabilities, [nb · V]
            let mut acc = Vec::with_capacity(nb * v);
            for (b, row) in rows.iter_mut().enumerate() {
                log_softmax(row);
                self.process(row, &running[b], cur_len);
                acc.extend(row.iter().map(|&lp| lp + running_scores[b]));
            }
            let top = top_desc(&acc, keep);
            let cands: Vec<(usize, usize, f32, bool)> = top
                .iter()
                .map(|&i| {
                    let (b, tok) = (i / v, i % v);
                    let hits = self.cfg.eos_ids.contains(&(tok as u32)) || cur_len + 1 >= self.max_len;
                    (b, tok, acc[i], hits)
                })
                .collect();
            // the best non-finished continuations keep running
            let run_scores: Vec<f32> = cands.iter().map(|&(_, _, s, hits)| if hits { s + NEG } else { s }).collect();
            let next = top_desc(&run_scores, nb);
            // finished candidates among the first nb join the finished set
            let full = finished.iter().all(|f| f.2) && self.beam.early_stopping == EarlyStopping::True;
            let norm = ((cur_len + 1 - self.prompt_len) as f64).powf(self.beam.length_penalty as f64) as f32;
            let mut merged = finished.clone();
            for (j, &(b, tok, s, hits)) in cands.iter().enumerate() {
                let done = hits && j < nb;
                let mut score = s / norm;
                score += if full { NEG } else { 0.0 };
                score += if unsatisfied { 0.0 } else { NEG };
                score += if done { 0.0 } else { NEG };
                let mut seq = running[b].clone();
                seq.push(tok);
                merged.push((seq, score, done));
            }
            let merged_scores: Vec<f32> = merged.iter().map(|m| m.1).collect();
            finished = top_desc(&merged_scores, nb).into_iter().map(|i| merged[i].clone()).collect();
            let origins: Vec<usize> = next.iter().map(|&j| cands[j].0).collect();
            let last: Vec<usize> = next.iter().map(|&j| cands[j].1).collect();
            running = next.iter().map(|&j| {
                let mut seq = running[cands[j].0].clone();
                seq.push(cands[j].1);
                seq
            }).collect();
            running_scores = next.iter().map(|&j| run_scores[j]).collect();
            cur_len += 1;
            // can a running beam still beat the worst finished one?
            let best_len = if self.beam.early_stopping == EarlyStopping::Never && self.beam.length_penalty > 0.0 { self.max_len - self.prompt_len } else { cur_len - self.prompt_len };
            let best_possible = running_scores[0] / ((best_len as f64).powf(self.beam.length_penalty as f64) as f32);
            let worst = finished.iter().map(|f| f.1).fold(f32::INFINITY, f32::min);
            unsatisfied = unsatisfied && finished.iter().any(|f| best_possible > if f.2 { worst } else { NEG });
            let all_finished = finished.iter().all(|f| f.2) && self.beam.early_stopping == EarlyStopping::True;
            if !unsatisfied || all_finished || cands.iter().all(|c| c.3) {
                break;
            }
            rows = step(Some(&origins), &last)?;
        }
        Ok(finished
            .into_iter()
            .take(self.beam.num_return_sequences)
            .map(|(seq, score, _)| {
                let mut ids = seq[self.prompt_len..].to_vec();
                let eos = ids.last().is_some_and(|&t| self.cfg.eos_ids.contains(&(t as u32)));
                if eos {
                    ids.pop();
                }
                Hypothesis { ids, score, finish_reason: if eos { FinishReason::Stop } else { FinishReason::Length } }
            })
            .collect())
    }

    /// The logits processors, in `transformers`' order, on one row of log-probabilities of a
    /// beam whose tokens so far are `seq` (`cur_len` of them).
    fn process(&self, row: &mut [f32], seq: &[usize], cur_len: usize) {
        penalize(row, seq, self.cfg);
        if cur_len - self.prompt_len < self.beam.min_new_tokens {
            for &e in &self.cfg.eos_ids {
                if let Some(x) = row.get_mut(e as usize) {
                    *x = f32::NEG_INFINITY;
                }
            }
        }
        let forced = match (self.forced_bos, self.forced_eos) {
            (Some(bos), _) if cur_len == 1 => Some(bos),
            (_, Some(eos)) if cur_len + 1 == self.max_len => Some(eos),
            _ => None,
        };
        if let Some(t) = forced.filter(|&t| t < row.len()) {
            row.iter_mut().for_each(|x| *x = f32::NEG_INFINITY);
            row[t] = 0.0;
        }
    }
}

/// The `n` rows of a `[n, T, V]` logits tensor's last position.
fn last_rows(logits: &loam_tensor::Tensor) -> Result<Vec<Vec<f32>>> {
    let (n, t, v) = (logits.shape()[0], logits.shape()[1], logits.shape()[2]);
    let all = logits.narrow(1, t - 1, 1)?.to_vec();
    Ok((0..n).map(|r| all[r * v..(r + 1) * v].to_vec()).collect())
}

/// Checks the configs and that the ids fit the vocabulary.
fn check(cfg: &GenerationConfig, beam: &BeamConfig, ids: &[usize], vocab: usize) -> Result<()> {
    cfg.validate()?;
    beam.validate()?;
    if ids.is_empty() {
        return Err(LmError::Config("beam search needs a prompt of at least one token".into()));
    }
    if let Some(&bad) = ids.iter().find(|&&t| t >= vocab) {
        return Err(LmError::Config(format!("token {bad} is outside the vocabulary of {vocab}")));
    }
    Ok(())
}

/// Beam search after `prompt` with a decoder-only model: the best `num_return_sequences`
/// hypotheses, best first. The prompt and the new tokens must fit the model's context.
pub fn beam_search(model: &dyn CausalLm, prompt: &[usize], cfg: &GenerationConfig, beam: &BeamConfig) -> Result<Vec<Hypothesis>> {
    check(cfg, beam, prompt, model.vocab_size())?;
    let max_len = prompt.len() + cfg.max_new_tokens;
    if max_len > model.max_positions() {
        return Err(LmError::Config(format!("beam search keeps every beam in one window: {} prompt + {} new tokens exceed the context of {}", prompt.len(), cfg.max_new_tokens, model.max_positions())));
    }
    let _g = no_grad();
    let search = Search { cfg, beam, vocab: model.vocab_size(), prompt_len: prompt.len(), max_len, forced_bos: None, forced_eos: None };
    let nb = beam.num_beams;
    let mut ctx = Ctx::eval();
    let mut cache = model.new_cache();
    search.run(prompt, &mut |origins, last| {
        let logits = match origins {
            None => {
                let l = model.forward(last, 1, last.len(), Some(&mut cache), &mut ctx)?;
                reorder_caches(&mut cache, &vec![0; nb])?;
                return Ok(vec![last_rows(&l)?.remove(0); nb]);
            }
            Some(o) => {
                reorder_caches(&mut cache, o)?;
                model.forward(last, nb, 1, Some(&mut cache), &mut ctx)?
            }
        };
        last_rows(&logits)
    })
}

/// Beam search for the target of `source` with an encoder–decoder model, starting from its
/// decoder start token, with its forced first and last tokens: the best
/// `num_return_sequences` hypotheses, best first.
pub fn beam_search_seq2seq(model: &dyn Seq2SeqLm, source: &[usize], cfg: &GenerationConfig, beam: &BeamConfig) -> Result<Vec<Hypothesis>> {
    check(cfg, beam, source, model.vocab_size())?;
    let _g = no_grad();
    let mut ctx = Ctx::eval();
    let nb = beam.num_beams;
    let encoded = model.encode(source, 1, source.len(), &[source.len()], &mut ctx)?;
    let beams = encoded.select_rows(&vec![0; nb])?;
    let mut cache = model.new_cache(&encoded);
    let max_len = 1 + cfg.max_new_tokens;
    if let Some(limit) = model.max_target_positions().filter(|&l| max_len > l) {
        return Err(LmError::Config(format!("{max_len} target positions exceed the decoder's limit of {limit}")));
    }
    let search = Search {
        cfg,
        beam,
        vocab: model.vocab_size(),
        prompt_len: 1,
        max_len,
        forced_bos: model.forced_bos_token_id(),
        forced_eos: model.forced_eos_token_id(),
    };
    search.run(&[model.decoder_start_token_id()], &mut |origins, last| {
        let logits = match origins {
            None => {
                let l = model.decode(last, 1, 1, &encoded, Some(&mut cache), &mut ctx)?;
                cache.reorder(&vec![0; nb])?;
                return Ok(vec![last_rows(&l)?.remove(0); nb]);
            }
            Some(o) => {
                cache.reorder(o)?;
                model.decode(last, nb, 1, &beams, Some(&mut cache), &mut ctx)?
            }
        };
        last_rows(&logits)
    })
}
