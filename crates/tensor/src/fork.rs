//! Splitting one operation over two threads without rayon's handoffs, for callers outside
//! rayon's pool (a program's main thread, a server's request thread).
//!
//! Such a caller pays twice for every parallel loop it hands to rayon: its work is injected
//! into the pool, a sleeping worker is woken to take it, and the caller blocks until the loop
//! is done and is woken in turn. For a product of a tenth of a millisecond that is a large
//! part of the time, and it is why small products on two threads lost to MKL, whose OpenMP
//! threads spin between calls and start at once. Here the caller computes a share itself and
//! one helper thread takes the rest; between jobs the helper spins for [`SPIN`] (yielding
//! its core to any other runnable thread while it does), then sleeps until the next job, so
//! a chain of operations starts each one at once, and an idle process does not hold the
//! second core.
//!
//! The parts of a job are handed out one at a time to whichever thread asks first, so the
//! split adapts to a helper that wakes late or a core that is busy; which thread computes a
//! part never changes what it computes.
//!
//! Every parallel loop of the crate's inference kernels goes through here: the f32, bf16,
//! int8 and 4-bit products (vector, skinny, AMX and gemm-crate paths), the fused decode
//! attention, and the elementwise and row kernels of `kernel.rs`. A decoding step is a chain
//! of a hundred or more such loops of tens of microseconds each, so a wake-up per loop was a
//! large share of it (T5 greedy decoding ran 1.7× faster, q4 GPT-2 1.5×, when the last of
//! them moved here; docs/perf.md).

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long the helper waits for the next job, spinning, before it sleeps.
const SPIN: Duration = Duration::from_micros(300);

/// One job: parts `0..parts` of `f`, handed out by `next`.
struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
    parts: usize,
    next: AtomicUsize,
    /// Set by the helper when it has finished with the job (it no longer touches it).
    done: AtomicBool,
    /// A panic of `f` on the helper, to be raised again on the caller.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl Job<'_> {
    /// Computes parts until none is left.
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.parts {
                return;
            }
            (self.f)(i);
        }
    }
}

/// The helper thread and its mailbox.
struct Helper {
    /// The posted job (a `Job` on the caller's stack), null when there is none.
    job: AtomicPtr<Job<'static>>,
    /// Whether a caller is using the helper (one at a time; others use rayon).
    taken: AtomicBool,
    /// Whether the helper is asleep or about to be (a poster must wake it).
    sleeping: AtomicBool,
    thread: Thread,
}

/// The helper, started on first use; `None` when the system refused a thread.
fn helper() -> Option<&'static Helper> {
    static HELPER: OnceLock<Option<&'static Helper>> = OnceLock::new();
    *HELPER.get_or_init(|| {
        let slot: &'static OnceLock<&'static Helper> = Box::leak(Box::new(OnceLock::new()));
        let handle = std::thread::Builder::new().name("loam-helper".into()).spawn(move || {
            let me = *slot.wait();
            serve(me)
        });
        let handle = handle.ok()?;
        let me: &'static Helper = Box::leak(Box::new(Helper {
            job: AtomicPtr::new(std::ptr::null_mut()),
            taken: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            thread: handle.thread().clone(),
        }));
        let _ = slot.set(me);
        Some(me)
    })
}

/// The helper's loop: take a job, work on it, say so; between jobs spin for [`SPIN`], then
/// sleep until a poster wakes it.
fn serve(me: &Helper) -> ! {
    loop {
        let since = Instant::now();
        let mut polls = 0u32;
        let job = loop {
            let job = me.job.swap(std::ptr::null_mut(), Ordering::Acquire);
            if !job.is_null() {
                break job;
            }
            polls += 1;
            if polls.is_multiple_of(64) {
                if since.elapsed() >= SPIN {
                    me.sleeping.store(true, Ordering::SeqCst);
                    let job = me.job.swap(std::ptr::null_mut(), Ordering::SeqCst);
                    if !job.is_null() {
                        me.sleeping.store(false, Ordering::Relaxed);
                        break job;
                    }
                    std::thread::park();
                    me.sleeping.store(false, Ordering::Relaxed);
                    polls = 0;
                    continue;
                }
                // let another runnable thread of this core go first
                std::thread::yield_now();
            }
            std::hint::spin_loop();
        };
        // SAFETY: the poster keeps the job alive until `done` is set below (it waits for it).
        let job = unsafe { &*job };
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| job.work())) {
            *job.panic.lock().unwrap_or_else(|e| e.into_inner()) = Some(panic);
        }
        job.done.store(true, Ordering::Release);
    }
}

/// Runs `f(0) … f(parts − 1)`, each once, in any order and on any threads: on the caller and
/// the helper when the caller is outside rayon's pool, the pool has two threads and the helper
/// is free; on rayon's pool otherwise. Returns when all are done; a panic in `f` is raised
/// again here.
pub(crate) fn for_each_part(parts: usize, f: impl Fn(usize) + Sync) {
    split(parts, rayon::current_num_threads(), rayon::current_thread_index().is_none(), &f);
}

/// `chunk`-long pieces of a slice (the last one may be shorter), handed out to parts by index.
struct Pieces<T> {
    base: *mut T,
    len: usize,
    chunk: usize,
}

// SAFETY: the parts of one call take pieces with distinct indices, which are disjoint ranges
// of a slice of `Send` values, borrowed mutably for the whole call.
unsafe impl<T: Send> Sync for Pieces<T> {}

impl<T> Pieces<T> {
    fn new(data: &mut [T], chunk: usize) -> Self {
        Pieces { base: data.as_mut_ptr(), len: data.len(), chunk: chunk.max(1) }
    }

    /// How many pieces there are.
    fn count(&self) -> usize {
        self.len.div_ceil(self.chunk)
    }

    /// Piece `i`.
    ///
    /// # Safety
    /// `i < self.count()`, and no other live reference covers piece `i`.
    #[allow(clippy::mut_from_ref)]
    unsafe fn piece(&self, i: usize) -> &mut [T] {
        let start = i * self.chunk;
        // SAFETY: start..start + len is inside the slice (the caller's contract).
        unsafe { std::slice::from_raw_parts_mut(self.base.add(start), self.chunk.min(self.len - start)) }
    }
}

/// Runs `f(i, piece)` for every `chunk`-long piece of `data` (the last one may be shorter),
/// `i` counting pieces from 0, on threads as [`for_each_part`] does.
pub(crate) fn for_each_chunk_mut<T: Send>(data: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let pieces = Pieces::new(data, chunk);
    // SAFETY: each index runs once, and `data` stays borrowed until every part has returned.
    for_each_part(pieces.count(), |i| f(i, unsafe { pieces.piece(i) }));
}

/// Runs `f(i, a_piece, b_piece)` for the `i`-th `a_chunk`-long piece of `a` with the `i`-th
/// `b_chunk`-long piece of `b`, as many as the shorter has, on threads as [`for_each_part`]
/// does (rows of an output with a statistic per row, say).
pub(crate) fn for_each_chunk_pair_mut<A: Send, B: Send>(
    a: &mut [A],
    a_chunk: usize,
    b: &mut [B],
    b_chunk: usize,
    f: impl Fn(usize, &mut [A], &mut [B]) + Sync,
) {
    let (pa, pb) = (Pieces::new(a, a_chunk), Pieces::new(b, b_chunk));
    // SAFETY: as in `for_each_chunk_mut`, for both slices.
    for_each_part(pa.count().min(pb.count()), |i| f(i, unsafe { pa.piece(i) }, unsafe { pb.piece(i) }));
}

/// [`for_each_part`] for a caller that sees `threads` threads and is `outside` rayon's pool.
fn split(parts: usize, threads: usize, outside: bool, f: &(dyn Fn(usize) + Sync)) {
    use rayon::prelude::*;
    if parts <= 1 || threads == 1 {
        (0..parts).for_each(f);
        return;
    }
    let helper = (threads == 2 && outside)
        .then(helper)
        .flatten()
        .filter(|h| h.taken.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok());
    let Some(helper) = helper else {
        (0..parts).into_par_iter().for_each(f);
        return;
    };
    let job = Job { f, parts, next: AtomicUsize::new(0), done: AtomicBool::new(false), panic: Mutex::new(None) };
    let ptr = (&job as *const Job<'_>).cast_mut().cast::<Job<'static>>();
    helper.job.store(ptr, Ordering::SeqCst);
    if helper.sleeping.load(Ordering::SeqCst) {
        helper.thread.unpark();
    }
    let mine = catch_unwind(AssertUnwindSafe(|| job.work()));
    // withdraw the job if the helper has not taken it; otherwise wait until it is done with it
    if helper.job.compare_exchange(ptr, std::ptr::null_mut(), Ordering::AcqRel, Ordering::Acquire).is_err() {
        let mut polls = 0u32;
        while !job.done.load(Ordering::Acquire) {
            polls += 1;
            if polls.is_multiple_of(64) {
                std::thread::yield_now();
            }
            std::hint::spin_loop();
        }
    }
    helper.taken.store(false, Ordering::Release);
    if let Err(panic) = mine {
        resume_unwind(panic);
    }
    if let Some(panic) = job.panic.lock().unwrap_or_else(|e| e.into_inner()).take() {
        resume_unwind(panic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many times each of `parts` parts ran when split as a caller seeing `threads`
    /// threads, `outside` the pool or not.
    fn runs(parts: usize, threads: usize, outside: bool) -> Vec<usize> {
        let hits: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
        split(parts, threads, outside, &|i| {
            hits[i].fetch_add(1, Ordering::Relaxed);
        });
        hits.into_iter().map(AtomicUsize::into_inner).collect()
    }

    #[test]
    fn every_part_runs_once_on_the_helper_and_on_rayon() {
        for parts in [0, 1, 2, 7, 1000] {
            for (threads, outside) in [(2, true), (2, false), (3, true), (1, true)] {
                assert!(
                    runs(parts, threads, outside).iter().all(|&n| n == 1),
                    "{parts} parts, {threads} threads, outside {outside}"
                );
            }
        }
        // back to back, as a chain of operations calls it (the helper spinning or asleep)
        for round in 0..200 {
            assert!(runs(64, 2, true).iter().all(|&n| n == 1), "round {round}");
            if round % 50 == 0 {
                std::thread::sleep(SPIN * 3);
            }
        }
    }

    #[test]
    fn every_chunk_is_handed_out_once_with_its_index() {
        for (len, chunk) in [(0, 4), (1, 4), (10, 3), (12, 3), (1000, 7), (5, 0)] {
            let mut data = vec![usize::MAX; len];
            for_each_chunk_mut(&mut data, chunk, |i, piece| {
                assert!(piece.len() <= chunk.max(1), "piece {i} of {} values", piece.len());
                for v in piece.iter_mut() {
                    assert_eq!(*v, usize::MAX, "a value handed out twice");
                    *v = i;
                }
            });
            let want: Vec<usize> = (0..len).map(|j| j / chunk.max(1)).collect();
            assert_eq!(data, want, "{len} values in chunks of {chunk}");
        }
    }

    #[test]
    fn pairs_of_chunks_go_together_as_far_as_the_shorter_slice() {
        let (mut a, mut b) = (vec![0usize; 10], vec![0usize; 3]);
        for_each_chunk_pair_mut(&mut a, 4, &mut b, 1, |i, pa, pb| {
            pa.fill(i + 1);
            pb[0] = pa.len();
        });
        assert_eq!(a, [1, 1, 1, 1, 2, 2, 2, 2, 3, 3]);
        assert_eq!(b, [4, 4, 2]);
        let (mut a, mut b) = (vec![0usize; 10], vec![0usize; 2]);
        for_each_chunk_pair_mut(&mut a, 4, &mut b, 1, |i, pa, _| pa.fill(i + 1));
        assert_eq!(a, [1, 1, 1, 1, 2, 2, 2, 2, 0, 0], "a third piece of a ran without a piece of b");
    }

    #[test]
    fn a_panic_in_a_part_reaches_the_caller_and_the_helper_survives() {
        for bad in [0, 63] {
            let caught = catch_unwind(|| {
                split(64, 2, true, &|i| {
                    std::thread::sleep(Duration::from_micros(20));
                    assert!(i != bad, "part {i} fails");
                })
            });
            assert!(caught.is_err(), "the panic of part {bad} was lost");
        }
        assert!(runs(100, 2, true).iter().all(|&n| n == 1));
    }
}
