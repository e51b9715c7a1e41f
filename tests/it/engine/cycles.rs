//! Chains that would wait on each other in a circle. A step reaches another chain's tail
//! through a shared slot and returns it; if that chain waits, directly or through others, on
//! the step's own chain, the step fails with `CircularChainError` instead: no hang, no leak
//! (each chain would hold the next alive as its waiter), no stack overflow. The check walks
//! the links at the moment a chain starts waiting, in both directions at once, so towers of
//! any shape still build in linear time.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use parking_lot::Mutex;

use deferreds::testing::{
    Counted, DropCounter, Recorder, capture_unhandled, failure_result_of, success_result_of,
};
use deferreds::{CancelledError, CircularChainError, Deferred, Failure, Resolver};

use crate::hardening::support::{Rng, Watchdog};

type V = Counted<u64>;
type Slot = Arc<Mutex<Option<Deferred<V>>>>;

fn slot() -> Slot {
    Arc::new(Mutex::new(None))
}

/// A step that returns whatever tail is in `slot` when it runs (the value goes, counted).
fn returns_tail_in(
    slot: &Slot,
    token: deferreds::testing::DropToken,
) -> impl FnOnce(V) -> Deferred<V> + Send + 'static {
    let slot = slot.clone();
    move |_value| {
        let _token = token;
        slot.lock().take().expect("the tail is parked before the step runs")
    }
}

/// An errback that turns `CircularChainError` into `recovered` and logs it; other failures
/// pass on.
fn recover_circular(
    counter: &DropCounter,
    log: &Recorder,
    name: &'static str,
    recovered: u64,
) -> impl FnOnce(Failure) -> Result<V, Failure> + Send + 'static {
    let (counter, log, token) = (counter.clone(), log.clone(), counter.token());
    move |f| {
        let _token = token;
        f.trap::<CircularChainError>()?;
        log.record(format!("{name} refused the circle"));
        Ok(counter.wrap(recovered))
    }
}

#[test]
fn two_chains_returning_each_others_tails_refuse_the_circle_and_free_everything() {
    let counter = DropCounter::new();
    let log = Recorder::new();
    let ((), reports) = capture_unhandled(|| {
        let (slot_a, slot_b) = (slot(), slot());
        let (a, fire_a) = Deferred::<V>::new();
        let (b, fire_b) = Deferred::<V>::new();
        let l = log.clone();
        let a = a.add_callback(returns_tail_in(&slot_b, counter.token())).map(move |v| {
            l.record(format!("a got {}", *v));
            v
        });
        let b = b
            .add_callback(returns_tail_in(&slot_a, counter.token()))
            .add_errback(recover_circular(&counter, &log, "b", 7));
        *slot_a.lock() = Some(a);
        *slot_b.lock() = Some(b);

        fire_a.callback(counter.wrap(1)).unwrap();
        assert!(log.events().is_empty(), "a waits on b");
        fire_b.callback(counter.wrap(2)).unwrap();
        // b's step returned a's tail; a waits on b, so b would have waited on a: refused. b
        // recovers, and hands its result to a, which waits on it.
        assert_eq!(log.take(), ["b refused the circle", "a got 7"]);
    });
    assert!(reports.is_empty(), "every failure was handled: {reports:?}");
    assert_eq!(counter.alive(), 0, "every chain, step and value was freed");
}

#[test]
fn an_unhandled_circle_error_is_reported_once_and_nothing_leaks() {
    let counter = DropCounter::new();
    let ((), reports) = capture_unhandled(|| {
        let (slot_a, slot_b) = (slot(), slot());
        let (a, fire_a) = Deferred::<V>::new();
        let (b, fire_b) = Deferred::<V>::new();
        *slot_a.lock() = Some(a.add_callback(returns_tail_in(&slot_b, counter.token())));
        *slot_b.lock() = Some(b.add_callback(returns_tail_in(&slot_a, counter.token())));
        fire_a.callback(counter.wrap(1)).unwrap();
        fire_b.callback(counter.wrap(2)).unwrap();
        // The failure travels from b to a, whose tail b's step consumed: a ends with it.
        drop((fire_a, fire_b));
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].failure().check::<CircularChainError>());
    drop(reports);
    assert_eq!(counter.alive(), 0);
}

#[test]
fn a_three_chain_circle_is_refused_by_the_step_that_closes_it() {
    let counter = DropCounter::new();
    let log = Recorder::new();
    let ((), reports) = capture_unhandled(|| {
        let slots = [slot(), slot(), slot()];
        let mut fires = Vec::new();
        for i in 0..3 {
            let (d, fire) = Deferred::<V>::new();
            let next = &slots[(i + 1) % 3];
            let l = log.clone();
            let d = d
                .add_callback(returns_tail_in(next, counter.token()))
                .add_errback(recover_circular(&counter, &log, ["a", "b", "c"][i], 10 * i as u64))
                .map(move |v| {
                    l.record(format!("{} got {}", ["a", "b", "c"][i], *v));
                    v
                });
            *slots[i].lock() = Some(d);
            fires.push(fire);
        }
        // a waits on b, b on c; c's step returns a's tail and closes the circle.
        fires[0].callback(counter.wrap(1)).unwrap();
        fires[1].callback(counter.wrap(2)).unwrap();
        assert!(log.events().is_empty());
        fires[2].callback(counter.wrap(3)).unwrap();
        assert_eq!(log.take(), ["c refused the circle", "c got 20", "b got 20", "a got 20"]);
    });
    assert!(reports.is_empty(), "{reports:?}");
    assert_eq!(counter.alive(), 0);
}

#[test]
fn a_chain_returning_the_top_of_the_tower_it_sits_under_is_refused() {
    // A pending tower, each level waiting on the one below; the leaf's step returns the top's
    // tail. The circle runs through every level, and finding it walks them all once.
    const DEPTH: usize = 100_000;
    let counter = DropCounter::new();
    let ((), reports) = capture_unhandled(|| {
        let top_slot = slot();
        let (leaf, fire_leaf) = Deferred::<V>::new();
        let mut below =
            leaf.add_callback(returns_tail_in(&top_slot, counter.token())).add_errback(|f| {
                assert!(f.check::<CircularChainError>());
                Err(Failure::new(CancelledError)) // recognisable at the top
            });
        let mut fires = Vec::with_capacity(DEPTH);
        for _ in 0..DEPTH {
            let (outer, fire) = Deferred::<V>::new();
            let inner = below;
            let token = counter.token();
            below = outer.add_callback(move |_| {
                let _token = token;
                inner
            });
            fires.push(fire);
        }
        *top_slot.lock() = Some(below);
        for fire in fires.iter().rev() {
            fire.callback(counter.wrap(0)).unwrap();
        }
        fire_leaf.callback(counter.wrap(0)).unwrap();
        // The leaf's failure went up the tower to the top, whose tail the leaf's step took.
        let top = fires.last().unwrap();
        assert!(format!("{top:?}").contains("CancelledError"), "{top:?}");
        drop(fires);
        drop(fire_leaf);
    });
    assert_eq!(reports.len(), 1);
    assert!(reports[0].failure().check::<CancelledError>());
    drop(reports);
    assert_eq!(counter.alive(), 0);
}

#[test]
fn a_circle_closed_by_an_errback_is_refused_too() {
    let counter = DropCounter::new();
    let ((), reports) = capture_unhandled(|| {
        let (slot_a, slot_b) = (slot(), slot());
        let (a, fire_a) = Deferred::<V>::new();
        let (b, fire_b) = Deferred::<V>::new();
        *slot_a.lock() = Some(a.add_callback(returns_tail_in(&slot_b, counter.token())));
        let s = slot_a.clone();
        let b = b.add_errback(move |_| s.lock().take().unwrap());
        *slot_b.lock() = Some(b);
        fire_a.callback(counter.wrap(1)).unwrap();
        fire_b.errback(Failure::msg("b failed")).unwrap();
        let a_state = format!("{fire_a:?}");
        assert!(a_state.contains("CircularChainError"), "{a_state}");
        drop((fire_a, fire_b));
    });
    assert_eq!(reports.len(), 1);
    drop(reports);
    assert_eq!(counter.alive(), 0);
}

/// Two or three chains, each with a step returning the next one's tail, fired at once from
/// as many threads: whichever waits last closes the circle, possibly at the same moment as
/// another. At least one step is refused, no chain is left waiting, and nothing leaks.
#[test]
fn circles_closed_from_several_threads_at_once_are_always_refused() {
    const ROUNDS: usize = 400;
    let watchdog = Watchdog::new("circles closed from several threads", Duration::from_secs(60));
    let counter = DropCounter::new();
    let mut rng = Rng::new(10);
    for round in 0..ROUNDS {
        let n = 2 + round % 2;
        let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let slots: Vec<Slot> = (0..n).map(|_| slot()).collect();
        let mut fires: Vec<Resolver<V>> = Vec::new();
        for i in 0..n {
            let (d, fire) = Deferred::<V>::new();
            let (refused, c) = (refused.clone(), counter.clone());
            let d = d
                .add_callback(returns_tail_in(&slots[(i + 1) % n], counter.token()))
                .add_errback(move |f| {
                    if f.check::<CircularChainError>() {
                        refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Ok(c.wrap(0))
                });
            *slots[i].lock() = Some(d);
            fires.push(fire);
        }
        let start = Arc::new(Barrier::new(n));
        let order: Vec<usize> = {
            let mut o: Vec<usize> = (0..n).collect();
            rng.shuffle(&mut o);
            o
        };
        // Every failure is recovered, so nothing is reported from the firing threads.
        let threads: Vec<_> = order
            .iter()
            .map(|&i| {
                let (fire, start, c) = (fires[i].clone(), start.clone(), counter.clone());
                std::thread::spawn(move || {
                    let value = c.wrap(i as u64);
                    start.wait();
                    fire.callback(value).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let refused = refused.load(std::sync::atomic::Ordering::SeqCst);
        assert!((1..=n).contains(&refused), "round {round}: {refused} of {n} steps refused");
        for fire in &fires {
            assert!(!format!("{fire:?}").contains("waiting"), "round {round}: {fire:?}");
        }
        drop(fires);
        assert_eq!(counter.alive(), 0, "round {round}");
        watchdog.pet();
    }
}

/// A tower of pending Deferreds, each level's step returning the tail of the level below,
/// whose levels are fired in `order` (indices into the levels, 0 just above the leaf).
fn fire_tower(depth: usize, order: impl IntoIterator<Item = usize>, what: &str) {
    let watchdog = Watchdog::new(what, Duration::from_secs(120));
    let (leaf, fire_leaf) = Deferred::<u64>::new();
    let mut below = leaf;
    let mut fires = Vec::with_capacity(depth);
    for _ in 0..depth {
        let (outer, fire) = Deferred::<()>::new();
        let inner = below;
        below = outer.add_callback(move |()| inner).map(|n| n + 1);
        fires.push(fire);
    }
    for (k, i) in order.into_iter().enumerate() {
        fires[i].callback(()).unwrap();
        if k % 10_000 == 0 {
            watchdog.pet();
        }
    }
    drop(fires);
    fire_leaf.callback(0).unwrap();
    assert_eq!(success_result_of(below), depth as u64);
}

// The circle check walks up from the waiting chain and down from the one it waits on, in
// lock-step, and stops when either path ends. Fired bottom-up, the path up is empty each time;
// fired top-down (`nesting::a_million_deep_tower_fired_top_down_unwinds_on_a_256k_stack`), the
// path down is. Walking one way only would be quadratic for one of the two: 5 * 10^11 steps.

#[test]
fn a_million_deep_tower_fired_bottom_up_builds_in_linear_time() {
    fire_tower(1_000_000, 0..1_000_000, "a tower fired bottom-up");
}

#[test]
fn a_tower_fired_in_a_shuffled_order_builds_in_n_log_n_time() {
    // Each level joins the segments already built above and below it; the check costs the
    // smaller one.
    let mut order: Vec<usize> = (0..200_000).collect();
    Rng::new(7).shuffle(&mut order);
    fire_tower(200_000, order, "a tower fired in a shuffled order");
}

#[test]
fn a_step_returning_a_chain_that_waits_elsewhere_is_not_a_circle() {
    // b waits on c; a's step returns b's tail: a chain of waits, no circle.
    let (c, fire_c) = Deferred::<u8>::new();
    let b = deferreds::succeed(()).add_callback(move |()| c);
    let a = deferreds::succeed(()).add_callback(move |()| b).map(|n| n + 1);
    fire_c.callback(1).unwrap();
    assert_eq!(success_result_of(a), 2);

    // An outer that others wait on, waiting on a chain that waits on something else.
    let (leaf, fire_leaf) = Deferred::<u8>::new();
    let mid = deferreds::succeed(()).add_callback(move |()| leaf);
    let (outer, fire_outer) = Deferred::<()>::new();
    let outer = outer.add_callback(move |()| mid);
    let top = deferreds::succeed(()).add_callback(move |()| outer);
    fire_outer.callback(()).unwrap();
    fire_leaf.errback(Failure::msg("leaf")).unwrap();
    assert_eq!(failure_result_of(top).error_message(), "leaf");
}

/// A circle through an `ensure_deferred` block: the block awaits `c`, and `c` waits on the
/// block's own Deferred (its step returned that tail). Nothing detects this circle when it
/// closes (an awaiting block is not a chain step), and it stays pending, as in Twisted, until
/// something in it is cancelled. That cancel used to go round the circle forever: the block
/// handed its cancellation to `c`, which handed it to the block's Deferred, which handed it to
/// the block again. Now the block's Deferred fails when its own cancellation comes back to it.
#[test]
fn cancelling_a_circle_through_an_async_block_ends_it_instead_of_spinning() {
    let watchdog = Watchdog::new("a circle through an async block", Duration::from_secs(30));
    let counter = DropCounter::new();
    let log = Recorder::new();
    let ((), reports) = capture_unhandled(|| {
        let slot: Arc<Mutex<Option<Deferred<u8>>>> = Arc::default();
        let (c, fire_c) = Deferred::<u8>::new();
        let (s, token) = (slot.clone(), counter.token());
        let c = c.add_callback(move |_| {
            let _token = token;
            s.lock().take().expect("the block's tail is parked")
        });
        let (go, fire_go) = Deferred::<()>::new();
        let (l, token) = (log.clone(), counter.token());
        let block = deferreds::ensure_deferred(async move {
            let _token = token;
            go.await?;
            c.cancel(); // c waits on this block's Deferred: the cancellation comes back here
            let result = c.await;
            l.record(format!(
                "c gave {:?}",
                result.as_ref().map_err(|f| f.check::<CancelledError>())
            ));
            result
        });
        *slot.lock() = Some(block);
        fire_c.callback(1).unwrap(); // c waits on the block, which will await c
        fire_go.callback(()).unwrap();
        watchdog.pet();
        drop((fire_c, fire_go));
    });
    assert_eq!(log.take(), ["c gave Err(true)"]);
    drop(reports);
    assert_eq!(counter.alive(), 0, "the circle was broken, so everything was freed");
}
