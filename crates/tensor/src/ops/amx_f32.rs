//! f32 matrix products on AMX, as accurate as an f32 sgemm ("bf16×6", as cuBLAS's BF16x9 FP32
//! emulation): each f32 operand is split exactly into three bf16 parts, `a = a₁ + a₂ + a₃` with
//! `a₁ = bf16(a)`, `a₂ = bf16(a − a₁)`, `a₃ = a − a₁ − a₂` (round to nearest; every difference is
//! exact in f32, and `a₃` fits bf16's 8 bits), and `a·b` is the sum of the six partial products
//! of size above 2⁻²⁴·|a||b|: `a₃b₁ + a₂b₂ + a₁b₃ + a₂b₁ + a₁b₂ + a₁b₁` (the three dropped,
//! `a₂b₃ + a₃b₂ + a₃b₃`, total at most 2⁻²³·|a||b|, below f32's own rounding of the product).
//! The six are one AMX bf16 product with `k' = 6k`, on operands concatenated along k:
//! `[A₃ A₂ A₁ A₂ A₁ A₁] · [B₁; B₂; B₃; B₁; B₂; B₁]`, smallest terms first so that the large
//! `A₁B₁` terms are added last (the accumulator's rounding then matches an f32 FMA chain's).
//! `tdpbf16ps` forms each bf16 product exactly and sums in f32, so the error against the exact
//! product stays within a small factor of an f32 FMA kernel's own (`tests/amx_f32.rs` pins it).
//!
//! Limits: AMX treats subnormal bf16 inputs and results as zero, so the parts of an operand
//! below 2⁻¹²⁶ (≈ 1.2·10⁻³⁸) are lost: an operand of magnitude below about 2⁻¹⁰² loses its low
//! bits, and products of parts whose value falls below 2⁻¹²⁶ vanish; each output's absolute
//! error grows by at most about `6k·2⁻¹²⁶`, far below anything a model's values reach. A
//! NaN or infinite operand makes the outputs it meets NaN (its second part is NaN), where an
//! sgemm gives ±∞ for an infinity. The largest finite f32s, which would round to
//! bf16 infinity, are split by truncation instead (still exact, slightly larger dropped terms).
//!
//! Both operands are split and packed on the fly for every product (no cache: the same path
//! serves training, where the weights change every step), in parallel, into packing buffers
//! kept per calling thread (grown to the largest product's, e.g. 32 MiB for a 256-row prompt
//! through SmolLM2-360M's 960 × 2560 weights); any strides (the
//! backward products pass transposed views). The switch: off by default (on the machine
//! measured, six bf16 products cost more than one f32 FMA product: see [`use_amx_f32`]);
//! [`amx_f32_products`] or `LOAM_AMX_F32=1` turns it on where AMX is available and not turned
//! off (`LOAM_AMX=0` / `amx_kernels(false)`, `force_portable`).

#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unused_imports))]

use std::cell::RefCell;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::kernel::wide;

use super::amx::{AMX_MIN_ROWS, amx_on};
use crate::send_ptr::SendPtr;
#[cfg(target_arch = "x86_64")]
use super::amx_f32_kernel::product;
use crate::fork::for_each_part;

/// bf16 values along k in one tile step (16 pairs, 64 bytes).
const STEP: usize = 32;
/// The six segments of the concatenated k axis: which part of A (0 = a₁, 1 = a₂, 2 = a₃) meets
/// which part of B, smallest products first.
const SEGMENTS: [(usize, usize); 6] = [(2, 0), (1, 1), (0, 2), (1, 0), (0, 1), (0, 0)];

/// Whether f32 products use AMX ([`amx_f32_products`], or `LOAM_AMX_F32`).
static WANTED: AtomicBool = AtomicBool::new(false);
/// Reads `LOAM_AMX_F32` once, before the first use of [`WANTED`].
static WANTED_FROM_ENV: Once = Once::new();
/// f32 products computed on AMX, for tests that check which path ran.
static CALLS: AtomicU64 = AtomicU64::new(0);

fn init_from_env() {
    WANTED_FROM_ENV.call_once(|| {
        let on = std::env::var("LOAM_AMX_F32").is_ok_and(|v| matches!(v.trim(), "1" | "true" | "on"));
        WANTED.store(on, Ordering::Relaxed);
    });
}

/// Sends f32 matrix products of 16 rows or more to AMX with the exact three-way bf16 split
/// (`true`, where the CPU has AMX), or keeps them on the f32 FMA kernels (`false`, the
/// default: slower on the machines measured, see docs/perf.md), for the whole process from the
/// next product on; overrides `LOAM_AMX_F32` (`LOAM_AMX_F32=1` starts on). `amx_kernels(false)`
/// and `force_portable` keep them off too.
pub fn amx_f32_products(on: bool) {
    init_from_env();
    WANTED.store(on, Ordering::Relaxed);
}

/// How many f32 matrix products (batch elements counted one by one) AMX has computed in this
/// process.
pub fn amx_f32_calls() -> u64 {
    CALLS.load(Ordering::Relaxed)
}

/// Whether an `m × k` by `k × n` f32 product goes to [`gemm`] (unless a streaming kernel of
/// `matmul` takes it): turned on ([`amx_f32_products`] or `LOAM_AMX_F32=1`), AMX available
/// and on, and at least 16 rows. Off by default: measured on the one AMX machine at hand
/// (2 vCPUs, interleaved with the FMA kernels in one process, `cargo xtask bench
/// amx-f32-pairwise`), no shape won (0.1–0.35× the FMA kernels, docs/perf.md, "f32 products
/// on AMX"): six bf16 products cost more than one f32 product there.
pub(crate) fn use_amx_f32(m: usize) -> bool {
    m >= AMX_MIN_ROWS
        && {
            init_from_env();
            WANTED.load(Ordering::Relaxed)
        }
        && amx_on()
}

/// f32 bits → bf16 bits, rounding to nearest even (a NaN may become an infinity: [`split16`]
/// keeps NaN in the next part).
#[inline(always)]
fn round(b: u32) -> u32 {
    b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16
}

/// The parts of 16 values: `[a₁, a₂, a₃]`, each 16 bf16 bits (see the module docs). Written
/// without branches so that it compiles to vector code inside [`wide`].
#[inline(always)]
fn split16(v: &[f32; 16]) -> [[u16; 16]; 3] {
    let mut parts = [[0u16; 16]; 3];
    for (c, &x) in v.iter().enumerate() {
        let b = x.to_bits();
        let h = round(b);
        // rounding the largest finite values would overflow to infinity: truncate them (exact)
        let h = if h & 0x7fff == 0x7f80 { b >> 16 } else { h };
        let r1 = x - f32::from_bits(h << 16);
        let h2 = round(r1.to_bits());
        let r2 = r1 - f32::from_bits(h2 << 16);
        parts[0][c] = h as u16;
        parts[1][c] = h2 as u16;
        parts[2][c] = round(r2.to_bits()) as u16;
    }
    parts
}

/// A read-only strided matrix that may cross to rayon workers.
#[derive(Clone, Copy)]
struct Strided {
    ptr: *const f32,
    rs: isize,
    cs: isize,
}
unsafe impl Send for Strided {}
unsafe impl Sync for Strided {}

impl Strided {
    /// Up to 16 values of row `i` from column `j` (`len` of them, zeros after).
    ///
    /// # Safety
    /// Row `i`, columns `j..j + len` are inside the caller's operand; `len ≤ 16`.
    #[inline(always)]
    unsafe fn row16(self, i: usize, j: usize, len: usize) -> [f32; 16] {
        let mut v = [0f32; 16];
        // SAFETY: forwarded from the caller.
        unsafe {
            let p = self.ptr.offset(i as isize * self.rs + j as isize * self.cs);
            if self.cs == 1 {
                v[..len].copy_from_slice(std::slice::from_raw_parts(p, len));
            } else {
                for (c, d) in v[..len].iter_mut().enumerate() {
                    *d = *p.offset(c as isize * self.cs);
                }
            }
        }
        v
    }
}

/// Runs `body` with a reusable packing buffer of `len` bf16 values (contents unspecified),
/// kept per thread so that repeated products do not fault fresh pages in (a fresh one when
/// the thread's buffer is in use further up its stack).
fn with_buffer<R>(
    slot: &'static std::thread::LocalKey<RefCell<Vec<u16>>>,
    len: usize,
    body: impl FnOnce(&mut [u16]) -> R,
) -> R {
    slot.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0);
            }
            body(&mut buf[..len])
        }
        Err(_) => body(&mut vec![0u16; len]),
    })
}

thread_local! {
    /// The packed activations of this thread's latest product.
    static A_BUFFER: RefCell<Vec<u16>> = const { RefCell::new(Vec::new()) };
    /// The packed weights of this thread's latest product.
    static B_BUFFER: RefCell<Vec<u16>> = const { RefCell::new(Vec::new()) };
}

/// A mutable pointer to packing buffers that may cross to the workers; each writes its own rows.
#[derive(Clone, Copy)]
struct SendMut(*mut u16);
unsafe impl Send for SendMut {}
unsafe impl Sync for SendMut {}

impl SendMut {
    /// `len` values from element `at` (a method, so that closures capture the whole wrapper).
    ///
    /// # Safety
    /// The range is inside the buffer and no other thread touches it meanwhile.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice(&self, at: usize, len: usize) -> &mut [u16] {
        // SAFETY: forwarded from the caller.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(at), len) }
    }
}

/// `x` `[m, k]` (any strides) split into `a` in tiles, `[mp / 16, kt, 16 rows, 32]` bf16 (each
/// tile 1 KiB, contiguous, so that the kernel streams it): term q = s·k2 + p of row i (segment
/// s holding part `SEGMENTS[s].0` of `x[i, p]`) at tile block i / 16, tile q / 32, row i % 16,
/// lane q % 32; zeros past k in each segment, past 6·k2 and past m.
fn pack_a(x: Strided, m: usize, k: usize, k2: usize, kt: usize, a: &mut [u16]) {
    let blocks = a.len() / (kt * 512);
    let pa = SendMut(a.as_mut_ptr());
    for_each_part(blocks, |blk| {
        // SAFETY: the tiles of row block `blk` belong to this part only.
        let tiles = unsafe { pa.slice(blk * kt * 512, kt * 512) };
        tiles.fill(0);
        wide(|| {
            for r in 0..16.min(m.saturating_sub(blk * 16)) {
                for p0 in (0..k).step_by(16) {
                    let len = 16.min(k - p0);
                    // SAFETY: row blk·16 + r < m, columns p0..p0+len ≤ k.
                    let parts = split16(&unsafe { x.row16(blk * 16 + r, p0, len) });
                    for (s, &(part, _)) in SEGMENTS.iter().enumerate() {
                        // values q.. of the segment, cut where they cross into the next tile
                        let (mut q, mut src) = (s * k2 + p0, &parts[part][..len]);
                        while !src.is_empty() {
                            let take = (STEP - q % STEP).min(src.len());
                            tiles[(q / STEP) * 512 + r * 32 + q % STEP..][..take].copy_from_slice(&src[..take]);
                            (q, src) = (q + take, &src[take..]);
                        }
                    }
                }
            }
        })
    });
}

/// `w` `[k, n]` (any strides) split into `b` in the tile layout `[np / 16, kt, 16 rows, 16
/// columns, 2]`: column group g, concatenated term q = s·k2 + p (p even) at tile q / 32, row
/// (q % 32) / 2, the pair (p, p + 1) of each column; zeros past k, n and 6·k2.
fn pack_b(w: Strided, k: usize, n: usize, k2: usize, kt: usize, b: &mut [u16]) {
    let groups = b.len() / (kt * 512);
    let pb = SendMut(b.as_mut_ptr());
    for_each_part(groups, |g| {
        // SAFETY: column group g's tiles belong to this part only.
        let tiles = unsafe { pb.slice(g * kt * 512, kt * 512) };
        let cols = 16.min(n.saturating_sub(g * 16));
        if cols == 0 {
            tiles.fill(0);
            return;
        }
        wide(|| {
            for p in (0..k).step_by(2) {
                // SAFETY: rows p (and p + 1 when < k) and columns g·16..g·16+cols ≤ n.
                let (r0, r1) = unsafe {
                    (w.row16(p, g * 16, cols), if p + 1 < k { w.row16(p + 1, g * 16, cols) } else { [0.0; 16] })
                };
                let (s0, s1) = (split16(&r0), split16(&r1));
                let mut pairs = [[0u16; 32]; 3];
                for (t, pair) in pairs.iter_mut().enumerate() {
                    for c in 0..16 {
                        pair[2 * c] = s0[t][c];
                        pair[2 * c + 1] = s1[t][c];
                    }
                }
                for (s, &(_, pb)) in SEGMENTS.iter().enumerate() {
                    let q = s * k2 + p;
                    tiles[(q / STEP) * 512 + (q % STEP / 2) * 32..][..32].copy_from_slice(&pairs[pb]);
                }
            }
            let end = 6 * k2;
            tiles[(end / STEP) * 512 + (end % STEP / 2) * 32..].fill(0);
        })
    });
}

/// `out[i·ldo + j] = Σ_p x[i·a_rs + p·a_cs] · w[p·b_rs + j·b_cs]` for an `m × k` by `k × n`
/// product, on AMX with the six-term bf16 split; the caller checks [`use_amx_f32`].
///
/// Layouts: each of the six segments of the concatenated k axis is `k2` = k rounded up to even
/// long (so that the bf16 pairs of a tile row never straddle two segments), the whole padded
/// to tile steps of 32; both operands in 1 KiB tiles ([`pack_a`], [`pack_b`]). The
/// product runs in `kernel::product` (chunks of k kept in the L1 and L2 caches).
///
/// # Safety
/// `x` and `w` address `m × k` and `k × n` readable f32 matrices with these strides; `out`
/// addresses `m` writable rows of `n` f32, `ldo` apart, that nothing else reads or writes
/// during the call.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm(
    m: usize,
    k: usize,
    n: usize,
    x: *const f32,
    a_rs: isize,
    a_cs: isize,
    w: *const f32,
    b_rs: isize,
    b_cs: isize,
    out: *mut f32,
    ldo: usize,
) {
    let (mp, np, k2) = (m.div_ceil(32) * 32, n.div_ceil(32) * 32, k.next_multiple_of(2));
    let kt = (6 * k2).div_ceil(STEP);
    let (x, w) = (Strided { ptr: x, rs: a_rs, cs: a_cs }, Strided { ptr: w, rs: b_rs, cs: b_cs });
    with_buffer(&A_BUFFER, mp * kt * 512, |a| {
        with_buffer(&B_BUFFER, np / 16 * kt * 512, |b| {
            pack_a(x, m, k, k2, kt, a);
            pack_b(w, k, n, k2, kt, b);
            let out = SendPtr(out);
            product(a, mp, b, np, kt, |i, j0, row: &[f32; 32]| {
                if i < m {
                    let cols = 32.min(n - j0);
                    // SAFETY: row i < m, columns j0..j0+cols ≤ n of the caller's output; each
                    // row of each column pair is handed over once.
                    let dst = unsafe { std::slice::from_raw_parts_mut(out.get().add(i * ldo + j0), cols) };
                    dst.copy_from_slice(&row[..cols]);
                }
            });
        })
    });
    CALLS.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::split16;

    /// The three parts sum back to the value exactly, each fits bf16, and they shrink by 2⁷;
    /// a non-finite value gives a NaN part (its products are NaN).
    #[test]
    fn split_is_exact() {
        let part = |h: u16| f32::from_bits(u32::from(h) << 16);
        let mut v = [0f32; 16];
        let mut x = 1.0f32;
        for i in 0..500u32 {
            for (c, d) in v.iter_mut().enumerate() {
                x = (x * 1.618_034 + i as f32 * 0.001).rem_euclid(7.0) - 3.5;
                *d = [x, x * 1e30, x * 1e-30, f32::MAX, -f32::MAX, 1.0 / 3.0][c % 6];
            }
            let [a1, a2, a3] = split16(&v);
            for c in 0..16 {
                let x = v[c];
                // in f64: near f32::MAX, a₁ + a₂ alone can exceed the f32 range
                let sum = f64::from(part(a1[c])) + f64::from(part(a2[c])) + f64::from(part(a3[c]));
                assert_eq!(sum, f64::from(x), "split of {x}");
                assert!(part(a2[c]).abs() <= x.abs() * 2f32.powi(-7), "second part of {x}");
            }
        }
        let mut v = [1.0f32; 16];
        v[0] = f32::INFINITY;
        v[1] = f32::NAN;
        let parts = split16(&v);
        assert!((0..2).all(|c| parts.iter().any(|p| part(p[c]).is_nan())));
    }
}
