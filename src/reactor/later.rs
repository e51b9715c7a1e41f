//! [`defer_later`]: a Deferred that fires after a delay (Twisted's `task.deferLater`).
//!
//! Part of the reactor, on the typed Deferred: it knows nothing of the engine's insides, the
//! combinators, the primitives or the async bridge.

use std::sync::{Arc, OnceLock};

use super::delayed::DelayedCall;
use super::seconds::Seconds;
use super::time::Time;
use crate::deferred::Deferred;
use crate::deferred::resolver::Resolver;
use crate::deferred::step::IntoStep;
use crate::failure::Failure;

/// A Deferred that fires `delay` from now (seconds as an `f64`, or a `Duration`) with what `f`
/// returns (Twisted's `task.deferLater`).
///
/// `f` runs on the time source's thread when the delay is over, as a callback: it may return
/// anything a callback may ([`IntoStep`]): a value in `Ok`, a failure, `()`, or a Deferred to
/// wait for; a panic becomes the Deferred's failure.
///
/// Cancelling the Deferred cancels the timer, so `f` never runs (and is dropped at once), and
/// the Deferred fails with [`CancelledError`](crate::CancelledError). A `delay` that is
/// negative, infinite or NaN gives a Deferred that has already failed with
/// [`InvalidDelayError`](super::InvalidDelayError).
///
/// ```
/// use deferreds::reactor::{Clock, defer_later};
/// use deferreds::testing::{assert_no_result, success_result_of};
///
/// let clock = Clock::new();
/// let d = defer_later(&clock, 3.0, || Ok(21 * 2));
/// clock.advance(2.0);
/// assert_no_result(&d);
/// clock.advance(1.0);
/// assert_eq!(success_result_of(d), 42);
///
/// let d = defer_later(&clock, 1.0, || println!("never: cancelled before it was due"));
/// d.cancel();
/// assert!(clock.pending_calls().is_empty());
/// assert!(deferreds::testing::failure_result_of(d).check::<deferreds::CancelledError>());
/// ```
pub fn defer_later<C, F, R>(clock: &C, delay: impl Into<Seconds>, f: F) -> Deferred<R::Output>
where
    C: Time + ?Sized,
    F: FnOnce() -> R + Send + 'static,
    R: IntoStep,
{
    // The canceller needs the timer, which needs the resolver: the timer goes in a slot that
    // is filled before the Deferred is handed out, so the canceller always finds it.
    let slot: Arc<OnceLock<DelayedCall>> = Arc::new(OnceLock::new());
    let timer = slot.clone();
    let (d, resolver) = Deferred::<()>::with_canceller(move |_: &Resolver<()>| {
        if let Some(call) = timer.get() {
            let _ = call.cancel();
        }
    });
    let fire = Box::new(move || {
        let _ = resolver.callback(());
    });
    match clock.call_later_boxed(delay.into(), fire) {
        Ok(call) => {
            let _ = slot.set(call);
            d.add_callback(move |()| f())
        }
        Err(err) => crate::deferred::fail(Failure::new(err)),
    }
}
