//! `SharedDeferred`: one result, many observers. These pin the behaviour the engine must keep:
//! when observers fire and in what order, what cancelling does, how a shared failure is
//! reported, threads, stack depth and drops.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::hardening::support::on_small_stack;
use deferreds::testing::{
    DropCounter, Recorder, assert_no_result, capture_unhandled, failure_result_of,
    success_result_of,
};
use deferreds::{
    CancelledError, Deferred, Failure, SharedDeferred, TryResult, ensure_deferred, fail, succeed,
};
use proptest::prelude::*;

#[test]
fn shared_deferred_is_send_sync_and_clone() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<SharedDeferred<String>>();
}

#[test]
fn observers_made_before_the_result_fire_when_it_arrives_in_the_order_they_were_made() {
    let (d, r) = Deferred::<u32>::new();
    let shared = d.share();
    let log = Recorder::new();
    let observers: Vec<_> = (0..5)
        .map(|i| {
            let log = log.clone();
            shared.observe().map(move |n| log.record(format!("{i} got {n}")))
        })
        .collect();
    for o in &observers {
        assert_no_result(o);
    }
    assert!(log.events().is_empty());
    r.callback(7).unwrap();
    assert_eq!(log.take(), ["0 got 7", "1 got 7", "2 got 7", "3 got 7", "4 got 7"]);
    for o in observers {
        success_result_of(o);
    }
}

#[test]
fn each_observer_runs_its_callbacks_to_the_end_before_the_next_observer_fires() {
    let (d, r) = Deferred::<u8>::new();
    let shared = d.share();
    let log = Recorder::new();
    let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
    let a = shared.observe().map(move |n| l1.record(format!("a1 {n}"))).map(move |()| {
        l2.record("a2");
    });
    let b = shared.observe().map(move |n| l3.record(format!("b1 {n}")));
    r.callback(1).unwrap();
    assert_eq!(log.take(), ["a1 1", "a2", "b1 1"]);
    success_result_of(a);
    success_result_of(b);
}

#[test]
fn an_observer_made_after_the_result_fires_at_once_inside_add_callback() {
    let shared = succeed(String::from("poem")).share();
    assert!(shared.called());
    let log = Recorder::new();
    let l = log.clone();
    let d = shared.observe().map(move |p| l.record(format!("got {p}")));
    assert_eq!(log.take(), ["got poem"], "ran inside map, before it returned");
    success_result_of(d);
}

#[test]
fn an_observer_made_inside_another_observers_callback_has_the_result_at_once() {
    let (d, r) = Deferred::<u8>::new();
    let shared = d.share();
    let log = Recorder::new();
    let (s, l1, l2) = (shared.clone(), log.clone(), log.clone());
    let first = shared.observe().map(move |n| {
        l1.record(format!("first {n}"));
        let inner = s.observe().map(move |m| l2.record(format!("made late, got {m} at once")));
        success_result_of(inner);
    });
    let l3 = log.clone();
    let second = shared.observe().map(move |n| l3.record(format!("second {n}")));
    r.callback(3).unwrap();
    assert_eq!(log.take(), ["first 3", "made late, got 3 at once", "second 3"]);
    success_result_of(first);
    success_result_of(second);
}

#[test]
fn the_sources_own_steps_run_once_before_the_result_is_shared() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let (d, r) = Deferred::<u8>::new();
    let shared = d
        .map(move |n| {
            c.fetch_add(1, Ordering::SeqCst);
            n * 2
        })
        .share();
    let (a, b) = (shared.observe(), shared.observe());
    r.callback(21).unwrap();
    let c = shared.observe();
    assert_eq!([a, b, c].map(success_result_of), [42, 42, 42]);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn each_observer_has_a_chain_of_its_own() {
    let (d, r) = Deferred::<u8>::new();
    let shared = d.share();
    let failing =
        shared.observe().add_callback(|_| -> Result<u8, Failure> { Err(Failure::msg("no")) });
    let retyped = shared.observe().map(|n| format!("#{n}"));
    let plain = shared.observe();
    r.callback(5).unwrap();
    assert_eq!(failure_result_of(failing).error_message(), "no");
    assert_eq!(success_result_of(retyped), "#5");
    assert_eq!(success_result_of(plain), 5);
}

#[test]
fn a_panic_in_one_observers_callback_fails_that_observer_only() {
    let (d, r) = Deferred::<u8>::new();
    let shared = d.share();
    let panicking = shared.observe().map(|_| -> u8 { panic!("observer bug") });
    let fine = shared.observe();
    r.callback(1).unwrap();
    assert_eq!(failure_result_of(panicking).error_message(), "observer bug");
    assert_eq!(success_result_of(fine), 1);
}

#[test]
fn every_observer_gets_the_same_failure() {
    let (d, r) = Deferred::<u8>::new();
    let shared = d.share();
    let (a, b) = (shared.observe(), shared.observe());
    let failure = Failure::msg("refused");
    r.errback(failure.clone()).unwrap();
    let late = shared.observe();
    for observer in [a, b, late] {
        assert!(failure_result_of(observer).ptr_eq(&failure));
    }
}

#[test]
fn an_observer_can_be_awaited() {
    let (d, r) = Deferred::<u8>::new();
    let shared = d.share();
    let s = shared.clone();
    let sum =
        ensure_deferred(async move { Ok::<_, Failure>(s.observe().await? + s.observe().await?) });
    r.callback(20).unwrap();
    assert_eq!(success_result_of(sum), 40);
}

// Cancellation.

#[test]
fn cancelling_one_observer_fails_it_alone_and_leaves_the_source_running() {
    let cancelled_source = Arc::new(AtomicUsize::new(0));
    let c = cancelled_source.clone();
    let (d, r) = Deferred::<u8>::with_canceller(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
    });
    let shared = d.share();
    let (a, b, c) = (shared.observe(), shared.observe(), shared.observe());
    b.cancel();
    assert!(failure_result_of(b).check::<CancelledError>());
    assert_eq!(shared.waiting(), 2);
    r.callback(9).unwrap();
    assert_eq!(success_result_of(a), 9);
    assert_eq!(success_result_of(c), 9);
    assert_eq!(cancelled_source.load(Ordering::SeqCst), 0);
}

#[test]
fn cancelling_every_observer_while_a_handle_is_left_keeps_the_source_for_later_observers() {
    let cancelled_source = Arc::new(AtomicUsize::new(0));
    let c = cancelled_source.clone();
    let (d, r) = Deferred::<u8>::with_canceller(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
    });
    let shared = d.share();
    let (a, b) = (shared.observe(), shared.observe());
    a.cancel();
    b.cancel();
    assert_eq!(cancelled_source.load(Ordering::SeqCst), 0);
    let later = shared.observe();
    r.callback(4).unwrap();
    assert_eq!(success_result_of(later), 4);
    assert!(failure_result_of(a).check::<CancelledError>());
    assert!(failure_result_of(b).check::<CancelledError>());
}

#[test]
fn cancelling_the_last_waiting_observer_with_no_handle_left_cancels_the_source_silently() {
    let cancelled_source = Arc::new(AtomicUsize::new(0));
    let c = cancelled_source.clone();
    let ((), reports) = capture_unhandled(|| {
        let (d, r) = Deferred::<u8>::with_canceller(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        });
        let shared = d.share();
        let (a, b) = (shared.observe(), shared.observe());
        drop(shared);
        a.cancel();
        assert_eq!(cancelled_source.load(Ordering::SeqCst), 0, "b still waits");
        b.cancel();
        assert_eq!(cancelled_source.load(Ordering::SeqCst), 1);
        assert!(r.callback(1).is_err(), "the source was cancelled and has its failure");
        assert!(failure_result_of(a).check::<CancelledError>());
        assert!(failure_result_of(b).check::<CancelledError>());
    });
    assert!(reports.is_empty(), "nobody wanted the result: {reports:?}");
}

#[test]
fn cancelling_the_share_cancels_the_source_for_every_observer() {
    let (d, _r) = Deferred::<u8>::new();
    let shared = d.share();
    let observers: Vec<_> = (0..3).map(|_| shared.observe()).collect();
    shared.cancel();
    for o in observers {
        assert!(failure_result_of(o).check::<CancelledError>());
    }
    assert!(failure_result_of(shared.observe()).check::<CancelledError>());
}

#[test]
fn cancelling_the_share_hands_every_observer_what_the_sources_canceller_fired() {
    let (d, _r) = Deferred::<&str>::with_canceller(|r| r.callback("stopped early").unwrap());
    let shared = d.share();
    let (a, b) = (shared.observe(), shared.observe());
    shared.cancel();
    assert_eq!(success_result_of(a), "stopped early");
    assert_eq!(success_result_of(b), "stopped early");
}

#[test]
fn cancelling_an_observer_that_has_its_result_changes_nothing() {
    let shared = succeed(1u8).share();
    let d = shared.observe();
    d.cancel();
    assert_eq!(success_result_of(d), 1);
}

// Unhandled failures.

#[test]
fn a_shared_failure_nobody_handled_is_reported_once_not_once_per_observer() {
    let ((), reports) = capture_unhandled(|| {
        let (d, r) = Deferred::<u8>::new();
        let shared = d.share();
        let early: Vec<_> = (0..3).map(|_| shared.observe()).collect();
        r.errback(Failure::msg("lost")).unwrap();
        let late: Vec<_> = (0..3).map(|_| shared.observe().map(|n| n + 1)).collect();
        drop((early, late, shared, r));
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].failure().error_message(), "lost");
}

#[test]
fn a_shared_failure_is_reported_only_once_the_share_and_every_observer_are_gone() {
    let ((), reports) = capture_unhandled(|| {
        let shared = fail::<u8>(Failure::msg("lost")).share();
        let a = shared.observe();
        drop(a);
        let ((), early) = capture_unhandled(|| {});
        assert!(early.is_empty());
        let b = shared.observe();
        drop(shared);
        drop(b);
    });
    assert_eq!(reports.len(), 1);
}

#[test]
fn a_shared_failure_that_one_observer_handled_is_not_reported() {
    let ((), reports) = capture_unhandled(|| {
        let (d, r) = Deferred::<u8>::new();
        let shared = d.share();
        let ignored = shared.observe();
        let handled = shared.observe().add_errback(|f| {
            f.trap::<deferreds::MessageError>()?;
            Ok(0)
        });
        r.errback(Failure::msg("seen")).unwrap();
        let ignored_later = shared.observe();
        assert_eq!(success_result_of(handled), 0);
        drop((ignored, ignored_later, shared));
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn an_awaited_observer_handles_the_shared_failure() {
    let ((), reports) = capture_unhandled(|| {
        let shared = fail::<u8>(Failure::msg("seen")).share();
        let s = shared.clone();
        let awaited = ensure_deferred(async move {
            let seen = s.observe().await.unwrap_err();
            Ok::<_, Failure>(seen.error_message())
        });
        assert_eq!(success_result_of(awaited), "seen");
        drop((shared.observe(), shared));
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn a_shared_failure_nobody_observed_is_reported_when_the_share_goes() {
    let ((), reports) = capture_unhandled(|| {
        let (d, r) = Deferred::<u8>::new();
        let shared = d.share();
        r.errback(Failure::msg("unseen")).unwrap();
        drop(r);
        let ((), early) = capture_unhandled(|| {});
        assert!(early.is_empty());
        drop(shared);
    });
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].failure().error_message(), "unseen");
}

#[test]
fn a_failure_passed_down_a_line_of_shares_is_reported_once() {
    let ((), reports) = capture_unhandled(|| {
        let (d, r) = Deferred::<u8>::new();
        let first = d.share();
        let second = first.observe().share();
        let third = second.observe().share();
        let leaves: Vec<_> = (0..3).map(|_| third.observe()).collect();
        let side = first.observe();
        r.errback(Failure::msg("deep")).unwrap();
        drop((leaves, side, first, second, third, r));
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
}

#[test]
fn a_failure_handled_at_the_end_of_a_line_of_shares_is_not_reported() {
    let ((), reports) = capture_unhandled(|| {
        let (d, r) = Deferred::<u8>::new();
        let first = d.share();
        let second = first.observe().share();
        let handled = second.observe().add_errback(|_| Ok(1));
        r.errback(Failure::msg("deep")).unwrap();
        assert_eq!(success_result_of(handled), 1);
        drop((first, second, r));
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn a_hook_that_panics_on_a_shared_failures_report_leaves_the_count_working_for_the_next() {
    let _hook = crate::hardening::support::HOOK.lock();
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    deferreds::set_unhandled_hook(move |report| {
        if report.failure().error_message().starts_with("shared") {
            s.fetch_add(1, Ordering::SeqCst);
            panic!("the hook panicked");
        }
    });
    for _ in 0..2 {
        // Each on a thread of its own, so that no other test's capture takes the report.
        std::thread::spawn(|| {
            let shared = fail::<u8>(Failure::msg("shared and lost")).share();
            let (a, b) = (shared.observe(), shared.observe());
            drop((shared, a, b));
        })
        .join()
        .unwrap();
    }
    deferreds::reset_unhandled_hook();
    assert_eq!(seen.load(Ordering::SeqCst), 2, "one report each");
}

#[test]
fn a_new_failure_raised_by_an_observer_is_reported_on_its_own() {
    let ((), reports) = capture_unhandled(|| {
        let shared = fail::<u8>(Failure::msg("first")).share();
        let replaced = shared.observe().add_errback(|_| Err(Failure::msg("second")));
        drop((replaced, shared));
    });
    // The observer handled "first" (it replaced it) and left "second" unhandled.
    let messages: Vec<_> = reports.iter().map(|r| r.failure().error_message()).collect();
    assert_eq!(messages, ["second"]);
}

// Threads, depth and drops.

#[test]
fn observers_made_cancelled_and_fired_from_several_threads_each_get_the_result_once() {
    let rounds = if crate::hardening::support::soak() { 2_000 } else { 200 };
    for round in 0..rounds {
        let (d, r) = Deferred::<Arc<String>>::new();
        let shared = d.share();
        let got = Arc::new(AtomicUsize::new(0));
        let cancelled = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (shared, got, cancelled) = (shared.clone(), got.clone(), cancelled.clone());
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..25 {
                        let g = got.clone();
                        let d = shared.observe().map(move |s: Arc<String>| {
                            assert_eq!(*s, "value");
                            g.fetch_add(1, Ordering::SeqCst);
                        });
                        if (t + i) % 5 == 0 {
                            d.cancel();
                            mine.push((d, true));
                        } else {
                            mine.push((d, false));
                        }
                    }
                    for (d, was_cancelled) in mine {
                        // Each either got the value or (if its cancel came first) failed.
                        match d.try_result() {
                            TryResult::Value(()) => {}
                            TryResult::Failure(f) => {
                                assert!(was_cancelled && f.check::<CancelledError>(), "{f:?}");
                                cancelled.fetch_add(1, Ordering::SeqCst);
                            }
                            TryResult::Pending(pending) => {
                                // The source has not fired yet on the other thread: wait.
                                let mut d = pending;
                                loop {
                                    match d.try_result() {
                                        TryResult::Value(()) => break,
                                        TryResult::Failure(f) => {
                                            assert!(was_cancelled, "{f:?}");
                                            cancelled.fetch_add(1, Ordering::SeqCst);
                                            break;
                                        }
                                        TryResult::Pending(again) => {
                                            d = again;
                                            std::thread::yield_now();
                                        }
                                    }
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        let firer = std::thread::spawn(move || {
            if round % 2 == 0 {
                std::thread::yield_now();
            }
            r.callback(Arc::new("value".into())).unwrap();
        });
        firer.join().unwrap();
        for t in threads {
            t.join().unwrap();
        }
        let (got, cancelled) = (got.load(Ordering::SeqCst), cancelled.load(Ordering::SeqCst));
        assert_eq!(got + cancelled, 100, "round {round}: {got} got it, {cancelled} cancelled");
        assert!(cancelled <= 20);
    }
}

#[test]
fn a_million_observers_fire_on_a_256k_stack() {
    on_small_stack(|| {
        let (d, r) = Deferred::<u64>::new();
        let shared = d.share();
        let sum = Arc::new(AtomicUsize::new(0));
        let observers: Vec<_> = (0..1_000_000)
            .map(|_| {
                let s = sum.clone();
                shared.observe().map(move |n| {
                    s.fetch_add(n as usize, Ordering::Relaxed);
                })
            })
            .collect();
        r.callback(1).unwrap();
        assert_eq!(sum.load(Ordering::Relaxed), 1_000_000);
        drop(observers);
    });
}

#[test]
fn a_line_of_a_hundred_thousand_shares_fires_and_drops_on_a_256k_stack() {
    on_small_stack(|| {
        let (d, r) = Deferred::<u64>::new();
        let first = d.share();
        let mut last = first.clone();
        // Each share's observer is the next share's source, and every share keeps a second
        // observer waiting too.
        let mut sides = Vec::new();
        for _ in 0..100_000 {
            sides.push(last.observe());
            last = last.observe().map(|n| n + 1).share();
        }
        let end = last.observe();
        r.callback(0).unwrap();
        assert_eq!(success_result_of(end), 100_000);
        assert_eq!(success_result_of(sides.pop().unwrap()), 99_999);
        drop((sides, first, last));
    });
}

#[test]
fn a_pending_line_of_shares_drops_on_a_256k_stack() {
    on_small_stack(|| {
        let (d, r) = Deferred::<u64>::new();
        let mut last = d.share();
        for _ in 0..100_000 {
            last = last.observe().share();
        }
        let end = last.observe();
        drop(last);
        drop(r);
        drop(end);
    });
}

#[test]
fn cancelling_a_line_of_a_hundred_thousand_shares_from_its_far_end_runs_on_a_256k_stack() {
    on_small_stack(|| {
        let cancels = Arc::new(AtomicUsize::new(0));
        let c = cancels.clone();
        let tokens = DropCounter::new();
        let t = tokens.clone();
        let ((), reports) = capture_unhandled(move || {
            let (d, r) = Deferred::<u64>::with_canceller(move |_| {
                c.fetch_add(1, Ordering::SeqCst);
            });
            // Each share's observer is the next share's source, and no handle is kept: the
            // far end's observer is the only one who wants the result.
            let mut last = d.share();
            for _ in 0..100_000 {
                let token = t.token();
                last = last
                    .observe()
                    .map(move |n| {
                        let _token = &token;
                        n + 1
                    })
                    .share();
            }
            let end = last.observe();
            drop(last);
            end.cancel();
            assert!(failure_result_of(end).check::<CancelledError>());
            // Leaving each share cancelled its source, down to the first.
            assert_eq!(cancels.load(Ordering::SeqCst), 1);
            assert!(r.callback(0).is_err(), "the first source was cancelled");
        });
        assert!(reports.is_empty(), "nobody wanted the result: {} reports", reports.len());
        assert_eq!(tokens.made(), 100_000);
        assert_eq!(tokens.alive(), 0, "every level was freed");
    });
}

#[test]
fn everything_a_share_holds_is_dropped_once_whether_it_fired_or_not() {
    for fire in [false, true] {
        let counter = DropCounter::new();
        let (d, r) = Deferred::new();
        let shared = d.share();
        let observers: Vec<_> = (0..4)
            .map(|_| {
                let token = counter.token();
                shared.observe().map(move |v: deferreds::testing::Counted<u8>| {
                    drop(token);
                    *v
                })
            })
            .collect();
        observers[1].cancel();
        if fire {
            r.callback(counter.wrap(1u8)).unwrap();
        }
        drop((shared, r, observers));
        assert_eq!(counter.alive(), 0, "fired: {fire}");
        assert_eq!(counter.made(), counter.dropped());
    }
}

#[test]
fn a_source_that_can_never_fire_frees_its_share_and_waiting_observers() {
    let counter = DropCounter::new();
    let (d, r) = Deferred::<u8>::new();
    let shared = d.share();
    let token = counter.token();
    let waiting = shared.observe().map(move |n| {
        drop(token);
        n
    });
    drop(r);
    drop(shared);
    assert_no_result(&waiting);
    drop(waiting);
    assert_eq!(counter.alive(), 0);
}

// A law over random interleavings.

#[derive(Debug, Clone)]
enum Op {
    Observe,
    Cancel(usize),
    Fire,
    DropHandle,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Observe),
        2 => (0usize..16).prop_map(Op::Cancel),
        1 => Just(Op::Fire),
        1 => Just(Op::DropHandle),
    ]
}

proptest! {
    /// Whatever the order of observes, cancels and the fire: an observer cancelled while it
    /// waited fails with `CancelledError`, every other one gets the value exactly once, the
    /// waiting ones in the order they were made, and the source is cancelled exactly when the
    /// last waiting observer was cancelled with no handle left.
    #[test]
    fn observers_get_the_value_in_order_unless_cancelled_while_waiting(
        ops in proptest::collection::vec(op(), 1..40)
    ) {
        let log = Recorder::new();
        let source_cancelled = Arc::new(AtomicUsize::new(0));
        let sc = source_cancelled.clone();
        let (d, r) = Deferred::<u8>::with_canceller(move |_| { sc.fetch_add(1, Ordering::SeqCst); });
        let mut handle = Some(d.share());
        let mut observers: Vec<Deferred<()>> = Vec::new();
        let mut model_cancelled = Vec::new();
        let mut fired = false;
        let mut expect_source_cancel = false;
        let mut order = Vec::new();
        for op in ops {
            match op {
                Op::Observe => {
                    let Some(h) = &handle else { continue };
                    let i = observers.len();
                    let l = log.clone();
                    observers.push(h.observe().map(move |n| l.record(format!("{i}:{n}"))));
                    model_cancelled.push(false);
                    if fired { order.push(i) }
                }
                Op::Cancel(i) => {
                    if let Some(o) = observers.get(i) {
                        o.cancel();
                        if !fired && !model_cancelled[i] && !expect_source_cancel {
                            model_cancelled[i] = true;
                            let waiting = model_cancelled.iter().filter(|c| !**c).count();
                            if waiting == 0 && handle.is_none() {
                                expect_source_cancel = true;
                            }
                        }
                    }
                }
                Op::Fire => {
                    if !fired && !expect_source_cancel {
                        r.callback(5).unwrap();
                        fired = true;
                        let mut waited: Vec<usize> =
                            (0..observers.len()).filter(|i| !model_cancelled[*i]).collect();
                        waited.append(&mut order);
                        order = waited;
                    }
                }
                Op::DropHandle => { handle = None; }
            }
        }
        if !fired && !expect_source_cancel {
            r.callback(5).unwrap();
            let mut waited: Vec<usize> =
                (0..observers.len()).filter(|i| !model_cancelled[*i]).collect();
            waited.append(&mut order);
            order = waited;
        }
        let expected: Vec<String> = order.iter().map(|i| format!("{i}:5")).collect();
        prop_assert_eq!(log.take(), expected);
        prop_assert_eq!(source_cancelled.load(Ordering::SeqCst), usize::from(expect_source_cancel));
        for (i, o) in observers.into_iter().enumerate() {
            match o.try_result() {
                TryResult::Value(()) => prop_assert!(!model_cancelled[i], "observer {} got the value", i),
                TryResult::Failure(f) => prop_assert!(f.check::<CancelledError>() && model_cancelled[i]),
                TryResult::Pending(_) => prop_assert!(false, "observer {} never fired", i),
            }
        }
    }
}
