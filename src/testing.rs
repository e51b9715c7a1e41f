//! Helpers for testing code that uses Deferreds (Twisted trial's `successResultOf` family),
//! and the counting helpers this crate's own tests use.
//!
//! Everything here panics with a descriptive message instead of returning errors, since it
//! is meant for tests.
//!
//! # Backtraces cost time in tests
//!
//! With `RUST_BACKTRACE=1` (or `RUST_LIB_BACKTRACE=1`) set, as it often is while debugging a
//! test, every [`Failure`] captures a backtrace when it is created, which walks the whole stack.
//! Measured on a two-core machine, 20,000 chains that each fail once and recover took 46 ms
//! with capture off and 490 ms with it on in a debug build, as tests run (0.8 ms and 74 ms in
//! a release build). Tests that make many failures, property tests above all, should turn
//! capture off at their start, whatever the environment says, as this crate's own law and
//! stress tests do:
//!
//! ```
//! deferreds::Failure::set_backtrace_capture(false); // first thing in the test or proptest
//! assert!(!deferreds::Failure::msg("cheap").has_backtrace());
//! ```

// The top of the map (see docs/design.md): on the typed Deferred and the foundation; only
// `proptest` builds on it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::deferred::Deferred;
use crate::deferred::step::TryResult;
use crate::failure::Failure;
use crate::foundation::unhandled::{self, UnhandledFailure};

/// The value `d` has succeeded with; panics if it has no result yet or failed.
///
/// ```
/// assert_eq!(deferreds::testing::success_result_of(deferreds::succeed(3)), 3);
/// ```
#[track_caller]
pub fn success_result_of<T: Send + 'static>(d: Deferred<T>) -> T {
    match d.try_result() {
        TryResult::Value(value) => value,
        TryResult::Failure(failure) => {
            panic!("success result expected, found a failure:\n{}", failure.traceback())
        }
        TryResult::Pending(d) => {
            panic!("success result expected, found no result: {}", d.describe_state())
        }
    }
}

/// The failure `d` has failed with; panics if it has no result yet or succeeded.
///
/// Taking the failure counts as handling it, so it is not reported as unhandled.
///
/// ```
/// let d = deferreds::fail::<()>(deferreds::Failure::msg("x"));
/// assert_eq!(deferreds::testing::failure_result_of(d).error_message(), "x");
/// ```
#[track_caller]
pub fn failure_result_of<T: Send + 'static>(d: Deferred<T>) -> Failure {
    match d.try_result() {
        TryResult::Failure(failure) => failure,
        TryResult::Value(_) => panic!(
            "failure result expected, found a success result of type {}",
            std::any::type_name::<T>()
        ),
        TryResult::Pending(d) => {
            panic!("failure result expected, found no result: {}", d.describe_state())
        }
    }
}

/// Panics if `d` has a result available now.
///
/// A Deferred that was fired but is paused, or is waiting on another Deferred, has no result
/// available, exactly as a callback added now would not run yet.
///
/// ```
/// let (d, _r) = deferreds::Deferred::<u8>::new();
/// deferreds::testing::assert_no_result(&d);
/// ```
#[track_caller]
pub fn assert_no_result<T>(d: &Deferred<T>) {
    if d.has_result() {
        panic!("no result expected, found one: {}", d.describe_state());
    }
}

/// Runs `f` and returns, beside its result, every unhandled-failure report made on this thread
/// meanwhile. Those reports go nowhere else.
///
/// ```
/// use deferreds::{Failure, testing::capture_unhandled};
///
/// let ((), reports) = capture_unhandled(|| {
///     drop(deferreds::fail::<u8>(Failure::msg("dropped")));
///     let handled = deferreds::fail::<u8>(Failure::msg("handled")).add_errback(|_| Ok(0));
///     drop(handled);
/// });
/// assert_eq!(reports.len(), 1);
/// assert_eq!(reports[0].failure().error_message(), "dropped");
/// ```
pub fn capture_unhandled<R>(f: impl FnOnce() -> R) -> (R, Vec<UnhandledFailure>) {
    unhandled::capture(f)
}

/// Counts how many [`DropToken`]s made from it have been dropped, to prove that a closure (or
/// a value) was dropped exactly once whether or not it ran.
///
/// ```
/// use deferreds::testing::DropCounter;
///
/// let counter = DropCounter::new();
/// let token = counter.token();
/// let (d, _r) = deferreds::Deferred::<u8>::new();
/// let d = d.map(move |n| { let _keep = &token; n });
/// assert_eq!(counter.dropped(), 0);
/// drop(d);
/// drop(_r); // the chain goes with its last handle, and the closure with it
/// assert_eq!(counter.dropped(), 1);
/// ```
#[derive(Clone, Default)]
pub struct DropCounter {
    inner: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    made: AtomicUsize,
    dropped: AtomicUsize,
}

impl DropCounter {
    /// A counter with nothing made or dropped.
    ///
    /// ```
    /// let counter = deferreds::testing::DropCounter::new();
    /// assert_eq!((counter.made(), counter.dropped()), (0, 0));
    /// ```
    pub fn new() -> DropCounter {
        DropCounter::default()
    }

    /// A token that counts one drop when it is dropped.
    ///
    /// ```
    /// let counter = deferreds::testing::DropCounter::new();
    /// let token = counter.token();
    /// assert_eq!(counter.dropped(), 0);
    /// drop(token);
    /// assert_eq!(counter.dropped(), 1);
    /// ```
    pub fn token(&self) -> DropToken {
        self.inner.made.fetch_add(1, Ordering::SeqCst);
        DropToken { counts: self.inner.clone() }
    }

    /// How many tokens were made.
    ///
    /// ```
    /// let counter = deferreds::testing::DropCounter::new();
    /// drop((counter.token(), counter.token()));
    /// assert_eq!(counter.made(), 2);
    /// ```
    pub fn made(&self) -> usize {
        self.inner.made.load(Ordering::SeqCst)
    }

    /// How many tokens were dropped.
    ///
    /// ```
    /// let counter = deferreds::testing::DropCounter::new();
    /// let kept = counter.token();
    /// drop(counter.token());
    /// assert_eq!(counter.dropped(), 1);
    /// # drop(kept);
    /// ```
    pub fn dropped(&self) -> usize {
        self.inner.dropped.load(Ordering::SeqCst)
    }

    /// How many tokens are still alive.
    ///
    /// ```
    /// let counter = deferreds::testing::DropCounter::new();
    /// let kept = counter.token();
    /// drop(counter.token());
    /// assert_eq!(counter.alive(), 1);
    /// drop(kept);
    /// assert_eq!(counter.alive(), 0);
    /// ```
    pub fn alive(&self) -> usize {
        self.made() - self.dropped()
    }

    /// `value` with a token of this counter attached: a [`Counted`] value, whose drop (wherever
    /// a chain takes it) is counted like a token's.
    ///
    /// ```
    /// use deferreds::testing::{Counted, DropCounter, success_result_of};
    ///
    /// let counter = DropCounter::new();
    /// let (d, r) = deferreds::Deferred::<Counted<u32>>::new();
    /// let d = d.map(|n| *n + 1); // the first value is dropped by this step
    /// r.callback(counter.wrap(41)).unwrap();
    /// assert_eq!((counter.made(), counter.dropped()), (1, 1));
    /// assert_eq!(success_result_of(d), 42);
    /// ```
    pub fn wrap<T>(&self, value: T) -> Counted<T> {
        Counted { value, token: self.token() }
    }
}

impl fmt::Debug for DropCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DropCounter")
            .field("made", &self.made())
            .field("dropped", &self.dropped())
            .finish()
    }
}

/// One counted value; see [`DropCounter`].
///
/// ```
/// let counter = deferreds::testing::DropCounter::new();
/// let token: deferreds::testing::DropToken = counter.token();
/// std::thread::spawn(move || drop(token)).join().unwrap();
/// assert_eq!(counter.dropped(), 1);
/// ```
#[derive(Debug)]
pub struct DropToken {
    counts: Arc<Counts>,
}

impl fmt::Debug for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Counts")
    }
}

impl Drop for DropToken {
    fn drop(&mut self) {
        self.counts.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// A value whose drop is counted by the [`DropCounter`] that made it ([`DropCounter::wrap`]):
/// a payload for Deferreds, queues and futures that proves each value was dropped exactly
/// once, wherever it ended.
///
/// It dereferences to the value. Cloning it clones the value with a new token of the same
/// counter. An error wrapped in it is still an error, so a [`Failure`] made from one counts
/// its own drop too.
///
/// ```
/// use deferreds::Failure;
/// use deferreds::testing::{Counted, DropCounter, capture_unhandled};
///
/// let counter = DropCounter::new();
/// let ((), reports) = capture_unhandled(|| {
///     let failure = Failure::new(counter.wrap(std::fmt::Error));
///     assert!(failure.check::<Counted<std::fmt::Error>>());
///     drop(deferreds::fail::<u8>(failure)); // reported, then dropped
/// });
/// assert_eq!(reports.len(), 1);
/// assert_eq!(counter.alive(), 1, "the report still holds the failure");
/// drop(reports);
/// assert_eq!(counter.alive(), 0);
/// ```
pub struct Counted<T> {
    value: T,
    token: DropToken,
}

impl<T> Counted<T> {
    /// The value; the wrapper's drop is counted now.
    ///
    /// ```
    /// let counter = deferreds::testing::DropCounter::new();
    /// let poem = counter.wrap(String::from("poem")).into_inner();
    /// assert_eq!((poem.as_str(), counter.alive()), ("poem", 0));
    /// ```
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> std::ops::Deref for Counted<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> std::ops::DerefMut for Counted<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: Clone> Clone for Counted<T> {
    fn clone(&self) -> Self {
        self.token.counts.made.fetch_add(1, Ordering::SeqCst);
        Counted {
            value: self.value.clone(),
            token: DropToken { counts: self.token.counts.clone() },
        }
    }
}

impl<T: PartialEq> PartialEq for Counted<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Counted<T> {
    /// The value's own `Debug`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: fmt::Display> fmt::Display for Counted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: std::error::Error> std::error::Error for Counted<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.value.source()
    }
}

/// A shared, thread-safe log of events, for asserting the order in which steps ran.
///
/// ```
/// use deferreds::testing::Recorder;
///
/// let log = Recorder::new();
/// let (l1, l2) = (log.clone(), log.clone());
/// let d = deferreds::succeed(1)
///     .map(move |n| { l1.record(format!("first {n}")); n + 1 })
///     .map(move |n| l2.record(format!("second {n}")));
/// assert_eq!(log.take(), ["first 1", "second 2"]);
/// # drop(d);
/// ```
#[derive(Clone, Default)]
pub struct Recorder {
    events: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    /// An empty log.
    ///
    /// ```
    /// assert!(deferreds::testing::Recorder::new().events().is_empty());
    /// ```
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// Appends one event.
    ///
    /// ```
    /// let log = deferreds::testing::Recorder::new();
    /// log.record("one");
    /// log.record(String::from("two"));
    /// assert_eq!(log.events(), ["one", "two"]);
    /// ```
    pub fn record(&self, event: impl Into<String>) {
        self.events.lock().push(event.into());
    }

    /// The events so far, leaving the log empty.
    ///
    /// ```
    /// let log = deferreds::testing::Recorder::new();
    /// log.record("one");
    /// assert_eq!(log.take(), ["one"]);
    /// assert!(log.take().is_empty());
    /// ```
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.events.lock())
    }

    /// A copy of the events so far.
    ///
    /// ```
    /// let log = deferreds::testing::Recorder::new();
    /// log.record("one");
    /// assert_eq!(log.events(), ["one"]);
    /// assert_eq!(log.events(), ["one"], "the log keeps them");
    /// ```
    pub fn events(&self) -> Vec<String> {
        self.events.lock().clone()
    }
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Recorder").field(&*self.events.lock()).finish()
    }
}
