//! `cargo xtask search map --index INDEX --out map.png [--by tag|document]`: the index's chunk
//! vectors on their first two principal components, one colour per tag (or document). Needs
//! the feature `linalg` (LAPACK through ndarray-linalg; Debian's `libopenblas-dev`).

use std::path::Path;

use anyhow::Result;

/// What colours the points, on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    /// The document's first tag (its first folder); untagged chunks grey.
    Tag,
    /// The document.
    Document,
}

/// Draws the map of the index at `index` to `out`.
#[cfg(feature = "linalg")]
pub fn run(index: &Path, out: &Path, by: By) -> Result<()> {
    use loam_apps::search::{MapGroup, SearchIndex};

    let identity = SearchIndex::read_identity(index)?;
    let loaded = SearchIndex::load(index, &identity)?;
    let by = match by {
        By::Tag => MapGroup::Tag,
        By::Document => MapGroup::Document,
    };
    let map = loaded.embedding_map(by)?;
    map.draw(out)?;
    let [r1, r2] = map.variance_ratio.map(|r| r * 100.0);
    eprintln!(
        "search map: {} chunks of {} documents in {} {}s, PC1 {r1:.1} % and PC2 {r2:.1} % of variance -> {}",
        map.points.len(),
        map.documents,
        map.groups.len(),
        map.by,
        out.display()
    );
    Ok(())
}

/// Without the feature: says how to build it.
#[cfg(not(feature = "linalg"))]
pub fn run(_index: &Path, _out: &Path, _by: By) -> Result<()> {
    anyhow::bail!(
        "search map needs the `linalg` feature (LAPACK; Debian package libopenblas-dev): cargo run --release -p xtask --features linalg -- search map …"
    )
}
