//! The embedding map of an index: every chunk vector projected on the index's first two
//! principal components ([`pca`]), each point in a group (its document's first tag, or its
//! document), so that a person can see whether the knowledge base's topics separate. Drawn by
//! [`EmbeddingMap::draw`].

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::search::error::{Result, SearchError};
use crate::search::index::SearchIndex;
use crate::search::pca::pca;

/// The group of chunks whose document has no tag (drawn grey).
pub const UNTAGGED: &str = "untagged";

/// What colours the points of a map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapGroup {
    /// The document's first tag ([`UNTAGGED`] when it has none).
    Tag,
    /// The document's id.
    Document,
}

impl fmt::Display for MapGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MapGroup::Tag => "tag",
            MapGroup::Document => "document",
        })
    }
}

impl FromStr for MapGroup {
    type Err = SearchError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "tag" => Ok(MapGroup::Tag),
            "document" => Ok(MapGroup::Document),
            other => Err(SearchError::Invalid(format!("unknown map grouping `{other}`: expected tag or document"))),
        }
    }
}

/// One chunk on the map.
#[derive(Clone, Debug, PartialEq)]
pub struct MapPoint {
    /// The chunk's document.
    pub doc_id: String,
    /// Its group: the document's first tag, or its id (see [`MapGroup`]).
    pub group: String,
    /// Coordinate on the first principal component.
    pub x: f64,
    /// Coordinate on the second principal component.
    pub y: f64,
}

/// Every chunk of an index on its first two principal components.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddingMap {
    /// The points, in chunk order.
    pub points: Vec<MapPoint>,
    /// The groups, sorted, [`UNTAGGED`] last.
    pub groups: Vec<String>,
    /// How the points are grouped.
    pub by: MapGroup,
    /// Share of the vectors' variance along each of the two components.
    pub variance_ratio: [f64; 2],
    /// The encoder's model name.
    pub model: String,
    /// Documents in the index.
    pub documents: usize,
}

impl SearchIndex {
    /// The 2-D PCA map of the index's chunk vectors, grouped `by` tag or document; an index of
    /// fewer than two chunks, or whose vectors are all identical, is an error.
    pub fn embedding_map(&self, by: MapGroup) -> Result<EmbeddingMap> {
        let mut live: Vec<(u32, &[f32])> = self.dense.live_vectors().collect();
        live.sort_by_key(|&(slot, _)| slot);
        let mut rows = Vec::with_capacity(live.len());
        let mut points = Vec::with_capacity(live.len());
        for (slot, vector) in live {
            let Some(chunk) = self.chunks.get(slot as usize).and_then(Option::as_ref) else {
                continue;
            };
            let group = match by {
                MapGroup::Document => chunk.doc.clone(),
                MapGroup::Tag => self.docs.get(&chunk.doc).and_then(|d| d.tags.first()).cloned().unwrap_or_else(|| UNTAGGED.to_owned()),
            };
            rows.push(vector.iter().map(|&v| f64::from(v)).collect::<Vec<f64>>());
            points.push(MapPoint { doc_id: chunk.doc.clone(), group, x: 0.0, y: 0.0 });
        }
        if rows.len() < 2 {
            return Err(SearchError::Invalid(format!("a map needs at least 2 chunks; the index has {}", rows.len())));
        }
        let pca = pca(&rows, 2)?;
        for (point, xy) in points.iter_mut().zip(&pca.projected) {
            (point.x, point.y) = (xy[0], xy[1]);
        }
        let mut groups: Vec<String> = points.iter().map(|p| p.group.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        groups.sort_by_key(|g| (by == MapGroup::Tag && g == UNTAGGED, g.clone()));
        Ok(EmbeddingMap {
            points,
            groups,
            by,
            variance_ratio: [pca.variance_ratio[0], pca.variance_ratio[1]],
            model: self.identity.model.clone(),
            documents: self.len(),
        })
    }
}
