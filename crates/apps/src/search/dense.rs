//! Dense search: cosine similarity of unit vectors, exact (a scan of every vector) below a
//! configurable size and through an HNSW graph above it.
//!
//! Vectors live in two places: the graph (built once, immutable) and a tail of vectors added
//! since, scanned exactly. Deleting marks a slot removed; searches skip it. When the tail and
//! the removed graph points together exceed [`DenseConfig::rebuild_fraction`] of the graph,
//! the index owner calls [`DenseIndex::rebuild`], which builds a graph of every live vector
//! (or drops the graph if fewer than [`DenseConfig::hnsw_threshold`] remain).

use serde::{Deserialize, Serialize};

use crate::search::hnsw::Graph;

/// When and how the dense index uses an HNSW graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenseConfig {
    /// Live vectors from which an HNSW graph is built (default 20 000); below it, every
    /// search is exact.
    pub hnsw_threshold: usize,
    /// Candidates kept while inserting into the graph (`efConstruction`, default 100).
    pub ef_construction: usize,
    /// Candidates kept while searching the graph (`ef`, default 100); at most this many
    /// results come from the graph.
    pub ef_search: usize,
    /// Rebuild when vectors added since the build plus removed graph points exceed this
    /// fraction of the graph (default 0.1).
    pub rebuild_fraction: f32,
    /// Choose each point's graph neighbours with the HNSW paper's heuristic (diverse
    /// directions) rather than simply the nearest (default false). `instant-distance` re-runs
    /// the heuristic over every neighbour's list on each insertion, which made building 10k
    /// 384-wide vectors about 6× slower (5 minutes on 2 busy cores); the simple choice's
    /// recall@10 is measured in `cargo xtask bench search` (docs/perf.md).
    pub neighbour_heuristic: bool,
    /// Seed of the graph's random layers.
    pub seed: u64,
}

impl Default for DenseConfig {
    fn default() -> Self {
        DenseConfig {
            hnsw_threshold: 20_000,
            ef_construction: 100,
            ef_search: 100,
            rebuild_fraction: 0.1,
            neighbour_heuristic: false,
            seed: 0x5eed,
        }
    }
}

/// Where a slot's vector is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Place {
    /// Point `id` of the graph.
    Graph(u32),
    /// Entry `i` of the tail.
    Tail(u32),
    /// Deleted.
    Removed,
}

/// Unit vectors by slot, searched by cosine similarity.
#[derive(Serialize, Deserialize)]
pub(crate) struct DenseIndex {
    dim: usize,
    places: Vec<Place>,
    /// Vectors added since the graph was built, `tail_slots.len() × dim`, row-major.
    tail: Vec<f32>,
    tail_slots: Vec<u32>,
    graph: Option<Graph>,
    removed_in_graph: usize,
}

impl DenseIndex {
    /// An empty index of `dim`-wide vectors.
    pub(crate) fn new(dim: usize) -> Self {
        DenseIndex { dim, places: Vec::new(), tail: Vec::new(), tail_slots: Vec::new(), graph: None, removed_in_graph: 0 }
    }

    /// Adds the unit vector of a new `slot` (to the tail).
    pub(crate) fn insert(&mut self, slot: u32, vector: &[f32]) {
        let slot_ix = slot as usize;
        if self.places.len() <= slot_ix {
            self.places.resize(slot_ix + 1, Place::Removed);
        }
        self.places[slot_ix] = Place::Tail(self.tail_slots.len() as u32);
        self.tail_slots.push(slot);
        self.tail.extend_from_slice(vector);
    }

    /// Marks `slot` removed.
    pub(crate) fn remove(&mut self, slot: u32) {
        if let Some(place) = self.places.get_mut(slot as usize) {
            if matches!(place, Place::Graph(_)) {
                self.removed_in_graph += 1;
            }
            *place = Place::Removed;
        }
    }

    /// Live vectors.
    pub(crate) fn live(&self) -> usize {
        self.places.iter().filter(|p| **p != Place::Removed).count()
    }

    /// Whether the graph is in use.
    pub(crate) fn has_graph(&self) -> bool {
        self.graph.is_some()
    }

    /// Whether [`Self::rebuild`] is due under `config`.
    pub(crate) fn needs_rebuild(&self, config: &DenseConfig) -> bool {
        match &self.graph {
            None => self.live() >= config.hnsw_threshold,
            Some(g) => (self.tail_slots.len() + self.removed_in_graph) as f32 > config.rebuild_fraction * g.len() as f32,
        }
    }

    /// Puts every live vector into a new graph (or into the tail, below the threshold) and
    /// drops removed ones.
    pub(crate) fn rebuild(&mut self, config: &DenseConfig) {
        let mut live: Vec<(u32, Vec<f32>)> = Vec::with_capacity(self.live());
        if let Some(g) = &self.graph {
            live.extend(g.points().filter(|&(id, slot, _)| self.places[slot as usize] == Place::Graph(id)).map(|(_, s, v)| (s, v.to_vec())));
        }
        live.extend(self.tail_entries().map(|(s, v)| (s, v.to_vec())));
        live.sort_by_key(|&(s, _)| s);
        self.tail.clear();
        self.tail_slots.clear();
        self.graph = None;
        self.removed_in_graph = 0;
        self.places.iter_mut().for_each(|p| *p = Place::Removed);
        if live.len() < config.hnsw_threshold {
            for (slot, v) in live {
                self.insert(slot, &v);
            }
            return;
        }
        let slots: Vec<u32> = live.iter().map(|&(s, _)| s).collect();
        let (graph, ids) = Graph::build(live, config);
        for (slot, id) in slots.into_iter().zip(ids) {
            self.places[slot as usize] = Place::Graph(id);
        }
        self.graph = Some(graph);
    }

    /// The `k` live slots most similar to the unit vector `query`, most similar first, with
    /// their cosine; `exact` scans the graph's vectors instead of searching it. A graph search
    /// that finds fewer than `k` live points (too many removed near the query) falls back to
    /// the scan.
    pub(crate) fn search(&self, query: &[f32], k: usize, exact: bool) -> Vec<(u32, f32)> {
        let mut scored: Vec<(u32, f32)> = self.tail_entries().map(|(s, v)| (s, dot(query, v))).collect();
        if let Some(g) = &self.graph {
            let live_in_graph = g.len() - self.removed_in_graph;
            let mut from_graph = Vec::new();
            if !exact {
                from_graph = g.search(query).into_iter().filter(|&(id, s, _)| self.places[s as usize] == Place::Graph(id)).map(|(_, s, c)| (s, c)).collect();
            }
            if exact || from_graph.len() < k.min(live_in_graph) {
                from_graph = g
                    .points()
                    .filter(|&(id, s, _)| self.places[s as usize] == Place::Graph(id))
                    .map(|(_, s, v)| (s, dot(query, v)))
                    .collect();
            }
            scored.extend(from_graph);
        }
        top_k(scored, k)
    }

    /// Every live vector with its slot, in no particular order.
    #[cfg(feature = "linalg")]
    pub(crate) fn live_vectors(&self) -> impl Iterator<Item = (u32, &[f32])> {
        let graph = self.graph.iter().flat_map(Graph::points).filter(|&(id, s, _)| self.places[s as usize] == Place::Graph(id));
        self.tail_entries().chain(graph.map(|(_, s, v)| (s, v)))
    }

    /// Approximate bytes held: vectors, graph links and slot tables.
    pub(crate) fn memory_bytes(&self) -> usize {
        let graph = self.graph.as_ref().map_or(0, |g| g.len() * (self.dim * 4 + 24 + 64 * 4 + 4));
        graph + self.tail.len() * 4 + self.tail_slots.len() * 4 + self.places.len() * 8
    }

    /// Checks an index read from a file: widths, and every place pointing where it should.
    pub(crate) fn check(&self, dim: usize) -> Result<(), String> {
        if self.dim != dim || self.tail.len() != self.tail_slots.len() * dim {
            return Err(format!("vectors of width {} in a tail of {} values for {} slots, expected width {dim}", self.dim, self.tail.len(), self.tail_slots.len()));
        }
        if let Some(g) = &self.graph {
            g.check(dim)?;
        }
        let slots = self.places.len();
        if let Some((_, slot, _)) = self.graph.iter().flat_map(Graph::points).find(|&(_, s, _)| s as usize >= slots) {
            return Err(format!("a graph point has slot {slot}, past the {slots} slots"));
        }
        if let Some(slot) = self.tail_slots.iter().find(|&&s| s as usize >= slots) {
            return Err(format!("a tail vector has slot {slot}, past the {slots} slots"));
        }
        for (slot, place) in self.places.iter().enumerate() {
            let ok = match *place {
                Place::Graph(id) => self.graph.as_ref().and_then(|g| g.slot(id)) == Some(slot as u32),
                Place::Tail(i) => self.tail_slots.get(i as usize) == Some(&(slot as u32)),
                Place::Removed => true,
            };
            if !ok {
                return Err(format!("slot {slot} points to {place:?}, which does not exist"));
            }
        }
        Ok(())
    }

    /// The live tail entries: (slot, vector).
    fn tail_entries(&self) -> impl Iterator<Item = (u32, &[f32])> {
        self.tail_slots
            .iter()
            .zip(self.tail.chunks_exact(self.dim.max(1)))
            .enumerate()
            .filter(|&(i, (&s, _))| self.places[s as usize] == Place::Tail(i as u32))
            .map(|(_, (&s, v))| (s, v))
    }
}

/// The `k` best of `scored` by score (higher first; ties by slot), sorted.
pub(crate) fn top_k(mut scored: Vec<(u32, f32)>, k: usize) -> Vec<(u32, f32)> {
    let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if k == 0 {
        return Vec::new();
    }
    if scored.len() > k {
        scored.select_nth_unstable_by(k - 1, order);
        scored.truncate(k);
    }
    scored.sort_by(order);
    scored
}

/// Dot product, in eight lanes so that the compiler vectorizes it.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8.remainder().iter().zip(b8.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a8.zip(b8) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
}
