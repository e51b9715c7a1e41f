//! Ported from Twisted's `src/twisted/test/test_defer.py` (Twisted 26.10.0): the test case
//! `DeferredAddTimeoutTests`, all 18 tests. Each is named after the original in snake case,
//! with the original name in its doc comment.
//!
//! Twisted's Deferreds there hold `None` or a string and `_overrideFunc` turns them into the
//! string `"OVERRIDDEN"`; here they are all `Deferred<&str>`, with `""` for `None`, since
//! `add_timeout_with` keeps the Deferred's type. Twisted checks that an inner Deferred has no
//! result; here the inner Deferred is held by the outer chain, so the tests check that the
//! outer chain still waits and that the inner one's canceller never ran.

use deferreds::reactor::{Clock, TimeoutError};
use deferreds::testing::{Recorder, assert_no_result, failure_result_of, success_result_of};
use deferreds::{CancelledError, Deferred, Failure, Resolver};

/// Twisted's `_overrideFunc`: whatever the result, `"OVERRIDDEN"`.
fn override_func(
    _result: Result<&'static str, Failure>,
    _timeout: f64,
) -> Result<&'static str, Failure> {
    Ok("OVERRIDDEN")
}

/// Twisted's `ValueError`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ValueError(&'static str);

/// An inner Deferred whose canceller records that it ran.
fn inner_deferred(log: &Recorder) -> Deferred<&'static str> {
    let log = log.clone();
    Deferred::with_canceller(move |_: &Resolver<&'static str>| log.record("inner cancelled")).0
}

/// The end of the tests where the Deferred fires before its timeout and a step then returns
/// `inner_deferred`: the step ran at once, recording `step_record`, and the timeout never
/// happens: the chain still waits on the inner Deferred, whose canceller never runs.
#[track_caller]
fn assert_step_ran_and_timeout_never_happens(
    clock: &Clock,
    d: &Deferred<&'static str>,
    log: &Recorder,
    step_record: &str,
) {
    assert_eq!(log.take(), [step_record]);
    // If the timeout happened, it would cancel the inner Deferred.
    clock.advance(15.0);
    assert_no_result(d);
    assert!(log.take().is_empty());
}

/// `test_timeoutChainable`: `add_timeout` returns a Deferred that steps can be added to.
#[test]
fn test_timeout_chainable() {
    let (d, r) = Deferred::<&str>::new();
    let d = d.add_timeout(5.0, &Clock::new()).map(|_| "done");
    r.callback("").unwrap();
    assert_eq!(success_result_of(d), "done");
}

/// `test_successResultBeforeTimeout`: the Deferred fires with its result if it succeeds
/// before the timeout, and nothing is cancelled afterwards, which could cancel an inner
/// Deferred.
#[test]
fn test_success_result_before_timeout() {
    let clock = Clock::new();
    let (d, r) = Deferred::<&str>::new();
    let d = d.add_timeout(10.0, &clock);
    let log = Recorder::new();
    let (inner, l) = (inner_deferred(&log), log.clone());
    let d = d.add_callback(move |results| {
        l.record(format!("callbacked {results}"));
        inner
    });
    r.callback("results").unwrap();
    // Called back at once, before the inner Deferred is returned.
    assert_step_ran_and_timeout_never_happens(&clock, &d, &log, "callbacked results");
}

/// `test_successResultBeforeTimeoutCustom`: the same with a custom `onTimeoutCancel`.
#[test]
fn test_success_result_before_timeout_custom() {
    let clock = Clock::new();
    let (d, r) = Deferred::<&str>::new();
    let d = d.add_timeout_with(10.0, &clock, override_func);
    let log = Recorder::new();
    let (inner, l) = (inner_deferred(&log), log.clone());
    let d = d.add_callback(move |results| {
        l.record(format!("callbacked {results}"));
        inner
    });
    r.callback("results").unwrap();
    assert_step_ran_and_timeout_never_happens(&clock, &d, &log, "callbacked results");
}

/// `test_failureBeforeTimeout`: the Deferred fails with its failure if it fails before the
/// timeout, and nothing is cancelled afterwards.
#[test]
fn test_failure_before_timeout() {
    let clock = Clock::new();
    let (d, r) = Deferred::<&str>::new();
    let d = d.add_timeout(10.0, &clock);
    let log = Recorder::new();
    let error = Failure::new(ValueError("fail"));
    let (inner, l, e) = (inner_deferred(&log), log.clone(), error.clone());
    let d = d.add_errback(move |f| {
        l.record(format!("errbacked, same failure: {}", f.ptr_eq(&e)));
        inner
    });
    r.errback(error).unwrap();
    assert_step_ran_and_timeout_never_happens(&clock, &d, &log, "errbacked, same failure: true");
}

/// `test_failureBeforeTimeoutCustom`: the same with a custom `onTimeoutCancel`.
#[test]
fn test_failure_before_timeout_custom() {
    let clock = Clock::new();
    let (d, r) = Deferred::<&str>::new();
    let d = d.add_timeout_with(10.0, &clock, override_func);
    let log = Recorder::new();
    let error = Failure::new(ValueError("fail"));
    let (inner, l, e) = (inner_deferred(&log), log.clone(), error.clone());
    let d = d.add_errback(move |f| {
        l.record(format!("errbacked, same failure: {}", f.ptr_eq(&e)));
        inner
    });
    r.errback(error).unwrap();
    assert_step_ran_and_timeout_never_happens(&clock, &d, &log, "errbacked, same failure: true");
}

/// `test_timedOut`: by default the Deferred fails with a `TimeoutError` if it times out.
#[test]
fn test_timed_out() {
    let clock = Clock::new();
    let (d, _r) = Deferred::<&str>::new();
    let d = d.add_timeout(10.0, &clock);
    assert_no_result(&d);
    clock.advance(15.0);
    let failure = failure_result_of(d);
    assert_eq!(failure.downcast_ref::<TimeoutError>().map(TimeoutError::timeout), Some(10.0));
}

/// `test_timedOutCustom`: with a custom `onTimeoutCancel`, its result is the Deferred's if it
/// times out; it may be a value rather than a failure.
#[test]
fn test_timed_out_custom() {
    let clock = Clock::new();
    let (d, _r) = Deferred::<&str>::new();
    let d = d.add_timeout_with(10.0, &clock, override_func);
    assert_no_result(&d);
    clock.advance(15.0);
    assert_eq!(success_result_of(d), "OVERRIDDEN");
}

/// `test_timedOutProvidedCancelSuccess`: a canceller that fires the Deferred with a value
/// gives that value when the Deferred times out.
#[test]
fn test_timed_out_provided_cancel_success() {
    let clock = Clock::new();
    let (d, _r) =
        Deferred::with_canceller(|c: &Resolver<&str>| c.callback("I was cancelled!").unwrap());
    let d = d.add_timeout(10.0, &clock);
    assert_no_result(&d);
    clock.advance(15.0);
    assert_eq!(success_result_of(d), "I was cancelled!");
}

/// `test_timedOutProvidedCancelFailure`: a canceller that fails the Deferred with something
/// other than `CancelledError` gives that failure when it times out.
#[test]
fn test_timed_out_provided_cancel_failure() {
    let clock = Clock::new();
    let error = Failure::new(ValueError("what!"));
    let e = error.clone();
    let (d, _r) = Deferred::with_canceller(move |c: &Resolver<&str>| c.errback(e).unwrap());
    let d = d.add_timeout(10.0, &clock);
    assert_no_result(&d);
    clock.advance(15.0);
    let f = failure_result_of(d);
    assert!(f.check::<ValueError>());
    assert!(f.ptr_eq(&error));
}

/// `test_cancelBeforeTimeout`: a Deferred cancelled by hand before the timeout is not
/// cancelled again, and the default `onTimeoutCancel` is not called: the `CancelledError`
/// stays.
#[test]
fn test_cancel_before_timeout() {
    let clock = Clock::new();
    let (d, _r) = Deferred::<&str>::new();
    let d = d.add_timeout(10.0, &clock);
    let log = Recorder::new();
    let (inner, l) = (inner_deferred(&log), log.clone());
    let d = d.add_errback(move |f| {
        l.record(format!("errbacked, cancelled: {}", f.check::<CancelledError>()));
        inner
    });
    d.cancel();
    assert_step_ran_and_timeout_never_happens(&clock, &d, &log, "errbacked, cancelled: true");
}

/// `test_cancelBeforeTimeoutCustom`: the same with a custom `onTimeoutCancel`, which is not
/// called.
#[test]
fn test_cancel_before_timeout_custom() {
    let clock = Clock::new();
    let (d, _r) = Deferred::<&str>::new();
    let d = d.add_timeout_with(10.0, &clock, override_func);
    let log = Recorder::new();
    let (inner, l) = (inner_deferred(&log), log.clone());
    let d = d.add_errback(move |f| {
        l.record(format!("errbacked, cancelled: {}", f.check::<CancelledError>()));
        inner
    });
    d.cancel();
    assert_step_ran_and_timeout_never_happens(&clock, &d, &log, "errbacked, cancelled: true");
}

/// `test_providedCancelCalledBeforeTimeoutCustom`: a custom conversion handles a Deferred
/// with a canceller of its own.
#[test]
fn test_provided_cancel_called_before_timeout_custom() {
    let clock = Clock::new();
    let (d, _r) = Deferred::with_canceller(|c: &Resolver<&str>| {
        c.errback(Failure::new(ValueError("what!"))).unwrap()
    });
    let d = d.add_timeout_with(10.0, &clock, override_func);
    assert_no_result(&d);
    clock.advance(15.0);
    assert_eq!(success_result_of(d), "OVERRIDDEN");
}

/// `test_errbackAddedBeforeTimeout`: an errback added before the timeout sees the
/// `CancelledError`; if it passes it on, the timeout turns it into a `TimeoutError`.
#[test]
fn test_errback_added_before_timeout() {
    let clock = Clock::new();
    let (d, _r) = Deferred::<&str>::new();
    let log = Recorder::new();
    let l = log.clone();
    let d = d.add_errback(move |f| {
        l.record(format!("errbacked, cancelled: {}", f.check::<CancelledError>()));
        Err(f)
    });
    let d = d.add_timeout(10.0, &clock);
    clock.advance(15.0);
    assert_eq!(log.take(), ["errbacked, cancelled: true"]);
    assert!(failure_result_of(d).check::<TimeoutError>());
}

/// `test_errbackAddedBeforeTimeoutSuppressesCancellation`: if that errback handles the
/// `CancelledError`, the Deferred succeeds.
#[test]
fn test_errback_added_before_timeout_suppresses_cancellation() {
    let clock = Clock::new();
    let (d, _r) = Deferred::<&str>::new();
    let log = Recorder::new();
    let l = log.clone();
    let d = d.add_errback(move |f| {
        l.record(format!("errbacked, cancelled: {}", f.check::<CancelledError>()));
        f.trap::<CancelledError>()?;
        Ok("")
    });
    let d = d.add_timeout(10.0, &clock);
    clock.advance(15.0);
    assert_eq!(log.take(), ["errbacked, cancelled: true"]);
    assert_eq!(success_result_of(d), "");
}

/// `test_errbackAddedBeforeTimeoutCustom`: with a custom conversion, it runs on what that
/// errback passed on.
#[test]
fn test_errback_added_before_timeout_custom() {
    let clock = Clock::new();
    let (d, _r) = Deferred::<&str>::new();
    let log = Recorder::new();
    let l = log.clone();
    let d = d.add_errback(move |f| {
        l.record(format!("errbacked, cancelled: {}", f.check::<CancelledError>()));
        Err(f)
    });
    let d = d.add_timeout_with(10.0, &clock, override_func);
    clock.advance(15.0);
    assert_eq!(log.take(), ["errbacked, cancelled: true"]);
    assert_eq!(success_result_of(d), "OVERRIDDEN");
}

/// `test_errbackAddedBeforeTimeoutSuppressesCancellationCustom`: with a custom conversion,
/// it runs even when that errback handled the `CancelledError`.
#[test]
fn test_errback_added_before_timeout_suppresses_cancellation_custom() {
    let clock = Clock::new();
    let (d, _r) = Deferred::<&str>::new();
    let log = Recorder::new();
    let l = log.clone();
    let d = d.add_errback(move |f| {
        l.record(format!("errbacked, cancelled: {}", f.check::<CancelledError>()));
        Ok("")
    });
    let d = d.add_timeout_with(10.0, &clock, override_func);
    clock.advance(15.0);
    assert_eq!(log.take(), ["errbacked, cancelled: true"]);
    assert_eq!(success_result_of(d), "OVERRIDDEN");
}

/// `test_callbackAddedToCancelerBeforeTimeout`: when the canceller resumes the chain with a
/// value, a callback added before the timeout runs when it fires, and the Deferred succeeds
/// without a `TimeoutError`.
#[test]
fn test_callback_added_to_canceler_before_timeout() {
    let clock = Clock::new();
    let success = "success";
    let (d, _r) = Deferred::with_canceller(move |d: &Resolver<&str>| d.callback(success).unwrap());
    let log = Recorder::new();
    let l = log.clone();
    let d = d.add_callback(move |value| {
        l.record(format!("callbacked {value}"));
        Ok(value)
    });
    let d = d.add_timeout(10.0, &clock);
    clock.advance(15.0);
    assert_eq!(log.take(), ["callbacked success"]);
    assert_eq!(success_result_of(d), success);
}

/// `test_callbackAddedToCancelerBeforeTimeoutCustom`: the same with a custom conversion,
/// which also runs.
#[test]
fn test_callback_added_to_canceler_before_timeout_custom() {
    let clock = Clock::new();
    let success = "success";
    let (d, _r) = Deferred::with_canceller(move |d: &Resolver<&str>| d.callback(success).unwrap());
    let log = Recorder::new();
    let l = log.clone();
    let d = d.add_callback(move |value| {
        l.record(format!("callbacked {value}"));
        Ok(value)
    });
    let d = d.add_timeout_with(10.0, &clock, override_func);
    clock.advance(15.0);
    assert_eq!(log.take(), ["callbacked success"]);
    assert_eq!(success_result_of(d), "OVERRIDDEN");
}
