//! Principal-component analysis through LAPACK: the singular value decomposition of the
//! centred data matrix (`ndarray-linalg`, feature `linalg`).
//!
//! For rows `X` (n × d) with mean row `μ`, the centred `Xc = X − μ = U Σ Vᵀ`; the principal axes
//! are the first rows of `Vᵀ`, the variance along axis `i` is `σᵢ² / (n − 1)`, and a row's
//! coordinates are `Xc · vᵢ`. Each axis is signed so that its largest coordinate (by absolute
//! value, the first on ties) is positive, so the same data always gives the same picture.

use ndarray::{Array2, Axis};
use ndarray_linalg::SVD;

use crate::search::error::{Result, SearchError};

/// The first principal components of a set of row vectors, and the rows projected on them.
#[derive(Clone, Debug, PartialEq)]
pub struct Pca {
    /// The mean row, subtracted before the analysis: `[d]`.
    pub mean: Vec<f64>,
    /// The principal axes, unit vectors, largest variance first: `k × [d]`.
    pub components: Vec<Vec<f64>>,
    /// The variance along each axis (sample variance, divided by n − 1): `[k]`.
    pub variance: Vec<f64>,
    /// Each axis's share of the total variance, in [0, 1]: `[k]`.
    pub variance_ratio: Vec<f64>,
    /// Every row's coordinates on the axes: `n × [k]`.
    pub projected: Vec<Vec<f64>>,
}

/// The first `k` principal components of `rows` (all of one width). Fewer than two rows, rows
/// of different widths, a value that is not finite, `k` of 0 or past the width, or rows that
/// are all identical (no direction of variance) are an error.
pub fn pca<R: AsRef<[f64]>>(rows: &[R], k: usize) -> Result<Pca> {
    let n = rows.len();
    if n < 2 {
        return Err(SearchError::Invalid(format!("PCA needs at least 2 vectors, got {n}")));
    }
    let d = rows[0].as_ref().len();
    if let Some((i, row)) = rows.iter().enumerate().find(|(_, r)| r.as_ref().len() != d) {
        return Err(SearchError::Invalid(format!("PCA: vector {i} has width {}, vector 0 has width {d}", row.as_ref().len())));
    }
    if k == 0 || k > d {
        return Err(SearchError::Invalid(format!("PCA: cannot take {k} components of {d}-wide vectors")));
    }
    if let Some(i) = rows.iter().position(|r| r.as_ref().iter().any(|v| !v.is_finite())) {
        return Err(SearchError::Invalid(format!("PCA: vector {i} holds a value that is not finite")));
    }
    // x: [n, d]
    let mut x = Array2::from_shape_vec((n, d), rows.iter().flat_map(|r| r.as_ref().iter().copied()).collect())
        .map_err(|e| SearchError::Invalid(format!("PCA: {e}")))?;
    let mean = x.mean_axis(Axis(0)).ok_or_else(|| SearchError::Invalid("PCA of no vectors".into()))?;
    x -= &mean;
    let total: f64 = x.iter().map(|v| v * v).sum();
    let scale: f64 = rows.iter().flat_map(|r| r.as_ref()).map(|v| v * v).sum::<f64>();
    if total <= scale * 1e-24 {
        return Err(SearchError::Invalid(format!("PCA: all {n} vectors are identical, so there is no direction of variance")));
    }
    // sigma: [min(n, d)], vt: [d, d]
    let (_, sigma, vt) = x.svd(false, true).map_err(|e| SearchError::Invalid(format!("PCA: the SVD of a {n}×{d} matrix failed: {e}")))?;
    let vt = vt.ok_or_else(|| SearchError::Invalid("PCA: LAPACK returned no right singular vectors".into()))?;
    let mut components = Vec::with_capacity(k);
    let mut variance = Vec::with_capacity(k);
    for i in 0..k {
        let mut axis = vt.row(i).to_vec();
        let largest = axis.iter().copied().reduce(|a, b| if b.abs() > a.abs() { b } else { a }).unwrap_or(0.0);
        if largest < 0.0 {
            axis.iter_mut().for_each(|v| *v = -*v);
        }
        components.push(axis);
        let s = sigma.get(i).copied().unwrap_or(0.0);
        variance.push(s * s / (n - 1) as f64);
    }
    let variance_ratio = variance.iter().map(|v| v * (n - 1) as f64 / total).collect();
    // projected: [n, k]
    let projected = x.rows().into_iter().map(|row| components.iter().map(|c| row.iter().zip(c).map(|(a, b)| a * b).sum()).collect()).collect();
    Ok(Pca { mean: mean.to_vec(), components, variance, variance_ratio, projected })
}
