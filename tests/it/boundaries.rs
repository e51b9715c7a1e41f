//! User code the crate drops or formats, panicking there: a value's, a step's, a canceller's,
//! a waker's or a future's destructor, an error's `Display`. Wherever it happens, every step
//! still runs exactly once, every Deferred that should fire fires, and nothing stays owned by a
//! run that ended; the panic becomes a failure where a chain can carry it, and an unhandled
//! report where none can. `docs/reliability.md` lists each place and the test that pins it.

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

/// An error whose `Display` panics.
#[derive(Debug)]
struct BadDisplay;

impl fmt::Display for BadDisplay {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("Display panicked")
    }
}

impl std::error::Error for BadDisplay {}

/// The messages of the panics among `reports`, in order.
fn panics(reports: &[UnhandledFailure]) -> Vec<String> {
    reports
        .iter()
        .filter_map(|r| r.failure().downcast_ref::<PanicError>())
        .map(|p| p.message().to_owned())
        .collect()
}

fn is_panic(f: &Failure, message: &str) -> bool {
    f.downcast_ref::<PanicError>().is_some_and(|p| p.message() == message)
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
        let wakes = Arc::new(AtomicUsize::new(0));
        let second = Waker::from(Arc::new(CountingWaker(wakes.clone())));
        assert!(Pin::new(&mut future).poll(&mut Context::from_waker(&second)).is_pending());
        r.unpause().unwrap();
        assert_eq!(wakes.load(SeqCst), 1, "the new waker was registered");
        let ready = Pin::new(&mut future).poll(&mut Context::from_waker(&second));
        assert!(matches!(ready, Poll::Ready(Ok(4))));
    });
    assert_eq!(panics(&reports), ["a replaced waker"]);
}

struct CountingWaker(Arc<AtomicUsize>);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A waker that panics when woken.
struct PanickingWaker;

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("a waker panicked");
    }
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
    let _hook = crate::support::HOOK.lock();
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
    let _hook = crate::support::HOOK.lock();
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
}
