//! [`race()`](fn@crate::race): the first Deferred to succeed wins, and the others are cancelled.
//!
//! Part of the combinators, on the typed Deferred and the engine: it knows nothing of the
//! primitives, the async bridge or the reactor.

use std::panic::Location;

use super::join;
use crate::chain::join::{Slots, Spec};
use crate::deferred::Deferred;
use crate::error::FailureGroup;
use crate::failure::Failure;
use crate::foundation::value::Value;

/// The first input to succeed, with its index; the others are cancelled (Twisted's `race`).
///
/// The result fires with `(index, value)` for the first input that succeeds, after cancelling
/// every other input. If they all fail, it fails with a [`FailureGroup`] holding every failure
/// in input order. Failures of the inputs end here: none is reported as unhandled, and neither
/// is the result of an input that fires after the race was decided.
///
/// Cancelling the result before it fires cancels every input; unless one of them succeeds in
/// its canceller, the race then fails with the `FailureGroup` of their failures. An input whose
/// result was already on its way (its steps running on another thread) is waited for, and may
/// still win. If an input can neither be cancelled nor report (it is paused, or nothing can
/// fire it any more), the race fails with [`CancelledError`](crate::CancelledError).
///
/// An empty race fails at once with an empty `FailureGroup`; Twisted's never fires (see
/// [`conformance.md`](https://github.com/deferreds/deferreds/blob/main/docs/conformance.md)).
///
/// ```
/// use deferreds::{CancelledError, Deferred, race};
///
/// let (primary, fire_primary) = Deferred::<&str>::new();
/// let (replica, fire_replica) = Deferred::<&str>::new();
/// let primary = primary.add_errback(|f| { f.trap::<CancelledError>()?; Ok("cancelled") });
/// let winner = race(vec![primary, replica]);
///
/// fire_replica.callback("replica answer").unwrap();
/// assert_eq!(deferreds::testing::success_result_of(winner), (1, "replica answer"));
/// // The loser was cancelled, so whoever was going to fire it may still do so, harmlessly.
/// assert!(fire_primary.callback("late").is_ok());
/// ```
#[track_caller]
pub fn race<T: Send + 'static>(
    inputs: impl IntoIterator<Item = Deferred<T>>,
) -> Deferred<(usize, T)> {
    let spec = Spec {
        first_success: Some(winner::<T>),
        first_failure: false,
        complete: all_failed,
        consume_errors: true,
        cancel_losers: true,
    };
    join(inputs.into_iter().collect(), spec, Location::caller())
}

fn winner<T: Send + 'static>(index: usize, value: Value) -> Value {
    Value::new((index, value.take::<T>()))
}

/// A race completes only if no input succeeded.
fn all_failed(results: Slots) -> Result<Value, Failure> {
    let failures = results.into_iter().filter_map(|r| r.and_then(Result::err)).collect();
    Err(Failure::new(FailureGroup { failures }))
}
