//! Beam search as `transformers`' `generate` does it (its vectorized `_beam_search`), for
//! decoder-only and encoder–decoder models alike (their entry points are in
//! [`crate::beam_models`]): the search over the next-token logits of the running beams.
//!
//! Each step: log-softmax of the last logits; the repetition penalty, the n-gram ban, the
//! EOS ban before `min_new_tokens`, and the forced first/last tokens; the running scores added;
//! the best `max(2, 1 + #eos)·num_beams` continuations; those that end (EOS or the last
//! position) and rank in the first `num_beams` join the finished set with score
//! Σ log p / new_tokens^length_penalty, the best `num_beams` others keep running. The search
//! ends as `early_stopping` says: `true` when `num_beams` hypotheses are finished, `false`
//! when no running beam can still beat the worst finished one at the current length, `never`
//! when none can at the longest length (for a positive length penalty).
//!
//! With `do_sample` (and a temperature above 0) it is `transformers`' beam sampling: the
//! log-probabilities are warped per beam (divided by the temperature, top-k, top-p and min-p
//! setting the removed tokens to −∞), the running scores added, and the
//! `max(2, 1 + #eos)·num_beams` continuations are drawn without replacement from the softmax
//! over all `num_beams · vocab` of them (a Gumbel-top-k draw, which is distributed as
//! `torch.multinomial` without replacement, in draw order) instead of taken best first.
//! Stop strings ([`crate::stop_strings`]) end a hypothesis as an EOS token does.

use std::str::FromStr;

use loam_tensor::Rng;
use serde::Serialize;

use crate::error::{LmError, Result};
use crate::generate::FinishReason;
use crate::sampling::{GenerationConfig, filtered_probs, penalize};

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
            other => Err(LmError::Config(format!(
                "early_stopping `{other}`: expected true, false or never"
            ))),
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
        BeamConfig {
            num_beams: 4,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::False,
            num_return_sequences: 1,
            min_new_tokens: 0,
        }
    }
}

impl BeamConfig {
    /// Refuses no beams, more sequences returned than beams, and a length penalty that is not
    /// a number.
    pub fn validate(&self) -> Result<()> {
        if self.num_beams == 0 {
            return Err(LmError::Config(
                "beam search: num_beams must be at least 1".into(),
            ));
        }
        if self.num_return_sequences == 0 || self.num_return_sequences > self.num_beams {
            return Err(LmError::Config(format!(
                "beam search: num_return_sequences {} must be in 1..={} (num_beams)",
                self.num_return_sequences, self.num_beams
            )));
        }
        if !self.length_penalty.is_finite() {
            return Err(LmError::Config(format!(
                "beam search: length_penalty {} must be finite",
                self.length_penalty
            )));
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
    /// Whether it ended with an EOS token or a stop string, or at the length limit.
    pub finish_reason: FinishReason,
}

/// Whether the new ids of a hypothesis hold a stop string.
pub(crate) type StopCheck<'a> = dyn Fn(&[usize]) -> Result<bool> + 'a;

/// What is fixed about one search.
pub(crate) struct Search<'a> {
    /// Decoding settings.
    pub cfg: &'a GenerationConfig,
    /// Beam settings.
    pub beam: &'a BeamConfig,
    /// The model's vocabulary size.
    pub vocab: usize,
    /// Tokens before the first generated one (the prompt, or the decoder start token).
    pub prompt_len: usize,
    /// Tokens at most, `prompt_len` included.
    pub max_len: usize,
    /// The token forced first (BART's `forced_bos_token_id`).
    pub forced_bos: Option<usize>,
    /// The token forced at the last position (BART's `forced_eos_token_id`).
    pub forced_eos: Option<usize>,
    /// The stop-string test, when the config has stop strings.
    pub stop: Option<&'a StopCheck<'a>>,
}

/// One decoding step of the beams: (origins, last tokens) → next-token logits per beam.
pub(crate) type Step<'a> = dyn FnMut(Option<&[usize]>, &[usize]) -> Result<Vec<Vec<f32>>> + 'a;

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

/// The `k` largest of `row[i] + offset` as (i, value), largest first (lower index first among
/// ties), in one pass over the row.
fn row_top(row: &[f32], offset: f32, k: usize) -> Vec<(usize, f32)> {
    let mut best: Vec<(usize, f32)> = Vec::with_capacity(k + 1);
    for (i, &x) in row.iter().enumerate() {
        let x = x + offset;
        // a later index displaces only a strictly smaller value
        if best.len() == k && best.last().is_none_or(|l| x.total_cmp(&l.1).is_le()) {
            continue;
        }
        let at = best.partition_point(|l| l.1.total_cmp(&x).is_ge());
        best.insert(at, (i, x));
        best.truncate(k);
    }
    best
}

/// The `keep` best (index `beam · v + token`, `scores[beam] + rows[beam][token]`), best
/// first, lower index first among ties: each row's best, merged.
fn best_continuations(
    rows: &[Vec<f32>],
    scores: &[f32],
    keep: usize,
    v: usize,
) -> Vec<(usize, f32)> {
    let mut all: Vec<(usize, f32)> = rows
        .iter()
        .zip(scores)
        .enumerate()
        .flat_map(|(b, (row, &s))| {
            row_top(row, s, keep)
                .into_iter()
                .map(move |(t, x)| (b * v + t, x))
        })
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(keep);
    all
}

/// log-softmax of one row.
fn log_softmax(row: &mut [f32]) {
    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = row.iter().map(|&x| (x - m).exp()).sum::<f32>().ln();
    row.iter_mut().for_each(|x| *x = *x - m - lse);
}

/// The order in which sampling without replacement, with weights `exp(v)`, draws the `k`
/// first of `v`'s indices: the `k` largest of `v + Gumbel noise` (the Gumbel-top-k trick).
fn sample_desc(v: &[f32], k: usize, rng: &mut Rng) -> Vec<usize> {
    let keys: Vec<f32> = v
        .iter()
        .map(|&x| {
            // u in (0, 1): 53 random bits, shifted off 0
            let u =
                (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64) + f64::EPSILON / 4.0;
            x + (-(-u.ln()).ln()) as f32
        })
        .collect();
    top_desc(&keys, k)
}

/// `transformers`' logits warpers on a row of (processed) log-probabilities: divided by the
/// temperature, then −∞ for the tokens top-k, top-p or min-p remove (and only those: a token
/// far below the best stays finite, however small its probability).
fn warp(row: &mut [f32], cfg: &GenerationConfig) {
    row.iter_mut().for_each(|x| *x /= cfg.temperature);
    if let Some(k) = cfg.top_k.filter(|&k| k > 0 && k < row.len()) {
        let mut sorted = row.to_vec();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let kth = sorted[k - 1];
        row.iter_mut()
            .filter(|x| **x < kth)
            .for_each(|x| *x = f32::NEG_INFINITY);
    }
    if cfg.top_p.is_some_and(|p| p < 1.0) || cfg.min_p.is_some_and(|p| p > 0.0) {
        let nucleus = GenerationConfig {
            temperature: 1.0,
            top_p: cfg.top_p,
            min_p: cfg.min_p,
            ..GenerationConfig::default()
        };
        let kept = filtered_probs(row, &nucleus);
        for (x, p) in row.iter_mut().zip(kept) {
            if p == 0.0 {
                *x = f32::NEG_INFINITY;
            }
        }
    }
}

impl Search<'_> {
    /// Whether beams are sampled rather than taken best first.
    fn sampling(&self) -> bool {
        self.cfg.do_sample && self.cfg.temperature > 0.0
    }

    /// The `keep` continuations of the beams as (index `beam · vocab + token`, accumulated
    /// score `running_scores[beam] + row[token]`): the best first (lower index first among
    /// ties), or drawn without replacement in draw order when sampling. The best are taken per
    /// row in one pass and merged, which picks what sorting all `num_beams · vocab` scores picks
    /// without building them.
    fn continuations(
        &self,
        rows: &[Vec<f32>],
        running_scores: &[f32],
        keep: usize,
        rng: &mut Rng,
    ) -> Vec<(usize, f32)> {
        let v = self.vocab;
        if self.sampling() {
            // [nb · V] accumulated scores
            let acc: Vec<f32> = rows
                .iter()
                .zip(running_scores)
                .flat_map(|(row, &s)| row.iter().map(move |&lp| lp + s))
                .collect();
            return sample_desc(&acc, keep, rng)
                .into_iter()
                .map(|i| (i, acc[i]))
                .collect();
        }
        best_continuations(rows, running_scores, keep, v)
    }

    /// Whether the hypothesis `seq` with `tok` appended ends: EOS, the length limit, or a stop
    /// string in its new text.
    fn ends(&self, seq: &[usize], tok: usize) -> Result<bool> {
        if self.cfg.eos_ids.contains(&(tok as u32)) || seq.len() + 1 >= self.max_len {
            return Ok(true);
        }
        match self.stop {
            Some(stop) => {
                let mut new = seq[self.prompt_len..].to_vec();
                new.push(tok);
                stop(&new)
            }
            None => Ok(false),
        }
    }

    /// Runs the search from `prompt`; `step(origins, last)` returns the next-token logits of
    /// each running beam after reordering the model's cache so that beam `i` continues old beam
    /// `origins[i]` and feeding it token `last[i]` (the first call, with no origins, feeds the
    /// prompt and returns `num_beams` copies of its last logits).
    pub fn run(&self, prompt: &[usize], step: &mut Step<'_>) -> Result<Vec<Hypothesis>> {
        let (nb, v) = (self.beam.num_beams, self.vocab);
        let keep = 2.max(1 + self.cfg.eos_ids.len()) * nb;
        let mut running: Vec<Vec<usize>> = vec![prompt.to_vec(); nb];
        let mut running_scores = vec![NEG; nb];
        running_scores[0] = 0.0;
        // finished slots: sequence, score, finished
        let mut finished: Vec<(Vec<usize>, f32, bool)> = vec![(prompt.to_vec(), NEG, false); nb];
        let mut unsatisfied = true;
        let mut rng = Rng::new(self.cfg.seed);
        let mut rows = step(None, prompt)?;
        let mut cur_len = prompt.len();
        loop {
            for (b, row) in rows.iter_mut().enumerate() {
                log_softmax(row);
                self.process(row, &running[b], cur_len);
                if self.sampling() {
                    warp(row, self.cfg);
                }
            }
            let top = self.continuations(&rows, &running_scores, keep, &mut rng);
            let cands: Vec<(usize, usize, f32, bool)> = top
                .into_iter()
                .map(|(i, score)| {
                    let (b, tok) = (i / v, i % v);
                    Ok((b, tok, score, self.ends(&running[b], tok)?))
                })
                .collect::<Result<_>>()?;
            // the best non-finished continuations keep running
            let run_scores: Vec<f32> = cands
                .iter()
                .map(|&(_, _, s, hits)| if hits { s + NEG } else { s })
                .collect();
            let next = top_desc(&run_scores, nb);
            // finished candidates among the first nb join the finished set
            let full =
                finished.iter().all(|f| f.2) && self.beam.early_stopping == EarlyStopping::True;
            let norm = ((cur_len + 1 - self.prompt_len) as f64)
                .powf(self.beam.length_penalty as f64) as f32;
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
            finished = top_desc(&merged_scores, nb)
                .into_iter()
                .map(|i| merged[i].clone())
                .collect();
            let origins: Vec<usize> = next.iter().map(|&j| cands[j].0).collect();
            let last: Vec<usize> = next.iter().map(|&j| cands[j].1).collect();
            running = next
                .iter()
                .map(|&j| {
                    let mut seq = running[cands[j].0].clone();
                    seq.push(cands[j].1);
                    seq
                })
                .collect();
            running_scores = next.iter().map(|&j| run_scores[j]).collect();
            cur_len += 1;
            // can a running beam still beat the worst finished one?
            let best_len = if self.beam.early_stopping == EarlyStopping::Never
                && self.beam.length_penalty > 0.0
            {
                self.max_len - self.prompt_len
            } else {
                cur_len - self.prompt_len
            };
            let best_possible = running_scores[0]
                / ((best_len as f64).powf(self.beam.length_penalty as f64) as f32);
            let worst = finished.iter().map(|f| f.1).fold(f32::INFINITY, f32::min);
            unsatisfied = unsatisfied
                && finished
                    .iter()
                    .any(|f| best_possible > if f.2 { worst } else { NEG });
            let all_finished =
                finished.iter().all(|f| f.2) && self.beam.early_stopping == EarlyStopping::True;
            if !unsatisfied || all_finished || cands.iter().all(|c| c.3) {
                break;
            }
            rows = step(Some(&origins), &last)?;
        }
        finished
            .into_iter()
            .take(self.beam.num_return_sequences)
            .map(|(seq, score, _)| {
                let mut ids = seq[self.prompt_len..].to_vec();
                let eos = ids
                    .last()
                    .is_some_and(|&t| self.cfg.eos_ids.contains(&(t as u32)));
                if eos {
                    ids.pop();
                }
                let stopped = eos || self.stop.map_or(Ok(false), |stop| stop(&ids))?;
                Ok(Hypothesis {
                    ids,
                    score,
                    finish_reason: if stopped {
                        FinishReason::Stop
                    } else {
                        FinishReason::Length
                    },
                })
            })
            .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gumbel_top_k_draws_as_sampling_without_replacement() {
        // weights 0.5, 0.3, 0.2: P(first = i) = p_i, P(first = 0, second = 1) = 0.5 · 0.3/0.5
        let v: Vec<f32> = [0.5f32, 0.3, 0.2].iter().map(|p| p.ln()).collect();
        let mut rng = Rng::new(11);
        let n = 40_000;
        let (mut first, mut pair01, mut pair21) = ([0usize; 3], 0, 0);
        for _ in 0..n {
            let d = sample_desc(&v, 2, &mut rng);
            first[d[0]] += 1;
            pair01 += usize::from(d == [0, 1]);
            pair21 += usize::from(d == [2, 1]);
        }
        let f = |c: usize| c as f64 / n as f64;
        // 4 standard deviations of a proportion near 0.5 over 40,000 draws is 0.01
        for (i, p) in [0.5, 0.3, 0.2].iter().enumerate() {
            assert!(
                (f(first[i]) - p).abs() < 0.01,
                "first draw {i}: {} vs {p}",
                f(first[i])
            );
        }
        assert!((f(pair01) - 0.3).abs() < 0.01, "(0, 1): {}", f(pair01));
        assert!(
            (f(pair21) - 0.2 * 0.3 / 0.8).abs() < 0.01,
            "(2, 1): {}",
            f(pair21)
        );
        // a −∞ weight is drawn only when nothing else is left
        let w = [0.0, f32::NEG_INFINITY, 0.0];
        assert_eq!(sample_desc(&w, 3, &mut rng)[2], 1);
    }

    #[test]
    fn the_per_row_selection_picks_what_a_full_sort_picks() {
        let mut rng = Rng::new(3);
        for _ in 0..200 {
            let (nb, v, keep) = (
                1 + rng.below(4) as usize,
                1 + rng.below(40) as usize,
                1 + rng.below(9) as usize,
            );
            // few distinct values, so that ties are common; some −∞
            let rows: Vec<Vec<f32>> = (0..nb)
                .map(|_| {
                    (0..v)
                        .map(|_| {
                            if rng.below(7) == 0 {
                                f32::NEG_INFINITY
                            } else {
                                -(rng.below(5) as f32)
                            }
                        })
                        .collect()
                })
                .collect();
            let scores: Vec<f32> = (0..nb).map(|_| -(rng.below(3) as f32)).collect();
            let acc: Vec<f32> = rows
                .iter()
                .zip(&scores)
                .flat_map(|(r, &s)| r.iter().map(move |&x| x + s))
                .collect();
            let want: Vec<(usize, f32)> = top_desc(&acc, keep)
                .into_iter()
                .map(|i| (i, acc[i]))
                .collect();
            let got = best_continuations(&rows, &scores, keep, v);
            assert_eq!(got, want, "rows {rows:?}, scores {scores:?}, keep {keep}");
        }
    }

    #[test]
    fn warping_divides_by_the_temperature_and_removes_tokens() {
        let cfg = GenerationConfig {
            do_sample: true,
            temperature: 0.5,
            top_k: Some(2),
            ..GenerationConfig::default()
        };
        let mut row = vec![-1.0f32, -2.0, -3.0];
        warp(&mut row, &cfg);
        assert_eq!(row, vec![-2.0, -4.0, f32::NEG_INFINITY]);
        // a temperature near 0 removes nothing by itself
        let cold = GenerationConfig {
            do_sample: true,
            temperature: 1e-4,
            ..GenerationConfig::default()
        };
        let mut row = vec![-1.0f32, -2.0, -300.0];
        warp(&mut row, &cold);
        assert!(
            row.iter().all(|x| x.is_finite()) && row[0] > row[1] && row[1] > row[2],
            "{row:?}"
        );
        // top-p 0.5 keeps the best token of probabilities 0.6, 0.3, 0.1
        let nucleus = GenerationConfig {
            do_sample: true,
            top_p: Some(0.5),
            ..GenerationConfig::default()
        };
        let mut row: Vec<f32> = [0.6f32, 0.3, 0.1].iter().map(|p| p.ln()).collect();
        warp(&mut row, &nucleus);
        assert!(
            row[0].is_finite() && row[1] == f32::NEG_INFINITY && row[2] == f32::NEG_INFINITY,
            "{row:?}"
        );
    }
}
