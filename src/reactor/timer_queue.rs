//! [`TimerQueue`]: the calls of a [`Time`](super::Time) implementation, for its own loop to run.
//!
//! Part of the reactor, on the typed Deferred: it knows nothing of the engine's insides, the
//! combinators, the primitives or the async bridge.

use std::fmt;
use std::sync::Arc;

use super::delayed::DelayedCall;
use super::error::InvalidDelayError;
use super::queue::call::Call;
use super::queue::{Due, External, Timers};
use super::seconds::Seconds;

/// The timed calls of a [`Time`](super::Time) implementation: the heap behind
/// [`Clock`](super::Clock) and [`Reactor`](super::Reactor), on a clock and a loop of the
/// implementation's own.
///
/// The queue keeps the calls in due-time order (ties in scheduling order) and hands out their
/// [`DelayedCall`] handles, with every rule those follow. The implementation supplies the
/// time (`now`, in seconds, never going backwards) and runs the calls that are due with
/// [`run_due`](TimerQueue::run_due), from its own loop or task, which sleeps until
/// [`next_due`](TimerQueue::next_due) in between. `wake` is called, on the scheduling thread and
/// with no lock held, whenever a call is scheduled or moved earlier than every other pending
/// call, so that the loop can sleep less. Neither closure may call back into the queue.
///
/// Handles are cheap to clone and share one queue; when the last one is dropped, the calls
/// still pending are discarded, as a `Clock`'s are. The documentation of [`Time`](super::Time)
/// has a whole implementation, and `deferreds::tokio::TokioTime` is built on one.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use deferreds::reactor::TimerQueue;
/// use deferreds::testing::Recorder;
///
/// let woken = Arc::new(AtomicBool::new(false));
/// let w = woken.clone();
/// let queue = TimerQueue::new(|| 10.0, move || w.store(true, Ordering::SeqCst));
/// let log = Recorder::new();
/// let l = log.clone();
/// queue.call_later(0.0, move || l.record("due now")).unwrap();
/// assert!(woken.load(Ordering::SeqCst), "the loop is told of its new earliest call");
/// assert_eq!(queue.next_due(), Some(10.0));
/// assert_eq!(queue.run_due(), 1);
/// assert_eq!(log.take(), ["due now"]);
/// assert_eq!(queue.next_due(), None);
/// ```
#[derive(Clone)]
pub struct TimerQueue {
    timers: Arc<Timers>,
}

impl TimerQueue {
    /// An empty queue on the clock `now` (in seconds), whose loop `wake` wakes.
    ///
    /// ```
    /// let queue = deferreds::reactor::TimerQueue::new(|| 0.0, || ());
    /// assert!(queue.pending_calls().is_empty());
    /// ```
    pub fn new(
        now: impl Fn() -> f64 + Send + Sync + 'static,
        wake: impl Fn() + Send + Sync + 'static,
    ) -> TimerQueue {
        TimerQueue {
            timers: Timers::external(External { now: Box::new(now), wake: Box::new(wake) }),
        }
    }

    /// The queue's clock, in seconds.
    ///
    /// ```
    /// assert_eq!(deferreds::reactor::TimerQueue::new(|| 4.5, || ()).now(), 4.5);
    /// ```
    pub fn now(&self) -> f64 {
        self.timers.now()
    }

    /// Schedules `f` to run once `delay` from now, by the first
    /// [`run_due`](TimerQueue::run_due) from then on (Twisted's `callLater`).
    ///
    /// ```
    /// let queue = deferreds::reactor::TimerQueue::new(|| 1.0, || ());
    /// let call = queue.call_later(std::time::Duration::from_secs(2), || ()).unwrap();
    /// assert_eq!(call.get_time(), 3.0);
    /// assert!(queue.call_later(f64::NAN, || ()).is_err());
    /// ```
    pub fn call_later<F>(
        &self,
        delay: impl Into<Seconds>,
        f: F,
    ) -> Result<DelayedCall, InvalidDelayError>
    where
        F: FnOnce() + Send + 'static,
    {
        self.timers.schedule(delay.into().as_secs_f64(), f).map(DelayedCall::new)
    }

    /// [`call_later`](TimerQueue::call_later) for a boxed closure: what
    /// [`Time::call_later_boxed`](super::Time::call_later_boxed) forwards to.
    ///
    /// ```
    /// let queue = deferreds::reactor::TimerQueue::new(|| 0.0, || ());
    /// let call = queue.call_later_boxed(1.0.into(), Box::new(|| ())).unwrap();
    /// assert!(call.active());
    /// ```
    pub fn call_later_boxed(
        &self,
        delay: Seconds,
        f: Box<dyn FnOnce() + Send + 'static>,
    ) -> Result<DelayedCall, InvalidDelayError> {
        self.call_later(delay, f)
    }

    /// When the earliest pending call is due, in the queue's seconds: how long the loop may
    /// sleep. It may name a call that has since been cancelled or moved later, in which case
    /// `run_due` at that time runs nothing and `next_due` moves on.
    ///
    /// ```
    /// let queue = deferreds::reactor::TimerQueue::new(|| 0.0, || ());
    /// assert_eq!(queue.next_due(), None);
    /// queue.call_later(5.0, || ()).unwrap();
    /// queue.call_later(2.0, || ()).unwrap();
    /// assert_eq!(queue.next_due(), Some(2.0));
    /// ```
    pub fn next_due(&self) -> Option<f64> {
        self.timers.next_due()
    }

    /// Runs, on this thread, every call due by now that was scheduled before this run began,
    /// earliest first, and returns how many ran. A call scheduled by a running call for the
    /// current time waits for the next run, as in Twisted's reactor, so a call that keeps
    /// rescheduling itself cannot hold the loop.
    ///
    /// A panic in a call unwinds out of `run_due`; the calls not yet run stay pending for the
    /// next run.
    ///
    /// ```
    /// use deferreds::reactor::TimerQueue;
    /// use deferreds::testing::Recorder;
    ///
    /// let queue = TimerQueue::new(|| 0.0, || ());
    /// let log = Recorder::new();
    /// let (l, q) = (log.clone(), queue.clone());
    /// queue.call_later(0.0, move || {
    ///     l.record("first");
    ///     let l = l.clone();
    ///     q.call_later(0.0, move || l.record("next run")).unwrap();
    /// }).unwrap();
    /// assert_eq!(queue.run_due(), 1);
    /// assert_eq!(queue.run_due(), 1);
    /// assert_eq!(log.take(), ["first", "next run"]);
    /// ```
    pub fn run_due(&self) -> usize {
        let due = Due::Reactor { now: self.timers.now(), before_seq: self.timers.next_seq() };
        let mut ran = 0;
        while let Some(call) = self.timers.pop_due(due) {
            ran += 1;
            Call::run(call);
        }
        ran
    }

    /// The calls still pending, in the order they would run.
    ///
    /// ```
    /// let queue = deferreds::reactor::TimerQueue::new(|| 0.0, || ());
    /// let late = queue.call_later(2.0, || ()).unwrap();
    /// let early = queue.call_later(1.0, || ()).unwrap();
    /// assert_eq!(queue.pending_calls(), [early, late]);
    /// ```
    pub fn pending_calls(&self) -> Vec<DelayedCall> {
        self.timers.pending().into_iter().map(DelayedCall::new).collect()
    }
}

impl fmt::Debug for TimerQueue {
    /// `TimerQueue { now: 1.5, pending: 2 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerQueue")
            .field("now", &self.now())
            .field("pending", &self.timers.pending().len())
            .finish()
    }
}
