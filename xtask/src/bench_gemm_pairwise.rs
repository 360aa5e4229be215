//! `cargo xtask bench gemm-pairwise`: loam's matrix products against the sgemm of PyTorch's
//! own BLAS (MKL in the x86 wheels), both in this process, in alternating blocks of calls.
//!
//! On a shared machine whose speed changes within seconds, two processes run one after the
//! other see different machines; here every round times a block of loam calls and a block of
//! BLAS calls back to back (which goes first alternates), so both sides see the same phase. The
//! first two calls of each block are not timed: they let the other side's spinning threads go
//! quiet. Reported: each side's median GFLOP/s over the rounds and the median of the per-round
//! ratios (`pairwise_ratio`, loam's speed over the BLAS's).
//!
//! PyTorch's BLAS runs on GNU OpenMP, whose idle threads spin for a long time after each call
//! when `OMP_WAIT_POLICY` is unset: measured here, long enough to hold the second core through
//! loam's whole block even 300 ms later, so that loam computed on one core (0.5× at n = 1024,
//! 1.0× with the spin bounded). The bench therefore bounds it with `GOMP_SPINCOUNT` (see
//! [`GOMP_SPINCOUNT`]; a value in the environment wins), which left MKL's own figures unchanged.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use loam_tensor::{Rng, Tensor};

use crate::measure::median;
use crate::record::Record;

/// `(batch, m, k, n)` of each case: the square sizes, the GPT-shaped product and the batched
/// attention heads of `bench matmul`, GPT-2's first MLP product over 1024 tokens, and over a
/// decoding step of 8 and 32 sequences (skinny products). A batch of more than one is
/// `cblas_sgemm_batch` on the BLAS side (what PyTorch's `bmm` calls).
const CASES: [(usize, usize, usize, usize); 9] = [
    (1, 256, 256, 256),
    (1, 512, 512, 512),
    (1, 1024, 1024, 1024),
    (1, 2048, 2048, 2048),
    (1, 768, 128, 384),
    (48, 64, 32, 64),
    (1, 1024, 768, 3072),
    (1, 8, 768, 3072),
    (1, 32, 768, 3072),
];
/// libgomp's spin count for idle OpenMP threads in this bench (about half a millisecond here,
/// near the 300 µs the fork helper spins): with it MKL kept 355, 393 and 345 GFLOP/s on n = 256,
/// `[768,128]×[128,384]` and the batched heads (351, 397, 346 unbounded, same minutes), while
/// loam's side went from 191–205 to 365–382 on the first two; `OMP_WAIT_POLICY=PASSIVE`
/// instead cost MKL half its speed on the small products.
const GOMP_SPINCOUNT: &str = "10000";
/// Alternating rounds per case.
const ROUNDS: usize = 15;
/// Calls per block; the first [`UNTIMED`] are not timed.
const BLOCK: usize = 5;
/// Calls at the start of a block that are not timed.
const UNTIMED: usize = 2;

/// BLAS `sgemm_` (column-major, every argument by reference).
type Sgemm = unsafe extern "C" fn(
    *const u8,
    *const u8,
    *const i32,
    *const i32,
    *const i32,
    *const f32,
    *const f32,
    *const i32,
    *const f32,
    *const i32,
    *const f32,
    *mut f32,
    *const i32,
);
/// MKL's `cblas_sgemm_batch` (arrays of per-group arguments, then the group count and sizes).
type SgemmBatch = unsafe extern "C" fn(
    i32,
    *const i32,
    *const i32,
    *const i32,
    *const i32,
    *const i32,
    *const f32,
    *const *const f32,
    *const i32,
    *const *const f32,
    *const i32,
    *const f32,
    *const *mut f32,
    *const i32,
    i32,
    *const i32,
);
/// CBLAS's row-major layout and no-transpose codes.
const ROW_MAJOR: i32 = 101;
const NO_TRANS: i32 = 111;
/// OpenMP's `omp_set_num_threads`, which sets the BLAS's thread count.
type SetThreads = unsafe extern "C" fn(i32);

/// The library of the installed PyTorch that carries its BLAS (`torch/lib/libtorch_cpu.so`).
fn torch_library() -> Result<std::path::PathBuf> {
    let output = Command::new("python3")
        .args(["-c", "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))"])
        .output()
        .context("could not start python3")?;
    if !output.status.success() {
        bail!("gemm-pairwise needs torch in python3 (pip install torch numpy)");
    }
    let dir = String::from_utf8(output.stdout).context("python3 printed non-UTF-8")?;
    let path = std::path::Path::new(dir.trim()).join("libtorch_cpu.so");
    if !path.is_file() {
        bail!("gemm-pairwise looks for PyTorch's BLAS in {}, which is not there", path.display());
    }
    Ok(path)
}

/// Runs every case on `threads` threads and returns a loam and a PyTorch record for each.
pub fn run(threads: usize) -> Result<Vec<Record>> {
    let path = torch_library()?;
    if std::env::var_os("GOMP_SPINCOUNT").is_none() {
        // SAFETY: no other thread of the bench reads or writes the environment: nothing has run
        // yet but the python3 child above, and libgomp reads it when the library loads below.
        unsafe { std::env::set_var("GOMP_SPINCOUNT", GOMP_SPINCOUNT) };
    }
    // SAFETY: loading PyTorch's CPU library runs its initializers, which only set up its own
    // state; the two symbols below have the standard BLAS and OpenMP signatures.
    let library = unsafe { libloading::Library::new(&path) }.with_context(|| format!("loading {}", path.display()))?;
    let sgemm: libloading::Symbol<'_, Sgemm> =
        unsafe { library.get(b"sgemm_\0") }.with_context(|| format!("{} has no sgemm_", path.display()))?;
    let sgemm_batch: libloading::Symbol<'_, SgemmBatch> =
        unsafe { library.get(b"cblas_sgemm_batch\0") }.with_context(|| format!("{} has no cblas_sgemm_batch", path.display()))?;
    let set_threads: libloading::Symbol<'_, SetThreads> = unsafe { library.get(b"omp_set_num_threads\0") }
        .with_context(|| format!("{} has no omp_set_num_threads", path.display()))?;
    let threads_i32 = i32::try_from(threads).context("thread count")?;
    // SAFETY: a plain setter of OpenMP's thread count.
    unsafe { set_threads(threads_i32) };
    let _inference = loam_tensor::no_grad();
    let mut records = Vec::new();
    for (nb, m, k, n) in CASES {
        let mut rng = Rng::new(0);
        let lead = |r: usize, c: usize| if nb == 1 { vec![r, c] } else { vec![nb, r, c] };
        let a = Tensor::randn(&lead(m, k), 0.0, 1.0, &mut rng);
        let b = Tensor::randn(&lead(k, n), 0.0, 1.0, &mut rng);
        let (av, bv) = (a.to_vec(), b.to_vec());
        let mut c = vec![0.0f32; nb * m * n];
        let dims = [m, n, k].map(|d| i32::try_from(d).expect("case sizes fit in i32"));
        let (one, zero) = (1.0f32, 0.0f32);
        let group = i32::try_from(nb).context("batch")?;
        // row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ
        let blas = |c: &mut [f32]| {
            if nb == 1 {
                // SAFETY: the buffers have the sizes the dimensions say and outlive the call.
                unsafe {
                    sgemm(b"N".as_ptr(), b"N".as_ptr(), &dims[1], &dims[0], &dims[2], &one, bv.as_ptr(), &dims[1], av.as_ptr(), &dims[2], &zero, c.as_mut_ptr(), &dims[1]);
                }
                return;
            }
            let aps: Vec<*const f32> = (0..nb).map(|i| av[i * m * k..].as_ptr()).collect();
            let bps: Vec<*const f32> = (0..nb).map(|i| bv[i * k * n..].as_ptr()).collect();
            let cps: Vec<*mut f32> = c.chunks_mut(m * n).map(|c| c.as_mut_ptr()).collect();
            // SAFETY: one group of `nb` row-major products, each pointer at its own matrix of
            // the sizes the dimensions say; the buffers outlive the call.
            unsafe {
                sgemm_batch(ROW_MAJOR, &NO_TRANS, &NO_TRANS, &dims[0], &dims[1], &dims[2], &one, aps.as_ptr(), &dims[2], bps.as_ptr(), &dims[1], &zero, cps.as_ptr(), &dims[1], 1, &group);
            }
        };
        blas(&mut c);
        let ours = a.matmul(&b)?.to_vec();
        let worst = ours.iter().zip(&c).map(|(x, y)| (x - y).abs() / y.abs().max(1.0)).fold(0.0f32, f32::max);
        if worst > 1e-3 {
            bail!("{nb}x[{m},{k}]x[{k},{n}]: loam and PyTorch's BLAS differ by {worst} (relative)");
        }
        let (mut ours_s, mut theirs_s, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let mut ours_t = 0.0;
            let mut theirs_t = 0.0;
            for side in if round % 2 == 0 { [true, false] } else { [false, true] } {
                for call in 0..BLOCK {
                    let start = Instant::now();
                    if side {
                        std::hint::black_box(a.matmul(&b)?);
                    } else {
                        blas(&mut c);
                    }
                    if call >= UNTIMED {
                        *(if side { &mut ours_t } else { &mut theirs_t }) += start.elapsed().as_secs_f64();
                    }
                }
            }
            ours_s.push(ours_t);
            theirs_s.push(theirs_t);
            ratios.push(theirs_t / ours_t);
        }
        let gflops = |secs: f64| 2.0 * (nb * m * n * k) as f64 * (BLOCK - UNTIMED) as f64 / secs / 1e9;
        let case = if nb == 1 { format!("[{m},{k}]x[{k},{n}]") } else { format!("{nb}x[{m},{k}]x[{k},{n}]") };
        records.push(Record::loam("gemm-pairwise", &case, &[("gflops", gflops(median(&mut ours_s))), ("pairwise_ratio", median(&mut ratios))]));
        let mut theirs = Record::loam("gemm-pairwise", &case, &[("gflops", gflops(median(&mut theirs_s)))]);
        theirs.imp = "pytorch".to_owned();
        records.push(theirs);
    }
    Ok(records)
}
