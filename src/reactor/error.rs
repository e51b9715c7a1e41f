//! The reactor's errors: typed answers where Twisted raises an exception or asserts.
//!
//! Part of the reactor, on the typed Deferred: it knows nothing of the engine's insides, the
//! combinators, the primitives or the async bridge.

/// A delay, timeout or reset that is negative, infinite or NaN, or that would take the time
/// something is due past the largest time a clock can hold.
///
/// Twisted's reactor asserts `delay >= 0` and its `Clock` accepts anything; here every delay is
/// checked. The message reads `invalid delay: -1 seconds (a delay must be finite and not
/// negative)`.
///
/// A valid delay is refused too when adding it to the time it counts from (the clock's time,
/// or the call's due time for [`DelayedCall::delay`](super::DelayedCall::delay)) gives a time
/// that is not finite: a clock holds times up to `f64::MAX` seconds. Then
/// [`start`](InvalidDelayError::start) is that time, and the message says so.
///
/// ```
/// use deferreds::reactor::{Clock, InvalidDelayError};
///
/// let clock = Clock::new();
/// let err: InvalidDelayError = clock.call_later(-1.0, || ()).unwrap_err();
/// assert_eq!(err.delay(), -1.0);
/// assert!(clock.call_later(f64::NAN, || ()).is_err());
/// assert!(clock.call_later(f64::INFINITY, || ()).is_err());
///
/// clock.advance(1e308);
/// let err = clock.call_later(1e308, || ()).unwrap_err();
/// assert_eq!(err.start(), Some(1e308));
/// assert_eq!(
///     err.to_string(),
///     "invalid delay: 1e308 seconds from 1e308 s (the time it leads to is past the largest \
///      time a clock can hold)"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("invalid delay: {} seconds {}", seconds(*.delay), reason(*.start))]
pub struct InvalidDelayError {
    pub(crate) delay: f64,
    /// The time the delay counts from, when the delay is valid but the time it leads to is not
    /// finite.
    pub(crate) start: Option<f64>,
}

fn reason(start: Option<f64>) -> String {
    match start {
        None => "(a delay must be finite and not negative)".to_string(),
        Some(start) => format!(
            "from {} s (the time it leads to is past the largest time a clock can hold)",
            seconds(start)
        ),
    }
}

/// A number of seconds as people write it: `1.5`, and `1e308` rather than its 309 digits.
fn seconds(secs: f64) -> String {
    if secs.abs() >= 1e15 { format!("{secs:e}") } else { format!("{secs}") }
}

impl InvalidDelayError {
    /// A delay that is negative, infinite or NaN.
    pub(crate) fn new(delay: f64) -> InvalidDelayError {
        InvalidDelayError { delay, start: None }
    }

    /// A valid delay that, counted from `start`, leads to a time that is not finite.
    pub(crate) fn overflow(delay: f64, start: f64) -> InvalidDelayError {
        InvalidDelayError { delay, start: Some(start) }
    }

    /// The delay that was refused, in seconds.
    ///
    /// ```
    /// let clock = deferreds::reactor::Clock::new();
    /// assert!(clock.call_later(f64::NAN, || ()).unwrap_err().delay().is_nan());
    /// ```
    pub fn delay(&self) -> f64 {
        self.delay
    }

    /// The time the delay was counted from, if the delay itself was valid and it was the time
    /// it leads to that is not finite; `None` if the delay itself is negative, infinite or NaN.
    ///
    /// ```
    /// use deferreds::reactor::{Clock, DelayedCallError};
    ///
    /// let clock = Clock::new();
    /// assert_eq!(clock.call_later(-1.0, || ()).unwrap_err().start(), None);
    /// let call = clock.call_later(1.0, || ()).unwrap();
    /// call.delay(f64::MAX).unwrap(); // due at f64::MAX seconds
    /// match call.delay(f64::MAX) {
    ///     Err(DelayedCallError::InvalidDelay(err)) => assert_eq!(err.start(), Some(f64::MAX)),
    ///     other => panic!("{other:?}"),
    /// }
    /// assert_eq!(call.get_time(), f64::MAX, "a refused delay changes nothing");
    /// ```
    pub fn start(&self) -> Option<f64> {
        self.start
    }
}

/// Checks a delay in seconds: finite and not negative.
pub(crate) fn check_delay(delay: f64) -> Result<f64, InvalidDelayError> {
    if delay.is_finite() && delay >= 0.0 { Ok(delay) } else { Err(InvalidDelayError::new(delay)) }
}

/// Checks a delay counted from `start`: [`check_delay`], and a finite time at the end of it.
/// Returns that time.
pub(crate) fn check_delay_from(start: f64, delay: f64) -> Result<f64, InvalidDelayError> {
    let time = start + check_delay(delay)?;
    if time.is_finite() { Ok(time) } else { Err(InvalidDelayError::overflow(delay, start)) }
}

/// Why [`DelayedCall::cancel`](super::DelayedCall::cancel), [`reset`](super::DelayedCall::reset)
/// or [`delay`](super::DelayedCall::delay) refused (Twisted's `AlreadyCalled` and
/// `AlreadyCancelled` exceptions).
///
/// ```
/// use deferreds::reactor::{Clock, DelayedCallError};
///
/// let clock = Clock::new();
/// let call = clock.call_later(1.0, || ()).unwrap();
/// clock.advance(1.0);
/// assert_eq!(call.cancel(), Err(DelayedCallError::AlreadyCalled));
/// assert_eq!(call.cancel().unwrap_err().to_string(), "the delayed call has already been called");
///
/// let call = clock.call_later(1.0, || ()).unwrap();
/// call.cancel().unwrap();
/// assert_eq!(call.reset(5.0), Err(DelayedCallError::AlreadyCancelled));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum DelayedCallError {
    /// The call has already run (or is running now).
    #[error("the delayed call has already been called")]
    AlreadyCalled,
    /// The call was cancelled, or discarded with its clock or reactor.
    #[error("the delayed call has already been cancelled")]
    AlreadyCancelled,
    /// The new delay is negative (for `reset`), infinite or NaN.
    #[error(transparent)]
    InvalidDelay(#[from] InvalidDelayError),
}

/// Why [`Reactor::run`](super::Reactor::run) or [`Reactor::stop`](super::Reactor::stop) refused
/// (Twisted's `ReactorNotRunning`, `ReactorAlreadyRunning` and `ReactorNotRestartable`).
///
/// ```
/// use deferreds::reactor::{Reactor, ReactorError};
///
/// let reactor = Reactor::new();
/// assert_eq!(reactor.stop(), Err(ReactorError::NotRunning));
/// assert_eq!(ReactorError::NotRunning.to_string(), "can't stop a reactor that isn't running");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReactorError {
    /// `stop` before `run`, after shutdown, or a second time before shutdown completed.
    #[error("can't stop a reactor that isn't running")]
    NotRunning,
    /// `run` while the reactor is already running.
    #[error("the reactor is already running")]
    AlreadyRunning,
    /// `run` after the reactor has run and stopped: a reactor runs once.
    #[error("the reactor has already run and cannot be restarted")]
    NotRestartable,
}

/// Why a [`LoopingCall`](super::LoopingCall) refused to start, stop or reset (Twisted asserts,
/// or raises `ValueError` for a negative interval).
///
/// ```
/// use deferreds::reactor::{Clock, LoopingCall, LoopingCallError};
///
/// let clock = Clock::new();
/// let lc = LoopingCall::new(clock.clone(), || ());
/// assert_eq!(lc.stop().unwrap_err(), LoopingCallError::NotRunning);
/// assert_eq!(lc.start(-1.0, true).unwrap_err(), LoopingCallError::InvalidInterval(-1.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum LoopingCallError {
    /// `start` while the loop is running.
    #[error("the LoopingCall is already running")]
    AlreadyRunning,
    /// `stop` or `reset` while the loop is not running.
    #[error("the LoopingCall is not running")]
    NotRunning,
    /// The interval is negative, infinite or NaN.
    #[error("invalid interval: {0} seconds (an interval must be finite and not negative)")]
    InvalidInterval(f64),
    /// Every handle to the loop's time source was dropped: nothing can run its calls any more.
    /// `start` and `reset` return it; a loop that was waiting for its next call when it happened
    /// is left waiting, since that call was discarded with the time source.
    #[error("the LoopingCall's time source was dropped")]
    TimeSourceDropped,
}

/// The failure of a Deferred that [timed out](crate::Deferred::add_timeout) (Twisted's
/// `defer.TimeoutError`). It carries the timeout.
///
/// ```
/// use deferreds::reactor::{Clock, TimeoutError};
///
/// let clock = Clock::new();
/// let (d, _r) = deferreds::Deferred::<u8>::new();
/// let d = d.add_timeout(5.0, &clock);
/// clock.advance(5.0);
/// let failure = deferreds::testing::failure_result_of(d);
/// assert_eq!(failure.downcast_ref::<TimeoutError>().unwrap().timeout(), 5.0);
/// assert_eq!(failure.error_message(), "the Deferred timed out after 5 seconds");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("the Deferred timed out after {timeout} seconds")]
pub struct TimeoutError {
    pub(crate) timeout: f64,
}

impl TimeoutError {
    /// The timeout that expired, in seconds.
    ///
    /// ```
    /// let clock = deferreds::reactor::Clock::new();
    /// let (d, _r) = deferreds::Deferred::<()>::new();
    /// let d = d.add_timeout(1.5, &clock);
    /// clock.advance(1.5);
    /// let f = deferreds::testing::failure_result_of(d);
    /// assert_eq!(f.downcast_ref::<deferreds::reactor::TimeoutError>().unwrap().timeout(), 1.5);
    /// ```
    pub fn timeout(&self) -> f64 {
        self.timeout
    }
}

/// Why work handed to the reactor's thread pool did not run, or the pool's size was refused.
///
/// ```
/// use deferreds::reactor::{Reactor, ThreadPoolError};
///
/// let reactor = Reactor::new();
/// let r = reactor.clone();
/// reactor.call_when_running(move || r.stop().unwrap());
/// reactor.run().unwrap();
/// // The reactor has stopped, and its pool with it.
/// let refused = reactor.defer_to_thread(|| Ok(1));
/// let failure = deferreds::testing::failure_result_of(refused);
/// assert_eq!(failure.downcast_ref::<ThreadPoolError>(), Some(&ThreadPoolError::Stopped));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThreadPoolError {
    /// The reactor shut down before the work could start: it was still waiting for a thread,
    /// or it was handed over after shutdown.
    #[error("the reactor's thread pool stopped before this work could run")]
    Stopped,
    /// [`suggest_thread_pool_size`](super::Reactor::suggest_thread_pool_size) was given 0.
    #[error("a thread pool needs at least one thread")]
    ZeroSize,
    /// The pool had no thread and could not start one (the system's message).
    #[error("could not start a thread for the reactor's pool: {0}")]
    Spawn(String),
}

/// The failure [`react`](super::react) returns when the reactor stopped before the Deferred
/// that `main` returned had fired: something else called [`stop`](super::Reactor::stop).
/// The Deferred is cancelled then, since nothing will run its callbacks any more.
///
/// ```
/// use deferreds::reactor::{StoppedEarlyError, react};
///
/// let result = react(|reactor| {
///     let (never, _resolver) = deferreds::Deferred::<()>::new();
///     let r = reactor.clone();
///     reactor.call_when_running(move || r.stop().unwrap());
///     never
/// });
/// assert!(result.unwrap_err().check::<StoppedEarlyError>());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the reactor stopped before the Deferred that main returned had fired")]
pub struct StoppedEarlyError;
