//! Continuous batching: a worker thread owns a [`DecodeBatch`] and admits submitted sequences
//! into it between decoding steps, up to a maximum batch size, as others finish. Callers get a
//! [`SequenceHandle`] that streams the tokens of their sequence and can cancel it, which frees
//! its slot at the next step. Any number of threads may submit at once.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::causal_lm::CausalLm;
use crate::decode_batch::{DecodeBatch, SeqEvent, check_request};
use crate::error::{LmError, Result};
use crate::generate::FinishReason;
use crate::sampling::GenerationConfig;

/// What a [`SequenceHandle`] receives, in order: tokens, then exactly one end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// A new token id.
    Token(usize),
    /// Generation ended (an end token or `max_new_tokens`).
    Finished(FinishReason),
    /// The sequence was cancelled and left the batch.
    Cancelled,
    /// The model failed on the batch holding this sequence.
    Failed(String),
}

/// A submitted sequence waiting for a slot.
struct Request {
    id: u64,
    prompt: Vec<usize>,
    cfg: GenerationConfig,
    events: Sender<StreamEvent>,
    cancelled: Arc<AtomicBool>,
}

/// The caller's side of one submitted sequence: its token stream and a cancel switch.
pub struct SequenceHandle {
    events: Receiver<StreamEvent>,
    cancelled: Arc<AtomicBool>,
}

impl SequenceHandle {
    /// The next event, waiting for it; `None` once the stream has ended.
    pub fn next_event(&self) -> Option<StreamEvent> {
        self.events.recv().ok()
    }

    /// Asks the scheduler to drop this sequence; it frees the slot before the next step and
    /// the stream ends with [`StreamEvent::Cancelled`]. Dropping the handle cancels too.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    /// Waits for the end: the tokens and why generation ended, or an error when the sequence
    /// was cancelled or the model failed.
    pub fn wait(self) -> Result<(Vec<usize>, FinishReason)> {
        let mut ids = Vec::new();
        while let Some(e) = self.next_event() {
            match e {
                StreamEvent::Token(t) => ids.push(t),
                StreamEvent::Finished(r) => return Ok((ids, r)),
                StreamEvent::Cancelled => {
                    return Err(LmError::Config(format!(
                        "sequence cancelled after {} tokens",
                        ids.len()
                    )));
                }
                StreamEvent::Failed(m) => {
                    return Err(LmError::Config(format!("batched generation failed: {m}")));
                }
            }
        }
        Err(LmError::Config(
            "the batch scheduler stopped before the sequence ended".into(),
        ))
    }
}

/// What the worker and the submitters share.
struct Shared {
    queue: Mutex<VecDeque<Request>>,
    /// Sequences in the running batch.
    running: AtomicUsize,
    shutdown: AtomicBool,
}

/// A continuous-batching scheduler over one model (see the module docs).
pub struct BatchScheduler {
    model: Arc<dyn CausalLm>,
    shared: Arc<Shared>,
    wake: Sender<()>,
    next_id: AtomicU64,
    worker: Option<JoinHandle<()>>,
}

impl BatchScheduler {
    /// Starts the worker thread; at most `max_batch` sequences decode together.
    pub fn new(model: Arc<dyn CausalLm>, max_batch: usize) -> Result<Self> {
        if max_batch == 0 {
            return Err(LmError::Config(
                "batch scheduler: max_batch must be at least 1".into(),
            ));
        }
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            running: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
        });
        let (wake, woken) = mpsc::channel();
        let (m, s) = (Arc::clone(&model), Arc::clone(&shared));
        let worker = std::thread::Builder::new()
            .name("loam-batch".into())
            .spawn(move || work(m.as_ref(), &s, &woken, max_batch))
            .map_err(|e| {
                LmError::Config(format!("batch scheduler: could not start its thread: {e}"))
            })?;
        Ok(BatchScheduler {
            model,
            shared,
            wake,
            next_id: AtomicU64::new(0),
            worker: Some(worker),
        })
    }

    /// Queues `prompt` with its own settings (checked now: a bad request is an error here, not
    /// in the stream) and returns its handle.
    pub fn submit(&self, prompt: Vec<usize>, cfg: GenerationConfig) -> Result<SequenceHandle> {
        check_request(self.model.as_ref(), &prompt, &cfg)?;
        let (events, rx) = mpsc::channel();
        let cancelled = Arc::new(AtomicBool::new(false));
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let req = Request {
            id,
            prompt,
            cfg,
            events,
            cancelled: Arc::clone(&cancelled),
        };
        self.shared
            .queue
            .lock()
            .map_err(|_| LmError::Config("batch scheduler: its queue is poisoned".into()))?
            .push_back(req);
        // the worker may have ended only through a panic; the request then never runs
        self.wake.send(()).map_err(|_| {
            LmError::Config("batch scheduler: its worker thread has stopped".into())
        })?;
        Ok(SequenceHandle {
            events: rx,
            cancelled,
        })
    }

    /// Sequences decoding now (not counting those waiting for a slot).
    pub fn running(&self) -> usize {
        self.shared.running.load(Ordering::SeqCst)
    }

    /// Sequences waiting for a slot.
    pub fn waiting(&self) -> usize {
        self.shared.queue.lock().map_or(0, |q| q.len())
    }
}

impl Drop for BatchScheduler {
    /// Cancels what is running or waiting and joins the worker.
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        let _ = self.wake.send(());
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// A sequence in the running batch, as the worker sees it.
struct Live {
    events: Sender<StreamEvent>,
    cancelled: Arc<AtomicBool>,
}

/// The worker: admit while there is room, drop cancelled sequences, step, repeat.
fn work(model: &dyn CausalLm, shared: &Shared, woken: &Receiver<()>, max_batch: usize) {
    let mut batch = DecodeBatch::new(model);
    let mut live: HashMap<u64, Live> = HashMap::new();
    loop {
        if shared.shutdown.load(Ordering::SeqCst) {
            // a handle that is gone needs no notice
            for l in live.values() {
                let _ = l.events.send(StreamEvent::Cancelled);
            }
            if let Ok(mut q) = shared.queue.lock() {
                for r in q.drain(..) {
                    let _ = r.events.send(StreamEvent::Cancelled);
                }
            }
            return;
        }
        // sleep only while nothing runs; a wake-up is a submission or the shutdown
        if batch.is_empty() {
            match woken.recv_timeout(Duration::from_millis(50)) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        } else {
            // running: take the pending wake-ups without waiting
            while woken.try_recv().is_ok() {}
        }
        // cancelled sequences (or dropped handles) leave before the next step
        let gone: Vec<u64> = live
            .iter()
            .filter(|(_, l)| l.cancelled.load(Ordering::SeqCst))
            .map(|(&id, _)| id)
            .collect();
        for id in gone {
            let cancelled = live.remove(&id);
            if let Err(e) = batch.remove(id) {
                fail_all(&mut batch, &mut live, &e.to_string());
            }
            shared.running.store(batch.len(), Ordering::SeqCst);
            if let Some(l) = cancelled {
                let _ = l.events.send(StreamEvent::Cancelled);
            }
        }
        while batch.len() < max_batch {
            let Some(req) = shared.queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                break;
            };
            if req.cancelled.load(Ordering::SeqCst) {
                let _ = req.events.send(StreamEvent::Cancelled);
                continue;
            }
            live.insert(
                req.id,
                Live {
                    events: req.events,
                    cancelled: req.cancelled,
                },
            );
            match batch.admit(req.id, &req.prompt, &req.cfg) {
                Ok(events) => {
                    // counted before the events go out, so a caller who saw its end sees the slot free
                    shared.running.store(batch.len(), Ordering::SeqCst);
                    deliver(events, &mut live);
                }
                Err(e) => {
                    if let Some(l) = live.remove(&req.id) {
                        let _ = l.events.send(StreamEvent::Failed(e.to_string()));
                    }
                }
            }
        }
        if !batch.is_empty() {
            match batch.step() {
                Ok(events) => {
                    // counted before the events go out, so a caller who saw its end sees the slot free
                    shared.running.store(batch.len(), Ordering::SeqCst);
                    deliver(events, &mut live);
                }
                Err(e) => {
                    fail_all(&mut batch, &mut live, &e.to_string());
                    shared.running.store(0, Ordering::SeqCst);
                }
            }
        }
    }
}

/// Sends events to their handles; a handle that is gone cancels its sequence.
fn deliver(events: Vec<SeqEvent>, live: &mut HashMap<u64, Live>) {
    for e in events {
        let (id, msg) = match e {
            SeqEvent::Token { id, token } => (id, StreamEvent::Token(token)),
            SeqEvent::Finished { id, reason } => (id, StreamEvent::Finished(reason)),
        };
        let ended = matches!(msg, StreamEvent::Finished(_));
        if let Some(l) = live.get(&id)
            && l.events.send(msg).is_err()
        {
            l.cancelled.store(true, Ordering::SeqCst);
        }
        if ended {
            live.remove(&id);
        }
    }
}

/// Ends every running sequence with `msg` after a model error and empties the batch.
fn fail_all(batch: &mut DecodeBatch, live: &mut HashMap<u64, Live>, msg: &str) {
    for l in std::mem::take(live).into_values() {
        let _ = l.events.send(StreamEvent::Failed(msg.to_string()));
    }
    *batch = DecodeBatch::new(batch.model());
}
