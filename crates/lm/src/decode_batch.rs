//! A running batch of sequences that share one pass over the weights per decoding step. Each
//! sequence has its own prompt, length and [`GenerationConfig`]; their KV caches are kept
//! left-padded to one length, padding hidden from attention and not counted as positions, so a
//! sequence's tokens are those it would get alone. Sequences join at any step (their prompt is
//! prefilled alone, then their cache is padded into the batch) and leave when they finish.

use loam_nn::{Ctx, KvCache};
use loam_tensor::{Device, Rng, Tensor, no_grad};

use crate::causal_lm::CausalLm;
use crate::error::{LmError, Result};
use crate::generate::FinishReason;
use crate::sampling::{GenerationConfig, choose};

/// What happened to one sequence in one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqEvent {
    /// Sequence `id` produced a token.
    Token { id: u64, token: usize },
    /// Sequence `id` ended and left the batch.
    Finished { id: u64, reason: FinishReason },
}

/// One sequence in the batch.
struct Row {
    id: u64,
    /// Prompt and tokens generated so far (what penalties look at).
    history: Vec<usize>,
    cfg: GenerationConfig,
    rng: Rng,
    produced: usize,
}

/// The most positions past the current ones that [`DecodeBatch`] reserves in its caches before
/// a step: a bound on the memory set aside for sequences that may end early.
const RESERVE_AHEAD: usize = 256;

/// A batch of sequences decoded together over one model.
pub struct DecodeBatch<'m> {
    model: &'m dyn CausalLm,
    rows: Vec<Row>,
    /// Leading padding positions of each row's cache.
    pad: Vec<usize>,
    /// Per-layer caches `[B, H, L, D]`, rows left-padded to one length `L`.
    cache: Vec<KvCache>,
    ctx: Ctx,
}

/// Refuses a prompt or config that cannot be generated in one window of `model`.
pub fn check_request(model: &dyn CausalLm, prompt: &[usize], cfg: &GenerationConfig) -> Result<()> {
    cfg.validate()?;
    if prompt.is_empty() {
        return Err(LmError::Config(
            "generation needs a prompt of at least one token".into(),
        ));
    }
    if let Some(&bad) = prompt.iter().find(|&&t| t >= model.vocab_size()) {
        return Err(LmError::Config(format!(
            "prompt token {bad} is outside the vocabulary of {}",
            model.vocab_size()
        )));
    }
    if prompt.len() + cfg.max_new_tokens > model.max_positions() {
        return Err(LmError::Config(format!(
            "batched generation keeps a sequence in one window: {} prompt + {} new tokens exceed the context of {}",
            prompt.len(),
            cfg.max_new_tokens,
            model.max_positions()
        )));
    }
    if !cfg.stop_strings.is_empty() {
        return Err(LmError::Config(
            "batched generation works on token ids: stop strings need a tokenizer (cut the decoded text instead)".into(),
        ));
    }
    Ok(())
}

/// The last row of logits `[B, T, V]` for each sequence, as `B` vectors.
fn last_rows(logits: &Tensor) -> Result<Vec<Vec<f32>>> {
    let (b, t, v) = (logits.shape()[0], logits.shape()[1], logits.shape()[2]);
    let all = logits.narrow(1, t - 1, 1)?.to_vec();
    Ok((0..b).map(|r| all[r * v..(r + 1) * v].to_vec()).collect())
}

/// `x` `[B, H, L, D]` with `n` zero positions in front: `[B, H, n + L, D]`.
fn pad_front(x: &Tensor, n: usize) -> Result<Tensor> {
    if n == 0 {
        return Ok(x.clone());
    }
    let s = x.shape();
    let zeros = match x.device() {
        Device::Cpu => Tensor::zeros(&[s[0], s[1], n, s[3]]),
        device => Tensor::zeros(&[s[0], s[1], n, s[3]]).to_device(device)?,
    };
    Ok(Tensor::cat(&[zeros, x.clone()], 2)?)
}

impl<'m> DecodeBatch<'m> {
    /// An empty batch over `model`.
    pub fn new(model: &'m dyn CausalLm) -> Self {
        DecodeBatch {
            model,
            rows: Vec::new(),
            pad: Vec::new(),
            cache: model.new_cache(),
            ctx: Ctx::eval(),
        }
    }

    /// The model it decodes with.
    pub fn model(&self) -> &'m dyn CausalLm {
        self.model
    }

    /// Sequences in the batch.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no sequence is running.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The ids of the running sequences, in batch order.
    pub fn ids(&self) -> Vec<u64> {
        self.rows.iter().map(|r| r.id).collect()
    }

    /// Prefills `prompt` alone, chooses its first token and adds it to the batch under `id`
    /// (checked by [`check_request`]). Returns its events: the first token, and its end if it
    /// ends at once (then it does not join).
    pub fn admit(
        &mut self,
        id: u64,
        prompt: &[usize],
        cfg: &GenerationConfig,
    ) -> Result<Vec<SeqEvent>> {
        check_request(self.model, prompt, cfg)?;
        let _g = no_grad();
        let mut row = Row {
            id,
            history: prompt.to_vec(),
            cfg: cfg.clone(),
            rng: Rng::new(cfg.seed),
            produced: 0,
        };
        if cfg.max_new_tokens == 0 {
            return Ok(vec![SeqEvent::Finished {
                id,
                reason: FinishReason::Length,
            }]);
        }
        let mut cache = self.model.new_cache();
        let logits =
            self.model
                .forward(prompt, 1, prompt.len(), Some(&mut cache), &mut self.ctx)?;
        let mut events = Vec::new();
        if let Some(reason) = Self::advance(&mut row, &last_rows(&logits)?[0], &mut events) {
            events.push(SeqEvent::Finished { id, reason });
            return Ok(events);
        }
        self.join(row, cache)?;
        Ok(events)
    }

    /// Chooses the next token of `row` from its logits; the reason it ends, if it does.
    fn advance(row: &mut Row, logits: &[f32], events: &mut Vec<SeqEvent>) -> Option<FinishReason> {
        let next = choose(logits, &row.history, &row.cfg, &mut row.rng);
        if row.cfg.eos_ids.contains(&(next as u32)) {
            return Some(FinishReason::Stop);
        }
        row.history.push(next);
        row.produced += 1;
        events.push(SeqEvent::Token {
            id: row.id,
            token: next,
        });
        (row.produced >= row.cfg.max_new_tokens).then_some(FinishReason::Length)
    }

    /// Pads the prefilled `cache` of `row` (length `n`) and the batch's to one length and stacks it.
    fn join(&mut self, row: Row, cache: Vec<KvCache>) -> Result<()> {
        let n = cache.first().map_or(0, KvCache::len);
        let l = self.cache.first().map_or(0, KvCache::len);
        if self.rows.is_empty() {
            self.cache = cache;
            self.pad = vec![0];
        } else {
            let grow = n.saturating_sub(l);
            for (all, new) in self.cache.iter_mut().zip(&cache) {
                let ((ka, va), (kn, vn)) = match (all.get()?, new.get()?) {
                    (Some(a), Some(b)) => (a, b),
                    _ => {
                        return Err(LmError::Config(
                            "a layer's cache is empty after prefill".into(),
                        ));
                    }
                };
                // [B, H, L, D] and [1, H, n, D] → [B + 1, H, max(L, n), D]
                let k = Tensor::cat(
                    &[pad_front(&ka, grow)?, pad_front(&kn, l.saturating_sub(n))?],
                    0,
                )?;
                let v = Tensor::cat(
                    &[pad_front(&va, grow)?, pad_front(&vn, l.saturating_sub(n))?],
                    0,
                )?;
                all.set(k, v);
            }
            self.pad.iter_mut().for_each(|p| *p += grow);
            self.pad.push(l.saturating_sub(n));
        }
        self.rows.push(row);
        Ok(())
    }

    /// One decoding step for every running sequence: one forward pass of `B` new tokens.
    /// Finished sequences leave the batch. Returns the step's events in batch order.
    pub fn step(&mut self) -> Result<Vec<SeqEvent>> {
        if self.rows.is_empty() {
            return Ok(Vec::new());
        }
        let _g = no_grad();
        // room for the tokens the running sequences may still take, up to RESERVE_AHEAD: the
        // cache then does not move while they decode (grown 64 positions at a time, all of it
        // moved each time: 4% of a step at batch 32); nothing to do once there is room, and
        // after a join the cache moves to host memory here instead of in the forward pass
        let ahead = self.rows.iter().map(|r| r.cfg.max_new_tokens.saturating_sub(r.produced)).max().unwrap_or(0);
        let room = self.cache.first().map_or(0, KvCache::len) + ahead.min(RESERVE_AHEAD);
        for cache in &mut self.cache {
            cache.reserve(room)?;
        }
        let b = self.rows.len();
        let ids: Vec<usize> = self
            .rows
            .iter()
            .map(|r| r.history.last().copied().unwrap_or(0))
            .collect();
        let logits = self.model.forward_padded(
            &ids,
            b,
            1,
            Some(&self.pad),
            Some(&mut self.cache),
            &mut self.ctx,
        )?;
        let logits = last_rows(&logits)?;
        let mut events = Vec::new();
        let mut keep = Vec::with_capacity(b);
        for (r, row) in self.rows.iter_mut().enumerate() {
            match Self::advance(row, &logits[r], &mut events) {
                Some(reason) => events.push(SeqEvent::Finished { id: row.id, reason }),
                None => keep.push(r),
            }
        }
        self.retain_rows(&keep)?;
        Ok(events)
    }

    /// Removes sequence `id` (a cancelled request); false when it is not running.
    pub fn remove(&mut self, id: u64) -> Result<bool> {
        let keep: Vec<usize> = (0..self.rows.len())
            .filter(|&r| self.rows[r].id != id)
            .collect();
        if keep.len() == self.rows.len() {
            return Ok(false);
        }
        self.retain_rows(&keep)?;
        Ok(true)
    }

    /// Keeps rows `keep` (in order) and drops the padding every remaining row shares.
    fn retain_rows(&mut self, keep: &[usize]) -> Result<()> {
        if keep.len() == self.rows.len() {
            return Ok(());
        }
        if keep.is_empty() {
            self.rows.clear();
            self.pad.clear();
            self.cache = self.model.new_cache();
            return Ok(());
        }
        let mut rows: Vec<Option<Row>> = std::mem::take(&mut self.rows)
            .into_iter()
            .map(Some)
            .collect();
        self.rows = keep.iter().filter_map(|&r| rows[r].take()).collect();
        self.pad = keep.iter().map(|&r| self.pad[r]).collect();
        let shared = self.pad.iter().copied().min().unwrap_or(0);
        self.pad.iter_mut().for_each(|p| *p -= shared);
        for layer in &mut self.cache {
            if let Some((k, v)) = layer.get()? {
                let l = k.shape()[2] - shared;
                // [B, H, L, D] → [B', H, L - shared, D]
                layer.set(
                    k.index_select(0, keep)?.narrow(2, shared, l)?,
                    v.index_select(0, keep)?.narrow(2, shared, l)?,
                );
            }
        }
        Ok(())
    }
}

/// Generates for several prompts at once, each with its own settings (sampling, seed, max new
/// tokens, end tokens): one forward pass per step serves every running sequence. Each result
/// equals [`crate::generate_ids`] on that prompt alone (exactly, for greedy decoding).
pub fn generate_batch_each(
    model: &dyn CausalLm,
    requests: &[(Vec<usize>, GenerationConfig)],
) -> Result<Vec<(Vec<usize>, FinishReason)>> {
    for (i, (prompt, cfg)) in requests.iter().enumerate() {
        check_request(model, prompt, cfg)
            .map_err(|e| LmError::Config(format!("request {i}: {e}")))?;
    }
    let mut batch = DecodeBatch::new(model);
    let mut outs: Vec<(Vec<usize>, Option<FinishReason>)> =
        vec![(Vec::new(), None); requests.len()];
    let mut record = |events: Vec<SeqEvent>| {
        for e in events {
            match e {
                SeqEvent::Token { id, token } => outs[id as usize].0.push(token),
                SeqEvent::Finished { id, reason } => outs[id as usize].1 = Some(reason),
            }
        }
    };
    for (i, (prompt, cfg)) in requests.iter().enumerate() {
        record(batch.admit(i as u64, prompt, cfg)?);
    }
    while !batch.is_empty() {
        record(batch.step()?);
    }
    Ok(outs
        .into_iter()
        .map(|(ids, r)| (ids, r.unwrap_or(FinishReason::Length)))
        .collect())
}
