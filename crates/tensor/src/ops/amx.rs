//! Intel AMX (Advanced Matrix Extensions): eight tile registers of up to 16 rows × 64 bytes
//! and one instruction that multiplies two tiles into a third, `tdpbf16ps` (bf16 pairs summed
//! into f32) or `tdpbssd` (int8 quads summed into i32), 16 × 16 × 32 (bf16) or 16 × 16 × 64
//! (int8) multiply-adds each. The matrix products of `amx_bf16`, `amx_int8` and `amx_q4` use
//! them for inputs of [`AMX_MIN_ROWS`] rows or more; this file holds what they share: the check
//! that the CPU and the kernel allow AMX, the switch, the tile configuration and the inner loop.
//!
//! Availability: CPUID leaf 7 must report AMX-TILE, AMX-BF16 and AMX-INT8, XCR0 must enable the
//! tile state (bits 17 and 18), and Linux must grant the process the tile data state
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`, asked once per process; Linux 5.16
//! or later). Elsewhere, or when any of these fails, the products keep their other paths.
//! Rust's AMX intrinsics are unstable, so the instructions are written with `asm!`.
//!
//! The switch: on by default where available; [`amx_kernels`] or `LOAM_AMX=0` turns it off,
//! and `force_portable` does too. The tile configuration is per thread, so each parallel task
//! loads it before its first tile instruction and releases the tiles when it ends.

#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Once, OnceLock};

use crate::kernel::{KernelPath, kernel_path};
use crate::send_ptr::SendPtr;

/// Input rows from which a matrix product goes to the AMX kernels.
pub(crate) const AMX_MIN_ROWS: usize = 16;

/// Whether the AMX kernels are wanted ([`amx_kernels`], or `LOAM_AMX`).
static WANTED: AtomicBool = AtomicBool::new(true);
/// Reads `LOAM_AMX` once, before the first use of [`WANTED`].
static WANTED_FROM_ENV: Once = Once::new();
/// Whether int8 weights meet int8 activations ([`amx_int8_activations`]) or bf16 ones.
static INT8_ACTIVATIONS: AtomicBool = AtomicBool::new(false);
/// Products computed by the AMX kernels, for tests that check which path ran.
static CALLS: AtomicU64 = AtomicU64::new(0);

fn init_from_env() {
    WANTED_FROM_ENV.call_once(|| {
        let off =
            std::env::var("LOAM_AMX").is_ok_and(|v| matches!(v.trim(), "0" | "false" | "off"));
        WANTED.store(!off, Ordering::Relaxed);
        let int8 = std::env::var("LOAM_AMX_INT8_ACTIVATIONS")
            .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "on"));
        INT8_ACTIVATIONS.store(int8, Ordering::Relaxed);
    });
}

/// Lets matrix products of 16 rows or more with bf16, int8 or 4-bit weights use AMX (`true`,
/// the default where the CPU has it) or keeps them on the AVX-512 / portable paths (`false`),
/// for the whole process from the next product on; overrides `LOAM_AMX` (`LOAM_AMX=0` starts
/// off). AMX rounds the activations to bf16, as oneDNN's kernels do (int8 weights can take
/// per-row int8 activations instead: [`amx_int8_activations`]).
pub fn amx_kernels(on: bool) {
    init_from_env();
    WANTED.store(on, Ordering::Relaxed);
}

/// How products with int8 weights use AMX, for the whole process from the next product on:
/// `false` (the default) rounds the activations to bf16 and multiplies them by the int8 weights
/// widened to bf16 (exact) with `tdpbf16ps`; `true` quantizes the activations per row to int8
/// and uses `tdpbssd`, twice the multiply-adds an instruction but less accurate (per-row scales
/// leave few levels to the channels beside an outlier: MiniLM's embeddings fall to cosine
/// 0.986 of f32, below the 0.995 int8 keeps otherwise). Overrides `LOAM_AMX_INT8_ACTIVATIONS`
/// (`=1` starts on).
pub fn amx_int8_activations(on: bool) {
    init_from_env();
    INT8_ACTIVATIONS.store(on, Ordering::Relaxed);
}

/// Whether int8 weights meet int8 activations ([`amx_int8_activations`]).
pub(crate) fn int8_activations() -> bool {
    init_from_env();
    INT8_ACTIVATIONS.load(Ordering::Relaxed)
}

/// Whether this CPU and operating system run AMX tiles with bf16 and int8 (checked, and the
/// tile state requested from Linux, once per process).
pub fn amx_available() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(detect)
}

/// How many matrix products the AMX kernels have computed in this process.
pub fn amx_calls() -> u64 {
    CALLS.load(Ordering::Relaxed)
}

/// Whether the next matrix product goes to AMX: wanted, available, and the wide path not
/// forced off.
pub(crate) fn amx_on() -> bool {
    init_from_env();
    WANTED.load(Ordering::Relaxed) && kernel_path() == KernelPath::Wide && amx_available()
}

/// Counts one product computed by AMX.
pub(crate) fn count_call() {
    CALLS.fetch_add(1, Ordering::Relaxed);
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn detect() -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};
    // SAFETY: CPUID exists on every x86-64 CPU; leaf 7 is read only when the maximum leaf allows
    // (the intrinsics are safe from Rust 1.94 on, unsafe before: the MSRV is older).
    #[allow(unused_unsafe)]
    let (max_leaf, leaf1) = unsafe { (__cpuid(0).eax, __cpuid(1)) };
    if max_leaf < 7 || leaf1.ecx & (1 << 27) == 0 {
        return false; // no leaf 7, or no OSXSAVE (XGETBV)
    }
    // SAFETY: leaf 7 exists (checked above).
    #[allow(unused_unsafe)]
    let edx = unsafe { __cpuid_count(7, 0).edx };
    let (bf16, tile, int8) = (
        edx & (1 << 22) != 0,
        edx & (1 << 24) != 0,
        edx & (1 << 25) != 0,
    );
    if !(bf16 && tile && int8) {
        return false;
    }
    // SAFETY: OSXSAVE is set (checked above), so XGETBV runs.
    let xcr0 = unsafe { _xgetbv(0) };
    if xcr0 & (0b11 << 17) != 0b11 << 17 {
        return false;
    }
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: arch_prctl with these arguments only changes the process's permitted xstate.
    unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        ) == 0
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn detect() -> bool {
    false
}

/// The tile configuration both kernels use (palette 1): tiles 0–3 accumulate a 32 × 32 block
/// of the output (16 rows × 16 four-byte lanes each), tiles 4–5 hold 16 rows of activations
/// and tiles 6–7 16 rows of packed weights, all 16 rows × 64 bytes.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

const CONFIG: TileConfig = {
    let mut c = [0u8; 64];
    c[0] = 1; // palette
    let mut t = 0;
    while t < 8 {
        c[16 + 2 * t] = 64; // bytes per row (u16, little-endian)
        c[48 + t] = 16; // rows
        t += 1;
    }
    TileConfig(c)
};

/// Runs `body` with the tile configuration loaded on this thread, releasing the tiles after.
/// The caller checks [`amx_on`] first.
#[cfg(target_arch = "x86_64")]
pub(crate) fn with_tiles<R>(body: impl FnOnce() -> R) -> R {
    // SAFETY: AMX is available (the caller checked amx_on) and CONFIG is a valid palette-1
    // configuration, 64-byte aligned.
    unsafe {
        std::arch::asm!("ldtilecfg [{0}]", in(reg) &CONFIG as *const TileConfig, options(nostack, readonly))
    };
    let r = body();
    // SAFETY: as above; releasing returns the tiles to their initial state.
    unsafe { std::arch::asm!("tilerelease", options(nostack, nomem)) };
    r
}

/// Generates a 32 × 32 block kernel for one tile instruction, stored row-major: rows 0–15 at
/// `c`, rows 16–31 at `c + 16·ldc`, `ldc` bytes apart, 32 lanes of four bytes a row (two
/// tiles side by side) = Σ over `kt` steps of A (rows at `a0` and `a1`, `lda` bytes apart,
/// 64 bytes a step) times B (`kt` consecutive 1024-byte tiles at `b0` and at `b1`).
macro_rules! block_kernel_into {
    ($name:ident, $op:literal, $doc:literal) => {
        #[doc = $doc]
        ///
        /// # Safety
        /// The tile configuration is loaded on this thread ([`with_tiles`]); `kt ≥ 1`; 16 rows of
        /// `64 · kt` bytes, `lda` apart, are readable at `a0` and at `a1`; `1024 · kt` bytes at
        /// `b0` and at `b1`; 32 rows of 128 bytes, `ldc` apart, writable at `c`.
        #[cfg(target_arch = "x86_64")]
        #[allow(clippy::too_many_arguments)]
        pub(crate) unsafe fn $name(a0: *const u8, a1: *const u8, lda: usize, b0: *const u8, b1: *const u8, kt: usize, c: *mut u8, ldc: usize) {
            // SAFETY: forwarded from the caller; c + 16·ldc stays inside the 32 rows.
            unsafe {
                let c1 = c.add(16 * ldc);
                std::arch::asm!(
                    "tilezero tmm0",
                    "tilezero tmm1",
                    "tilezero tmm2",
                    "tilezero tmm3",
                    "2:",
                    "tileloadd tmm4, [{a0} + {lda}*1]",
                    "tileloadd tmm6, [{b0} + {s}*1]",
                    "tileloadd tmm7, [{b1} + {s}*1]",
                    "tileloadd tmm5, [{a1} + {lda}*1]",
                    concat!($op, " tmm0, tmm4, tmm6"),
                    concat!($op, " tmm1, tmm4, tmm7"),
                    concat!($op, " tmm2, tmm5, tmm6"),
                    concat!($op, " tmm3, tmm5, tmm7"),
                    "add {a0}, 64",
                    "add {a1}, 64",
                    "add {b0}, 1024",
                    "add {b1}, 1024",
                    "dec {kt}",
                    "jnz 2b",
                    "tilestored [{c0} + {ldc}*1], tmm0",
                    "tilestored [{c0} + {ldc}*1 + 64], tmm1",
                    "tilestored [{c1} + {ldc}*1], tmm2",
                    "tilestored [{c1} + {ldc}*1 + 64], tmm3",
                    a0 = inout(reg) a0 => _,
                    a1 = inout(reg) a1 => _,
                    b0 = inout(reg) b0 => _,
                    b1 = inout(reg) b1 => _,
                    kt = inout(reg) kt => _,
                    lda = in(reg) lda,
                    s = in(reg) 64usize,
                    c0 = in(reg) c,
                    c1 = in(reg) c1,
                    ldc = in(reg) ldc,
                    options(nostack),
                );
            }
        }
    };
}

block_kernel_into!(
    block_bf16_into,
    "tdpbf16ps",
    "A 32 × 32 block of f32 sums of bf16 pair products (`tdpbf16ps`), stored row-major."
);
block_kernel_into!(
    block_int8_into,
    "tdpbssd",
    "A 32 × 32 block of i32 sums of signed int8 quad products (`tdpbssd`), stored row-major."
);

/// [`block_bf16_into`] into a [`Block`] (`c`, 4096 bytes).
///
/// # Safety
/// As for [`block_bf16_into`], with 4096 bytes writable at `c`.
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn block_bf16(a0: *const u8, a1: *const u8, lda: usize, b0: *const u8, b1: *const u8, kt: usize, c: *mut u8) {
    // SAFETY: forwarded; a Block is 32 rows of 128 bytes.
    unsafe { block_bf16_into(a0, a1, lda, b0, b1, kt, c, BLOCK_ROW_BYTES) }
}

/// [`block_int8_into`] into a [`Block`] (`c`, 4096 bytes).
///
/// # Safety
/// As for [`block_int8_into`], with 4096 bytes writable at `c`.
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn block_int8(a0: *const u8, a1: *const u8, lda: usize, b0: *const u8, b1: *const u8, kt: usize, c: *mut u8) {
    // SAFETY: forwarded; a Block is 32 rows of 128 bytes.
    unsafe { block_int8_into(a0, a1, lda, b0, b1, kt, c, BLOCK_ROW_BYTES) }
}

/// Bytes of one row of a [`Block`] (32 lanes of four bytes).
const BLOCK_ROW_BYTES: usize = 128;

/// A block kernel that stores into a row-major output ([`block_bf16_into`]).
#[cfg(target_arch = "x86_64")]
pub(crate) type KernelInto =
    unsafe fn(*const u8, *const u8, usize, *const u8, *const u8, usize, *mut u8, usize);

/// Rows of activations one pass over the weights multiplies (kept in the L2 cache while every
/// column block passes over them).
const M_BLOCK: usize = 256;

/// The output of one block kernel: 32 × 32 four-byte lanes (f32 or i32 bits), row-major.
#[repr(C, align(64))]
pub(crate) struct Block(pub(crate) [u32; 1024]);

impl Block {
    /// The lane of row `r` and column `c` of the 32 × 32 block.
    #[inline(always)]
    pub(crate) fn lane(&self, r: usize, c: usize) -> u32 {
        self.0[r * 32 + c]
    }

    /// The 16 lanes of row `r` and columns `16·half .. 16·half + 16` (`half` 0 or 1).
    #[inline(always)]
    pub(crate) fn row_half(&self, r: usize, half: usize) -> &[u32] {
        let at = r * 32 + 16 * half;
        &self.0[at..at + 16]
    }
}

/// A block kernel ([`block_bf16`] or [`block_int8`]).
#[cfg(target_arch = "x86_64")]
pub(crate) type Kernel =
    unsafe fn(*const u8, *const u8, usize, *const u8, *const u8, usize, *mut u8);

/// The packed weights of an AMX product: `np / 16` column groups, each `kt` consecutive
/// 1024-byte tiles.
#[derive(Clone, Copy)]
pub(crate) enum Weights<'a> {
    /// All of them, packed once per matrix: `[np / 16, kt, 1024]` bytes.
    Packed(&'a [u8]),
    /// Packed by each task as it reaches them, so that a compact format (4-bit weights) is
    /// never held widened in memory: `pack(jp, buf)` writes column groups `2·jp` and
    /// `2·jp + 1`, `2 · kt` tiles, into `buf` (`2 · kt · 1024` bytes).
    PerPair(&'a (dyn Fn(usize, &mut [u8]) + Sync)),
}

/// Packed operands of an AMX product: `a` holds `mp` rows (a multiple of 32) of `kt` 64-byte
/// steps; `b` the weights of `np` columns (`np` a multiple of 32).
pub(crate) struct Operands<'a> {
    /// The activations, `[mp, kt · 64]` bytes.
    pub(crate) a: &'a [u8],
    /// Rows of `a` (a multiple of 32).
    pub(crate) mp: usize,
    /// The weights.
    pub(crate) b: Weights<'a>,
    /// Columns of `b` (a multiple of 32).
    pub(crate) np: usize,
    /// 64-byte steps along k (at least one).
    pub(crate) kt: usize,
}

/// Runs `kernel` on every 32 × 32 block of the product of `ops` and hands each to
/// `store(i0, j0, block)` (first row, first column). Pairs of column groups are split over
/// rayon's threads, each loading the tile configuration once; rows go in passes of
/// [`M_BLOCK`].
#[cfg(target_arch = "x86_64")]
pub(crate) fn for_each_block(
    ops: &Operands<'_>,
    kernel: Kernel,
    store: impl Fn(usize, usize, &Block) + Sync,
) {
    drive(ops, |i0, j0, a0, a1, b0, b1, block| {
        // SAFETY: as `drive` promises.
        unsafe {
            kernel(
                a0,
                a1,
                ops.kt * 64,
                b0,
                b1,
                ops.kt,
                block.0.as_mut_ptr().cast(),
            )
        };
        store(i0, j0, block);
    });
}

/// [`for_each_block`] into `out` `[m, n]` (f32, row-major): the blocks that lie inside it
/// are stored there by `into`, with no copy; those over its edge (where `m` or `n` is not a
/// multiple of 32) go to `edge(i0, j0, block)` as in [`for_each_block`].
#[cfg(target_arch = "x86_64")]
pub(crate) fn for_each_block_into(
    ops: &Operands<'_>,
    kernel: Kernel,
    into: KernelInto,
    out: SendPtr,
    m: usize,
    n: usize,
    edge: impl Fn(usize, usize, &Block) + Sync,
) {
    assert!(m <= ops.mp && n <= ops.np, "AMX output");
    drive(ops, |i0, j0, a0, a1, b0, b1, block| {
        let lda = ops.kt * 64;
        if i0 + 32 <= m && j0 + 32 <= n {
            // SAFETY: as `drive` promises; rows i0..i0+32 and columns j0..j0+32 lie inside
            // `out` [m, n], and each block is handed to one task only.
            unsafe {
                into(
                    a0,
                    a1,
                    lda,
                    b0,
                    b1,
                    ops.kt,
                    out.get().add(i0 * n + j0).cast(),
                    n * 4,
                )
            };
        } else {
            // SAFETY: as `drive` promises.
            unsafe { kernel(a0, a1, lda, b0, b1, ops.kt, block.0.as_mut_ptr().cast()) };
            edge(i0, j0, block);
        }
    });
}

/// Runs `body(i0, j0, a0, a1, b0, b1, block)` for every 32 × 32 block of the product of
/// `ops`, with the tile configuration loaded, the operand pointers of the block (rows `i0`
/// and `i0 + 16` of `a`, column groups `j0 / 16` and `j0 / 16 + 1` of `b`, all in bounds for
/// `kt` steps) and a scratch block. Pairs of column groups are split over rayon's threads,
/// each loading the tile configuration once; rows go in passes of [`M_BLOCK`].
#[cfg(target_arch = "x86_64")]
#[allow(clippy::type_complexity)]
fn drive(
    ops: &Operands<'_>,
    body: impl Fn(usize, usize, *const u8, *const u8, *const u8, *const u8, &mut Block) + Sync,
) {
    use crate::fork::for_each_part;
    let (lda, tile_bytes) = (ops.kt * 64, ops.kt * 1024);
    let packed_whole = match ops.b {
        Weights::Packed(b) => b.len() >= ops.np / 16 * tile_bytes,
        Weights::PerPair(_) => true,
    };
    assert!(ops.a.len() >= ops.mp * lda && packed_whole && ops.kt > 0, "AMX operands");
    let pairs = ops.np / 32;
    let per = pairs.div_ceil(rayon::current_num_threads() * 4).max(1);
    for m0 in (0..ops.mp).step_by(M_BLOCK) {
        for_each_part(pairs.div_ceil(per), |g| {
            // a pair's tiles when each task packs its own, in this thread's kept buffer
            let mut own = match ops.b {
                Weights::Packed(_) => Vec::new(),
                Weights::PerPair(_) => PAIR.take(),
            };
            with_tiles(|| {
                let mut block = Block([0; 1024]);
                for jp in g * per..pairs.min((g + 1) * per) {
                    let (b0, b1) = match ops.b {
                        Weights::Packed(b) => {
                            (b[2 * jp * tile_bytes..].as_ptr(), b[(2 * jp + 1) * tile_bytes..].as_ptr())
                        }
                        Weights::PerPair(pack) => {
                            // grown, never shrunk: a product with a smaller k uses the front
                            if own.len() < 2 * tile_bytes / 64 {
                                own.resize(2 * tile_bytes / 64, Line([0; 64]));
                            }
                            // SAFETY: Line is 64 plain bytes, and `own` holds at least
                            // 2 · tile_bytes of them.
                            let buf =
                                unsafe { std::slice::from_raw_parts_mut(own.as_mut_ptr().cast(), 2 * tile_bytes) };
                            pack(jp, buf);
                            (buf.as_ptr(), buf[tile_bytes..].as_ptr())
                        }
                    };
                    for i0 in (m0..ops.mp.min(m0 + M_BLOCK)).step_by(32) {
                        let a0 = ops.a[i0 * lda..].as_ptr();
                        let a1 = ops.a[(i0 + 16) * lda..].as_ptr();
                        // tiles configured (with_tiles, after the caller checked amx_on); rows
                        // i0..i0+32 ≤ mp of `a` hold lda = 64·kt bytes; b0 and b1 point at kt
                        // tiles each (column groups 2jp and 2jp+1 < np/16 of packed weights,
                        // as asserted above, or the halves of this task's 2·kt-tile buffer)
                        body(i0, 32 * jp, a0, a1, b0, b1, &mut block);
                    }
                }
            });
            if matches!(ops.b, Weights::PerPair(_)) {
                PAIR.set(own);
            }
        });
    }
}

/// 64 bytes, aligned as a cache line (a tile row).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

thread_local! {
    /// The tiles of the pair of column groups this thread packed last ([`Weights::PerPair`]),
    /// kept for its next pair: `2 · kt` KB, 192 KB at k = 3072.
    static PAIR: std::cell::Cell<Vec<Line>> = const { std::cell::Cell::new(Vec::new()) };
}

