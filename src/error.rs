//! The errors this crate reports.
//!
//! Each is a small type that implements [`std::error::Error`], so a callback can pass it on
//! with `?` and an errback can [`check`](crate::Failure::check) for it.

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
/// let d = deferreds::succeed(1);
/// assert_eq!(d.unpause(), Err(deferreds::NotPausedError));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, thiserror::Error)]
#[error("unpause() called on a Deferred that is not paused")]
pub struct NotPausedError;

/// A step returned the Deferred it is attached to.
///
/// The typed API makes this hard (a step owns no handle to its own chain), but a step can reach
/// its chain's tail through a shared slot and return it. Waiting on itself would never end, so
/// the chain fails with this error instead, as Twisted's `test_circularChainException` expects.
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, thiserror::Error)]
#[error("a step returned the Deferred it is attached to; a chain cannot wait on itself")]
pub struct CircularChainError;
