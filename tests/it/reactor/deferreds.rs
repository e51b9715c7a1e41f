//! `defer_later` and `Deferred::add_timeout` beyond Twisted's own tests: what the timeout
//! covers, the timer's lifetime, invalid delays, nesting and panics.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use deferreds::reactor::{Clock, InvalidDelayError, Time, TimeoutError, defer_later};
use deferreds::testing::{
    DropCounter, Recorder, assert_no_result, failure_result_of, success_result_of,
};
use deferreds::{CancelledError, Deferred, Failure, PanicError, Resolver};

#[test]
fn defer_later_runs_its_function_as_a_callback_that_may_return_a_deferred() {
    let clock = Clock::new();
    let c = clock.clone();
    let d = defer_later(&clock, 1.0, move || defer_later(&c, 2.0, || Ok("two hops")));
    clock.advance(1.0);
    assert_no_result(&d);
    assert_eq!(clock.pending_calls()[0].get_time(), 3.0);
    clock.advance(2.0);
    assert_eq!(success_result_of(d), "two hops");
}

#[test]
fn a_panic_in_defer_laters_function_fails_the_deferred() {
    let clock = Clock::new();
    let d = defer_later(&clock, 1.0, || -> Result<u8, Failure> { panic!("in defer_later") });
    clock.advance(1.0);
    let failure = failure_result_of(d);
    assert!(failure.check::<PanicError>());
    assert_eq!(failure.error_message(), "in defer_later");
}

#[test]
fn cancelling_defer_later_drops_its_function_at_once() {
    let clock = Clock::new();
    let drops = DropCounter::new();
    let token = drops.token();
    let d = defer_later(&clock, 10.0, move || {
        let _keep = &token;
    });
    d.cancel();
    assert_eq!(drops.dropped(), 1);
    assert!(clock.pending_calls().is_empty());
    assert!(failure_result_of(d).check::<CancelledError>());
}

#[test]
fn cancelling_defer_later_after_it_fired_changes_nothing() {
    let clock = Clock::new();
    let d = defer_later(&clock, 1.0, || Ok(7));
    clock.advance(1.0);
    d.cancel();
    assert_eq!(success_result_of(d), 7);
}

#[test]
fn defer_later_with_an_invalid_delay_has_already_failed() {
    let clock = Clock::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let d = defer_later(&clock, -1.0, move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    let failure = failure_result_of(d);
    assert_eq!(
        failure.downcast_ref::<InvalidDelayError>().map(InvalidDelayError::delay),
        Some(-1.0)
    );
    clock.advance(10.0);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert!(clock.pending_calls().is_empty());
}

#[test]
fn defer_later_takes_any_time_source() {
    let clock = Clock::new();
    let as_dyn: Arc<dyn Time> = Arc::new(clock.clone());
    let boxed: Box<dyn Time> = Box::new(clock.clone());
    let a = defer_later(&as_dyn, 1.0, || Ok(1));
    let b = defer_later(&*boxed, 2.0, || Ok(2));
    let c = defer_later(&&clock, 3.0, || Ok(3));
    clock.advance(3.0);
    assert_eq!([success_result_of(a), success_result_of(b), success_result_of(c)], [1, 2, 3]);
}

/// Twisted: "The timeout encompasses all the callbacks and errbacks added to this Deferred
/// before the call to addTimeout, and none added after the call."
#[test]
fn the_timeout_covers_the_steps_before_it_and_none_after() {
    let clock = Clock::new();
    // Before: a step waiting on a slow inner Deferred is timed out, and the cancellation
    // reaches that inner Deferred.
    let log = Recorder::new();
    let l = log.clone();
    let (slow, _fire_slow) =
        Deferred::<u8>::with_canceller(move |_: &Resolver<u8>| l.record("slow inner cancelled"));
    let (d, r) = Deferred::<u8>::new();
    let d = d.add_callback(move |_| slow).add_timeout(5.0, &clock);
    r.callback(1).unwrap();
    clock.advance(5.0);
    assert_eq!(log.take(), ["slow inner cancelled"]);
    assert!(failure_result_of(d).check::<TimeoutError>());

    // After: the same slow step added after add_timeout is not covered.
    let l = log.clone();
    let (slow, fire_slow) =
        Deferred::<u8>::with_canceller(move |_: &Resolver<u8>| l.record("slow inner cancelled"));
    let (d, r) = Deferred::<u8>::new();
    let d = d.add_timeout(5.0, &clock).add_callback(move |_| slow);
    r.callback(1).unwrap();
    clock.advance(60.0);
    assert!(log.take().is_empty());
    assert_no_result(&d);
    fire_slow.callback(2).unwrap();
    assert_eq!(success_result_of(d), 2);
}

#[test]
fn the_timer_and_its_closure_go_as_soon_as_the_result_arrives() {
    let clock = Clock::new();
    let (d, r) = Deferred::<u8>::new();
    let d = d.add_timeout(30.0, &clock);
    let timer = clock.pending_calls().pop().unwrap();
    assert_eq!(timer.get_time(), 30.0);
    r.callback(5).unwrap();
    assert!(timer.cancelled());
    assert!(clock.pending_calls().is_empty());
    assert_eq!(success_result_of(d), 5);
}

#[test]
fn a_deferred_that_already_has_its_result_needs_no_timer() {
    let clock = Clock::new();
    let d = deferreds::succeed(3).add_timeout(1.0, &clock);
    assert!(clock.pending_calls().is_empty());
    assert_eq!(success_result_of(d), 3);
    let d = deferreds::fail::<u8>(Failure::msg("already failed")).add_timeout(1.0, &clock);
    clock.advance(2.0);
    assert_eq!(failure_result_of(d).error_message(), "already failed");
}

#[test]
fn an_invalid_timeout_replaces_the_result_with_a_typed_failure() {
    let clock = Clock::new();
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        let (d, r) = Deferred::<u8>::new();
        let d = d.add_timeout(bad, &clock);
        assert!(clock.pending_calls().is_empty());
        r.callback(1).unwrap();
        assert!(failure_result_of(d).check::<InvalidDelayError>());
        let d = deferreds::succeed(1).add_timeout(bad, &clock);
        assert!(failure_result_of(d).check::<InvalidDelayError>());
    }
}

#[test]
fn on_timeout_cancel_gets_the_timeout_and_may_return_a_deferred() {
    let clock = Clock::new();
    let c = clock.clone();
    let (d, _r) = Deferred::<String>::new();
    let d = d.add_timeout_with(2.5, &clock, move |result, timeout| {
        assert!(result.unwrap_err().check::<CancelledError>());
        defer_later(&c, 1.0, move || Ok(format!("retried after a {timeout} s timeout")))
    });
    clock.advance(2.5);
    assert_no_result(&d);
    clock.advance(1.0);
    assert_eq!(success_result_of(d), "retried after a 2.5 s timeout");
}

#[test]
fn a_timed_out_deferred_nobody_handles_is_reported_once() {
    let clock = Clock::new();
    let ((), reports) = deferreds::testing::capture_unhandled(|| {
        let (d, r) = Deferred::<u8>::new();
        drop(d.add_timeout(1.0, &clock));
        drop(r);
        // The timer holds the chain until it fires, as Twisted's reactor holds the Deferred.
        clock.advance(1.0);
    });
    assert_eq!(reports.len(), 1);
    assert!(reports[0].failure().check::<TimeoutError>());
}

#[test]
fn timeout_error_carries_the_timeout() {
    let clock = Clock::new();
    let (d, _r) = Deferred::<()>::new();
    let d = d.add_timeout(0.25, &clock);
    clock.advance(0.25);
    let failure = failure_result_of(d);
    let error = failure.downcast_ref::<TimeoutError>().unwrap();
    assert_eq!(error.timeout(), 0.25);
    assert_eq!(error.to_string(), "the Deferred timed out after 0.25 seconds");
}

#[test]
fn a_timer_that_finds_the_steps_before_the_timeout_running_decides_nothing() {
    // The timer fires from inside a step before the timeout: the chain is running its steps,
    // so the cancellation finds nothing to cancel, and the value that then reaches the
    // timeout passes as if it came in time. (Twisted calls the conversion with the value.)
    let clock = Clock::new();
    let converted = Recorder::new();
    let (d, r) = Deferred::<u32>::new();
    let c = clock.clone();
    let log = converted.clone();
    let d = d
        .map(move |v| {
            c.advance(1.0);
            v
        })
        .add_timeout_with(1.0, &clock, move |result: Result<u32, Failure>, _| {
            log.record(format!("{result:?}"));
            Err::<u32, _>(Failure::msg("gave up"))
        });
    r.callback(7).unwrap();
    assert_eq!(success_result_of(d), 7);
    assert!(converted.take().is_empty(), "the conversion never runs");
    assert!(clock.pending_calls().is_empty());
}
