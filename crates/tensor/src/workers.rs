//! Data parallelism: independent jobs (batches of sentences, shards of a training batch)
//! spread over the rayon thread count, each job running its tensor operations on one thread.
//!
//! Splitting every operation of a small forward pass over two threads costs a handshake per
//! operation and leaves the elementwise work of short rows nearly serial. When there are
//! several independent jobs it is faster to give each thread whole jobs: nothing is shared,
//! nothing waits. Each job sees a one-thread pool, so its results are the same bits whichever
//! worker runs it and however many there are.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rayon::ThreadPool;

/// One-thread pools kept for the life of the process: building them for every call would
/// start threads each time and leave their allocator caches behind (resident memory grows).
static POOLS: Mutex<Vec<Option<Arc<ThreadPool>>>> = Mutex::new(Vec::new());

/// The first `n` kept one-thread pools, made on first use; `None` where the system refused a
/// thread.
fn one_thread_pools(n: usize) -> Vec<Option<Arc<ThreadPool>>> {
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    while pools.len() < n {
        pools.push(rayon::ThreadPoolBuilder::new().num_threads(1).build().ok().map(Arc::new));
    }
    pools[..n].to_vec()
}

/// `job(0) … job(jobs − 1)`, in that order, computed on up to `rayon::current_num_threads()`
/// workers, each taking the next job when it finishes one. Gradient recording is per thread
/// and on in each worker: an inference job opens its own [`crate::no_grad`] scope.
pub fn map_on_workers<T: Send>(jobs: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let workers = rayon::current_num_threads().min(jobs);
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(jobs));
    let work = || {
        let mut mine = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= jobs {
                break;
            }
            mine.push((i, job(i)));
        }
        done.lock().unwrap_or_else(|e| e.into_inner()).extend(mine);
    };
    if rayon::current_num_threads() == 1 {
        // already on one thread (inside a job, or a one-thread pool): ops stay here
        work();
    } else {
        let pools = one_thread_pools(workers.max(1));
        // a job's ops run on its worker's one-thread pool (or, when none could be made, here)
        let run_on = |pool: &Option<Arc<ThreadPool>>| match pool {
            Some(pool) => pool.install(work),
            None => work(),
        };
        std::thread::scope(|s| {
            for pool in &pools[1..] {
                s.spawn(move || run_on(pool));
            }
            run_on(&pools[0]);
        });
    }
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_once_each_in_order_on_one_thread_pools() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let out = pool.install(|| map_on_workers(10, |i| (i * i, rayon::current_num_threads())));
        assert_eq!(out.iter().map(|&(v, _)| v).collect::<Vec<_>>(), (0..10).map(|i| i * i).collect::<Vec<_>>());
        assert!(out.iter().all(|&(_, threads)| threads == 1), "{out:?}");
        assert!(map_on_workers(0, |i| i).is_empty());
        // a job may itself spread work: it runs on its own thread
        let nested = pool.install(|| map_on_workers(3, |i| map_on_workers(2, move |j| 10 * i + j)));
        assert_eq!(nested, vec![vec![0, 1], vec![10, 11], vec![20, 21]]);
    }
}
