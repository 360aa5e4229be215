//! The bounded worker pool that runs inference: N threads and a queue of capacity Q. A job
//! that finds the queue full is refused at once (the server answers 503) instead of waiting
//! without bound; model code never runs on the async runtime's threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A job for a worker.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// Counts of the pool's jobs, for `/metrics` and `/ready`.
#[derive(Debug, Default)]
struct Counts {
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
        let (sender, receiver) = sync_channel::<Job>(capacity);
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

    /// Queues `job`, or refuses it when the queue is full (or the pool is shut down).
    pub fn try_submit(&self, job: impl FnOnce() + Send + 'static) -> Result<(), PoolFull> {
        let guard = self.sender.lock().map_err(|_| PoolFull)?;
        let sender = guard.as_ref().ok_or(PoolFull)?;
        self.counts.queued.fetch_add(1, Ordering::SeqCst);
        match sender.try_send(Box::new(job)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counts.queued.fetch_sub(1, Ordering::SeqCst);
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
        counts.running.fetch_sub(1, Ordering::SeqCst);
    }
}
