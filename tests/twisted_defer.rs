//! Tests ported from Twisted's `DeferredTests`.
//!
//! Source: `src/twisted/test/test_defer.py`, class `DeferredTests`, Twisted 26.10.0
//! (<https://github.com/twisted/twisted/blob/twisted-26.10.0/src/twisted/test/test_defer.py>).
//! Copyright (c) 2001-2026 Twisted Matrix Laboratories and the Twisted contributors, under the
//! MIT licence (<https://github.com/twisted/twisted/blob/trunk/LICENSE>). Translated to Rust by
//! hand; the structure and the assertions follow the original.
//!
//! Each test is named after the original in snake_case, and its doc comment gives the original
//! name and docstring. Where Rust's types rule out a line of the original, the comment says how
//! the test was adapted; the usual reason is the unique tail: once a step has returned a
//! Deferred, the chain waiting on it owns that Deferred's tail, so nothing more can be added to
//! it. The class's DeferredList, gatherResults and maybeDeferred tests are ported beside the
//! other tests of those functions (`tests/it/combinators/list.rs`, `gather.rs`, `execute.rs`);
//! `docs/conformance.md` lists every test of the class: where it is ported, or why it is not
//! applicable.

use std::sync::Arc;

use parking_lot::Mutex;

use deferreds::testing::{
    DropCounter, DropToken, Recorder, assert_no_result, capture_unhandled, failure_result_of,
    success_result_of,
};
use deferreds::{Deferred, Failure, Resolver, Step, ensure_deferred, fail, succeed};

/// `GenericError` in test_defer.py.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct GenericError(&'static str);

/// Python's `ZeroDivisionError`, which several originals provoke with `1 // 0`.
#[derive(Debug, thiserror::Error)]
#[error("integer division or modulo by zero")]
struct ZeroDivisionError;

/// Python's `RuntimeError`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct RuntimeError(&'static str);

fn divide(a: i32, b: i32) -> Result<i32, Failure> {
    Ok(a.checked_div(b).ok_or(ZeroDivisionError)?)
}

/// A tail parked where a running step can reach it: how Rust code writes Twisted's "a callback
/// adds to its own Deferred", since the tail is unique.
type Slot<T> = Arc<Mutex<Option<Deferred<T>>>>;

/// Twisted's `assertImmediateFailure`: the Deferred's current result is a failure of type `E`.
#[track_caller]
fn assert_immediate_failure<T: Send + 'static, E: std::error::Error + 'static>(
    d: Deferred<T>,
) -> Failure {
    let failure = failure_result_of(d);
    assert!(failure.check::<E>(), "expected {}, got {failure}", std::any::type_name::<E>());
    failure
}

/// `testCallbackWithoutArgs`
#[test]
fn callback_without_args() {
    let log = Recorder::new();
    let (d, r) = Deferred::<&str>::new();
    let l = log.clone();
    let d = d.add_callback(move |result| {
        l.record(format!("callback({result})"));
        Ok(result)
    });
    r.callback("hello").unwrap();
    assert_eq!(log.take(), ["callback(hello)"]);
    assert_eq!(success_result_of(d), "hello");
}

/// `testCallbackWithArgs`. Extra positional arguments are captured variables in Rust.
#[test]
fn callback_with_args() {
    let log = Recorder::new();
    let (d, r) = Deferred::<&str>::new();
    let (l, world) = (log.clone(), "world");
    let d = d.map(move |result| l.record(format!("callback({result}, {world})")));
    r.callback("hello").unwrap();
    assert_eq!(log.take(), ["callback(hello, world)"]);
    success_result_of(d);
}

/// `testCallbackWithKwArgs`. Keyword arguments are captured variables in Rust.
#[test]
fn callback_with_kw_args() {
    let log = Recorder::new();
    let (d, r) = Deferred::<&str>::new();
    let (l, world) = (log.clone(), "world");
    let d = d.map(move |result| l.record(format!("callback({result}, world={world})")));
    r.callback("hello").unwrap();
    assert_eq!(log.take(), ["callback(hello, world=world)"]);
    success_result_of(d);
}

/// `testTwoCallbacks`
#[test]
fn two_callbacks() {
    let log = Recorder::new();
    let (d, r) = Deferred::<&str>::new();
    let (l1, l2) = (log.clone(), log.clone());
    let d = d
        .map(move |result| {
            l1.record(format!("callback({result})"));
            result
        })
        .map(move |result| l2.record(format!("callback2({result})")));
    r.callback("hello").unwrap();
    assert_eq!(log.take(), ["callback(hello)", "callback2(hello)"]);
    success_result_of(d);
}

/// `test_addCallbacksNoneErrback`: "If given None for an errback, addCallbacks uses a
/// pass-through." `add_callback` is that pass-through form here.
#[test]
fn add_callbacks_none_errback() {
    let log = Recorder::new();
    let (d, r) = Deferred::<()>::new();
    let l = log.clone();
    let d = d.map(move |()| l.record("callback"));
    r.errback(Failure::new(GenericError("oopsie"))).unwrap();
    let l = log.clone();
    let d = d.add_errback(move |failure| {
        l.record(format!("errback({})", failure.error_message()));
        assert!(failure.check::<GenericError>());
        Ok(())
    });
    assert_eq!(log.take(), ["errback(oopsie)"]);
    success_result_of(d);
}

/// `testImmediateSuccess`
#[test]
fn immediate_success() {
    let log = Recorder::new();
    let l = log.clone();
    let d = succeed("success").map(move |s| l.record(s));
    assert_eq!(log.take(), ["success"]);
    success_result_of(d);
}

/// `test_succeedMatchesManualSuccess`: "`defer.succeed(x)` is the same as
/// `d = Deferred(); d.callback(x)`." (The original compares the objects' `__dict__`; here the
/// observable state: fired, not paused nor waiting, the same `Debug` output and result.)
#[test]
fn succeed_matches_manual_success() {
    let (d, r) = Deferred::<u32>::new();
    r.callback(7).unwrap();
    drop(r);
    let d2 = succeed(7u32);
    assert_eq!(format!("{d:?}"), format!("{d2:?}"));
    assert_eq!(
        (d.called(), d.is_paused(), d.is_waiting()),
        (d2.called(), d2.is_paused(), d2.is_waiting())
    );
    assert_eq!(success_result_of(d), success_result_of(d2));
}

/// `testImmediateFailure`
#[test]
fn immediate_failure() {
    let log = Recorder::new();
    let l = log.clone();
    let d = fail::<()>(Failure::new(GenericError("fail"))).add_errback(move |f| {
        l.record(f.error_message());
        Ok(())
    });
    assert_eq!(log.take(), ["fail"]);
    success_result_of(d);
}

/// `testPausedFailure`
#[test]
fn paused_failure() {
    let log = Recorder::new();
    let mut d = fail::<()>(Failure::new(GenericError("fail")));
    d.pause();
    let l = log.clone();
    let mut d = d.add_errback(move |f| {
        l.record(f.error_message());
        Ok(())
    });
    assert!(log.events().is_empty());
    d.unpause().unwrap();
    assert_eq!(log.take(), ["fail"]);
    success_result_of(d);
}

/// `testCallbackErrors`: a callback that raises, and one that returns a failure, both reach the
/// errback.
#[test]
fn callback_errors() {
    let (d, r) = Deferred::<i32>::new();
    let d = d.add_callback(|_| divide(1, 0)).add_errback(|f| {
        assert!(f.check::<ZeroDivisionError>());
        Ok(0)
    });
    r.callback(1).unwrap();
    success_result_of(d);

    let (d2, r2) = Deferred::<i32>::new();
    let d2 =
        d2.add_callback(|_| Step::<i32>::Fail(Failure::new(ZeroDivisionError))).add_errback(|f| {
            assert!(f.check::<ZeroDivisionError>());
            Ok(0)
        });
    r2.callback(1).unwrap();
    success_result_of(d2);
}

/// `testUnpauseBeforeCallback`
#[test]
fn unpause_before_callback() {
    let log = Recorder::new();
    let (mut d, _r) = Deferred::<()>::new();
    d.pause();
    let l = log.clone();
    let mut d = d.map(move |()| l.record("callback"));
    d.unpause().unwrap();
    assert!(log.events().is_empty(), "not fired: nothing runs");
    assert_no_result(&d);
}

/// `test_callbackReturnsDeferred`: "Callbacks passed to `Deferred.addCallback` can return
/// Deferreds and the next callback will not be run until that Deferred fires."
#[test]
fn callback_returns_deferred() {
    let log = Recorder::new();
    let (d1, r1) = Deferred::<i32>::new();
    let (mut d2, r2) = Deferred::<i32>::new();
    d2.pause();
    let l = log.clone();
    let d1 = d1.add_callback(move |_| d2).map(move |n| l.record(format!("callback({n})")));
    r1.callback(1).unwrap();
    assert!(log.events().is_empty(), "Should not have been called yet.");
    r2.callback(2).unwrap();
    assert!(log.events().is_empty(), "Still should not have been called yet.");
    r2.unpause().unwrap();
    assert_eq!(log.take(), ["callback(2)"], "Result should have been from second deferred");
    success_result_of(d1);
}

/// `test_callbackMaybeReturnsFailure`: "Callbacks passed to addCallback may return Failures."
#[test]
fn callback_maybe_returns_failure() {
    fn maybe_fail(
        should_fail: bool,
        rte: &Failure,
    ) -> impl FnOnce(i32) -> Step<i32> + Send + use<> {
        let rte = rte.clone();
        move |result| if should_fail { Step::Fail(rte) } else { Step::Value(result + 1) }
    }
    let rte = Failure::new(RuntimeError("rte"));

    let (d, r) = Deferred::<i32>::new();
    r.callback(6).unwrap();
    assert_eq!(success_result_of(d.add_callback(maybe_fail(false, &rte))), 7);

    let (d, r) = Deferred::<i32>::new();
    r.callback(6).unwrap();
    let d = d.add_callback(maybe_fail(true, &rte)).add_callback(maybe_fail(true, &rte));
    let failure = failure_result_of(d);
    assert!(failure.check::<RuntimeError>());
    assert!(failure.ptr_eq(&rte), "the very failure the callback returned");
}

/// `test_errbackReturnsDeferred`: "Errbacks passed to `Deferred.addErrback` can return
/// Deferreds just as callbacks can."
#[test]
fn errback_returns_deferred() {
    let log = Recorder::new();
    let (d, r) = Deferred::<&str>::new();
    let (d2, r2) = Deferred::<&str>::new();
    let l = log.clone();
    let d = d.add_errback(move |_| d2).map(move |result| l.record(result));
    r.errback(Failure::msg("ValueError")).unwrap();
    assert_no_result(&d);
    assert!(log.events().is_empty());
    r2.callback("result").unwrap();
    assert_eq!(log.take(), ["result"]);
    success_result_of(d);
}

/// `test_chainedPausedDeferredWithResult`: "When a paused Deferred with a result is returned
/// from a callback on another Deferred, the other Deferred is chained to the first and waits
/// for it to be unpaused." (The original unpauses through the returned Deferred; its tail now
/// belongs to the chain, so this unpauses through its resolver.)
#[test]
fn chained_paused_deferred_with_result() {
    let expected = Arc::new(());
    let (paused, fire_paused) = Deferred::<Arc<()>>::new();
    fire_paused.callback(expected.clone()).unwrap();
    let mut paused = paused;
    paused.pause();
    let (chained, fire_chained) = Deferred::<()>::new();
    let chained = chained.add_callback(move |()| paused);
    fire_chained.callback(()).unwrap();

    let result: Arc<Mutex<Vec<Arc<()>>>> = Arc::default();
    let res = result.clone();
    let chained = chained.map(move |value| res.lock().push(value));
    assert!(result.lock().is_empty());
    fire_paused.unpause().unwrap();
    assert_eq!(result.lock().len(), 1);
    assert!(Arc::ptr_eq(&result.lock()[0], &expected));
    success_result_of(chained);
}

/// `test_pausedDeferredChained`: "A paused Deferred encountered while pushing a result forward
/// through a chain does not prevent earlier Deferreds from continuing to execute their
/// callbacks." (The original adds a callback to `second` after `first` consumed it and sees
/// `None`; the unique tail forbids that, so the callback is added before `second` is returned,
/// and runs even though `first`, waiting on it, is paused.)
#[test]
fn paused_deferred_chained() {
    let log = Recorder::new();
    let (first, fire_first) = Deferred::<()>::new();
    let (second, fire_second) = Deferred::<()>::new();
    let l = log.clone();
    let second = second.map(move |()| l.record("second's callback"));
    let mut first = first.add_callback(move |()| second);
    fire_first.callback(()).unwrap();
    first.pause();
    fire_second.callback(()).unwrap();
    assert_eq!(log.take(), ["second's callback"]);
    assert_no_result(&first);
    first.unpause().unwrap();
    success_result_of(first);
}

/// The callback `cb` of `test_innerCallbacksPreserved` and
/// `test_nestedAsynchronousChainedDeferreds`: it returns a Deferred `d` that has fired but
/// whose first callback returns `inner`, a Deferred that definitely has not fired yet; `d`'s
/// second callback doubles `inner`'s result. Callbacks are recorded in `results`, failures
/// in `failures`.
fn cb_returning_a_deferred_waiting_on(
    inner: Deferred<String>,
    results: &Recorder,
    failures: &Recorder,
) -> impl FnOnce(&'static str) -> Deferred<String> + Send + 'static {
    let (r, f) = (results.clone(), failures.clone());
    move |result: &str| {
        r.record(format!("start-of-cb {result}"));
        let d = succeed("inner".to_owned());
        let (r1, r2) = (r.clone(), r.clone());
        d.add_callback(move |_| {
            r1.record("firstCallback inner");
            inner
        })
        .map(move |result| {
            r2.record(format!("secondCallback {result}"));
            result.repeat(2)
        })
        .add_errback(move |failure| {
            f.record(failure.to_string());
            Err(failure)
        })
    }
}

/// `test_innerCallbacksPreserved`: "When a `Deferred` encounters a result which is another
/// `Deferred` which is waiting on a third `Deferred`, the middle `Deferred`'s callbacks are
/// executed after the third `Deferred` fires and before the first receives a result." (The
/// original also adds an errback to `inner` after it was returned: not possible here, and
/// `failures` is collected from the other two.)
#[test]
fn inner_callbacks_preserved() {
    let results = Recorder::new();
    let failures = Recorder::new();
    let (inner, fire_inner) = Deferred::<String>::new();

    let cb = cb_returning_a_deferred_waiting_on(inner, &results, &failures);
    let outer = succeed("outer").add_callback(cb);
    fire_inner.callback("orange".to_owned()).unwrap();
    let r = results.clone();
    let f = failures.clone();
    let outer = outer.map(move |result| r.record(result)).add_errback(move |failure| {
        f.record(failure.to_string());
        Ok(())
    });
    assert!(failures.events().is_empty());
    assert_eq!(
        results.take(),
        ["start-of-cb outer", "firstCallback inner", "secondCallback orange", "orangeorange"]
    );
    success_result_of(outer);
}

/// `test_reentrantRunCallbacks`: "A callback added to a `Deferred` by a callback on that
/// `Deferred` should be added to the end of the callback chain."
#[test]
fn reentrant_run_callbacks() {
    let called = Recorder::new();
    let slot: Slot<()> = Arc::default();
    let (d, r) = Deferred::<()>::new();
    let (c1, c2, s) = (called.clone(), called.clone(), slot.clone());
    let d = d
        .map(move |()| {
            c1.record("1");
            let tail = s.lock().take().expect("parked");
            let c3 = c1.clone();
            *s.lock() = Some(tail.map(move |()| c3.record("3")));
        })
        .map(move |()| c2.record("2"));
    *slot.lock() = Some(d);
    r.callback(()).unwrap();
    assert_eq!(called.take(), ["1", "2", "3"]);
    success_result_of(slot.lock().take().unwrap());
}

/// `test_nonReentrantCallbacks`: "A callback added to a `Deferred` by a callback on that
/// `Deferred` should not be executed until the running callback returns."
#[test]
fn non_reentrant_callbacks() {
    let called = Recorder::new();
    let slot: Slot<()> = Arc::default();
    let (d, r) = Deferred::<()>::new();
    let (c1, s) = (called.clone(), slot.clone());
    let d = d.map(move |()| {
        c1.record("1");
        let tail = s.lock().take().expect("parked");
        let c2 = c1.clone();
        *s.lock() = Some(tail.map(move |()| c2.record("2")));
        assert_eq!(c1.events(), ["1"]);
    });
    *slot.lock() = Some(d);
    r.callback(()).unwrap();
    assert_eq!(called.take(), ["1", "2"]);
    success_result_of(slot.lock().take().unwrap());
}

/// `test_reentrantRunCallbacksWithFailure`: "After an exception is raised by a callback which
/// was added to a `Deferred` by a callback on that `Deferred`, the `Deferred` should call the
/// first errback with a `Failure` wrapping that exception."
#[test]
fn reentrant_run_callbacks_with_failure() {
    let slot: Slot<()> = Arc::default();
    let (d, r) = Deferred::<()>::new();
    let s = slot.clone();
    let d = d.map(move |()| {
        let tail = s.lock().take().expect("parked");
        let tail = tail.add_callback(|()| -> Result<(), Failure> {
            Err(Failure::msg("callback raised exception"))
        });
        *s.lock() = Some(tail);
    });
    *slot.lock() = Some(d);
    r.callback(()).unwrap();
    let failure = failure_result_of(slot.lock().take().unwrap());
    assert_eq!(failure.error_message(), "callback raised exception");
}

/// `test_synchronousImplicitChain`: "If a first `Deferred` with a result is returned from a
/// callback on a second `Deferred`, the result of the second `Deferred` becomes the result of
/// the first `Deferred` and the result of the first `Deferred` becomes `None`." (The original
/// then adds a callback to `first` and sees `None`; `first`'s tail belongs to `second`'s chain
/// now, so that half cannot be written.)
#[test]
fn synchronous_implicit_chain() {
    let result = Arc::new(());
    let first = succeed(result.clone());
    let (second, fire_second) = Deferred::<()>::new();
    let second = second.add_callback(move |()| first);
    fire_second.callback(()).unwrap();
    assert!(Arc::ptr_eq(&success_result_of(second), &result));
}

/// `test_asynchronousImplicitChain`: "If a first `Deferred` without a result is returned from
/// a callback on a second `Deferred`, the result of the second `Deferred` becomes the result of
/// the first `Deferred` as soon as the first `Deferred` has one." (Adapted like
/// `synchronous_implicit_chain`: `first`'s callback is added before it is returned.)
#[test]
fn asynchronous_implicit_chain() {
    let first_result = Recorder::new();
    let (first, fire_first) = Deferred::<Arc<()>>::new();
    let (second, fire_second) = Deferred::<()>::new();
    let fr = first_result.clone();
    let first = first.map(move |value| {
        fr.record("first's callback");
        value
    });
    let second = second.add_callback(move |()| first);
    fire_second.callback(()).unwrap();
    let second_result: Arc<Mutex<Vec<Arc<()>>>> = Arc::default();
    let sr = second_result.clone();
    let second = second.map(move |value| sr.lock().push(value));
    assert!(first_result.events().is_empty());
    assert!(second_result.lock().is_empty());

    let result = Arc::new(());
    fire_first.callback(result.clone()).unwrap();
    assert_eq!(first_result.take(), ["first's callback"]);
    assert!(Arc::ptr_eq(&second_result.lock()[0], &result));
    success_result_of(second);
}

/// `test_synchronousImplicitErrorChain`: "If a first `Deferred` with a `Failure` result is
/// returned from a callback on a second `Deferred`, the first `Deferred`'s result is converted
/// to `None` and no unhandled error is logged when it is garbage collected."
#[test]
fn synchronous_implicit_error_chain() {
    let ((), reports) = capture_unhandled(|| {
        let first = fail::<()>(Failure::new(RuntimeError("First Deferred's Failure")));
        let (second, fire_second) = Deferred::<()>::new();
        let second = second.add_callback(move |()| first);
        fire_second.callback(()).unwrap();
        assert_immediate_failure::<_, RuntimeError>(second);
    });
    assert!(reports.is_empty(), "no unhandled error: {reports:?}");
}

/// `test_asynchronousImplicitErrorChain`: "If `a` has no result and is returned from a callback
/// on `b` then when `a` fails, `b`'s result becomes the `Failure` that was `a`'s result, the
/// result of `a` becomes `None` so that no unhandled error is logged when it is garbage
/// collected." (Adapted: `first`'s callback is added before it is returned.)
#[test]
fn asynchronous_implicit_error_chain() {
    let ((), reports) = capture_unhandled(|| {
        let (first, fire_first) = Deferred::<()>::new();
        let (second, fire_second) = Deferred::<()>::new();
        let first_result = Recorder::new();
        let fr = first_result.clone();
        let first = first.map(move |()| fr.record("first's callback"));
        let second = second.add_callback(move |()| first);
        fire_second.callback(()).unwrap();
        let second_error = Recorder::new();
        let se = second_error.clone();
        let second = second.add_errback(move |f| {
            assert!(f.check::<RuntimeError>());
            se.record(f.error_message());
            Ok(())
        });
        let second_result = Recorder::new();
        let sr = second_result.clone();
        let second = second.map(move |()| sr.record("second's callback"));
        assert!(first_result.events().is_empty() && second_result.events().is_empty());

        fire_first.errback(Failure::new(RuntimeError("First Deferred's Failure"))).unwrap();
        assert_eq!(second_error.take(), ["First Deferred's Failure"]);
        assert!(first_result.events().is_empty(), "first's callback skipped the failure");
        assert_eq!(second_result.take().len(), 1);
        success_result_of(second);
    });
    assert!(reports.is_empty(), "no unhandled error: {reports:?}");
}

/// `test_doubleAsynchronousImplicitChaining`: "`Deferred` chaining is transitive. In other
/// words, let A, B, and C be Deferreds. If C is returned from a callback on B and B is returned
/// from a callback on A then when C fires, A fires."
#[test]
fn double_asynchronous_implicit_chaining() {
    let (first, fire_first) = Deferred::<Arc<()>>::new();
    let (second, fire_second) = Deferred::<()>::new();
    let second = second.add_callback(move |()| first);
    let (third, fire_third) = Deferred::<()>::new();
    let third = third.add_callback(move |()| second);
    let third_result: Arc<Mutex<Vec<Arc<()>>>> = Arc::default();
    let tr = third_result.clone();
    let third = third.map(move |value| tr.lock().push(value));

    let result = Arc::new(());
    // After this, second is waiting for first to tell it to continue.
    fire_second.callback(()).unwrap();
    // And after this, third is waiting for second to tell it to continue.
    fire_third.callback(()).unwrap();
    // Still waiting.
    assert!(third_result.lock().is_empty());
    // This will tell second to continue which will tell third to continue.
    fire_first.callback(result.clone()).unwrap();
    assert!(Arc::ptr_eq(&third_result.lock()[0], &result));
    success_result_of(third);
}

/// `test_nestedAsynchronousChainedDeferreds`: "`Deferred`s can have callbacks that themselves
/// return `Deferred`s. When these "inner" `Deferred`s fire (even asynchronously), the callback
/// chain continues." (The original's `inner.addErrback(failures.append)` after `inner` was
/// returned cannot be written; failures are collected from the others.)
#[test]
fn nested_asynchronous_chained_deferreds() {
    let results = Recorder::new();
    let failures = Recorder::new();
    // A Deferred returned in the inner callback.
    let (inner, fire_inner) = Deferred::<String>::new();

    let cb = cb_returning_a_deferred_waiting_on(inner, &results, &failures);
    // A synchronous Deferred with a callback `cb` returning a Deferred `d` that has fired but
    // is now waiting on an unfired Deferred `inner`.
    let r = results.clone();
    let outer = succeed("outer").add_callback(cb).map(move |result| r.record(result));
    // `cb` has been entered, and the first callback of `d` has been called.
    assert_eq!(results.events(), ["start-of-cb outer", "firstCallback inner"]);
    // Once the inner Deferred is fired, processing of the outer Deferred's chain continues.
    fire_inner.callback("orange".to_owned()).unwrap();
    let f = failures.clone();
    let outer = outer.add_errback(move |failure| {
        f.record(failure.to_string());
        Ok(())
    });
    assert!(failures.events().is_empty(), "Got errbacks but wasn't expecting any.");
    assert_eq!(
        results.take(),
        ["start-of-cb outer", "firstCallback inner", "secondCallback orange", "orangeorange"]
    );
    success_result_of(outer);
}

/// `test_nestedAsynchronousChainedDeferredsWithExtraCallbacks`: "`Deferred`s can have callbacks
/// that themselves return `Deferred`s. These `Deferred`s can have other callbacks added before
/// they are returned, which subtly changes the callback chain. When these "inner" `Deferred`s
/// fire (even asynchronously), the outer callback chain continues."
#[test]
fn nested_asynchronous_chained_deferreds_with_extra_callbacks() {
    let results = Recorder::new();
    let failures = Recorder::new();
    let (inner, fire_inner) = Deferred::<String>::new();

    let (r, f) = (results.clone(), failures.clone());
    let cb = move |result: &str| {
        r.record(format!("start-of-cb {result}"));
        let d = succeed("inner".to_owned());
        let (r1, r2) = (r.clone(), r.clone());
        d.add_callback(move |result| {
            r1.record(format!("firstCallback {result}"));
            // A result-transforming callback on the not-yet-fired Deferred returned.
            inner.map(|result| vec![result])
        })
        .map(move |result| {
            r2.record(format!("secondCallback {result:?}"));
            [result.clone(), result].concat()
        })
        .add_errback(move |failure| {
            f.record(failure.to_string());
            Err(failure)
        })
    };
    let outer = succeed("outer").add_callback(cb);
    let r = results.clone();
    let outer = outer.map(move |result| r.record(format!("{result:?}")));
    assert_eq!(results.events(), ["start-of-cb outer", "firstCallback inner"]);
    fire_inner.callback("withers".to_owned()).unwrap();
    let f = failures.clone();
    let outer = outer.add_errback(move |failure| {
        f.record(failure.to_string());
        Ok(())
    });
    assert!(failures.events().is_empty(), "Got errbacks but wasn't expecting any.");
    assert_eq!(
        results.take(),
        [
            "start-of-cb outer",
            "firstCallback inner",
            "secondCallback [\"withers\"]",
            "[\"withers\", \"withers\"]"
        ]
    );
    success_result_of(outer);
}

/// `test_chainDeferredRecordsImplicitChain`: "We can chain `Deferred`s implicitly by adding
/// callbacks that return `Deferred`s. When this chaining happens, we record it explicitly as
/// soon as we can find out about it." (Twisted records it in the private `_chainedTo`, which
/// only `repr` reads; here it shows as `is_waiting` and in the `Debug` output.)
#[test]
fn chain_deferred_records_implicit_chain() {
    let (a, fire_a) = Deferred::<()>::new();
    let (b, _fire_b) = Deferred::<()>::new();
    let a = a.add_callback(move |()| b);
    fire_a.callback(()).unwrap();
    assert!(a.is_waiting());
    assert!(format!("{a:?}").contains("waiting on another Deferred"));
}

/// `test_circularChainWarning`: "When a Deferred is returned from a callback directly attached
/// to that same Deferred, a warning is emitted." Rust has no warnings: the mistake (reachable
/// by parking the tail where the step finds it) fails the chain with an error that says so,
/// instead of leaving the chain waiting on itself forever.
#[test]
fn circular_chain_warning() {
    let log = Recorder::new();
    let slot: Slot<String> = Arc::default();
    let (d, r) = Deferred::<String>::new();
    let s = slot.clone();
    let l = log.clone();
    let d = d.add_callback(move |_| s.lock().take().expect("parked")).add_errback(move |f| {
        l.record(f.error_message());
        Ok(String::new())
    });
    *slot.lock() = Some(d);
    r.callback("foo".to_owned()).unwrap();
    let messages = log.take();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].contains("returned the Deferred it is attached to"), "{messages:?}");
}

/// `test_circularChainException`: "If the deprecation warning for circular deferred callbacks
/// is configured to be an error, the exception will become the failure result of the
/// Deferred." That is this crate's only behaviour. (The step took the tail, so the result is
/// read through the resolver's `Debug` output and the unhandled-failure report.)
#[test]
fn circular_chain_exception() {
    let slot: Slot<String> = Arc::default();
    let (d, r) = Deferred::<String>::new();
    let s = slot.clone();
    let d = d.add_callback(move |_| s.lock().take().expect("parked"));
    *slot.lock() = Some(d);
    let ((), reports) = capture_unhandled(|| {
        r.callback("foo".to_owned()).unwrap();
        assert!(format!("{r:?}").contains("current result: <Failure"), "{r:?}");
        drop(r);
    });
    assert_eq!(reports.len(), 1, "the failure is the chain's result, reported when dropped");
    let message = reports[0].failure().error_message();
    assert!(message.contains("returned the Deferred it is attached to"), "{message}");
}

/// `test_repr`: "The `repr()` of a `Deferred` contains the class name and a representation of
/// the internal Python ID." Here `Debug` shows the type instead of an address.
#[test]
fn repr() {
    let (d, _r) = Deferred::<()>::new();
    assert_eq!(format!("{d:?}"), "<Deferred<()>>");
}

/// `test_reprWithResult`: "If a `Deferred` has been fired, then its `repr()` contains its
/// result." (Values of the small inline types are shown; others as "a boxed value".)
#[test]
fn repr_with_result() {
    let (d, r) = Deferred::<u32>::new();
    r.callback(7).unwrap();
    assert_eq!(format!("{d:?}"), "<Deferred<u32> current result: 7>");
}

/// Where the stack is now: the address of a local, a safe proxy for the stack depth.
#[inline(never)]
fn stack_position() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// `chainDeferreds` in `test_boundedStackDepth`: chains `how_many` Deferreds, each waiting on
/// the next, fires the last, and returns where on the stack the top's callback ran.
#[inline(never)]
fn chain_deferreds(how_many: usize) -> usize {
    let stack: Arc<Mutex<Vec<usize>>> = Arc::default();
    let (top, fire_top) = Deferred::<()>::new();
    let mut inner_resolvers = Vec::new();
    let (last, fire_last) = Deferred::<()>::new();
    // Built from the innermost out: each Deferred's callback returns the next one in.
    let mut inner = last;
    for _ in 0..how_many {
        let (d, r) = Deferred::<()>::new();
        let next = inner;
        inner = d.add_callback(move |()| next);
        inner_resolvers.push(r);
    }
    let s = stack.clone();
    let top = top.add_callback(move |()| inner).map(move |()| s.lock().push(stack_position()));
    fire_top.callback(()).unwrap();
    for r in inner_resolvers.iter().rev() {
        r.callback(()).unwrap();
    }
    // Sanity check: the record callback is not intended to have fired yet.
    assert!(stack.lock().is_empty());
    // Now fire the last thing and return the stack depth at which the callback was invoked.
    fire_last.callback(()).unwrap();
    success_result_of(top);
    stack.lock()[0]
}

/// `test_boundedStackDepth`: "The depth of the call stack does not grow as more `Deferred`
/// instances are chained together."
#[test]
fn bounded_stack_depth() {
    let how_many = std::hint::black_box([1, 2, 1000]);
    let depths: Vec<usize> = how_many.iter().map(|&n| chain_deferreds(n)).collect();
    assert_eq!(depths[0], depths[1], "Callbacks should be invoked at the same stack depth");
    assert_eq!(depths[0], depths[2]);
}

/// `test_resultOfDeferredResultOfDeferredOfFiredDeferredCalled`: "Given three Deferreds, one
/// chained to the next chained to the next, callbacks on the middle Deferred which are added
/// after the chain is created are called once the last Deferred fires." (The middle
/// Deferred's callback is added after `second` returns `third` but before `first` takes
/// `second`: after that, `first` owns `second`'s tail.)
#[test]
fn result_of_deferred_result_of_deferred_of_fired_deferred_called() {
    let results = Recorder::new();
    let (first, fire_first) = Deferred::<()>::new();
    let (second, fire_second) = Deferred::<()>::new();
    let (third, fire_third) = Deferred::<()>::new();
    let second = second.add_callback(move |()| third);
    fire_second.callback(()).unwrap();
    let r = results.clone();
    let second = second.map(move |()| r.record("second's callback"));
    let first = first.add_callback(move |()| second);
    fire_first.callback(()).unwrap();
    fire_third.callback(()).unwrap();
    assert_eq!(results.take(), ["second's callback"]);
    success_result_of(first);
}

/// `test_fromCoroutine`: "It can discover the return type of a first level coroutine."
/// `Deferred.fromCoroutine(coro)` is `ensure_deferred(async { .. })`; the annotation plays the
/// part of `assert_type`, and the compiler infers it from the block's output. (The companion
/// `test_fromCoroutineRequiresCoroutine` has no counterpart: passing anything but a future does
/// not compile.)
#[test]
fn from_coroutine() {
    async fn returns_int() -> Result<i32, Failure> {
        Ok(1)
    }
    let d: Deferred<i32> = ensure_deferred(returns_int());
    assert_eq!(1, success_result_of(d));
}

/// The canceller's reference to its Deferred (`DummyCanceller.deferred`).
type Own<T> = Arc<Mutex<Option<Resolver<T>>>>;

/// A canceller that keeps its Deferred alive, as `DummyCanceller` does with its `deferred`
/// attribute: the reference cycle the canceller tests are about.
fn circular_canceller<T: Send + 'static>(token: DropToken) -> (Deferred<T>, Resolver<T>, Own<T>) {
    let own: Own<T> = Arc::default();
    let keep = own.clone();
    let (d, r) = Deferred::with_canceller(move |_: &Resolver<T>| {
        let _token = &token;
        let _deferred = &keep;
    });
    *own.lock() = Some(r.clone());
    (d, r, own)
}

/// `test_canceller_circular_reference_callback`: "A circular reference between a `Deferred`
/// and its canceller is broken when the deferred is called."
#[test]
fn canceller_circular_reference_callback() {
    let canceller = DropCounter::new();
    let value = DropCounter::new();
    let (d, r, own) = circular_canceller::<DropToken>(canceller.token());
    drop(own); // the test's own reference to the canceller's Deferred
    r.callback(value.token()).unwrap();
    assert_eq!(canceller.dropped(), 1, "the canceller is freed once the Deferred is called");
    drop(d);
    drop(r);
    assert_eq!(value.dropped(), 1, "and then the Deferred is freed");
}

/// `test_canceller_circular_reference_errback`: "A circular reference between a `Deferred`
/// and its canceller is broken when the deferred fails."
#[test]
fn canceller_circular_reference_errback() {
    let canceller = DropCounter::new();
    let (d, r, own) = circular_canceller::<()>(canceller.token());
    drop(own);
    r.errback(Failure::msg("The test demands failures.")).unwrap();
    // Get the failure out, or it would be reported as unhandled.
    failure_result_of(d);
    assert_eq!(canceller.dropped(), 1, "the canceller is freed once the Deferred fails");
}

/// `test_canceller_circular_reference_non_final`: "A circular reference between a `Deferred`
/// and its canceller is broken when the deferred is called, even if another deferred gets
/// added to its chain."
#[test]
fn canceller_circular_reference_non_final() {
    let canceller = DropCounter::new();
    let (d, r, own) = circular_canceller::<()>(canceller.token());
    drop(own);
    let d = d.add_callback(|()| Deferred::<()>::new().0);
    r.callback(()).unwrap();
    assert!(d.is_waiting());
    assert_eq!(canceller.dropped(), 1, "the canceller is freed once the Deferred is called");
}
