//! Choosing the next token from logits, with Hugging Face's semantics: repetition penalty and
//! no-repeat-n-gram bans first, then temperature, top-k, top-p and min-p, then greedy or a
//! seeded draw. Temperature 0 is greedy, as in the OpenAI API and llama.cpp.

use loam_tensor::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{LmError, Result};

/// How tokens are chosen and when generation stops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerationConfig {
    /// New tokens to produce at most (the prompt does not count).
    pub max_new_tokens: usize,
    /// Sample from the distribution; otherwise take the most likely token (greedy).
    pub do_sample: bool,
    /// Divides the logits before sampling (lower is sharper); 0 takes the most likely token.
    pub temperature: f32,
    /// Keep only the k most likely tokens.
    pub top_k: Option<usize>,
    /// Keep the smallest set of tokens whose probability adds up to at least p.
    pub top_p: Option<f32>,
    /// Keep tokens whose probability is at least min_p times the largest.
    pub min_p: Option<f32>,
    /// Penalty p > 1 on tokens already present: logit < 0 → logit·p, else logit/p.
    pub repetition_penalty: f32,
    /// Ban tokens that would repeat an n-gram of this size (0: off).
    pub no_repeat_ngram_size: usize,
    /// Token ids that end generation (not included in the output).
    pub eos_ids: Vec<u32>,
    /// Strings that end generation; the output is cut before them.
    pub stop_strings: Vec<String>,
    /// Seed of the sampling draws.
    pub seed: u64,
}

impl Default for GenerationConfig {
    /// Greedy, 64 new tokens, no penalties.
    fn default() -> Self {
        GenerationConfig {
            max_new_tokens: 64,
            do_sample: false,
            temperature: 1.0,
            top_k: None,
            top_p: None,
            min_p: None,
            repetition_penalty: 1.0,
            no_repeat_ngram_size: 0,
            eos_ids: Vec::new(),
            stop_strings: Vec::new(),
            seed: 0,
        }
    }
}

impl GenerationConfig {
    /// Refuses values that have no meaning: a temperature below 0 or not finite, `top_p`
    /// outside (0, 1], `min_p` outside [0, 1], a repetition penalty ≤ 0 or not finite, and
    /// `top_k` 0. Every generation entry point calls it; a server should too, on each request.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(LmError::Config(format!("generation: {m}")));
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad(format!("temperature {} must be a finite number ≥ 0 (0 is greedy)", self.temperature));
        }
        if let Some(p) = self.top_p.filter(|p| !(*p > 0.0 && *p <= 1.0)) {
            return bad(format!("top_p {p} must be in (0, 1]"));
        }
        if let Some(p) = self.min_p.filter(|p| !(0.0..=1.0).contains(p)) {
            return bad(format!("min_p {p} must be in [0, 1]"));
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return bad(format!("repetition_penalty {} must be a finite number > 0 (1 is off)", self.repetition_penalty));
        }
        if self.top_k == Some(0) {
            return bad("top_k 0 keeps no token; leave it out to keep them all".into());
        }
        Ok(())
    }
}

/// Applies the repetition penalty and the n-gram ban for the tokens in `history` (beam search
/// applies them to log-probabilities, as `transformers` does).
pub(crate) fn penalize(logits: &mut [f32], history: &[usize], cfg: &GenerationConfig) {
    if cfg.repetition_penalty != 1.0 {
        let mut seen = vec![false; logits.len()];
        for &t in history {
            if t < logits.len() && !std::mem::replace(&mut seen[t], true) {
                let l = &mut logits[t];
                *l = if *l < 0.0 { *l * cfg.repetition_penalty } else { *l / cfg.repetition_penalty };
            }
        }
    }
    let n = cfg.no_repeat_ngram_size;
    if n > 0 && history.len() + 1 >= n {
        let prefix = &history[history.len() + 1 - n..];
        for start in 0..history.len() + 1 - n {
            if &history[start..start + n - 1] == prefix {
                if let Some(l) = logits.get_mut(history[start + n - 1]) {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
    }
}

/// Probabilities after temperature, top-k, top-p and min-p (0 for removed tokens).
pub fn filtered_probs(logits: &[f32], cfg: &GenerationConfig) -> Vec<f32> {
    let t = if cfg.temperature > 0.0 { cfg.temperature } else { 1.0 };
    let mut l: Vec<f32> = logits.iter().map(|&x| x / t).collect();
    if let Some(k) = cfg.top_k.filter(|&k| k > 0 && k < l.len()) {
        let mut sorted = l.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let kth = sorted[k - 1];
        l.iter_mut().filter(|x| **x < kth).for_each(|x| *x = f32::NEG_INFINITY);
    }
    let m = l.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut p: Vec<f32> = l.iter().map(|&x| (x - m).exp()).collect();
    let z: f32 = p.iter().sum();
    p.iter_mut().for_each(|x| *x /= z);
    if let Some(top_p) = cfg.top_p.filter(|&v| v < 1.0) {
        let mut order: Vec<usize> = (0..p.len()).collect();
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
        let mut cum = 0.0;
        let mut keep = order.len();
        for (i, &j) in order.iter().enumerate() {
            cum += p[j];
            if cum >= top_p {
                keep = i + 1;
                break;
            }
        }
        order[keep..].iter().for_each(|&j| p[j] = 0.0);
    }
    if let Some(min_p) = cfg.min_p.filter(|&v| v > 0.0) {
        let pmax = p.iter().copied().fold(0.0, f32::max);
        p.iter_mut().filter(|x| **x < min_p * pmax).for_each(|x| *x = 0.0);
    }
    let z: f32 = p.iter().sum();
    p.iter_mut().for_each(|x| *x /= z);
    p
}

/// The next token after `history`, from one row of logits: the most likely one when not
/// sampling or at temperature 0.
pub fn choose(logits: &[f32], history: &[usize], cfg: &GenerationConfig, rng: &mut Rng) -> usize {
    let mut l = logits.to_vec();
    penalize(&mut l, history, cfg);
    if !cfg.do_sample || cfg.temperature == 0.0 {
        return argmax(&l);
    }
    let p = filtered_probs(&l, cfg);
    let u = rng.uniform();
    let mut cum = 0.0;
    let mut last = 0;
    for (i, &pi) in p.iter().enumerate() {
        if pi > 0.0 {
            cum += pi;
            last = i;
            if u < cum {
                return i;
            }
        }
    }
    last
}

/// The index of the largest value (the first of ties).
pub fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| if x > bv { (i, x) } else { (bi, bv) }).0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> GenerationConfig {
        GenerationConfig { do_sample: true, ..Default::default() }
    }

    #[test]
    fn repetition_penalty_follows_hugging_face() {
        let mut l = vec![2.0, -2.0, 1.0];
        penalize(&mut l, &[0, 1, 1], &GenerationConfig { repetition_penalty: 2.0, ..Default::default() });
        assert_eq!(l, vec![1.0, -4.0, 1.0]);
    }

    #[test]
    fn no_repeat_ngram_bans_the_completion() {
        let mut l = vec![0.0; 5];
        // history 1 2 3 1 2: the bigram "2 3" exists, so after "... 2" token 3 is banned (n = 2)
        penalize(&mut l, &[1, 2, 3, 1, 2], &GenerationConfig { no_repeat_ngram_size: 2, ..Default::default() });
        assert_eq!(l[3], f32::NEG_INFINITY);
        assert_eq!(l.iter().filter(|x| x.is_infinite()).count(), 1);
        // trigram: "1 2" was followed by 3
        let mut l = vec![0.0; 5];
        penalize(&mut l, &[1, 2, 3, 1, 2], &GenerationConfig { no_repeat_ngram_size: 3, ..Default::default() });
        assert_eq!(l[3], f32::NEG_INFINITY);
    }

    #[test]
    fn meaningless_values_are_refused() {
        assert!(GenerationConfig::default().validate().is_ok());
        assert!(GenerationConfig { temperature: 0.0, top_p: Some(1.0), min_p: Some(0.0), top_k: Some(1), ..cfg() }.validate().is_ok());
        let cases = [
            (GenerationConfig { temperature: -1.0, ..cfg() }, "temperature -1"),
            (GenerationConfig { temperature: f32::NAN, ..cfg() }, "temperature NaN"),
            (GenerationConfig { temperature: f32::INFINITY, ..cfg() }, "temperature inf"),
            (GenerationConfig { top_p: Some(1.5), ..cfg() }, "top_p 1.5"),
            (GenerationConfig { top_p: Some(0.0), ..cfg() }, "top_p 0"),
            (GenerationConfig { top_p: Some(f32::NAN), ..cfg() }, "top_p NaN"),
            (GenerationConfig { min_p: Some(2.0), ..cfg() }, "min_p 2"),
            (GenerationConfig { min_p: Some(-0.1), ..cfg() }, "min_p -0.1"),
            (GenerationConfig { repetition_penalty: 0.0, ..cfg() }, "repetition_penalty 0"),
            (GenerationConfig { repetition_penalty: f32::NAN, ..cfg() }, "repetition_penalty NaN"),
            (GenerationConfig { top_k: Some(0), ..cfg() }, "top_k 0"),
        ];
        for (c, what) in cases {
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(what), "{what}: {err}");
        }
    }

    #[test]
    fn temperature_zero_is_greedy() {
        let logits = [0.1f32, 2.0, 1.9, -1.0];
        let mut rng = Rng::new(7);
        for _ in 0..50 {
            assert_eq!(choose(&logits, &[], &GenerationConfig { temperature: 0.0, ..cfg() }, &mut rng), 1);
        }
        // while sampling at temperature 1 draws the runner-up too
        let drawn: std::collections::HashSet<usize> = (0..50).map(|_| choose(&logits, &[], &cfg(), &mut rng)).collect();
        assert!(drawn.len() > 1);
    }

    #[test]
    fn filters_keep_the_right_sets() {
        let logits: Vec<f32> = [0.5f32, 0.2, 0.15, 0.1, 0.05].iter().map(|p| p.ln()).collect();
        let k = filtered_probs(&logits, &GenerationConfig { top_k: Some(2), ..cfg() });
        assert_eq!(k.iter().filter(|&&p| p > 0.0).count(), 2);
        assert!((k[0] - 0.5 / 0.7).abs() < 1e-6);
        let p = filtered_probs(&logits, &GenerationConfig { top_p: Some(0.8), ..cfg() });
        assert_eq!(p.iter().filter(|&&x| x > 0.0).count(), 3, "0.5 + 0.2 < 0.8 ≤ 0.85");
        let m = filtered_probs(&logits, &GenerationConfig { min_p: Some(0.25), ..cfg() });
        assert_eq!(m.iter().filter(|&&x| x > 0.0).count(), 3, "p ≥ 0.125");
        let t = filtered_probs(&logits, &GenerationConfig { temperature: 0.5, ..cfg() });
        assert!(t[0] > 0.5, "a lower temperature sharpens");
    }
}
