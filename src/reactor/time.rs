//! [`Time`]: the time source that everything timed takes (Twisted's `IReactorTime`).
//!
//! Part of the reactor, on the typed Deferred: it knows nothing of the engine's insides, the
//! combinators, the primitives or the async bridge.

use std::sync::Arc;

use super::delayed::DelayedCall;
use super::error::InvalidDelayError;
use super::seconds::Seconds;

/// A handle on a time source that does not keep it alive (see [`Time::downgrade`]).
///
/// ```
/// use deferreds::reactor::{Clock, Time};
///
/// let clock = Clock::new();
/// let weak = clock.downgrade().unwrap();
/// assert!(weak.upgrade().is_some());
/// drop(clock);
/// assert!(weak.upgrade().is_none());
/// ```
pub struct WeakTime(Box<dyn Fn() -> Option<Box<dyn Time>> + Send + Sync>);

impl std::fmt::Debug for WeakTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WeakTime")
    }
}

impl WeakTime {
    /// A weak handle that `upgrade` turns into a strong one, or `None` once the time source
    /// is gone. `upgrade` is typically a `Weak::upgrade` of the source's shared state.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use deferreds::reactor::{Clock, Time, WeakTime};
    ///
    /// let clock = Arc::new(Clock::new());
    /// let weak = Arc::downgrade(&clock);
    /// let handle = WeakTime::new(move || weak.upgrade().map(|c| Box::new(c) as Box<dyn Time>));
    /// assert_eq!(handle.upgrade().unwrap().seconds(), 0.0);
    /// ```
    pub fn new(upgrade: impl Fn() -> Option<Box<dyn Time>> + Send + Sync + 'static) -> WeakTime {
        WeakTime(Box::new(upgrade))
    }

    /// A weak handle on the time source `wrap` makes of `shared`, the state its handles share.
    pub(crate) fn of<S, T>(shared: &Arc<S>, wrap: fn(Arc<S>) -> T) -> WeakTime
    where
        S: Send + Sync + 'static,
        T: Time + 'static,
    {
        let shared = Arc::downgrade(shared);
        WeakTime::new(move || shared.upgrade().map(|shared| Box::new(wrap(shared)) as _))
    }

    /// A handle that keeps `time` alive after all: for a source that cannot be held weakly.
    pub(crate) fn strong<T: Time + 'static>(time: T) -> WeakTime {
        let time = Arc::new(time);
        WeakTime::new(move || Some(Box::new(time.clone())))
    }

    /// The time source, unless every strong handle to it was dropped.
    pub fn upgrade(&self) -> Option<Box<dyn Time>> {
        (self.0)()
    }
}

/// A source of time that can run closures later: the real [`Reactor`](super::Reactor) or the
/// deterministic [`Clock`](super::Clock) (Twisted's `IReactorTime`).
///
/// Code that needs time takes it as `&impl Time` (or `&dyn Time`, or an `Arc<dyn Time>` to
/// keep), so the same code runs on the real reactor in production and on a `Clock` in tests:
///
/// ```
/// use deferreds::reactor::{Clock, Time, defer_later};
/// use deferreds::Deferred;
///
/// /// Says hello after `secs` seconds, on any time source.
/// fn greet_later(time: &impl Time, secs: f64) -> Deferred<String> {
///     defer_later(time, secs, || Ok("hello".to_string()))
/// }
///
/// let clock = Clock::new();
/// let d = greet_later(&clock, 2.0);
/// deferreds::testing::assert_no_result(&d);
/// clock.advance(2.0);
/// assert_eq!(deferreds::testing::success_result_of(d), "hello");
/// ```
///
/// Scheduled closures run on the thread that drives the time source: the one in
/// [`Reactor::run`](super::Reactor::run), or the one calling
/// [`Clock::advance`](super::Clock::advance). Scheduling is allowed from any thread.
///
/// # Implementing it
///
/// The trait is open: any source of time that can run a closure later may implement it, as
/// `deferreds::tokio::TokioTime` does for tokio's timer. Its contract:
///
/// - [`seconds`](Time::seconds) never goes backwards.
/// - [`call_later_boxed`](Time::call_later_boxed) refuses a delay that is negative, infinite
///   or NaN with [`InvalidDelayError`], and otherwise runs `f` exactly once, no earlier than
///   `delay` seconds from now as `seconds` counts them, unless the returned [`DelayedCall`] is
///   cancelled first (then `f` is dropped without running). Calls due at the same time run in
///   the order they were scheduled. `f` never runs inside `call_later_boxed`, and never while
///   the implementation holds a lock that scheduling or cancelling takes: calls schedule,
///   cancel and move other calls.
/// - A `DelayedCall` can only be made by a [`TimerQueue`](super::TimerQueue), which keeps the
///   calls, their order and their handles' rules; an implementation owns one and runs its due
///   calls from its own loop or task ([`TimerQueue::run_due`](super::TimerQueue::run_due)).
/// - [`downgrade`](Time::downgrade) is optional.
///
/// References, `Box`es and `Arc`s of anything that implements it implement it too.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use deferreds::reactor::{DelayedCall, InvalidDelayError, Seconds, Time, TimerQueue};
///
/// /// Time in whole milliseconds, moved by a game loop's `tick`.
/// #[derive(Clone)]
/// struct Ticks {
///     millis: Arc<AtomicU64>,
///     queue: TimerQueue,
/// }
///
/// impl Ticks {
///     fn new() -> Ticks {
///         let millis = Arc::new(AtomicU64::new(0));
///         let m = millis.clone();
///         let queue = TimerQueue::new(move || m.load(Ordering::SeqCst) as f64 / 1000.0, || ());
///         Ticks { millis, queue }
///     }
///
///     fn tick(&self, millis: u64) {
///         self.millis.fetch_add(millis, Ordering::SeqCst);
///         self.queue.run_due();
///     }
/// }
///
/// impl Time for Ticks {
///     fn seconds(&self) -> f64 {
///         self.queue.now()
///     }
///
///     fn call_later_boxed(
///         &self,
///         delay: Seconds,
///         f: Box<dyn FnOnce() + Send + 'static>,
///     ) -> Result<DelayedCall, InvalidDelayError> {
///         self.queue.call_later_boxed(delay, f)
///     }
/// }
///
/// let ticks = Ticks::new();
/// let d = deferreds::reactor::defer_later(&ticks, 0.05, || Ok("fifty"));
/// ticks.tick(40);
/// deferreds::testing::assert_no_result(&d);
/// ticks.tick(10);
/// assert_eq!(deferreds::testing::success_result_of(d), "fifty");
/// ```
pub trait Time: Send + Sync {
    /// The current time in seconds: the clock's for a [`Clock`](super::Clock), monotonic
    /// seconds since the reactor was created for a [`Reactor`](super::Reactor).
    ///
    /// ```
    /// use deferreds::reactor::{Clock, Time};
    /// let clock = Clock::new();
    /// clock.advance(1.5);
    /// let time: &dyn Time = &clock;
    /// assert_eq!(time.seconds(), 1.5);
    /// ```
    fn seconds(&self) -> f64;

    /// [`call_later`](Time::call_later) for a closure that is already boxed: the form a
    /// `dyn Time` is built on, and the way to call it on a `dyn Time` directly (`call_later` is
    /// for sized types, which include `&dyn Time`, `Box<dyn Time>` and `Arc<dyn Time>`).
    ///
    /// ```
    /// use deferreds::reactor::{Clock, Time};
    /// let clock = Clock::new();
    /// let time: &dyn Time = &clock;
    /// let a = time.call_later_boxed(1.0.into(), Box::new(|| ())).unwrap();
    /// let b = Time::call_later(&time, 2.0, || ()).unwrap(); // through `&dyn Time: Time`
    /// assert_eq!((a.get_time(), b.get_time()), (1.0, 2.0));
    /// ```
    fn call_later_boxed(
        &self,
        delay: Seconds,
        f: Box<dyn FnOnce() + Send + 'static>,
    ) -> Result<DelayedCall, InvalidDelayError>;

    /// Runs `f` once, `delay` from now (seconds as an `f64`, or a `Duration`), and returns the
    /// handle that can cancel or move it (Twisted's `callLater`).
    ///
    /// Calls due at the same time run in the order they were scheduled. A `delay` that is
    /// negative, infinite or NaN is refused with [`InvalidDelayError`] (Twisted's reactor
    /// asserts; its `Clock` accepts it).
    ///
    /// ```
    /// use deferreds::reactor::{Clock, Time};
    /// use deferreds::testing::Recorder;
    ///
    /// fn say_later(time: &impl Time, secs: f64, log: &Recorder, what: &'static str) {
    ///     let log = log.clone();
    ///     time.call_later(secs, move || log.record(what)).unwrap();
    /// }
    ///
    /// let clock = Clock::new();
    /// let log = Recorder::new();
    /// say_later(&clock, 2.0, &log, "two");
    /// say_later(&clock, 1.0, &log, "one");
    /// clock.advance(2.0);
    /// assert_eq!(log.take(), ["one", "two"]);
    /// ```
    fn call_later<F>(
        &self,
        delay: impl Into<Seconds>,
        f: F,
    ) -> Result<DelayedCall, InvalidDelayError>
    where
        F: FnOnce() + Send + 'static,
        Self: Sized,
    {
        self.call_later_boxed(delay.into(), Box::new(f))
    }

    /// A handle on this time source that does not keep it alive, or `None` (the default) if it
    /// has none.
    ///
    /// A running [`LoopingCall`](super::LoopingCall) holds its time source through this
    /// handle: its next call, which the time source holds, owns the loop, so holding the
    /// source strongly as well would keep both alive for ever. A source that returns `None`
    /// is held strongly, and then a loop that is never stopped keeps it alive.
    ///
    /// ```
    /// use deferreds::reactor::{Clock, Time};
    /// assert!(Clock::new().downgrade().is_some());
    /// ```
    fn downgrade(&self) -> Option<WeakTime> {
        None
    }
}

macro_rules! forward {
    ($($ty:ty),*) => {$(
        impl<T: Time + ?Sized> Time for $ty {
            #[inline]
            fn seconds(&self) -> f64 {
                (**self).seconds()
            }

            #[inline]
            fn call_later_boxed(
                &self,
                delay: Seconds,
                f: Box<dyn FnOnce() + Send + 'static>,
            ) -> Result<DelayedCall, InvalidDelayError> {
                (**self).call_later_boxed(delay, f)
            }

            fn downgrade(&self) -> Option<WeakTime> {
                (**self).downgrade()
            }
        }
    )*};
}

forward!(&T, Box<T>, Arc<T>);
