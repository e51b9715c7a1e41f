//! Blocking work on the reactor's thread pool: [`Reactor::defer_to_thread`] and
//! [`Reactor::call_in_thread`] (Twisted's `deferToThread` and `reactor.callInThread`).
//!
//! Part of the reactor, on the typed Deferred: it knows nothing of the engine's insides, the
//! combinators, the primitives or the async bridge.

use super::error::ThreadPoolError;
use super::event_loop::Reactor;
use super::events::ReactorFailure;
use super::pool::{Delivery, Job, catching};
use crate::deferred::Deferred;
use crate::failure::Failure;
use crate::foundation::contain;

/// The context of a panic in [`Reactor::call_in_thread`] work, as the failure handler sees it.
const IN_THREAD: &str = "while calling in thread";

/// The pool's job for `work`: it runs `work` on a worker, panics caught, and the delivery it
/// returns hands the outcome to `deliver` on the reactor thread.
///
/// Refused work (the pool stopped first, or could start no thread) never runs, and its outcome
/// is that refusal. It is dropped at once: its captures are user code, and a panic in their
/// destructor must not keep the failure from being delivered, nor unwind out of the reactor's
/// shutdown: it is reported.
fn job<R: Send + 'static>(
    work: impl FnOnce() -> Result<R, Failure> + Send + 'static,
    deliver: impl FnOnce(Result<R, Failure>) + Send + 'static,
) -> Job {
    Box::new(move |fate: Result<(), ThreadPoolError>| -> Delivery {
        let outcome = match fate {
            Ok(()) => catching(work),
            Err(error) => {
                contain::drop_unused(work);
                Err(Failure::new(error))
            }
        };
        Box::new(move || deliver(outcome))
    })
}

impl Reactor {
    /// Runs `work` on the reactor's thread pool, and fires the returned Deferred with its
    /// result on the reactor thread (Twisted's `deferToThread`).
    ///
    /// This is how blocking code (a file, a socket, a slow library call) runs without holding
    /// up the reactor: the work runs on one of the pool's threads, and the Deferred fires
    /// from the reactor's loop, so its callbacks run on the reactor thread like everything
    /// else the reactor runs. A panic in `work` becomes the Deferred's failure
    /// ([`PanicError`](crate::PanicError)).
    ///
    /// The pool starts threads as work arrives, up to its
    /// [size](Reactor::suggest_thread_pool_size) (10 unless set); work beyond that waits in
    /// line, first in, first out. Work may be handed over before [`run`](Reactor::run), and
    /// starts at once; its result is delivered once the reactor runs. When the reactor shuts
    /// down, the pool stops (in the "during shutdown" phase, as in Twisted): work still in line
    /// fails with [`ThreadPoolError::Stopped`], work in flight is waited for and its result
    /// delivered, and work handed over later fails at once with the same error.
    ///
    /// ```
    /// use deferreds::reactor::Reactor;
    ///
    /// let reactor = Reactor::new();
    /// let reactor_thread = std::thread::current().id();
    /// let r = reactor.clone();
    /// let done = reactor
    ///     .defer_to_thread(|| {
    ///         std::thread::sleep(std::time::Duration::from_millis(5)); // blocking work
    ///         Ok(std::thread::current().id())
    ///     })
    ///     .map(move |worker| {
    ///         assert_ne!(worker, reactor_thread);
    ///         assert_eq!(std::thread::current().id(), reactor_thread); // back on the reactor
    ///         r.stop().unwrap();
    ///     });
    /// reactor.run().unwrap();
    /// deferreds::testing::success_result_of(done);
    /// ```
    pub fn defer_to_thread<R, F>(&self, work: F) -> Deferred<R>
    where
        R: Send + 'static,
        F: FnOnce() -> Result<R, Failure> + Send + 'static,
    {
        let (d, resolver) = Deferred::new();
        self.submit(job(work, move |outcome| {
            let _ = resolver.resolve(outcome);
        }));
        d
    }

    /// Runs `work` on the reactor's thread pool, with no result to wait for (Twisted's
    /// `callInThread`).
    ///
    /// Work waits in the same line as [`defer_to_thread`](Reactor::defer_to_thread)'s. A panic
    /// in it is reported to the reactor's [failure handler](Reactor::set_failure_handler),
    /// on the reactor thread, as `"while calling in thread"`; so is work that never ran
    /// because the pool stopped first ([`ThreadPoolError::Stopped`]).
    ///
    /// ```
    /// use deferreds::reactor::Reactor;
    ///
    /// let reactor = Reactor::new();
    /// let r = reactor.clone();
    /// reactor.call_in_thread(move || {
    ///     let line = "written to a slow disk"; // blocking work, then back to the reactor:
    ///     let r2 = r.clone();
    ///     r.call_from_thread(move || {
    ///         assert_eq!(line.len(), 22);
    ///         r2.stop().unwrap();
    ///     });
    /// });
    /// reactor.run().unwrap();
    /// ```
    pub fn call_in_thread<F>(&self, work: F)
    where
        F: FnOnce() + Send + 'static,
    {
        let reactor = self.downgrade_handle();
        let work = move || {
            work();
            Ok(())
        };
        self.submit(job(work, move |outcome| {
            if let (Err(failure), Some(reactor)) = (outcome, reactor.upgrade()) {
                reactor.report(ReactorFailure { context: IN_THREAD, failure });
            }
        }));
    }

    /// Sets the most threads the reactor's pool runs at once (Twisted's
    /// `suggestThreadPoolSize`); 10 unless set. Lowering it lets threads beyond the new size
    /// finish their current work and exit. Zero is refused with
    /// [`ThreadPoolError::ZeroSize`]: work would wait for ever.
    ///
    /// ```
    /// use deferreds::reactor::{Reactor, ThreadPoolError};
    ///
    /// let reactor = Reactor::new();
    /// assert_eq!(reactor.thread_pool_size(), 10);
    /// reactor.suggest_thread_pool_size(2).unwrap();
    /// assert_eq!(reactor.thread_pool_size(), 2);
    /// assert_eq!(reactor.suggest_thread_pool_size(0), Err(ThreadPoolError::ZeroSize));
    /// ```
    pub fn suggest_thread_pool_size(&self, size: usize) -> Result<(), ThreadPoolError> {
        self.pool().set_size(size)
    }

    /// The most threads the reactor's pool runs at once.
    ///
    /// ```
    /// assert_eq!(deferreds::reactor::Reactor::new().thread_pool_size(), 10);
    /// ```
    pub fn thread_pool_size(&self) -> usize {
        self.pool().size()
    }

    /// Hands `job` to the pool, or, if the pool cannot take it, delivers its failure now.
    fn submit(&self, job: Job) {
        if let Err((job, error)) = self.pool().submit(job) {
            // Refused work never ran; its failure is delivered here, on the caller's thread,
            // since the reactor has stopped (or no thread could be started for it).
            self.guarded_delivery(job(Err(error)));
        }
    }

    /// Stops the pool at shutdown: fails the work still in line, waits for the work in
    /// flight, and delivers everything on the reactor thread.
    pub(super) fn stop_pool(&self) {
        let stopped = self.pool().stop();
        for job in stopped.queued {
            self.guarded_delivery(job(Err(ThreadPoolError::Stopped)));
        }
        for worker in stopped.workers {
            let _ = worker.join();
        }
        self.deliver_pool_results();
    }

    /// Runs the deliveries of the work finished so far, in the order it finished.
    pub(super) fn deliver_pool_results(&self) {
        for delivery in self.pool().take_finished() {
            self.guarded_delivery(delivery);
        }
    }
}
