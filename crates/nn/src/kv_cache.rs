//! Keys and values of earlier positions, kept for incremental decoding.

use loam_tensor::{Device, KvBuffer, Tensor};

use crate::error::Result;

/// Where the cached keys and values live.
#[derive(Debug, Clone, Default)]
enum Store {
    /// Nothing cached.
    #[default]
    Empty,
    /// Tensors `[B, H, T, D]`, grown by concatenation (a GPU, or what [`KvCache::set`] gave).
    Tensors(Tensor, Tensor),
    /// Host memory grown in place ([`KvCache::append_host`]).
    Host(KvBuffer),
}

/// The projected keys and values `[B, H, T, D]` of the positions decoded so far.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    store: Store,
}

impl KvCache {
    /// An empty cache.
    pub fn new() -> Self {
        KvCache::default()
    }

    /// The number of cached positions.
    pub fn len(&self) -> usize {
        match &self.store {
            Store::Empty => 0,
            Store::Tensors(k, _) => k.shape()[2],
            Store::Host(buf) => buf.len(),
        }
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every position.
    pub fn clear(&mut self) {
        self.store = Store::Empty;
    }

    /// The cached keys and values, if any (a copy when they are kept in host memory).
    pub fn get(&self) -> Result<Option<(Tensor, Tensor)>> {
        Ok(match &self.store {
            Store::Empty => None,
            Store::Tensors(k, v) => Some((k.clone(), v.clone())),
            Store::Host(buf) => Some(buf.to_tensors()?),
        })
    }

    /// Appends new keys and values `[B, H, t, D]` and returns all of them.
    pub fn append(&mut self, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let (k, v) = match &mut self.store {
            Store::Empty => (k.clone(), v.clone()),
            Store::Tensors(pk, pv) => (
                Tensor::cat(&[pk.clone(), k.clone()], 2)?,
                Tensor::cat(&[pv.clone(), v.clone()], 2)?,
            ),
            Store::Host(buf) => {
                buf.append(k, v)?;
                buf.to_tensors()?
            }
        };
        self.store = Store::Tensors(k.clone(), v.clone());
        Ok((k, v))
    }

    /// Appends new keys and values `[B, H, t, D]` on the CPU in place (the cache moves to host
    /// memory with room to grow, once) and returns the cache for [`KvBuffer::attend`]; `None`,
    /// appending nothing, when they are on another device.
    pub fn append_host(&mut self, k: &Tensor, v: &Tensor) -> Result<Option<&KvBuffer>> {
        if k.device() != Device::Cpu {
            return Ok(None);
        }
        match &mut self.store {
            Store::Host(buf) => buf.append(k, v)?,
            Store::Empty => self.store = Store::Host(KvBuffer::from_tensors(k, v)?),
            Store::Tensors(pk, pv) => {
                let mut buf = KvBuffer::from_tensors(pk, pv)?;
                buf.append(k, v)?;
                self.store = Store::Host(buf);
            }
        }
        Ok(match &self.store {
            Store::Host(buf) => Some(buf),
            _ => None,
        })
    }

    /// Makes room in host memory for `positions` positions in all, so that appending up to
    /// there (through [`KvCache::append_host`]) moves nothing: a decoder that knows how many
    /// tokens its sequences may still take calls it once (a cache on another device, or an
    /// empty one, is left as it is).
    pub fn reserve(&mut self, positions: usize) -> Result<()> {
        match &mut self.store {
            Store::Empty => {}
            Store::Host(buf) => buf.reserve(positions),
            Store::Tensors(k, v) => {
                if k.device() == Device::Cpu {
                    self.store = Store::Host(KvBuffer::with_room(k, v, positions)?);
                }
            }
        }
        Ok(())
    }

    /// The number of sequences cached, if any position is.
    pub fn batch(&self) -> Option<usize> {
        match &self.store {
            Store::Empty => None,
            Store::Tensors(k, _) => Some(k.shape()[0]),
            Store::Host(buf) => Some(buf.dims()[0]),
        }
    }

    /// Keeps sequences `rows` in that order: row `i` becomes old row `rows[i]` (in place in host
    /// memory, without leaving it).
    pub fn select_rows(&mut self, rows: &[usize]) -> Result<()> {
        match &mut self.store {
            Store::Empty => {}
            Store::Tensors(k, v) => {
                self.store = Store::Tensors(k.index_select(0, rows)?, v.index_select(0, rows)?)
            }
            Store::Host(buf) => *buf = buf.select_rows(rows)?,
        }
        Ok(())
    }

    /// Replaces the contents (used to keep a cross-attention's projected memory).
    pub fn set(&mut self, k: Tensor, v: Tensor) {
        self.store = Store::Tensors(k, v);
    }
}

#[cfg(test)]
mod tests {
    use loam_tensor::Rng;

    use super::*;

    #[test]
    fn reserving_moves_a_cache_to_host_memory_with_the_room_and_keeps_its_values() -> Result<()> {
        let mut rng = Rng::new(8);
        let (k, v) = (Tensor::randn(&[2, 3, 7, 4], 0.0, 1.0, &mut rng), Tensor::randn(&[2, 3, 7, 4], 0.0, 1.0, &mut rng));
        let mut cache = KvCache::new();
        cache.reserve(100)?;
        assert!(cache.is_empty(), "an empty cache stays empty");
        cache.set(k.clone(), v.clone());
        cache.reserve(100)?;
        let (nk, nv) = (Tensor::randn(&[2, 3, 1, 4], 0.0, 1.0, &mut rng), Tensor::randn(&[2, 3, 1, 4], 0.0, 1.0, &mut rng));
        let buf = cache.append_host(&nk, &nv)?.expect("a CPU cache is kept in host memory");
        assert_eq!((buf.len(), buf.capacity()), (8, 128));
        let (gk, gv) = cache.get()?.expect("eight positions");
        assert_eq!(gk.to_vec(), Tensor::cat(&[k, nk], 2)?.to_vec());
        assert_eq!(gv.to_vec(), Tensor::cat(&[v, nv], 2)?.to_vec());
        Ok(())
    }
}
