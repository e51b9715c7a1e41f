//! The errors this crate reports.
//!
//! Each is a small type that implements [`std::error::Error`], so a callback can pass it on
//! with `?` and an errback can [`check`](crate::Failure::check) for it.
//!
//! Part of the foundation: it knows nothing of chains, Deferreds or anything built on them.

use std::fmt;

use crate::failure::Failure;

/// A Deferred was fired a second time.
///
/// Returned by [`Resolver::callback`](crate::Resolver::callback) and
/// [`Resolver::errback`](crate::Resolver::errback) when the Deferred already has a result; the
/// first result stays in place. With [debugging](crate::set_debugging) on, the message also says
/// where the Deferred was created and where it was first fired.
///
/// ```
/// let (d, r) = deferreds::Deferred::<u8>::new();
/// r.callback(1).unwrap();
/// let err = r.callback(2).unwrap_err();
/// assert_eq!(err.to_string(), "the Deferred has already been called");
/// assert_eq!(deferreds::testing::success_result_of(d), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the Deferred has already been called{detail}")]
pub struct AlreadyCalledError {
    pub(crate) detail: String,
}

/// A Deferred was cancelled before it had a result.
///
/// [`Deferred::cancel`](crate::Deferred::cancel) fails the chain with this error unless the
/// canceller fired the Deferred itself.
///
/// ```
/// use deferreds::{CancelledError, Deferred};
/// let (d, _r) = Deferred::<u8>::new();
/// d.cancel();
/// assert!(deferreds::testing::failure_result_of(d).check::<CancelledError>());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, thiserror::Error)]
#[error("the Deferred was cancelled")]
pub struct CancelledError;

/// [`Deferred::unpause`](crate::Deferred::unpause) was called on a Deferred that was not paused.
///
/// Twisted lets the pause counter go negative, which silently stops the chain from ever
/// running again; this crate refuses the call instead and leaves the counter at zero.
///
/// ```
/// let mut d = deferreds::succeed(1);
/// assert_eq!(d.unpause(), Err(deferreds::NotPausedError));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, thiserror::Error)]
#[error("unpause() called on a Deferred that is not paused")]
pub struct NotPausedError;

/// A step returned a Deferred that its chain would wait on in a circle: the Deferred the step
/// is attached to, or one that waits, through Deferreds its own steps returned, on that one.
///
/// The typed API makes this hard (a step owns no handle to its own chain, and a tail returned by
/// one step cannot be returned by another), but a step can reach a tail through a shared slot
/// and return it. Waiting in a circle would never end, and the chains would keep each other
/// alive, so the step that would close the circle fails with this error instead, and its chain
/// goes on with the failure. Twisted's `test_circularChainException` expects this for a Deferred
/// returning itself; a longer circle waits forever there.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::{Arc, Mutex};
/// use deferreds::{CircularChainError, Deferred};
///
/// let slot: Arc<Mutex<Option<Deferred<()>>>> = Arc::default();
/// let seen = Arc::new(AtomicBool::new(false));
/// let (d, r) = Deferred::<()>::new();
/// let (s, seen2) = (slot.clone(), seen.clone());
/// let d = d
///     .add_callback(move |()| s.lock().unwrap().take().unwrap()) // its own tail
///     .add_errback(move |f| Ok(seen2.store(f.check::<CircularChainError>(), Ordering::SeqCst)));
/// // The step will find the chain's tail in the slot when it runs.
/// *slot.lock().unwrap() = Some(d);
/// r.callback(()).unwrap();
/// assert!(seen.load(Ordering::SeqCst));
/// ```
///
/// Two chains, each with a step returning the other's tail: the second wait would close the
/// circle, so it is refused.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use deferreds::testing::Recorder;
/// use deferreds::{CircularChainError, Deferred};
///
/// type Slot = Arc<Mutex<Option<Deferred<u8>>>>;
/// let (slot_a, slot_b): (Slot, Slot) = Default::default();
/// let log = Recorder::new();
/// let (a, fire_a) = Deferred::<u8>::new();
/// let (b, fire_b) = Deferred::<u8>::new();
/// let (s, l) = (slot_b.clone(), log.clone());
/// let a = a
///     .add_callback(move |_| s.lock().unwrap().take().unwrap())
///     .map(move |n| {
///         l.record(format!("a got {n}"));
///         n
///     });
/// let (s, l) = (slot_a.clone(), log.clone());
/// let b = b.add_callback(move |_| s.lock().unwrap().take().unwrap()).add_errback(move |f| {
///     l.record(format!("b: {}", f.check::<CircularChainError>()));
///     Ok(7)
/// });
/// *slot_a.lock().unwrap() = Some(a);
/// *slot_b.lock().unwrap() = Some(b);
///
/// fire_a.callback(1).unwrap(); // a waits on b
/// fire_b.callback(2).unwrap(); // b's step returns a's tail: refused, and b hands 7 to a
/// assert_eq!(log.take(), ["b: true", "a got 7"]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, thiserror::Error)]
#[error(
    "a step returned the Deferred it is attached to, or one waiting on it; a chain cannot wait on itself"
)]
pub struct CircularChainError;
/// The failure of a combinator that stops at the first failing input: which input, and how it
/// failed (Twisted's `FirstError`, with `index` and `subFailure`).
///
/// [`gather_results`](crate::gather_results) and a [`DeferredList`](crate::DeferredList) with
/// [`fire_on_one_errback`](crate::DeferredList::fire_on_one_errback) fail with this error. Its
/// message names the index and carries the input's own message.
///
/// ```
/// use deferreds::{Failure, FirstError, fail, gather_results, succeed};
///
/// let d = gather_results(vec![succeed(1), fail(Failure::msg("no route")), succeed(3)]);
/// let failure = deferreds::testing::failure_result_of(d);
/// let first = failure.downcast_ref::<FirstError>().unwrap();
/// assert_eq!(first.index, 1);
/// assert_eq!(first.failure.error_message(), "no route");
/// assert_eq!(failure.error_message(), "input 1 failed first: no route");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("input {index} failed first: {failure}")]
pub struct FirstError {
    /// The position of the failing input in the list given to the combinator.
    pub index: usize,
    /// How that input failed.
    pub failure: Failure,
}

/// Every input of a [`race`](fn@crate::race) failed: their failures, in input order (Twisted's
/// `FailureGroup`).
///
/// ```
/// use deferreds::{Failure, FailureGroup, fail, race};
///
/// let d = race(vec![fail::<u8>(Failure::msg("a down")), fail(Failure::msg("b down"))]);
/// let failure = deferreds::testing::failure_result_of(d);
/// let group = failure.downcast_ref::<FailureGroup>().unwrap();
/// assert_eq!(group.failures.len(), 2);
/// assert_eq!(failure.error_message(), "all 2 inputs failed: a down; b down");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", describe_group(failures))]
pub struct FailureGroup {
    /// One failure per input, in input order.
    pub failures: Vec<Failure>,
}

fn describe_group(failures: &[Failure]) -> String {
    if failures.is_empty() {
        return "there were no inputs, so none succeeded".to_owned();
    }
    let messages: Vec<String> = failures.iter().map(Failure::error_message).collect();
    format!("all {} inputs failed: {}", failures.len(), messages.join("; "))
}

/// [`DeferredQueue::put`](crate::DeferredQueue::put) found the queue full; the value is handed
/// back in the error (Twisted's `QueueOverflow`).
///
/// ```
/// use deferreds::{DeferredQueue, QueueOverflow};
///
/// let queue = DeferredQueue::with_limits(Some(1), None);
/// queue.put("first").unwrap();
/// let err = queue.put("second").unwrap_err();
/// assert_eq!(err.to_string(), "the DeferredQueue is full");
/// assert_eq!(err.into_inner(), "second");
/// # let _: Option<QueueOverflow<()>> = None;
/// ```
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("the DeferredQueue is full")]
pub struct QueueOverflow<T>(pub T);

impl<T> QueueOverflow<T> {
    /// The value that was not queued (also the public field `.0`).
    ///
    /// ```
    /// let full = deferreds::QueueOverflow("second");
    /// assert_eq!(full.into_inner(), "second");
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for QueueOverflow<T> {
    /// Leaves the value out, so that the error is `Debug` whatever it carries.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("QueueOverflow").finish_non_exhaustive()
    }
}

/// [`DeferredQueue::get`](crate::DeferredQueue::get) found as many gets already waiting as the
/// queue's backlog allows (Twisted's `QueueUnderflow`).
///
/// ```
/// use deferreds::{DeferredQueue, QueueUnderflow};
///
/// let queue = DeferredQueue::<u8>::with_limits(None, Some(0));
/// let err = queue.get().unwrap_err();
/// assert_eq!(err, QueueUnderflow);
/// assert_eq!(err.to_string(), "too many gets are already waiting on the DeferredQueue");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, thiserror::Error)]
#[error("too many gets are already waiting on the DeferredQueue")]
pub struct QueueUnderflow;

/// [`DeferredSemaphore::new`](crate::DeferredSemaphore::new) was asked for zero tokens (Twisted
/// raises `ValueError` for a limit below one).
///
/// ```
/// use deferreds::{DeferredSemaphore, ZeroTokensError};
///
/// let err = DeferredSemaphore::new(0).unwrap_err();
/// assert_eq!(err, ZeroTokensError);
/// assert_eq!(err.to_string(), "a DeferredSemaphore needs at least one token");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, thiserror::Error)]
#[error("a DeferredSemaphore needs at least one token")]
pub struct ZeroTokensError;

/// A step's value was itself a Deferred, which the chain carries as a value instead of waiting
/// for it. Reported, in [debug mode](crate::set_debugging) only, through the
/// [unhandled-failure hook](crate::set_unhandled_hook); the chain goes on unchanged.
///
/// Almost always this is a callback that returned `Ok(deferred)` where it meant to wait:
/// return the Deferred itself, or use [`Deferred::and_then`](crate::Deferred::and_then). A
/// program that does mean to carry a Deferred as a value can wrap it in a struct of its own.
///
/// ```
/// use deferreds::testing::capture_unhandled;
/// use deferreds::{Deferred, DeferredValueError};
///
/// deferreds::set_debugging(true);
/// let (d, reports) = capture_unhandled(|| {
///     deferreds::succeed(1).add_callback(|n| Ok(deferreds::succeed(n + 1))) // not waited for
/// });
/// deferreds::set_debugging(false);
/// let error = reports[0].failure().downcast_ref::<DeferredValueError>().unwrap();
/// assert_eq!(error.type_name(), "deferreds::deferred::Deferred<i32>");
/// # let _: Deferred<Deferred<i32>> = d;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "a step's value is a {type_name}, which the chain does not wait for: return the Deferred itself \
     instead of `Ok(deferred)`, or add the step with `and_then`"
)]
pub struct DeferredValueError {
    pub(crate) type_name: &'static str,
}

impl DeferredValueError {
    /// The type of the value, as `std::any::type_name` spells it.
    ///
    /// ```
    /// use deferreds::testing::capture_unhandled;
    ///
    /// deferreds::set_debugging(true);
    /// let (_d, reports) = capture_unhandled(|| {
    ///     deferreds::succeed(()).add_callback(|()| Ok(deferreds::succeed("poem")))
    /// });
    /// deferreds::set_debugging(false);
    /// let error = reports[0].failure().downcast_ref::<deferreds::DeferredValueError>().unwrap();
    /// assert_eq!(error.type_name(), "deferreds::deferred::Deferred<&str>");
    /// ```
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }
}
