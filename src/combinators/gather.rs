//! [`gather_results`]: the values of many Deferreds, or the first failure.
//!
//! Part of the combinators, on the typed Deferred and the engine: it knows nothing of the
//! primitives, the async bridge or the reactor.

use std::panic::Location;

use super::join;
use crate::chain::join::{Slots, Spec};
use crate::deferred::Deferred;
use crate::failure::Failure;
use crate::foundation::value::Value;

/// One Deferred for the values of many, in input order, failing at the first failure (Twisted's
/// `gatherResults`).
///
/// The result fires with every value once all the inputs have succeeded, or fails as soon as
/// one fails, with a [`FirstError`](crate::FirstError) carrying its index and failure. An empty
/// input fires with an empty `Vec` at once.
///
/// The inputs' failures end here, as with Twisted's `consumeErrors=True`: the first is handed
/// on in the `FirstError`, and any later one is dropped, so none is also reported as unhandled
/// from its input's chain. (Twisted's default, `consumeErrors=False`, reports each again, a
/// false alarm once the `FirstError` is handled; a
/// [`DeferredList`](crate::DeferredList) with `fire_on_one_errback(true)` and
/// `consume_errors(false)` still does that.)
///
/// Cancelling the result before it fires cancels every input that has not reported, and the
/// first of their `CancelledError`s fails it with a `FirstError`. An input whose result was
/// already on its way (its steps running on another thread) is waited for, so when every input
/// left was, their results decide. It fails with a plain
/// [`CancelledError`](crate::CancelledError) only if an input can neither be cancelled nor
/// report (it is paused, or nothing can fire it any more).
///
/// ```
/// use deferreds::{Deferred, gather_results};
///
/// let (a, fire_a) = Deferred::<u32>::new();
/// let (b, fire_b) = Deferred::<u32>::new();
/// let both = gather_results(vec![a, b]).map(|v| v.iter().sum::<u32>());
/// fire_b.callback(2).unwrap();
/// fire_a.callback(40).unwrap();
/// assert_eq!(deferreds::testing::success_result_of(both), 42);
/// ```
#[track_caller]
pub fn gather_results<T: Send + 'static>(
    inputs: impl IntoIterator<Item = Deferred<T>>,
) -> Deferred<Vec<T>> {
    let spec = Spec {
        first_success: None,
        first_failure: true,
        complete: every_value::<T>,
        consume_errors: true,
        cancel_losers: false,
    };
    join(inputs.into_iter().collect(), spec, Location::caller())
}

/// With `first_failure`, the join completes only if every input succeeded.
fn every_value<T: Send + 'static>(results: Slots) -> Result<Value, Failure> {
    let values: Vec<T> = results
        .into_iter()
        .map(|r| match r {
            Some(Ok(value)) => value.take::<T>(),
            _ => unreachable!("gather_results completes only when every input succeeded"),
        })
        .collect();
    Ok(Value::new(values))
}
