//! Chains that nothing outside the engine can reach any more: circles closed by
//! `chain_deferred` and wait links, and tasks awaiting Deferreds that nothing can fire. Each is
//! freed, steps, values and all, when its last outside handle goes, and not before: a circle
//! that someone can still fire or cancel runs as it does in Twisted.

use std::future::IntoFuture;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Waker};

use parking_lot::Mutex;
use proptest::prelude::*;

use crate::hardening::support::{CountingWaker, on_small_stack};
use deferreds::testing::{
    Counted, DropCounter, DropToken, Recorder, capture_unhandled, success_result_of,
};
use deferreds::{AlreadyCalledError, CancelledError, Deferred, Failure, Resolver, ensure_deferred};

type V = Counted<u64>;

/// A callback that keeps `token` until it runs or is dropped, and logs that it ran.
fn step(
    token: DropToken,
    log: &Recorder,
    name: &'static str,
) -> impl FnOnce(V) -> V + Send + 'static {
    let log = log.clone();
    move |v| {
        let _token = token;
        log.record(name);
        v
    }
}

/// Drops the four handles of two chains in the order `order` gives (a permutation of 0..4).
fn drop_in_order(
    order: [usize; 4],
    a: Deferred<()>,
    fire_a: Resolver<V>,
    b: Deferred<()>,
    fire_b: Resolver<V>,
) {
    let mut a = Some(a);
    let mut b = Some(b);
    let mut fire_a = Some(fire_a);
    let mut fire_b = Some(fire_b);
    for i in order {
        match i {
            0 => drop(a.take()),
            1 => drop(fire_a.take()),
            2 => drop(b.take()),
            _ => drop(fire_b.take()),
        }
    }
}

const ORDERS: [[usize; 4]; 6] =
    [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1], [0, 2, 1, 3], [3, 1, 2, 0]];

#[test]
fn two_deferreds_chained_into_each_other_are_freed_with_their_last_handle() {
    for order in ORDERS {
        let counter = DropCounter::new();
        let log = Recorder::new();
        let (a, fire_a) = Deferred::<V>::new();
        let (b, fire_b) = Deferred::<V>::new();
        let a = a.map(step(counter.token(), &log, "a before"));
        let b = b.map(step(counter.token(), &log, "b before"));
        let a = a.chain_deferred(&fire_b).map({
            let token = counter.token();
            move |()| drop(token)
        });
        let b = b.chain_deferred(&fire_a).map({
            let token = counter.token();
            move |()| drop(token)
        });
        assert_eq!(counter.alive(), 4);
        drop_in_order(order, a, fire_a, b, fire_b);
        assert_eq!(counter.alive(), 0, "dropping in the order {order:?} left steps alive");
        assert!(log.take().is_empty(), "no step runs: nothing fired the circle");
    }
}

#[test]
fn a_chain_waiting_on_an_inner_it_also_chains_into_is_freed_with_its_last_handle() {
    for inner_handle_last in [false, true] {
        let counter = DropCounter::new();
        let (outer, fire_outer) = Deferred::<V>::new();
        let (inner, fire_inner) = Deferred::<V>::new();
        let inner = inner.map(step(counter.token(), &Recorder::new(), "inner"));
        let outer = outer.add_callback(move |_v: V| inner).chain_deferred(&fire_inner).map({
            let token = counter.token();
            move |()| drop(token)
        });
        fire_outer.callback(counter.wrap(1)).unwrap();
        assert!(outer.is_waiting());
        drop(fire_outer);
        if inner_handle_last {
            drop(outer);
            assert_eq!(counter.alive(), 2, "the inner's resolver still reaches both");
            drop(fire_inner);
        } else {
            drop(fire_inner);
            assert_eq!(counter.alive(), 2, "the outer's tail still reaches both");
            drop(outer);
        }
        assert_eq!(counter.alive(), 0);
    }
}

#[test]
fn a_circle_of_chain_deferred_links_runs_as_in_twisted_when_its_last_handle_fires_it() {
    // Twisted: `a.chainDeferred(b); b.chainDeferred(a); a.callback(1)` fires b, whose link back
    // into a fails with AlreadyCalledError; a goes on with None.
    let counter = DropCounter::new();
    let log = Recorder::new();
    let (a, fire_a) = Deferred::<V>::new();
    let (b, fire_b) = Deferred::<V>::new();
    let a = a.map(step(counter.token(), &log, "a ran")).chain_deferred(&fire_b);
    let b = b.map(step(counter.token(), &log, "b ran")).chain_deferred(&fire_a);
    let b_failed = Arc::new(Mutex::new(None));
    let seen = b_failed.clone();
    drop(b.add_errback(move |f: Failure| {
        *seen.lock() = Some(f.check::<AlreadyCalledError>());
        Ok(())
    }));
    drop(fire_b);
    // Only `fire_a` and `a` are left outside; the circle stays whole until they go.
    assert_eq!(counter.alive(), 2);
    fire_a.callback(counter.wrap(1)).unwrap();
    assert_eq!(log.take(), ["a ran", "b ran"]);
    assert_eq!(*b_failed.lock(), Some(true));
    success_result_of(a);
    drop(fire_a);
    assert_eq!(counter.alive(), 0);
}

#[test]
fn a_circle_whose_only_handle_left_is_a_tail_can_still_be_cancelled_through_it() {
    let counter = DropCounter::new();
    let log = Recorder::new();
    let (a, fire_a) = Deferred::<V>::new();
    let (b, fire_b) = Deferred::<V>::new();
    let a = a.chain_deferred(&fire_b);
    let b = b.add_errback({
        let log = log.clone();
        let token = counter.token();
        move |f: Failure| {
            let _token = token;
            log.record(format!("b cancelled: {}", f.check::<CancelledError>()));
            Err::<V, _>(f)
        }
    });
    let b = b.chain_deferred(&fire_a);
    drop((fire_a, fire_b, b));
    assert_eq!(counter.alive(), 1, "a's tail still reaches the circle");
    let a = a.add_errback(|f: Failure| {
        f.trap::<CancelledError>()?;
        Ok(())
    });
    a.cancel();
    assert_eq!(log.take(), ["b cancelled: true"]);
    success_result_of(a);
    assert_eq!(counter.alive(), 0);
}

#[test]
fn a_circle_held_by_a_chain_outside_it_lives_until_that_chain_goes() {
    // `z` fires `a`, which is in a circle with `b`: the circle is reachable through z's link.
    let counter = DropCounter::new();
    let log = Recorder::new();
    let (z, fire_z) = Deferred::<V>::new();
    let (a, fire_a) = Deferred::<V>::new();
    let (b, fire_b) = Deferred::<V>::new();
    let z = z.chain_deferred(&fire_a);
    drop(a.map(step(counter.token(), &log, "a ran")).chain_deferred(&fire_b));
    drop(b.map(step(counter.token(), &log, "b ran")).chain_deferred(&fire_a));
    drop((fire_a, fire_b));
    assert_eq!(counter.alive(), 2);
    drop(z);
    assert_eq!(counter.alive(), 2, "fire_z still reaches the circle");
    fire_z.callback(counter.wrap(7)).unwrap();
    assert_eq!(log.take(), ["a ran", "b ran"]);
    drop(fire_z);
    assert_eq!(counter.alive(), 0);

    // The same, left unfired: the circle goes when z does.
    let (z, fire_z) = Deferred::<V>::new();
    let (a, fire_a) = Deferred::<V>::new();
    let (b, fire_b) = Deferred::<V>::new();
    let z = z.chain_deferred(&fire_a);
    drop(a.map(step(counter.token(), &log, "a ran")).chain_deferred(&fire_b));
    drop(b.map(step(counter.token(), &log, "b ran")).chain_deferred(&fire_a));
    drop((fire_a, fire_b, z));
    assert_eq!(counter.alive(), 2);
    drop(fire_z);
    assert_eq!(counter.alive(), 0);
    assert!(log.take().is_empty());
}

#[test]
fn a_circle_with_a_failure_in_it_is_reported_once_when_freed() {
    // A chain in the circle holds an unhandled failure behind a pause: freeing the circle
    // reports it, as dropping that chain's last handle would.
    let ((), reports) = capture_unhandled(|| {
        let (a, fire_a) = Deferred::<u8>::new();
        let (b, fire_b) = Deferred::<u8>::new();
        let mut a = a.chain_deferred(&fire_b);
        a.pause();
        let b = b.chain_deferred(&fire_a);
        drop(b);
        fire_a.errback(Failure::msg("lost in a circle")).unwrap();
        drop((a, fire_a, fire_b));
    });
    assert_eq!(reports.len(), 1);
    assert!(reports[0].failure().to_string().contains("lost in a circle"));
}

#[test]
fn a_panic_in_a_destructor_of_a_freed_circle_is_reported_not_unwound() {
    struct Boom;
    impl Drop for Boom {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("boom in a freed circle");
            }
        }
    }
    let counter = DropCounter::new();
    let ((), reports) = capture_unhandled(|| {
        let (a, fire_a) = Deferred::<u8>::new();
        let (b, fire_b) = Deferred::<u8>::new();
        let token = counter.token();
        let boom = Boom;
        let a = a.map(move |n| {
            let _keep = (&boom, &token);
            n
        });
        let a = a.chain_deferred(&fire_b);
        let b = b.chain_deferred(&fire_a);
        drop((a, fire_a, b));
        // The last handle: the circle is freed here, and the panic must not unwind out of it.
        drop(fire_b);
    });
    assert_eq!(counter.alive(), 0);
    assert_eq!(reports.len(), 1);
    assert!(reports[0].failure().to_string().contains("boom in a freed circle"));
}

#[test]
fn a_long_chain_deferred_line_closed_into_a_circle_is_freed_on_a_small_stack() {
    on_small_stack(|| {
        let counter = DropCounter::new();
        let (first, fire_first) = Deferred::<V>::new();
        let mut current = first.map(step(counter.token(), &Recorder::new(), "first"));
        for _ in 0..100_000 {
            let (next, fire_next) = Deferred::<V>::new();
            drop(current.chain_deferred(&fire_next));
            current = next;
        }
        // The last link closes the line into a circle.
        let last = current.chain_deferred(&fire_first);
        drop(fire_first);
        assert_eq!(counter.alive(), 1);
        drop(last);
        assert_eq!(counter.alive(), 0);
    });
}

// --- tasks awaiting what nothing can fire ---------------------------------------------------

#[test]
fn an_ensure_deferred_block_awaiting_a_deferred_nobody_can_fire_is_freed() {
    for block_handle_first in [true, false] {
        let counter = DropCounter::new();
        let (awaited, fire) = Deferred::<u8>::new();
        let token = counter.token();
        let d = ensure_deferred(async move {
            let _token = token;
            Ok::<_, Failure>(awaited.await? + 1)
        });
        assert_eq!(counter.alive(), 1);
        if block_handle_first {
            drop(d);
            assert_eq!(counter.alive(), 1, "`fire` can still resume the block");
            drop(fire);
        } else {
            drop(fire);
            drop(d);
        }
        assert_eq!(counter.alive(), 0);
    }
}

/// A block that turns a cancellation of what it awaits into 0, as a Twisted coroutine may.
fn recovering_block(counter: &DropCounter, awaited: Deferred<u8>) -> Deferred<u8> {
    let token = counter.token();
    ensure_deferred(async move {
        let _token = token;
        match awaited.await {
            Err(f) if f.check::<CancelledError>() => Ok(0),
            other => Ok(other? + 1),
        }
    })
}

#[test]
fn a_block_awaiting_a_deferred_nobody_can_fire_stays_while_its_deferred_can_be_cancelled() {
    let counter = DropCounter::new();
    let (awaited, fire) = Deferred::<u8>::new();
    let d = recovering_block(&counter, awaited);
    drop(fire);
    assert_eq!(counter.alive(), 1, "cancelling `d` still reaches the block");
    d.cancel();
    assert_eq!(success_result_of(d), 0);
    assert_eq!(counter.alive(), 0);

    // Through a chain that waits on the block's Deferred, and that chain's tail.
    let (awaited, fire) = Deferred::<u8>::new();
    let d = recovering_block(&counter, awaited);
    let outer = deferreds::succeed(()).add_callback(move |()| d);
    drop(fire);
    assert_eq!(counter.alive(), 1);
    outer.cancel();
    assert_eq!(success_result_of(outer), 0);
    assert_eq!(counter.alive(), 0);

    // Once that tail goes, nothing can reach the block.
    let (awaited, fire) = Deferred::<u8>::new();
    let d = recovering_block(&counter, awaited);
    let outer = deferreds::succeed(()).add_callback(move |()| d);
    drop(fire);
    drop(outer);
    assert_eq!(counter.alive(), 0);
}

#[test]
fn a_block_awaiting_a_deferred_whose_resolver_went_before_the_block_began_is_freed() {
    let counter = DropCounter::new();
    let (awaited, fire) = Deferred::<u8>::new();
    drop(fire);
    let d = recovering_block(&counter, awaited);
    assert_eq!(counter.alive(), 1);
    drop(d);
    assert_eq!(counter.alive(), 0);
}

#[test]
fn a_resolver_clone_or_a_chain_deferred_link_keeps_the_awaiting_block_alive() {
    let counter = DropCounter::new();
    let (awaited, fire) = Deferred::<u8>::new();
    let (source, fire_source) = Deferred::<u8>::new();
    let source = source.chain_deferred(&fire);
    let token = counter.token();
    let d = ensure_deferred(async move {
        let _token = token;
        Ok::<_, Failure>(awaited.await? + 1)
    });
    let spare = fire.clone();
    drop(fire);
    assert_eq!(counter.alive(), 1, "a clone of the resolver can still fire it");
    drop(spare);
    assert_eq!(counter.alive(), 1, "the chain_deferred link can still fire it");
    fire_source.callback(41).unwrap();
    assert_eq!(success_result_of(d), 42);
    success_result_of(source);
    assert_eq!(counter.alive(), 0);
}

#[test]
fn nested_blocks_awaiting_a_deferred_nobody_can_fire_are_freed_on_a_small_stack() {
    on_small_stack(|| {
        let counter = DropCounter::new();
        let (leaf, fire_leaf) = Deferred::<u64>::new();
        let mut top = leaf;
        for _ in 0..100_000 {
            let inner = top;
            let token = counter.token();
            top = ensure_deferred(async move {
                let _token = token;
                Ok::<_, Failure>(inner.await? + 1)
            });
        }
        drop(top);
        assert_eq!(counter.alive(), 100_000);
        drop(fire_leaf);
        assert_eq!(counter.alive(), 0);
    });
}

#[test]
fn a_block_awaiting_a_chain_whose_inner_deferred_can_never_fire_is_freed() {
    let counter = DropCounter::new();
    let (inner, fire_inner) = Deferred::<u8>::new();
    let (outer, fire_outer) = Deferred::<u8>::new();
    let outer = outer.add_callback(move |_| inner);
    fire_outer.callback(0).unwrap();
    // The spent resolver keeps the outer chain; only `fire_inner` can finish it.
    let token = counter.token();
    let d = ensure_deferred(async move {
        let _token = token;
        Ok::<_, Failure>(outer.await? + 1)
    });
    drop(d);
    assert_eq!(counter.alive(), 1);
    drop(fire_inner);
    assert_eq!(counter.alive(), 0);
    drop(fire_outer);
}

#[test]
fn a_poll_leaves_no_foreign_waker_in_a_deferred_nobody_can_fire() {
    let counting = Arc::new(CountingWaker::default());
    let waker = Waker::from(counting.clone());
    let mut cx = Context::from_waker(&waker);

    // While the resolver is there, the Deferred keeps the waker, to wake it.
    let (d, fire) = Deferred::<u8>::new();
    let mut future = d.into_future();
    assert!(Pin::new(&mut future).poll(&mut cx).is_pending());
    assert_eq!(Arc::strong_count(&counting), 3, "the Deferred holds the waker");
    // Once nothing can fire it, a poll takes the waker out (it would never be woken) and
    // leaves none.
    drop(fire);
    assert!(Pin::new(&mut future).poll(&mut cx).is_pending());
    assert_eq!(Arc::strong_count(&counting), 2);
    assert_eq!(counting.wakes(), 0, "and it was not woken");
    // The future can still be dropped (which cancels the Deferred, silently).
    let ((), reports) = capture_unhandled(|| drop(future));
    assert!(reports.is_empty());
}

// --- random programs ------------------------------------------------------------------------

/// One instruction of a random program over `N` Deferreds.
#[derive(Clone, Debug)]
enum Op {
    /// `tails[i] = tails[i].chain_deferred(&resolvers[j])`.
    Chain(usize, usize),
    /// `tails[i]` gets a step that waits on `tails[j]` (parked in the program's slot `j`; the
    /// step reaches it through a weak handle, so that only the program owns it).
    Wait(usize, usize),
    /// `tails[i]` gets a plain step.
    Step(usize),
    /// `tails[i]` becomes an `ensure_deferred` block awaiting it.
    Block(usize),
    /// Fires `resolvers[i]`.
    Fire(usize, bool),
    /// Cancels `tails[i]`.
    Cancel(usize),
    /// Drops the handle `k` (see `Program::drop_handle`).
    Drop(usize),
}

const N: usize = 5;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..N, 0..N).prop_map(|(i, j)| Op::Chain(i, j)),
        3 => (0..N, 0..N).prop_map(|(i, j)| Op::Wait(i, j)),
        1 => (0..N).prop_map(Op::Step),
        2 => (0..N).prop_map(Op::Block),
        1 => (0..N, any::<bool>()).prop_map(|(i, ok)| Op::Fire(i, ok)),
        1 => (0..N).prop_map(Op::Cancel),
        2 => (0..3 * N).prop_map(Op::Drop),
    ]
}

type Parked = Arc<Mutex<Option<Deferred<V>>>>;

struct Program {
    counter: DropCounter,
    tails: Vec<Option<Deferred<V>>>,
    resolvers: Vec<Option<Resolver<V>>>,
    parked: Vec<Parked>,
}

impl Program {
    fn new() -> Program {
        let counter = DropCounter::new();
        let mut tails = Vec::new();
        let mut resolvers = Vec::new();
        for _ in 0..N {
            let (d, r) = Deferred::<V>::new();
            tails.push(Some(d));
            resolvers.push(Some(r));
        }
        let parked = (0..N).map(|_| Parked::default()).collect();
        Program { counter, tails, resolvers, parked }
    }

    fn tail(&mut self, i: usize, f: impl FnOnce(Deferred<V>, &DropCounter) -> Deferred<V>) {
        if let Some(d) = self.tails[i].take() {
            self.tails[i] = Some(f(d, &self.counter));
        }
    }

    fn run(&mut self, op: &Op) {
        match *op {
            Op::Chain(i, j) => {
                let Some(target) = self.resolvers[j].clone() else { return };
                self.tail(i, |d, counter| {
                    let counter = counter.clone();
                    let token = counter.token();
                    d.chain_deferred(&target).map(move |()| {
                        let _token = token;
                        counter.wrap(0)
                    })
                });
            }
            Op::Wait(i, j) if i != j => {
                // Park j's tail where i's step will find it.
                let Some(inner) = self.tails[j].take() else { return };
                *self.parked[j].lock() = Some(inner);
                let slot = Arc::downgrade(&self.parked[j]);
                self.tail(i, |d, counter| {
                    let token = counter.token();
                    let counter = counter.clone();
                    d.add_callback(move |v: V| {
                        let _token = token;
                        let parked = slot.upgrade().and_then(|slot| slot.lock().take());
                        match parked {
                            Some(inner) => inner,
                            None => deferreds::succeed(counter.wrap(*v)),
                        }
                    })
                });
            }
            Op::Wait(..) => {}
            Op::Step(i) => self.tail(i, |d, counter| {
                let token = counter.token();
                d.map(move |v| {
                    let _token = token;
                    v
                })
            }),
            Op::Block(i) => self.tail(i, |d, counter| {
                let token = counter.token();
                ensure_deferred(async move {
                    let _token = token;
                    d.await
                })
            }),
            Op::Fire(i, ok) => {
                if let Some(r) = &self.resolvers[i] {
                    let _ = if ok {
                        r.callback(self.counter.wrap(i as u64))
                    } else {
                        r.errback(Failure::new(self.counter.wrap(std::fmt::Error)))
                    };
                }
            }
            Op::Cancel(i) => {
                if let Some(d) = &self.tails[i] {
                    d.cancel();
                }
            }
            Op::Drop(k) => self.drop_handle(k),
        }
    }

    /// Handle `k`: tail `k` (0..N), resolver `k - N`, or the parked tail `k - 2N`.
    fn drop_handle(&mut self, k: usize) {
        if k < N {
            drop(self.tails[k].take());
        } else if k < 2 * N {
            drop(self.resolvers[k - N].take());
        } else {
            drop(self.parked[k - 2 * N].lock().take());
        }
    }
}

/// 2,000 programs, 100,000 in soak mode (`DEFERREDS_SOAK_CASES` sets the number).
fn cases() -> u32 {
    let soak = if crate::hardening::support::soak() { 100_000 } else { 2_000 };
    std::env::var("DEFERREDS_SOAK_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(soak)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Whatever circles a program closes with `chain_deferred` and wait links, whatever blocks
    /// await, and whatever it fires, dropping every handle it holds frees every step, block and
    /// value.
    #[test]
    fn programs_of_links_waits_and_blocks_free_everything_with_their_last_handle(
        ops in proptest::collection::vec(op(), 0..32),
        order in Just((0..3 * N).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        let (counter, reports) = capture_unhandled(|| {
            let mut program = Program::new();
            for op in &ops {
                program.run(op);
            }
            let counter = program.counter.clone();
            for k in order {
                program.drop_handle(k);
            }
            counter
        });
        // The reports hold the failures nobody handled.
        drop(reports);
        prop_assert_eq!(counter.alive(), 0, "left alive by {:?}", ops);
    }
}
