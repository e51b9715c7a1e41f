//! Awaiting Deferreds that time fires: `defer_later` and `add_timeout` on a `Clock` advanced
//! from another thread or task, under `futures::executor::block_on` and a multi-thread tokio
//! runtime, and on a running `Reactor`.
//!
//! The awaiting side signals once its first poll has returned `Pending`, and only then is the
//! clock advanced: the result always arrives through the waker, from the thread that advances
//! the clock, never before the await has started.

use std::future::{Future, IntoFuture, poll_fn};
use std::pin::Pin;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use futures::channel::oneshot;

use deferreds::reactor::{Clock, Reactor, TimeoutError, defer_later};
use deferreds::testing::{Recorder, success_result_of};
use deferreds::{CancelledError, Deferred, DeferredFuture, Failure, ensure_deferred};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap()
}

/// Awaits `future`, calling `pending` after each poll that returns `Pending`: the signal that
/// the waker is registered.
async fn signal_when_pending<T: Send + 'static>(
    mut future: DeferredFuture<T>,
    mut pending: impl FnMut(),
) -> Result<T, Failure> {
    poll_fn(|cx| {
        let poll = Pin::new(&mut future).poll(cx);
        if poll.is_pending() {
            pending();
        }
        poll
    })
    .await
}

/// `block_on` on this thread awaits a `defer_later`; a thread advances the clock.
#[test]
fn block_on_awaits_a_defer_later_fired_by_a_clock_advanced_on_another_thread() {
    let clock = Clock::new();
    let main = thread::current().id();
    let d = defer_later(&clock, 5.0, move || Ok::<_, Failure>(thread::current().id() != main));
    let (started, wait) = mpsc::channel::<()>();
    let c = clock.clone();
    let advancer = thread::spawn(move || {
        wait.recv().unwrap();
        c.advance(4.0);
        c.advance(1.0);
    });
    let result = futures::executor::block_on(signal_when_pending(d.into_future(), || {
        let _ = started.send(());
    }));
    advancer.join().unwrap();
    assert!(result.unwrap(), "the function ran on the advancing thread");
    assert_eq!(clock.seconds(), 5.0);
    assert!(clock.pending_calls().is_empty());
}

/// A tokio task awaits a `defer_later` with a timeout that does not expire; another task
/// advances the clock. The timeout's timer goes with the result.
#[test]
fn a_tokio_task_awaits_a_defer_later_with_a_timeout_advanced_from_another_task() {
    let rt = runtime();
    let clock = Clock::new();
    let d = defer_later(&clock, 2.0, || Ok::<_, Failure>("on time")).add_timeout(5.0, &clock);
    assert_eq!(clock.pending_calls().len(), 2);
    let (started, wait) = oneshot::channel::<()>();
    let mut started = Some(started);
    let waiter = rt.spawn(signal_when_pending(d.into_future(), move || {
        if let Some(tx) = started.take() {
            let _ = tx.send(());
        }
    }));
    let c = clock.clone();
    let advancer = rt.spawn(async move {
        wait.await.unwrap();
        c.advance(1.0);
        c.advance(1.0);
    });
    let result = rt.block_on(async {
        advancer.await.unwrap();
        waiter.await.unwrap()
    });
    assert_eq!(result.unwrap(), "on time");
    assert!(clock.pending_calls().is_empty(), "the timeout's timer was cancelled");
}

/// A `defer_later` that takes longer than its timeout, awaited under tokio: the await gets
/// the `TimeoutError`, and cancelling the `defer_later` cancelled its timer, so the function
/// never runs.
#[test]
fn awaiting_a_defer_later_that_times_out_gives_the_timeout_error() {
    let rt = runtime();
    let clock = Clock::new();
    let log = Recorder::new();
    let l = log.clone();
    let d = defer_later(&clock, 10.0, move || l.record("ran")).add_timeout(5.0, &clock);
    let (started, wait) = oneshot::channel::<()>();
    let mut started = Some(started);
    let waiter = rt.spawn(signal_when_pending(d.into_future(), move || {
        if let Some(tx) = started.take() {
            let _ = tx.send(());
        }
    }));
    let c = clock.clone();
    let advancer = rt.spawn_blocking(move || {
        futures::executor::block_on(wait).unwrap();
        c.advance(5.0);
    });
    let failure = rt.block_on(async {
        advancer.await.unwrap();
        waiter.await.unwrap().unwrap_err()
    });
    let error = failure.downcast_ref::<TimeoutError>().expect("a TimeoutError");
    assert_eq!(error.timeout(), 5.0);
    assert!(clock.pending_calls().is_empty(), "the defer_later timer was cancelled too");
    clock.advance(10.0);
    assert!(log.events().is_empty());
}

/// Dropping the await of a `defer_later` (here, tokio's own timeout, in real time) cancels the
/// Deferred, and so its timer: nothing is left on the clock.
#[test]
fn dropping_the_await_of_a_defer_later_cancels_its_timer() {
    let rt = runtime();
    let clock = Clock::new();
    let log = Recorder::new();
    let l = log.clone();
    let d = defer_later(&clock, 1.0, move || l.record("ran"));
    let elapsed = rt
        .block_on(async { tokio::time::timeout(Duration::from_millis(10), d.into_future()).await });
    assert!(elapsed.is_err());
    assert!(clock.pending_calls().is_empty());
    clock.advance(1.0);
    assert!(log.events().is_empty());
}

/// An `ensure_deferred` block sleeping twice on a clock: it resumes inside each `advance`, on
/// the advancing thread, and the second sleep starts at the time the first one ended (time
/// jumps, as in Twisted). No executor is involved.
#[test]
fn an_ensure_deferred_block_sleeps_on_a_clock_advanced_from_another_thread() {
    let clock = Clock::new();
    let c = clock.clone();
    let d: Deferred<(f64, f64)> = ensure_deferred(async move {
        defer_later(&c, 1.0, || ()).await?;
        let first = c.seconds();
        defer_later(&c, 1.0, || ()).await?;
        Ok((first, c.seconds()))
    });
    let c = clock.clone();
    thread::spawn(move || {
        c.advance(1.5);
        c.advance(1.0);
    })
    .join()
    .unwrap();
    assert_eq!(success_result_of(d), (1.5, 2.5));
}

/// Cancelling an `ensure_deferred` block that sleeps on a clock cancels the sleep: the
/// `CancelledError` comes out of the `.await`, and the timer is gone.
#[test]
fn cancelling_a_block_sleeping_on_a_clock_cancels_the_timer() {
    let clock = Clock::new();
    let c = clock.clone();
    let d: Deferred<&str> = ensure_deferred(async move {
        match defer_later(&c, 1.0, || ()).await {
            Err(failure) if failure.check::<CancelledError>() => Ok("woken by the cancel"),
            other => other.map(|()| "slept"),
        }
    });
    assert_eq!(clock.pending_calls().len(), 1);
    d.cancel();
    assert!(clock.pending_calls().is_empty());
    assert_eq!(success_result_of(d), "woken by the cancel");
}

/// Deferreds fired by a running `Reactor`, awaited on other threads: `block_on` and a tokio
/// task, each on a `defer_later` with a timeout that does not expire.
#[test]
fn deferreds_fired_by_a_running_reactor_are_awaited_from_other_threads() {
    let reactor = Reactor::new();
    let r = reactor.clone();
    let reactor_thread = thread::spawn(move || r.run());
    let first = defer_later(&reactor, 0.0, || Ok::<_, Failure>(1)).add_timeout(30.0, &reactor);
    let second = defer_later(&reactor, 0.001, || Ok::<_, Failure>(2)).add_timeout(30.0, &reactor);
    let first = futures::executor::block_on(first.into_future());
    let second = runtime().block_on(async { tokio::spawn(second.into_future()).await.unwrap() });
    reactor.stop().unwrap();
    reactor_thread.join().unwrap().unwrap();
    assert_eq!((first.unwrap(), second.unwrap()), (1, 2));
}
