//! The AMX loop of the f32 products of `amx_f32`: their k is six times the product's, so a
//! block kept in tiles over the whole of k (as `amx::for_each_block` does for bf16 weights)
//! streams its operands from beyond the L2 cache. Here k goes in chunks of [`CHUNK`] tile steps:
//! a column pair's chunk of packed weights (32 KiB) stays in the L1 cache while every 32-row
//! block of a pass of [`PASS`] rows (a 512 KiB chunk of activations, in the L2 cache) meets it,
//! and the 32 × 32 sums are reloaded into the tiles chunk after chunk from a strip of the pass.
//! Both operands come in contiguous 1 KiB tiles, which the caches' prefetchers follow (rows of
//! activations `6k` values apart halved the speed of the tile loads here).

use super::amx::with_tiles;
use crate::fork::for_each_part;

/// Tile steps (32 values of k each) per chunk of k.
const CHUNK: usize = 16;
/// Rows per pass (at most; fewer when there are too few column pairs to feed every thread).
const PASS: usize = 512;

/// Adds Σ over `kt` steps of A (`kt` consecutive 1024-byte tiles at `a0` and at `a1`) times B
/// (as many at `b0` and at `b1`) to the 32 × 32 f32 sums at `c`
/// (rows of 128 bytes: columns 0–15, then 16–31), starting from zero when `load` is false.
///
/// # Safety
/// The tile configuration is loaded on this thread (`with_tiles`); `kt ≥ 1`; `1024 · kt` bytes
/// are readable at `a0`, `a1`, `b0` and `b1`; 4096 bytes readable and writable at `c`.
unsafe fn block(a0: *const u16, a1: *const u16, b0: *const u16, b1: *const u16, kt: usize, c: *mut f32, load: bool) {
    // SAFETY: forwarded from the caller.
    unsafe {
        std::arch::asm!(
            "test {load}, {load}",
            "jz 3f",
            "tileloadd tmm0, [{c} + {ldc}*1]",
            "tileloadd tmm1, [{c} + {ldc}*1 + 64]",
            "tileloadd tmm2, [{c} + {ldc}*1 + 2048]",
            "tileloadd tmm3, [{c} + {ldc}*1 + 2112]",
            "jmp 2f",
            "3:",
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            "2:",
            "tileloadd tmm4, [{a0} + {s}*1]",
            "tileloadd tmm6, [{b0} + {s}*1]",
            "tileloadd tmm7, [{b1} + {s}*1]",
            "tileloadd tmm5, [{a1} + {s}*1]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            "add {a0}, 1024",
            "add {a1}, 1024",
            "add {b0}, 1024",
            "add {b1}, 1024",
            "dec {kt}",
            "jnz 2b",
            "tilestored [{c} + {ldc}*1], tmm0",
            "tilestored [{c} + {ldc}*1 + 64], tmm1",
            "tilestored [{c} + {ldc}*1 + 2048], tmm2",
            "tilestored [{c} + {ldc}*1 + 2112], tmm3",
            a0 = inout(reg) a0 => _,
            a1 = inout(reg) a1 => _,
            b0 = inout(reg) b0 => _,
            b1 = inout(reg) b1 => _,
            kt = inout(reg) kt => _,
            s = in(reg) 64usize,
            ldc = in(reg) 128usize,
            c = in(reg) c,
            load = in(reg) usize::from(load),
            options(nostack),
        );
    }
}

/// The product of `a` (`mp / 16` row blocks of `kt` tiles) and `b` (`np / 16` column groups of
/// `kt` tiles), both packed by `amx_f32`, handed over a row of a column pair at a time:
/// `store(i, j0, sums)` for row `i < mp` and columns `j0..j0 + 32`. Tasks (passes of rows ×
/// groups of column pairs) are split over the threads, each loading the tile configuration
/// once; the caller checks `amx_on`.
pub(crate) fn product(
    a: &[u16],
    mp: usize,
    b: &[u16],
    np: usize,
    kt: usize,
    store: impl Fn(usize, usize, &[f32; 32]) + Sync,
) {
    let group = kt * 512;
    assert!(
        kt > 0
            && mp.is_multiple_of(32)
            && np.is_multiple_of(32)
            && a.len() >= mp / 16 * group
            && b.len() >= np / 16 * group,
        "AMX f32 operands"
    );
    let (pairs, threads) = (np / 32, rayon::current_num_threads());
    let per = pairs.div_ceil(2 * threads).max(1);
    let groups = pairs.div_ceil(per);
    // rows per task: a pass, or fewer when the column pairs alone leave threads idle
    let rows = if groups * mp.div_ceil(PASS) >= threads { PASS } else { mp.div_ceil(threads).next_multiple_of(32) };
    let passes = mp.div_ceil(rows);
    for_each_part(passes * groups, |t| {
        let (r0, g) = ((t / groups) * rows, t % groups);
        let rows = rows.min(mp - r0);
        // the 32 × 32 sums of every row block of the pass, for one column pair
        let mut strip = vec![0f32; rows * 32];
        with_tiles(|| {
            for jp in g * per..pairs.min((g + 1) * per) {
                for s0 in (0..kt).step_by(CHUNK) {
                    let b0 = b[2 * jp * group + s0 * 512..].as_ptr();
                    let b1 = b[(2 * jp + 1) * group + s0 * 512..].as_ptr();
                    for i0 in (0..rows).step_by(32) {
                        let a0 = a[(r0 + i0) / 16 * group + s0 * 512..].as_ptr();
                        let a1 = a[(r0 + i0 + 16) / 16 * group + s0 * 512..].as_ptr();
                        // SAFETY: tiles configured (with_tiles; the caller checked amx_on);
                        // row blocks (r0+i0)/16 and the next < mp/16 of `a` and column groups
                        // 2jp, 2jp+1 < np/16 of `b` hold kt − s0 ≥ steps more tiles (assert
                        // above); the strip has 32 rows of 32 sums from row i0.
                        unsafe { block(a0, a1, b0, b1, CHUNK.min(kt - s0), strip[i0 * 32..].as_mut_ptr(), s0 > 0) };
                    }
                }
                for (r, sums) in strip.chunks_exact(32).enumerate() {
                    let sums: &[f32; 32] = sums.try_into().expect("rows of 32");
                    store(r0 + r, 32 * jp, sums);
                }
            }
        })
    });
}
