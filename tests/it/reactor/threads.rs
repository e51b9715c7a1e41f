//! The reactor's thread pool: `defer_to_thread` and `call_in_thread`. Real threads and a real
//! reactor; the tests assert order and counts, never timing. Blocking work waits on channels
//! the test controls, with a watchdog timer that stops the reactor if something never comes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use deferreds::reactor::{Reactor, ReactorFailure, ThreadPoolError};
use deferreds::testing::{DropCounter, Recorder, failure_result_of, success_result_of};
use deferreds::{Deferred, Failure, PanicError, gather_results};

/// Runs `reactor` until `done` fires (or a ten-second watchdog gives up) and returns the result.
fn run_until<T: Send + 'static>(reactor: &Reactor, done: Deferred<T>) -> Result<T, Failure> {
    let r = reactor.clone();
    reactor
        .call_later(10.0, move || {
            let _ = r.stop();
        })
        .unwrap();
    let slot = Arc::new(Mutex::new(None));
    let (s, r) = (slot.clone(), reactor.clone());
    let _ = done.add_both(move |result| {
        *s.lock() = Some(result);
        let r2 = r.clone();
        r.call_when_running(move || {
            let _ = r2.stop();
        });
    });
    reactor.run().unwrap();
    slot.lock().take().expect("the watchdog stopped the reactor: the Deferred never fired")
}

#[test]
fn defer_to_thread_runs_the_work_on_another_thread_and_fires_on_the_reactor_thread() {
    let reactor = Reactor::new();
    let here = thread::current().id();
    let d = reactor
        .defer_to_thread(|| Ok(thread::current().id()))
        .map(move |worker| (worker != here, thread::current().id() == here));
    assert_eq!(run_until(&reactor, d).unwrap(), (true, true));
}

#[test]
fn an_error_from_the_work_is_the_deferreds_failure() {
    let reactor = Reactor::new();
    let d = reactor.defer_to_thread(|| -> Result<u8, Failure> { Err(Failure::msg("disk full")) });
    assert_eq!(run_until(&reactor, d).unwrap_err().error_message(), "disk full");
}

#[test]
fn a_panic_in_the_work_becomes_the_deferreds_failure_and_the_pool_goes_on() {
    let reactor = Reactor::new();
    reactor.suggest_thread_pool_size(1).unwrap();
    let panicked = reactor.defer_to_thread(|| -> Result<u8, Failure> { panic!("worker bug") });
    let after = reactor.defer_to_thread(|| Ok(2u8));
    let both = gather_results([
        panicked.add_errback(|f| {
            assert!(f.check::<PanicError>());
            assert_eq!(f.error_message(), "worker bug");
            Ok(1)
        }),
        after,
    ]);
    assert_eq!(run_until(&reactor, both).unwrap(), [1, 2]);
}

#[test]
fn a_one_thread_pool_runs_work_and_delivers_results_in_the_order_handed_over() {
    let reactor = Reactor::new();
    reactor.suggest_thread_pool_size(1).unwrap();
    let ran = Recorder::new();
    let delivered = Recorder::new();
    let all: Vec<_> = (0..20)
        .map(|i| {
            let (ran, delivered) = (ran.clone(), delivered.clone());
            reactor
                .defer_to_thread(move || {
                    ran.record(i.to_string());
                    Ok(i)
                })
                .map(move |i| delivered.record(i.to_string()))
        })
        .collect();
    run_until(&reactor, gather_results(all)).unwrap();
    let expected: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    assert_eq!(ran.take(), expected);
    assert_eq!(delivered.take(), expected);
}

#[test]
fn the_pool_runs_no_more_threads_than_its_size_and_queues_the_rest() {
    let reactor = Reactor::new();
    reactor.suggest_thread_pool_size(3).unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (release, released) = mpsc::channel::<()>();
    let released = Arc::new(Mutex::new(released));
    let threads = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let jobs: Vec<_> = (0..8)
        .map(|_| {
            let (running, most, released, threads) =
                (running.clone(), most.clone(), released.clone(), threads.clone());
            reactor.defer_to_thread(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                threads.lock().insert(thread::current().id());
                // Wait for the test's go-ahead: one message per job.
                released.lock().recv_timeout(Duration::from_secs(10)).expect("released");
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            })
        })
        .collect();
    // Three jobs start; the other five wait in line however long we look.
    let deadline = Instant::now() + Duration::from_secs(10);
    while running.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    thread::sleep(Duration::from_millis(30));
    assert_eq!(running.load(Ordering::SeqCst), 3);
    for _ in 0..8 {
        release.send(()).unwrap();
    }
    run_until(&reactor, gather_results(jobs)).unwrap();
    assert_eq!(most.load(Ordering::SeqCst), 3);
    assert_eq!(threads.lock().len(), 3, "three threads did all the work");
}

#[test]
fn stopping_the_reactor_fails_queued_work_and_waits_for_work_in_flight() {
    let reactor = Reactor::new();
    reactor.suggest_thread_pool_size(1).unwrap();
    let log = Recorder::new();
    let (started, has_started) = mpsc::channel::<()>();
    let (l1, l2) = (log.clone(), log.clone());
    let in_flight = reactor
        .defer_to_thread(move || {
            started.send(()).unwrap();
            // Still running when the reactor stops: the shutdown waits for it.
            thread::sleep(Duration::from_millis(30));
            Ok("in flight")
        })
        .add_both(move |r| {
            l1.record(format!("in flight: {r:?}"));
            Ok::<_, Failure>(())
        });
    let here = thread::current().id();
    let queued = reactor.defer_to_thread(|| Ok("queued")).add_both(move |r| {
        assert_eq!(thread::current().id(), here, "delivered on the reactor thread");
        let f = r.unwrap_err();
        l2.record(format!("queued: {}", f.downcast_ref::<ThreadPoolError>().unwrap()));
        Ok::<_, Failure>(())
    });
    has_started.recv_timeout(Duration::from_secs(10)).unwrap();
    let r = reactor.clone();
    reactor.call_when_running(move || r.stop().unwrap());
    reactor.run().unwrap();
    assert_eq!(
        log.take(),
        [
            "queued: the reactor's thread pool stopped before this work could run",
            "in flight: Ok(\"in flight\")",
        ]
    );
    success_result_of(in_flight);
    success_result_of(queued);
    // Work handed over after the shutdown fails at once.
    let late = failure_result_of(reactor.defer_to_thread(|| Ok(1)));
    assert_eq!(late.downcast_ref(), Some(&ThreadPoolError::Stopped));
}

#[test]
fn work_handed_over_before_run_is_delivered_once_the_reactor_runs() {
    let reactor = Reactor::new();
    let d = reactor.defer_to_thread(|| Ok(5));
    thread::sleep(Duration::from_millis(20)); // the work is done by now, most likely
    let d = d.map(|n| n * 2);
    assert!(!d.called(), "only the reactor's loop delivers the result");
    assert_eq!(run_until(&reactor, d).unwrap(), 10);
}

#[test]
fn a_panic_in_call_in_thread_is_reported_to_the_failure_handler() {
    let reactor = Reactor::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    reactor.set_failure_handler(move |report: &ReactorFailure| {
        s.lock().push((report.context(), report.failure().error_message()));
    });
    reactor.suggest_thread_pool_size(1).unwrap();
    reactor.call_in_thread(|| panic!("in the pool"));
    // Queued behind the panic on the single thread: by the time it fires, the panic's
    // report has been delivered before it.
    let after = reactor.defer_to_thread(|| Ok(()));
    run_until(&reactor, after).unwrap();
    assert_eq!(*seen.lock(), [("while calling in thread", "in the pool".to_string())]);
}

#[test]
fn call_in_thread_work_still_queued_at_shutdown_is_reported_as_stopped() {
    let reactor = Reactor::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    reactor.set_failure_handler(move |report: &ReactorFailure| {
        s.lock().push(report.failure().downcast_ref::<ThreadPoolError>().cloned());
    });
    reactor.suggest_thread_pool_size(1).unwrap();
    let (started, has_started) = mpsc::channel::<()>();
    reactor.call_in_thread(move || {
        started.send(()).unwrap();
        thread::sleep(Duration::from_millis(20));
    });
    let ran = Arc::new(AtomicUsize::new(0));
    let r2 = ran.clone();
    reactor.call_in_thread(move || {
        r2.fetch_add(1, Ordering::SeqCst);
    });
    has_started.recv_timeout(Duration::from_secs(10)).unwrap();
    let r = reactor.clone();
    reactor.call_when_running(move || r.stop().unwrap());
    reactor.run().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(*seen.lock(), [Some(ThreadPoolError::Stopped)]);
}

#[test]
fn a_reactor_dropped_without_running_drops_the_work_it_was_handed() {
    let counter = DropCounter::new();
    let reactor = Reactor::new();
    reactor.suggest_thread_pool_size(1).unwrap();
    let (t1, t2) = (counter.token(), counter.token());
    let a = reactor.defer_to_thread(move || {
        thread::sleep(Duration::from_millis(10));
        drop(t1);
        Ok(())
    });
    let b = reactor.defer_to_thread(move || {
        drop(t2);
        Ok(())
    });
    drop(reactor);
    // The worker finishes the work it had started and exits; nothing delivers its result.
    let deadline = Instant::now() + Duration::from_secs(10);
    while counter.alive() > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(counter.alive(), 0);
    assert!(!a.called() && !b.called());
}

#[test]
fn a_lowered_pool_size_applies_to_the_work_that_follows() {
    let reactor = Reactor::new();
    reactor.suggest_thread_pool_size(4).unwrap();
    let warm: Vec<_> = (0..4).map(|_| reactor.defer_to_thread(|| Ok(()))).collect();
    reactor.suggest_thread_pool_size(1).unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..6)
        .map(|_| {
            let (running, most) = (running.clone(), most.clone());
            reactor.defer_to_thread(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(2));
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            })
        })
        .collect();
    let all = gather_results(warm).add_callback(move |_| gather_results(jobs));
    run_until(&reactor, all).unwrap();
    assert_eq!(most.load(Ordering::SeqCst), 1);
}
