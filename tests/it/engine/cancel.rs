//! Cancellation: cancellers, the grace after cancelling without one, propagation to the
//! Deferred a chain waits on, pausing, and panics.
//!
//! The `test_*` functions port Twisted's `DeferredCancellerTests` (twisted/test/test_defer.py,
//! Twisted 26.10); each names the original. The others pin behaviour checked against Twisted
//! by running it (see `docs/conformance.md` for where we differ on purpose).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::hardening::support::on_small_stack;
use deferreds::testing::{
    Recorder, assert_no_result, capture_unhandled, failure_result_of, success_result_of,
};
use deferreds::{
    AlreadyCalledError, CancelledError, Deferred, Failure, PanicError, Resolver, succeed,
};

#[derive(Debug, thiserror::Error)]
#[error("generic error")]
struct GenericError;

/// Records what reached the end of a chain, the way `DeferredCancellerTests` keeps
/// `callbackResults` and `errbackResults`.
#[derive(Clone, Default)]
struct Results {
    callbacks: Arc<Mutex<Vec<String>>>,
    errbacks: Arc<Mutex<Vec<Failure>>>,
}

impl Results {
    /// `d.addCallbacks(self._callback, self._errback)`.
    fn attach<T: std::fmt::Debug + Send + 'static>(&self, d: Deferred<T>) -> Deferred<()> {
        let (cb, eb) = (self.callbacks.clone(), self.errbacks.clone());
        d.add_callbacks(
            move |v| cb.lock().push(format!("{v:?}")),
            move |f| {
                eb.lock().push(f);
            },
        )
    }

    fn callbacks(&self) -> Vec<String> {
        self.callbacks.lock().clone()
    }

    fn errbacks(&self) -> Vec<Failure> {
        self.errbacks.lock().clone()
    }

    fn only_errback(&self) -> Failure {
        let errbacks = self.errbacks();
        assert_eq!(errbacks.len(), 1, "one errback expected: {errbacks:?}");
        errbacks[0].clone()
    }
}

/// A canceller that counts its calls and then does `then` to the Deferred.
fn counting_canceller<T: Send + 'static>(
    calls: &Arc<AtomicUsize>,
    then: impl FnOnce(&Resolver<T>) + Send + 'static,
) -> impl FnOnce(&Resolver<T>) + Send + 'static {
    let calls = calls.clone();
    move |r| {
        calls.fetch_add(1, Ordering::SeqCst);
        then(r);
    }
}

/// Ported from `DeferredCancellerTests.test_noCanceller`.
#[test]
fn test_no_canceller() {
    let results = Results::default();
    let (d, _r) = Deferred::<()>::new();
    let d = results.attach(d);
    d.cancel();
    assert!(results.only_errback().check::<CancelledError>());
    assert!(results.callbacks().is_empty());
}

/// Ported from `DeferredCancellerTests.test_raisesAfterCancelAndCallback`.
#[test]
fn test_raises_after_cancel_and_callback() {
    let results = Results::default();
    let (d, r) = Deferred::<()>::new();
    let d = results.attach(d);
    d.cancel();
    // A single extra callback is swallowed.
    r.callback(()).unwrap();
    // But a second call to callback or errback is not.
    assert!(r.callback(()).is_err());
    assert!(r.errback(Failure::new(GenericError)).is_err());
    assert!(results.only_errback().check::<CancelledError>());
}

/// Ported from `DeferredCancellerTests.test_raisesAfterCancelAndErrback`.
#[test]
fn test_raises_after_cancel_and_errback() {
    let results = Results::default();
    let (d, r) = Deferred::<()>::new();
    let d = results.attach(d);
    d.cancel();
    r.errback(Failure::new(GenericError)).unwrap();
    assert!(r.callback(()).is_err());
    assert!(r.errback(Failure::new(GenericError)).is_err());
    assert!(results.only_errback().check::<CancelledError>());
}

/// Ported from `DeferredCancellerTests.test_noCancellerMultipleCancelsAfterCancelAndCallback`.
#[test]
fn test_no_canceller_multiple_cancels_after_cancel_and_callback() {
    let results = Results::default();
    let (d, r) = Deferred::<()>::new();
    let d = results.attach(d);
    d.cancel();
    let current = results.only_errback();
    r.callback(()).unwrap(); // ignored
    d.cancel(); // no effect
    assert!(results.only_errback().ptr_eq(&current));
    assert!(results.callbacks().is_empty());
}

/// Ported from `DeferredCancellerTests.test_noCancellerMultipleCancelsAfterCancelAndErrback`.
#[test]
fn test_no_canceller_multiple_cancels_after_cancel_and_errback() {
    let results = Results::default();
    let (d, r) = Deferred::<()>::new();
    let d = results.attach(d);
    d.cancel();
    let current = results.only_errback();
    assert!(current.check::<CancelledError>());
    r.errback(Failure::new(GenericError)).unwrap(); // ignored: still a CancelledError
    assert!(results.only_errback().check::<CancelledError>());
    d.cancel();
    assert!(results.only_errback().ptr_eq(&current));
}

/// Ported from `DeferredCancellerTests.test_noCancellerMultipleCancel`.
#[test]
fn test_no_canceller_multiple_cancel() {
    let results = Results::default();
    let (d, _r) = Deferred::<()>::new();
    let d = results.attach(d);
    d.cancel();
    let current = results.only_errback();
    assert!(current.check::<CancelledError>());
    d.cancel();
    assert!(results.only_errback().ptr_eq(&current));
}

/// Ported from `DeferredCancellerTests.test_cancellerMultipleCancel`.
#[test]
fn test_canceller_multiple_cancel() {
    let calls = Arc::new(AtomicUsize::new(0));
    let results = Results::default();
    let (d, _r) = Deferred::<()>::with_canceller(counting_canceller(&calls, |_| {}));
    let d = results.attach(d);
    d.cancel();
    let current = results.only_errback();
    assert!(current.check::<CancelledError>());
    d.cancel();
    assert!(results.only_errback().ptr_eq(&current));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// Ported from `DeferredCancellerTests.test_simpleCanceller`: a canceller that does not fire
/// the Deferred gets no grace, so later fires are refused.
#[test]
fn test_simple_canceller() {
    let calls = Arc::new(AtomicUsize::new(0));
    let results = Results::default();
    let (d, r) = Deferred::<()>::with_canceller(counting_canceller(&calls, |_| {}));
    let d = results.attach(d);
    d.cancel();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(results.only_errback().check::<CancelledError>());
    assert!(r.callback(()).is_err());
    assert!(r.errback(Failure::new(GenericError)).is_err());
}

/// Ported from `DeferredCancellerTests.test_cancellerArg`: the canceller is handed the
/// Deferred's own resolver.
#[test]
fn test_canceller_arg() {
    let (d, _r) = Deferred::<&str>::with_canceller(|r| {
        assert!(!r.called());
        r.callback("through the canceller's resolver").unwrap();
    });
    d.cancel();
    assert_eq!(success_result_of(d), "through the canceller's resolver");
}

/// Ported from `DeferredCancellerTests.test_cancelAfterCallback`.
#[test]
fn test_cancel_after_callback() {
    let calls = Arc::new(AtomicUsize::new(0));
    let results = Results::default();
    let (d, r) = Deferred::<&str>::with_canceller(counting_canceller(&calls, |r| {
        r.errback(Failure::new(GenericError)).unwrap()
    }));
    let d = results.attach(d);
    r.callback("biff!").unwrap();
    d.cancel();
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(results.errbacks().is_empty());
    assert_eq!(results.callbacks(), ["\"biff!\""]);
}

/// Ported from `DeferredCancellerTests.test_cancelAfterErrback`.
#[test]
fn test_cancel_after_errback() {
    let calls = Arc::new(AtomicUsize::new(0));
    let results = Results::default();
    let (d, r) = Deferred::<()>::with_canceller(counting_canceller(&calls, |r| {
        r.errback(Failure::new(GenericError)).unwrap()
    }));
    let d = results.attach(d);
    r.errback(Failure::new(GenericError)).unwrap();
    d.cancel();
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(results.only_errback().check::<GenericError>());
    assert!(results.callbacks().is_empty());
}

/// Ported from `DeferredCancellerTests.test_cancellerThatErrbacks`.
#[test]
fn test_canceller_that_errbacks() {
    let calls = Arc::new(AtomicUsize::new(0));
    let results = Results::default();
    let (d, _r) = Deferred::<()>::with_canceller(counting_canceller(&calls, |r| {
        r.errback(Failure::new(GenericError)).unwrap()
    }));
    let d = results.attach(d);
    d.cancel();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(results.only_errback().check::<GenericError>());
}

/// Ported from `DeferredCancellerTests.test_cancellerThatCallbacks`.
#[test]
fn test_canceller_that_callbacks() {
    let calls = Arc::new(AtomicUsize::new(0));
    let results = Results::default();
    let (d, _r) = Deferred::<&str>::with_canceller(counting_canceller(&calls, |r| {
        r.callback("hello!").unwrap()
    }));
    let d = results.attach(d);
    d.cancel();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(results.callbacks(), ["\"hello!\""]);
    assert!(results.errbacks().is_empty());
}

/// Ported from `DeferredCancellerTests.test_cancelNestedDeferred`: cancelling a Deferred that
/// waits on another cancels the other one, whose `CancelledError` flows back out.
#[test]
fn test_cancel_nested_deferred() {
    let calls = Arc::new(AtomicUsize::new(0));
    let results = Results::default();
    let (b, _fire_b) = Deferred::<()>::with_canceller(counting_canceller(&calls, |_| {}));
    let (a, fire_a) = Deferred::<()>::with_canceller(|_| panic!("a's canceller must not run"));
    fire_a.callback(()).unwrap();
    let a = a.add_callback(move |()| b);
    a.cancel();
    let a = results.attach(a);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(results.only_errback().check::<CancelledError>());
    drop(a);
}

#[test]
fn the_grace_swallows_a_late_fire_only_when_there_was_no_canceller() {
    // Twisted §2.12, lines 1 and 3.
    let (d, r) = Deferred::<u8>::new();
    d.cancel();
    assert_eq!(r.callback(1), Ok(()));
    assert!(r.callback(2).is_err());
    assert!(failure_result_of(d).check::<CancelledError>());

    let (d, r) = Deferred::<u8>::with_canceller(|_| {});
    d.cancel();
    let err: AlreadyCalledError = r.callback(1).unwrap_err();
    assert_eq!(err.to_string(), "the Deferred has already been called");
    assert!(failure_result_of(d).check::<CancelledError>());
}

#[test]
fn cancelling_a_deferred_that_already_has_its_result_does_nothing() {
    let d = succeed(4);
    d.cancel();
    assert_eq!(success_result_of(d), 4);

    let (d, r) = Deferred::<u8>::new();
    r.callback(5).unwrap();
    d.cancel();
    assert_eq!(r.callback(6).unwrap_err().to_string(), "the Deferred has already been called");
    assert_eq!(success_result_of(d), 5);
}

#[test]
fn cancelling_a_waiting_chain_reaches_the_innermost_deferred_at_any_depth() {
    const DEPTH: usize = 1_000_000;
    // On a small stack: propagation is a loop, not a recursion.
    on_small_stack(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let (leaf, _fire_leaf) =
            Deferred::<usize>::with_canceller(counting_canceller(&calls, |_| {}));
        let mut top = leaf;
        for _ in 0..DEPTH {
            let inner = top;
            top = succeed(()).add_callback(move |()| inner).map(|n| n + 1);
        }
        assert!(top.is_waiting());
        top.cancel();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the leaf's canceller ran once");
        assert!(failure_result_of(top).check::<CancelledError>());
    });
}

#[test]
fn cancelling_a_chain_waiting_on_a_deferred_nobody_can_fire_fails_the_chain() {
    let (inner, fire_inner) = Deferred::<u8>::new();
    let (outer, fire_outer) = Deferred::<()>::new();
    let outer = outer.add_callback(move |()| inner);
    fire_outer.callback(()).unwrap();
    assert!(outer.is_waiting());
    // The inner chain goes with its last resolver: the outer chain can only be cancelled.
    drop(fire_inner);
    outer.cancel();
    assert!(failure_result_of(outer).check::<CancelledError>());
}

#[test]
fn a_panicking_canceller_becomes_the_failure_and_nothing_is_poisoned() {
    // Twisted lets the exception out of cancel() and leaves the Deferred unfired.
    let (d, r) = Deferred::<u8>::with_canceller(|_| panic!("canceller bug"));
    let d = d.add_errback(|f| {
        assert_eq!(f.error_message(), "canceller bug");
        Err(f)
    });
    d.cancel();
    assert!(r.called());
    assert!(r.callback(1).is_err(), "no grace: there was a canceller");
    // The chain is not poisoned: a step added now runs at once, and recovers.
    let d = d.add_errback(|f| {
        assert!(f.check::<PanicError>());
        Ok(9)
    });
    assert_eq!(success_result_of(d), 9);
}

#[test]
fn a_canceller_that_fires_then_panics_keeps_its_result_and_reports_the_panic() {
    let (result, reports) = capture_unhandled(|| {
        let (d, _r) = Deferred::<u8>::with_canceller(|r| {
            r.callback(3).unwrap();
            panic!("after firing");
        });
        d.cancel();
        success_result_of(d)
    });
    assert_eq!(result, 3);
    assert_eq!(reports.len(), 1, "the panic is reported, not lost");
    assert!(reports[0].failure().check::<PanicError>());
    assert_eq!(reports[0].failure().error_message(), "after firing");
}

#[test]
fn cancelling_again_while_the_canceller_runs_does_nothing() {
    // A canceller that, through some other path, cancels its own Deferred again, then fires
    // it. The second cancel neither runs the canceller again nor fails the Deferred early.
    let slot: Arc<Mutex<Option<Arc<Deferred<u8>>>>> = Arc::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let (s, c) = (slot.clone(), calls.clone());
    let (d, _r) = Deferred::<u8>::with_canceller(move |r| {
        c.fetch_add(1, Ordering::SeqCst);
        let again = s.lock().take();
        if let Some(d) = again {
            d.cancel();
        }
        r.callback(7).unwrap();
    });
    let d = Arc::new(d);
    *slot.lock() = Some(d.clone());
    d.cancel();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let d = Arc::try_unwrap(d).expect("the canceller dropped its handle");
    assert_eq!(success_result_of(d), 7);
}

#[test]
fn a_deferred_can_be_cancelled_from_another_thread() {
    let log = Recorder::new();
    let l = log.clone();
    let (d, r) = Deferred::<u8>::new();
    let d = d.add_errback(move |f| {
        l.record(format!("errback {}", f.error_message()));
        Err(f)
    });
    let d = std::thread::spawn(move || {
        d.cancel();
        d
    })
    .join()
    .unwrap();
    assert_eq!(log.take(), ["errback the Deferred was cancelled"]);
    assert!(r.callback(1).is_ok(), "the grace applies whichever thread cancelled");
    assert!(failure_result_of(d).check::<CancelledError>());
}

// Pausing: each case mirrors a Twisted run (`docs/conformance.md` lists them under
// cancellation, "Kept as in Twisted").

#[test]
fn cancelling_a_paused_unfired_deferred_fails_it_but_steps_wait_for_unpause() {
    let log = Recorder::new();
    let l = log.clone();
    let (mut d, r) = Deferred::<u8>::new();
    d.pause();
    let mut d = d.add_both(move |res| {
        l.record(format!("step {}", res.is_err()));
        res
    });
    d.cancel();
    assert!(r.called());
    assert!(log.events().is_empty(), "paused: nothing runs yet");
    assert!(r.callback(1).is_ok(), "the grace still swallows one late fire");
    d.unpause().unwrap();
    assert_eq!(log.take(), ["step true"]);
    assert!(failure_result_of(d).check::<CancelledError>());
}

#[test]
fn a_paused_deferred_whose_canceller_fires_it_keeps_that_result_until_unpaused() {
    let (mut d, _r) = Deferred::<&str>::with_canceller(|r| r.callback("from canceller").unwrap());
    d.pause();
    d.cancel();
    assert_no_result(&d);
    d.unpause().unwrap();
    assert_eq!(success_result_of(d), "from canceller");
}

#[test]
fn cancelling_a_paused_deferred_that_has_fired_does_nothing() {
    let (mut d, r) = Deferred::<u8>::new();
    d.pause();
    r.callback(5).unwrap();
    d.cancel();
    d.unpause().unwrap();
    assert_eq!(success_result_of(d), 5);
}

#[test]
fn cancelling_a_paused_outer_still_cancels_what_it_waits_on() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (inner, _fire_inner) = Deferred::<u8>::with_canceller(counting_canceller(&calls, |_| {}));
    let (outer, fire_outer) = Deferred::<()>::new();
    let mut outer = outer.add_callback(move |()| inner);
    fire_outer.callback(()).unwrap();
    outer.pause();
    outer.cancel();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_no_result(&outer);
    outer.unpause().unwrap();
    assert!(failure_result_of(outer).check::<CancelledError>());
}

#[test]
fn cancelling_an_outer_waiting_on_a_paused_inner_waits_for_the_inner_to_unpause() {
    let (inner, fire_inner) = Deferred::<u8>::new();
    fire_inner.pause();
    let (outer, fire_outer) = Deferred::<()>::new();
    let outer = outer.add_callback(move |()| inner);
    fire_outer.callback(()).unwrap();
    outer.cancel();
    assert_no_result(&outer);
    fire_inner.unpause().unwrap();
    assert!(failure_result_of(outer).check::<CancelledError>());
}

mod resolver_is_cancelled {
    use std::future::IntoFuture;
    use std::task::{Context, Waker};

    use deferreds::testing::{assert_no_result, success_result_of};
    use deferreds::{Deferred, race};

    #[test]
    fn is_false_until_a_cancel_reaches_the_pending_deferred_and_then_stays_true() {
        let (d, r) = Deferred::<u8>::new();
        assert!(!r.is_cancelled());
        d.cancel();
        assert!(r.is_cancelled());
        assert!(r.callback(1).is_ok(), "the grace after a cancel without canceller");
        assert!(r.is_cancelled());
    }

    #[test]
    fn is_true_when_the_canceller_fired_the_deferred_itself() {
        let (d, r) = Deferred::with_canceller(|r: &deferreds::Resolver<u8>| {
            assert!(r.is_cancelled(), "already true inside the canceller");
            r.callback(7).unwrap();
        });
        d.cancel();
        assert!(r.is_cancelled());
        assert_eq!(success_result_of(d), 7);
    }

    #[test]
    fn stays_false_for_a_fired_deferred_a_dropped_tail_or_another_chain() {
        let (d, r) = Deferred::<u8>::new();
        r.callback(1).unwrap();
        d.cancel();
        assert!(!r.is_cancelled(), "a cancel after the result changes nothing");

        let (d, r) = Deferred::<u8>::new();
        drop(d.map(|n| n + 1));
        assert!(!r.is_cancelled(), "dropping the tail is not a cancel");
    }

    #[test]
    fn is_true_when_the_cancel_passes_inward_from_a_waiting_chain() {
        let (inner, fire_inner) = Deferred::<u8>::new();
        let (outer, fire_outer) = Deferred::<()>::new();
        let outer = outer.add_callback(move |()| inner);
        fire_outer.callback(()).unwrap();
        outer.cancel();
        assert!(fire_inner.is_cancelled());
        assert!(!fire_outer.is_cancelled(), "the outer one had its result and waited");
    }

    #[test]
    fn is_true_after_the_awaiting_future_is_dropped_or_a_race_is_lost() {
        let (d, r) = Deferred::<u8>::new();
        let mut future = d.into_future();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(std::pin::Pin::new(&mut future).poll(&mut cx).is_pending());
        drop(future);
        assert!(r.is_cancelled());

        let (slow, r_slow) = Deferred::<u8>::new();
        let won = race(vec![slow, deferreds::succeed(1)]);
        assert!(r_slow.is_cancelled());
        drop(won);

        let (kept, r_kept) = Deferred::<u8>::new();
        assert_no_result(&kept);
        assert!(!r_kept.is_cancelled());
    }
}
