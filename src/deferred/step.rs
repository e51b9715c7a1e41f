//! What a step may return ([`Step`], [`IntoStep`]), and how the typed layer hands it to the
//! engine as an untyped outcome.
//!
//! Part of the typed Deferred: it knows nothing of the combinators, the coordination
//! primitives, the async bridge or the reactor.

use std::fmt;

use crate::chain::Outcome;
use crate::deferred::Deferred;
use crate::error::DeferredValueError;
use crate::failure::Failure;
use crate::foundation::value::Value;
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
///
/// ```
/// use deferreds::{IntoStep, Step};
///
/// assert!(matches!(Ok::<u8, deferreds::Failure>(1).into_step(), Step::Value(1)));
/// assert!(matches!(deferreds::succeed(2).into_step(), Step::Wait(_)));
/// assert!(matches!(().into_step(), Step::Value(())));
/// ```
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
pub(super) fn outcome<R: IntoStep>(r: R) -> Outcome {
    match r.into_step() {
        Step::Value(u) => Outcome::Value(value(u)),
        Step::Fail(f) => Outcome::Failure(f),
        Step::Wait(d) => d.into_tail().into_outcome(),
    }
}

/// A step's value, erased; in debug mode, a value that is itself a Deferred is reported.
#[inline(always)]
pub(super) fn value<U: Send + 'static>(u: U) -> Value {
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

/// What [`Deferred::try_result`] found: the chain's value, its failure, or no result yet.
///
/// ```
/// use deferreds::TryResult;
///
/// let (d, r) = deferreds::Deferred::<u8>::new();
/// let TryResult::Pending(d) = d.try_result() else { panic!("not fired yet") };
/// r.callback(3).unwrap();
/// assert!(matches!(d.try_result(), TryResult::Value(3)));
/// ```
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
