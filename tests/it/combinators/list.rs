//! `DeferredList`: results in input order, the flags, cancellation, and unhandled reports.
//!
//! The `test_*` functions port the DeferredList cases of Twisted's `DeferredTests` and
//! `DeferredListEmptyTests` (twisted/test/test_defer.py, Twisted 26.10); each names the
//! original. Where Twisted inspects an input after the list took it, the port observes it with
//! a step added before the list, or through the unhandled-failure reports.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::hardening::support::on_small_stack;
use deferreds::testing::{
    DropCounter, Recorder, assert_no_result, capture_unhandled, failure_result_of,
    success_result_of,
};
use deferreds::{
    CancelledError, Deferred, DeferredList, Failure, FirstCallback, FirstError, PanicError,
    Resolver, fail, succeed,
};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct GenericError(pub(crate) &'static str);

/// Twisted's `fakeCallbackCanceller`: a canceller that fires the Deferred with a value.
pub(crate) fn fake_callback_canceller(r: &Resolver<&'static str>) {
    r.callback("Callback Result").unwrap();
}

/// Adds a step that records what `d` fired with, then passes it on unchanged: how the ports
/// look at an input after handing it to a list.
pub(crate) fn observed<T: std::fmt::Debug + Send + 'static>(
    d: Deferred<T>,
    log: &Recorder,
    name: &'static str,
) -> Deferred<T> {
    let log = log.clone();
    d.add_both(move |r| {
        match &r {
            Ok(v) => log.record(format!("{name}: {v:?}")),
            Err(f) => log.record(format!("{name}: {}", f.type_name())),
        }
        r
    })
}

fn messages<T: std::fmt::Debug>(results: &[Result<T, Failure>]) -> Vec<String> {
    results
        .iter()
        .map(|r| match r {
            Ok(v) => format!("ok {v:?}"),
            Err(f) => format!("err {}", f.error_message()),
        })
        .collect()
}

/// Ported from `DeferredTests.testDeferredList`.
#[test]
fn test_deferred_list() {
    let (d1, r1) = Deferred::<&str>::new();
    let (d2, r2) = Deferred::<&str>::new();
    let (d3, r3) = Deferred::<&str>::new();
    let dl = DeferredList::new(vec![d1, d2, d3]).consume_errors(true).into_deferred();
    r1.callback("1").unwrap();
    r2.errback(Failure::new(GenericError("2"))).unwrap();
    assert_no_result(&dl);
    r3.callback("3").unwrap();
    let results = success_result_of(dl);
    assert_eq!(messages(&results), ["ok \"1\"", "err 2", "ok \"3\""]);
    assert!(results[1].as_ref().unwrap_err().check::<GenericError>());
}

/// Ported from `DeferredTests.testEmptyDeferredList`. Twisted never fires the empty list with
/// `fireOnOneCallback`; here it fires at once with `AllFailed([])` (`docs/conformance.md`).
#[test]
fn test_empty_deferred_list() {
    let dl = DeferredList::<()>::new(Vec::new()).into_deferred();
    assert!(success_result_of(dl).is_empty());

    let dl = DeferredList::<()>::new(Vec::new()).fire_on_one_callback();
    match success_result_of(dl) {
        FirstCallback::AllFailed(failures) => assert!(failures.is_empty()),
        FirstCallback::Succeeded { .. } => panic!("nothing can succeed"),
    }
}

/// Ported from `DeferredListEmptyTests.testDeferredListEmpty`.
#[test]
fn test_deferred_list_empty() {
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let dl = DeferredList::<u8>::new([]).into_deferred().map(move |res| {
        assert!(res.is_empty());
        r.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(ran.load(Ordering::SeqCst), 1, "the callback ran at once");
    success_result_of(dl);
}

/// Ported from `DeferredTests.testDeferredListFireOnOneError`.
#[test]
fn test_deferred_list_fire_on_one_error() {
    let (d1, r1) = Deferred::<&str>::new();
    let (d2, r2) = Deferred::<&str>::new();
    let (d3, _r3) = Deferred::<&str>::new();
    let dl = DeferredList::new(vec![d1, d2, d3])
        .fire_on_one_errback(true)
        .consume_errors(true)
        .into_deferred();
    r1.callback("1").unwrap();
    assert_no_result(&dl);
    r2.errback(Failure::new(GenericError("from def2"))).unwrap();
    let failure = failure_result_of(dl);
    let first = failure.downcast_ref::<FirstError>().expect("a FirstError");
    assert!(first.failure.check::<GenericError>());
    assert_eq!(first.failure.error_message(), "from def2");
    assert_eq!(first.index, 1);
}

/// Ported from `DeferredTests.testDeferredListDontConsumeErrors`: without `consume_errors`,
/// the failure stays on the input's chain (Twisted's later `addErrback` sees it); with a
/// unique tail, that shows as one unhandled report when the input's last handle drops.
#[test]
fn test_deferred_list_dont_consume_errors() {
    let (results, reports) = capture_unhandled(|| {
        let (d1, r1) = Deferred::<()>::new();
        let dl = DeferredList::new(vec![d1]).into_deferred();
        r1.errback(Failure::new(GenericError("Bang"))).unwrap();
        let results = success_result_of(dl);
        let ((), early) = capture_unhandled(|| {});
        assert!(early.is_empty());
        drop(r1);
        results
    });
    assert_eq!(messages(&results), ["err Bang"]);
    assert_eq!(reports.len(), 1, "reported once, by the input's chain");
    assert_eq!(reports[0].failure().error_message(), "Bang");
}

/// Ported from `DeferredTests.testDeferredListConsumeErrors`.
#[test]
fn test_deferred_list_consume_errors() {
    let (results, reports) = capture_unhandled(|| {
        let (d1, r1) = Deferred::<()>::new();
        let dl = DeferredList::new(vec![d1]).consume_errors(true).into_deferred();
        r1.errback(Failure::new(GenericError("Bang"))).unwrap();
        success_result_of(dl)
    });
    assert_eq!(messages(&results), ["err Bang"]);
    assert!(reports.is_empty(), "consumed: nothing left to report");
}

/// Ported from `DeferredTests.testDeferredListFireOnOneErrorWithAlreadyFiredDeferreds`.
#[test]
fn test_deferred_list_fire_on_one_error_with_already_fired_deferreds() {
    let (d1, r1) = Deferred::<()>::new();
    let (d2, _r2) = Deferred::<()>::new();
    r1.errback(Failure::new(GenericError("Bang"))).unwrap();
    let dl = DeferredList::new(vec![d1, d2]).fire_on_one_errback(true).consume_errors(true);
    let dl = dl.into_deferred();
    assert!(failure_result_of(dl).check::<FirstError>());
}

/// Ported from `DeferredTests.testDeferredListWithAlreadyFiredDeferreds`.
#[test]
fn test_deferred_list_with_already_fired_deferreds() {
    let (d1, r1) = Deferred::<i32>::new();
    let (d2, r2) = Deferred::<i32>::new();
    r1.errback(Failure::new(GenericError("Bang"))).unwrap();
    r2.callback(2).unwrap();
    let dl = DeferredList::new(vec![d1, d2]).consume_errors(true).into_deferred();
    assert_eq!(messages(&success_result_of(dl)), ["err Bang", "ok 2"]);
}

/// Ported from `DeferredTests.test_cancelDeferredList`.
#[test]
fn test_cancel_deferred_list() {
    let log = Recorder::new();
    let (one, _r1) = Deferred::<()>::new();
    let (two, _r2) = Deferred::<()>::new();
    let inputs = vec![observed(one, &log, "one"), observed(two, &log, "two")];
    let dl = DeferredList::new(inputs).consume_errors(true).into_deferred();
    dl.cancel();
    assert_eq!(
        log.take(),
        ["one: deferreds::error::CancelledError", "two: deferreds::error::CancelledError"]
    );
    // Their results complete the list as usual.
    let results = success_result_of(dl);
    assert!(results.iter().all(|r| r.as_ref().unwrap_err().check::<CancelledError>()));
}

/// Ported from `DeferredTests.test_cancelDeferredListCallback`.
#[test]
fn test_cancel_deferred_list_callback() {
    let log = Recorder::new();
    let (one, _r1) = Deferred::with_canceller(fake_callback_canceller);
    let (two, _r2) = Deferred::<&str>::new();
    let inputs = vec![one, observed(two, &log, "two")];
    let dl = DeferredList::new(inputs).consume_errors(true).into_deferred();
    dl.cancel();
    assert_eq!(log.take(), ["two: deferreds::error::CancelledError"]);
    let results = success_result_of(dl);
    assert_eq!(results[0].as_ref().unwrap(), &"Callback Result");
    assert!(results[1].as_ref().unwrap_err().check::<CancelledError>());
}

/// Ported from `DeferredTests.test_cancelDeferredListWithFireOnOneCallback`.
#[test]
fn test_cancel_deferred_list_with_fire_on_one_callback() {
    let log = Recorder::new();
    let (one, _r1) = Deferred::<()>::new();
    let (two, _r2) = Deferred::<()>::new();
    let inputs = vec![observed(one, &log, "one"), observed(two, &log, "two")];
    let dl = DeferredList::new(inputs).consume_errors(true).fire_on_one_callback();
    dl.cancel();
    assert_eq!(
        log.take(),
        ["one: deferreds::error::CancelledError", "two: deferreds::error::CancelledError"]
    );
    // Every input failed, so the list delivers their failures.
    let FirstCallback::AllFailed(failures) = success_result_of(dl) else { panic!() };
    assert_eq!(failures.len(), 2);
}

/// Ported from `DeferredTests.test_cancelDeferredListWithFireOnOneCallbackAndDeferredCallback`.
#[test]
fn test_cancel_deferred_list_with_fire_on_one_callback_and_deferred_callback() {
    let log = Recorder::new();
    let (one, _r1) = Deferred::with_canceller(fake_callback_canceller);
    let (two, _r2) = Deferred::<&str>::new();
    let inputs = vec![one, observed(two, &log, "two")];
    let dl = DeferredList::new(inputs).consume_errors(true).fire_on_one_callback();
    dl.cancel();
    assert_eq!(log.take(), ["two: deferreds::error::CancelledError"]);
    match success_result_of(dl) {
        FirstCallback::Succeeded { index, value } => {
            assert_eq!((value, index), ("Callback Result", 0))
        }
        FirstCallback::AllFailed(_) => panic!("input 0 succeeded"),
    }
}

/// Ported from `DeferredTests.test_cancelDeferredListWithFireOnOneErrback`.
#[test]
fn test_cancel_deferred_list_with_fire_on_one_errback() {
    let log = Recorder::new();
    let (one, _r1) = Deferred::<()>::new();
    let (two, _r2) = Deferred::<()>::new();
    let inputs = vec![observed(one, &log, "one"), observed(two, &log, "two")];
    let dl = DeferredList::new(inputs).fire_on_one_errback(true).consume_errors(true);
    let dl = dl.into_deferred();
    dl.cancel();
    assert_eq!(
        log.take(),
        ["one: deferreds::error::CancelledError", "two: deferreds::error::CancelledError"]
    );
    let failure = failure_result_of(dl);
    let first = failure.downcast_ref::<FirstError>().unwrap();
    assert!(first.failure.check::<CancelledError>());
}

/// Ported from `DeferredTests.test_cancelDeferredListWithFireOnOneErrbackAllDeferredsCallback`.
#[test]
fn test_cancel_deferred_list_with_fire_on_one_errback_all_deferreds_callback() {
    let (one, _r1) = Deferred::with_canceller(fake_callback_canceller);
    let (two, _r2) = Deferred::with_canceller(fake_callback_canceller);
    let dl = DeferredList::new(vec![one, two]).fire_on_one_errback(true).into_deferred();
    dl.cancel();
    let results = success_result_of(dl);
    assert_eq!(messages(&results), ["ok \"Callback Result\"", "ok \"Callback Result\""]);
}

/// Ported from `DeferredTests.test_cancelDeferredListWithOriginalDeferreds`: only the inputs
/// are cancelled.
#[test]
fn test_cancel_deferred_list_with_original_deferreds() {
    let log = Recorder::new();
    let (one, _r1) = Deferred::<()>::new();
    let (two, _r2) = Deferred::<()>::new();
    let argument_list = vec![observed(one, &log, "one"), observed(two, &log, "two")];
    let dl = DeferredList::new(argument_list).consume_errors(true).into_deferred();
    let (three, _r3) = Deferred::<()>::new();
    dl.cancel();
    assert_eq!(log.take().len(), 2);
    assert_no_result(&three);
}

/// Ported from `DeferredTests.test_cancelDeferredListWithException`: a canceller that fails
/// does not stop the others from being cancelled. Twisted logs the exception; here the panic
/// becomes that input's failure.
#[test]
fn test_cancel_deferred_list_with_exception() {
    let (one, _r1) = Deferred::<()>::with_canceller(|_| panic!("test"));
    let (two, _r2) = Deferred::<()>::new();
    let dl = DeferredList::new(vec![one, two]).consume_errors(true).into_deferred();
    dl.cancel();
    let results = success_result_of(dl);
    assert!(results[0].as_ref().unwrap_err().check::<PanicError>());
    assert_eq!(results[0].as_ref().unwrap_err().error_message(), "test");
    assert!(results[1].as_ref().unwrap_err().check::<CancelledError>());
}

/// Ported from `DeferredTests.test_cancelFiredOnOneCallbackDeferredList`.
#[test]
fn test_cancel_fired_on_one_callback_deferred_list() {
    let log = Recorder::new();
    let (one, r1) = Deferred::<()>::new();
    let (two, _r2) = Deferred::<()>::new();
    let inputs = vec![one, observed(two, &log, "two")];
    let dl = DeferredList::new(inputs).fire_on_one_callback();
    r1.callback(()).unwrap();
    dl.cancel();
    assert!(log.events().is_empty(), "the other input was not cancelled");
    assert!(matches!(success_result_of(dl), FirstCallback::Succeeded { index: 0, .. }));
}

/// Ported from `DeferredTests.test_cancelFiredOnOneErrbackDeferredList`.
#[test]
fn test_cancel_fired_on_one_errback_deferred_list() {
    let log = Recorder::new();
    let (one, r1) = Deferred::<()>::new();
    let (two, _r2) = Deferred::<()>::new();
    let inputs = vec![observed(one, &log, "one"), observed(two, &log, "two")];
    let dl = DeferredList::new(inputs).fire_on_one_errback(true).consume_errors(true);
    let dl = dl.into_deferred();
    r1.errback(Failure::new(GenericError("test"))).unwrap();
    dl.cancel();
    assert_eq!(log.take(), ["one: it::combinators::list::GenericError"], "two was not cancelled");
    assert!(failure_result_of(dl).check::<FirstError>());
}

#[test]
fn results_keep_input_order_whatever_order_the_inputs_fire_in() {
    let mut inputs = Vec::new();
    let mut resolvers = Vec::new();
    for _ in 0..100 {
        let (d, r) = Deferred::<usize>::new();
        inputs.push(d);
        resolvers.push(r);
    }
    let dl = DeferredList::new(inputs).into_deferred();
    // Fire in a scrambled order: odd indexes backwards, then even ones forwards.
    let order: Vec<usize> =
        (0..100).rev().filter(|i| i % 2 == 1).chain((0..100).step_by(2)).collect();
    for &i in &order {
        assert_no_result(&dl);
        resolvers[i].callback(i * 10).unwrap();
    }
    let values: Vec<usize> = success_result_of(dl).into_iter().map(Result::unwrap).collect();
    assert_eq!(values, (0..100).map(|i| i * 10).collect::<Vec<_>>());
}

#[test]
fn a_list_of_inputs_that_already_fired_fires_before_into_deferred_returns() {
    let dl = DeferredList::new(vec![succeed(1), fail(Failure::msg("x")), succeed(3)])
        .consume_errors(true)
        .into_deferred();
    assert_eq!(messages(&success_result_of(dl)), ["ok 1", "err x", "ok 3"]);
}

#[test]
fn fire_on_one_callback_gives_the_first_success_and_its_index() {
    let (a, fire_a) = Deferred::<&str>::new();
    let (b, fire_b) = Deferred::<&str>::new();
    let (c, fire_c) = Deferred::<&str>::new();
    let dl = DeferredList::new(vec![a, b, c]).consume_errors(true).fire_on_one_callback();
    fire_a.errback(Failure::msg("a failed")).unwrap();
    assert_no_result(&dl);
    fire_c.callback("C").unwrap();
    fire_b.callback("B").unwrap(); // too late: goes nowhere
    match success_result_of(dl) {
        FirstCallback::Succeeded { index, value } => assert_eq!((index, value), (2, "C")),
        FirstCallback::AllFailed(_) => panic!("c succeeded"),
    }
}

#[test]
fn fire_on_one_callback_delivers_every_failure_in_input_order_when_all_fail() {
    let (a, fire_a) = Deferred::<u8>::new();
    let (b, fire_b) = Deferred::<u8>::new();
    let dl = DeferredList::new(vec![a, b]).consume_errors(true).fire_on_one_callback();
    fire_b.errback(Failure::msg("b")).unwrap();
    fire_a.errback(Failure::msg("a")).unwrap();
    let FirstCallback::AllFailed(failures) = success_result_of(dl) else { panic!() };
    let messages: Vec<String> = failures.iter().map(Failure::error_message).collect();
    assert_eq!(messages, ["a", "b"]);
}

#[test]
fn with_both_flags_the_first_input_to_fire_decides() {
    let (a, fire_a) = Deferred::<u8>::new();
    let (b, _fire_b) = Deferred::<u8>::new();
    let dl = DeferredList::new(vec![a, b])
        .fire_on_one_errback(true)
        .consume_errors(true)
        .fire_on_one_callback();
    fire_a.errback(Failure::msg("first")).unwrap();
    let failure = failure_result_of(dl);
    assert_eq!(failure.downcast_ref::<FirstError>().unwrap().index, 0);

    let (a, _fire_a) = Deferred::<u8>::new();
    let (b, fire_b) = Deferred::<u8>::new();
    let dl = DeferredList::new(vec![a, b]).fire_on_one_errback(true).fire_on_one_callback();
    fire_b.callback(5).unwrap();
    assert!(matches!(success_result_of(dl), FirstCallback::Succeeded { index: 1, value: 5 }));
}

#[test]
fn an_unconsumed_failure_is_reported_once_and_a_consumed_one_never() {
    // Without consume_errors, every failed input reports its failure once, when its own last
    // handle goes; the list's result (which holds the failures as values) reports nothing.
    let ((), reports) = capture_unhandled(|| {
        let (a, fire_a) = Deferred::<u8>::new();
        let (b, fire_b) = Deferred::<u8>::new();
        let dl = DeferredList::new(vec![a, b, fail(Failure::msg("c"))]).into_deferred();
        fire_a.errback(Failure::msg("a")).unwrap();
        fire_b.callback(1).unwrap();
        assert_eq!(success_result_of(dl).len(), 3);
    });
    let mut reported: Vec<String> = reports.iter().map(|r| r.failure().error_message()).collect();
    reported.sort();
    assert_eq!(reported, ["a", "c"]);

    let ((), reports) = capture_unhandled(|| {
        let (a, fire_a) = Deferred::<u8>::new();
        let dl = DeferredList::new(vec![a, fail(Failure::msg("c"))]).consume_errors(true);
        let dl = dl.into_deferred();
        fire_a.errback(Failure::msg("a")).unwrap();
        assert_eq!(success_result_of(dl).len(), 2);
    });
    assert!(reports.is_empty());
}

#[test]
fn a_first_error_nobody_handles_is_reported_by_the_list_and_the_input_once_each() {
    let ((), reports) = capture_unhandled(|| {
        let (a, fire_a) = Deferred::<u8>::new();
        let (b, fire_b) = Deferred::<u8>::new();
        let dl = DeferredList::new(vec![a, b]).fire_on_one_errback(true).into_deferred();
        fire_a.errback(Failure::msg("a")).unwrap();
        fire_b.errback(Failure::msg("b")).unwrap(); // after the list fired: stays on b
        drop(dl);
    });
    let mut reported: Vec<String> = reports.iter().map(|r| r.failure().error_message()).collect();
    reported.sort();
    assert_eq!(reported, ["a", "b", "input 0 failed first: a"]);
}

#[test]
fn cancelling_a_list_that_its_inputs_cannot_settle_fails_it_with_cancelled_error() {
    // Twisted's DeferredList waits for the paused input; here the list is cancelled at once,
    // as any Deferred whose canceller does not fire it (see docs/conformance.md).
    let (mut paused, fire_paused) = Deferred::<u8>::new();
    paused.pause();
    let ((), reports) = capture_unhandled(|| {
        let dl = DeferredList::new(vec![paused, succeed(1)]).consume_errors(true);
        let dl = dl.into_deferred();
        dl.cancel();
        assert!(failure_result_of(dl).check::<CancelledError>());
        // The input's own result arrives later and goes nowhere, quietly.
        fire_paused.unpause().unwrap();
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn cancelling_a_list_whose_inputs_can_never_fire_fails_it_instead_of_hanging() {
    let (a, fire_a) = Deferred::<u8>::new();
    let (b, fire_b) = Deferred::<u8>::new();
    let dl = DeferredList::new(vec![a, b]).into_deferred();
    drop(fire_a);
    drop(fire_b);
    assert_no_result(&dl);
    dl.cancel();
    assert!(failure_result_of(dl).check::<CancelledError>());
}

#[test]
fn a_list_whose_inputs_are_dropped_unfired_is_freed() {
    let counter = DropCounter::new();
    let token = counter.token();
    let (a, fire_a) = Deferred::<u8>::new();
    let dl = DeferredList::new(vec![a]).into_deferred().map(move |r| {
        let _keep = &token;
        r.len()
    });
    assert_eq!(counter.alive(), 1);
    drop(fire_a); // the input can never fire
    drop(dl);
    assert_eq!(counter.alive(), 0, "no cycle keeps the list's chain alive");
}

#[test]
fn nested_lists_complete_without_recursion() {
    const DEPTH: usize = 100_000;
    on_small_stack(|| {
        let (leaf, fire) = Deferred::<usize>::new();
        let mut top = leaf;
        for _ in 0..DEPTH {
            top = DeferredList::new(vec![top])
                .into_deferred()
                .add_callback(|mut results| results.pop().unwrap().map(|n| n + 1));
        }
        fire.callback(0).unwrap();
        assert_eq!(success_result_of(top), DEPTH);
    });
}

#[test]
fn inputs_fired_from_many_threads_complete_the_list_once() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 500;
    for _round in 0..5 {
        let mut inputs = Vec::new();
        let mut resolvers = Vec::new();
        for _ in 0..THREADS * PER_THREAD {
            let (d, r) = Deferred::<usize>::new();
            inputs.push(d);
            resolvers.push(r);
        }
        let fired = Arc::new(AtomicUsize::new(0));
        let f = fired.clone();
        let dl = DeferredList::new(inputs).into_deferred().map(move |results| {
            f.fetch_add(1, Ordering::SeqCst);
            results
        });
        let mut handles = Vec::new();
        let mut chunks = resolvers.into_iter();
        for t in 0..THREADS {
            let chunk: Vec<(usize, Resolver<usize>)> =
                (t * PER_THREAD..).zip(chunks.by_ref().take(PER_THREAD)).collect();
            handles.push(std::thread::spawn(move || {
                for (i, r) in chunk {
                    r.callback(i).unwrap();
                }
            }));
        }
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(fired.load(Ordering::SeqCst), 1);
        let values: Vec<usize> = success_result_of(dl).into_iter().map(Result::unwrap).collect();
        assert_eq!(values, (0..THREADS * PER_THREAD).collect::<Vec<_>>());
    }
}

#[test]
fn combinator_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<DeferredList<String>>();
    assert_send_sync::<FirstCallback<String>>();
    assert_send_sync::<FirstError>();
    assert_send_sync::<deferreds::FailureGroup>();
}

/// An input whose step blocks until told to go, and the two ends of that conversation: the
/// step says when it has started, and waits for `go`.
pub(crate) fn blocking_input(
    d: Deferred<u8>,
) -> (Deferred<u8>, std::sync::mpsc::Receiver<()>, std::sync::mpsc::Sender<()>) {
    let (started, has_started) = std::sync::mpsc::channel();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let d = d.map(move |v| {
        started.send(()).unwrap();
        wait.recv().unwrap();
        v
    });
    (d, has_started, go)
}

#[test]
fn cancelling_a_list_while_an_input_runs_its_steps_on_another_thread_waits_for_that_input() {
    let (a, fire_a) = Deferred::<u8>::new();
    let (a, has_started, go) = blocking_input(a);
    let (b, _fire_b) = Deferred::<u8>::new();
    let list = DeferredList::new(vec![a, b]).consume_errors(true).into_deferred();
    let firer = std::thread::spawn(move || fire_a.callback(1).unwrap());
    has_started.recv().unwrap();
    // `b` is cancelled; `a`'s value is on its way, so the list waits for it.
    list.cancel();
    assert_no_result(&list);
    go.send(()).unwrap();
    firer.join().unwrap();
    let results = success_result_of(list);
    assert_eq!(results[0].as_ref().unwrap(), &1);
    assert!(results[1].as_ref().unwrap_err().check::<CancelledError>());
}

#[test]
fn cancelling_a_list_again_reaches_what_an_input_in_flight_went_on_to_wait_on() {
    let (a, fire_a) = Deferred::<u8>::new();
    let (a, has_started, go) = blocking_input(a);
    let (inner, _fire_inner) = Deferred::<u8>::new();
    let a = a.add_callback(move |_| inner);
    let list = DeferredList::new(vec![a]).consume_errors(true).into_deferred();
    let firer = std::thread::spawn(move || fire_a.callback(1).unwrap());
    has_started.recv().unwrap();
    list.cancel(); // `a` is in flight: nothing to cancel yet
    go.send(()).unwrap();
    firer.join().unwrap();
    assert_no_result(&list); // `a` now waits on `inner`
    list.cancel();
    let results = success_result_of(list);
    assert!(results[0].as_ref().unwrap_err().check::<CancelledError>());
}
