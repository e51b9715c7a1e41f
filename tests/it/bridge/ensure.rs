//! `ensure_deferred` and `Deferred::from_future` with no executor at all: the futures run on
//! the threads that create and wake them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

use parking_lot::Mutex;

use super::cancellable;
use crate::hardening::support::{Guarded, PanickingWaker, PanicsOnDrop, on_small_stack};
use deferreds::testing::{
    DropCounter, Recorder, assert_no_result, capture_unhandled, failure_result_of,
    success_result_of,
};
use deferreds::{CancelledError, Deferred, Failure, PanicError, ensure_deferred};

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("no route to {0}")]
struct NoRoute(&'static str);

#[test]
fn a_block_that_awaits_only_fired_deferreds_has_finished_when_ensure_deferred_returns() {
    let d = ensure_deferred(async {
        let a = deferreds::succeed(1).await?;
        let b = deferreds::succeed(2).map(|n| n * 10).await?;
        Ok::<_, Failure>(a + b)
    });
    assert_eq!(success_result_of(d), 21);
}

#[test]
fn the_block_runs_up_to_its_first_pending_await_at_once_and_resumes_when_that_fires() {
    let log = Recorder::new();
    let (l1, l2) = (log.clone(), log.clone());
    let (d, r) = Deferred::<u32>::new();
    let e = ensure_deferred(async move {
        l1.record("before");
        let n = d.await?;
        l2.record(format!("after {n}"));
        Ok::<_, Failure>(n)
    });
    assert_eq!(log.take(), ["before"]);
    assert_no_result(&e);
    r.callback(5).unwrap();
    // Resumed inside `callback`, like a Twisted coroutine.
    assert_eq!(log.take(), ["after 5"]);
    assert_eq!(success_result_of(e), 5);
}

#[test]
fn the_block_resumes_on_the_thread_that_fires_the_awaited_deferred() {
    let (d, r) = Deferred::<()>::new();
    let here = std::thread::current().id();
    let e = ensure_deferred(async move {
        d.await?;
        Ok::<_, Failure>(std::thread::current().id())
    });
    let firer = std::thread::spawn(move || {
        r.callback(()).unwrap();
        std::thread::current().id()
    });
    let firer = firer.join().unwrap();
    let ran_on = success_result_of(e);
    assert_eq!(ran_on, firer);
    assert_ne!(ran_on, here);
}

#[test]
fn callbacks_on_the_result_run_when_the_block_finishes() {
    let (d, r) = Deferred::<u32>::new();
    let e = ensure_deferred(async move { Ok::<_, Failure>(d.await? + 1) }).map(|n| n * 2);
    r.callback(20).unwrap();
    assert_eq!(success_result_of(e), 42);
}

#[test]
fn question_mark_passes_an_awaited_failure_on_unchanged() {
    let (d, r) = Deferred::<u32>::new();
    let e = ensure_deferred(async move {
        let n = d.await?;
        Ok::<_, Failure>(n + 1)
    });
    let failure = Failure::new(NoRoute("pluto"));
    r.errback(failure.clone()).unwrap();
    let got = failure_result_of(e);
    assert!(got.ptr_eq(&failure), "the same Failure, with its original location");
    assert_eq!(got.downcast_ref::<NoRoute>(), Some(&NoRoute("pluto")));
}

#[test]
fn question_mark_converts_any_error_into_a_failure() {
    let e = ensure_deferred(async {
        let n: u32 = deferreds::succeed("x7").await?.parse()?;
        Ok::<_, Failure>(n)
    });
    assert!(failure_result_of(e).check::<std::num::ParseIntError>());
}

#[test]
fn a_block_may_catch_an_awaited_failure_and_recover() {
    let (d, r) = Deferred::<u32>::new();
    let e = ensure_deferred(async move {
        match d.await {
            Ok(n) => Ok(n),
            Err(failure) => {
                failure.trap::<NoRoute>()?;
                Ok::<_, Failure>(0)
            }
        }
    });
    r.errback(Failure::new(NoRoute("mars"))).unwrap();
    assert_eq!(success_result_of(e), 0);
}

#[test]
fn an_awaited_failure_is_handled_and_the_block_failing_is_reported_only_if_nobody_handles_it() {
    let ((), reports) = capture_unhandled(|| {
        // Caught inside the block: nothing to report.
        let e = ensure_deferred(async {
            let _ = deferreds::fail::<u8>(Failure::msg("caught")).await;
            Ok::<_, Failure>(())
        });
        success_result_of(e);
        // Passed on and then dropped unhandled: reported once, by the block's Deferred.
        let (d, r) = Deferred::<u8>::new();
        let e = ensure_deferred(async move { d.await });
        r.errback(Failure::msg("dropped")).unwrap();
        drop(e);
    });
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].failure().error_message(), "dropped");
}

#[test]
fn a_panic_in_the_block_becomes_a_panic_error_failure() {
    let e = ensure_deferred(async {
        if deferreds::succeed(true).await? {
            panic!("in the first poll");
        }
        Ok::<u8, Failure>(0)
    });
    let failure = failure_result_of(e);
    assert!(failure.check::<PanicError>());
    assert_eq!(failure.error_message(), "in the first poll");

    let (d, r) = Deferred::<bool>::new();
    let e = ensure_deferred(async move {
        if d.await? {
            panic!("after resuming");
        }
        Ok::<u8, Failure>(0)
    });
    r.callback(true).unwrap(); // the panic does not escape `callback`
    assert_eq!(failure_result_of(e).error_message(), "after resuming");
}

#[test]
fn from_future_fires_with_the_output_as_a_value() {
    let (d, r) = Deferred::<u32>::new();
    // A `Result` output is a value like any other: `from_future` does not interpret it.
    let f: Deferred<Result<u32, Failure>> = Deferred::from_future(async move { d.await });
    r.errback(Failure::msg("inside")).unwrap();
    let output = success_result_of(f);
    assert_eq!(output.unwrap_err().error_message(), "inside");
}

#[test]
fn from_future_polls_at_once_and_again_on_the_waking_thread() {
    let polls = Arc::new(AtomicUsize::new(0));
    let p = polls.clone();
    let (tx, rx) = futures::channel::oneshot::channel::<u32>();
    let d = Deferred::from_future(async move {
        p.fetch_add(1, Ordering::SeqCst);
        rx.await.unwrap() + 1
    });
    assert_eq!(polls.load(Ordering::SeqCst), 1);
    assert_no_result(&d);
    std::thread::spawn(move || tx.send(41).unwrap()).join().unwrap();
    assert_eq!(success_result_of(d), 42);
}

#[test]
fn from_future_turns_a_panic_into_a_failure() {
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let d = Deferred::<()>::from_future(async move {
        rx.await.unwrap();
        panic!("late panic");
    });
    tx.send(()).unwrap();
    let failure = failure_result_of(d);
    assert!(failure.check::<PanicError>());
    assert_eq!(failure.error_message(), "late panic");
}

#[test]
fn from_future_cancel_drops_the_future_and_fails_with_cancelled_error() {
    let log = Recorder::new();
    let drops = DropCounter::new();
    let token = drops.token();
    let (inner, _fire_inner) = cancellable(&log, "inner");
    let d = Deferred::from_future(async move {
        let _token = token;
        inner.await
    });
    assert_no_result(&d);
    d.cancel();
    assert_eq!(drops.dropped(), 1, "the future was dropped");
    // Dropping the future dropped its `.await`, which cancelled what it awaited.
    assert_eq!(log.take(), ["inner cancelled"]);
    assert!(failure_result_of(d).check::<CancelledError>());
}

#[test]
fn from_future_cancel_of_a_future_awaiting_no_deferred_drops_it() {
    let (tx, rx) = futures::channel::oneshot::channel::<u32>();
    let d = Deferred::from_future(rx);
    d.cancel();
    assert!(tx.is_canceled(), "the receiver was dropped");
    assert!(failure_result_of(d).check::<CancelledError>());
}

#[test]
fn cancelling_ensure_deferred_cancels_the_awaited_deferred_and_the_error_surfaces_at_the_await() {
    let log = Recorder::new();
    let (inner, _fire) = cancellable(&log, "inner");
    let l = log.clone();
    let e = ensure_deferred(async move {
        match inner.await {
            Err(failure) if failure.check::<CancelledError>() => {
                l.record("CancelledError at the await");
                Ok::<_, Failure>("recovered")
            }
            other => other.map(|_| "not cancelled"),
        }
    });
    e.cancel();
    assert_eq!(log.take(), ["inner cancelled", "CancelledError at the await"]);
    assert_eq!(success_result_of(e), "recovered");
}

#[test]
fn a_block_that_recovers_from_a_cancel_keeps_running_and_a_second_cancel_reaches_it_again() {
    let log = Recorder::new();
    let (d1, _f1) = cancellable(&log, "d1");
    let (d2, _f2) = cancellable(&log, "d2");
    let l = log.clone();
    let e = ensure_deferred(async move {
        if let Err(f) = d1.await {
            l.record(format!("caught {}", f.type_name()));
        }
        d2.await
    });
    e.cancel();
    assert_eq!(
        log.take(),
        ["d1 cancelled", format!("caught {}", std::any::type_name::<CancelledError>()).as_str()]
    );
    assert_no_result(&e);
    e.cancel();
    assert_eq!(log.take(), ["d2 cancelled"]);
    assert!(failure_result_of(e).check::<CancelledError>());
}

#[test]
fn cancelling_a_block_that_awaits_something_other_than_a_deferred_drops_it() {
    let drops = DropCounter::new();
    let token = drops.token();
    let (tx, rx) = futures::channel::oneshot::channel::<u32>();
    let e = ensure_deferred(async move {
        let _token = token;
        rx.await.map_err(Failure::new)
    });
    e.cancel();
    assert_eq!(drops.dropped(), 1);
    assert!(tx.is_canceled());
    assert!(failure_result_of(e).check::<CancelledError>());
}

#[test]
fn a_cancel_that_finds_the_awaited_deferred_already_fired_reaches_the_next_one() {
    // The awaited Deferred fires, but the block has not resumed yet when the cancel comes
    // (its resumption is queued behind the task running on this thread). In Twisted the
    // block would already have moved on to the next await; so it does here.
    let log = Recorder::new();
    let (d1, f1) = cancellable(&log, "d1");
    let (d2, _f2) = cancellable(&log, "d2");
    let e = ensure_deferred(async move {
        let n = d1.await?;
        let m = d2.await?;
        Ok::<_, Failure>(n + m)
    });
    let e = Arc::new(Mutex::new(Some(e)));
    let e2 = e.clone();
    let driver = ensure_deferred(async move {
        f1.callback(1).unwrap(); // wakes the block: queued until this poll returns
        e2.lock().as_ref().unwrap().cancel(); // so the cancel arrives before it resumed
        Ok::<_, Failure>(())
    });
    success_result_of(driver);
    assert_eq!(log.take(), ["d2 cancelled"]);
    let e = e.lock().take().unwrap();
    assert!(failure_result_of(e).check::<CancelledError>());
}

#[test]
fn a_cancel_from_inside_the_block_is_delivered_at_its_next_await() {
    let log = Recorder::new();
    let (d1, f1) = Deferred::<u32>::new();
    let (d2, _f2) = cancellable(&log, "d2");
    let own: Arc<Mutex<Option<Deferred<u32>>>> = Arc::new(Mutex::new(None));
    let own2 = own.clone();
    let l = log.clone();
    let e = ensure_deferred(async move {
        d1.await?;
        own2.lock().as_ref().unwrap().cancel();
        l.record("still running after cancel()");
        match d2.await {
            Err(f) if f.check::<CancelledError>() => Ok(7),
            other => other,
        }
    });
    *own.lock() = Some(e);
    f1.callback(0).unwrap();
    assert_eq!(log.take(), ["still running after cancel()", "d2 cancelled"]);
    assert_eq!(success_result_of(own.lock().take().unwrap()), 7);
}

#[test]
fn cancel_after_the_block_finished_changes_nothing() {
    let e = ensure_deferred(async { Ok::<_, Failure>(3) });
    e.cancel();
    assert_eq!(success_result_of(e), 3);

    let (d, r) = Deferred::<u8>::new();
    let e = ensure_deferred(async move { d.await });
    r.callback(4).unwrap();
    e.cancel();
    assert_eq!(success_result_of(e), 4);
}

#[test]
fn a_task_nobody_can_wake_is_freed_with_its_future() {
    let drops = DropCounter::new();
    let token = drops.token();
    // `pending()` never keeps the waker, so nothing holds the task after its first poll.
    let d = Deferred::<()>::from_future(async move {
        let _token = token;
        std::future::pending::<()>().await
    });
    assert_eq!(drops.dropped(), 1);
    assert_no_result(&d);
    d.cancel(); // the task is gone: the Deferred just fails
    assert!(failure_result_of(d).check::<CancelledError>());
}

#[test]
fn a_finished_task_holds_nothing() {
    // Twisted's test_coroutineNoCircularReference, for a task that suspended first.
    let value = Arc::new("payload");
    let weak = Arc::downgrade(&value);
    let drops = DropCounter::new();
    let token = drops.token();
    let (d, r) = Deferred::<()>::new();
    let e = ensure_deferred(async move {
        let _token = token;
        d.await?;
        Ok::<_, Failure>(value)
    });
    r.callback(()).unwrap();
    assert_eq!(drops.dropped(), 1, "the finished future was dropped");
    drop(r);
    let value = success_result_of(e);
    assert_eq!(*value, "payload");
    drop(value);
    assert!(weak.upgrade().is_none());
}

#[test]
fn a_failure_the_future_took_is_the_futures_own_when_it_is_dropped() {
    // The future took the failure by awaiting it, so it was handled; dropping the future
    // (here by cancelling it) drops it like any other local, with no report.
    let (pending, _keep) = Deferred::<()>::new();
    let ((), reports) = capture_unhandled(|| {
        let d = Deferred::from_future(async move {
            let taken = deferreds::fail::<()>(Failure::msg("taken")).await;
            let _ = pending.await;
            taken.is_err()
        });
        d.cancel();
        assert!(failure_result_of(d).check::<CancelledError>());
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn a_future_woken_while_it_is_polled_is_polled_again() {
    let polls = Arc::new(AtomicUsize::new(0));
    let p = polls.clone();
    let d = Deferred::from_future(std::future::poll_fn(move |cx| {
        if p.fetch_add(1, Ordering::SeqCst) < 3 {
            cx.waker().wake_by_ref();
            Poll::Pending
        } else {
            Poll::Ready("done")
        }
    }));
    assert_eq!(success_result_of(d), "done");
    assert_eq!(polls.load(Ordering::SeqCst), 4);
}

#[test]
fn tasks_woken_during_a_poll_resume_after_it_not_inside_it() {
    // The one deliberate ordering difference from Twisted: a task woken from inside another
    // task's poll on the same thread resumes once that poll returns (this is what keeps deep
    // nesting off the stack). Callbacks still run inside `callback`. Twisted's order would be
    // "callback", "waiter resumed", "firer after callback()".
    let log = Recorder::new();
    let (d, r) = Deferred::<u8>::new();
    let (l1, l2) = (log.clone(), log.clone());
    let waiter = ensure_deferred(async move {
        let n = d
            .map(move |n| {
                l1.record("callback");
                n
            })
            .await?;
        l2.record("waiter resumed");
        Ok::<_, Failure>(n)
    });
    let l = log.clone();
    let firer = ensure_deferred(async move {
        r.callback(1).unwrap();
        l.record("firer after callback()");
        Ok::<_, Failure>(())
    });
    assert_eq!(log.take(), ["callback", "firer after callback()", "waiter resumed"]);
    success_result_of(firer);
    assert_eq!(success_result_of(waiter), 1);

    // Fired from outside any task, the waiter resumes inside `callback`, as in Twisted.
    let (d, r) = Deferred::<u8>::new();
    let l = log.clone();
    let waiter = ensure_deferred(async move {
        let n = d.await?;
        l.record("waiter resumed");
        Ok::<_, Failure>(n)
    });
    r.callback(2).unwrap();
    log.record("after callback()");
    assert_eq!(log.take(), ["waiter resumed", "after callback()"]);
    assert_eq!(success_result_of(waiter), 2);
}

#[test]
fn a_hundred_thousand_nested_ensure_deferreds_complete_on_a_256k_stack() {
    on_small_stack(|| {
        let (leaf, fire) = Deferred::<u64>::new();
        let mut d = leaf;
        for _ in 0..100_000 {
            let inner = d;
            d = ensure_deferred(async move { Ok::<_, Failure>(inner.await? + 1) });
        }
        assert_no_result(&d);
        fire.callback(0).unwrap();
        assert_eq!(success_result_of(d), 100_000);
    });
}

/// `nest(n)` awaits `nest(n - 1)`, as in Twisted's e09 benchmark (`anest`).
fn nest(n: u32, leaf: Deferred<u64>) -> Deferred<u64> {
    ensure_deferred(async move {
        let inner = if n == 0 { leaf } else { nest(n - 1, leaf) };
        Ok::<_, Failure>(inner.await? + 1)
    })
}

#[test]
fn a_recursively_built_tower_of_a_hundred_thousand_completes_on_a_256k_stack() {
    // Building it is the caller's own recursion (as in Twisted, which builds it with a raised
    // recursion limit), so it gets a big stack; completing it is ours, on a small one.
    let (leaf, fire) = Deferred::<u64>::new();
    let top = std::thread::Builder::new()
        .stack_size(2 << 30)
        .spawn(move || nest(99_999, leaf))
        .unwrap()
        .join()
        .unwrap();
    assert_no_result(&top);
    on_small_stack(move || {
        fire.callback(0).unwrap();
        assert_eq!(success_result_of(top), 100_000);
    });
}

#[test]
fn a_failure_at_the_bottom_of_a_hundred_thousand_nested_blocks_reaches_the_top() {
    on_small_stack(|| {
        let (leaf, fire) = Deferred::<u64>::new();
        let mut d = leaf;
        for _ in 0..100_000 {
            let inner = d;
            d = ensure_deferred(async move { Ok::<_, Failure>(inner.await? + 1) });
        }
        let failure = Failure::new(NoRoute("the bottom"));
        fire.errback(failure.clone()).unwrap();
        assert!(failure_result_of(d).ptr_eq(&failure));
    });
}

#[test]
fn cancelling_the_top_of_a_hundred_thousand_nested_blocks_reaches_the_bottom() {
    on_small_stack(|| {
        let log = Recorder::new();
        let (leaf, _fire) = cancellable(&log, "leaf");
        let mut d = leaf.map(u64::from);
        for _ in 0..100_000 {
            let inner = d;
            d = ensure_deferred(async move { Ok::<_, Failure>(inner.await? + 1) });
        }
        d.cancel();
        assert_eq!(log.take(), ["leaf cancelled"]);
        assert!(failure_result_of(d).check::<CancelledError>());
    });
}

#[test]
fn cancelling_the_top_of_a_hundred_thousand_nested_from_futures_drops_them_all() {
    on_small_stack(|| {
        let log = Recorder::new();
        let drops = DropCounter::new();
        let (leaf, _fire) = cancellable(&log, "leaf");
        let mut d: Deferred<u32> = leaf;
        for _ in 0..100_000 {
            let inner = d;
            let token = drops.token();
            d = Deferred::from_future(async move {
                let _token = token;
                inner.await.unwrap_or(0)
            });
        }
        let ((), reports) = capture_unhandled(|| d.cancel());
        assert!(reports.is_empty(), "the cancellations nobody awaits are not reported");
        assert_eq!(drops.dropped(), 100_000);
        assert_eq!(log.take(), ["leaf cancelled"]);
        assert!(failure_result_of(d).check::<CancelledError>());
    });
}

#[test]
fn a_block_awaiting_a_hundred_thousand_fired_deferreds_runs_on_a_256k_stack() {
    // Twisted's testStackUsage, at a larger scale.
    on_small_stack(|| {
        let d = ensure_deferred(async {
            let mut total = 0u64;
            for _ in 0..100_000 {
                total += deferreds::succeed(1).await?;
            }
            Ok::<_, Failure>(total)
        });
        assert_eq!(success_result_of(d), 100_000);
    });
}

#[test]
fn dropping_the_returned_deferred_does_not_stop_the_block() {
    let log = Recorder::new();
    let l = log.clone();
    let (d, r) = Deferred::<u8>::new();
    drop(ensure_deferred(async move {
        let n = d.await?;
        l.record(format!("still ran with {n}"));
        Ok::<_, Failure>(())
    }));
    r.callback(3).unwrap();
    assert_eq!(log.take(), ["still ran with 3"]);
}

#[test]
fn cancelling_a_block_awaiting_several_deferreds_cancels_them_all() {
    let log = Recorder::new();
    let (a, _fa) = cancellable(&log, "a");
    let (b, _fb) = cancellable(&log, "b");
    let e = ensure_deferred(async move {
        let (a, b) = futures::join!(a.into_future(), b.into_future());
        Ok::<_, Failure>((a.is_err(), b.is_err()))
    });
    e.cancel();
    assert_eq!(log.take(), ["a cancelled", "b cancelled"]);
    assert_eq!(success_result_of(e), (true, true));
}

#[test]
fn a_try_join_that_gives_up_on_the_first_cancellation_cancels_the_rest_by_dropping_them() {
    let log = Recorder::new();
    let (a, _fa) = cancellable(&log, "a");
    let (b, _fb) = cancellable(&log, "b");
    let e = ensure_deferred(async move {
        let (a, b) = futures::try_join!(a.into_future(), b.into_future())?;
        Ok::<_, Failure>(a + b)
    });
    e.cancel();
    assert_eq!(log.take(), ["a cancelled", "b cancelled"]);
    assert!(failure_result_of(e).check::<CancelledError>());
}

#[test]
fn an_ensure_deferred_returned_from_a_callback_nests_like_any_deferred() {
    let log = Recorder::new();
    let (inner, fire_inner) = Deferred::<u32>::new();
    let outer = deferreds::succeed(1u32)
        .add_callback(move |n| ensure_deferred(async move { Ok::<_, Failure>(n + inner.await?) }));
    assert!(outer.is_waiting());
    fire_inner.callback(41).unwrap();
    assert_eq!(success_result_of(outer), 42);

    // Cancelling the outer chain goes through the block to the Deferred it awaits.
    let (inner, _fire) = cancellable(&log, "inner");
    let outer = deferreds::succeed(())
        .add_callback(move |()| ensure_deferred(async move { inner.await }))
        .add_errback(|f| {
            f.trap::<CancelledError>()?;
            Ok(0)
        });
    outer.cancel();
    assert_eq!(log.take(), ["inner cancelled"]);
    assert_eq!(success_result_of(outer), 0);
}

#[test]
fn a_panic_in_the_futures_destructor_after_it_completed_becomes_the_failure() {
    let (d, r) = Deferred::<u8>::new();
    let e = Deferred::from_future(Guarded(std::future::IntoFuture::into_future(d), PanicsOnDrop));
    r.callback(1).unwrap();
    let failure = failure_result_of(e);
    assert!(failure.check::<PanicError>());
    assert_eq!(failure.error_message(), "in a destructor");
}

#[test]
fn a_panicking_foreign_waker_does_not_strand_the_tasks_queued_behind_it() {
    let (d, fire_d) = Deferred::<()>::new();
    let (d2, fire_d2) = Deferred::<u8>::new();
    // B awaits d2, which A fires from inside its poll: B is queued behind A.
    let b = ensure_deferred(async move { d2.await });
    let a = ensure_deferred(async move {
        d.await?;
        fire_d2.callback(5).unwrap();
        Ok::<_, Failure>(())
    });
    // Something awaits A with a waker that panics when A completes.
    let mut a = std::future::IntoFuture::into_future(a);
    let waker = std::task::Waker::from(Arc::new(PanickingWaker));
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(std::pin::Pin::new(&mut a).poll(&mut cx).is_pending());

    let fired = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fire_d.callback(())));
    assert!(fired.is_err(), "the waker's panic reaches the caller");
    assert_eq!(success_result_of(b), 5, "B still ran");
}
