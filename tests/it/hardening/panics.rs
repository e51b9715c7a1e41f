//! Panics in user code never poison the crate: a panic in a callback, an errback, a canceller,
//! the unhandled-failure hook, a call the reactor runs, or a future becomes a failure (or a
//! report), and whatever it happened in keeps working. Every lock is `parking_lot`'s, which
//! has no poisoning; these tests show that no state is left half-changed either.

use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Waker};

use crate::hardening::support::{Guarded, PanickingWaker, PanicsOnDrop, is_panic};
use deferreds::testing::{Recorder, capture_unhandled, failure_result_of, success_result_of};
use deferreds::{
    AlreadyCalledError, CancelledError, Deferred, DeferredLock, Failure, ensure_deferred,
};

#[test]
fn a_panicking_callback_or_errback_fails_its_step_and_the_chain_goes_on() {
    let log = Recorder::new();
    let (d, r) = Deferred::<u8>::new();
    let l = log.clone();
    let d = d
        .map(|_| -> u8 { panic!("in a callback") })
        .add_errback(move |f| {
            l.record(format!("errback saw the panic: {}", is_panic(&f, "in a callback")));
            Err(f)
        })
        .add_errback(|_| -> Result<u8, Failure> { panic!("in an errback") })
        .add_errback(|f| if is_panic(&f, "in an errback") { Ok(7) } else { Err(f) });
    r.callback(1).unwrap();
    assert_eq!(log.take(), ["errback saw the panic: true"]);
    // The chain is not poisoned: steps added now run at once, and its resolver still answers.
    let d = d.map(|n| n + 1);
    assert!(r.callback(2).is_err_and(|e: AlreadyCalledError| e.to_string().contains("already")));
    assert_eq!(success_result_of(d), 8);
    // Nor is anything else: the next chain on this thread runs as usual.
    assert_eq!(success_result_of(deferreds::succeed(1).map(|n| n * 2)), 2);
}

#[test]
fn a_panicking_canceller_becomes_the_failure_and_the_deferred_keeps_working() {
    let (d, r) = Deferred::<u8>::with_canceller(|_| panic!("in a canceller"));
    let d = d.add_errback(|f| {
        assert!(is_panic(&f, "in a canceller"));
        Err(f)
    });
    d.cancel();
    d.cancel(); // once settled, a cancel does nothing
    assert!(r.callback(1).is_err(), "a typed refusal, no grace after a canceller");
    let d = d.add_errback(|_| Ok(5)).map(|n| n + 1);
    assert_eq!(success_result_of(d), 6);
    // Another canceller on this thread runs as usual.
    let (d, _r) = Deferred::<u8>::with_canceller(|r| r.callback(9).unwrap());
    d.cancel();
    assert_eq!(success_result_of(d), 9);
}

#[test]
fn a_panic_in_a_step_of_a_nested_chain_reaches_the_outer_chain() {
    let (inner, fire_inner) = Deferred::<u8>::new();
    let inner = inner.map(|_| -> u8 { panic!("deep inside") });
    let outer = deferreds::succeed(()).add_callback(move |()| inner).map(|n| n + 1);
    fire_inner.callback(1).unwrap();
    assert!(is_panic(&failure_result_of(outer), "deep inside"));
}

#[test]
fn a_panic_inside_a_lock_releases_the_lock() {
    let lock = DeferredLock::new();
    let d = lock.run(|| -> Result<(), Failure> { panic!("while holding the lock") });
    assert!(is_panic(&failure_result_of(d), "while holding the lock"));
    assert!(!lock.is_locked());
    assert_eq!(success_result_of(lock.run(|| Ok::<_, Failure>(3))), 3);
}

#[test]
fn a_panicking_unhandled_hook_is_contained_and_later_reports_still_reach_it() {
    let _hook = crate::hardening::support::HOOK.lock();
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    deferreds::set_unhandled_hook(move |report| {
        if report.failure().error_message().starts_with("panics-test") {
            let n = s.fetch_add(1, SeqCst);
            if n == 0 {
                panic!("the hook itself panicked");
            }
        }
    });
    // On a fresh thread: no capture is active there, so the hook is used.
    std::thread::spawn(|| {
        drop(deferreds::fail::<u8>(Failure::msg("panics-test 1"))); // the hook panics: contained
        drop(deferreds::fail::<u8>(Failure::msg("panics-test 2"))); // reaches the hook again
        // And Deferreds still work on this thread.
        assert_eq!(success_result_of(deferreds::succeed(1)), 1);
    })
    .join()
    .expect("no panic escaped the drops");
    deferreds::reset_unhandled_hook();
    assert_eq!(seen.load(SeqCst), 2);
}

#[test]
fn a_panicking_future_fails_its_deferred_and_the_thread_runs_other_tasks() {
    // In the first poll, in a later one (on the thread that fires what it awaits), and in its
    // destructor.
    let d = Deferred::<u8>::from_future(async { panic!("at once") });
    assert!(is_panic(&failure_result_of(d), "at once"));
    let (go, fire) = Deferred::<()>::new();
    let d = ensure_deferred(async move {
        go.await?;
        if true {
            panic!("after resuming");
        }
        Ok::<u8, Failure>(0)
    });
    let (other, fire_other) = Deferred::<u8>::new();
    let e = ensure_deferred(async move { Ok::<_, Failure>(other.await? + 1) });
    fire.callback(()).unwrap();
    assert!(is_panic(&failure_result_of(d), "after resuming"));
    fire_other.callback(1).unwrap();
    assert_eq!(success_result_of(e), 2, "the runner on this thread is not stuck");

    // In its destructor, after it completed (the guard sits beside the future it runs, so it
    // outlives the completion): with a value, the panic is the failure; with a failure, that
    // failure stands and the panic is reported rather than lost. A cancelled `from_future`
    // whose destructor panics fails with the cancellation, and the panic is reported too.
    let ((), reports) = capture_unhandled(|| {
        let d = ensure_deferred(Guarded(std::future::ready(Ok::<u8, Failure>(1)), PanicsOnDrop));
        assert!(is_panic(&failure_result_of(d), "in a destructor"));
        let failed = std::future::ready(Err::<u8, _>(Failure::msg("failed first")));
        let d = ensure_deferred(Guarded(failed, PanicsOnDrop));
        assert_eq!(failure_result_of(d).error_message(), "failed first");
        let (pending, _keep) = Deferred::<u8>::new();
        let guard = PanicsOnDrop;
        let d = Deferred::from_future(async move {
            let _guard = guard;
            pending.await
        });
        d.cancel();
        assert!(failure_result_of(d).check::<CancelledError>());
    });
    let reported: Vec<bool> =
        reports.iter().map(|r| is_panic(r.failure(), "in a destructor")).collect();
    assert_eq!(reported, [true, true]);
}

#[test]
fn a_panicking_waker_does_not_strand_the_chain_that_fired_its_deferred() {
    // Regression: the panic unwound out of the trampoline while it still owned the chain that
    // fired the awaited Deferred through `chain_deferred`; that chain stayed "running" for
    // good, and its later steps never ran.
    let log = Recorder::new();
    let (a, fire_a) = Deferred::<u8>::new();
    let (b, fire_b) = Deferred::<u8>::new();
    let l = log.clone();
    let a = a.chain_deferred(&fire_b).map(move |()| l.record("a went on"));
    let mut b = b.into_future();
    let waker = Waker::from(Arc::new(PanickingWaker));
    assert!(std::pin::Pin::new(&mut b).poll(&mut Context::from_waker(&waker)).is_pending());

    let fired = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fire_a.callback(1)));
    assert!(fired.is_err(), "the waker's panic reaches the caller");
    assert_eq!(log.take(), ["a went on"], "a's run was finished before the panic went on");
    success_result_of(a);
    drop(b);
}

#[cfg(feature = "reactor")]
mod reactor {
    use std::sync::Arc;

    use parking_lot::Mutex;

    use deferreds::reactor::{
        Clock, LoopingCall, Phase, Reactor, ReactorFailure, SystemEvent, defer_later,
    };
    use deferreds::testing::{Recorder, failure_result_of, success_result_of};

    use super::is_panic;

    #[test]
    fn every_kind_of_reactor_call_may_panic_and_the_loop_goes_on() {
        let reactor = Reactor::new();
        let log = Recorder::new();
        let failures = Arc::new(Mutex::new(Vec::new()));
        let f = failures.clone();
        reactor.set_failure_handler(move |report: &ReactorFailure| {
            f.lock().push(format!("{}: {}", report.context(), report.failure().error_message()));
        });
        reactor.call_when_running(|| panic!("call_when_running"));
        reactor.add_system_event_trigger(Phase::Before, SystemEvent::Startup, || -> () {
            panic!("startup trigger")
        });
        reactor.add_system_event_trigger(Phase::During, SystemEvent::Shutdown, || -> () {
            panic!("shutdown trigger")
        });
        let l = log.clone();
        reactor.add_system_event_trigger(Phase::After, SystemEvent::Shutdown, move || {
            l.record("shutdown completed");
        });
        reactor.call_later(0.0, || panic!("timed call")).unwrap();
        reactor.call_from_thread(|| panic!("call_from_thread"));
        let (l, r) = (log.clone(), reactor.clone());
        reactor
            .call_later(0.001, move || {
                l.record("a later call ran");
                // The same reactor takes new calls of each kind after those panics.
                let (l2, r2) = (l.clone(), r.clone());
                r.call_from_thread(move || {
                    l2.record("a later thread call ran");
                    r2.stop().unwrap();
                });
            })
            .unwrap();
        // A looping call whose function panics on its second run: its Deferred fails with the
        // panic, and it can be started again.
        let runs = Arc::new(Mutex::new(0));
        let n = runs.clone();
        let looping = LoopingCall::new(reactor.clone(), move || {
            *n.lock() += 1;
            if *n.lock() == 2 {
                panic!("looping call");
            }
        });
        let done = looping.start(0.0001, true).unwrap();
        reactor.run().unwrap();
        assert_eq!(
            log.take(),
            ["a later call ran", "a later thread call ran", "shutdown completed"]
        );
        let mut got = failures.lock().clone();
        got.sort();
        assert_eq!(
            got,
            [
                "while calling from thread: call_from_thread",
                "while calling system event trigger handler: call_when_running",
                "while calling system event trigger handler: shutdown trigger",
                "while calling system event trigger handler: startup trigger",
                "while handling timed call: timed call",
            ]
        );
        assert!(is_panic(&failure_result_of(done), "looping call"));
        assert!(!looping.running());
        let again = looping.start(1.0, true).unwrap();
        assert_eq!(*runs.lock(), 3, "started again, it ran at once");
        looping.stop().unwrap();
        success_result_of(again);
    }

    #[test]
    fn a_panicking_call_unwinds_out_of_advance_and_the_clock_goes_on() {
        let clock = Clock::new();
        let log = Recorder::new();
        clock.call_later(1.0, || panic!("timed call")).unwrap();
        let l = log.clone();
        clock.call_later(2.0, move || l.record("the next call ran")).unwrap();
        let d = defer_later(&clock, 2.0, || -> Result<u8, deferreds::Failure> {
            panic!("defer_later's function")
        });
        let advanced =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| clock.advance(1.0)));
        assert!(advanced.is_err(), "a Clock is a test tool: the panic reaches `advance`");
        clock.advance(1.0);
        assert_eq!(log.take(), ["the next call ran"]);
        assert!(is_panic(&failure_result_of(d), "defer_later's function"));
        assert_eq!(clock.seconds(), 2.0);
    }
}
