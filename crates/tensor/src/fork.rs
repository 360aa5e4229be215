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
        let handle = std::thread::Builder::new()
            .name("loam-helper".into())
            .spawn(move || {
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
    split(
        parts,
        rayon::current_num_threads(),
        rayon::current_thread_index().is_none(),
        &f,
    );
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
        .filter(|h| {
            h.taken
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        });
    let Some(helper) = helper else {
        (0..parts).into_par_iter().for_each(f);
        return;
    };
    let job = Job {
        f,
        parts,
        next: AtomicUsize::new(0),
        done: AtomicBool::new(false),
        panic: Mutex::new(None),
    };
    let ptr = (&job as *const Job<'_>).cast_mut().cast::<Job<'static>>();
    helper.job.store(ptr, Ordering::SeqCst);
    if helper.sleeping.load(Ordering::SeqCst) {
        helper.thread.unpark();
    }
    let mine = catch_unwind(AssertUnwindSafe(|| job.work()));
    // withdraw the job if the helper has not taken it; otherwise wait until it is done with it
    if helper
        .job
        .compare_exchange(
            ptr,
            std::ptr::null_mut(),
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_err()
    {
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
