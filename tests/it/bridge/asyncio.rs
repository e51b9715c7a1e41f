//! Awaiting Deferreds: `DeferredFuture` under tokio, `futures::executor::block_on` and by
//! hand, what dropping the await does, and wakes racing across threads.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::cancellable;
use deferreds::testing::{Recorder, capture_unhandled, success_result_of};
use deferreds::{
    AlreadyCalledError, CancelledError, Deferred, DeferredFuture, Failure, Resolver,
    ensure_deferred,
};

/// A waker that remembers it was woken, and counts wakes.
#[derive(Default)]
struct Flag {
    woken: Mutex<usize>,
    cond: Condvar,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        *self.woken.lock() += 1;
        self.cond.notify_all();
    }
}

impl Flag {
    fn wakes(&self) -> usize {
        *self.woken.lock()
    }

    /// Waits until woken at least `n` times in all; false on timeout.
    fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let mut woken = self.woken.lock();
        let deadline = std::time::Instant::now() + timeout;
        while *woken < n {
            if self.cond.wait_until(&mut woken, deadline).timed_out() {
                return *woken >= n;
            }
        }
        true
    }
}

fn poll<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap()
}

#[test]
fn the_future_is_send_sync_unpin_and_debug() {
    fn send_sync_unpin<T: Send + Sync + Unpin>() {}
    send_sync_unpin::<DeferredFuture<u64>>();
    send_sync_unpin::<DeferredFuture<String>>();
    send_sync_unpin::<DeferredFuture<std::cell::Cell<u8>>>();
    // What `tokio::spawn` needs: an async block holding one across an await is Send.
    fn send<T: Send>(_: &T) {}
    let (d, _r) = Deferred::<Vec<u8>>::new();
    let task = async move {
        let v = d.await?;
        deferreds::succeed(()).await?;
        Ok::<_, Failure>(v)
    };
    send(&task);

    assert_eq!(
        format!("{:?}", deferreds::succeed(5).into_future()),
        "<DeferredFuture<i32> current result: 5>"
    );
    let (d, r) = Deferred::<u8>::new();
    let mut future = d.into_future();
    assert_eq!(format!("{future:?}"), "<DeferredFuture<u8>>");
    r.callback(1).unwrap();
    assert!(matches!(poll(&mut future, Waker::noop()), Poll::Ready(Ok(1))));
    assert_eq!(format!("{future:?}"), "<DeferredFuture<u8> completed>");
}

#[test]
fn an_already_fired_deferred_is_ready_at_the_first_poll() {
    let mut future = deferreds::succeed("now").into_future();
    assert!(matches!(poll(&mut future, Waker::noop()), Poll::Ready(Ok("now"))));

    let (d, r) = Deferred::<u8>::new();
    r.callback(3).unwrap(); // the resolver still exists: the chain is shared
    let mut future = d.into_future();
    assert!(matches!(poll(&mut future, Waker::noop()), Poll::Ready(Ok(3))));
}

#[test]
#[should_panic(expected = "polled after it completed")]
fn polling_after_completion_panics() {
    let mut future = deferreds::succeed(1).into_future();
    let _ = poll(&mut future, Waker::noop());
    let _ = poll(&mut future, Waker::noop());
}

#[test]
fn the_await_sees_what_the_steps_added_before_it_leave() {
    let (d, r) = Deferred::<u32>::new();
    let d =
        d.map(|n| n + 1).add_callback(|n| if n > 10 { Err(Failure::msg("big")) } else { Ok(n) });
    let waiter = std::thread::spawn(move || futures::executor::block_on(d.into_future()));
    r.callback(20).unwrap();
    assert_eq!(waiter.join().unwrap().unwrap_err().error_message(), "big");
}

#[test]
fn a_failure_handed_to_the_await_is_handled() {
    let (result, reports) = capture_unhandled(|| {
        let (d, r) = Deferred::<u8>::new();
        r.errback(Failure::msg("seen")).unwrap();
        drop(r);
        futures::executor::block_on(d.into_future())
    });
    assert_eq!(result.unwrap_err().error_message(), "seen");
    assert!(reports.is_empty());
}

#[test]
fn a_paused_deferred_is_awaited_only_once_unpaused() {
    let flag = Arc::new(Flag::default());
    let waker = Waker::from(flag.clone());
    let (d, r) = Deferred::<u8>::new();
    r.pause();
    r.callback(9).unwrap();
    let mut future = d.into_future();
    assert!(poll(&mut future, &waker).is_pending());
    r.unpause().unwrap();
    assert_eq!(flag.wakes(), 1);
    assert!(matches!(poll(&mut future, &waker), Poll::Ready(Ok(9))));
}

#[test]
fn a_deferred_waiting_on_another_is_awaited_until_that_one_fires() {
    let flag = Arc::new(Flag::default());
    let waker = Waker::from(flag.clone());
    let (inner, fire_inner) = Deferred::<&str>::new();
    let outer = deferreds::succeed(()).add_callback(move |()| inner);
    let mut future = outer.into_future();
    assert!(poll(&mut future, &waker).is_pending());
    fire_inner.callback("inner").unwrap();
    assert_eq!(flag.wakes(), 1);
    assert!(matches!(poll(&mut future, &waker), Poll::Ready(Ok("inner"))));
}

#[test]
fn a_new_waker_replaces_the_old_one() {
    let (first, second) = (Arc::new(Flag::default()), Arc::new(Flag::default()));
    let (d, r) = Deferred::<u8>::new();
    let mut future = d.into_future();
    assert!(poll(&mut future, &Waker::from(first.clone())).is_pending());
    assert!(poll(&mut future, &Waker::from(second.clone())).is_pending());
    r.callback(1).unwrap();
    assert_eq!((first.wakes(), second.wakes()), (0, 1));
}

#[test]
fn block_on_awaits_a_deferred_fired_from_another_thread() {
    let (d, r) = Deferred::<String>::new();
    let firer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        r.callback("from a thread".to_owned()).unwrap();
    });
    let got = futures::executor::block_on(async { d.await });
    assert_eq!(got.unwrap(), "from a thread");
    firer.join().unwrap();
}

#[test]
fn block_on_awaits_an_ensure_deferred_that_awaits_a_thread() {
    let (d, r) = Deferred::<u32>::new();
    let e = ensure_deferred(async move { Ok::<_, Failure>(d.await? * 2) });
    std::thread::spawn(move || r.callback(21).unwrap());
    assert_eq!(futures::executor::block_on(e.into_future()).unwrap(), 42);
}

#[test]
fn futures_select_dropping_the_await_cancels_the_deferred() {
    let log = Recorder::new();
    let (d, r) = cancellable(&log, "d");
    let ((), reports) = capture_unhandled(|| {
        futures::executor::block_on(async {
            use futures::FutureExt;
            let mut d = d.into_future().fuse();
            let mut ready = futures::future::ready("other branch");
            futures::select_biased! {
                _ = ready => {}
                _ = d => unreachable!("d never fired"),
            }
        });
    });
    assert_eq!(log.take(), ["d cancelled"]);
    assert!(reports.is_empty(), "the CancelledError nobody can see is not reported");
    assert!(r.called());
    assert!(r.callback(1).is_err(), "the cancellation fired it");
}

#[test]
fn tokio_awaits_deferreds_fired_from_other_tasks() {
    runtime().block_on(async {
        let mut deferreds = Vec::new();
        for i in 0..200u32 {
            let (d, r) = Deferred::new();
            deferreds.push(d.map(|n: u32| n * 2));
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                r.callback(i).unwrap();
            });
        }
        for (i, d) in (0..).zip(deferreds) {
            assert_eq!(d.await.unwrap(), i * 2);
        }
    });
}

#[test]
fn tokio_tasks_await_deferreds_fired_from_std_threads() {
    runtime().block_on(async {
        let mut tasks = Vec::new();
        let mut resolvers = Vec::new();
        for _ in 0..50 {
            let (d, r) = Deferred::<std::thread::ThreadId>::new();
            tasks.push(tokio::spawn(async move { d.await }));
            resolvers.push(r);
        }
        let firer = std::thread::spawn(move || {
            for r in resolvers {
                r.callback(std::thread::current().id()).unwrap();
            }
            std::thread::current().id()
        });
        let firer = firer.join().unwrap();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), firer);
        }
    });
}

#[test]
fn tokio_select_dropping_the_await_cancels_the_deferred() {
    let log = Recorder::new();
    let (d, r) = cancellable(&log, "d");
    let l = log.clone();
    // A step added before the await sees the cancellation, like any step.
    let d = d.add_errback(move |f| {
        l.record(format!("errback: cancelled = {}", f.check::<CancelledError>()));
        Err(f)
    });
    let ((), reports) = capture_unhandled(|| {
        runtime().block_on(async {
            tokio::select! {
                _ = d => unreachable!("d never fired"),
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        });
    });
    assert_eq!(log.take(), ["d cancelled", "errback: cancelled = true"]);
    assert!(reports.is_empty());
    assert!(
        r.callback(1).unwrap_err().to_string().starts_with("the Deferred has already been called")
    );
}

#[test]
fn tokio_timeout_cancels_the_deferred_when_it_expires() {
    let log = Recorder::new();
    let (d, r) = cancellable(&log, "d");
    let result =
        runtime().block_on(async { tokio::time::timeout(Duration::from_millis(10), d).await });
    assert!(result.is_err(), "timed out");
    assert_eq!(log.take(), ["d cancelled"]);
    assert!(r.called());
}

#[test]
fn tokio_timeout_gives_the_result_when_it_comes_in_time() {
    let (d, r) = Deferred::<u8>::new();
    std::thread::spawn(move || r.callback(8).unwrap());
    let result =
        runtime().block_on(async { tokio::time::timeout(Duration::from_secs(10), d).await });
    assert_eq!(result.unwrap().unwrap(), 8);
}

#[test]
fn into_deferred_stops_awaiting_without_cancelling() {
    let log = Recorder::new();
    let (d, r) = cancellable(&log, "d");
    let rt = runtime();
    let d = rt.block_on(async {
        let mut future = d.into_future();
        assert!(tokio::time::timeout(Duration::from_millis(10), &mut future).await.is_err());
        future.into_deferred().expect("still pending")
    });
    assert!(log.take().is_empty(), "not cancelled");
    r.callback(5).unwrap();
    assert_eq!(success_result_of(d), 5);

    let mut done = deferreds::succeed(1).into_future();
    let _ = poll(&mut done, Waker::noop());
    assert!(done.into_deferred().is_none());
}

#[test]
fn ensure_deferred_inside_tokio_may_await_tokio_futures() {
    let rt = runtime();
    let got = rt.block_on(async {
        let d = ensure_deferred(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok::<_, Failure>("slept")
        });
        d.await
    });
    assert_eq!(got.unwrap(), "slept");
}

#[test]
fn a_tokio_join_handle_becomes_a_deferred() {
    let rt = runtime();
    let handle = rt.spawn(async { 6 * 7 });
    let d = Deferred::from_future(handle).add_callback(|joined| joined.map_err(Failure::new));
    assert_eq!(rt.block_on(d.into_future()).unwrap(), 42);
}

#[test]
fn dropping_a_pending_await_cancels_and_reports_nothing() {
    let log = Recorder::new();
    let ((), reports) = capture_unhandled(|| {
        let (d, _r) = cancellable(&log, "polled");
        let mut future = d.into_future();
        assert!(poll(&mut future, Waker::noop()).is_pending());
        drop(future);
        let (d, _r) = cancellable(&log, "never polled");
        drop(d.into_future());
    });
    assert_eq!(log.take(), ["polled cancelled", "never polled cancelled"]);
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn dropping_an_await_whose_deferred_failed_meanwhile_reports_the_failure() {
    let ((), reports) = capture_unhandled(|| {
        // Failed after the first poll, dropped before the next.
        let (d, r) = Deferred::<u8>::new();
        let mut future = d.into_future();
        assert!(poll(&mut future, Waker::noop()).is_pending());
        r.errback(Failure::msg("failed meanwhile")).unwrap();
        drop(r);
        drop(future);
        // Already failed when it was turned into a future, and never polled.
        drop(deferreds::fail::<u8>(Failure::msg("never looked at")).into_future());
        // A value is just dropped.
        let (d, r) = Deferred::<u8>::new();
        let mut future = d.into_future();
        assert!(poll(&mut future, Waker::noop()).is_pending());
        r.callback(1).unwrap();
        drop(future);
    });
    let messages: Vec<_> = reports.iter().map(|r| r.failure().error_message()).collect();
    assert_eq!(messages, ["failed meanwhile", "never looked at"]);
}

#[test]
fn a_canceller_that_fails_with_another_error_on_drop_is_reported() {
    let ((), reports) = capture_unhandled(|| {
        let (d, r) = Deferred::<u8>::with_canceller(|r: &Resolver<u8>| {
            r.errback(Failure::msg("connection reset")).unwrap();
        });
        drop(d.into_future());
        drop(r);
    });
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].failure().error_message(), "connection reset");
}

#[test]
fn firing_and_awaiting_from_two_threads_at_once_never_loses_a_wake() {
    // The oneshot race: one thread registers its waker while another fires.
    const ROUNDS: usize = 10_000;
    let barrier = Arc::new(Barrier::new(2));
    let (send_resolver, resolvers) = mpsc::channel::<Resolver<usize>>();
    let b = barrier.clone();
    let firer = std::thread::spawn(move || {
        for (i, r) in resolvers.into_iter().enumerate() {
            b.wait();
            r.callback(i).unwrap();
        }
    });
    let mut pending_at_first_poll = 0;
    for i in 0..ROUNDS {
        let (d, r) = Deferred::<usize>::new();
        send_resolver.send(r).unwrap();
        let flag = Arc::new(Flag::default());
        let waker = Waker::from(flag.clone());
        let mut future = d.into_future();
        barrier.wait();
        let result = match poll(&mut future, &waker) {
            Poll::Ready(result) => result,
            Poll::Pending => {
                pending_at_first_poll += 1;
                assert!(flag.wait_for(1, Duration::from_secs(10)), "lost wake in round {i}");
                match poll(&mut future, &waker) {
                    Poll::Ready(result) => result,
                    Poll::Pending => panic!("woken but not ready in round {i}"),
                }
            }
        };
        assert_eq!(result.unwrap(), i);
    }
    drop(send_resolver);
    firer.join().unwrap();
    // Not an assertion about timing, only a note that both orders occurred.
    eprintln!("{pending_at_first_poll} of {ROUNDS} rounds suspended before the fire");
}

/// Polls `inner`, failing if another thread is polling it at the same time.
struct Exclusive<F> {
    inner: F,
    active: Arc<AtomicUsize>,
    polls: Arc<AtomicUsize>,
}

impl<F: Future + Unpin> Future for Exclusive<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        assert_eq!(self.active.fetch_add(1, Ordering::SeqCst), 0, "polled concurrently");
        self.polls.fetch_add(1, Ordering::SeqCst);
        for _ in 0..200 {
            std::hint::spin_loop(); // widen the window
        }
        let result = Pin::new(&mut self.inner).poll(cx);
        self.active.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

#[test]
fn two_threads_waking_one_task_at_once_never_poll_it_twice_at_once_nor_lose_a_wake() {
    const ROUNDS: usize = 10_000;
    let barrier = Arc::new(Barrier::new(3));
    let (to_a, from_main_a) = mpsc::channel::<Resolver<u32>>();
    let (to_b, from_main_b) = mpsc::channel::<Resolver<u32>>();
    let spawn_firer = |resolvers: mpsc::Receiver<Resolver<u32>>, value: u32| {
        let b = barrier.clone();
        std::thread::spawn(move || {
            for r in resolvers {
                b.wait();
                r.callback(value).unwrap();
            }
        })
    };
    let firers = [spawn_firer(from_main_a, 1), spawn_firer(from_main_b, 2)];
    let polls = Arc::new(AtomicUsize::new(0));
    for i in 0..ROUNDS {
        let (a, fire_a) = Deferred::<u32>::new();
        let (b, fire_b) = Deferred::<u32>::new();
        let joined = futures::future::join(a.into_future(), b.into_future());
        let exclusive = Exclusive {
            inner: joined,
            active: Arc::new(AtomicUsize::new(0)),
            polls: polls.clone(),
        };
        let (done, finished) = mpsc::channel();
        let task = Deferred::from_future(exclusive).map(move |(a, b)| {
            done.send(a.unwrap() + b.unwrap()).unwrap();
        });
        to_a.send(fire_a).unwrap();
        to_b.send(fire_b).unwrap();
        barrier.wait();
        let sum = finished.recv_timeout(Duration::from_secs(10));
        assert_eq!(sum, Ok(3), "round {i}: lost wake or failed poll");
        drop(task);
    }
    drop((to_a, to_b));
    for firer in firers {
        firer.join().unwrap();
    }
    assert!(polls.load(Ordering::SeqCst) >= 2 * ROUNDS);
}

#[test]
fn an_already_called_error_is_what_a_late_fire_gets_after_a_dropped_await() {
    let (d, r) = Deferred::<u8>::with_canceller(|_: &Resolver<u8>| {});
    drop(d.into_future());
    let err: AlreadyCalledError = r.callback(1).unwrap_err();
    assert!(err.to_string().starts_with("the Deferred has already been called"));
}

#[test]
fn a_cancel_racing_the_fire_of_what_the_block_awaits_is_never_lost() {
    // Thread A fires d1 while thread B cancels the block. Whichever wins, the cancel must land:
    // on d1 (the block stops at `d1.await?`) or, if d1's value got in first, on d2. The block
    // never finishes with a value and never hangs.
    const ROUNDS: usize = 2_000;
    let barrier = Arc::new(Barrier::new(3));
    let (to_firer, firer_rx) = mpsc::channel::<Resolver<u32>>();
    let (to_canceller, canceller_rx) = mpsc::channel::<Deferred<u32>>();
    let (back, returned) = mpsc::channel::<Deferred<u32>>();
    let b = barrier.clone();
    let firer = std::thread::spawn(move || {
        for r in firer_rx {
            b.wait();
            let _ = r.callback(1); // fails if the cancel got there first
        }
    });
    let b = barrier.clone();
    let canceller = std::thread::spawn(move || {
        for d in canceller_rx {
            b.wait();
            d.cancel();
            back.send(d).unwrap();
        }
    });
    let (mut d1_won, mut cancel_won) = (0, 0);
    for i in 0..ROUNDS {
        let (d1, fire_d1) = Deferred::<u32>::with_canceller(|_: &Resolver<u32>| {});
        let (d2, _fire_d2) = Deferred::<u32>::with_canceller(|_: &Resolver<u32>| {});
        let got_d1 = Arc::new(AtomicUsize::new(0));
        let g = got_d1.clone();
        let block = ensure_deferred(async move {
            d1.await?;
            g.store(1, Ordering::SeqCst);
            d2.await
        });
        let (done, finished) = mpsc::channel();
        to_firer.send(fire_d1).unwrap();
        to_canceller.send(block).unwrap();
        barrier.wait();
        let block = returned.recv_timeout(Duration::from_secs(10)).expect("cancel returned");
        let _ =
            block.add_both(move |r| done.send(r.map_err(|f| f.check::<CancelledError>())).unwrap());
        let outcome = finished.recv_timeout(Duration::from_secs(10));
        assert_eq!(outcome, Ok(Err(true)), "round {i}: the block must fail with CancelledError");
        if got_d1.load(Ordering::SeqCst) == 1 { d1_won += 1 } else { cancel_won += 1 }
    }
    drop((to_firer, to_canceller));
    firer.join().unwrap();
    canceller.join().unwrap();
    eprintln!("d1 fired first in {d1_won} rounds, the cancel in {cancel_won}");
}
