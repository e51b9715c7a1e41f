//! The deterministic `Clock` and `DelayedCall`: ordering, nesting, the lazy heap, typed errors,
//! panics, threads. Twisted's behaviour, where these pin it, is from `twisted-semantics.md`
//! §4 (snippets e17 and e21).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use parking_lot::Mutex;

use deferreds::reactor::{
    Clock, DelayedCall, DelayedCallError, InvalidDelayError, LoopingCall, LoopingCallError,
    Reactor, ReactorError, Time, TimeoutError, defer_later,
};
use deferreds::testing::{DropCounter, Recorder, success_result_of};

fn record(log: &Recorder, event: &'static str) -> impl FnOnce() + Send + 'static {
    let log = log.clone();
    move || log.record(event)
}

#[test]
fn reactor_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Clock>();
    assert_send_sync::<Reactor>();
    assert_send_sync::<DelayedCall>();
    assert_send_sync::<LoopingCall>();
    assert_send_sync::<Arc<dyn Time>>();
    assert_send_sync::<DelayedCallError>();
    assert_send_sync::<InvalidDelayError>();
    assert_send_sync::<ReactorError>();
    assert_send_sync::<LoopingCallError>();
    assert_send_sync::<TimeoutError>();
}

/// e17/e21: calls due at the same time run in the order they were scheduled, and a call that a
/// running call schedules for now runs in the same `advance`, after those already due.
#[test]
fn ties_fire_in_scheduling_order_and_a_nested_call_later_0_runs_in_the_same_advance() {
    let c = Clock::new();
    let log = Recorder::new();
    c.call_later(2.0, record(&log, "t2")).unwrap();
    c.call_later(1.0, record(&log, "t1a")).unwrap();
    c.call_later(1.0, record(&log, "t1b")).unwrap();
    let (c2, l) = (c.clone(), log.clone());
    c.call_later(1.0, move || {
        c2.call_later(0.0, record(&l, "nested-0")).unwrap();
    })
    .unwrap();
    c.advance(1.0);
    assert_eq!(log.events(), ["t1a", "t1b", "nested-0"]);
    c.advance(1.0);
    assert_eq!(log.take(), ["t1a", "t1b", "nested-0", "t2"]);
}

#[test]
fn many_ties_keep_scheduling_order_across_resets() {
    let c = Clock::new();
    let log = Recorder::new();
    let names = ["a", "b", "c", "d", "e", "f", "g", "h"];
    let calls: Vec<DelayedCall> =
        names.iter().map(|n| c.call_later(5.0, record(&log, n)).unwrap()).collect();
    // Moving "b" away and back to the same time keeps its place: scheduling order, not reset
    // order, breaks ties (Twisted's Clock sorts its list stably).
    calls[1].reset(9.0).unwrap();
    calls[1].reset(5.0).unwrap();
    calls[6].delay(1.0).unwrap();
    calls[6].delay(-1.0).unwrap();
    c.advance(5.0);
    assert_eq!(log.take(), names);
}

/// e21 and Twisted #5962: a call that keeps rescheduling itself for now ran forever in
/// Twisted's `Clock::advance`; here `advance` returns after `NESTING_LIMIT` levels.
#[test]
fn a_call_rescheduling_itself_at_the_same_time_stops_at_the_nesting_limit() {
    fn forever(clock: Clock, runs: Arc<AtomicUsize>) {
        runs.fetch_add(1, Ordering::SeqCst);
        let c = clock.clone();
        clock.call_later(0.0, move || forever(c, runs)).unwrap();
    }
    let clock = Clock::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let (c, r) = (clock.clone(), runs.clone());
    clock.call_later(0.0, move || forever(c, r)).unwrap();

    let per_advance = Clock::NESTING_LIMIT as usize + 1;
    clock.advance(0.0);
    assert_eq!(runs.load(Ordering::SeqCst), per_advance);
    let pending = clock.pending_calls();
    assert_eq!(pending.len(), 1, "the next call waits for the next advance");
    assert_eq!(pending[0].get_time(), 0.0);

    // The next advance picks it up at depth 0 again.
    clock.advance(0.0);
    assert_eq!(runs.load(Ordering::SeqCst), 2 * per_advance);
    // The call holds its own clock: cancelled, it lets go of it.
    for call in clock.pending_calls() {
        call.cancel().unwrap();
    }
}

/// The e21 snippet: a call rescheduling itself 1000 times runs them all in one `advance`, as
/// in Twisted (whose `Clock` only stops because the snippet stops at 1000).
#[test]
fn a_thousand_nested_reschedules_run_in_one_advance_as_in_twisted() {
    fn f(clock: Clock, n: Arc<AtomicUsize>) {
        if n.fetch_add(1, Ordering::SeqCst) + 1 < 1000 {
            let c = clock.clone();
            clock.call_later(0.0, move || f(c, n)).unwrap();
        }
    }
    let clock = Clock::new();
    let n = Arc::new(AtomicUsize::new(0));
    let (c, n2) = (clock.clone(), n.clone());
    clock.call_later(0.0, move || f(c, n2)).unwrap();
    clock.advance(0.0);
    assert_eq!(n.load(Ordering::SeqCst), 1000);
    assert!(clock.pending_calls().is_empty());
}

#[test]
fn a_nested_call_with_a_delay_waits_for_a_later_advance() {
    let c = Clock::new();
    let log = Recorder::new();
    let (c2, l) = (c.clone(), log.clone());
    c.call_later(1.0, move || {
        c2.call_later(0.5, record(&l, "half a second after")).unwrap();
    })
    .unwrap();
    c.advance(5.0);
    assert!(log.events().is_empty(), "time jumped to 5: the new call is due at 5.5");
    assert_eq!(c.pending_calls()[0].get_time(), 5.5);
    c.advance(0.5);
    assert_eq!(log.take(), ["half a second after"]);
}

/// Twisted #9819, kept: `advance` jumps, so two chained one-second sleeps need two advances.
#[test]
fn advance_jumps_instead_of_stepping_as_in_twisted() {
    let clock = Clock::new();
    let c = clock.clone();
    let d = defer_later(&clock, 1.0, || ()).add_callback(move |()| defer_later(&c, 1.0, || ()));
    clock.advance(2.0);
    deferreds::testing::assert_no_result(&d);
    assert_eq!(clock.pending_calls().iter().map(DelayedCall::get_time).collect::<Vec<_>>(), [3.0]);
    clock.advance(1.0);
    success_result_of(d);
}

#[test]
fn every_due_call_sees_the_new_time() {
    let c = Clock::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    for t in [1.0, 2.0, 3.0] {
        let (s, c2) = (seen.clone(), c.clone());
        c.call_later(t, move || s.lock().push(c2.seconds())).unwrap();
    }
    c.advance(10.0);
    assert_eq!(*seen.lock(), [10.0, 10.0, 10.0]);
}

/// Scheduling and firing are O(log n): 100,000 timers with shuffled deadlines, half of them
/// cancelled, take a fraction of a second where a re-sorted list (Twisted's `Clock`) would
/// take minutes. The test checks what fired and in which order.
#[test]
fn a_hundred_thousand_shuffled_timers_fire_in_order_and_cancelled_ones_do_not() {
    const N: usize = 100_000;
    let clock = Clock::new();
    let fired = Arc::new(Mutex::new(Vec::with_capacity(N)));
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut deadlines: Vec<usize> = (0..N).collect();
    for i in (1..N).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        deadlines.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let calls: Vec<(usize, DelayedCall)> = deadlines
        .iter()
        .map(|&t| {
            let f = fired.clone();
            (t, clock.call_later(t as f64, move || f.lock().push(t)).unwrap())
        })
        .collect();
    for (t, call) in &calls {
        if t % 2 == 1 {
            call.cancel().unwrap();
        }
    }
    assert_eq!(clock.pending_calls().len(), N / 2);
    clock.advance(N as f64);
    let fired = fired.lock();
    assert_eq!(fired.len(), N / 2);
    assert!(fired.iter().all(|t| t % 2 == 0));
    assert!(fired.windows(2).all(|w| w[0] < w[1]), "fired in deadline order");
    assert!(clock.pending_calls().is_empty());
}

#[test]
fn cancelling_drops_the_closure_at_once_and_the_call_never_runs() {
    let clock = Clock::new();
    let drops = DropCounter::new();
    let token = drops.token();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let call = clock
        .call_later(5.0, move || {
            let _keep = &token;
            r.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    assert_eq!(drops.dropped(), 0);
    call.cancel().unwrap();
    assert_eq!(drops.dropped(), 1, "not kept until its time comes");
    assert!(clock.pending_calls().is_empty());
    assert!(call.cancelled() && !call.active() && !call.called());
    clock.advance(10.0);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn a_call_that_ran_drops_its_closure() {
    let clock = Clock::new();
    let drops = DropCounter::new();
    let token = drops.token();
    let call = clock
        .call_later(1.0, move || {
            let _keep = &token;
        })
        .unwrap();
    clock.advance(1.0);
    assert_eq!(drops.dropped(), 1);
    assert!(call.called());
}

#[test]
fn a_due_call_cancelled_by_an_earlier_one_in_the_same_advance_does_not_run() {
    let clock = Clock::new();
    let log = Recorder::new();
    let victim = clock.call_later(2.0, record(&log, "victim")).unwrap();
    let l = log.clone();
    clock
        .call_later(1.0, move || {
            victim.cancel().unwrap();
            l.record("canceller");
        })
        .unwrap();
    clock.advance(5.0);
    assert_eq!(log.take(), ["canceller"]);
}

#[test]
fn reset_moves_a_call_among_the_others_both_ways() {
    let clock = Clock::new();
    let log = Recorder::new();
    let a = clock.call_later(1.0, record(&log, "a")).unwrap();
    let b = clock.call_later(2.0, record(&log, "b")).unwrap();
    let c = clock.call_later(3.0, record(&log, "c")).unwrap();
    a.reset(2.5).unwrap(); // later: b, a, c
    c.reset(0.5).unwrap(); // earlier: c, b, a
    assert_eq!(a.get_time(), 2.5);
    assert_eq!(c.get_time(), 0.5);
    assert_eq!(clock.pending_calls(), [c, b, a]);
    clock.advance(3.0);
    assert_eq!(log.take(), ["c", "b", "a"]);
}

#[test]
fn a_call_reset_many_times_fires_once_at_its_last_time() {
    let clock = Clock::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let call = clock.call_later(1.0, move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    let call = call.unwrap();
    for i in 0..100 {
        // Alternately later and earlier than before.
        call.reset(if i % 2 == 0 { 10.0 + i as f64 } else { 0.5 + i as f64 / 100.0 }).unwrap();
    }
    assert_eq!(call.get_time(), 1.49);
    clock.advance(1.0);
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    clock.advance(0.49);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    clock.advance(1000.0);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(clock.pending_calls().is_empty());
}

#[test]
fn a_negative_delay_moves_a_call_earlier() {
    let clock = Clock::new();
    clock.advance(10.0);
    let call = clock.call_later(5.0, || ()).unwrap();
    call.delay(-7.0).unwrap();
    assert_eq!(call.get_time(), 8.0, "in the past: due at the next advance");
    clock.advance(0.0);
    assert!(call.called());
}

#[test]
fn invalid_delays_are_typed_errors() {
    let clock = Clock::new();
    for bad in [-1.0, -0.001, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let err = clock.call_later(bad, || ()).unwrap_err();
        assert!(err.delay().is_nan() || err.delay() == bad);
    }
    let far = clock.call_later(f64::MAX, || ()).expect("finite, even if far away");
    assert!(matches!(far.delay(f64::MAX), Err(DelayedCallError::InvalidDelay(_))), "overflows");
    assert_eq!(far.get_time(), f64::MAX);
    let call = clock.call_later(1.0, || ()).unwrap();
    assert!(
        matches!(call.reset(-1.0), Err(DelayedCallError::InvalidDelay(e)) if e.delay() == -1.0)
    );
    assert!(matches!(call.reset(f64::NAN), Err(DelayedCallError::InvalidDelay(_))));
    assert!(matches!(call.delay(f64::INFINITY), Err(DelayedCallError::InvalidDelay(_))));
    assert_eq!(call.get_time(), 1.0, "a refused change changes nothing");
    assert_eq!(
        InvalidDelayError::to_string(&clock.call_later(-2.5, || ()).unwrap_err()),
        "invalid delay: -2.5 seconds (a delay must be finite and not negative)"
    );
}

#[test]
fn cancel_reset_and_delay_after_the_call_ran_or_was_cancelled_are_typed_errors() {
    let clock = Clock::new();
    let ran = clock.call_later(1.0, || ()).unwrap();
    clock.advance(1.0);
    assert_eq!(ran.cancel(), Err(DelayedCallError::AlreadyCalled));
    assert_eq!(ran.reset(1.0), Err(DelayedCallError::AlreadyCalled));
    assert_eq!(ran.delay(1.0), Err(DelayedCallError::AlreadyCalled));

    let cancelled = clock.call_later(1.0, || ()).unwrap();
    cancelled.cancel().unwrap();
    assert_eq!(cancelled.cancel(), Err(DelayedCallError::AlreadyCancelled));
    assert_eq!(cancelled.reset(1.0), Err(DelayedCallError::AlreadyCancelled));
    assert_eq!(cancelled.delay(1.0), Err(DelayedCallError::AlreadyCancelled));
    assert_eq!(
        DelayedCallError::AlreadyCancelled.to_string(),
        "the delayed call has already been cancelled"
    );
}

#[test]
fn a_panic_in_a_call_unwinds_out_of_advance_and_the_clock_goes_on() {
    let clock = Clock::new();
    let log = Recorder::new();
    clock.call_later(1.0, || panic!("boom")).unwrap();
    clock.call_later(2.0, record(&log, "after")).unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| clock.advance(3.0)));
    let payload = result.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    assert!(log.events().is_empty(), "the rest stays pending, as in Twisted");
    assert_eq!(clock.pending_calls().len(), 1);
    clock.advance(0.0);
    assert_eq!(log.take(), ["after"]);
    // The nesting guard was reset by the unwinding: nested calls still run in one advance.
    let (c, l) = (clock.clone(), log.clone());
    clock
        .call_later(0.0, move || c.call_later(0.0, record(&l, "nested")).map(drop).unwrap())
        .unwrap();
    clock.advance(0.0);
    assert_eq!(log.take(), ["nested"]);
}

#[test]
#[should_panic(expected = "must be a finite, non-negative number of seconds")]
fn advancing_by_a_negative_amount_panics() {
    Clock::new().advance(-1.0);
}

#[test]
fn a_call_may_advance_the_clock_it_runs_on() {
    let clock = Clock::new();
    let log = Recorder::new();
    let (c, l) = (clock.clone(), log.clone());
    clock
        .call_later(1.0, move || {
            l.record("outer");
            c.advance(1.0); // runs the call at 2 from inside
            l.record(format!("outer again at {}", c.seconds()));
        })
        .unwrap();
    clock.call_later(2.0, record(&log, "inner")).unwrap();
    clock.advance(1.0);
    assert_eq!(log.take(), ["outer", "inner", "outer again at 2"]);
}

#[test]
fn dropping_the_last_clock_handle_discards_pending_calls() {
    let clock = Clock::new();
    let drops = DropCounter::new();
    let token = drops.token();
    let call = clock
        .call_later(1.0, move || {
            let _keep = &token;
        })
        .unwrap();
    let other = clock.clone();
    drop(clock);
    assert!(call.active(), "another handle keeps the clock");
    drop(other);
    assert_eq!(drops.dropped(), 1);
    assert!(call.cancelled());
    assert_eq!(call.cancel(), Err(DelayedCallError::AlreadyCancelled));
    assert_eq!(call.reset(1.0), Err(DelayedCallError::AlreadyCancelled));
}

#[test]
fn a_pending_call_does_not_keep_its_clock_alive() {
    // An add_timeout step holds the DelayedCall whose closure holds the chain: a cycle unless
    // the clock lets go of it.
    let drops = DropCounter::new();
    {
        let clock = Clock::new();
        let (d, _r) = deferreds::Deferred::<u8>::new();
        let token = drops.token();
        let d = d.map(move |n| {
            let _keep = &token;
            n
        });
        let _d = d.add_timeout(10.0, &clock);
    }
    assert_eq!(drops.dropped(), 1);
}

#[test]
fn delayed_calls_compare_and_hash_by_identity_and_debug_shows_their_state() {
    use std::collections::HashSet;
    let clock = Clock::new();
    let a = clock.call_later(1.5, || ()).unwrap();
    let b = clock.call_later(1.5, || ()).unwrap();
    assert_eq!(a, a.clone());
    assert_ne!(a, b);
    let set: HashSet<DelayedCall> = [a.clone(), a.clone(), b.clone()].into_iter().collect();
    assert_eq!(set.len(), 2);
    assert_eq!(format!("{a:?}"), "DelayedCall { seq: 0, time: 1.5, state: Pending }");
    b.cancel().unwrap();
    assert_eq!(format!("{b:?}"), "DelayedCall { seq: 1, time: 1.5, state: Cancelled }");
    assert_eq!(format!("{clock:?}"), "Clock { now: 0.0, pending: 1 }");
}

#[test]
fn clocks_are_independent_across_threads() {
    let handles: Vec<_> = (0..4)
        .map(|i| {
            thread::spawn(move || {
                let clock = Clock::new();
                let hits = Arc::new(AtomicUsize::new(0));
                for t in 0..1000 {
                    let h = hits.clone();
                    clock
                        .call_later(t as f64, move || {
                            h.fetch_add(1, Ordering::SeqCst);
                        })
                        .unwrap();
                }
                clock.advance(499.5 + i as f64);
                hits.load(Ordering::SeqCst)
            })
        })
        .collect();
    let results: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results, [500, 501, 502, 503]);
}

/// Calls scheduled and cancelled from other threads while one thread advances the clock: each
/// call either runs once or is cancelled, never both, never neither.
#[test]
fn concurrent_scheduling_and_cancelling_while_advancing_is_exactly_once() {
    const PER_THREAD: usize = 2000;
    let clock = Clock::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let cancelled = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let (clock, ran, cancelled) = (clock.clone(), ran.clone(), cancelled.clone());
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let r = ran.clone();
                    let call = clock
                        .call_later((i % 7) as f64 * 0.001, move || {
                            r.fetch_add(1, Ordering::SeqCst);
                        })
                        .unwrap();
                    if (i + w) % 3 == 0 && call.cancel().is_ok() {
                        cancelled.fetch_add(1, Ordering::SeqCst);
                    }
                    if i % 5 == 0 {
                        let _ = call.reset(0.002);
                    }
                }
            })
        })
        .collect();
    let driver = {
        let clock = clock.clone();
        thread::spawn(move || {
            for _ in 0..2000 {
                clock.advance(0.001);
            }
        })
    };
    for w in workers {
        w.join().unwrap();
    }
    driver.join().unwrap();
    clock.advance(1.0);
    assert_eq!(ran.load(Ordering::SeqCst) + cancelled.load(Ordering::SeqCst), 3 * PER_THREAD);
    assert!(clock.pending_calls().is_empty());
}

/// What every refusal of a delay that would lead past the largest time says.
const PAST_THE_END: &str = "the time it leads to is past the largest time a clock can hold";

#[test]
fn a_clock_advanced_past_the_largest_time_saturates_and_stays_usable() {
    let clock = Clock::new();
    let log = Recorder::new();
    clock.call_later(1e308, record(&log, "at 1e308")).unwrap();
    clock.advance(1e308);
    clock.advance(1e308);
    assert_eq!(clock.seconds(), f64::MAX, "time stops at the largest finite time");
    assert_eq!(log.take(), ["at 1e308"]);
    // The clock goes on: a small delay is due at once (time no longer moves), a large one is
    // refused for what it is.
    clock.call_later(1.0, record(&log, "one more")).unwrap();
    clock.advance(1.0);
    assert_eq!(log.take(), ["one more"]);
    let err = clock.call_later(1e308, || ()).unwrap_err();
    assert_eq!(err.delay(), 1e308);
    assert!(err.to_string().contains(PAST_THE_END), "{err}");
    assert!(clock.pending_calls().is_empty());
}

#[test]
fn a_delay_or_reset_past_the_largest_time_is_refused_and_changes_nothing() {
    let clock = Clock::new();
    let call = clock.call_later(1.0, || ()).unwrap();
    call.delay(f64::MAX).unwrap();
    assert_eq!(call.get_time(), f64::MAX);
    let refused = call.delay(f64::MAX).unwrap_err();
    assert!(matches!(refused, DelayedCallError::InvalidDelay(_)));
    assert!(refused.to_string().contains(PAST_THE_END), "{refused}");
    assert_eq!(call.get_time(), f64::MAX);
    // Downwards too: -f64::MAX is finite, one more step is not.
    call.delay(-f64::MAX).unwrap();
    call.delay(-f64::MAX).unwrap();
    let refused = call.delay(-f64::MAX).unwrap_err();
    assert!(refused.to_string().contains(PAST_THE_END), "{refused}");
    assert_eq!(call.get_time(), -f64::MAX);
    assert!(call.active());

    let log = Recorder::new();
    clock.advance(1e308);
    let call = clock.call_later(1.0, record(&log, "ran")).unwrap();
    let refused = call.reset(1e308).unwrap_err();
    assert!(refused.to_string().contains(PAST_THE_END), "{refused}");
    assert_eq!(call.get_time(), 1e308, "1e308 + 1 is 1e308 in floating point");
    clock.advance(0.0);
    assert_eq!(log.take(), ["ran"]);
}

#[test]
fn timed_helpers_refuse_a_delay_past_the_largest_time_with_a_failure_that_says_so() {
    let clock = Clock::new();
    clock.advance(1e308);
    let says_past_the_end = |f: deferreds::Failure| {
        let err = f.downcast_ref::<InvalidDelayError>().expect("an InvalidDelayError");
        assert!(err.to_string().contains(PAST_THE_END), "{err}");
        assert_eq!(err.delay(), 1e308);
    };
    says_past_the_end(deferreds::testing::failure_result_of(defer_later(&clock, 1e308, || ())));
    // `add_timeout`, on a Deferred that has its result and on one that does not.
    let d = deferreds::succeed(1).add_timeout(1e308, &clock);
    says_past_the_end(deferreds::testing::failure_result_of(d));
    let (d, r) = deferreds::Deferred::<u8>::new();
    let d = d.add_timeout(1e308, &clock);
    r.callback(1).unwrap();
    says_past_the_end(deferreds::testing::failure_result_of(d));
    // A looping call whose next call would be past it stops with that failure.
    let lc = LoopingCall::new(clock.clone(), || ());
    let done = lc.start(1e308, false).unwrap();
    says_past_the_end(deferreds::testing::failure_result_of(done));
    assert!(!lc.running());
    assert!(clock.pending_calls().is_empty());
}

#[test]
fn a_reactor_refuses_a_delay_past_the_largest_time_with_an_error_that_says_so() {
    let reactor = Reactor::new();
    let call = reactor.call_later(1.0, || ()).unwrap();
    call.delay(f64::MAX).unwrap();
    let refused = call.delay(f64::MAX).unwrap_err();
    assert!(refused.to_string().contains(PAST_THE_END), "{refused}");
    assert!(call.active());
    call.cancel().unwrap();
}
