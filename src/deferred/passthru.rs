//! [`passthru`]: the step that changes nothing.
//!
//! Part of the typed Deferred: it knows nothing of the combinators, the primitives, the async
//! bridge or the reactor.

/// Returns its argument unchanged: Twisted's `passthru`, the named identity step.
///
/// Where Twisted needs a callable for a slot that should do nothing (one half of
/// `addCallbacks`, a placeholder), this is it. Rust's steps are typed by track, so the
/// spelling follows the track: `.map(passthru)` on the value track, `.add_both(passthru)` for
/// both (the `Result` goes through as it came, failure and all), and inside
/// [`add_callbacks`](crate::Deferred::add_callbacks), `|v| Ok(passthru(v))`.
///
/// ```
/// use deferreds::{Failure, passthru};
/// use deferreds::testing::{failure_result_of, success_result_of};
///
/// assert_eq!(success_result_of(deferreds::succeed(7).map(passthru)), 7);
/// assert_eq!(success_result_of(deferreds::succeed(7).add_both(passthru)), 7);
///
/// let failure = Failure::msg("still failing");
/// let d = deferreds::fail::<u8>(failure.clone()).add_both(passthru);
/// assert!(failure_result_of(d).ptr_eq(&failure));
///
/// // An errback with nothing on the callback side: add_errback, spelled with add_callbacks.
/// let d = deferreds::fail::<u8>(Failure::msg("x")).add_callbacks(|v| Ok(passthru(v)), |_| Ok(0));
/// assert_eq!(success_result_of(d), 0);
/// ```
#[inline]
pub fn passthru<T>(value: T) -> T {
    value
}
