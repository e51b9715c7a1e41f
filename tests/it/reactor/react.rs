//! `react`: run the reactor until `main`'s Deferred fires, stop it, return the result. Real
//! reactor, delays of a few milliseconds at most; the tests assert results and order only.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use deferreds::reactor::{
    Exit, Phase, Reactor, ReactorError, StoppedEarlyError, SystemEvent, defer_later, exit_status,
    react,
};
use deferreds::testing::Recorder;
use deferreds::{CancelledError, Deferred, Failure, fail, succeed};

#[test]
fn react_returns_the_value_mains_deferred_fires_with_once_the_reactor_has_stopped() {
    let log = Recorder::new();
    let l = log.clone();
    let result = react(move |reactor| {
        let (l1, l2) = (l.clone(), l.clone());
        reactor.add_system_event_trigger(Phase::After, SystemEvent::Shutdown, move || {
            l1.record("shutdown")
        });
        defer_later(reactor, 0.005, move || {
            l2.record("timer");
            Ok::<_, Failure>("poem")
        })
    });
    assert_eq!(result.unwrap(), "poem");
    assert_eq!(log.take(), ["timer", "shutdown"]);
}

#[test]
fn react_returns_the_failure_mains_deferred_fails_with() {
    let result = react(|reactor| {
        defer_later(reactor, 0.001, || ())
            .add_callback(|()| -> Result<u8, Failure> { Err(Failure::msg("refused")) })
    });
    let failure = result.unwrap_err();
    assert_eq!(failure.error_message(), "refused");
    assert_eq!(exit_status(&Err::<(), _>(failure)), 1);
}

#[test]
fn a_deferred_that_fired_inside_main_stops_the_reactor_right_after_startup() {
    let started = Arc::new(AtomicUsize::new(0));
    let s = started.clone();
    let result = react(move |reactor| {
        reactor.call_when_running(move || {
            s.fetch_add(1, Ordering::SeqCst);
        });
        succeed(1)
    });
    assert_eq!(result.unwrap(), 1);
    assert_eq!(started.load(Ordering::SeqCst), 1, "the reactor ran, and its startup with it");
}

#[test]
fn a_result_from_the_thread_pool_ends_react() {
    let result = react(|reactor| reactor.defer_to_thread(|| Ok(std::thread::current().id())));
    assert_ne!(result.unwrap(), std::thread::current().id());
}

#[test]
fn a_reactor_stopped_by_someone_else_cancels_mains_deferred_and_says_so() {
    let cancelled = Arc::new(AtomicUsize::new(0));
    let c = cancelled.clone();
    let result = react(move |reactor| {
        let (d, _resolver) = Deferred::<u8>::with_canceller(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        });
        let r = reactor.clone();
        reactor.call_later(0.001, move || r.stop().unwrap()).unwrap();
        d.add_errback(|f| {
            assert!(f.check::<CancelledError>());
            Err(f)
        })
    });
    assert!(result.unwrap_err().check::<StoppedEarlyError>());
    assert_eq!(cancelled.load(Ordering::SeqCst), 1);
}

#[test]
fn a_result_that_arrives_during_shutdown_is_returned_without_a_second_stop() {
    // Someone else stops the reactor; a "before shutdown" trigger fires main's Deferred while
    // the shutdown waits: that result stands, and nobody calls stop twice.
    let result = react(|reactor| {
        let (d, resolver) = Deferred::<&str>::new();
        reactor.add_system_event_trigger(Phase::Before, SystemEvent::Shutdown, move || {
            resolver.callback("flushed").unwrap();
        });
        let r = reactor.clone();
        reactor.call_when_running(move || r.stop().unwrap());
        d
    });
    assert_eq!(result.unwrap(), "flushed");
}

#[test]
fn react_on_a_reactor_that_has_run_fails_without_calling_main() {
    let reactor = Reactor::new();
    assert_eq!(reactor.react(|_| succeed(1)).unwrap(), 1);
    let called = Arc::new(AtomicUsize::new(0));
    let c = called.clone();
    let again = reactor.react(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        succeed(2)
    });
    assert_eq!(again.unwrap_err().downcast_ref(), Some(&ReactorError::NotRestartable));
    assert_eq!(called.load(Ordering::SeqCst), 0);
}

#[test]
fn an_exit_failure_chooses_the_exit_status() {
    let result = react(|_| fail::<()>(Failure::new(Exit(7))));
    assert_eq!(exit_status(&result), 7);
    assert_eq!(exit_status(&Ok::<_, Failure>(())), 0);
}
