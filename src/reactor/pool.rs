//! The reactor's thread pool: blocking work off the reactor thread, results back on it
//! (Twisted's reactor thread pool, behind `deferToThread` and `callInThread`).
//!
//! Threads start when work arrives and every thread is busy, up to the pool's size; work
//! beyond that waits in a FIFO queue. A worker that finishes a piece of work leaves what must
//! happen next (firing the Deferred) in the pool's `finished` list and wakes the reactor,
//! whose loop runs it on the reactor thread. Idle workers wait for more work until the pool
//! stops.
//!
//! Stopping (the reactor's "during shutdown" phase) takes the queued work back, to fail it,
//! tells the workers to exit once idle, and waits for them: work in flight finishes, and its
//! result is still delivered on the reactor thread. A pool whose reactor is dropped without
//! running only tells its workers to exit.
//!
//! Part of the reactor, on the typed Deferred: it knows nothing of the engine's insides, the
//! combinators, the primitives or the async bridge.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use parking_lot::{Condvar, Mutex};

use super::error::ThreadPoolError;
use super::queue::Timers;
use crate::foundation::contain;

/// What runs on the reactor thread once a piece of work is done or given up.
pub(super) type Delivery = Box<dyn FnOnce() + Send + 'static>;

/// A piece of work: called with `Ok(())` on a worker to run it, or with the reason it will
/// never run; either way it returns the delivery for the reactor thread. It catches its own
/// panics.
pub(super) type Job = Box<dyn FnOnce(Result<(), ThreadPoolError>) -> Delivery + Send + 'static>;

/// Twisted's default size for the reactor's pool.
pub(super) const DEFAULT_SIZE: usize = 10;

pub(super) struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Workers wait here for work, or for the pool to stop.
    work: Condvar,
    /// The reactor's timers, whose `wake` ends the reactor's sleep.
    timers: Arc<Timers>,
}

struct State {
    queue: VecDeque<Job>,
    finished: Vec<Delivery>,
    size: usize,
    /// Workers alive, and how many of them wait for work.
    threads: usize,
    idle: usize,
    stopped: bool,
    /// The reactor is gone: nobody will run the deliveries of work still in flight.
    abandoned: bool,
    handles: Vec<JoinHandle<()>>,
    started: usize,
}

/// What [`Pool::stop`] took back: work that never ran, and the workers to wait for.
pub(super) struct Stopped {
    pub(super) queued: Vec<Job>,
    pub(super) workers: Vec<JoinHandle<()>>,
}

impl Pool {
    pub(super) fn new(timers: Arc<Timers>) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    finished: Vec::new(),
                    size: DEFAULT_SIZE,
                    threads: 0,
                    idle: 0,
                    stopped: false,
                    abandoned: false,
                    handles: Vec::new(),
                    started: 0,
                }),
                work: Condvar::new(),
                timers,
            }),
        }
    }

    pub(super) fn size(&self) -> usize {
        self.shared.state.lock().size
    }

    /// Sets the most threads the pool runs. Workers beyond a lowered size exit as they finish
    /// their current work.
    pub(super) fn set_size(&self, size: usize) -> Result<(), ThreadPoolError> {
        if size == 0 {
            return Err(ThreadPoolError::ZeroSize);
        }
        let mut st = self.shared.state.lock();
        st.size = size;
        // Idle workers beyond the new size wake up to leave; queued work may now get threads.
        self.shared.work.notify_all();
        while st.queue.len() > st.idle && st.threads < st.size {
            if spawn(&self.shared, &mut st).is_err() {
                break;
            }
        }
        Ok(())
    }

    /// Queues `job`, starting a thread for it if every thread is busy and the pool has room.
    /// A stopped pool, or one that can start no thread at all, hands the job back with the
    /// reason, for the caller to deliver.
    pub(super) fn submit(&self, job: Job) -> Result<(), (Job, ThreadPoolError)> {
        let mut st = self.shared.state.lock();
        if st.stopped {
            return Err((job, ThreadPoolError::Stopped));
        }
        st.queue.push_back(job);
        if st.queue.len() > st.idle && st.threads < st.size {
            if let Err(error) = spawn(&self.shared, &mut st) {
                if st.threads == 0 {
                    let job = st.queue.pop_back().expect("queued just now");
                    return Err((job, error));
                }
            }
        }
        drop(st);
        self.shared.work.notify_one();
        Ok(())
    }

    /// The deliveries of the work finished so far, in the order it finished.
    pub(super) fn take_finished(&self) -> Vec<Delivery> {
        std::mem::take(&mut self.shared.state.lock().finished)
    }

    /// Stops the pool: no more work is taken, queued work is handed back, and the workers
    /// exit once their current work is done. Later submits are refused.
    pub(super) fn stop(&self) -> Stopped {
        let mut st = self.shared.state.lock();
        st.stopped = true;
        let stopped = Stopped {
            queued: st.queue.drain(..).collect(),
            workers: std::mem::take(&mut st.handles),
        };
        drop(st);
        self.shared.work.notify_all();
        stopped
    }
}

impl Drop for Pool {
    /// The reactor is gone without stopping the pool (it never ran): the workers exit once
    /// idle, and queued work is dropped undelivered, like every other call handed to a
    /// reactor that never runs. Nobody waits for the workers; work they finish afterwards is
    /// dropped by them.
    fn drop(&mut self) {
        let mut st = self.shared.state.lock();
        st.stopped = true;
        st.abandoned = true;
        let queued: Vec<Job> = st.queue.drain(..).collect();
        let finished = std::mem::take(&mut st.finished);
        drop(st);
        self.shared.work.notify_all();
        drop((queued, finished));
    }
}

/// Starts one more worker.
fn spawn(shared: &Arc<Shared>, st: &mut State) -> Result<(), ThreadPoolError> {
    st.started += 1;
    let worker = shared.clone();
    let spawned = thread::Builder::new()
        .name(format!("deferreds-pool-{}", st.started))
        .spawn(move || work(&worker));
    match spawned {
        Ok(handle) => {
            st.threads += 1;
            st.handles.push(handle);
            Ok(())
        }
        Err(error) => Err(ThreadPoolError::Spawn(error.to_string())),
    }
}

/// A worker's life: take work while there is any, wait while there is none, leave when the
/// pool stops or shrinks below the threads it has.
fn work(shared: &Shared) {
    let mut st = shared.state.lock();
    loop {
        if st.stopped || st.threads > st.size {
            st.threads -= 1;
            return;
        }
        let Some(job) = st.queue.pop_front() else {
            st.idle += 1;
            shared.work.wait(&mut st);
            st.idle -= 1;
            continue;
        };
        drop(st);
        // A job catches the work's panics; this catch is for a panic in its bookkeeping, which
        // must not take the worker (and the pool's count of threads) down with it.
        let delivery = catch_unwind(AssertUnwindSafe(|| job(Ok(()))));
        st = shared.state.lock();
        match delivery {
            Ok(delivery) if st.abandoned => {
                // Nobody will run it: the work's result and the Deferred's resolver go here,
                // on the worker, and their destructors are user code.
                drop(st);
                contain::drop_reporting(delivery);
                st = shared.state.lock();
            }
            Ok(delivery) => {
                st.finished.push(delivery);
                drop(st);
                shared.timers.wake();
                st = shared.state.lock();
            }
            Err(_) => {}
        }
    }
}

/// Runs `work` on the calling (worker) thread, turning a panic into the failure.
pub(super) fn catching<R>(
    work: impl FnOnce() -> Result<R, crate::failure::Failure>,
) -> Result<R, crate::failure::Failure> {
    catch_unwind(AssertUnwindSafe(work))
        .unwrap_or_else(|panic| Err(crate::failure::Failure::from_panic(panic)))
}
