//! [`maybe_deferred`] and [`execute`]: call a function now, and get its outcome as a Deferred.
//!
//! Part of the typed Deferred: it knows nothing of the combinators, the primitives, the async
//! bridge or the reactor.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::deferred::step::{IntoStep, Step};
use crate::deferred::{Deferred, fail, succeed};
use crate::failure::Failure;

/// Calls `f` now and returns what it produced as a Deferred, whatever it was (Twisted's
/// `maybeDeferred`).
///
/// `f` may return anything a step may ([`IntoStep`]):
///
/// | `f` returns or does | the Deferred |
/// |---|---|
/// | `Ok(value)` | has succeeded with `value` |
/// | `Err(failure)` (or uses `?`) | has failed with `failure` |
/// | a `Deferred<U>` | *is* that Deferred, pending or not |
/// | a [`Step<U>`] | any of the above, chosen at run time |
/// | `()` | has succeeded with `()` |
/// | panics | has failed with a [`PanicError`](crate::PanicError) |
///
/// This is how to call code that may or may not be asynchronous and treat the answer one way.
///
/// ```
/// use deferreds::{Deferred, Failure, maybe_deferred};
///
/// fn lookup(key: &str) -> Result<u32, Failure> {
///     key.parse::<u32>().map_err(Failure::new)
/// }
/// let hit = maybe_deferred(|| lookup("7"));
/// let miss = maybe_deferred(|| lookup("seven"));
/// let panicked = maybe_deferred(|| -> Result<u32, Failure> { panic!("bug") });
/// let (pending, fire) = Deferred::<u32>::new();
/// let later = maybe_deferred(move || pending);
///
/// assert_eq!(deferreds::testing::success_result_of(hit), 7);
/// assert!(deferreds::testing::failure_result_of(miss).check::<std::num::ParseIntError>());
/// assert!(deferreds::testing::failure_result_of(panicked).check::<deferreds::PanicError>());
/// fire.callback(8).unwrap();
/// assert_eq!(deferreds::testing::success_result_of(later), 8);
/// ```
#[track_caller]
pub fn maybe_deferred<R: IntoStep>(f: impl FnOnce() -> R) -> Deferred<R::Output> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(returned) => match returned.into_step() {
            Step::Value(value) => succeed(value),
            Step::Fail(failure) => fail(failure),
            Step::Wait(d) => d,
        },
        Err(payload) => fail(Failure::from_panic(payload)),
    }
}

/// Calls `f` now and returns its result as a Deferred that has already fired (Twisted's
/// `execute`).
///
/// Unlike [`maybe_deferred`], nothing is waited on: the value is whatever `f` returned in `Ok`,
/// so a function returning `Ok(some_deferred)` gives a `Deferred<Deferred<U>>`, exactly as
/// Twisted's `execute` does not unwrap a returned Deferred. `Err` and panics become the
/// Deferred's failure.
///
/// ```
/// use deferreds::{Deferred, Failure, execute};
///
/// let d = execute(|| Ok::<_, Failure>(6 * 7));
/// assert_eq!(deferreds::testing::success_result_of(d), 42);
///
/// // A returned Deferred is the value itself, not something to wait for.
/// let (inner, fire_inner) = Deferred::<u8>::new();
/// let outer: Deferred<Deferred<u8>> = execute(move || Ok(inner));
/// let inner = deferreds::testing::success_result_of(outer);
/// fire_inner.callback(1).unwrap();
/// assert_eq!(deferreds::testing::success_result_of(inner), 1);
/// ```
#[track_caller]
pub fn execute<T: Send + 'static>(f: impl FnOnce() -> Result<T, Failure>) -> Deferred<T> {
    // A `Result` is a step that waits on nothing: its `Ok` is the value, whatever its type.
    maybe_deferred(f)
}
