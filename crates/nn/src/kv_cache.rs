//! Keys and values of earlier positions, kept for incremental decoding.

use loam_tensor::{Device, KvBuffer, KvPrecision, Tensor};

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
    /// How host memory keeps them.
    precision: KvPrecision,
}

impl KvCache {
    /// An empty cache (f32).
    pub fn new() -> Self {
        KvCache::default()
    }

    /// An empty cache that keeps keys and values in host memory in `precision` (f16 halves
    /// what a decoding step reads; kept tensors, on a GPU or given by [`KvCache::set`], stay as
    /// they are). An f16 cache that meets a key or value beyond f16's range (±65504) moves to
    /// f32, keeping what it holds, and stays there.
    pub fn with_precision(precision: KvPrecision) -> Self {
        KvCache { store: Store::Empty, precision }
    }

    /// How host memory keeps the keys and values.
    pub fn precision(&self) -> KvPrecision {
        self.precision
    }

    /// A host buffer of `k` and `v` with room for `positions` in `precision`, or in f32 when
    /// f16 cannot hold them (`precision` then becomes f32; an error of another kind, which
    /// f32 meets too, leaves it as it was).
    fn host(k: &Tensor, v: &Tensor, positions: usize, precision: &mut KvPrecision) -> Result<KvBuffer> {
        match KvBuffer::with_room(k, v, positions, *precision) {
            Err(_) if *precision == KvPrecision::F16 => {
                let buf = KvBuffer::with_room(k, v, positions, KvPrecision::F32)?;
                *precision = KvPrecision::F32;
                Ok(buf)
            }
            buf => Ok(buf?),
        }
    }

    /// Appends `k` and `v` to `buf`, which moves to f32 first when it is f16 and cannot hold
    /// them (`precision` then becomes f32; an error of another kind, a wrong shape, leaves
    /// both as they were).
    fn append_to(buf: &mut KvBuffer, k: &Tensor, v: &Tensor, precision: &mut KvPrecision) -> Result<()> {
        match buf.append(k, v) {
            Err(_) if buf.precision() == KvPrecision::F16 => {
                let (pk, pv) = buf.to_tensors()?;
                let mut wide = KvBuffer::with_room(&pk, &pv, buf.capacity(), KvPrecision::F32)?;
                wide.append(k, v)?;
                *buf = wide;
                *precision = KvPrecision::F32;
                Ok(())
            }
            appended => Ok(appended?),
        }
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
                KvCache::append_to(buf, k, v, &mut self.precision)?;
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
            Store::Host(buf) => KvCache::append_to(buf, k, v, &mut self.precision)?,
            Store::Empty => self.store = Store::Host(KvCache::host(k, v, 0, &mut self.precision)?),
            Store::Tensors(pk, pv) => {
                let mut buf = KvCache::host(pk, pv, 0, &mut self.precision)?;
                KvCache::append_to(&mut buf, k, v, &mut self.precision)?;
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
                    self.store = Store::Host(KvCache::host(k, v, positions, &mut self.precision)?);
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
    fn an_f16_cache_moves_to_f32_for_a_value_beyond_its_range_and_keeps_what_it_held() -> Result<()> {
        let mut rng = Rng::new(9);
        let k = Tensor::randn(&[1, 2, 5, 4], 0.0, 1.0, &mut rng);
        let v = Tensor::randn(&[1, 2, 5, 4], 0.0, 1.0, &mut rng);
        let mut cache = KvCache::with_precision(KvPrecision::F16);
        cache.append_host(&k, &v)?;
        let (held, _) = cache.get()?.expect("five positions");
        assert_ne!(held.to_vec(), k.to_vec(), "f16 rounds");
        let big = Tensor::from_vec(vec![1e5, -2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], &[1, 2, 1, 4])?;
        let buf = cache.append_host(&big, &big)?.expect("host memory");
        assert_eq!((buf.precision(), buf.len()), (KvPrecision::F32, 6));
        assert_eq!(cache.precision(), KvPrecision::F32, "and stays f32");
        let (gk, gv) = cache.get()?.expect("six positions");
        assert_eq!(gk.to_vec(), Tensor::cat(&[held, big.clone()], 2)?.to_vec(), "rounded values kept, 1e5 exact");
        assert_eq!(gv.narrow(2, 5, 1)?.to_vec(), big.to_vec());
        let mut fresh = KvCache::with_precision(KvPrecision::F16);
        fresh.append_host(&big, &big)?;
        assert_eq!(fresh.precision(), KvPrecision::F32, "beyond f16 from the first append");
        let mut shaped = KvCache::with_precision(KvPrecision::F16);
        shaped.append_host(&k, &v)?;
        assert!(shaped.append_host(&Tensor::zeros(&[1, 3, 1, 4]), &Tensor::zeros(&[1, 3, 1, 4])).is_err());
        assert_eq!(shaped.precision(), KvPrecision::F16, "a wrong shape is an error, not a reason to widen");
        assert_eq!(shaped.len(), 5);
        Ok(())
    }

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
