//! [`DeferredList`]: one Deferred for the results of many.
//!
//! Part of the combinators, on the typed Deferred and the engine: it knows nothing of the
//! primitives, the async bridge or the reactor.

use std::fmt;
use std::panic::Location;

use super::join;
use crate::chain::join::{Slots, Spec};
use crate::deferred::Deferred;
use crate::failure::Failure;
use crate::foundation::value::Value;

/// Collects the results of several Deferreds into one (Twisted's `DeferredList`).
///
/// `DeferredList::new(inputs)` takes the Deferreds, the flags set how it behaves, and the last
/// call builds the Deferred:
///
/// | Twisted | here | fires with |
/// |---|---|---|
/// | `DeferredList(ds)` | `DeferredList::new(ds).into_deferred()` | `Vec<Result<T, Failure>>` once every input has fired |
/// | `fireOnOneErrback=True` | [`.fire_on_one_errback(true)`](DeferredList::fire_on_one_errback) | a [`FirstError`](crate::FirstError) failure at the first failing input |
/// | `fireOnOneCallback=True` | [`.fire_on_one_callback()`](DeferredList::fire_on_one_callback) | a [`FirstCallback`] at the first success |
/// | `consumeErrors=True` | [`.consume_errors(true)`](DeferredList::consume_errors) | (failures are not reported as unhandled) |
///
/// Twisted's `(success, result)` pairs are `Result`s here: `(True, value)` is `Ok(value)`,
/// `(False, failure)` is `Err(failure)`, always in input order whatever order the inputs fire
/// in. Without `fire_on_one_errback`, the list never fails: failures are entries.
///
/// ```
/// use deferreds::{Deferred, DeferredList, Failure};
///
/// let (a, fire_a) = Deferred::<&str>::new();
/// let (b, fire_b) = Deferred::<&str>::new();
/// let list = DeferredList::new(vec![a, b]).consume_errors(true).into_deferred();
///
/// fire_b.errback(Failure::msg("b failed")).unwrap(); // fires first, stays second
/// fire_a.callback("a").unwrap();
/// let results = deferreds::testing::success_result_of(list);
/// assert_eq!(results[0].as_ref().unwrap(), &"a");
/// assert_eq!(results[1].as_ref().unwrap_err().error_message(), "b failed");
/// ```
///
/// # Cancellation
///
/// Cancelling the list's Deferred before it fires cancels every input that has not reported;
/// their results (usually `CancelledError` failures) complete the list as usual. An input whose
/// result was already on its way (its steps running on another thread) is waited for, so a
/// list without `fire_on_one_errback` never fails because inputs fired while it was cancelled.
/// If an input can neither be cancelled nor report (it is paused, or pending with nobody to
/// fire it, or nothing can fire it any more), the list fails with
/// [`CancelledError`](crate::CancelledError). Once the list has fired, cancelling it does
/// nothing, even to inputs still pending.
///
/// # Unhandled failures
///
/// As in Twisted, an input's failure stays on that input's own chain unless
/// [`consume_errors`](DeferredList::consume_errors) is set, so it is reported as unhandled once
/// (when the last handle on that input, usually its [`Resolver`](crate::Resolver), is dropped),
/// even though the list delivered it. Since the list took the input's tail, nobody else can
/// handle it there: set `consume_errors(true)` when the list's result is where failures are
/// dealt with.
///
/// # Cost
///
/// One step and one pre-sized slot per input; each result costs constant work, however many
/// inputs there are.
#[must_use = "a DeferredList does nothing until `into_deferred` or `fire_on_one_callback` builds its Deferred"]
pub struct DeferredList<T> {
    inputs: Vec<Deferred<T>>,
    fire_on_one_errback: bool,
    consume_errors: bool,
}

/// What a [`DeferredList`] built with [`fire_on_one_callback`](DeferredList::fire_on_one_callback)
/// fires with.
///
/// ```
/// use deferreds::{Deferred, DeferredList, FirstCallback};
///
/// let (slow, _fire_slow) = Deferred::<&str>::new();
/// let d = DeferredList::new(vec![slow, deferreds::succeed("mirror 2")]).fire_on_one_callback();
/// match deferreds::testing::success_result_of(d) {
///     FirstCallback::Succeeded { index, value } => assert_eq!((index, value), (1, "mirror 2")),
///     FirstCallback::AllFailed(_) => unreachable!(),
/// }
/// ```
#[derive(Debug)]
pub enum FirstCallback<T> {
    /// Input `index` was the first to succeed, with `value` (Twisted's `(result, index)`).
    Succeeded {
        /// The position of the input in the list.
        index: usize,
        /// Its value.
        value: T,
    },
    /// No input succeeded: every input failed, and these are their failures in input order
    /// (Twisted delivers its full result list in this case). Empty for an empty list.
    AllFailed(Vec<Failure>),
}

impl<T: Send + 'static> DeferredList<T> {
    /// A list over `inputs`, with every flag off.
    ///
    /// ```
    /// let d = deferreds::DeferredList::new([deferreds::succeed(1), deferreds::succeed(2)])
    ///     .into_deferred();
    /// let values: Vec<i32> = deferreds::testing::success_result_of(d)
    ///     .into_iter()
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(values, [1, 2]);
    /// ```
    pub fn new(inputs: impl IntoIterator<Item = Deferred<T>>) -> DeferredList<T> {
        DeferredList {
            inputs: inputs.into_iter().collect(),
            fire_on_one_errback: false,
            consume_errors: false,
        }
    }

    /// Fail at the first failing input, with a [`FirstError`](crate::FirstError) that carries
    /// its index and failure, instead of waiting for every input (Twisted's
    /// `fireOnOneErrback`).
    ///
    /// ```
    /// use deferreds::{Deferred, DeferredList, Failure, FirstError};
    ///
    /// let (pending, _r) = Deferred::<u8>::new();
    /// let d = DeferredList::new(vec![pending, deferreds::fail(Failure::msg("down"))])
    ///     .fire_on_one_errback(true)
    ///     .consume_errors(true)
    ///     .into_deferred();
    /// let failure = deferreds::testing::failure_result_of(d);
    /// assert_eq!(failure.downcast_ref::<FirstError>().unwrap().index, 1);
    /// ```
    pub fn fire_on_one_errback(mut self, on: bool) -> DeferredList<T> {
        self.fire_on_one_errback = on;
        self
    }

    /// End each input's failure in the list instead of leaving it on the input's chain, where
    /// it would be reported as unhandled (Twisted's `consumeErrors`).
    ///
    /// ```
    /// use deferreds::{DeferredList, Failure, fail, testing::capture_unhandled};
    ///
    /// let (_, reports) = capture_unhandled(|| {
    ///     let d = DeferredList::new(vec![fail::<u8>(Failure::msg("x"))])
    ///         .consume_errors(true)
    ///         .into_deferred();
    ///     deferreds::testing::success_result_of(d)
    /// });
    /// assert!(reports.is_empty());
    /// ```
    pub fn consume_errors(mut self, on: bool) -> DeferredList<T> {
        self.consume_errors = on;
        self
    }

    /// Builds the list's Deferred: it fires with every input's result, in input order, once
    /// they all have one (or fails at the first failure with
    /// [`fire_on_one_errback`](DeferredList::fire_on_one_errback)). An empty list fires with
    /// an empty `Vec` at once.
    ///
    /// Inputs that have already fired are taken into account at once, so the list may have
    /// fired by the time this returns.
    ///
    /// ```
    /// let d = deferreds::DeferredList::<u8>::new(Vec::new()).into_deferred();
    /// assert!(deferreds::testing::success_result_of(d).is_empty());
    /// ```
    #[track_caller]
    pub fn into_deferred(self) -> Deferred<Vec<Result<T, Failure>>> {
        let spec = Spec {
            first_success: None,
            first_failure: self.fire_on_one_errback,
            complete: every_result::<T>,
            consume_errors: self.consume_errors,
            cancel_losers: false,
        };
        join(self.inputs, spec, Location::caller())
    }

    /// Builds the list's Deferred so that it fires at the first input that succeeds, with its
    /// index and value (Twisted's `fireOnOneCallback`); if every input fails, with all their
    /// failures.
    ///
    /// This flag ends the builder because it changes what the list fires with. Set the others
    /// first; with [`fire_on_one_errback`](DeferredList::fire_on_one_errback) the first input
    /// to fire decides, either way.
    ///
    /// Twisted never fires an empty list built with `fireOnOneCallback`; here it fires at once
    /// with `AllFailed(vec![])`, since no input can succeed (see
    /// [`conformance.md`](https://github.com/deferreds/deferreds/blob/main/docs/conformance.md)).
    ///
    /// ```
    /// use deferreds::{DeferredList, Failure, FirstCallback, fail};
    ///
    /// let d = DeferredList::new(vec![fail::<u8>(Failure::msg("a")), fail(Failure::msg("b"))])
    ///     .consume_errors(true)
    ///     .fire_on_one_callback();
    /// let FirstCallback::AllFailed(failures) = deferreds::testing::success_result_of(d) else {
    ///     unreachable!()
    /// };
    /// assert_eq!(failures[1].error_message(), "b");
    /// ```
    #[track_caller]
    pub fn fire_on_one_callback(self) -> Deferred<FirstCallback<T>> {
        let spec = Spec {
            first_success: Some(first_callback::<T>),
            first_failure: self.fire_on_one_errback,
            complete: all_failed::<T>,
            consume_errors: self.consume_errors,
            cancel_losers: false,
        };
        join(self.inputs, spec, Location::caller())
    }
}

fn every_result<T: Send + 'static>(results: Slots) -> Result<Value, Failure> {
    let results: Vec<Result<T, Failure>> = results
        .into_iter()
        .map(|r| r.expect("every input has a result").map(Value::take::<T>))
        .collect();
    Ok(Value::new(results))
}

fn first_callback<T: Send + 'static>(index: usize, value: Value) -> Value {
    Value::new(FirstCallback::Succeeded { index, value: value.take::<T>() })
}

/// With `fire_on_one_callback`, the list completes only if no input succeeded.
fn all_failed<T: Send + 'static>(results: Slots) -> Result<Value, Failure> {
    let failures: Vec<Failure> =
        results.into_iter().filter_map(|r| r.and_then(Result::err)).collect();
    Ok(Value::new(FirstCallback::<T>::AllFailed(failures)))
}

impl<T> fmt::Debug for DeferredList<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeferredList")
            .field("inputs", &self.inputs.len())
            .field("fire_on_one_errback", &self.fire_on_one_errback)
            .field("consume_errors", &self.consume_errors)
            .finish()
    }
}
