//! [`Resolver`]: the head of a chain, which fires it.
//!
//! Part of the typed Deferred: it knows nothing of the combinators, the coordination
//! primitives, the async bridge or the reactor.

use std::marker::PhantomData;
use std::panic::Location;
use std::sync::Arc;

use crate::chain::{Chain, dropping};
use crate::error::{AlreadyCalledError, NotPausedError};
use crate::failure::Failure;
use crate::foundation::value::Value;

#[cfg(doc)]
use crate::deferred::Deferred;
/// The firing end of a [`Deferred`]: gives the chain its result, once.
///
/// Resolvers are cheap to clone; whichever clone fires first wins, and every later attempt
/// gets an [`AlreadyCalledError`], which is how a client guards against a reply and a timeout
/// both firing the same request.
///
/// ```
/// let (d, resolver) = deferreds::Deferred::new();
/// let timeout = resolver.clone();
/// resolver.callback("poem").unwrap();
/// assert!(timeout.callback("too late").is_err());
/// assert_eq!(deferreds::testing::success_result_of(d), "poem");
/// ```
pub struct Resolver<T> {
    pub(crate) chain: Arc<Chain>,
    _type: PhantomData<fn(T)>,
}

impl<T: Send + 'static> Resolver<T> {
    #[inline]
    pub(crate) fn from_chain(chain: Arc<Chain>) -> Resolver<T> {
        Resolver { chain, _type: PhantomData }
    }

    /// Fires the Deferred with a value: its callbacks run now, on this thread.
    ///
    /// Fails with [`AlreadyCalledError`] if the Deferred was fired before; the first result
    /// stays. (One fire is forgiven after a [`cancel`](Deferred::cancel) without canceller.)
    ///
    /// ```
    /// let (d, r) = deferreds::Deferred::<u8>::new();
    /// r.callback(1).unwrap();
    /// assert!(r.callback(2).is_err());
    /// assert_eq!(deferreds::testing::success_result_of(d), 1);
    /// ```
    #[track_caller]
    #[inline]
    pub fn callback(&self, value: T) -> Result<(), AlreadyCalledError> {
        self.chain.fire(Ok(Value::new(value)), Location::caller())
    }

    /// Fires the Deferred with a failure: its errbacks run now, on this thread.
    ///
    /// ```
    /// let (d, r) = deferreds::Deferred::<u8>::new();
    /// r.errback(deferreds::Failure::msg("refused")).unwrap();
    /// assert_eq!(deferreds::testing::failure_result_of(d).error_message(), "refused");
    /// ```
    #[track_caller]
    pub fn errback(&self, failure: Failure) -> Result<(), AlreadyCalledError> {
        self.chain.fire(Err(failure), Location::caller())
    }

    /// Fires with `Ok` as [`callback`](Resolver::callback) or `Err` as
    /// [`errback`](Resolver::errback).
    ///
    /// ```
    /// let (d, r) = deferreds::Deferred::<u8>::new();
    /// r.resolve("7".parse::<u8>().map_err(deferreds::Failure::new)).unwrap();
    /// assert_eq!(deferreds::testing::success_result_of(d), 7);
    /// ```
    #[track_caller]
    pub fn resolve(&self, result: Result<T, Failure>) -> Result<(), AlreadyCalledError> {
        self.chain.fire(result.map(Value::new), Location::caller())
    }

    /// Whether the Deferred has been fired.
    ///
    /// ```
    /// let (_d, r) = deferreds::Deferred::<u8>::new();
    /// assert!(!r.called());
    /// r.callback(1).unwrap();
    /// assert!(r.called());
    /// ```
    pub fn called(&self) -> bool {
        self.chain.called()
    }

    /// Whether the Deferred was cancelled before it had a result: nobody wants the result any
    /// more (compare `oneshot::Sender::is_canceled`).
    ///
    /// A producer checks it to stop work early. It turns true when
    /// [`Deferred::cancel`] reaches this Deferred while it is pending: called on it directly,
    /// passed inward from a chain waiting on it, or made for it by dropping the future that
    /// awaits it, a [`race`](fn@crate::race) it lost, or a timeout; and it stays true. Dropping
    /// the `Deferred` does not make it true: steps added before the drop still run when the
    /// result comes. A Deferred whose [canceller](Deferred::with_canceller) fired it with a
    /// result was cancelled all the same.
    ///
    /// ```
    /// use deferreds::Deferred;
    ///
    /// let (d, resolver) = Deferred::<String>::new();
    /// let fetch = std::thread::spawn(move || {
    ///     for _chunk in 0.. {
    ///         if resolver.is_cancelled() {
    ///             return "stopped early";
    ///         }
    ///         std::thread::yield_now(); // a chunk of work
    ///     }
    ///     unreachable!()
    /// });
    /// d.cancel();
    /// assert_eq!(fetch.join().unwrap(), "stopped early");
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.chain.cancel_requested()
    }

    /// [`Deferred::pause`] from the firing side: holds the chain's steps. Useful once the tail
    /// has been handed on, for example to a chain that waits on it.
    ///
    /// ```
    /// let (inner, r) = deferreds::Deferred::<u8>::new();
    /// r.pause();
    /// r.callback(1).unwrap();
    /// let outer = deferreds::succeed(()).add_callback(move |()| inner);
    /// deferreds::testing::assert_no_result(&outer);
    /// r.unpause().unwrap();
    /// assert_eq!(deferreds::testing::success_result_of(outer), 1);
    /// ```
    pub fn pause(&self) {
        self.chain.pause();
    }

    /// [`Deferred::unpause`] from the firing side.
    ///
    /// ```
    /// let (d, r) = deferreds::Deferred::<u8>::new();
    /// assert!(r.unpause().is_err(), "not paused");
    /// r.pause();
    /// r.unpause().unwrap();
    /// assert!(!d.is_paused());
    /// ```
    pub fn unpause(&self) -> Result<(), NotPausedError> {
        self.chain.unpause()
    }
}

impl<T> Drop for Resolver<T> {
    #[inline]
    fn drop(&mut self) {
        // The chain may have lost its last way to be fired (see `chain::cycles`).
        dropping(&self.chain);
    }
}

impl<T> Clone for Resolver<T> {
    fn clone(&self) -> Self {
        Resolver { chain: self.chain.clone(), _type: PhantomData }
    }
}
