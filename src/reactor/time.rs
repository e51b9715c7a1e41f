//! [`Time`]: the time source that everything timed takes (Twisted's `IReactorTime`).

use std::sync::Arc;

use super::delayed::DelayedCall;
use super::error::InvalidDelayError;

mod sealed {
    /// Keeps [`Time`](super::Time) implemented only here: a [`DelayedCall`](super::DelayedCall) can only come from
    /// this crate's heap, so an outside implementation could only delegate to one of ours.
    pub trait Sealed {
        /// A handle on the same time source that does not keep it alive.
        fn downgrade(&self) -> WeakTime;
    }

    /// A time source held weakly, by what its own calls keep alive (a running
    /// [`LoopingCall`](crate::reactor::LoopingCall)): holding it strongly would make a cycle
    /// through the call, and a clock nobody else holds would never be freed.
    pub struct WeakTime(Box<dyn Fn() -> Option<Box<dyn super::Time>> + Send + Sync>);

    impl std::fmt::Debug for WeakTime {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("WeakTime")
        }
    }

    impl WeakTime {
        pub(crate) fn new(
            upgrade: impl Fn() -> Option<Box<dyn super::Time>> + Send + Sync + 'static,
        ) -> WeakTime {
            WeakTime(Box::new(upgrade))
        }

        /// The time source, unless every handle to it was dropped.
        pub(crate) fn upgrade(&self) -> Option<Box<dyn super::Time>> {
            (self.0)()
        }
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
/// The trait is sealed: [`Clock`](super::Clock) and [`Reactor`](super::Reactor) implement it,
/// and so do references, `Box`es and `Arc`s of anything that does.
pub trait Time: sealed::Sealed + Send + Sync {
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
    /// let a = time.call_later_boxed(1.0, Box::new(|| ())).unwrap();
    /// let b = Time::call_later(&time, 2.0, || ()).unwrap(); // through `&dyn Time: Time`
    /// assert_eq!((a.get_time(), b.get_time()), (1.0, 2.0));
    /// ```
    fn call_later_boxed(
        &self,
        delay: f64,
        f: Box<dyn FnOnce() + Send + 'static>,
    ) -> Result<DelayedCall, InvalidDelayError>;

    /// Runs `f` once, `delay` seconds from now, and returns the handle that can cancel or move
    /// it (Twisted's `callLater`).
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
    fn call_later<F>(&self, delay: f64, f: F) -> Result<DelayedCall, InvalidDelayError>
    where
        F: FnOnce() + Send + 'static,
        Self: Sized,
    {
        self.call_later_boxed(delay, Box::new(f))
    }
}

macro_rules! forward {
    ($($ty:ty),*) => {$(
        impl<T: Time + ?Sized> sealed::Sealed for $ty {
            fn downgrade(&self) -> sealed::WeakTime {
                (**self).downgrade()
            }
        }

        impl<T: Time + ?Sized> Time for $ty {
            #[inline]
            fn seconds(&self) -> f64 {
                (**self).seconds()
            }

            #[inline]
            fn call_later_boxed(
                &self,
                delay: f64,
                f: Box<dyn FnOnce() + Send + 'static>,
            ) -> Result<DelayedCall, InvalidDelayError> {
                (**self).call_later_boxed(delay, f)
            }
        }
    )*};
}

forward!(&T, Box<T>, Arc<T>);

pub(crate) use sealed::{Sealed, WeakTime};
