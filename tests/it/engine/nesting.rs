//! Nested Deferreds (a step returning a Deferred) and `chain_deferred`, including depth.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::hardening::support::on_small_stack;
use deferreds::testing::{
    DropCounter, Recorder, assert_no_result, capture_unhandled, failure_result_of,
    success_result_of,
};
use deferreds::{
    AlreadyCalledError, CircularChainError, Deferred, Failure, Resolver, Step, fail, succeed,
};

#[test]
fn returning_an_unfired_deferred_pauses_the_outer_chain_until_it_fires() {
    let log = Recorder::new();
    let l = log.clone();
    let (inner, fire_inner) = Deferred::<&str>::new();
    let (outer, fire_outer) = Deferred::<&str>::new();
    let outer = outer.add_callback(move |_| inner).map(move |r| {
        l.record(format!("outer cb2 got {r}"));
        r
    });
    fire_outer.callback("x").unwrap();
    assert!(outer.is_waiting());
    assert_no_result(&outer);
    assert!(log.events().is_empty());
    fire_inner.callback("inner-result").unwrap();
    assert_eq!(log.take(), ["outer cb2 got inner-result"]);
    assert!(!outer.is_waiting());
    assert_eq!(success_result_of(outer), "inner-result");
}

#[test]
fn an_already_fired_inner_result_is_taken_synchronously() {
    let log = Recorder::new();
    let l = log.clone();
    let (outer, fire) = Deferred::<()>::new();
    let outer =
        outer.add_callback(|()| succeed("R")).map(move |r| l.record(format!("outer got {r}")));
    fire.callback(()).unwrap();
    assert_eq!(log.take(), ["outer got R"]);
    success_result_of(outer);
}

#[test]
fn the_inner_is_left_holding_nothing_so_its_failure_is_not_reported_twice() {
    // Twisted leaves a consumed inner Deferred with `None`; here it is left empty, and its
    // failure, now the outer chain's, is reported once, by the outer chain only.
    let ((), reports) = capture_unhandled(|| {
        let (inner, fire_inner) = Deferred::<u8>::new();
        let outer = succeed(()).add_callback(move |()| inner);
        fire_inner.errback(Failure::msg("k")).unwrap();
        drop(fire_inner); // the inner chain is gone: no report for it
        drop(outer);
    });
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].failure().error_message(), "k");
}

#[test]
fn an_inner_failure_continues_on_the_outer_errback_track() {
    let (inner, fire_inner) = Deferred::<u8>::new();
    let outer = succeed(())
        .add_callback(move |()| inner)
        .map(|n| n + 1)
        .add_errback(|f| Ok(f.error_message().len() as u8));
    fire_inner.errback(Failure::msg("four")).unwrap();
    assert_eq!(success_result_of(outer), 4);
}

#[test]
fn errbacks_may_return_deferreds_too() {
    let (inner, fire_inner) = Deferred::<u8>::new();
    let d = fail::<u8>(Failure::msg("x")).add_errback(move |_| inner).map(|n| n * 2);
    assert_no_result(&d);
    fire_inner.callback(21).unwrap();
    assert_eq!(success_result_of(d), 42);
}

#[test]
fn steps_added_to_the_inner_before_it_is_returned_shape_what_the_outer_sees() {
    let (inner, fire_inner) = Deferred::<String>::new();
    let inner = inner.map(|v| v + "+before");
    let outer = succeed(()).add_callback(move |()| inner);
    fire_inner.callback("v".into()).unwrap();
    assert_eq!(success_result_of(outer), "v+before");
}

#[test]
fn nesting_works_when_the_inner_is_fired_while_the_outer_is_still_pending() {
    let (inner, fire_inner) = Deferred::<u8>::new();
    fire_inner.callback(3).unwrap();
    let (outer, fire_outer) = Deferred::<()>::new();
    let outer = outer.add_callback(move |()| inner);
    assert_no_result(&outer);
    fire_outer.callback(()).unwrap();
    assert_eq!(success_result_of(outer), 3);
}

#[test]
fn a_paused_inner_holds_the_outer_until_it_is_unpaused() {
    let (inner, fire_inner) = Deferred::<u8>::new();
    fire_inner.pause();
    fire_inner.callback(1).unwrap();
    let outer = succeed(()).add_callback(move |()| inner);
    assert_no_result(&outer);
    fire_inner.unpause().unwrap();
    assert_eq!(success_result_of(outer), 1);
}

#[test]
fn a_paused_outer_takes_the_inner_result_only_when_unpaused() {
    let (inner, fire_inner) = Deferred::<u8>::new();
    let mut outer = succeed(()).add_callback(move |()| inner).map(|n| n + 1);
    outer.pause();
    fire_inner.callback(1).unwrap();
    assert_no_result(&outer);
    outer.unpause().unwrap();
    assert_eq!(success_result_of(outer), 2);
}

#[test]
fn nesting_goes_to_any_depth() {
    let (leaf, fire) = Deferred::<u32>::new();
    let mid = succeed(()).add_callback(move |()| leaf).map(|n| n + 1);
    let top = succeed(()).add_callback(move |()| mid).map(|n| n * 10);
    assert!(top.is_waiting());
    fire.callback(1).unwrap();
    assert_eq!(success_result_of(top), 20);
}

#[test]
fn a_step_may_choose_at_run_time_whether_to_wait() {
    let d =
        succeed(true).add_callback(|hit| if hit { Step::Value(1) } else { Step::Wait(succeed(2)) });
    assert_eq!(success_result_of(d), 1);
}

const DEEP: u64 = 1_000_000;

#[test]
fn a_million_deep_tower_unwinds_on_a_256k_stack() {
    on_small_stack(|| {
        let (leaf, fire) = Deferred::<u64>::new();
        let mut top = leaf;
        for _ in 0..DEEP {
            let inner = top;
            top = succeed(()).add_callback(move |()| inner).map(|n| n + 1);
        }
        assert!(top.is_waiting());
        fire.callback(0).unwrap();
        assert_eq!(success_result_of(top), DEEP);
    });
}

#[test]
fn a_million_deep_tower_of_already_fired_deferreds_resolves_on_a_256k_stack() {
    on_small_stack(|| {
        let mut top = succeed(0u64);
        for _ in 0..DEEP {
            let inner = top;
            top = succeed(()).add_callback(move |()| inner).map(|n| n + 1);
        }
        assert_eq!(success_result_of(top), DEEP);
    });
}

#[test]
fn a_chain_whose_every_step_takes_over_a_fired_deferred_runs_on_a_256k_stack() {
    // Each step returns a Deferred that has its result while its resolver still holds it, so
    // the chain takes the result over under the inner chain's lock, 100,000 times in one run.
    const STEPS: usize = 100_000;
    on_small_stack(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let (d, fire) = Deferred::<u64>::new();
        let mut d = d;
        let mut keep = Vec::with_capacity(STEPS);
        for i in 0..STEPS {
            let (inner, fire_inner) = Deferred::<u64>::new();
            fire_inner.callback(i as u64 + 1).unwrap();
            keep.push(fire_inner);
            let ran = ran.clone();
            d = d.add_callback(move |_| {
                ran.fetch_add(1, Ordering::Relaxed);
                inner
            });
        }
        fire.callback(0).unwrap();
        assert_eq!(success_result_of(d), STEPS as u64);
        assert_eq!(ran.load(Ordering::Relaxed), STEPS);
    });
}

#[test]
fn a_million_deep_tower_fired_top_down_unwinds_on_a_256k_stack() {
    // Every outer chain is pending when its step is added, and the levels are fired from the
    // outside in: each fire attaches to the level below, and the leaf fires last.
    on_small_stack(|| {
        let (leaf, fire_leaf) = Deferred::<u64>::new();
        let mut below = leaf;
        let mut fires = Vec::with_capacity(DEEP as usize);
        for _ in 0..DEEP {
            let (outer, fire) = Deferred::<()>::new();
            let inner = below;
            below = outer.add_callback(move |()| inner).map(|n| n + 1);
            fires.push(fire);
        }
        for fire in fires.iter().rev() {
            fire.callback(()).unwrap();
        }
        drop(fires);
        fire_leaf.callback(0).unwrap();
        assert_eq!(success_result_of(below), DEEP);
    });
}

#[test]
fn dropping_a_million_deep_pending_tower_does_not_recurse() {
    let counter = DropCounter::new();
    let c = counter.clone();
    on_small_stack(move || {
        let (leaf, fire) = Deferred::<u64>::new();
        let mut top = leaf;
        for _ in 0..DEEP {
            let inner = top;
            let (outer, _fire) = Deferred::<()>::new();
            let token = c.token();
            top = outer.add_callback(move |()| {
                let _t = &token;
                inner
            });
        }
        drop(top);
        drop(fire);
    });
    assert_eq!(counter.made(), DEEP as usize);
    assert_eq!(counter.dropped(), DEEP as usize);
}

#[test]
fn chain_deferred_fires_the_other_deferred_and_continues_with_unit() {
    let log = Recorder::new();
    let l = log.clone();
    let (d1, fire1) = Deferred::<&str>::new();
    let (d2, fire2) = Deferred::<&str>::new();
    let d2 = d2.map(move |r| {
        l.record(format!("d2 got {r}"));
        "d2-final"
    });
    let d1 = d1.chain_deferred(&fire2);
    fire1.callback("v").unwrap();
    assert_eq!(log.take(), ["d2 got v"]);
    success_result_of(d1);
    assert_eq!(success_result_of(d2), "d2-final");
}

#[test]
fn chain_deferred_runs_the_targets_steps_before_the_sources_next_step() {
    let log = Recorder::new();
    let (a, b) = (log.clone(), log.clone());
    let (d1, fire1) = Deferred::<u8>::new();
    let (d2, fire2) = Deferred::<u8>::new();
    let d2 = d2.map(move |n| a.record(format!("target {n}")));
    let d1 = d1.chain_deferred(&fire2).map(move |()| b.record("source after link"));
    fire1.callback(1).unwrap();
    assert_eq!(log.take(), ["target 1", "source after link"]);
    success_result_of(d1);
    success_result_of(d2);
}

#[test]
fn chain_deferred_carries_failures_across() {
    let (d1, fire1) = Deferred::<u8>::new();
    let (d2, fire2) = Deferred::<u8>::new();
    let d1 = d1.chain_deferred(&fire2);
    fire1.errback(Failure::msg("across")).unwrap();
    assert_eq!(failure_result_of(d2).error_message(), "across");
    success_result_of(d1);
}

#[test]
fn chain_deferred_into_an_already_fired_deferred_fails_with_already_called() {
    let (a, fire_a) = Deferred::<u8>::new();
    let (b, fire_b) = Deferred::<u8>::new();
    let a = a.chain_deferred(&fire_b);
    fire_b.callback(1).unwrap();
    fire_a.callback(2).unwrap();
    assert!(failure_result_of(a).check::<AlreadyCalledError>());
    assert_eq!(success_result_of(b), 1);
}

/// `DEEP` Deferreds, each chained to the next; `link` shapes each new one. Returns the first
/// one's resolver and the last one's tail. Each link's own tail is dropped: its chain lives on
/// in the previous link's step.
fn chain_deferred_line(
    link: impl Fn(Deferred<u64>) -> Deferred<u64>,
) -> (Resolver<u64>, Deferred<u64>) {
    let (first, fire_first) = Deferred::<u64>::new();
    let mut current = first;
    for _ in 0..DEEP {
        let (next, fire_next) = Deferred::<u64>::new();
        drop(current.chain_deferred(&fire_next));
        current = link(next);
    }
    (fire_first, current)
}

#[test]
fn a_million_link_chain_deferred_line_runs_on_a_256k_stack() {
    on_small_stack(|| {
        let (fire_first, current) = chain_deferred_line(|next| next.map(|n| n + 1));
        fire_first.callback(0).unwrap();
        assert_eq!(success_result_of(current), DEEP);
    });
}

#[test]
fn dropping_an_unfired_million_link_chain_deferred_line_does_not_recurse() {
    on_small_stack(|| {
        let (fire_first, current) = chain_deferred_line(|next| next);
        drop(current);
        drop(fire_first);
    });
}

#[test]
fn a_step_returning_its_own_deferred_fails_the_chain_instead_of_waiting_on_itself() {
    // Regression: the chain used to wait on itself forever, and its own waiter link kept it
    // (and the closures of the steps after it) alive after every handle was dropped. Twisted
    // warns about this case (test_circularChainWarning) and means to make it an error.
    use std::sync::Arc;

    use parking_lot::Mutex;

    let slot: Arc<Mutex<Option<Deferred<u8>>>> = Arc::new(Mutex::new(None));
    let later = DropCounter::new();
    let log = Recorder::new();
    let (d, r) = Deferred::<u8>::new();
    let s = slot.clone();
    let d = d.add_callback(move |_| s.lock().take().expect("the tail was parked"));
    let (token, l) = (later.token(), log.clone());
    let d = d.add_errback(move |f| {
        let _keep = &token;
        assert!(f.check::<CircularChainError>());
        l.record(f.error_message());
        Err(f)
    });
    *slot.lock() = Some(d);
    let ((), reports) = capture_unhandled(|| {
        r.callback(1).unwrap();
        assert_eq!(
            log.take(),
            [
                "a step returned the Deferred it is attached to, or one waiting on it; a chain cannot wait on itself"
            ]
        );
        drop(r);
    });
    assert_eq!(reports.len(), 1, "the failure is reported once the chain is dropped");
    assert_eq!(later.dropped(), 1, "the chain and its closures are freed");
}
