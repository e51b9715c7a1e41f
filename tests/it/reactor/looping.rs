//! `LoopingCall` beyond Twisted's own tests: errors, panics, stopping and restarting with a
//! call in flight, and re-entrant use from inside the function.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use deferreds::reactor::{Clock, LoopingCall, LoopingCallError};
use deferreds::testing::{
    DropCounter, Recorder, assert_no_result, failure_result_of, success_result_of,
};
use deferreds::{Deferred, Failure, PanicError, Step};

type Slot = Arc<Mutex<Option<LoopingCall>>>;

fn slot() -> Slot {
    Arc::new(Mutex::new(None))
}

fn counter() -> (Arc<AtomicUsize>, impl FnMut() + Send + 'static) {
    let n = Arc::new(AtomicUsize::new(0));
    let m = n.clone();
    (n, move || {
        m.fetch_add(1, Ordering::SeqCst);
    })
}

#[test]
fn start_stop_and_reset_refuse_with_typed_errors() {
    let clock = Clock::new();
    let lc = LoopingCall::new(clock.clone(), || ());
    assert_eq!(lc.stop(), Err(LoopingCallError::NotRunning));
    assert_eq!(lc.reset(), Err(LoopingCallError::NotRunning));
    for bad in [-0.5, f64::NAN, f64::INFINITY] {
        assert!(matches!(lc.start(bad, true), Err(LoopingCallError::InvalidInterval(_))));
        assert!(matches!(lc.set_interval(bad), Err(LoopingCallError::InvalidInterval(_))));
    }
    let done = lc.start(1.0, false).unwrap();
    assert_eq!(lc.start(1.0, false).unwrap_err(), LoopingCallError::AlreadyRunning);
    lc.stop().unwrap();
    assert_eq!(lc.stop(), Err(LoopingCallError::NotRunning));
    assert_eq!(success_result_of(done), lc);
    assert_eq!(LoopingCallError::NotRunning.to_string(), "the LoopingCall is not running");
}

#[test]
fn a_panic_in_the_function_stops_the_loop_with_the_panic_as_failure() {
    let clock = Clock::new();
    let n = Arc::new(AtomicUsize::new(0));
    let m = n.clone();
    let lc = LoopingCall::new(clock.clone(), move || {
        if m.fetch_add(1, Ordering::SeqCst) == 2 {
            panic!("third call");
        }
    });
    let done = lc.start(1.0, true).unwrap();
    clock.pump([1.0, 1.0]);
    assert!(!lc.running());
    let failure = failure_result_of(done);
    assert!(failure.check::<PanicError>());
    assert_eq!(failure.error_message(), "third call");
    clock.advance(10.0);
    assert_eq!(n.load(Ordering::SeqCst), 3);
    assert!(clock.pending_calls().is_empty());
    // The function survived the panic: the loop can start again.
    let again = lc.start(1.0, false).unwrap();
    clock.advance(1.0);
    assert_eq!(n.load(Ordering::SeqCst), 4);
    lc.stop().unwrap();
    success_result_of(again);
}

#[test]
fn stopping_while_the_functions_deferred_is_pending_fires_when_it_fires() {
    let clock = Clock::new();
    let pending: Arc<Mutex<Vec<deferreds::Resolver<()>>>> = Arc::new(Mutex::new(Vec::new()));
    let (p, calls) = (pending.clone(), Arc::new(AtomicUsize::new(0)));
    let c = calls.clone();
    let lc = LoopingCall::new(clock.clone(), move || {
        c.fetch_add(1, Ordering::SeqCst);
        let (d, r) = Deferred::<()>::new();
        p.lock().push(r);
        d
    });
    let done = lc.start(1.0, true).unwrap();
    lc.stop().unwrap();
    assert_no_result(&done);
    assert!(clock.pending_calls().is_empty());
    pending.lock()[0].callback(()).unwrap();
    assert_eq!(success_result_of(done), lc);
    clock.advance(10.0);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// Twisted loses the first run's Deferred, and runs two loops at once, if a loop is stopped
/// and started again while a call's Deferred is pending; here the first run's Deferred fires
/// when that call ends, and the new run is not disturbed.
#[test]
fn restarting_while_the_last_run_has_a_call_in_flight_keeps_the_runs_apart() {
    let clock = Clock::new();
    let pending: Arc<Mutex<Vec<deferreds::Resolver<()>>>> = Arc::new(Mutex::new(Vec::new()));
    let log = Recorder::new();
    let (p, l, c) = (pending.clone(), log.clone(), clock.clone());
    let lc = LoopingCall::new(clock.clone(), move || -> Step<()> {
        l.record(format!("call at {}", c.seconds()));
        if c.seconds() == 0.0 {
            let (d, r) = Deferred::<()>::new();
            p.lock().push(r);
            Step::Wait(d)
        } else {
            Step::Value(())
        }
    });
    let first = lc.start(1.0, true).unwrap();
    lc.stop().unwrap();
    clock.advance(0.5);
    let second = lc.start(1.0, false).unwrap(); // next call at 1.5
    assert_no_result(&first);

    // The first run's call finishes: its Deferred fires, and it schedules nothing.
    pending.lock()[0].callback(()).unwrap();
    assert_eq!(success_result_of(first), lc);
    assert_eq!(clock.pending_calls().len(), 1);

    clock.pump([1.0, 1.0]);
    assert_eq!(log.take(), ["call at 0", "call at 1.5", "call at 2.5"]);
    lc.stop().unwrap();
    assert_eq!(success_result_of(second), lc);
}

#[test]
fn the_first_run_after_a_restart_counts_from_the_new_start() {
    let clock = Clock::new();
    let counts = Arc::new(Mutex::new(Vec::new()));
    let c = counts.clone();
    let lc = LoopingCall::with_count(clock.clone(), move |n| c.lock().push(n));
    let _first = lc.start(1.0, true).unwrap();
    clock.pump([1.0, 1.0]);
    lc.stop().unwrap();
    clock.advance(8.0);
    let _second = lc.start(1.0, true).unwrap();
    clock.advance(1.0);
    // Twisted would pass 8 on the restart: it keeps the last call's time across runs.
    assert_eq!(*counts.lock(), [1, 1, 1, 1, 1]);
    lc.stop().unwrap();
}

#[test]
fn stop_from_inside_the_function_then_start_again_does_not_recurse_or_deadlock() {
    let clock = Clock::new();
    let s = slot();
    let log = Recorder::new();
    let (s2, l) = (s.clone(), log.clone());
    let restarted = Arc::new(Mutex::new(None));
    let r2 = restarted.clone();
    let lc = LoopingCall::new(clock.clone(), move || {
        l.record("call");
        let lc = s2.lock().clone().unwrap();
        if r2.lock().is_none() {
            lc.stop().unwrap();
            // Twisted would call the function again right here, recursively.
            *r2.lock() = Some(lc.start(5.0, true).unwrap());
        }
    });
    *s.lock() = Some(lc.clone());
    let first = lc.start(1.0, true).unwrap();
    assert_eq!(success_result_of(first), lc);
    assert_eq!(log.take(), ["call"]);
    assert!(lc.running());
    clock.advance(0.0); // the restarted run's first call, made as soon as the function returned
    assert_eq!(log.take(), ["call"]);
    clock.advance(5.0);
    assert_eq!(log.take(), ["call"]);
    lc.stop().unwrap();
    // The function holds the slot, and through it the loop; and the restarted run's Deferred,
    // which holds the loop as its result. Emptied, nothing is left in a cycle.
    s.lock().take();
    let done = restarted.lock().take().expect("restarted");
    assert_eq!(success_result_of(done), lc);
}

#[test]
fn the_functions_err_stops_the_loop() {
    let clock = Clock::new();
    let lc = LoopingCall::new(clock.clone(), || -> Result<u32, Failure> {
        Err(Failure::msg("no more"))
    });
    let done = lc.start(1.0, false).unwrap();
    assert_no_result(&done);
    clock.advance(1.0);
    assert_eq!(failure_result_of(done).error_message(), "no more");
    assert!(!lc.running());
    assert!(clock.pending_calls().is_empty());
}

#[test]
fn a_running_loop_keeps_going_without_any_handle() {
    let clock = Clock::new();
    let (n, f) = counter();
    let done = LoopingCall::new(clock.clone(), f).start(1.0, true).unwrap();
    clock.pump([1.0; 4]);
    assert_eq!(n.load(Ordering::SeqCst), 5);
    assert_no_result(&done);
    // It lives as long as its clock: the clock's pending call owns it.
    assert_eq!(clock.pending_calls().len(), 1);
}

#[test]
fn calls_stay_aligned_on_the_start_time() {
    let clock = Clock::new();
    clock.advance(0.3);
    let times = Arc::new(Mutex::new(Vec::new()));
    let (t, c) = (times.clone(), clock.clone());
    let lc = LoopingCall::new(clock.clone(), move || t.lock().push(c.seconds()));
    let _done = lc.start(1.0, false).unwrap();
    clock.pump([1.25, 1.0, 0.5, 0.25]); // late by 0.25, then on time
    assert_eq!(*times.lock(), [1.55, 2.55, 3.3]);
    assert_eq!(clock.pending_calls()[0].get_time(), 4.3);
    lc.stop().unwrap();
}

#[test]
fn reset_while_a_call_is_in_flight_does_nothing() {
    let clock = Clock::new();
    let s = slot();
    let s2 = s.clone();
    let seen = Arc::new(Mutex::new(None));
    let seen2 = seen.clone();
    let lc = LoopingCall::new(clock.clone(), move || {
        *seen2.lock() = Some(s2.lock().as_ref().unwrap().reset());
    });
    *s.lock() = Some(lc.clone());
    let _done = lc.start(2.0, true).unwrap();
    assert_eq!(*seen.lock(), Some(Ok(())));
    assert_eq!(clock.pending_calls()[0].get_time(), 2.0);
    lc.stop().unwrap();
    s.lock().take();
}

#[test]
fn debug_shows_running_and_interval() {
    let clock = Clock::new();
    let lc = LoopingCall::new(clock.clone(), || ());
    assert_eq!(format!("{lc:?}"), "LoopingCall { running: false, interval: None }");
    let _done = lc.start(0.5, false).unwrap();
    assert_eq!(format!("{lc:?}"), "LoopingCall { running: true, interval: Some(0.5) }");
    lc.stop().unwrap();
}

/// The loop holds its clock weakly: dropping every other handle to the clock discards the
/// loop's pending call, and the loop, its function and what the function owns are freed with
/// the last handle to the loop. (Held strongly, the clock and the running loop would keep each
/// other alive for ever.)
#[test]
fn dropping_the_clock_frees_a_running_loop_and_its_function() {
    let counter = DropCounter::new();
    let clock = Clock::new();
    let token = counter.token();
    let lc = LoopingCall::new(clock.clone(), move || {
        let _ = &token;
    });
    let done = lc.start(1.0, true).unwrap();
    clock.advance(1.0);
    assert!(lc.running());
    drop(lc);
    assert_eq!(counter.alive(), 1, "the clock's pending call keeps the loop running");
    drop(clock);
    assert_eq!(counter.alive(), 0, "nothing keeps the loop once the clock is gone");
    // Nothing can fire the loop's Deferred any more.
    assert_no_result(&done);
}

/// Without its clock a loop cannot start or reset (typed errors, nothing changed), and a loop
/// that was running can still be stopped, which fires its Deferred.
#[test]
fn without_its_clock_a_loop_refuses_start_and_reset_and_can_still_stop() {
    let clock = Clock::new();
    let idle = LoopingCall::new(clock.clone(), || ());
    let running = LoopingCall::new(clock.clone(), || ());
    let done = running.start(1.0, false).unwrap();
    drop(clock);

    assert_eq!(idle.start(1.0, true).unwrap_err(), LoopingCallError::TimeSourceDropped);
    assert!(!idle.running());
    // An invalid interval is still reported as such.
    assert_eq!(idle.start(-1.0, true).unwrap_err(), LoopingCallError::InvalidInterval(-1.0));

    assert_eq!(running.reset().unwrap_err(), LoopingCallError::TimeSourceDropped);
    assert!(running.running());
    assert_no_result(&done);
    running.stop().unwrap();
    assert_eq!(success_result_of(done), running);
}

/// The same holds for a `Reactor`: a loop on it lives while the reactor does.
#[test]
fn dropping_the_reactor_frees_a_loop_scheduled_on_it() {
    let counter = DropCounter::new();
    let reactor = deferreds::reactor::Reactor::new();
    let token = counter.token();
    let lc = LoopingCall::new(reactor.clone(), move || {
        let _ = &token;
    });
    let _done = lc.start(60.0, false).unwrap();
    drop(lc);
    assert_eq!(counter.alive(), 1);
    drop(reactor);
    assert_eq!(counter.alive(), 0);
}
