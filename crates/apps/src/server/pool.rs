//! The bounded worker pool that runs inference: N threads and a queue of capacity Q. A job
//! that finds the queue full is refused at once (the server answers 503) instead of waiting
//! without bound; model code never runs on the async runtime's threads.
//!
//! Admission counts jobs, not waiting threads: a job is taken while fewer than N + Q are
//! queued or running, so a worker that has just started, or has just finished a job and not yet
//! come back for the next, still counts as free (a rendezvous channel refused jobs in those
//! moments).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A job for a worker.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// Counts of the pool's jobs, for `/metrics` and `/ready`.
#[derive(Debug, Default)]
struct Counts {
    /// Jobs taken and not yet finished (queued or running): at most workers + capacity.
    admitted: AtomicUsize,
    /// Jobs waiting in the queue.
    queued: AtomicUsize,
    /// Jobs a worker is running.
    running: AtomicUsize,
}

/// The queue is full: every worker is busy and `capacity` jobs already wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolFull;

/// N threads taking jobs from a queue of bounded capacity.
pub struct WorkerPool {
    sender: Mutex<Option<SyncSender<Job>>>,
    counts: Arc<Counts>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    workers: usize,
    capacity: usize,
}

impl WorkerPool {
    /// Starts `workers` threads (at least one) behind a queue of `capacity` waiting jobs (0: a
    /// job is taken only when a worker is idle).
    pub fn new(workers: usize, capacity: usize) -> std::io::Result<Self> {
        let workers = workers.max(1);
        // room for every job admission lets in, so a send never finds the channel full
        let (sender, receiver) = sync_channel::<Job>(workers + capacity);
        let receiver = Arc::new(Mutex::new(receiver));
        let counts = Arc::new(Counts::default());
        let threads = (0..workers)
            .map(|i| {
                let (receiver, counts) = (Arc::clone(&receiver), Arc::clone(&counts));
                std::thread::Builder::new()
                    .name(format!("loam-worker-{i}"))
                    .spawn(move || work(&receiver, &counts))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(WorkerPool {
            sender: Mutex::new(Some(sender)),
            counts,
            threads: Mutex::new(threads),
            workers,
            capacity,
        })
    }

    /// Queues `job`, or refuses it when every worker is busy and the queue is full (or the
    /// pool is shut down).
    pub fn try_submit(&self, job: impl FnOnce() + Send + 'static) -> Result<(), PoolFull> {
        let guard = self.sender.lock().map_err(|_| PoolFull)?;
        let sender = guard.as_ref().ok_or(PoolFull)?;
        let limit = self.workers + self.capacity;
        self.counts
            .admitted
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < limit).then_some(n + 1))
            .map_err(|_| PoolFull)?;
        self.counts.queued.fetch_add(1, Ordering::SeqCst);
        match sender.try_send(Box::new(job)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counts.queued.fetch_sub(1, Ordering::SeqCst);
                self.counts.admitted.fetch_sub(1, Ordering::SeqCst);
                Err(PoolFull)
            }
        }
    }

    /// Jobs waiting for a worker.
    pub fn queued(&self) -> usize {
        self.counts.queued.load(Ordering::SeqCst)
    }

    /// Jobs being run.
    pub fn running(&self) -> usize {
        self.counts.running.load(Ordering::SeqCst)
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The queue's capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Takes no more jobs, lets the workers finish the queued and running ones, and waits for
    /// them.
    pub fn shutdown(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        let threads = self
            .threads
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A worker's loop: take a job, run it, until the pool is shut down.
fn work(receiver: &Mutex<Receiver<Job>>, counts: &Counts) {
    loop {
        let job = match receiver.lock() {
            Ok(r) => r.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        counts.queued.fetch_sub(1, Ordering::SeqCst);
        counts.running.fetch_add(1, Ordering::SeqCst);
        // a panicking job must not take its worker down with it
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        // free for the next job before the job stops counting as running, so that whoever
        // sees no running job can submit one
        counts.admitted.fetch_sub(1, Ordering::SeqCst);
        counts.running.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;
    use std::time::{Duration, Instant};

    /// Waits until `done()` or fails after 5 s.
    fn wait_for(done: impl Fn() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(5), "timed out");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_free_worker_takes_a_job_at_once_and_a_busy_one_with_no_queue_refuses() {
        for _ in 0..20 {
            let pool = WorkerPool::new(1, 0).unwrap();
            // right after the start, before the worker thread has asked for a job
            let (release, hold) = channel::<()>();
            pool.try_submit(move || hold.recv().unwrap()).expect("a free worker takes the job");
            assert_eq!(pool.try_submit(|| ()), Err(PoolFull), "the one worker is busy, no queue");
            release.send(()).unwrap();
            wait_for(|| pool.running() == 0 && pool.queued() == 0);
            // right after the job ends, before the worker has come back for the next one
            pool.try_submit(|| ()).expect("the worker is free again");
        }
    }

    #[test]
    fn the_queue_holds_its_capacity_beyond_the_workers() {
        let pool = WorkerPool::new(2, 3).unwrap();
        let (release, hold) = channel::<()>();
        let hold = Arc::new(Mutex::new(hold));
        for _ in 0..5 {
            let hold = Arc::clone(&hold);
            pool.try_submit(move || hold.lock().unwrap().recv().unwrap()).unwrap();
        }
        assert_eq!(pool.try_submit(|| ()), Err(PoolFull));
        for _ in 0..5 {
            release.send(()).unwrap();
        }
        wait_for(|| pool.running() == 0 && pool.queued() == 0);
        pool.try_submit(|| ()).unwrap();
        pool.shutdown();
        assert_eq!(pool.try_submit(|| ()), Err(PoolFull), "a pool shut down takes no job");
    }
}
