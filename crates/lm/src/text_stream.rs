//! Streaming generated text: each new id is decoded with the ids before it, and the text is
//! handed on as soon as it is whole characters that cannot still become a stop string. The
//! decoder-only ([`crate::generate_until`]) and encoder–decoder
//! ([`crate::generate_seq2seq_until`]) paths share it, so both stream and stop alike.

use loam_text::Tokenizer;

use crate::error::{LmError, Result};
use crate::generate::{FinishReason, Generated};
use crate::stop_strings::stop_cut;

/// The text of the ids generated so far, and how much of it was handed on.
pub(crate) struct TextStream<'a> {
    tokenizer: &'a dyn Tokenizer,
    stops: &'a [String],
    /// Bytes of the longest stop string: a tail this long minus one is held back.
    longest_stop: usize,
    on_text: &'a mut dyn FnMut(&str) -> bool,
    ids: Vec<u32>,
    text: String,
    /// Bytes of `text` already handed on.
    emitted: usize,
    /// A stop string came, or `on_text` asked to stop.
    stopped: bool,
    error: Option<LmError>,
}

impl<'a> TextStream<'a> {
    /// A stream that hands text to `on_text` (which may stop generation by returning false)
    /// and ends at the first of `stops` (not handed on).
    pub(crate) fn new(
        tokenizer: &'a dyn Tokenizer,
        stops: &'a [String],
        on_text: &'a mut dyn FnMut(&str) -> bool,
    ) -> Self {
        let longest_stop = stops.iter().map(String::len).max().unwrap_or(0);
        TextStream {
            tokenizer,
            stops,
            longest_stop,
            on_text,
            ids: Vec::new(),
            text: String::new(),
            emitted: 0,
            stopped: false,
            error: None,
        }
    }

    /// Takes the next generated id; false when generation must end (a stop string, a stop
    /// asked by `on_text`, or an id the tokenizer cannot decode).
    pub(crate) fn push(&mut self, id: usize) -> bool {
        self.ids.push(id as u32);
        match self.tokenizer.decode(&self.ids, true) {
            Ok(t) => self.text = t,
            Err(e) => {
                self.error = Some(e.into());
                return false;
            }
        }
        if let Some(cut) = stop_cut(&self.text, self.stops) {
            self.text.truncate(cut);
            self.stopped = true;
        }
        // hold back an incomplete character and a tail that could still become a stop string
        let mut safe = self.text.len();
        if !self.stopped {
            safe = self.text.trim_end_matches('\u{FFFD}').len().saturating_sub(self.longest_stop.saturating_sub(1));
        }
        while !self.text.is_char_boundary(safe) {
            safe -= 1;
        }
        if safe > self.emitted {
            let go_on = (self.on_text)(&self.text[self.emitted..safe]);
            self.emitted = safe;
            if !go_on {
                self.text.truncate(self.emitted);
                self.stopped = true;
            }
        }
        !self.stopped
    }

    /// Hands on the text held back and returns the whole: `reason` is why the model stopped,
    /// [`FinishReason::Stop`] when the stream did; `prompt_tokens` is recorded as given.
    pub(crate) fn finish(self, reason: FinishReason, prompt_tokens: usize) -> Result<Generated> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.emitted < self.text.len() {
            (self.on_text)(&self.text[self.emitted..]);
        }
        let finish_reason = if self.stopped { FinishReason::Stop } else { reason };
        Ok(Generated { text: self.text, ids: self.ids, finish_reason, prompt_tokens })
    }
}
