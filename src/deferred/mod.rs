//! [`Deferred`], its [`Resolver`], and the steps a chain is made of.
//!
//! Part of the typed Deferred: it knows nothing of the combinators, the primitives, the async
//! bridge or the reactor.

use std::marker::PhantomData;
use std::panic::Location;
use std::sync::Arc;

use crate::chain::{Cancelled, Chain, Outcome, Tail, dropping};
use crate::deferred::resolver::Resolver;
use crate::deferred::step::{IntoStep, Step, TryResult, outcome, value};
use crate::error::NotPausedError;
use crate::failure::Failure;
use crate::foundation::contain;
use crate::foundation::trace::StepKind;
use crate::foundation::value::Value;

#[cfg(doc)]
use crate::error::{AlreadyCalledError, DeferredValueError};

pub(crate) mod describe;
pub(crate) mod execute;
pub(crate) mod passthru;
pub(crate) mod picture;
pub(crate) mod resolver;
pub(crate) mod step;
pub(crate) mod waiters;

/// A result you don't have yet, and the chain of callbacks and errbacks that will process it.
///
/// A `Deferred<T>` is the *tail* of a chain: the place where steps are added. Each `add_*`
/// method consumes it and returns the tail for the next step, whose type is whatever the new
/// step produces. The *head*, where the result comes in, is the [`Resolver`] that
/// [`Deferred::new`] returns beside it; it keeps the type the chain started with however the
/// tail's type changes.
///
/// Steps run synchronously, in order, on the thread that fires the Deferred, or inside the
/// `add_*` call itself if the result is already there, exactly as in Twisted. Each step sees
/// either a value (callbacks) or a [`Failure`] (errbacks): a callback that fails switches the
/// chain to the errback track, and an errback that returns a value switches it back.
///
/// ```
/// use deferreds::{Deferred, Failure};
///
/// let (d, resolver) = Deferred::<u32>::new();
/// let d = d
///     .add_callback(|n| if n > 9 { Err(Failure::msg("too big")) } else { Ok(n * 2) })
///     .add_errback(|_failure| Ok(0))
///     .map(|n| format!("got {n}"));
///
/// resolver.callback(21).unwrap();
/// assert_eq!(deferreds::testing::success_result_of(d), "got 0");
/// ```
///
/// Dropping a `Deferred` does not cancel it: steps already added still run when the result
/// arrives. A chain that ends on a failure nobody handled is reported when its last handle is
/// dropped (see [`set_unhandled_hook`](crate::set_unhandled_hook)).
#[must_use = "a Deferred's result is lost unless a step is added, it is awaited, or it is read"]
pub struct Deferred<T> {
    pub(crate) tail: Tail,
    _type: PhantomData<fn() -> T>,
}

impl<T: Send + 'static> Deferred<T> {
    #[inline]
    pub(crate) fn from_chain(chain: Arc<Chain>) -> Deferred<T> {
        Deferred::from_tail(Tail::Chain(chain))
    }

    #[inline]
    pub(crate) fn from_tail(tail: Tail) -> Deferred<T> {
        Deferred { tail, _type: PhantomData }
    }

    /// Moves the tail out. `Deferred` has a `Drop` (for the tail it holds when dropped), so the
    /// tail cannot be moved out of it; the emptied shell is forgotten instead of dropped, which
    /// costs nothing (it owns nothing else).
    #[inline]
    pub(crate) fn into_tail(self) -> Tail {
        let mut shell = std::mem::ManuallyDrop::new(self);
        std::mem::replace(&mut shell.tail, Tail::Value(Value::UNIT))
    }

    /// [`Deferred::with_canceller`] for the crate's own primitives, whose canceller may leave
    /// the Deferred pending for a firing that is already on its way (see [`Cancelled`]).
    #[track_caller]
    pub(crate) fn with_raw_canceller(
        canceller: impl FnOnce() -> Cancelled + Send + 'static,
    ) -> (Deferred<T>, Resolver<T>) {
        let canceller = Box::new(move |_: &Arc<Chain>| canceller());
        let chain = Chain::pending(Some(canceller), Location::caller());
        (Deferred::from_chain(chain.clone()), Resolver::from_chain(chain))
    }

    /// A new, unfired Deferred and the [`Resolver`] that fires it.
    ///
    /// ```
    /// let (d, r) = deferreds::Deferred::<&str>::new();
    /// let d = d.map(|s| s.len());
    /// r.callback("four").unwrap();
    /// assert_eq!(deferreds::testing::success_result_of(d), 4);
    /// ```
    #[track_caller]
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> (Deferred<T>, Resolver<T>) {
        let chain = Chain::pending(None, Location::caller());
        (Deferred::from_chain(chain.clone()), Resolver::from_chain(chain))
    }

    /// A new Deferred whose [`cancel`](Deferred::cancel) calls `canceller` first.
    ///
    /// The canceller gets the Deferred's resolver. If it fires the Deferred, that result
    /// stands; if not, the Deferred fails with [`CancelledError`](crate::CancelledError) once it
    /// returns. A panic in the canceller becomes the Deferred's failure (or, if the canceller
    /// had fired the Deferred already, is reported through the
    /// [unhandled-failure hook](crate::set_unhandled_hook)). The canceller runs at most once:
    /// cancelling again while it runs does nothing.
    ///
    /// A producer that polls instead of being called asks
    /// [`Resolver::is_cancelled`], which turns true as the cancel arrives, canceller or not.
    ///
    /// ```
    /// use deferreds::Deferred;
    /// let (d, _r) = Deferred::with_canceller(|r: &deferreds::Resolver<&str>| {
    ///     r.callback("stopped early").unwrap();
    /// });
    /// d.cancel();
    /// assert_eq!(deferreds::testing::success_result_of(d), "stopped early");
    /// ```
    #[track_caller]
    pub fn with_canceller(
        canceller: impl FnOnce(&Resolver<T>) + Send + 'static,
    ) -> (Deferred<T>, Resolver<T>) {
        let canceller = Box::new(move |chain: &Arc<Chain>| {
            canceller(&Resolver::from_chain(chain.clone()));
            Cancelled::Fail
        });
        let chain = Chain::pending(Some(canceller), Location::caller());
        (Deferred::from_chain(chain.clone()), Resolver::from_chain(chain))
    }

    /// Adds a step of the user's, of `kind`, recording the caller as where it was added when
    /// someone may ask (debug mode, or tracing: see `chain::located`).
    #[inline]
    #[track_caller]
    fn then<U: Send + 'static>(
        self,
        kind: StepKind,
        step: impl FnOnce(Result<Value, Failure>) -> Outcome + Send + 'static,
    ) -> Deferred<U> {
        Deferred::from_tail(self.into_tail().push_at(kind, step))
    }

    /// Adds a callback: a step that runs on a value and passes failures through untouched.
    ///
    /// **A callback that returns `Ok(deferred)` does not wait for it**: the Deferred becomes
    /// the chain's next value, as any `Ok` value does. To wait, return the Deferred itself
    /// (not in `Ok`), or use [`and_then`](Deferred::and_then) for a callback that may fail
    /// before it has a Deferred to wait for. In [debug mode](crate::set_debugging), a step whose
    /// value is a Deferred is reported through the
    /// [unhandled-failure hook](crate::set_unhandled_hook) as a [`DeferredValueError`].
    ///
    /// The callback's return value decides what comes next (see [`IntoStep`]): `Ok(u)`
    /// continues with `u`, `Err(failure)` (or a `?`) switches to the errback track, and a
    /// returned Deferred pauses the chain until it fires. A panic becomes a
    /// [`PanicError`](crate::PanicError) failure.
    ///
    /// ```
    /// let d = deferreds::succeed(2).add_callback(|n| Ok(n + 1)).add_callback(|n| Ok(n * 10));
    /// assert_eq!(deferreds::testing::success_result_of(d), 30);
    /// ```
    #[inline]
    #[track_caller]
    pub fn add_callback<R: IntoStep>(
        self,
        callback: impl FnOnce(T) -> R + Send + 'static,
    ) -> Deferred<R::Output> {
        self.then(StepKind::Callback, move |input: Result<Value, Failure>| match input {
            Ok(v) => outcome(callback(v.take::<T>())),
            Err(f) => {
                contain::drop_unused(callback);
                Outcome::Failure(f)
            }
        })
    }

    /// Adds a callback that returns a Deferred to wait for, or fails before it has one: the
    /// chaining step (futures' `and_then`, Twisted's callback that returns a Deferred).
    ///
    /// `Ok(deferred)` pauses the chain until `deferred` fires and goes on with its result;
    /// `Err(failure)`, or a `?`, switches to the errback track at once. This is the form to use
    /// where `add_callback` would see `Ok(deferred)` as a plain value.
    ///
    /// ```
    /// use deferreds::{Deferred, Failure};
    ///
    /// let (poem, deliver) = Deferred::<String>::new();
    /// let d = deferreds::succeed("7").and_then(move |port| {
    ///     let _port: u16 = port.parse()?; // may fail first
    ///     Ok(poem)                        // then wait for the poem
    /// });
    /// deferreds::testing::assert_no_result(&d);
    /// deliver.callback("Roses are red".to_owned()).unwrap();
    /// assert_eq!(deferreds::testing::success_result_of(d), "Roses are red");
    ///
    /// let d = deferreds::succeed("x").and_then(|port| Ok(deferreds::succeed(port.parse::<u16>()?)));
    /// assert!(deferreds::testing::failure_result_of(d).check::<std::num::ParseIntError>());
    /// # let _: Option<Failure> = None;
    /// ```
    #[inline]
    #[track_caller]
    pub fn and_then<U: Send + 'static>(
        self,
        callback: impl FnOnce(T) -> Result<Deferred<U>, Failure> + Send + 'static,
    ) -> Deferred<U> {
        self.add_callback(move |t| Step::from(callback(t)))
    }

    /// Adds a callback that cannot fail: `f`'s return value is the next value.
    ///
    /// This is `add_callback` for closures that return a plain value, Rust's usual `map`.
    ///
    /// ```
    /// let d = deferreds::succeed("poem").map(str::to_uppercase);
    /// assert_eq!(deferreds::testing::success_result_of(d), "POEM");
    /// ```
    #[inline]
    #[track_caller]
    pub fn map<U: Send + 'static>(self, f: impl FnOnce(T) -> U + Send + 'static) -> Deferred<U> {
        self.then(StepKind::Callback, move |input: Result<Value, Failure>| match input {
            Ok(v) => Outcome::Value(value(f(v.take::<T>()))),
            Err(failure) => {
                contain::drop_unused(f);
                Outcome::Failure(failure)
            }
        })
    }

    /// Adds an errback: a step that runs on a failure and passes values through untouched.
    ///
    /// Returning `Ok(value)` recovers, and the chain goes on with callbacks; returning
    /// `Err(failure)` keeps it on the errback track. [`Failure::trap`] with `?` re-raises every
    /// error the errback does not handle.
    ///
    /// ```
    /// use deferreds::Failure;
    /// let d = deferreds::fail::<u8>(Failure::msg("no route"))
    ///     .add_callback(|_| -> Result<u8, Failure> { unreachable!("skipped") })
    ///     .add_errback(|f| Ok(f.error_message().len() as u8));
    /// assert_eq!(deferreds::testing::success_result_of(d), 8);
    /// ```
    #[inline]
    #[track_caller]
    pub fn add_errback<R: IntoStep<Output = T>>(
        self,
        errback: impl FnOnce(Failure) -> R + Send + 'static,
    ) -> Deferred<T> {
        self.then(StepKind::Errback, move |input: Result<Value, Failure>| match input {
            Ok(v) => {
                contain::drop_unused(errback);
                Outcome::Value(v)
            }
            Err(f) => outcome(errback(f)),
        })
    }

    /// Adds a step that runs on either track (Twisted's `addBoth`), like a `finally` that may
    /// also change the result.
    ///
    /// ```
    /// let d = deferreds::fail::<u8>(deferreds::Failure::msg("x"))
    ///     .add_both(|r| Ok(r.is_err()));
    /// assert!(deferreds::testing::success_result_of(d));
    /// ```
    #[inline]
    #[track_caller]
    pub fn add_both<R: IntoStep>(
        self,
        step: impl FnOnce(Result<T, Failure>) -> R + Send + 'static,
    ) -> Deferred<R::Output> {
        self.then(StepKind::Both, move |input: Result<Value, Failure>| {
            outcome(step(input.map(Value::take::<T>)))
        })
    }

    /// Adds a callback and an errback as *one* step: exactly one of them runs, so the errback
    /// never sees a failure raised by its sibling callback (unlike
    /// `add_callback(cb).add_errback(eb)`).
    ///
    /// ```
    /// use deferreds::Failure;
    /// let d = deferreds::succeed(1)
    ///     .add_callbacks(|_| -> Result<u8, Failure> { Err(Failure::msg("from cb")) }, |_| Ok(0))
    ///     .add_errback(|f| Ok(if f.error_message() == "from cb" { 9 } else { 1 }));
    /// assert_eq!(deferreds::testing::success_result_of(d), 9);
    /// ```
    #[inline]
    #[track_caller]
    pub fn add_callbacks<R, E>(
        self,
        callback: impl FnOnce(T) -> R + Send + 'static,
        errback: impl FnOnce(Failure) -> E + Send + 'static,
    ) -> Deferred<R::Output>
    where
        R: IntoStep,
        E: IntoStep<Output = R::Output>,
    {
        self.then(StepKind::Callbacks, move |input: Result<Value, Failure>| match input {
            Ok(v) => {
                contain::drop_unused(errback);
                outcome(callback(v.take::<T>()))
            }
            Err(f) => {
                contain::drop_unused(callback);
                outcome(errback(f))
            }
        })
    }

    /// Fires `other` with this chain's result when it gets there (Twisted's `chainDeferred`).
    ///
    /// This chain continues with `()`, or with an [`AlreadyCalledError`] failure if `other` had
    /// already been fired. Long lines of chained Deferreds run without recursion.
    ///
    /// ```
    /// let (a, fire_a) = deferreds::Deferred::<u8>::new();
    /// let (b, fire_b) = deferreds::Deferred::<u8>::new();
    /// let b = b.map(|n| n + 1);
    /// let a = a.chain_deferred(&fire_b);
    /// fire_a.callback(41).unwrap();
    /// assert_eq!(deferreds::testing::success_result_of(b), 42);
    /// deferreds::testing::success_result_of(a);
    /// ```
    pub fn chain_deferred(self, other: &Resolver<T>) -> Deferred<()> {
        Deferred::from_tail(self.into_tail().push_fire(other.chain.clone()))
    }

    /// Holds the chain: no step runs until a matching [`unpause`](Deferred::unpause). Pauses
    /// nest like a counter.
    ///
    /// ```
    /// let mut d = deferreds::succeed(1);
    /// d.pause();
    /// let mut d = d.map(|n| n + 1); // queued, not run
    /// deferreds::testing::assert_no_result(&d);
    /// d.unpause().unwrap();
    /// assert_eq!(deferreds::testing::success_result_of(d), 2);
    /// ```
    ///
    /// It takes `&mut self` because a Deferred that already has its result keeps it inline,
    /// with no shared chain; pausing it creates one.
    pub fn pause(&mut self) {
        if !matches!(self.tail, Tail::Chain(_)) {
            let tail = std::mem::replace(&mut self.tail, Tail::Value(Value::UNIT));
            self.tail = Tail::Chain(tail.into_chain());
        }
        if let Tail::Chain(chain) = &self.tail {
            chain.pause();
        }
    }

    /// Undoes one [`pause`](Deferred::pause); the last one runs any steps that are due.
    ///
    /// Unpausing a chain that is not paused is refused with [`NotPausedError`] (Twisted
    /// silently lets the counter go negative). Like `pause`, it takes `&mut self`: both change
    /// the state of the tail this handle owns. ([`Resolver::unpause`] takes `&self`, as every
    /// method of the shared firing end does.)
    ///
    /// ```
    /// let mut d = deferreds::succeed(1).map(|n| n + 1);
    /// assert!(d.unpause().is_err()); // not paused
    /// d.pause();
    /// d.unpause().unwrap();
    /// assert_eq!(deferreds::testing::success_result_of(d), 2);
    /// ```
    pub fn unpause(&mut self) -> Result<(), NotPausedError> {
        self.tail.unpause()
    }

    /// Cancels the Deferred.
    ///
    /// If it has no result yet, its canceller runs (see [`Deferred::with_canceller`]), and unless
    /// that fires it, it fails with [`CancelledError`](crate::CancelledError). Without a
    /// canceller, it fails at once and the next `callback`/`errback` is silently ignored, since
    /// whoever was going to fire it may not know it was cancelled. If the chain is waiting on a
    /// Deferred returned by one of its steps, the cancellation goes to that one instead, at any
    /// depth. A Deferred that already has its result is left alone.
    ///
    /// ```
    /// use deferreds::{CancelledError, Deferred};
    /// let (d, r) = Deferred::<u8>::new();
    /// let d = d.add_errback(|f| { f.trap::<CancelledError>()?; Ok(0) });
    /// d.cancel();
    /// assert!(r.callback(5).is_ok()); // swallowed once
    /// assert!(r.callback(6).is_err());
    /// assert_eq!(deferreds::testing::success_result_of(d), 0);
    /// ```
    #[track_caller]
    pub fn cancel(&self) {
        self.tail.cancel(Location::caller());
    }

    /// Whether the Deferred has been fired (Twisted's `called`).
    ///
    /// ```
    /// let (d, r) = deferreds::Deferred::<u8>::new();
    /// assert!(!d.called());
    /// r.callback(1).unwrap();
    /// assert!(d.called());
    /// ```
    pub fn called(&self) -> bool {
        self.tail.called()
    }

    /// Whether the Deferred is paused.
    ///
    /// ```
    /// let mut d = deferreds::succeed(1);
    /// d.pause();
    /// assert!(d.is_paused());
    /// d.unpause().unwrap();
    /// assert!(!d.is_paused());
    /// ```
    pub fn is_paused(&self) -> bool {
        self.tail.is_paused()
    }

    /// Whether the chain is waiting on a Deferred that one of its steps returned.
    ///
    /// ```
    /// let (inner, r) = deferreds::Deferred::<u8>::new();
    /// let outer = deferreds::succeed(()).add_callback(move |()| inner);
    /// assert!(outer.is_waiting());
    /// r.callback(1).unwrap();
    /// assert!(!outer.is_waiting());
    /// ```
    pub fn is_waiting(&self) -> bool {
        self.tail.is_waiting()
    }

    /// Takes the result if the chain has finished with one, or gives the Deferred back.
    ///
    /// Taking a failure counts as handling it: it is not reported as unhandled.
    ///
    /// ```
    /// use deferreds::{Deferred, TryResult};
    ///
    /// let (d, r) = Deferred::<u8>::new();
    /// let TryResult::Pending(d) = d.try_result() else { panic!("not fired yet") };
    /// r.callback(3).unwrap();
    /// match d.try_result() {
    ///     TryResult::Value(n) => assert_eq!(n, 3),
    ///     TryResult::Failure(failure) => panic!("failed: {failure}"),
    ///     TryResult::Pending(_) => panic!("fired, and nothing holds it back"),
    /// }
    /// ```
    pub fn try_result(self) -> TryResult<T> {
        match self.into_tail().take() {
            Ok(Ok(value)) => TryResult::Value(value.take::<T>()),
            Ok(Err(failure)) => TryResult::Failure(failure),
            Err(tail) => TryResult::Pending(Deferred::from_tail(tail)),
        }
    }
}

impl<T> Drop for Deferred<T> {
    #[inline]
    fn drop(&mut self) {
        if let Tail::Chain(chain) = &self.tail {
            // A circle of `chain_deferred` links may have lost its last outside handle.
            dropping(chain);
        }
    }
}

/// A Deferred that already has `value` (Twisted's `succeed`).
///
/// ```
/// assert_eq!(deferreds::testing::success_result_of(deferreds::succeed(5)), 5);
/// ```
#[track_caller]
#[inline]
pub fn succeed<T: Send + 'static>(value: T) -> Deferred<T> {
    Deferred::from_tail(Tail::ready(Ok(Value::new(value)), Location::caller()))
}

/// A Deferred that already failed with `failure` (Twisted's `fail`).
///
/// ```
/// let d = deferreds::fail::<u8>(deferreds::Failure::msg("down"));
/// assert_eq!(deferreds::testing::failure_result_of(d).to_string(), "down");
/// ```
#[track_caller]
pub fn fail<T: Send + 'static>(failure: Failure) -> Deferred<T> {
    Deferred::from_tail(Tail::ready(Err(failure), Location::caller()))
}
