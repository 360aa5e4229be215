//! Which keys each query may attend to: causal, key padding and arbitrary masks, combined.

use loam_tensor::{Mask, TensorError};

use crate::error::Result;

/// A description of the keys hidden from each query. `build` turns it into one boolean mask
/// (true = hidden) that broadcasts against attention scores `[B, H, Tq, Tk]`.
#[derive(Debug, Clone, Default)]
pub struct AttentionMask {
    /// Hide keys after the query's own position.
    pub causal: bool,
    /// Per sequence, the number of real keys; keys at or after it are padding.
    pub key_lengths: Option<Vec<usize>>,
    /// Per sequence, the number of leading padding keys (left-padded batches).
    pub left_pad: Option<Vec<usize>>,
    /// Any further mask (true = hidden) broadcastable to `[B, H, Tq, Tk]`.
    pub custom: Option<Mask>,
}

impl AttentionMask {
    /// No masking.
    pub fn none() -> Self {
        AttentionMask::default()
    }

    /// Causal masking (decoder self-attention).
    pub fn causal() -> Self {
        AttentionMask { causal: true, ..Default::default() }
    }

    /// Adds key padding: sequence `i` has `lengths[i]` real keys.
    pub fn with_key_lengths(mut self, lengths: Vec<usize>) -> Self {
        self.key_lengths = Some(lengths);
        self
    }

    /// Adds left padding: the first `pad[i]` keys of sequence `i` are hidden.
    pub fn with_left_pad(mut self, pad: Vec<usize>) -> Self {
        self.left_pad = Some(pad);
        self
    }

    /// Adds an arbitrary mask (true = hidden).
    pub fn with_custom(mut self, mask: Mask) -> Self {
        self.custom = Some(mask);
        self
    }

    /// The combined mask for `b` sequences of `tq` queries and `tk` keys, where query `i` sits
    /// at absolute position `offset + i` (keys already cached come first). `None` when
    /// nothing is hidden.
    pub fn build(&self, b: usize, tq: usize, tk: usize, offset: usize) -> Result<Option<Mask>> {
        let mut mask: Option<Mask> = None;
        let mut add = |m: Mask| -> Result<()> {
            mask = Some(match mask.take() {
                Some(prev) => prev.or(&m)?,
                None => m,
            });
            Ok(())
        };
        if self.causal {
            add(Mask::from_fn(&[tq, tk], |ix| ix[1] > offset + ix[0]))?;
        }
        if let Some(pad) = &self.left_pad {
            if pad.len() != b {
                return Err(TensorError::ShapeMismatch {
                    op: "attention mask",
                    lhs: vec![b, tq, tk],
                    rhs: vec![pad.len()],
                    detail: "one left padding per sequence".into(),
                }
                .into());
            }
            add(Mask::from_fn(&[b, 1, 1, tk], |ix| ix[3] < pad[ix[0]]))?;
        }
        if let Some(lengths) = &self.key_lengths {
            if lengths.len() != b {
                return Err(TensorError::ShapeMismatch {
                    op: "attention mask",
                    lhs: vec![b, tq, tk],
                    rhs: vec![lengths.len()],
                    detail: "one key length per sequence".into(),
                }
                .into());
            }
            add(Mask::from_fn(&[b, 1, 1, tk], |ix| ix[3] >= lengths[ix[0]]))?;
        }
        if let Some(custom) = &self.custom {
            add(custom.clone())?;
        }
        Ok(mask)
    }
}
