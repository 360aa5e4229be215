//! The embedding map (feature `linalg`): the LAPACK PCA against a power-iteration PCA written
//! here, degenerate inputs, and the map of an index drawn to a PNG.
#![cfg(feature = "linalg")]

use std::path::PathBuf;

use loam_apps::search::{Document, Embedder, HashingEmbedder, IndexConfig, MapGroup, SearchIndex, UNTAGGED, pca};
use loam_tensor::Rng;

/// `n` rows of width `d` with standard deviations 6, 3, 1, 0.5, 0.2, … along the axes (a clear
/// spectrum), rotated by a Householder reflection and shifted so the axes are not the basis.
fn spectrum_data(n: usize, d: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = Rng::new(seed);
    let scale = |j: usize| [6.0, 3.0, 1.0, 0.5][j.min(3)] * if j > 3 { 0.4 } else { 1.0 };
    let u: Vec<f64> = (0..d).map(|_| f64::from(rng.normal())).collect();
    let norm = u.iter().map(|v| v * v).sum::<f64>().sqrt();
    let u: Vec<f64> = u.iter().map(|v| v / norm).collect();
    (0..n)
        .map(|_| {
            let z: Vec<f64> = (0..d).map(|j| f64::from(rng.normal()) * scale(j)).collect();
            let uz: f64 = u.iter().zip(&z).map(|(a, b)| a * b).sum();
            z.iter().zip(&u).enumerate().map(|(j, (zj, uj))| zj - 2.0 * uz * uj + j as f64).collect()
        })
        .collect()
}

/// The first `k` principal axes and their variances by power iteration on the covariance
/// matrix, deflating after each axis.
fn power_pca(rows: &[Vec<f64>], k: usize) -> (Vec<Vec<f64>>, Vec<f64>, f64) {
    let (n, d) = (rows.len(), rows[0].len());
    let mean: Vec<f64> = (0..d).map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n as f64).collect();
    let mut cov = vec![vec![0.0; d]; d];
    for r in rows {
        for a in 0..d {
            for b in 0..d {
                cov[a][b] += (r[a] - mean[a]) * (r[b] - mean[b]) / (n - 1) as f64;
            }
        }
    }
    let trace: f64 = (0..d).map(|a| cov[a][a]).sum();
    let (mut axes, mut variances) = (Vec::new(), Vec::new());
    for _ in 0..k {
        let mut v: Vec<f64> = (0..d).map(|j| 1.0 + j as f64 * 0.01).collect();
        let mut lambda = 0.0;
        for _ in 0..2000 {
            let w: Vec<f64> = (0..d).map(|a| (0..d).map(|b| cov[a][b] * v[b]).sum()).collect();
            lambda = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            v = w.iter().map(|x| x / lambda).collect();
        }
        for a in 0..d {
            for b in 0..d {
                cov[a][b] -= lambda * v[a] * v[b];
            }
        }
        axes.push(v);
        variances.push(lambda);
    }
    (axes, variances, trace)
}

#[test]
fn svd_pca_equals_power_iteration() {
    let rows = spectrum_data(300, 12, 7);
    let got = pca(&rows, 2).unwrap();
    let (axes, variances, trace) = power_pca(&rows, 2);
    for i in 0..2 {
        let sign = if got.components[i].iter().zip(&axes[i]).map(|(a, b)| a * b).sum::<f64>() < 0.0 { -1.0 } else { 1.0 };
        for (a, b) in got.components[i].iter().zip(&axes[i]) {
            assert!((a - sign * b).abs() < 1e-4, "component {i}: {a} vs {}", sign * b);
        }
        assert!((got.variance[i] - variances[i]).abs() < 1e-4 * variances[i], "variance {i}: {} vs {}", got.variance[i], variances[i]);
        assert!((got.variance_ratio[i] - variances[i] / trace).abs() < 1e-4, "ratio {i}");
        for (row, xy) in rows.iter().zip(&got.projected) {
            let expected: f64 = row.iter().zip(&got.mean).zip(&axes[i]).map(|((x, m), v)| (x - m) * v * sign).sum();
            assert!((xy[i] - expected).abs() < 1e-4, "projection on {i}: {} vs {expected}", xy[i]);
        }
    }
    assert!(got.variance[0] > 20.0 && got.variance[1] > 5.0, "the spectrum 36, 9, … was not recovered: {:?}", got.variance);
}

#[test]
fn degenerate_input_is_a_clear_error() {
    let message = |rows: &[Vec<f64>]| pca(rows, 2).unwrap_err().to_string();
    assert!(message(&[]).contains("at least 2 vectors, got 0"), "{}", message(&[]));
    assert!(message(&[vec![1.0, 2.0]]).contains("at least 2 vectors, got 1"));
    let same = vec![vec![0.1, 0.2, 0.3]; 5];
    assert!(message(&same).contains("all 5 vectors are identical"), "{}", message(&same));
    assert!(message(&[vec![1.0, 2.0], vec![1.0]]).contains("width"));
    assert!(message(&[vec![1.0, f64::NAN], vec![1.0, 2.0]]).contains("not finite"));
    assert!(pca(&[vec![1.0, 2.0], vec![2.0, 1.0]], 3).unwrap_err().to_string().contains("3 components"));
}

#[test]
fn the_map_of_an_index_is_grouped_by_tag_and_drawn_atomically() {
    let embedder = HashingEmbedder::new(64);
    let mut index = SearchIndex::new(embedder.identity(), IndexConfig::default());
    let doc = |id: &str, text: &str, tag: Option<&str>| Document { id: id.into(), text: text.into(), tags: tag.into_iter().map(String::from).collect() };
    index.add(&[doc("one", "Refunds take five days.", Some("returns"))], &embedder).unwrap();
    let one = index.embedding_map(MapGroup::Tag).unwrap_err().to_string();
    assert!(one.contains("at least 2 chunks"), "{one}");
    index
        .add(
            &[
                doc("two", "Orders ship in two days.", Some("shipping")),
                doc("three", "Tracking arrives by e-mail.", Some("shipping")),
                doc("four", "Gift cards never expire.", None),
            ],
            &embedder,
        )
        .unwrap();
    let map = index.embedding_map(MapGroup::Tag).unwrap();
    assert_eq!(map.groups, ["returns", "shipping", UNTAGGED]);
    assert_eq!(map.points.iter().map(|p| p.group.as_str()).collect::<Vec<_>>(), ["returns", "shipping", "shipping", UNTAGGED]);
    assert!(map.variance_ratio[0] >= map.variance_ratio[1] && map.variance_ratio[0] + map.variance_ratio[1] <= 1.0 + 1e-9);
    let dir = std::env::temp_dir().join(format!("loam-map-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let png: PathBuf = dir.join("map.png");
    map.draw(&png).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["map.png"], "a temporary file was left behind");
    assert!(map.draw(&dir.join("map.jpg")).unwrap_err().to_string().contains(".png or .svg"));
    std::fs::remove_dir_all(&dir).unwrap();
}
