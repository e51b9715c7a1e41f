//! [`Clock`]: deterministic time for tests (Twisted's `task.Clock`).
//!
//! Part of the reactor, on the typed Deferred: it knows nothing of the engine's insides, the
//! combinators, the primitives or the async bridge.

use std::fmt;
use std::sync::Arc;

use super::delayed::DelayedCall;
use super::error::InvalidDelayError;
use super::queue::call::Call;
use super::queue::{Due, Nesting, Timers};
use super::seconds::Seconds;
use super::time::{Time, WeakTime};

/// A time source that moves only when told to: the way to test timed code without waiting
/// (Twisted's `task.Clock`).
///
/// Time starts at 0. [`advance`](Clock::advance) moves it forward and runs, on the calling
/// thread, every call that has come due, in order of due time and then of scheduling.
///
/// ```
/// use deferreds::reactor::Clock;
/// use deferreds::testing::Recorder;
///
/// let clock = Clock::new();
/// let log = Recorder::new();
/// let l = log.clone();
/// clock.call_later(5.0, move || l.record("five")).unwrap();
/// clock.advance(4.0);
/// assert!(log.events().is_empty());
/// clock.advance(1.0);
/// assert_eq!(log.take(), ["five"]);
/// assert_eq!(clock.seconds(), 5.0);
/// ```
///
/// Handles are cheap to clone and share one clock, so a closure may keep one to schedule
/// more calls. Each clock is independent: tests running in parallel never share time. When the
/// last handle is dropped, calls still pending are discarded (their closures are dropped and
/// their [`DelayedCall`]s report [`cancelled`](DelayedCall::cancelled)); a pending closure
/// that owns a handle to its own clock keeps the clock alive until it runs or is cancelled.
///
/// Scheduling, resetting and cancelling are O(log n) or better and firing is O(log n): the
/// calls wait in a binary heap with lazy removal, where Twisted's `Clock` re-sorts its whole
/// list after every change.
#[derive(Clone)]
pub struct Clock {
    timers: Arc<Timers>,
}

impl Clock {
    /// How deeply calls scheduled *during* an [`advance`](Clock::advance), for a time it has
    /// already reached, may nest before they wait for the next `advance`.
    ///
    /// As in Twisted, a call that a running call schedules for the current time (a
    /// `call_later(0.0, ..)`) runs in the same `advance`, and so does one that call
    /// schedules, and so on: [Twisted's `Clock`](https://github.com/twisted/twisted/issues/5962)
    /// loops forever on a call that keeps rescheduling itself. Here a call scheduled outside
    /// the running calls has depth 0 and one scheduled by a call of depth n has depth n + 1;
    /// `advance` stops at the first due call deeper than this limit, which then runs at the
    /// start of the next `advance` (with depth 0 again).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use deferreds::reactor::Clock;
    ///
    /// fn forever(clock: Clock, runs: Arc<AtomicUsize>) {
    ///     runs.fetch_add(1, Ordering::SeqCst);
    ///     let c = clock.clone();
    ///     clock.call_later(0.0, move || forever(c, runs)).unwrap();
    /// }
    ///
    /// let clock = Clock::new();
    /// let runs = Arc::new(AtomicUsize::new(0));
    /// let (c, r) = (clock.clone(), runs.clone());
    /// clock.call_later(0.0, move || forever(c, r)).unwrap();
    /// clock.advance(0.0); // returns, where Twisted's Clock would never return
    /// assert_eq!(runs.load(Ordering::SeqCst), Clock::NESTING_LIMIT as usize + 1);
    /// assert_eq!(clock.pending_calls().len(), 1);
    /// ```
    pub const NESTING_LIMIT: u32 = 1000;

    /// A clock at time 0 with nothing scheduled.
    ///
    /// ```
    /// let clock = deferreds::reactor::Clock::new();
    /// assert_eq!(clock.seconds(), 0.0);
    /// assert!(clock.pending_calls().is_empty());
    /// ```
    pub fn new() -> Clock {
        Clock { timers: Timers::manual() }
    }

    /// The clock's current time, in seconds.
    ///
    /// ```
    /// let clock = deferreds::reactor::Clock::new();
    /// clock.pump([0.5, 0.25]);
    /// assert_eq!(clock.seconds(), 0.75);
    /// ```
    pub fn seconds(&self) -> f64 {
        self.timers.now()
    }

    /// Runs `f` when the clock reaches `delay` from now ([`Time::call_later`]).
    ///
    /// ```
    /// let clock = deferreds::reactor::Clock::new();
    /// let call = clock.call_later(1.0, || ()).unwrap();
    /// assert!(call.active());
    /// assert!(clock.call_later(-1.0, || ()).is_err());
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

    /// Moves time forward by `amount` (seconds as an `f64`, or a `Duration`), then runs every call due by the new time, on
    /// this thread, earliest first (ties in scheduling order).
    ///
    /// As in Twisted, time jumps: every due call sees the new time, including one that was
    /// due earlier. A call that the running calls schedule for the new time runs in this same
    /// `advance`, within [`NESTING_LIMIT`](Clock::NESTING_LIMIT). A panic in a call unwinds
    /// out of `advance` (Twisted lets the exception propagate); the calls not yet run stay
    /// pending.
    ///
    /// Time saturates at `f64::MAX` seconds: an `advance` that would go past it stops there,
    /// runs what is due, and leaves the clock usable. Time no longer moves from there, and a
    /// delay that would lead past it is refused with an
    /// [`InvalidDelayError`] that says so.
    ///
    /// # Panics
    ///
    /// If `amount` is negative, infinite or NaN: a test clock never goes back in time.
    ///
    /// ```
    /// use deferreds::reactor::Clock;
    /// use deferreds::testing::Recorder;
    ///
    /// let clock = Clock::new();
    /// let log = Recorder::new();
    /// let (l, c) = (log.clone(), clock.clone());
    /// clock.call_later(1.0, move || {
    ///     l.record(format!("at {}", c.seconds()));
    ///     let l2 = l.clone();
    ///     c.call_later(0.0, move || l2.record("nested, same advance")).unwrap();
    /// }).unwrap();
    /// clock.advance(3.0);
    /// assert_eq!(log.take(), ["at 3", "nested, same advance"]);
    /// ```
    pub fn advance(&self, amount: impl Into<Seconds>) {
        let amount = amount.into().as_secs_f64();
        assert!(
            amount.is_finite() && amount >= 0.0,
            "Clock::advance({amount}): the amount must be a finite, non-negative number of seconds"
        );
        /// Closes the `advance`, also when a call panics.
        struct End<'a>(&'a Timers, Nesting);
        impl Drop for End<'_> {
            fn drop(&mut self) {
                self.0.end_advance(self.1);
            }
        }
        let saved = self.timers.begin_advance(amount);
        let _end = End(&self.timers, saved);
        let due = Due::Clock { limit: Clock::NESTING_LIMIT };
        while let Some(call) = self.timers.pop_due(due) {
            Call::run(call);
        }
    }

    /// [`advance`](Clock::advance)s by each amount in turn (Twisted's `pump`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// let clock = deferreds::reactor::Clock::new();
    /// let runs = Arc::new(AtomicUsize::new(0));
    /// for t in [1.0, 2.0, 3.0] {
    ///     let r = runs.clone();
    ///     clock.call_later(t, move || { r.fetch_add(1, Ordering::SeqCst); }).unwrap();
    /// }
    /// clock.pump([1.0, 1.0]);
    /// assert_eq!(runs.load(Ordering::SeqCst), 2);
    /// ```
    pub fn pump<S: Into<Seconds>>(&self, timings: impl IntoIterator<Item = S>) {
        for amount in timings {
            self.advance(amount);
        }
    }

    /// The calls still pending, in the order they would run (Twisted's `getDelayedCalls`).
    ///
    /// ```
    /// let clock = deferreds::reactor::Clock::new();
    /// let late = clock.call_later(2.0, || ()).unwrap();
    /// let early = clock.call_later(1.0, || ()).unwrap();
    /// assert_eq!(clock.pending_calls(), [early, late]);
    /// ```
    pub fn pending_calls(&self) -> Vec<DelayedCall> {
        self.timers.pending().into_iter().map(DelayedCall::new).collect()
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}

impl Time for Clock {
    #[inline]
    fn seconds(&self) -> f64 {
        Clock::seconds(self)
    }

    #[inline]
    fn call_later_boxed(
        &self,
        delay: Seconds,
        f: Box<dyn FnOnce() + Send + 'static>,
    ) -> Result<DelayedCall, InvalidDelayError> {
        Clock::call_later(self, delay, f)
    }

    fn downgrade(&self) -> Option<WeakTime> {
        Some(WeakTime::of(&self.timers, |timers| Clock { timers }))
    }
}

impl fmt::Debug for Clock {
    /// `Clock { now: 1.5, pending: 2 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clock")
            .field("now", &self.seconds())
            .field("pending", &self.timers.pending().len())
            .finish()
    }
}
