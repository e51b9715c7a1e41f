//! [`Deferred`], its [`Resolver`], and the steps a chain is made of.

use std::fmt;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::Arc;

use crate::chain::{Cancelled, Chain, Outcome, Peek, Tail, dropping};
use crate::error::{AlreadyCalledError, DeferredValueError, NotPausedError};
use crate::failure::Failure;
use crate::foundation::contain;
use crate::foundation::trace::StepKind;
use crate::foundation::value::Value;

use self::picture::Picture;

pub(crate) mod execute;
pub(crate) mod passthru;
pub(crate) mod picture;
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

/// What a step hands to the next one: a value, a failure, or a Deferred to wait for.
///
/// Steps usually return `Result<U, Failure>`, `()`, or a `Deferred<U>`, all of which convert
/// through [`IntoStep`]. `Step` is for a step that decides at run time, such as a cache that
/// answers at once on a hit and waits on a miss.
///
/// ```
/// use deferreds::Step;
///
/// fn lookup(key: u32, cache_hit: bool) -> Step<String> {
///     if cache_hit {
///         Step::Value(format!("cached {key}"))
///     } else {
///         Step::Wait(deferreds::succeed(format!("fetched {key}")))
///     }
/// }
/// let d = deferreds::succeed(7).add_callback(|k| lookup(k, false));
/// assert_eq!(deferreds::testing::success_result_of(d), "fetched 7");
/// ```
pub enum Step<U> {
    /// Continue on the callback track with this value.
    Value(U),
    /// Continue on the errback track with this failure.
    Fail(Failure),
    /// Pause the chain until this Deferred fires, then continue with its result.
    Wait(Deferred<U>),
}

impl<U: fmt::Debug + 'static> fmt::Debug for Step<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Value(value) => f.debug_tuple("Value").field(value).finish(),
            Step::Fail(failure) => f.debug_tuple("Fail").field(failure).finish(),
            Step::Wait(d) => f.debug_tuple("Wait").field(d).finish(),
        }
    }
}

impl<U> From<Result<Deferred<U>, Failure>> for Step<U> {
    /// A step that fails early or else waits: `Err(f)` continues on the errback track,
    /// `Ok(d)` waits for `d`. Handy for closures that use `?` before returning a Deferred.
    ///
    /// ```
    /// use deferreds::{Failure, Step};
    /// let d = deferreds::succeed("7").add_callback(|s| {
    ///     let parsed = (|| Ok(deferreds::succeed(s.parse::<u8>()?)))();
    ///     Step::from(parsed)
    /// });
    /// assert_eq!(deferreds::testing::success_result_of(d), 7);
    /// # let _: Option<Failure> = None;
    /// ```
    fn from(result: Result<Deferred<U>, Failure>) -> Step<U> {
        match result {
            Ok(d) => Step::Wait(d),
            Err(f) => Step::Fail(f),
        }
    }
}

/// What a callback or errback may return.
///
/// | a step returning | continues with |
/// |---|---|
/// | `Result<U, Failure>` | `Ok(u)` on the callback track, `Err(f)` on the errback track |
/// | `Deferred<U>` | the chain pauses until that Deferred fires, then takes over its result |
/// | `Step<U>` | any of the above, decided at run time |
/// | `()` | `()` on the callback track |
///
/// For a callback that cannot fail, [`Deferred::map`] takes a closure returning a plain value.
#[diagnostic::on_unimplemented(
    message = "a Deferred step cannot return `{Self}`",
    label = "this step returns `{Self}`",
    note = "return `Ok(value)` (a `Result<_, Failure>`), a `Deferred<_>`, a `Step<_>` or `()`, or use `.map(..)` for a plain value"
)]
pub trait IntoStep {
    /// The type of the value the chain continues with.
    type Output: Send + 'static;
    /// Converts the step's return value.
    fn into_step(self) -> Step<Self::Output>;
}

impl<U: Send + 'static> IntoStep for Result<U, Failure> {
    type Output = U;
    #[inline]
    fn into_step(self) -> Step<U> {
        match self {
            Ok(u) => Step::Value(u),
            Err(f) => Step::Fail(f),
        }
    }
}

impl<U: Send + 'static> IntoStep for Deferred<U> {
    type Output = U;
    #[inline]
    fn into_step(self) -> Step<U> {
        Step::Wait(self)
    }
}

impl<U: Send + 'static> IntoStep for Step<U> {
    type Output = U;
    #[inline]
    fn into_step(self) -> Step<U> {
        self
    }
}

impl IntoStep for () {
    type Output = ();
    #[inline]
    fn into_step(self) -> Step<()> {
        Step::Value(())
    }
}

#[inline]
fn outcome<R: IntoStep>(r: R) -> Outcome {
    match r.into_step() {
        Step::Value(u) => Outcome::Value(value(u)),
        Step::Fail(f) => Outcome::Failure(f),
        Step::Wait(d) => d.into_tail().into_outcome(),
    }
}

/// A step's value, erased; in debug mode, a value that is itself a Deferred is reported.
#[inline(always)]
fn value<U: Send + 'static>(u: U) -> Value {
    // A constant for each `U`: the check costs nothing for any other type.
    if std::any::type_name::<U>().starts_with("deferreds::deferred::Deferred<")
        && crate::foundation::debug::debugging()
    {
        report_deferred_value(std::any::type_name::<U>());
    }
    Value::new(u)
}

#[cold]
#[inline(never)]
fn report_deferred_value(type_name: &'static str) {
    let failure = Failure::new(DeferredValueError { type_name });
    crate::foundation::unhandled::report(crate::foundation::unhandled::UnhandledFailure::new(
        failure, None,
    ));
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

    #[inline]
    pub(crate) fn into_tail(self) -> Tail {
        self.take_tail()
    }

    /// Moves the tail out. `Deferred` has a `Drop` (for the tail it holds when dropped), so the
    /// tail cannot be moved out of it; the emptied shell is forgotten instead of dropped, which
    /// costs nothing (it owns nothing else).
    #[inline]
    fn take_tail(self) -> Tail {
        let mut shell = std::mem::ManuallyDrop::new(self);
        std::mem::replace(&mut shell.tail, Tail::Value(Value::UNIT))
    }
    /// The shared chain behind this Deferred, for the crate's own combinators.
    #[allow(dead_code)]
    pub(crate) fn into_chain(self) -> Arc<Chain> {
        self.take_tail().into_chain()
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
        Deferred::from_tail(self.take_tail().push_at(kind, step))
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
        Deferred::from_tail(self.take_tail().push_fire(other.chain.clone()))
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
    pub fn called(&self) -> bool {
        self.tail.called()
    }

    /// Whether the Deferred is paused.
    pub fn is_paused(&self) -> bool {
        self.tail.is_paused()
    }

    /// Whether the chain is waiting on a Deferred that one of its steps returned.
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
        match self.take_tail().take() {
            Ok(Ok(value)) => TryResult::Value(value.take::<T>()),
            Ok(Err(failure)) => TryResult::Failure(failure),
            Err(tail) => TryResult::Pending(Deferred::from_tail(tail)),
        }
    }
}

/// What [`Deferred::try_result`] found: the chain's value, its failure, or no result yet.
#[must_use = "a Deferred's result is lost unless it is read"]
pub enum TryResult<T> {
    /// The chain finished with this value.
    Value(T),
    /// The chain finished with this failure, which is now handled.
    Failure(Failure),
    /// The chain has no result available yet (not fired, paused, or waiting on another
    /// Deferred): the Deferred, unchanged.
    Pending(Deferred<T>),
}

impl<T> TryResult<T> {
    /// The result, if the chain had one: `Some(Ok(value))` or `Some(Err(failure))`; `None` for
    /// a pending Deferred, which is dropped.
    ///
    /// ```
    /// let result = deferreds::succeed(5).try_result().into_result();
    /// assert_eq!(result.unwrap().unwrap(), 5);
    /// let (d, _r) = deferreds::Deferred::<u8>::new();
    /// assert!(d.try_result().into_result().is_none());
    /// ```
    pub fn into_result(self) -> Option<Result<T, Failure>> {
        match self {
            TryResult::Value(value) => Some(Ok(value)),
            TryResult::Failure(failure) => Some(Err(failure)),
            TryResult::Pending(_) => None,
        }
    }
}

impl<T: fmt::Debug + 'static> fmt::Debug for TryResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryResult::Value(value) => f.debug_tuple("Value").field(value).finish(),
            TryResult::Failure(failure) => f.debug_tuple("Failure").field(failure).finish(),
            TryResult::Pending(d) => f.debug_tuple("Pending").field(d).finish(),
        }
    }
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
    #[track_caller]
    pub fn resolve(&self, result: Result<T, Failure>) -> Result<(), AlreadyCalledError> {
        self.chain.fire(result.map(Value::new), Location::caller())
    }

    /// Whether the Deferred has been fired.
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
    pub fn unpause(&self) -> Result<(), NotPausedError> {
        self.chain.unpause()
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

pub(crate) fn fmt_state(
    name: &str,
    peek: Peek,
    debug: Option<String>,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    fmt_state_with(name, peek, false, debug, f)
}

/// [`fmt_state`] with the pause shown.
fn fmt_state_with(
    name: &str,
    peek: Peek,
    paused: bool,
    debug: Option<String>,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    write!(f, "<{name}")?;
    match peek {
        Peek::Pending => {}
        Peek::Ok(value) => write!(f, " current result: {value}")?,
        Peek::Err(failure) => write!(f, " current result: {failure:?}")?,
        Peek::Waiting => write!(f, " waiting on another Deferred")?,
        Peek::Running => write!(f, " running callbacks")?,
        Peek::Consumed => write!(f, " result handed on")?,
    }
    if paused {
        f.write_str(" (paused)")?;
    }
    if let Some(debug) = debug {
        write!(f, "{}", debug.replace('\n', " "))?;
    }
    write!(f, ">")
}

impl<T> Deferred<T> {
    /// Whether [`try_result`](Deferred::try_result) would return the result now.
    pub(crate) fn has_result(&self) -> bool {
        self.tail.has_result()
    }
}

impl<T> Deferred<T> {
    /// [`fmt_state`] for this Deferred, whatever `T` is: for messages that cannot ask for
    /// `T: Debug` (the testing helpers' panics).
    pub(crate) fn describe_state(&self) -> String {
        struct State<'a, T>(&'a Deferred<T>);
        impl<T> fmt::Display for State<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let name = format!("Deferred<{}>", std::any::type_name::<T>());
                let paused = self.0.tail.is_paused();
                self.0.tail.peek(|peek, debug| fmt_state_with(&name, peek, paused, debug, f))
            }
        }
        State(self).to_string()
    }
}

impl<T> Deferred<T> {
    /// A [`Picture`] of the chain and of the tower of chains it belongs to: its state, its
    /// pause count, its pending steps, what it waits on and what waits on it, down the whole
    /// tower; in [debug mode](crate::set_debugging), where each chain was created and fired
    /// and where each pending step was added.
    ///
    /// The value is shown as the engine sees it (small values, such as integers, as
    /// themselves); `{:#?}` shows the picture with the value through `T`'s `Debug`.
    ///
    /// ```
    /// let (d, _resolver) = deferreds::Deferred::<u8>::new();
    /// let mut d = d.map(|n| n + 1);
    /// d.pause();
    /// assert_eq!(d.describe().to_string(), "Deferred<u8>: pending, paused (1), 1 step pending");
    /// ```
    pub fn describe(&self) -> Picture {
        self.picture(None)
    }

    fn picture(&self, value: Option<String>) -> Picture {
        let name = format!("Deferred<{}>", std::any::type_name::<T>());
        match &self.tail {
            Tail::Chain(chain) => Picture::of_chain(chain, name, value),
            ready => ready.peek(|peek, _| Picture::of_result(name, peek, value)),
        }
    }
}

impl<T: fmt::Debug + 'static> fmt::Debug for Deferred<T> {
    /// Twisted-style: `<Deferred<alloc::string::String> current result: "poem">`, with
    /// `(paused)` while it is paused, plus creation and fire sites in debug mode.
    ///
    /// The value is shown with `T`'s `Debug`; a paused chain may still hold the value of an
    /// earlier step, of another type, which is shown as the engine sees it.
    ///
    /// `{:#?}` prints the Deferred's [`describe`](Deferred::describe) picture instead, the
    /// value shown the same way:
    ///
    /// ```
    /// let (inner, _fire) = deferreds::Deferred::<u8>::new();
    /// let outer = deferreds::succeed(String::from("key")).add_callback(move |_| inner);
    /// assert_eq!(
    ///     format!("{outer:#?}"),
    ///     "Deferred<u8>: a tower of 2 chains, outermost first\n\
    ///      => #0 waiting on #1\n   \
    ///         #1 pending"
    /// );
    /// let done = deferreds::succeed(String::from("poem"));
    /// assert_eq!(format!("{done:#?}"), r#"Deferred<alloc::string::String>: has its result: "poem""#);
    /// ```
    ///
    /// ```
    /// let mut d = deferreds::succeed(String::from("poem"));
    /// assert_eq!(format!("{d:?}"), r#"<Deferred<alloc::string::String> current result: "poem">"#);
    /// d.pause();
    /// assert_eq!(
    ///     format!("{d:?}"),
    ///     r#"<Deferred<alloc::string::String> current result: "poem" (paused)>"#
    /// );
    /// let (pending, _r) = deferreds::Deferred::<u8>::new();
    /// assert_eq!(format!("{pending:?}"), "<Deferred<u8>>");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = format!("Deferred<{}>", std::any::type_name::<T>());
        let paused = self.tail.is_paused();
        // `T`'s `Debug` is user code: it runs on the value lent out of the chain, not under
        // the chain's lock, and before the snapshot the rest of the output comes from.
        let shown = self.tail.lend_value(|v| v.debug_as::<T>()).flatten();
        if f.alternate() {
            return fmt::Display::fmt(&self.picture(shown), f);
        }
        self.tail.peek(|peek, debug| {
            let peek = match (peek, shown) {
                (Peek::Ok(_), Some(shown)) => Peek::Ok(shown),
                (peek, _) => peek,
            };
            fmt_state_with(&name, peek, paused, debug, f)
        })
    }
}

impl<T> Resolver<T> {
    /// A [`Picture`] of the chain this resolver fires and of the tower it belongs to, as
    /// [`Deferred::describe`] takes one: useful once the Deferred was handed on, for example
    /// returned from a step, so that another chain waits on it.
    ///
    /// ```
    /// let (inner, fire_inner) = deferreds::Deferred::<u8>::new();
    /// let outer = deferreds::succeed(()).add_callback(move |()| inner);
    /// assert_eq!(
    ///     fire_inner.describe().to_string(),
    ///     "Resolver<u8>: a tower of 2 chains, outermost first\n   \
    ///         #0 waiting on #1\n\
    ///      => #1 pending"
    /// );
    /// # drop(outer);
    /// ```
    pub fn describe(&self) -> Picture {
        let name = format!("Resolver<{}>", std::any::type_name::<T>());
        Picture::of_chain(&self.chain, name, None)
    }
}

impl<T> fmt::Debug for Resolver<T> {
    /// The chain's state, as `Deferred`'s `Debug` shows it, with `(paused)` while it is paused;
    /// the value as the engine sees it (the chain's value need not be a `T` any more). `{:#?}`
    /// prints its [`describe`](Resolver::describe) picture.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return fmt::Display::fmt(&self.describe(), f);
        }
        let name = format!("Resolver<{}>", std::any::type_name::<T>());
        let paused = self.chain.paused();
        self.chain.peek(|peek, debug| fmt_state_with(&name, peek, paused, debug, f))
    }
}
