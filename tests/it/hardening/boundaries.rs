//! User code the crate drops or formats, panicking there: a value's, a step's, a canceller's,
//! a waker's or a future's destructor, an error's `Display`. Wherever it happens, every step
//! still runs exactly once, every Deferred that should fire fires, and nothing stays owned by a
//! run that ended; the panic becomes a failure where a chain can carry it, and an unhandled
//! report where none can. `docs/reliability.md` lists each place and the test that pins it.

use crate::hardening::support::{BadDisplay, CountingWaker, PanickingWaker, is_panic};
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use deferreds::testing::{
    DropCounter, Recorder, assert_no_result, capture_unhandled, failure_result_of,
    success_result_of,
};
use deferreds::{
    AlreadyCalledError, CancelledError, Deferred, DeferredList, Failure, FirstCallback, FirstError,
    PanicError, UnhandledFailure, ensure_deferred, fail, gather_results, race, succeed,
};

/// A value whose destructor panics (unless the thread is unwinding already, which would abort).
struct Boom(&'static str);

impl Drop for Boom {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

/// An error whose destructor panics.
#[derive(Debug)]
struct BoomError(#[allow(dead_code)] Boom);

impl fmt::Debug for Boom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Boom({:?})", self.0)
    }
}

impl fmt::Display for BoomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an error that panics when dropped")
    }
}

impl std::error::Error for BoomError {}

/// The messages of the panics among `reports`, in order.
fn panics(reports: &[UnhandledFailure]) -> Vec<String> {
    reports
        .iter()
        .filter_map(|r| r.failure().downcast_ref::<PanicError>())
        .map(|p| p.message().to_owned())
        .collect()
}

// --- cancellers ----------------------------------------------------------------------------

#[test]
fn a_canceller_whose_captured_value_panics_on_drop_does_not_stop_the_fire() {
    let log = Recorder::new();
    let ((), reports) = capture_unhandled(|| {
        let boom = Boom("the canceller's value");
        let (d, r) = Deferred::<u32>::with_canceller(move |_| {
            let _ = &boom;
        });
        let l = log.clone();
        let d = d.map(move |n| {
            l.record(format!("queued step got {n}"));
            n + 1
        });
        // Firing drops the unused canceller: its panic is reported, and the fire goes on.
        r.callback(1).unwrap();
        let l = log.clone();
        let d = d.map(move |n| {
            l.record(format!("later step got {n}"));
            n + 1
        });
        assert_eq!(success_result_of(d), 3);
    });
    assert_eq!(log.take(), ["queued step got 1", "later step got 2"]);
    assert_eq!(panics(&reports), ["the canceller's value"]);
}

#[test]
fn an_unfired_deferred_drops_its_canceller_with_its_last_handle_and_the_panic_reaches_the_drop() {
    let counter = DropCounter::new();
    let boom = Boom("the canceller's value");
    let token = counter.token();
    let (d, r) = Deferred::<u8>::with_canceller(move |_| {
        let _ = (&boom, &token);
    });
    let d = d.map({
        let token = counter.token();
        move |n| {
            let _token = token;
            n
        }
    });
    drop(r);
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(d)));
    assert!(dropped.is_err(), "the code that drops the last handle sees the panic");
    assert_eq!(counter.alive(), 0, "everything else the chain owned was dropped too");

    // The same for a result left in a chain: it is the dropper's.
    let (d, r) = Deferred::<(Option<Boom>, deferreds::testing::DropToken)>::new();
    r.callback((Some(Boom("a result nobody took")), counter.token())).unwrap();
    drop(r);
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(d)));
    assert!(dropped.is_err());
    assert_eq!(counter.alive(), 0);
}

#[test]
fn values_left_in_a_deferred_queue_are_the_droppers_and_all_dropped() {
    let counter = DropCounter::new();
    let queue = deferreds::DeferredQueue::new();
    queue.put((Some(Boom("a queued value")), counter.token())).unwrap();
    queue.put((None, counter.token())).unwrap();
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(queue)));
    assert!(dropped.is_err());
    assert_eq!(counter.alive(), 0, "the value behind it was dropped too");
}

// --- values refused, swallowed or let go of by the engine ----------------------------------

#[test]
fn chain_deferred_into_a_fired_deferred_reports_the_refused_values_panic_and_goes_on() {
    let log = Recorder::new();
    let ((), reports) = capture_unhandled(|| {
        let (b, fire_b) = Deferred::<Option<Boom>>::new();
        fire_b.callback(None).unwrap();
        let (a, fire_a) = Deferred::<Option<Boom>>::new();
        let l = log.clone();
        let a = a
            .chain_deferred(&fire_b)
            .add_errback(move |f| {
                l.record(format!("already called: {}", f.check::<AlreadyCalledError>()));
                Ok(())
            })
            .map({
                let l = log.clone();
                move |()| l.record("the next step ran")
            });
        fire_a.callback(Some(Boom("refused by b"))).unwrap();
        success_result_of(a);
        assert!(success_result_of(b).is_none(), "b kept its first result");
    });
    assert_eq!(log.take(), ["already called: true", "the next step ran"]);
    assert_eq!(panics(&reports), ["refused by b"]);
}

#[test]
fn a_value_refused_by_a_fired_deferred_is_reported_when_its_drop_panics() {
    let ((), reports) = capture_unhandled(|| {
        let (b, fire_b) = Deferred::<Option<Boom>>::new();
        fire_b.callback(None).unwrap();
        // Straight from the resolver: the caller gets its typed error, not the panic.
        assert!(fire_b.callback(Some(Boom("refused resolver value"))).is_err());
        // From a Deferred that already had its value (no chain behind it).
        let a = succeed(Some(Boom("refused ready value"))).chain_deferred(&fire_b);
        assert!(failure_result_of(a).check::<AlreadyCalledError>());
        assert!(success_result_of(b).is_none());
    });
    assert_eq!(panics(&reports), ["refused resolver value", "refused ready value"]);
}

#[test]
fn a_value_swallowed_by_a_cancelled_deferred_is_dropped_outside_the_lock_and_reported() {
    let log = Recorder::new();
    let ((), reports) = capture_unhandled(|| {
        // Cancelled without a canceller: the next fire is swallowed.
        let (b, fire_b) = Deferred::<Option<Boom>>::new();
        b.cancel();
        let (a, fire_a) = Deferred::<Option<Boom>>::new();
        let l = log.clone();
        let a = a.chain_deferred(&fire_b).map(move |()| l.record("a went on"));
        fire_a.callback(Some(Boom("swallowed through chain_deferred"))).unwrap();
        success_result_of(a);
        assert!(failure_result_of(b).check::<CancelledError>());

        let (c, fire_c) = Deferred::<Option<Boom>>::new();
        c.cancel();
        assert!(fire_c.callback(Some(Boom("swallowed from the resolver"))).is_ok());
        assert!(failure_result_of(c).check::<CancelledError>());
    });
    assert_eq!(log.take(), ["a went on"]);
    assert_eq!(
        panics(&reports),
        ["swallowed through chain_deferred", "swallowed from the resolver"]
    );
}

#[test]
fn the_last_handle_of_a_chain_deferred_target_is_let_go_of_without_stranding_the_run() {
    let log = Recorder::new();
    let ((), reports) = capture_unhandled(|| {
        // The target runs (nothing holds it back) and keeps the value; only the step that
        // fires it still holds it.
        let (b, fire_b) = Deferred::<Option<Boom>>::new();
        drop(b);
        let (a, fire_a) = Deferred::<Option<Boom>>::new();
        let l = log.clone();
        let a = a.chain_deferred(&fire_b).map(move |()| l.record("a went on after b ran"));
        drop(fire_b);
        fire_a.callback(Some(Boom("kept by the target that ran"))).unwrap();
        success_result_of(a);

        // The target is paused: it stores the value.
        let (b, fire_b) = Deferred::<Option<Boom>>::new();
        fire_b.pause();
        drop(b);
        let (a, fire_a) = Deferred::<Option<Boom>>::new();
        let l = log.clone();
        let a = a.chain_deferred(&fire_b).map(move |()| l.record("a went on after b stored"));
        drop(fire_b);
        fire_a.callback(Some(Boom("kept by the paused target"))).unwrap();
        success_result_of(a);
    });
    assert_eq!(log.take(), ["a went on after b ran", "a went on after b stored"]);
    assert_eq!(panics(&reports), ["kept by the target that ran", "kept by the paused target"]);
}

#[test]
fn the_last_handle_of_a_deferred_a_step_returned_is_let_go_of_without_stranding_the_run() {
    let log = Recorder::new();
    let ((), reports) = capture_unhandled(|| {
        // b's step returns a Deferred that nobody can fire, whose own step holds a `Boom`: b
        // holds its last handle once it waits on it. b is fired through `chain_deferred`, so
        // a's run is still under way when b lets go of it.
        let (b, fire_b) = Deferred::<u8>::new();
        let boom = Boom("the step of a Deferred nobody can fire");
        let b = b.add_callback(move |_| {
            let (inner, fire_inner) = Deferred::<u8>::new();
            drop(fire_inner);
            inner.map(move |n| {
                let _ = &boom;
                n
            })
        });
        let (a, fire_a) = Deferred::<u8>::new();
        let l = log.clone();
        let a = a.chain_deferred(&fire_b).map(move |()| l.record("a went on"));
        fire_a.callback(1).unwrap();
        success_result_of(a);
        assert!(b.is_waiting(), "b waits for good on what it returned");
    });
    assert_eq!(log.take(), ["a went on"]);
    assert_eq!(panics(&reports), ["the step of a Deferred nobody can fire"]);
}

#[test]
fn a_paused_chain_that_a_result_is_delivered_to_may_be_let_go_of_without_stranding_the_run() {
    let log = Recorder::new();
    let ((), reports) = capture_unhandled(|| {
        // b waits on `inner`, is paused, and nothing else holds it: `inner` holds its last
        // handle, and lets go of it when it delivers its result to it.
        let (inner, fire_inner) = Deferred::<u8>::new();
        let (b, fire_b) = Deferred::<u8>::new();
        let boom = Boom("the paused chain's step");
        let b = b.add_callback(move |_| inner).map(move |n| {
            let _ = &boom;
            n
        });
        drop(b);
        fire_b.callback(0).unwrap();
        fire_b.pause();
        drop(fire_b);
        // `inner` is fired through `chain_deferred`: a's run is under way when it delivers.
        let (a, fire_a) = Deferred::<u8>::new();
        let l = log.clone();
        let a = a.chain_deferred(&fire_inner).map(move |()| l.record("a went on"));
        drop(fire_inner);
        fire_a.callback(1).unwrap();
        success_result_of(a);
    });
    assert_eq!(log.take(), ["a went on"]);
    assert_eq!(panics(&reports), ["the paused chain's step"]);
}

// --- steps ---------------------------------------------------------------------------------

#[test]
fn a_step_that_runs_fails_with_a_panic_in_what_it_drops_and_a_skipped_step_reports_it() {
    let log = Recorder::new();
    let ((), reports) = capture_unhandled(|| {
        // Run: the value it consumes is dropped inside it.
        let (d, r) = Deferred::<Option<Boom>>::new();
        let d = d
            .map(|_| 5u8)
            .add_errback(|f| if is_panic(&f, "a consumed value") { Ok(6) } else { Err(f) });
        r.callback(Some(Boom("a consumed value"))).unwrap();
        assert_eq!(success_result_of(d), 6);

        // Skipped: the half that does not run is dropped, and the result passes through.
        let boom = Boom("a skipped callback");
        let l = log.clone();
        let d = fail::<u8>(Failure::msg("the failure passing through"))
            .map(move |n| {
                let _ = &boom;
                n
            })
            .add_errback(move |f| {
                l.record(f.error_message());
                Ok(1)
            });
        assert_eq!(success_result_of(d), 1);
        let boom = Boom("a skipped errback");
        let d = succeed(2u8).add_errback(move |f| {
            let _ = &boom;
            Err(f)
        });
        assert_eq!(success_result_of(d), 2);
        let (on_value, on_failure) =
            (Boom("an add_callbacks errback"), Boom("an add_callbacks callback"));
        let d = succeed(3u8)
            .add_callbacks(
                |n| Ok(n + 1),
                move |f| {
                    let _ = &on_value;
                    Err(f)
                },
            )
            .add_callback(|n| if n == 4 { Err(Failure::msg("to the errback")) } else { Ok(n) })
            .add_callbacks(
                move |n| {
                    let _ = &on_failure;
                    Ok(n)
                },
                |f| Ok(f.error_message().len() as u8),
            );
        assert_eq!(success_result_of(d), 14);
    });
    assert_eq!(log.take(), ["the failure passing through"]);
    assert_eq!(
        panics(&reports),
        [
            "a skipped callback",
            "a skipped errback",
            "an add_callbacks errback",
            "an add_callbacks callback"
        ]
    );
}

#[test]
fn a_panic_whose_payload_panics_when_dropped_still_becomes_the_steps_failure() {
    let (d, r) = Deferred::<u8>::new();
    let d = d
        .map(|_| -> u8 { std::panic::panic_any(Boom("a panic's payload")) })
        .add_errback(|f| if f.check::<PanicError>() { Ok(1) } else { Err(f) });
    r.callback(0).unwrap();
    let d = d.map(|n| n + 1);
    assert_eq!(success_result_of(d), 2);
}

// --- combinators ---------------------------------------------------------------------------

#[test]
fn gather_results_fires_at_the_first_failure_even_if_a_gathered_value_panics_on_drop() {
    let ((), reports) = capture_unhandled(|| {
        let (a, fire_a) = Deferred::<Option<Boom>>::new();
        let (b, fire_b) = Deferred::<Option<Boom>>::new();
        let gathered = gather_results(vec![a, b]);
        fire_a.callback(Some(Boom("gathered before the failure"))).unwrap();
        fire_b.errback(Failure::msg("b failed")).unwrap();
        let failure = failure_result_of(gathered);
        assert_eq!(failure.downcast_ref::<FirstError>().unwrap().index, 1);

        // `DeferredList` with `fire_on_one_errback` takes the same path.
        let (a, fire_a) = Deferred::<Option<Boom>>::new();
        let (b, fire_b) = Deferred::<Option<Boom>>::new();
        let list = DeferredList::new(vec![a, b])
            .fire_on_one_errback(true)
            .consume_errors(true)
            .into_deferred();
        fire_a.callback(Some(Boom("listed before the failure"))).unwrap();
        fire_b.errback(Failure::msg("b failed")).unwrap();
        assert!(failure_result_of(list).check::<FirstError>());
    });
    assert_eq!(panics(&reports), ["gathered before the failure", "listed before the failure"]);
}

#[test]
fn race_and_fire_on_one_callback_fire_at_the_first_success_even_if_an_earlier_failure_panics_on_drop()
 {
    let ((), reports) = capture_unhandled(|| {
        let (a, fire_a) = Deferred::<u8>::new();
        let (b, fire_b) = Deferred::<u8>::new();
        let winner = race(vec![a, b]);
        fire_a.errback(Failure::new(BoomError(Boom("a failure before the race was won")))).unwrap();
        fire_b.callback(7).unwrap();
        assert_eq!(success_result_of(winner), (1, 7));

        let (a, fire_a) = Deferred::<u8>::new();
        let (b, fire_b) = Deferred::<u8>::new();
        let first = DeferredList::new(vec![a, b]).consume_errors(true).fire_on_one_callback();
        fire_a.errback(Failure::new(BoomError(Boom("a failure before the list fired")))).unwrap();
        fire_b.callback(8).unwrap();
        assert!(matches!(
            success_result_of(first),
            FirstCallback::Succeeded { index: 1, value: 8 }
        ));
    });
    assert_eq!(
        panics(&reports),
        ["a failure before the race was won", "a failure before the list fired"]
    );
}

#[test]
fn a_cancelled_deferred_list_fails_with_cancelled_error_even_if_a_gathered_value_panics_on_drop() {
    let ((), reports) = capture_unhandled(|| {
        let (a, fire_a) = Deferred::<Option<Boom>>::new();
        // A paused input does not settle the list when it is cancelled.
        let (mut b, fire_b) = Deferred::<Option<Boom>>::new();
        b.pause();
        let list = DeferredList::new(vec![a, b]).consume_errors(true).into_deferred();
        fire_a.callback(Some(Boom("gathered before the cancel"))).unwrap();
        list.cancel();
        assert!(failure_result_of(list).check::<CancelledError>());
        // The input's late result goes nowhere, as any result after the list fired.
        fire_b.unpause().unwrap();
    });
    assert_eq!(panics(&reports), ["gathered before the cancel"]);
}

#[test]
fn a_result_arriving_after_a_list_fired_fails_only_its_own_input_when_it_panics_on_drop() {
    let ((), reports) = capture_unhandled(|| {
        let (a, fire_a) = Deferred::<Option<Boom>>::new();
        let (b, fire_b) = Deferred::<Option<Boom>>::new();
        let first = DeferredList::new(vec![a, b]).fire_on_one_callback();
        fire_a.callback(None).unwrap();
        assert!(matches!(success_result_of(first), FirstCallback::Succeeded { index: 0, .. }));
        // The leftover is dropped by the step on b's chain: b's chain carries the panic, and
        // reports it once its last handle goes.
        fire_b.callback(Some(Boom("late value"))).unwrap();
    });
    assert_eq!(panics(&reports), ["late value"]);
}

// --- futures and wakers --------------------------------------------------------------------

#[test]
fn a_future_freed_with_its_task_reports_a_panic_in_its_destructor() {
    let ((), reports) = capture_unhandled(|| {
        // The future never keeps its waker: the task is freed as `from_future` returns.
        let d = Deferred::<()>::from_future(async {
            let _guard = Boom("a future nothing can wake");
            std::future::pending::<()>().await
        });
        assert_no_result(&d);
        d.cancel();
        assert!(failure_result_of(d).check::<CancelledError>());

        let d = ensure_deferred(async {
            let _guard = Boom("an async block nothing can wake");
            std::future::pending::<()>().await;
            Ok::<u8, Failure>(0)
        });
        assert_no_result(&d);
        d.cancel();
        assert!(failure_result_of(d).check::<CancelledError>());
    });
    assert_eq!(panics(&reports), ["a future nothing can wake", "an async block nothing can wake"]);
}

/// A waker that counts its wakes and panics when its last clone is dropped.
struct DropPanickingWaker(#[allow(dead_code)] Boom, Arc<AtomicUsize>);

impl Wake for DropPanickingWaker {
    fn wake(self: Arc<Self>) {
        self.1.fetch_add(1, SeqCst);
    }
}

fn drop_panicking_waker(what: &'static str) -> (Waker, Arc<AtomicUsize>) {
    let wakes = Arc::new(AtomicUsize::new(0));
    (Waker::from(Arc::new(DropPanickingWaker(Boom(what), wakes.clone()))), wakes)
}

#[test]
fn a_waker_that_panics_on_drop_when_a_later_poll_replaces_it_is_reported_and_the_await_goes_on() {
    let ((), reports) = capture_unhandled(|| {
        let (d, r) = Deferred::<u8>::new();
        let mut future = d.into_future();
        let (first, _) = drop_panicking_waker("a replaced waker");
        assert!(Pin::new(&mut future).poll(&mut Context::from_waker(&first)).is_pending());
        drop(first); // the chain holds the last clone
        // Paused, the fired chain keeps the waker it has; the next poll brings another.
        r.pause();
        r.callback(4).unwrap();
        let wakes = Arc::new(CountingWaker::default());
        let second = Waker::from(wakes.clone());
        assert!(Pin::new(&mut future).poll(&mut Context::from_waker(&second)).is_pending());
        r.unpause().unwrap();
        assert_eq!(wakes.wakes(), 1, "the new waker was registered");
        let ready = Pin::new(&mut future).poll(&mut Context::from_waker(&second));
        assert!(matches!(ready, Poll::Ready(Ok(4))));
    });
    assert_eq!(panics(&reports), ["a replaced waker"]);
}

#[test]
fn a_panicking_waker_in_a_hand_over_does_not_strand_the_waiters_queued_behind_it() {
    let queue = deferreds::DeferredQueue::<u8>::new();
    let first = queue.get().unwrap();
    let second = queue.get().unwrap();
    // The first get's step puts again: that hand-over is queued behind the first one, which
    // then wakes a waker that panics.
    let q = queue.clone();
    let mut first = first
        .map(move |n| {
            q.put(n + 1).unwrap();
            n
        })
        .into_future();
    let waker = Waker::from(Arc::new(PanickingWaker));
    assert!(Pin::new(&mut first).poll(&mut Context::from_waker(&waker)).is_pending());
    let put = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| queue.put(1)));
    assert!(put.is_err(), "the waker's panic reaches the caller of `put`");
    assert_eq!(success_result_of(second), 2, "the hand-over queued behind it was made");
    let ready = Pin::new(&mut first).poll(&mut Context::from_waker(Waker::noop()));
    assert!(matches!(ready, Poll::Ready(Ok(1))));
}

/// A waker that panics with a payload that panics when dropped.
struct PayloadPanickingWaker;

impl Wake for PayloadPanickingWaker {
    fn wake(self: Arc<Self>) {
        std::panic::panic_any(Boom("a second waker's payload"));
    }
}

#[test]
fn when_two_wakers_panic_in_one_fire_the_first_panic_is_passed_on_and_the_other_dropped() {
    // b is fired through `chain_deferred` from a: both complete in one run, each waking the
    // task that awaits it, b first.
    let (a, fire_a) = Deferred::<u8>::new();
    let (b, fire_b) = Deferred::<u8>::new();
    let mut a = a.chain_deferred(&fire_b).into_future();
    let mut b = b.into_future();
    let first = Waker::from(Arc::new(PanickingWaker));
    let second = Waker::from(Arc::new(PayloadPanickingWaker));
    assert!(Pin::new(&mut b).poll(&mut Context::from_waker(&first)).is_pending());
    assert!(Pin::new(&mut a).poll(&mut Context::from_waker(&second)).is_pending());
    let fired = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fire_a.callback(3)));
    let payload = fired.expect_err("the first waker's panic reaches the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"a waker panicked"));
    let noop = &mut Context::from_waker(Waker::noop());
    assert!(matches!(Pin::new(&mut b).poll(noop), Poll::Ready(Ok(3))));
    assert!(matches!(Pin::new(&mut a).poll(noop), Poll::Ready(Ok(()))));
}

#[test]
fn dropping_a_deferred_future_whose_waker_panics_on_drop_still_cancels_its_deferred() {
    let ((), reports) = capture_unhandled(|| {
        let cancelled = Arc::new(AtomicUsize::new(0));
        let c = cancelled.clone();
        let (d, _r) = Deferred::<u8>::with_canceller(move |_| {
            c.fetch_add(1, SeqCst);
        });
        let mut future = d.into_future();
        let (waker, _) = drop_panicking_waker("the waker of a dropped future");
        assert!(Pin::new(&mut future).poll(&mut Context::from_waker(&waker)).is_pending());
        drop(waker);
        drop(future);
        assert_eq!(cancelled.load(SeqCst), 1);
    });
    assert_eq!(panics(&reports), ["the waker of a dropped future"]);
}

// --- reports and formatting ----------------------------------------------------------------

#[test]
fn an_unhandled_report_never_unwinds_when_the_errors_display_panics() {
    let _hook = crate::hardening::support::HOOK.lock();
    // With the default report, on a thread with no capture.
    deferreds::reset_unhandled_hook();
    std::thread::spawn(|| drop(fail::<u8>(Failure::new(BadDisplay))))
        .join()
        .expect("the default report did not unwind");
    // With a hook that formats the report, so that it panics: the fallback report formats the
    // same error.
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    deferreds::set_unhandled_hook(move |report| {
        s.fetch_add(1, SeqCst);
        let _ = report.to_string();
    });
    let joined = std::thread::spawn(|| {
        drop(fail::<u8>(Failure::new(BadDisplay)));
        // A failure whose error panics when the report, its last holder, drops it.
        drop(fail::<u8>(Failure::new(BoomError(Boom("the reported error")))));
    })
    .join();
    joined.expect("the hook's fallback report did not unwind");
    assert_eq!(seen.load(SeqCst), 2);
    // A hook whose panic's payload panics when dropped.
    deferreds::set_unhandled_hook(|_| std::panic::panic_any(Boom("the hook's payload")));
    let joined = std::thread::spawn(|| drop(fail::<u8>(Failure::msg("reported")))).join();
    deferreds::reset_unhandled_hook();
    joined.expect("the hook's payload did not unwind out of the report");
}

#[test]
fn replacing_the_unhandled_hook_drops_the_old_one_outside_the_hooks_lock() {
    let _hook = crate::hardening::support::HOOK.lock();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // The old hook owns a failed Deferred: dropping the hook reports that failure, which
        // reads the hook.
        let owned = fail::<u8>(Failure::msg("owned by the old hook"));
        deferreds::set_unhandled_hook(move |_| {
            let _ = &owned;
        });
        let seen = Arc::new(AtomicUsize::new(0));
        let s = seen.clone();
        deferreds::set_unhandled_hook(move |report| {
            if report.failure().error_message() == "owned by the old hook" {
                s.fetch_add(1, SeqCst);
            }
        });
        deferreds::reset_unhandled_hook();
        let _ = done.send(seen.load(SeqCst));
    });
    let seen = finished
        .recv_timeout(Duration::from_secs(20))
        .expect("replacing the hook deadlocked on the hook's lock");
    assert_eq!(seen, 1, "the new hook got the old one's failure");
}

/// An error whose `Display` reads the chain that holds it, which takes that chain's lock.
struct ReadsItsChain(deferreds::Resolver<u8>);

impl fmt::Debug for ReadsItsChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReadsItsChain")
    }
}

impl fmt::Display for ReadsItsChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "called: {}", self.0.called())
    }
}

impl std::error::Error for ReadsItsChain {}

#[test]
fn debug_of_a_failed_deferred_formats_the_error_outside_the_chains_lock() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (d, r) = Deferred::<u8>::new();
        r.errback(Failure::new(ReadsItsChain(r.clone()))).unwrap();
        let text = format!("{d:?} {r:?}");
        // Taking the failure out breaks the cycle through the error's resolver.
        drop(failure_result_of(d));
        let _ = done.send(text);
    });
    let text = finished
        .recv_timeout(Duration::from_secs(20))
        .expect("formatting the Deferred deadlocked on its own lock");
    assert!(text.contains("called: true"), "{text}");
    // A `Display` that panics reaches the caller of `fmt`, and the chain is left as it was.
    let (d, r) = Deferred::<u8>::new();
    r.errback(Failure::new(BadDisplay)).unwrap();
    let formatted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| format!("{d:?}")));
    assert!(formatted.is_err());
    assert!(r.called());
    assert!(failure_result_of(d.map(|n| n + 1)).check::<BadDisplay>());
}

// --- shared results --------------------------------------------------------------------

/// A value whose `clone` panics on the `panic_at`th clone made of it (counted from 1).
#[derive(Debug)]
struct CloneBomb {
    clones: Arc<AtomicUsize>,
    panic_at: usize,
}

impl Clone for CloneBomb {
    fn clone(&self) -> Self {
        let n = self.clones.fetch_add(1, SeqCst) + 1;
        if n == self.panic_at {
            panic!("clone {n}");
        }
        CloneBomb { clones: self.clones.clone(), panic_at: self.panic_at }
    }
}

#[test]
fn a_panic_cloning_a_shared_value_for_one_observer_fails_that_observer_and_the_others_get_it() {
    let clones = Arc::new(AtomicUsize::new(0));
    let (d, r) = Deferred::new();
    let shared = d.share();
    let observers: Vec<_> = (0..3).map(|_| shared.observe()).collect();
    r.callback(CloneBomb { clones: clones.clone(), panic_at: 2 }).unwrap();
    let mut observers = observers.into_iter();
    assert_eq!(success_result_of(observers.next().unwrap()).panic_at, 2);
    assert!(is_panic(&failure_result_of(observers.next().unwrap()), "clone 2"));
    assert_eq!(success_result_of(observers.next().unwrap()).panic_at, 2);
    // The share goes on: a later observer gets its own clone.
    assert_eq!(success_result_of(shared.observe()).panic_at, 2);
    assert_eq!(clones.load(SeqCst), 4);
}

#[test]
fn a_panic_cloning_a_shared_value_for_an_observer_made_later_fails_that_observer() {
    let clones = Arc::new(AtomicUsize::new(0));
    let shared = succeed(CloneBomb { clones: clones.clone(), panic_at: 1 }).share();
    assert!(is_panic(&failure_result_of(shared.observe()), "clone 1"));
    assert_eq!(success_result_of(shared.observe()).panic_at, 1);
}

/// A value whose original panics when dropped, and whose clones do not.
#[derive(Debug)]
struct Original(bool);

impl Clone for Original {
    fn clone(&self) -> Self {
        Original(false)
    }
}

impl Drop for Original {
    fn drop(&mut self) {
        if self.0 && !std::thread::panicking() {
            panic!("the original");
        }
    }
}

#[test]
fn a_shared_result_whose_drop_panics_once_its_share_is_gone_does_not_strand_the_observers_behind_it()
 {
    let ((), reports) = capture_unhandled(|| {
        // Two shares with one observer each and no handle left: once their sources fire, the
        // observers they hand out hold the last reference to the original value.
        let share = |d: Deferred<Original>| {
            let shared = d.share();
            shared.observe()
        };
        let (b, fire_b) = Deferred::new();
        let (c, fire_c) = Deferred::new();
        let (b, c) = (share(b), share(c));
        // Fired from an observer of a third share, so that theirs are handed out after it,
        // in one loop.
        let (a, fire_a) = Deferred::<u8>::new();
        let a = a.share().observe().map(move |n| {
            fire_b.callback(Original(true)).unwrap();
            fire_c.callback(Original(true)).unwrap();
            n
        });
        fire_a.callback(1).unwrap();
        assert_eq!(success_result_of(a), 1);
        assert!(!success_result_of(b).0, "a clone");
        assert!(!success_result_of(c).0, "a clone");
        // The thread still hands out shared results.
        let (d, fire_d) = Deferred::<u8>::new();
        let d = d.share().observe();
        fire_d.callback(7).unwrap();
        assert_eq!(success_result_of(d), 7);
    });
    assert_eq!(panics(&reports), ["the original", "the original"]);
}

#[test]
fn an_observer_let_go_of_by_its_share_reports_a_panic_in_what_its_chain_owned() {
    let ((), reports) = capture_unhandled(|| {
        let (d, r) = Deferred::<u8>::new();
        let shared = d.share();
        let (dropped, kept) =
            (shared.observe().map(|_| Boom("left on the observer")), shared.observe());
        // Only the share holds the first observer now; its last step's value panics when the
        // share lets go of it. That is reported there and then, not made the failure of the
        // source's chain (reported only once its resolver goes).
        drop(dropped);
        let ((), during) = capture_unhandled(|| r.callback(3).unwrap());
        assert_eq!(panics(&during), ["left on the observer"]);
        assert_eq!(success_result_of(kept), 3);
        assert_eq!(success_result_of(shared.observe()), 3);
    });
    assert!(reports.is_empty(), "{reports:?}");
}

// --- `{:?}` of a Deferred's value --------------------------------------------------------

/// A value whose `Debug` panics.
struct BadDebug(u8);

impl fmt::Debug for BadDebug {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("Debug panicked")
    }
}

#[test]
fn debug_of_a_deferreds_value_panicking_reaches_the_caller_and_the_value_stays_in_the_chain() {
    let (d, r) = Deferred::<BadDebug>::new();
    r.callback(BadDebug(4)).unwrap();
    let formatted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| format!("{d:?}")));
    assert!(formatted.is_err());
    // The value went back, and the chain is not left running ("running callbacks"): a step
    // added now runs on it.
    assert!(format!("{r:?}").ends_with(" current result: a boxed value>"), "{r:?}");
    assert_eq!(success_result_of(d.map(|v| v.0 + 1)), 5);
    // An inline result (a Deferred made by `succeed`) likewise.
    let d = succeed(BadDebug(6));
    let formatted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| format!("{d:?}")));
    assert!(formatted.is_err());
    assert_eq!(success_result_of(d.map(|v| v.0)), 6);
}

// --- `and_then` ----------------------------------------------------------------------------

#[test]
fn and_then_fails_its_step_with_a_panic_and_reports_a_panic_in_its_unused_closure() {
    let d = succeed(1).and_then(|_| -> Result<Deferred<u8>, Failure> { panic!("in and_then") });
    assert!(is_panic(&failure_result_of(d), "in and_then"));
    let ((), reports) = capture_unhandled(|| {
        let boom = Boom("and_then's captures");
        let d = fail::<u8>(Failure::msg("passes")).and_then(move |n| {
            let _ = &boom;
            Ok(succeed(n))
        });
        assert_eq!(failure_result_of(d).error_message(), "passes");
    });
    assert_eq!(panics(&reports), ["and_then's captures"]);
}

// --- conversions of failures -----------------------------------------------------------------

/// An error type with a conversion into a boxed error of its own, which panics.
struct Unconvertible;

impl From<Unconvertible> for Box<dyn std::error::Error + Send + Sync> {
    fn from(_: Unconvertible) -> Self {
        panic!("no conversion")
    }
}

#[test]
fn a_panic_in_a_conversion_into_failure_is_the_callers_and_fails_the_step_it_runs_in() {
    use deferreds::IntoFailure;
    let d = succeed(()).add_callback(|()| Err::<u8, _>(Unconvertible).into_failure());
    assert!(is_panic(&failure_result_of(d), "no conversion"));
    // Out of a step, it reaches the caller of `into_failure`; the crate holds nothing then.
    let converted = std::panic::catch_unwind(|| Err::<u8, _>(Unconvertible).into_failure());
    assert!(converted.is_err());
}

#[cfg(feature = "reactor")]
mod reactor {
    use std::sync::Arc;

    use parking_lot::Mutex;

    use deferreds::reactor::{Clock, Phase, Reactor, ReactorFailure, SystemEvent};
    use deferreds::testing::{DropCounter, capture_unhandled, success_result_of};
    use deferreds::{Deferred, Failure, fail};

    use super::{BadDisplay, Boom, panics};

    #[test]
    fn the_reactor_finishes_when_a_failure_report_panics_in_the_errors_display() {
        let reactor = Reactor::new();
        let handled = Arc::new(Mutex::new(0));
        let h = handled.clone();
        // The handler formats the report, which panics; the reactor's own report of that
        // formats it again.
        reactor.set_failure_handler(move |report: &ReactorFailure| {
            *h.lock() += 1;
            let _ = report.to_string();
        });
        reactor.add_system_event_trigger(Phase::Before, SystemEvent::Startup, || {
            fail::<()>(Failure::new(BadDisplay))
        });
        let r = reactor.clone();
        reactor.call_when_running(move || r.stop().unwrap());
        assert_eq!(reactor.run(), Ok(()));
        assert_eq!(*handled.lock(), 1);
        assert!(!reactor.running());
    }

    #[test]
    fn what_the_reactor_drops_at_shutdown_may_panic_and_is_reported_and_all_dropped() {
        let reactor = Reactor::new();
        let reports = Arc::new(Mutex::new(Vec::new()));
        let rs = reports.clone();
        reactor.set_failure_handler(move |report: &ReactorFailure| {
            rs.lock().push(format!("{}: {}", report.context(), report.failure().error_message()));
        });
        let counter = DropCounter::new();
        // Pending timed calls, never run: their closures are dropped at shutdown.
        let boom = Boom("a timed call's closure");
        reactor
            .call_later(100.0, move || {
                let _ = &boom;
            })
            .unwrap();
        let token = counter.token();
        let kept = reactor.call_later(200.0, move || drop(token)).unwrap();
        // A Deferred a "during shutdown" trigger returns, which is not waited for: dropped.
        reactor.add_system_event_trigger(Phase::During, SystemEvent::Shutdown, || {
            let (d, r) = Deferred::<()>::new();
            drop(r);
            let boom = Boom("a trigger's Deferred");
            d.map(move |()| {
                let _ = &boom;
            })
        });
        let r = reactor.clone();
        reactor.call_when_running(move || r.stop().unwrap());
        assert_eq!(reactor.run(), Ok(()));
        let mut got = reports.lock().clone();
        got.sort();
        assert_eq!(
            got,
            [
                "while calling system event trigger handler: a trigger's Deferred",
                "while handling timed call: a timed call's closure",
            ]
        );
        assert_eq!(counter.alive(), 0, "the other closure was dropped too");
        assert!(kept.cancelled());
    }

    #[test]
    fn a_before_trigger_deferred_nothing_can_fire_may_panic_when_dropped_and_is_reported() {
        let reactor = Reactor::new();
        let reports = Arc::new(Mutex::new(Vec::new()));
        let rs = reports.clone();
        reactor.set_failure_handler(move |report: &ReactorFailure| {
            rs.lock().push(format!("{}: {}", report.context(), report.failure().error_message()));
        });
        // Startup waits for it forever; shutdown still completes.
        reactor.add_system_event_trigger(Phase::Before, SystemEvent::Startup, || {
            let (d, r) = Deferred::<()>::new();
            drop(r);
            let boom = Boom("a before trigger's Deferred");
            d.map(move |()| {
                let _ = &boom;
            })
        });
        let r = reactor.clone();
        reactor.call_later(0.0, move || r.stop().unwrap()).unwrap();
        assert_eq!(reactor.run(), Ok(()));
        assert_eq!(
            *reports.lock(),
            ["while calling system event trigger handler: a before trigger's Deferred"]
        );
    }

    /// Reads the reactor when dropped, which takes the reactor's lock.
    struct ReadsTheReactor(Reactor, Arc<Mutex<Option<bool>>>);

    impl Drop for ReadsTheReactor {
        fn drop(&mut self) {
            *self.1.lock() = Some(self.0.running());
        }
    }

    #[test]
    fn replacing_the_failure_handler_drops_the_old_one_outside_the_reactors_lock() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let reactor = Reactor::new();
            let read = Arc::new(Mutex::new(None));
            let owned = ReadsTheReactor(reactor.clone(), read.clone());
            reactor.set_failure_handler(move |_| {
                let _ = &owned;
            });
            reactor.set_failure_handler(|_| ());
            let _ = done.send(*read.lock());
        });
        let read = finished
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("replacing the handler deadlocked on the reactor's lock");
        assert_eq!(read, Some(false));
    }

    #[test]
    fn a_closure_handed_to_a_reactor_that_has_run_is_dropped_in_the_callers_call() {
        let reactor = Reactor::new();
        let r = reactor.clone();
        reactor.call_when_running(move || r.stop().unwrap());
        reactor.run().unwrap();
        let boom = Boom("a closure too late to run");
        let handed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            reactor.call_from_thread(move || {
                let _ = &boom;
            })
        }));
        assert!(handed.is_err(), "the caller's own closure, dropped in its call");
        // The reactor is left as it was: done.
        assert_eq!(reactor.run(), Err(deferreds::reactor::ReactorError::NotRestartable));

        // A trigger removed before it ran: dropped in `remove_system_event_trigger`.
        let reactor = Reactor::new();
        let boom = Boom("a removed trigger");
        let id = reactor.add_system_event_trigger(Phase::During, SystemEvent::Startup, move || {
            let _ = &boom;
        });
        let removed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            reactor.remove_system_event_trigger(id)
        }));
        assert!(removed.is_err());
        assert!(!reactor.remove_system_event_trigger(id), "it was removed all the same");
    }

    #[test]
    fn add_timeout_with_reports_a_panic_in_its_unused_conversion_and_passes_the_result_on() {
        let clock = Clock::new();
        let ((), reports) = capture_unhandled(|| {
            let (d, r) = Deferred::<u8>::new();
            let boom = Boom("an unused timeout conversion");
            let d = d.add_timeout_with(5.0, &clock, move |result, _| {
                let _ = &boom;
                result
            });
            r.callback(7).unwrap();
            assert_eq!(success_result_of(d), 7);
        });
        assert_eq!(panics(&reports), ["an unused timeout conversion"]);
        assert!(clock.pending_calls().is_empty());
    }

    #[test]
    fn a_clock_drops_every_pending_closure_even_if_one_panics_then_passes_the_panic_on() {
        let clock = Clock::new();
        let counter = DropCounter::new();
        let boom = Boom("a pending call's closure");
        clock
            .call_later(1.0, move || {
                let _ = &boom;
            })
            .unwrap();
        let token = counter.token();
        let kept = clock.call_later(2.0, move || drop(token)).unwrap();
        // Cancelling one: the closure is dropped in the caller's `cancel`.
        let boom = Boom("a cancelled call's closure");
        let cancelled = clock
            .call_later(3.0, move || {
                let _ = &boom;
            })
            .unwrap();
        let cancel = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cancelled.cancel()));
        assert!(cancel.is_err(), "a Clock is a test tool: the panic reaches `cancel`");
        assert!(cancelled.cancelled());
        // Dropping the clock drops the others.
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(clock)));
        assert!(dropped.is_err(), "and the drop of the clock");
        assert_eq!(counter.alive(), 0);
        assert!(kept.cancelled());
    }

    // --- the thread pool ---

    #[test]
    fn work_that_never_runs_fails_with_stopped_even_if_its_closure_panics_when_dropped() {
        use deferreds::reactor::ThreadPoolError;
        use deferreds::testing::failure_result_of;
        use std::sync::mpsc;
        use std::time::Duration;

        let reactor = Reactor::new();
        reactor.suggest_thread_pool_size(1).unwrap();
        let (started, has_started) = mpsc::channel::<()>();
        let in_flight = reactor.defer_to_thread(move || {
            started.send(()).unwrap();
            // Still running when the reactor stops: the work behind it stays queued.
            std::thread::sleep(Duration::from_millis(30));
            Ok(1)
        });
        has_started.recv_timeout(Duration::from_secs(10)).unwrap();
        let boom = Boom("queued work");
        let queued = reactor.defer_to_thread(move || {
            let _ = &boom;
            Ok(2)
        });
        let boom = Boom("a queued call");
        reactor.call_in_thread(move || {
            let _ = &boom;
        });
        let stopped = Arc::new(Mutex::new(Vec::new()));
        let s = stopped.clone();
        reactor.set_failure_handler(move |report: &ReactorFailure| {
            s.lock().push(report.failure().downcast_ref::<ThreadPoolError>().cloned());
        });
        let r = reactor.clone();
        reactor.call_when_running(move || r.stop().unwrap());
        let (ran, reports) = capture_unhandled(|| reactor.run());
        ran.unwrap();
        assert_eq!(success_result_of(in_flight), 1);
        assert_eq!(failure_result_of(queued).downcast_ref(), Some(&ThreadPoolError::Stopped));
        assert_eq!(*stopped.lock(), [Some(ThreadPoolError::Stopped)], "the call's failure");
        assert_eq!(panics(&reports), ["queued work", "a queued call"]);
        // Work handed over afterwards is refused the same way.
        let boom = Boom("late work");
        let (late, reports) = capture_unhandled(|| {
            reactor.defer_to_thread(move || {
                let _ = &boom;
                Ok(3)
            })
        });
        assert_eq!(failure_result_of(late).downcast_ref(), Some(&ThreadPoolError::Stopped));
        assert_eq!(panics(&reports), ["late work"]);
    }

    #[test]
    fn a_panic_delivering_a_threads_result_is_reported_to_the_failure_handler_and_the_loop_goes_on()
    {
        use std::future::{Future, IntoFuture};
        use std::task::{Context, Poll, Waker};

        let reactor = Reactor::new();
        reactor.suggest_thread_pool_size(1).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        reactor.set_failure_handler(move |report: &ReactorFailure| {
            s.lock().push((report.context(), report.failure().error_message()));
        });
        // Awaited by a task whose waker panics: the delivery's fire wakes it.
        let mut awaited = Box::pin(reactor.defer_to_thread(|| Ok(5)).into_future());
        let waker = Waker::from(Arc::new(crate::hardening::support::PanickingWaker));
        assert!(awaited.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
        let r = reactor.clone();
        let after = reactor.defer_to_thread(|| Ok(())).map(move |()| r.stop().unwrap());
        reactor.run().unwrap();
        assert_eq!(
            *seen.lock(),
            [("while delivering a thread's result", "a waker panicked".to_owned())]
        );
        success_result_of(after);
        let polled = awaited.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        assert!(matches!(polled, Poll::Ready(Ok(5))));
    }

    #[test]
    fn a_result_finished_after_its_reactor_was_dropped_is_reported_when_its_drop_panics() {
        use std::sync::mpsc;
        use std::time::{Duration, Instant};

        let _hook = crate::hardening::support::HOOK.lock();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        // The worker drops it, on its own thread: the report goes to the hook.
        deferreds::set_unhandled_hook(move |report| {
            let message = report.failure().error_message();
            if message == "a result nobody delivers" {
                s.lock().push(message);
            }
        });
        let reactor = Reactor::new();
        let (started, has_started) = mpsc::channel::<()>();
        let (go, wait) = mpsc::channel::<()>();
        let d = reactor.defer_to_thread(move || {
            started.send(()).unwrap();
            wait.recv().unwrap();
            Ok(Boom("a result nobody delivers"))
        });
        has_started.recv_timeout(Duration::from_secs(10)).unwrap();
        drop(reactor);
        go.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.lock().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        deferreds::reset_unhandled_hook();
        assert_eq!(*seen.lock(), ["a result nobody delivers"]);
        assert!(!d.called(), "nothing delivers it");
    }

    #[test]
    fn a_reactor_dropped_without_running_drops_its_queued_work_and_passes_a_panic_on() {
        use std::sync::mpsc;
        use std::time::Duration;

        let counter = DropCounter::new();
        let reactor = Reactor::new();
        reactor.suggest_thread_pool_size(1).unwrap();
        let (started, has_started) = mpsc::channel::<()>();
        let (go, wait) = mpsc::channel::<()>();
        let _in_flight = reactor.defer_to_thread(move || {
            started.send(()).unwrap();
            wait.recv().unwrap();
            Ok(())
        });
        has_started.recv_timeout(Duration::from_secs(10)).unwrap();
        let boom = Boom("queued work");
        let _a = reactor.defer_to_thread(move || {
            let _ = &boom;
            Ok(())
        });
        let token = counter.token();
        let _b = reactor.defer_to_thread(move || {
            drop(token);
            Ok(())
        });
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(reactor)));
        assert!(dropped.is_err(), "the caller's drop, as for any collection of closures");
        assert_eq!(counter.alive(), 0, "the work queued behind it was dropped too");
        go.send(()).unwrap();
    }

    // --- react ---

    #[test]
    fn a_panic_in_reacts_main_reaches_the_caller_and_leaves_the_reactor_able_to_run() {
        let reactor = Reactor::new();
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            reactor.react(|_| -> Deferred<u8> { panic!("in main") })
        }));
        assert!(out.is_err());
        assert_eq!(reactor.react(|_| deferreds::succeed(3)).unwrap(), 3);
    }

    #[test]
    fn a_result_react_discards_when_stopped_early_is_reported_if_its_drop_panics() {
        use deferreds::reactor::{StoppedEarlyError, react};

        let (result, reports) = capture_unhandled(|| {
            react(|reactor| {
                let r = reactor.clone();
                reactor.call_later(0.0, move || r.stop().unwrap()).unwrap();
                // Cancelled when the reactor stops first: the canceller fires with a value
                // that `react` does not return.
                let (d, _fire) = Deferred::with_canceller(|fire: &deferreds::Resolver<Boom>| {
                    fire.callback(Boom("discarded")).unwrap()
                });
                d
            })
        });
        assert!(result.unwrap_err().check::<StoppedEarlyError>());
        assert_eq!(panics(&reports), ["discarded"]);
    }

    #[test]
    fn exit_code_says_that_formatting_the_error_panicked_and_still_returns_one() {
        use std::process::ExitCode;

        let code = deferreds::reactor::exit_code(Err::<(), _>(Failure::new(BadDisplay)));
        assert_eq!(code, ExitCode::from(1));
    }
}

#[cfg(feature = "tokio")]
mod tokio {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use deferreds::CancelledError;
    use deferreds::reactor::Time;
    use deferreds::testing::{capture_unhandled, failure_result_of};
    use deferreds::tokio::{TokioTime, spawn};

    use super::{Boom, is_panic, panics};

    fn runtime() -> ::tokio::runtime::Runtime {
        ::tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
    }

    /// A future that is ready at once, or never, and panics when dropped.
    struct Ends(bool, #[allow(dead_code)] Boom);

    impl Future for Ends {
        type Output = u8;

        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u8> {
            if self.0 { Poll::Ready(5) } else { Poll::Pending }
        }
    }

    #[test]
    fn a_spawned_future_that_panics_when_dropped_after_its_output_fails_with_the_panic() {
        let failure = runtime().block_on(async {
            spawn(Ends(true, Boom("the future's destructor"))).await.unwrap_err()
        });
        // Not the `CancelledError` of a task that ended without output.
        assert!(is_panic(&failure, "the future's destructor"), "{failure:?}");
    }

    #[test]
    fn an_aborted_spawned_future_that_panics_when_dropped_is_reported() {
        let ((), reports) = capture_unhandled(|| {
            runtime().block_on(async {
                let polled = spawn(Ends(false, Boom("an aborted future")));
                ::tokio::task::yield_now().await; // polled once
                polled.cancel();
                let unpolled = spawn(Ends(false, Boom("a future never polled")));
                unpolled.cancel();
                for _ in 0..4 {
                    ::tokio::task::yield_now().await; // the runtime drops both
                }
                assert!(failure_result_of(polled).check::<CancelledError>());
                assert!(failure_result_of(unpolled).check::<CancelledError>());
            })
        });
        assert_eq!(panics(&reports), ["an aborted future", "a future never polled"]);
    }

    #[test]
    fn tokio_time_dropped_by_its_own_task_reports_a_panic_in_a_pending_closure() {
        let ((), reports) = capture_unhandled(|| {
            runtime().block_on(async {
                let time = TokioTime::new();
                let boom = Boom("a pending call's closure");
                time.call_later(3600.0, move || {
                    let _ = &boom;
                })
                .unwrap();
                // The only other handle is this call's: once it has run, the task that runs
                // the calls holds the last one, and drops it.
                let (done, ran) = ::tokio::sync::oneshot::channel();
                let last = time.clone();
                time.call_later(0.0, move || {
                    drop(last);
                    let _ = done.send(());
                })
                .unwrap();
                drop(time);
                ran.await.unwrap();
                ::tokio::task::yield_now().await;
            })
        });
        assert_eq!(panics(&reports), ["a pending call's closure"]);
    }
}
