//! [`DelayedCall`]: the handle to one scheduled call (Twisted's `IDelayedCall`).
//!
//! Part of the reactor, on the typed Deferred: it knows nothing of the engine's insides, the
//! combinators, the primitives or the async bridge.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::error::DelayedCallError;
use super::queue::call::{Call, Status};
use super::seconds::Seconds;

/// A call scheduled by [`call_later`](super::Time::call_later), which can still be cancelled or
/// moved until it runs (Twisted's `DelayedCall`).
///
/// Handles are cheap to clone and all refer to the same call; two handles are equal when they
/// do. Dropping a handle does not cancel the call. Every method may be used from any thread.
///
/// ```
/// use deferreds::reactor::Clock;
///
/// let clock = Clock::new();
/// let call = clock.call_later(10.0, || println!("later")).unwrap();
/// assert_eq!(call.get_time(), 10.0);
/// call.delay(5.0).unwrap(); // 5 s later than planned
/// assert_eq!(call.get_time(), 15.0);
/// call.reset(1.0).unwrap(); // 1 s from now instead
/// assert_eq!(call.get_time(), 1.0);
/// clock.advance(1.0);
/// assert!(!call.active() && call.called());
/// ```
#[derive(Clone)]
pub struct DelayedCall {
    pub(crate) call: Arc<Call>,
}

impl DelayedCall {
    pub(crate) fn new(call: Arc<Call>) -> DelayedCall {
        DelayedCall { call }
    }

    /// Unschedules the call: it will not run, and its closure is dropped now.
    ///
    /// Fails with [`DelayedCallError::AlreadyCalled`] if the call has run (or is running: a
    /// call cannot cancel itself) and [`DelayedCallError::AlreadyCancelled`] if it was
    /// cancelled, or discarded because its clock was dropped or its reactor shut down.
    ///
    /// ```
    /// use deferreds::reactor::{Clock, DelayedCallError};
    ///
    /// let clock = Clock::new();
    /// let call = clock.call_later(1.0, || unreachable!("cancelled")).unwrap();
    /// call.cancel().unwrap();
    /// clock.advance(2.0);
    /// assert_eq!(call.cancel(), Err(DelayedCallError::AlreadyCancelled));
    /// ```
    pub fn cancel(&self) -> Result<(), DelayedCallError> {
        self.call.cancel()
    }

    /// Reschedules the call for `secs_from_now` from now (seconds, or a `Duration`), earlier or
    /// later than it was.
    ///
    /// Fails like [`cancel`](DelayedCall::cancel) if the call is no longer pending, and with
    /// [`DelayedCallError::InvalidDelay`] if `secs_from_now` is negative, infinite or NaN.
    /// Pushing a call back is O(1), so an idle timeout may be reset on every message.
    ///
    /// ```
    /// use deferreds::reactor::Clock;
    ///
    /// let clock = Clock::new();
    /// let call = clock.call_later(2.0, || ()).unwrap();
    /// clock.advance(1.0);
    /// call.reset(3.0).unwrap();
    /// assert_eq!(call.get_time(), 4.0);
    /// ```
    pub fn reset(&self, secs_from_now: impl Into<Seconds>) -> Result<(), DelayedCallError> {
        self.call.reset(secs_from_now.into().as_secs_f64())
    }

    /// Moves the call `secs_later` after the time it was due (seconds, or a `Duration`); a
    /// negative number of seconds moves it earlier, as in Twisted.
    ///
    /// Fails like [`cancel`](DelayedCall::cancel) if the call is no longer pending, and with
    /// [`DelayedCallError::InvalidDelay`] if `secs_later` is infinite or NaN.
    ///
    /// ```
    /// use deferreds::reactor::Clock;
    ///
    /// let clock = Clock::new();
    /// let call = clock.call_later(1.0, || ()).unwrap();
    /// call.delay(1.0).unwrap();
    /// assert_eq!(call.get_time(), 2.0);
    /// call.delay(-1.5).unwrap();
    /// assert_eq!(call.get_time(), 0.5);
    /// ```
    pub fn delay(&self, secs_later: impl Into<Seconds>) -> Result<(), DelayedCallError> {
        self.call.delay(secs_later.into().as_secs_f64())
    }

    /// Whether the call is still pending: neither run (nor running) nor cancelled.
    ///
    /// ```
    /// let clock = deferreds::reactor::Clock::new();
    /// let call = clock.call_later(1.0, || ()).unwrap();
    /// assert!(call.active());
    /// call.cancel().unwrap();
    /// assert!(!call.active());
    /// ```
    pub fn active(&self) -> bool {
        self.call.status() == Status::Pending
    }

    /// Whether the call has run, or is running now (Twisted's `called`).
    ///
    /// ```
    /// let clock = deferreds::reactor::Clock::new();
    /// let call = clock.call_later(0.0, || ()).unwrap();
    /// assert!(!call.called());
    /// clock.advance(0.0);
    /// assert!(call.called());
    /// ```
    pub fn called(&self) -> bool {
        self.call.status() == Status::Called
    }

    /// Whether the call was cancelled, or discarded with its clock or reactor (Twisted's
    /// `cancelled`).
    ///
    /// ```
    /// let clock = deferreds::reactor::Clock::new();
    /// let call = clock.call_later(1.0, || ()).unwrap();
    /// drop(clock); // the last handle: pending calls are discarded
    /// assert!(call.cancelled());
    /// ```
    pub fn cancelled(&self) -> bool {
        self.call.status() == Status::Cancelled
    }

    /// The time, in the clock's seconds, at which the call is due, or was when it ran or was
    /// cancelled (Twisted's `getTime`).
    ///
    /// ```
    /// let clock = deferreds::reactor::Clock::new();
    /// clock.advance(10.0);
    /// let call = clock.call_later(2.5, || ()).unwrap();
    /// assert_eq!(call.get_time(), 12.5);
    /// ```
    pub fn get_time(&self) -> f64 {
        self.call.get_time()
    }
}

impl PartialEq for DelayedCall {
    /// Two handles are equal when they refer to the same call.
    fn eq(&self, other: &DelayedCall) -> bool {
        self.call.addr() == other.call.addr()
    }
}

impl Eq for DelayedCall {}

impl Hash for DelayedCall {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::ptr::hash(self.call.addr(), state);
    }
}

impl fmt::Debug for DelayedCall {
    /// `DelayedCall { seq: 3, time: 12.5, state: Pending }`: `seq` is the order in which calls
    /// were scheduled on their clock, which breaks ties in `time`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelayedCall")
            .field("seq", &self.call.seq())
            .field("time", &self.get_time())
            .field("state", &self.call.status())
            .finish()
    }
}
