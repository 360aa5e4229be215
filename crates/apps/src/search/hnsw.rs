//! The HNSW graph of a dense index, on the `instant-distance` crate: unit vectors as points
//! (distance 1 − cosine), each graph point mapped back to the chunk slot it came from.
//!
//! `instant-distance` builds a graph once from all its points (in parallel, so two builds of
//! the same vectors may differ slightly) and cannot insert or delete; the dense index keeps
//! vectors added since the build in an exact-search tail and marks deleted ones as removed,
//! and rebuilds the graph when they grow past a fraction of it (see [`super::DenseConfig`]).
//! The built graph is saved with the index, so a reloaded index answers exactly as before.

use instant_distance::{Builder, Heuristic, Hnsw, Point, Search};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::search::dense::{DenseConfig, dot};

/// A unit vector, stored in the graph; serialized as its little-endian bytes.
#[derive(Clone, Debug)]
pub(crate) struct Unit(pub(crate) Vec<f32>);

impl Point for Unit {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - dot(&self.0, &other.0)
    }
}

impl Serialize for Unit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = self.0.iter().flat_map(|x| x.to_le_bytes()).collect();
        s.serialize_bytes(&bytes)
    }
}

impl<'de> Deserialize<'de> for Unit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Bytes;
        impl Visitor<'_> for Bytes {
            type Value = Unit;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("the little-endian bytes of f32 values")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Unit, E> {
                if !v.len().is_multiple_of(4) {
                    return Err(E::custom(format!("a vector of {} bytes, not a multiple of 4", v.len())));
                }
                Ok(Unit(v.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()))
            }
        }
        d.deserialize_bytes(Bytes)
    }
}

/// An HNSW graph over some of the index's vectors.
#[derive(Serialize, Deserialize)]
pub(crate) struct Graph {
    hnsw: Hnsw<Unit>,
    /// The chunk slot of each graph point, by point id.
    slots: Vec<u32>,
}

impl Graph {
    /// Builds the graph of `vectors` (each with its slot); returns it and the point id of each
    /// vector, in order.
    pub(crate) fn build(vectors: Vec<(u32, Vec<f32>)>, config: &DenseConfig) -> (Graph, Vec<u32>) {
        let (slots, points): (Vec<u32>, Vec<Unit>) = vectors.into_iter().map(|(s, v)| (s, Unit(v))).unzip();
        let heuristic = config.neighbour_heuristic.then(Heuristic::default);
        let (hnsw, ids) = Builder::default()
            .ef_construction(config.ef_construction)
            .ef_search(config.ef_search)
            .select_heuristic(heuristic)
            .seed(config.seed)
            .build_hnsw(points);
        let mut by_point = vec![0u32; slots.len()];
        for (slot, id) in slots.iter().zip(&ids) {
            by_point[id.into_inner() as usize] = *slot;
        }
        let point_ids = ids.iter().map(|id| id.into_inner()).collect();
        (Graph { hnsw, slots: by_point }, point_ids)
    }

    /// Number of points.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The slot of point `id`.
    pub(crate) fn slot(&self, id: u32) -> Option<u32> {
        self.slots.get(id as usize).copied()
    }

    /// Every point: (point id, slot, vector).
    pub(crate) fn points(&self) -> impl Iterator<Item = (u32, u32, &[f32])> {
        self.hnsw.iter().map(|(id, p)| (id.into_inner(), self.slots[id.into_inner() as usize], p.0.as_slice()))
    }

    /// Checks a graph read from a file: one slot per point, every vector `dim` wide.
    pub(crate) fn check(&self, dim: usize) -> Result<(), String> {
        if self.hnsw.iter().count() != self.slots.len() {
            return Err(format!("the graph has {} points but {} slots", self.hnsw.iter().count(), self.slots.len()));
        }
        match self.hnsw.iter().find(|(_, p)| p.0.len() != dim) {
            Some((_, p)) => Err(format!("a graph vector has width {}, expected {dim}", p.0.len())),
            None => Ok(()),
        }
    }

    /// The approximate nearest points to `query`, nearest first: (point id, slot, cosine).
    pub(crate) fn search(&self, query: &[f32]) -> Vec<(u32, u32, f32)> {
        let mut search = Search::default();
        let query = Unit(query.to_vec());
        self.hnsw
            .search(&query, &mut search)
            .map(|item| {
                let id = item.pid.into_inner();
                (id, self.slots[id as usize], 1.0 - item.distance)
            })
            .collect()
    }
}
