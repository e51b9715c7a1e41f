//! The real-time `Reactor`. Every test runs for a few tens of milliseconds of real time at most
//! and asserts the order of events, never their timing, so a loaded machine cannot make it
//! fail. Where a lost wake-up would make a test sleep until its next timer, a watchdog timer a
//! few seconds away stops the reactor and the test fails on the event it records.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use parking_lot::Mutex;

use deferreds::reactor::{
    LoopingCall, Phase, Reactor, ReactorError, ReactorFailure, SystemEvent, defer_later,
};
use deferreds::testing::{DropCounter, Recorder, success_result_of};

/// Stops the reactor after `secs` and records that it had to: a test that sees "watchdog"
/// waited for something that never came.
fn watchdog(reactor: &Reactor, log: &Recorder, secs: f64) {
    let (r, l) = (reactor.clone(), log.clone());
    reactor
        .call_later(secs, move || {
            l.record("watchdog");
            let _ = r.stop();
        })
        .unwrap();
}

/// Collects what the reactor reports to its failure handler.
fn collect_failures(reactor: &Reactor) -> Arc<Mutex<Vec<(String, String)>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    reactor.set_failure_handler(move |report: &ReactorFailure| {
        s.lock().push((report.context().to_string(), report.failure().error_message()));
    });
    seen
}

/// The story of Twisted's e18 snippet, plus a call from another thread that must wake the
/// sleeping loop, and a shutdown that waits for a Deferred.
#[test]
fn run_orders_startup_timers_thread_calls_panics_stop_and_shutdown() {
    let reactor = Reactor::new();
    let log = Recorder::new();
    let failures = collect_failures(&reactor);
    let (to_worker, worker_rx) = mpsc::channel::<()>();

    let (l, r) = (log.clone(), reactor.clone());
    reactor.call_when_running(move || l.record(format!("running: {}", r.running())));

    let (l, r) = (log.clone(), reactor.clone());
    reactor
        .call_later(0.0, move || {
            l.record("t0");
            let l2 = l.clone();
            r.call_later(0.0, move || l2.record("nested call_later(0): next iteration")).unwrap();
            let l3 = l.clone();
            r.call_from_thread(move || l3.record("call_from_thread: start of next iteration"));
            let l4 = l.clone();
            r.call_when_running(move || l4.record("call_when_running while running: at once"));
        })
        .unwrap();
    let l = log.clone();
    reactor.call_later(0.0, move || l.record("t0b")).unwrap();

    reactor.call_later(0.01, || panic!("division by zero")).unwrap();

    let l = log.clone();
    reactor
        .call_later(0.02, move || {
            l.record("20 ms");
            to_worker.send(()).unwrap();
        })
        .unwrap();

    // Shutdown: "before" waits for a Deferred; "during" and "after" run once it fires.
    let (l, r) = (log.clone(), reactor.clone());
    reactor.add_system_event_trigger(Phase::Before, SystemEvent::Shutdown, move || {
        l.record("before shutdown");
        let l2 = l.clone();
        defer_later(&r, 0.01, move || l2.record("before shutdown's Deferred fired"))
    });
    let (l, r) = (log.clone(), reactor.clone());
    reactor.add_system_event_trigger(Phase::During, SystemEvent::Shutdown, move || {
        l.record(format!("during shutdown, running: {}", r.running()))
    });
    let l = log.clone();
    reactor.add_system_event_trigger(Phase::After, SystemEvent::Shutdown, move || {
        l.record("after shutdown")
    });

    watchdog(&reactor, &log, 5.0);

    // Once the "20 ms" call has run, nothing is due for seconds: the loop sleeps, and only
    // the wake that `call_from_thread` makes can get this call to run.
    let (r, l) = (reactor.clone(), log.clone());
    let worker = thread::spawn(move || {
        worker_rx.recv().unwrap();
        thread::sleep(Duration::from_millis(10));
        let r2 = r.clone();
        r.call_from_thread(move || {
            l.record(format!(
                "from worker, on reactor thread: {}",
                thread::current().name() == Some("reactor")
            ));
            r2.stop().unwrap();
            l.record(format!("second stop: {:?}", r2.stop()));
        });
    });

    let runner = reactor.clone();
    thread::Builder::new()
        .name("reactor".into())
        .spawn(move || runner.run())
        .unwrap()
        .join()
        .unwrap()
        .unwrap();
    worker.join().unwrap();

    assert_eq!(
        log.take(),
        [
            "running: true",
            "t0",
            "call_when_running while running: at once",
            "t0b",
            "call_from_thread: start of next iteration",
            "nested call_later(0): next iteration",
            "20 ms",
            "from worker, on reactor thread: true",
            "second stop: Err(NotRunning)",
            "before shutdown",
            "before shutdown's Deferred fired",
            "during shutdown, running: false",
            "after shutdown",
        ]
    );
    assert_eq!(
        *failures.lock(),
        [("while handling timed call".to_string(), "division by zero".to_string())]
    );
    assert!(!reactor.running());
    assert_eq!(reactor.run(), Err(ReactorError::NotRestartable));
    assert_eq!(reactor.stop(), Err(ReactorError::NotRunning));
}

#[test]
fn a_call_later_from_another_thread_that_becomes_the_earliest_wakes_the_loop() {
    let reactor = Reactor::new();
    let log = Recorder::new();
    watchdog(&reactor, &log, 5.0);
    let (r, l) = (reactor.clone(), log.clone());
    reactor.call_when_running(move || {
        // The loop is about to sleep until the watchdog; a timer from another thread, due
        // much sooner, must cut that sleep short.
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(5));
            let r2 = r.clone();
            r.call_later(0.005, move || {
                l.record("early timer");
                r2.stop().unwrap();
            })
            .unwrap();
        });
    });
    reactor.run().unwrap();
    assert_eq!(log.take(), ["early timer"]);
}

#[test]
fn a_blocking_call_delays_every_later_timer() {
    let reactor = Reactor::new();
    let log = Recorder::new();
    let (l, r) = (log.clone(), reactor.clone());
    reactor
        .call_later(0.0, move || {
            l.record("sleep_then_print: blocking 30 ms");
            thread::sleep(Duration::from_millis(30));
            l.record(format!("done blocking at >= 30 ms: {}", r.seconds() >= 0.03));
        })
        .unwrap();
    let (l, r) = (log.clone(), reactor.clone());
    reactor
        .call_later(0.01, move || {
            l.record(format!("the 10 ms timer ran at >= 30 ms: {}", r.seconds() >= 0.03));
            r.stop().unwrap();
        })
        .unwrap();
    reactor.run().unwrap();
    assert_eq!(
        log.take(),
        [
            "sleep_then_print: blocking 30 ms",
            "done blocking at >= 30 ms: true",
            "the 10 ms timer ran at >= 30 ms: true",
        ]
    );
}

#[test]
fn everything_runs_on_the_thread_that_called_run() {
    let reactor = Reactor::new();
    let threads = Arc::new(Mutex::new(Vec::new()));
    let record = |t: &Arc<Mutex<Vec<thread::ThreadId>>>| {
        let t = t.clone();
        move || t.lock().push(thread::current().id())
    };
    // Handed over from other threads, before and while running.
    let r = reactor.clone();
    let rec = record(&threads);
    thread::spawn(move || r.call_from_thread(rec)).join().unwrap();
    reactor.call_later(0.0, record(&threads)).unwrap();
    reactor.add_system_event_trigger(Phase::During, SystemEvent::Startup, record(&threads));
    let (r, t) = (reactor.clone(), threads.clone());
    reactor.call_when_running(move || {
        let (r2, t2) = (r.clone(), t.clone());
        thread::spawn(move || {
            let r3 = r2.clone();
            // Running, but called from another thread: handed over.
            r2.call_when_running(move || {
                t2.lock().push(thread::current().id());
                r3.stop().unwrap();
            });
        });
    });
    let main = thread::current().id();
    reactor.run().unwrap();
    let threads = threads.lock();
    assert_eq!(threads.len(), 4);
    assert!(threads.iter().all(|&t| t == main));
}

#[test]
fn calls_handed_over_before_run_run_in_the_first_iteration_and_after_run_are_dropped() {
    let reactor = Reactor::new();
    let log = Recorder::new();
    let l = log.clone();
    reactor.call_from_thread(move || l.record("handed over before run"));
    let r = reactor.clone();
    reactor.call_later(0.0, move || r.stop().unwrap()).unwrap();
    reactor.run().unwrap();
    assert_eq!(log.take(), ["handed over before run"]);

    let drops = DropCounter::new();
    let (t1, t2, t3) = (drops.token(), drops.token(), drops.token());
    reactor.call_from_thread(move || drop(t1));
    assert_eq!(reactor.call_when_running(move || drop(t2)), None);
    let call = reactor.call_later(0.0, move || drop(t3)).unwrap();
    assert_eq!(drops.dropped(), 3, "a reactor that has run can never run them");
    assert!(call.cancelled());
}

#[test]
fn calls_still_pending_when_run_returns_are_discarded_and_free_the_reactor() {
    let reactor = Reactor::new();
    let drops = DropCounter::new();
    let token = drops.token();
    // A closure that holds the reactor: a cycle while it is pending.
    let r = reactor.clone();
    let late = reactor
        .call_later(3600.0, move || {
            let _keep = (&token, &r);
        })
        .unwrap();
    let r = reactor.clone();
    reactor.call_later(0.0, move || r.stop().unwrap()).unwrap();
    reactor.run().unwrap();
    assert_eq!(drops.dropped(), 1);
    assert!(late.cancelled());
    assert!(reactor.pending_calls().is_empty());
}

#[test]
fn stop_run_and_restart_errors() {
    let reactor = Reactor::new();
    assert_eq!(reactor.stop(), Err(ReactorError::NotRunning));
    let seen = Recorder::new();
    let (r, s) = (reactor.clone(), seen.clone());
    reactor.call_when_running(move || {
        s.record(format!("{:?}", r.run()));
        r.stop().unwrap();
    });
    reactor.run().unwrap();
    assert_eq!(seen.take(), ["Err(AlreadyRunning)"]);
    assert_eq!(reactor.run(), Err(ReactorError::NotRestartable));
    assert_eq!(
        ReactorError::NotRestartable.to_string(),
        "the reactor has already run and cannot be restarted"
    );
}

#[test]
fn startup_triggers_run_in_phases_and_can_be_removed() {
    let reactor = Reactor::new();
    let log = Recorder::new();
    let (l, r) = (log.clone(), reactor.clone());
    reactor.add_system_event_trigger(Phase::After, SystemEvent::Startup, move || {
        l.record(format!("after startup, running: {}", r.running()));
        r.stop().unwrap();
    });
    let (l, r) = (log.clone(), reactor.clone());
    reactor.add_system_event_trigger(Phase::During, SystemEvent::Startup, move || {
        l.record(format!("during startup, running: {}", r.running()))
    });
    let (l, r) = (log.clone(), reactor.clone());
    reactor.add_system_event_trigger(Phase::Before, SystemEvent::Startup, move || {
        l.record(format!("before startup, running: {}", r.running()))
    });
    let removed =
        reactor.add_system_event_trigger(Phase::Before, SystemEvent::Startup, || -> () {
            panic!("removed")
        });
    assert!(reactor.remove_system_event_trigger(removed));
    reactor.run().unwrap();
    assert_eq!(
        log.take(),
        [
            "before startup, running: false",
            "during startup, running: true",
            "after startup, running: true"
        ]
    );
}

#[test]
fn panics_in_thread_calls_and_triggers_are_reported_and_the_loop_goes_on() {
    let reactor = Reactor::new();
    let failures = collect_failures(&reactor);
    reactor.call_from_thread(|| panic!("in a thread call"));
    reactor.add_system_event_trigger(Phase::During, SystemEvent::Startup, || -> () {
        panic!("in a trigger")
    });
    let r = reactor.clone();
    reactor.call_later(0.0, move || r.stop().unwrap()).unwrap();
    reactor.run().unwrap();
    let mut got = failures.lock().clone();
    got.sort();
    assert_eq!(
        got,
        [
            ("while calling from thread".to_string(), "in a thread call".to_string()),
            ("while calling system event trigger handler".to_string(), "in a trigger".to_string()),
        ]
    );
}

#[test]
fn a_failed_before_shutdown_deferred_is_reported_and_shutdown_completes() {
    let reactor = Reactor::new();
    let failures = collect_failures(&reactor);
    let (d, fire) = deferreds::Deferred::<()>::new();
    let d = Arc::new(Mutex::new(Some(d)));
    reactor.add_system_event_trigger(Phase::Before, SystemEvent::Shutdown, move || {
        d.lock().take().unwrap()
    });
    let r = reactor.clone();
    reactor
        .call_later(0.0, move || {
            r.stop().unwrap();
            // Fired from another thread: the reactor thread finishes the shutdown.
            thread::spawn(move || fire.errback(deferreds::Failure::msg("flush failed")).unwrap());
        })
        .unwrap();
    reactor.run().unwrap();
    assert_eq!(
        *failures.lock(),
        [("while calling system event trigger handler".to_string(), "flush failed".to_string())]
    );
}

#[test]
fn a_looping_call_and_defer_later_run_on_real_time() {
    let reactor = Reactor::new();
    let ticks = Arc::new(AtomicUsize::new(0));
    let t = ticks.clone();
    let slot: Arc<Mutex<Option<LoopingCall>>> = Arc::new(Mutex::new(None));
    let s = slot.clone();
    let lc = LoopingCall::new(reactor.clone(), move || {
        if t.fetch_add(1, Ordering::SeqCst) + 1 == 3 {
            s.lock().as_ref().unwrap().stop().unwrap();
        }
    });
    *slot.lock() = Some(lc.clone());
    let r = reactor.clone();
    let done = lc
        .start(0.005, true)
        .unwrap()
        .add_callback(move |_| defer_later(&r, 0.005, || Ok("slept")))
        .map({
            let r = reactor.clone();
            move |s| {
                r.stop().unwrap();
                s
            }
        });
    reactor.run().unwrap();
    assert_eq!(ticks.load(Ordering::SeqCst), 3);
    assert_eq!(success_result_of(done), "slept");
    slot.lock().take();
}
