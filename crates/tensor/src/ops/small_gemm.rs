//! Products of small matrices (attention's per-head `q·kᵀ` and `weights·v` on short
//! sequences: a few thousand multiply-adds each, hundreds per batch), computed directly. A
//! general GEMM spends more on setting up its blocking than on such a product.
//!
//! Each output element is summed over `k` in order, so results do not depend on threads.

use crate::kernel::wide;

/// Above this many multiply-adds a product goes to the general GEMM.
pub(crate) const SMALL_MACS: usize = 1 << 15;

/// `c = a·b` for `a` (m×k, strides `a_rs`, `a_cs`), `b` (k×n, strides `b_rs`, `b_cs`) and `c`
/// (m×n, row-major, every element written).
///
/// # Safety
/// Every offset `i·a_rs + p·a_cs` (`i < m`, `p < k`) is inside `a`'s allocation, likewise for
/// `b`; `c` has room for m·n values and overlaps neither.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn small_gemm(
    m: usize,
    n: usize,
    k: usize,
    a: *const f32,
    a_rs: isize,
    a_cs: isize,
    b: *const f32,
    b_rs: isize,
    b_cs: isize,
    c: *mut f32,
) {
    // SAFETY (all blocks below): indices stay in the ranges of the contract.
    let at = |i: usize, p: usize| unsafe { *a.offset(i as isize * a_rs + p as isize * a_cs) };
    wide(
        #[inline(always)]
        || {
            if b_cs == 1 {
                // rows of b are contiguous: c[i, :] = Σ_p a[i, p]·b[p, :]
                for i in 0..m {
                    let row = unsafe { std::slice::from_raw_parts_mut(c.add(i * n), n) };
                    row.fill(0.0);
                    for p in 0..k {
                        let aip = at(i, p);
                        let brow = unsafe { std::slice::from_raw_parts(b.offset(p as isize * b_rs), n) };
                        for (o, &bv) in row.iter_mut().zip(brow) {
                            *o += aip * bv;
                        }
                    }
                }
            } else if b_rs == 1 && a_cs == 1 {
                // columns of b and rows of a are contiguous: c[i, j] = a[i, :] · b[:, j]
                for i in 0..m {
                    let arow = unsafe { std::slice::from_raw_parts(a.offset(i as isize * a_rs), k) };
                    for j in 0..n {
                        let bcol = unsafe { std::slice::from_raw_parts(b.offset(j as isize * b_cs), k) };
                        unsafe { *c.add(i * n + j) = crate::kernel::dot(arow, bcol) };
                    }
                }
            } else {
                for i in 0..m {
                    for j in 0..n {
                        let mut s = 0.0f32;
                        for p in 0..k {
                            s += at(i, p) * unsafe { *b.offset(p as isize * b_rs + j as isize * b_cs) };
                        }
                        unsafe { *c.add(i * n + j) = s };
                    }
                }
            }
        },
    );
}
