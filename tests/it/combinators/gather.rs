//! `gather_results`: every value in input order, or the first failure.
//!
//! The `test_*` functions port the gatherResults cases of Twisted's `DeferredTests`
//! (twisted/test/test_defer.py, Twisted 26.10); each names the original.

use deferreds::testing::{
    Recorder, assert_no_result, capture_unhandled, failure_result_of, success_result_of,
};
use deferreds::{
    CancelledError, Deferred, DeferredList, Failure, FirstError, fail, gather_results, succeed,
};

use crate::combinators::list::{GenericError, fake_callback_canceller, observed};
use crate::hardening::support::on_small_stack;

/// Ported from `DeferredTests.test_gatherResults`.
#[test]
fn test_gather_results() {
    let d = gather_results(vec![succeed(1), succeed(2)]);
    assert_eq!(success_result_of(d), [1, 2]);

    let ((), reports) = capture_unhandled(|| {
        let d = gather_results(vec![succeed(1), fail(Failure::new(GenericError("v")))]);
        assert!(failure_result_of(d).check::<FirstError>());
    });
    // Twisted's test handles the input's own failure with `dl[1].addErrback`, since its
    // `consumeErrors` defaults to false; here the gather always consumes it (conformance X7b).
    assert!(reports.is_empty());

    // Twisted's default, through the list: the input's failure is reported once.
    let ((), reports) = capture_unhandled(|| {
        let inputs = vec![succeed(1), fail(Failure::new(GenericError("v")))];
        let d = DeferredList::new(inputs).fire_on_one_errback(true).consume_errors(false);
        assert!(failure_result_of(d.into_deferred()).check::<FirstError>());
    });
    assert_eq!(reports.len(), 1);
    assert!(reports[0].failure().check::<GenericError>());
}

/// Ported from `DeferredTests.test_gatherResultsWithConsumeErrors`.
#[test]
fn test_gather_results_with_consume_errors() {
    let ((), reports) = capture_unhandled(|| {
        let d = gather_results(vec![succeed(1), fail(Failure::new(GenericError("oh noes")))]);
        let failure = failure_result_of(d);
        let first = failure.downcast_ref::<FirstError>().unwrap();
        assert!(first.failure.check::<GenericError>());
        assert_eq!(first.index, 1);
    });
    assert!(reports.is_empty(), "the input's failure was consumed");
}

/// Ported from `DeferredTests.test_cancelGatherResults`.
#[test]
fn test_cancel_gather_results() {
    let log = Recorder::new();
    let (one, _r1) = Deferred::<()>::new();
    let (two, _r2) = Deferred::<()>::new();
    let d = gather_results(vec![observed(one, &log, "one"), observed(two, &log, "two")]);
    d.cancel();
    assert_eq!(
        log.take(),
        ["one: deferreds::error::CancelledError", "two: deferreds::error::CancelledError"]
    );
    let failure = failure_result_of(d);
    assert!(failure.downcast_ref::<FirstError>().unwrap().failure.check::<CancelledError>());
}

/// Ported from `DeferredTests.test_cancelGatherResultsWithAllDeferredsCallback`.
#[test]
fn test_cancel_gather_results_with_all_deferreds_callback() {
    let (one, _r1) = Deferred::with_canceller(fake_callback_canceller);
    let (two, _r2) = Deferred::with_canceller(fake_callback_canceller);
    let d = gather_results(vec![one, two]);
    d.cancel();
    assert_eq!(success_result_of(d), ["Callback Result", "Callback Result"]);
}

#[test]
fn values_keep_input_order() {
    let (a, fire_a) = Deferred::<&str>::new();
    let (b, fire_b) = Deferred::<&str>::new();
    let (c, fire_c) = Deferred::<&str>::new();
    let d = gather_results(vec![a, b, c]);
    fire_c.callback("c").unwrap();
    fire_a.callback("a").unwrap();
    assert_no_result(&d);
    fire_b.callback("b").unwrap();
    assert_eq!(success_result_of(d), ["a", "b", "c"]);
}

#[test]
fn the_first_failure_fails_it_at_once_with_its_index() {
    let (a, _fire_a) = Deferred::<u8>::new();
    let (b, fire_b) = Deferred::<u8>::new();
    let (c, fire_c) = Deferred::<u8>::new();
    let d = gather_results(vec![a, b, c]);
    fire_c.errback(Failure::msg("c down")).unwrap();
    fire_b.errback(Failure::msg("b down")).unwrap();
    let failure = failure_result_of(d);
    let first = failure.downcast_ref::<FirstError>().unwrap();
    assert_eq!((first.index, first.failure.error_message()), (2, "c down".to_owned()));
    assert_eq!(failure.error_message(), "input 2 failed first: c down");
}

#[test]
fn an_empty_gather_fires_an_empty_vec_at_once() {
    assert!(success_result_of(gather_results(Vec::<Deferred<u8>>::new())).is_empty());
}

#[test]
fn later_failures_end_in_the_gather() {
    let ((), reports) = capture_unhandled(|| {
        let (a, fire_a) = Deferred::<u8>::new();
        let (b, fire_b) = Deferred::<u8>::new();
        let d = gather_results(vec![a, b]);
        fire_a.errback(Failure::msg("first")).unwrap();
        fire_b.errback(Failure::msg("second")).unwrap();
        let failure = failure_result_of(d);
        assert_eq!(failure.downcast_ref::<FirstError>().unwrap().failure.error_message(), "first");
    });
    assert!(reports.is_empty(), "neither input's failure is reported: {reports:?}");
}

#[test]
fn nested_gathers_complete_without_recursion() {
    const DEPTH: usize = 100_000;
    on_small_stack(|| {
        let (leaf, fire) = Deferred::<usize>::new();
        let mut top = leaf;
        for _ in 0..DEPTH {
            top = gather_results(vec![top]).map(|v| v[0] + 1);
        }
        fire.callback(0).unwrap();
        assert_eq!(success_result_of(top), DEPTH);
    });
}

#[test]
fn values_gathered_before_the_first_failure_are_dropped_when_it_fails() {
    let counter = deferreds::testing::DropCounter::new();
    let (a, fire_a) = Deferred::new();
    let (b, _fire_b) = Deferred::new(); // never fires: keeps the gather's steps alive
    let (c, fire_c) = Deferred::new();
    let d = gather_results(vec![a, b, c]);
    fire_a.callback(counter.token()).unwrap();
    assert_eq!(counter.alive(), 1, "held for the result");
    fire_c.errback(Failure::msg("c failed")).unwrap();
    assert!(failure_result_of(d).check::<FirstError>());
    assert_eq!(counter.alive(), 0, "not kept until the last input fires");
}

#[test]
fn cancelling_a_gather_reaches_what_its_inputs_wait_on() {
    let cancelled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let c = cancelled.clone();
    let (inner, _fire_inner) = Deferred::<u8>::with_canceller(move |_| {
        c.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let waiting = succeed(()).add_callback(move |()| inner);
    assert!(waiting.is_waiting());
    let d = gather_results(vec![waiting, succeed(1)]);
    d.cancel();
    assert!(cancelled.load(std::sync::atomic::Ordering::SeqCst));
    let failure = failure_result_of(d);
    assert!(failure.downcast_ref::<FirstError>().unwrap().failure.check::<CancelledError>());
}

/// Ported from `FirstErrorTests.test_str`: the message names the index and includes the
/// failure's. (`test_repr` and `test_comparison` have no counterpart: `Debug` is derived, and
/// `Failure` has no equality; see `docs/conformance.md`.)
#[test]
fn test_str() {
    let error = FirstError { index: 5, failure: Failure::new(GenericError("some text")) };
    assert_eq!(error.to_string(), "input 5 failed first: some text");
}

/// The inner chain of `test_continueCallbackNotFirst` and `test_callbackOrderPreserved`: `cb`
/// returns a chain whose first callback waits on `gather_results([a])`.
fn cb_waiting_on_a_gather(
    a: Deferred<&'static str>,
    results: &Recorder,
    failures: &Recorder,
) -> impl FnOnce(&'static str) -> Deferred<()> + Send + 'static {
    let (results, failures) = (results.clone(), failures.clone());
    move |result| {
        results.record(format!("cb {result}"));
        let (d, fire_d) = Deferred::<()>::new();
        let (r1, r2) = (results.clone(), results.clone());
        let returner = d
            .add_callback(move |()| {
                r1.record("firstCallback ()");
                gather_results(vec![a])
            })
            .map(move |result| r2.record(format!("secondCallback {result:?}")))
            .add_errback(move |f| {
                failures.record(f.error_message());
                Ok(())
            });
        fire_d.callback(()).unwrap();
        returner
    }
}

/// Ported from `DeferredTests.test_continueCallbackNotFirst`.
#[test]
fn test_continue_callback_not_first() {
    let (results, failures) = (Recorder::new(), Recorder::new());
    let (a, fire_a) = Deferred::<&'static str>::new();
    let f = failures.clone();
    let outer = succeed("outer")
        .add_callback(cb_waiting_on_a_gather(a, &results, &failures))
        .add_errback(move |failure| {
            f.record(failure.error_message());
            Ok(())
        });
    assert_eq!(results.events(), ["cb outer", "firstCallback ()"]);
    fire_a.callback("withers").unwrap();
    assert!(failures.events().is_empty());
    assert_eq!(results.events(), ["cb outer", "firstCallback ()", "secondCallback [\"withers\"]"]);
    success_result_of(outer);
}

/// Ported from `DeferredTests.test_callbackOrderPreserved`.
#[test]
fn test_callback_order_preserved() {
    let (results, failures) = (Recorder::new(), Recorder::new());
    let (a, fire_a) = Deferred::<&'static str>::new();
    let (outer, fire_outer) = Deferred::<&'static str>::new();
    let (r, f) = (results.clone(), failures.clone());
    let outer = outer
        .add_callback(cb_waiting_on_a_gather(a, &results, &failures))
        .map(move |()| r.record("final ()"))
        .add_errback(move |failure| {
            f.record(failure.error_message());
            Ok(())
        });
    fire_outer.callback("outer").unwrap();
    assert_eq!(results.events(), ["cb outer", "firstCallback ()"]);
    fire_a.callback("withers").unwrap();
    assert!(failures.events().is_empty());
    assert_eq!(
        results.events(),
        ["cb outer", "firstCallback ()", "secondCallback [\"withers\"]", "final ()"]
    );
    success_result_of(outer);
}

#[test]
fn cancelling_a_gather_whose_only_pending_input_is_in_flight_waits_for_its_value() {
    let (a, fire_a) = Deferred::<u8>::new();
    let (a, has_started, go) = crate::combinators::list::blocking_input(a);
    let gathered = gather_results(vec![a, succeed(2)]);
    let firer = std::thread::spawn(move || fire_a.callback(1).unwrap());
    has_started.recv().unwrap();
    gathered.cancel(); // nothing to cancel: the one input left is running on `firer`
    assert_no_result(&gathered);
    go.send(()).unwrap();
    firer.join().unwrap();
    assert_eq!(success_result_of(gathered), [1, 2]);
}
