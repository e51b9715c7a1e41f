//! Drop accounting, layer by layer: every closure (step, canceller, future, timed call) and
//! every value is dropped exactly once, whether it ran or not, and dropping what nobody can
//! fire any more frees everything it holds. `DropCounter` counts the tokens closures capture;
//! `Counted` values count themselves.

use std::future::Future;
use std::sync::Arc;

use deferreds::testing::{
    Counted, DropCounter, DropToken, assert_no_result, capture_unhandled, failure_result_of,
    success_result_of,
};
use deferreds::{
    CancelledError, Deferred, DeferredList, DeferredLock, DeferredQueue, DeferredSemaphore,
    Failure, ensure_deferred, fail, gather_results, race, succeed,
};

type V = Counted<u32>;

/// A value step that holds `token` and adds 1.
fn plus_one(counter: &DropCounter) -> impl FnOnce(V) -> V + Send + 'static {
    let (token, counter) = (counter.token(), counter.clone());
    move |v| {
        let _token = token;
        counter.wrap(*v + 1)
    }
}

/// An errback that holds `token` and passes the failure on.
fn pass_failure(token: DropToken) -> impl FnOnce(Failure) -> Result<V, Failure> + Send + 'static {
    move |f| {
        let _token = token;
        Err(f)
    }
}

// --- the core ------------------------------------------------------------------------------

#[test]
fn each_step_is_dropped_once_whether_it_ran_was_skipped_or_was_never_reached() {
    let counter = DropCounter::new();
    let ((), reports) = capture_unhandled(|| {
        // Ran, and skipped (errbacks on the value track).
        let (d, r) = Deferred::<V>::new();
        let d = d.map(plus_one(&counter)).add_errback(pass_failure(counter.token()));
        let d = d.map(plus_one(&counter));
        r.callback(counter.wrap(1)).unwrap();
        assert_eq!(counter.alive(), 1, "only the result is left");
        assert_eq!(*success_result_of(d), 3);
        assert_eq!(counter.alive(), 0);

        // Skipped on the failure track.
        let d = fail::<V>(Failure::msg("x")).map(plus_one(&counter)).map(plus_one(&counter));
        assert_eq!(counter.alive(), 0, "a skipped callback is dropped at once");
        failure_result_of(d);

        // Never reached: the chain is dropped while paused, or unfired.
        let (mut d, r) = Deferred::<V>::new();
        d.pause();
        let d = d.map(plus_one(&counter)).map(plus_one(&counter));
        r.callback(counter.wrap(1)).unwrap();
        assert_eq!(counter.alive(), 3, "the value and two steps wait for the unpause");
        drop((d, r));
        let (d, r) = Deferred::<V>::new();
        let d = d.map(plus_one(&counter));
        drop((d, r));
    });
    assert!(reports.is_empty());
    assert_eq!(counter.alive(), 0);
    assert_eq!(counter.made(), counter.dropped());
}

#[test]
fn each_value_is_dropped_once_wherever_it_ends() {
    let counter = DropCounter::new();
    let ((), reports) = capture_unhandled(|| {
        // Replaced by a step, taken at the end, refused by a second fire.
        let (d, r) = Deferred::<V>::new();
        let d = d.map(plus_one(&counter));
        r.callback(counter.wrap(1)).unwrap();
        assert!(r.callback(counter.wrap(2)).is_err(), "refused, and dropped by the refusal");
        assert_eq!(counter.alive(), 1);
        drop(success_result_of(d));

        // Left in a chain nobody reads, in a chain paused for good, swallowed by the grace
        // after a cancel.
        let (d, r) = Deferred::<V>::new();
        r.callback(counter.wrap(3)).unwrap();
        drop((d, r));
        let (d, r) = Deferred::<V>::new();
        r.pause();
        r.callback(counter.wrap(4)).unwrap();
        drop((d, r));
        let (d, r) = Deferred::<V>::new();
        d.cancel();
        r.callback(counter.wrap(5)).unwrap();
        failure_result_of(d);

        // Carried by a failure (a counted error), reported, then dropped with the report.
        let d = fail::<V>(Failure::new(counter.wrap(std::fmt::Error)));
        drop(d);

        // Handed from an inner chain to an outer one, and through `chain_deferred`.
        let (inner, fire_inner) = Deferred::<V>::new();
        let outer = succeed(()).add_callback(move |()| inner).map(plus_one(&counter));
        fire_inner.callback(counter.wrap(6)).unwrap();
        assert_eq!(*success_result_of(outer), 7);
        let (a, fire_a) = Deferred::<V>::new();
        let (b, fire_b) = Deferred::<V>::new();
        let a = a.chain_deferred(&fire_b);
        fire_a.callback(counter.wrap(8)).unwrap();
        success_result_of(a);
        assert_eq!(*success_result_of(b), 8);
    });
    assert_eq!(reports.len(), 1, "the counted failure");
    drop(reports);
    assert_eq!(counter.alive(), 0);
}

#[test]
fn a_canceller_is_dropped_once_whether_it_ran_or_not() {
    let counter = DropCounter::new();
    let with_canceller = |counter: &DropCounter| {
        let token = counter.token();
        Deferred::<V>::with_canceller(move |_| drop(token))
    };
    // It ran.
    let (d, r) = with_canceller(&counter);
    d.cancel();
    assert_eq!(counter.alive(), 0);
    drop((failure_result_of(d), r));
    // The Deferred fired first: the canceller goes with the fire.
    let (d, r) = with_canceller(&counter);
    r.callback(counter.wrap(1)).unwrap();
    assert_eq!(counter.alive(), 1, "only the value");
    drop(success_result_of(d));
    // Nobody fired or cancelled it.
    let (d, r) = with_canceller(&counter);
    drop((d, r));
    assert_eq!(counter.alive(), 0);
}

#[test]
fn dropping_an_unfired_chain_frees_its_steps_canceller_and_the_chains_they_own() {
    let counter = DropCounter::new();
    // A pending chain with a canceller, whose steps own pending inner chains, whose steps own
    // more: each level's resolver dropped, nothing fired.
    let token = counter.token();
    let (top, fire_top) = Deferred::<V>::with_canceller(move |_| drop(token));
    let (mid, fire_mid) = Deferred::<V>::new();
    let (leaf, fire_leaf) = Deferred::<V>::new();
    let leaf = leaf.map(plus_one(&counter));
    let t = counter.token();
    let mid = mid.add_callback(move |_| {
        let _t = t;
        leaf
    });
    let t = counter.token();
    let top = top.add_callback(move |_| {
        let _t = t;
        mid
    });
    drop((fire_mid, fire_leaf));
    assert_eq!(counter.alive(), 4);
    drop((top, fire_top));
    assert_eq!(counter.alive(), 0);
}

#[test]
fn dropping_the_last_handles_of_a_waiting_chain_keeps_it_until_what_it_waits_on_fires() {
    let counter = DropCounter::new();
    // The inner chain holds the outer one (it is the outer's waiter): the outer's steps still
    // run when the inner fires, and everything goes then.
    let (inner, fire_inner) = Deferred::<V>::new();
    let (outer, fire_outer) = Deferred::<()>::new();
    let seen = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = seen.clone();
    let t = counter.token();
    let outer = outer.add_callback(move |()| inner).map(move |v: V| {
        let _t = t;
        s.store(*v == 1, std::sync::atomic::Ordering::SeqCst);
    });
    fire_outer.callback(()).unwrap();
    assert!(outer.is_waiting());
    drop((outer, fire_outer));
    assert_eq!(counter.alive(), 1, "the outer's step is kept by the inner chain");
    fire_inner.callback(counter.wrap(1)).unwrap();
    assert!(seen.load(std::sync::atomic::Ordering::SeqCst));
    drop(fire_inner);
    assert_eq!(counter.alive(), 0);

    // If the inner chain goes unfired, the outer goes with it.
    let (inner, fire_inner) = Deferred::<V>::new();
    let (outer, fire_outer) = Deferred::<()>::new();
    let outer = outer.add_callback(move |()| inner).map(plus_one(&counter));
    fire_outer.callback(()).unwrap();
    drop((outer, fire_outer));
    drop(fire_inner);
    assert_eq!(counter.alive(), 0);
}

// --- combinators ---------------------------------------------------------------------------

#[test]
fn combinators_drop_each_input_value_once_whatever_settles_them() {
    let counter = DropCounter::new();
    let ((), reports) = capture_unhandled(|| {
        // A list of successes, kept in input order.
        let (ds, rs): (Vec<_>, Vec<_>) = (0..4).map(|_| Deferred::<V>::new()).unzip();
        let list = DeferredList::new(ds).into_deferred();
        for (i, r) in rs.iter().enumerate().rev() {
            r.callback(counter.wrap(i as u32)).unwrap();
        }
        assert_eq!(counter.alive(), 4);
        drop(success_result_of(list));
        assert_eq!(counter.alive(), 0);

        // A gather that fails on its second input: the first value goes then, the later ones as
        // they arrive.
        let (ds, rs): (Vec<_>, Vec<_>) = (0..4).map(|_| Deferred::<V>::new()).unzip();
        let gathered = gather_results(ds);
        rs[0].callback(counter.wrap(0)).unwrap();
        rs[1].errback(Failure::msg("second")).unwrap();
        assert_eq!(counter.alive(), 0, "the value gathered before the failure was dropped");
        rs[2].callback(counter.wrap(2)).unwrap();
        rs[3].callback(counter.wrap(3)).unwrap();
        assert_eq!(counter.alive(), 0, "later values go nowhere and are dropped");
        failure_result_of(gathered);

        // A race: the winner's value is the result, the losers are cancelled.
        let (ds, rs): (Vec<_>, Vec<_>) = (0..3).map(|_| Deferred::<V>::new()).unzip();
        let won = race(ds);
        rs[1].callback(counter.wrap(1)).unwrap();
        for r in [&rs[0], &rs[2]] {
            assert!(r.callback(counter.wrap(9)).is_ok(), "a cancelled loser's fire is forgiven");
        }
        assert_eq!(counter.alive(), 1);
        let (index, v) = success_result_of(won);
        assert_eq!((index, *v), (1, 1));
    });
    assert!(reports.is_empty(), "{reports:?}");
    assert_eq!(counter.alive(), 0);
}

#[test]
fn an_unfired_combinator_dropped_with_its_inputs_frees_everything() {
    let counter = DropCounter::new();
    let (ds, rs): (Vec<_>, Vec<_>) = (0..3).map(|_| Deferred::<V>::new()).unzip();
    let ds: Vec<_> = ds.into_iter().map(|d| d.map(plus_one(&counter))).collect();
    let list = DeferredList::new(ds).into_deferred().map(|_| ());
    let (ds2, rs2): (Vec<_>, Vec<_>) = (0..3).map(|_| Deferred::<V>::new()).unzip();
    let gathered = gather_results(ds2).map(|_| ());
    let raced = race(vec![list, gathered]);
    rs[0].callback(counter.wrap(0)).unwrap();
    assert_no_result(&raced);
    drop((raced, rs, rs2));
    assert_eq!(counter.alive(), 0);
}

// --- primitives ----------------------------------------------------------------------------

#[test]
fn primitives_drop_each_function_and_value_once_whether_it_ran_or_not() {
    let counter = DropCounter::new();
    let ((), reports) = capture_unhandled(|| {
        // A lock's waiting `run` that is cancelled never calls its function, and drops it.
        let lock = DeferredLock::new();
        let held = success_result_of(lock.acquire());
        let token = counter.token();
        let waiting = lock.run(move || drop(token));
        waiting.cancel();
        assert_eq!(counter.alive(), 0);
        failure_result_of(waiting);
        let token = counter.token();
        let ran = lock.run(move || drop(token));
        drop(held);
        assert_eq!(counter.alive(), 0);
        success_result_of(ran);

        // A semaphore's functions, run and not run.
        let semaphore = DeferredSemaphore::new(1).unwrap();
        let permit = success_result_of(semaphore.acquire());
        let runs: Vec<_> = (0..3)
            .map(|_| {
                let token = counter.token();
                semaphore.run(move || drop(token))
            })
            .collect();
        runs[1].cancel();
        drop(permit);
        assert_eq!(counter.alive(), 0);
        let [first, cancelled, last] = <[_; 3]>::try_from(runs).unwrap();
        success_result_of(first);
        assert!(failure_result_of(cancelled).check::<CancelledError>());
        success_result_of(last);

        // A queue's values: got, cancelled gets, and values still queued when it is dropped.
        let queue = DeferredQueue::<V>::new();
        let cancelled = queue.get().unwrap();
        let waiting = queue.get().unwrap();
        cancelled.cancel();
        queue.put(counter.wrap(1)).unwrap();
        assert_eq!(*success_result_of(waiting), 1);
        assert!(failure_result_of(cancelled).check::<CancelledError>());
        queue.put(counter.wrap(2)).unwrap();
        queue.put(counter.wrap(3)).unwrap();
        assert_eq!(counter.alive(), 2);
        let pending = DeferredQueue::<V>::new();
        let never = pending.get().unwrap();
        drop(pending);
        drop(queue);
        assert_eq!(counter.alive(), 0);
        assert_no_result(&never);
    });
    assert!(reports.is_empty(), "{reports:?}");
    assert_eq!(counter.alive(), 0);
}

// --- async ---------------------------------------------------------------------------------

#[test]
fn futures_and_what_they_hold_are_dropped_once_however_they_end() {
    let counter = DropCounter::new();
    let ((), reports) = capture_unhandled(|| {
        // Completed: the future goes before its Deferred's callbacks run.
        let (d, r) = Deferred::<V>::new();
        let token = counter.token();
        let e = ensure_deferred(async move {
            let _token = token;
            d.await
        });
        r.callback(counter.wrap(1)).unwrap();
        assert_eq!(counter.alive(), 1, "only the value");
        drop(success_result_of(e));

        // Cancelled: `from_future` drops its future, and the Deferred it awaited is cancelled.
        let (d, r) = Deferred::<V>::new();
        let d = d.map(plus_one(&counter));
        let token = counter.token();
        let f = Deferred::from_future(async move {
            let _token = token;
            d.await
        });
        f.cancel();
        assert_eq!(counter.alive(), 0, "the future, and the step of what it awaited");
        assert!(r.callback(counter.wrap(2)).is_ok(), "the awaited one was cancelled: forgiven");
        assert_eq!(counter.alive(), 0);
        assert!(failure_result_of(f).check::<CancelledError>());

        // The await dropped before it completes: the Deferred is cancelled, and the value a
        // late fire brings is dropped.
        let (d, r) = Deferred::<V>::new();
        let d = d.map(plus_one(&counter));
        let mut future = std::future::IntoFuture::into_future(d);
        let waker = std::task::Waker::noop();
        let poll = std::pin::Pin::new(&mut future).poll(&mut std::task::Context::from_waker(waker));
        assert!(poll.is_pending());
        drop(future);
        assert_eq!(counter.alive(), 0);
        r.callback(counter.wrap(3)).unwrap();
        assert_eq!(counter.alive(), 0);
    });
    assert!(reports.is_empty(), "{reports:?}");
    assert_eq!(counter.alive(), 0);
}

// --- the reactor ---------------------------------------------------------------------------

#[cfg(feature = "reactor")]
mod reactor {
    use deferreds::reactor::{Clock, LoopingCall, Phase, Reactor, SystemEvent, defer_later};
    use deferreds::testing::{
        DropCounter, capture_unhandled, failure_result_of, success_result_of,
    };
    use deferreds::{CancelledError, Deferred};

    use super::V;

    #[test]
    fn timed_calls_are_dropped_once_whether_they_ran_were_cancelled_or_never_came_due() {
        let counter = DropCounter::new();
        let clock = Clock::new();
        let schedule = |delay: f64| {
            let token = counter.token();
            clock.call_later(delay, move || drop(token)).unwrap()
        };
        let _ran = schedule(1.0);
        let cancelled = schedule(2.0);
        let _never = schedule(100.0);
        cancelled.cancel().unwrap();
        assert_eq!(counter.alive(), 2, "cancelling drops the closure at once");
        clock.advance(1.5);
        assert_eq!(counter.alive(), 1);
        drop(clock);
        assert_eq!(counter.alive(), 0, "the clock's last handle takes its pending calls");
    }

    #[test]
    fn defer_later_timeouts_and_looping_calls_drop_what_they_hold() {
        let counter = DropCounter::new();
        let ((), reports) = capture_unhandled(|| {
            let clock = Clock::new();
            // defer_later: run, and cancelled before it ran.
            let token = counter.token();
            let ran = defer_later(&clock, 1.0, move || drop(token));
            let token = counter.token();
            let cancelled = defer_later(&clock, 1.0, move || drop(token));
            cancelled.cancel();
            assert_eq!(counter.alive(), 1);
            clock.advance(1.0);
            assert_eq!(counter.alive(), 0);
            success_result_of(ran);
            assert!(failure_result_of(cancelled).check::<CancelledError>());

            // add_timeout: the result comes first, or the timeout does.
            let (d, r) = Deferred::<V>::new();
            let d = d.add_timeout(5.0, &clock);
            r.callback(counter.wrap(1)).unwrap();
            assert!(clock.pending_calls().is_empty(), "the timer went with the result");
            drop(success_result_of(d));
            let (d, r) = Deferred::<V>::new();
            let d = d.add_timeout(5.0, &clock);
            clock.advance(5.0);
            failure_result_of(d);
            assert!(
                r.callback(counter.wrap(2)).is_ok(),
                "the timed-out Deferred forgives one fire"
            );
            assert_eq!(counter.alive(), 0);

            // A looping call: its function goes when the loop is stopped and dropped.
            let token = counter.token();
            let looping = LoopingCall::new(clock.clone(), move || {
                let _token = &token;
            });
            let done = looping.start(1.0, true).unwrap();
            clock.advance(3.0);
            looping.stop().unwrap();
            success_result_of(done);
            drop(looping);
            assert_eq!(counter.alive(), 0);
        });
        assert!(reports.is_empty(), "{reports:?}");
    }

    #[test]
    fn a_reactor_drops_every_call_once_whether_it_ran_or_was_left_over() {
        let counter = DropCounter::new();
        let reactor = Reactor::new();
        let token = counter.token();
        reactor.call_from_thread(move || drop(token));
        let token = counter.token();
        reactor.call_when_running(move || drop(token));
        let token = counter.token();
        reactor.add_system_event_trigger(Phase::After, SystemEvent::Shutdown, move || drop(token));
        let token = counter.token();
        reactor.call_later(3600.0, move || drop(token)).unwrap(); // never comes due
        let token = counter.token();
        let r = reactor.clone();
        reactor
            .call_later(0.001, move || {
                drop(token);
                r.stop().unwrap();
            })
            .unwrap();
        let runner = std::thread::spawn({
            let reactor = reactor.clone();
            move || reactor.run().unwrap()
        });
        runner.join().unwrap();
        assert_eq!(counter.alive(), 0, "ran, or discarded when run returned");
        // After the run: discarded at once.
        let token = counter.token();
        reactor.call_from_thread(move || drop(token));
        let token = counter.token();
        let _ = reactor.call_later(0.0, move || drop(token));
        assert_eq!(counter.alive(), 0);
    }
}
