//! [`Seconds`]: the one type every delay, interval and timeout converts into.
//!
//! Part of the reactor, on the typed Deferred: it knows nothing of the engine's insides, the
//! combinators, the primitives or the async bridge.

use std::time::Duration;

/// A span of time, in seconds: what every delay, interval, timeout and clock advance takes.
///
/// Both Twisted's unit, an `f64` of seconds, and Rust's [`Duration`] convert into it, so every
/// method that takes `impl Into<Seconds>` takes either:
///
/// ```
/// use std::time::Duration;
/// use deferreds::reactor::{Clock, Seconds};
///
/// let clock = Clock::new();
/// let a = clock.call_later(1.5, || ()).unwrap();
/// let b = clock.call_later(Duration::from_millis(1500), || ()).unwrap();
/// assert_eq!(a.get_time(), b.get_time());
/// clock.advance(Duration::from_secs(1));
/// clock.advance(0.5);
/// assert!(a.called() && b.called());
/// assert_eq!(Seconds::from(Duration::from_millis(250)).as_secs_f64(), 0.25);
/// ```
///
/// An `f64` may be negative, infinite or NaN; whatever takes it checks it and refuses such a
/// value with a typed error, as it did before ([`InvalidDelayError`](super::InvalidDelayError)).
/// A `Duration` is always finite and not negative; its nanoseconds are rounded to the nearest
/// `f64`, well below a nanosecond for any span under a hundred days.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Seconds(f64);

impl Seconds {
    /// A span of `secs` seconds.
    ///
    /// ```
    /// assert_eq!(deferreds::reactor::Seconds::new(2.5).as_secs_f64(), 2.5);
    /// ```
    pub const fn new(secs: f64) -> Seconds {
        Seconds(secs)
    }

    /// The span in seconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = deferreds::reactor::Seconds::from(Duration::from_secs(3));
    /// assert_eq!(s.as_secs_f64(), 3.0);
    /// ```
    pub const fn as_secs_f64(self) -> f64 {
        self.0
    }
}

impl From<f64> for Seconds {
    /// `secs` seconds, Twisted's unit.
    fn from(secs: f64) -> Seconds {
        Seconds(secs)
    }
}

impl From<Duration> for Seconds {
    /// The duration in seconds.
    fn from(duration: Duration) -> Seconds {
        Seconds(duration.as_secs_f64())
    }
}
