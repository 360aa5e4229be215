//! Elementwise ops over broadcast and transposed views large enough to be split over two
//! threads (`kernel::fill_rows`: blocks of rows on the caller and the fork helper, or rayon
//! inside a pool), against the values computed one element at a time.

use loam_tensor::{Rng, Tensor};

/// `[a, b, c]` values of a row-major tensor at `(i, j, l)`.
fn at(v: &[f32], [_, b, c]: [usize; 3], (i, j, l): (usize, usize, usize)) -> f32 {
    v[(i * b + j) * c + l]
}

/// Sums, products, a unary map and row-major copies over strided views of `[a, b, c]` shapes
/// (the first axis long or short, rows of every length against the blocks of ~16k values).
fn check(in_pool: bool) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let mut rng = Rng::new(31);
    for shape in [[300, 7, 31], [3, 150, 101], [2, 1, 40_000], [70, 40, 13]] {
        let [a, b, c] = shape;
        let x = Tensor::randn(&[a, b, c], 0.0, 1.0, &mut rng);
        let row = Tensor::randn(&[c], 0.0, 1.0, &mut rng);
        // x held as [c, b, a] and viewed back: every axis strided
        let xt = x.permute(&[2, 1, 0]).unwrap().contiguous().permute(&[2, 1, 0]).unwrap();
        // the first two axes swapped, the last still contiguous (copied a row at a time)
        let swapped = x.permute(&[1, 0, 2]).unwrap();
        let run = || {
            let sum = xt.add(&row).unwrap();
            let prod = xt.mul(&x).unwrap();
            let exp = xt.exp();
            let copy = xt.contiguous();
            (sum.to_vec(), prod.to_vec(), exp.to_vec(), copy.to_vec(), swapped.contiguous().to_vec())
        };
        let (sum, prod, exp, copy, rows) = if in_pool { pool.install(run) } else { run() };
        let (xv, rv) = (x.to_vec(), row.to_vec());
        for i in 0..a {
            for j in 0..b {
                for (l, &r) in rv.iter().enumerate() {
                    let e = (i * b + j) * c + l;
                    let v = at(&xv, shape, (i, j, l));
                    assert_eq!(sum[e], v + r, "{shape:?} sum at ({i}, {j}, {l}), pool {in_pool}");
                    assert_eq!(prod[e], v * v, "{shape:?} product at ({i}, {j}, {l}), pool {in_pool}");
                    assert_eq!(copy[e], v, "{shape:?} copy at ({i}, {j}, {l}), pool {in_pool}");
                    assert_eq!(rows[(j * a + i) * c + l], v, "{shape:?} row copy at ({i}, {j}, {l}), pool {in_pool}");
                    assert!((exp[e] - v.exp()).abs() <= 1e-6 * v.exp(), "{shape:?} exp at ({i}, {j}, {l})");
                }
            }
        }
    }
}

#[test]
fn elementwise_ops_over_strided_views_match_element_by_element_values() {
    check(false);
    check(true);
}
