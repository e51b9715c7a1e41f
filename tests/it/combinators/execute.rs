//! `maybe_deferred` and `execute`: a function's outcome, whatever it is, as a Deferred.
//!
//! The `test_*` functions port the maybeDeferred cases of Twisted's `DeferredTests`
//! (twisted/test/test_defer.py, Twisted 26.10); each names the original. In the coroutine cases,
//! Twisted's `maybeDeferred` notices a coroutine and wraps it with `Deferred.fromCoroutine`;
//! here a future is not something a step returns, so the function wraps it itself with
//! `ensure_deferred`, and `maybe_deferred` passes the resulting Deferred through.

use deferreds::testing::{assert_no_result, failure_result_of, success_result_of};
use deferreds::{
    Deferred, Failure, PanicError, Step, ensure_deferred, execute, fail, maybe_deferred, succeed,
};

#[derive(Debug, thiserror::Error)]
#[error("that value is unacceptable")]
struct ValueError;

/// Ported from `DeferredTests.test_maybeDeferredSync`.
#[test]
fn test_maybe_deferred_sync() {
    let d = maybe_deferred(|| Ok::<_, Failure>("result"));
    assert_eq!(success_result_of(d), "result");
}

/// Ported from `DeferredTests.test_maybeDeferredSyncWithArgs`: arguments are captured.
#[test]
fn test_maybe_deferred_sync_with_args() {
    let plus_five = |x: i32| Ok::<_, Failure>(x + 5);
    let x = 10;
    let d = maybe_deferred(move || plus_five(x));
    assert_eq!(success_result_of(d), 15);
}

/// Ported from `DeferredTests.test_maybeDeferredSyncException`: a raised exception is an
/// `Err` (or a `?`) here.
#[test]
fn test_maybe_deferred_sync_exception() {
    let d = maybe_deferred(|| -> Result<u8, Failure> { Err(ValueError)? });
    let failure = failure_result_of(d);
    assert!(failure.check::<ValueError>());
    assert_eq!(failure.error_message(), "that value is unacceptable");
}

/// Ported from `DeferredTests.test_maybeDeferredSyncFailure`: the very failure returned.
#[test]
fn test_maybe_deferred_sync_failure() {
    let expected = Failure::new(ValueError);
    let e = expected.clone();
    let d = maybe_deferred(move || Err::<u8, _>(e));
    assert!(failure_result_of(d).ptr_eq(&expected));
}

/// Ported from `DeferredTests.test_maybeDeferredAsync`.
#[test]
fn test_maybe_deferred_async() {
    let (d1, r1) = Deferred::<&str>::new();
    let d2 = maybe_deferred(move || d1);
    r1.callback("Success").unwrap();
    assert_eq!(success_result_of(d2), "Success");
}

/// Ported from `DeferredTests.test_maybeDeferredAsyncError`.
#[test]
fn test_maybe_deferred_async_error() {
    let (d1, r1) = Deferred::<()>::new();
    let d2 = maybe_deferred(move || d1);
    r1.errback(Failure::new(ValueError)).unwrap();
    assert!(failure_result_of(d2).check::<ValueError>());
}

/// Ported from `DeferredTests.test_maybeDeferredCoroutineSuccess`: the Deferred has the
/// coroutine's result. (The coroutine is wrapped explicitly; see the module comment.)
#[test]
fn test_maybe_deferred_coroutine_success() {
    async fn f() -> Result<i32, Failure> {
        Ok(7)
    }
    let coroutine_deferred: Deferred<i32> = maybe_deferred(|| ensure_deferred(f()));
    assert_eq!(success_result_of(coroutine_deferred), 7);
}

/// Ported from `DeferredTests.test_maybeDeferredCoroutineSuccessIndirect`: the function itself
/// need not be async; `g` returns the coroutine `f()` started, and a typed callback follows.
#[test]
fn test_maybe_deferred_coroutine_success_indirect() {
    async fn f() -> Result<i32, Failure> {
        Ok(7)
    }
    fn g() -> Deferred<i32> {
        ensure_deferred(f())
    }
    let typed_callback = |result: i32| result + 1;
    let coroutine_deferred = maybe_deferred(g);
    let modified_deferred = coroutine_deferred.map(typed_callback);
    assert_eq!(success_result_of(modified_deferred), 8);
}

/// Ported from `DeferredTests.test_maybeDeferredCoroutineFailure`: the Deferred fails with the
/// coroutine's error.
#[test]
fn test_maybe_deferred_coroutine_failure() {
    #[derive(Debug, thiserror::Error)]
    #[error("some exception")]
    struct SomeException;

    async fn f() -> Result<(), Failure> {
        Err(SomeException)?
    }
    fn g() -> Deferred<()> {
        ensure_deferred(f())
    }
    assert!(failure_result_of(maybe_deferred(g)).check::<SomeException>());
}

#[test]
fn a_returned_deferred_is_passed_through_not_wrapped() {
    let (d1, r1) = Deferred::<u8>::new();
    let d2 = maybe_deferred(move || d1);
    // A wrapper would be a chain waiting on `d1`; this is `d1` itself.
    assert!(!d2.is_waiting());
    assert_no_result(&d2);
    r1.callback(3).unwrap();
    assert_eq!(success_result_of(d2), 3);
}

#[test]
fn a_panic_becomes_a_panic_error_failure() {
    let d = maybe_deferred(|| -> Deferred<u8> { panic!("bug {}", 42) });
    let failure = failure_result_of(d);
    assert!(failure.check::<PanicError>());
    assert_eq!(failure.error_message(), "bug 42");
}

#[test]
fn unit_and_step_returns_work_too() {
    success_result_of(maybe_deferred(|| ()));
    let d = maybe_deferred(|| Step::Wait(succeed(5u8)));
    assert_eq!(success_result_of(d), 5);
    let d = maybe_deferred(|| Step::<u8>::Fail(Failure::msg("step failed")));
    assert_eq!(failure_result_of(d).error_message(), "step failed");
}

#[test]
fn maybe_deferred_calls_the_function_at_once() {
    let mut called = false;
    let d = maybe_deferred(|| {
        called = true;
        Ok::<_, Failure>(())
    });
    assert!(called, "synchronously, and the closure may borrow");
    success_result_of(d);
}

#[test]
fn execute_wraps_values_failures_and_panics() {
    assert_eq!(success_result_of(execute(|| Ok::<_, Failure>(2 + 2))), 4);
    let failure = failure_result_of(execute(|| Err::<u8, _>(Failure::new(ValueError))));
    assert!(failure.check::<ValueError>());
    let failure = failure_result_of(execute(|| -> Result<u8, Failure> { panic!("oops") }));
    assert!(failure.check::<PanicError>());
}

#[test]
fn execute_does_not_wait_on_a_returned_deferred() {
    // Twisted's `execute` does not unwrap a returned Deferred: it is the value.
    let (inner, fire_inner) = Deferred::<u8>::new();
    let outer: Deferred<Deferred<u8>> = execute(move || Ok(inner));
    let inner = success_result_of(outer); // fired at once, although `inner` has not
    assert_no_result(&inner);
    fire_inner.callback(9).unwrap();
    assert_eq!(success_result_of(inner), 9);

    let failed: Deferred<Deferred<u8>> = execute(|| Ok(fail(Failure::msg("inner failure"))));
    let inner = success_result_of(failed);
    assert_eq!(failure_result_of(inner).error_message(), "inner failure");
}

#[test]
fn failures_record_the_caller_as_where_they_were_made() {
    let d = maybe_deferred(|| -> Result<u8, Failure> { panic!("here") });
    let failure = failure_result_of(d);
    assert_eq!(failure.location().file(), file!());
}
