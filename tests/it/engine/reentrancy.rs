//! Re-entrant use from inside a running step, as Twisted defines it.

use std::sync::Arc;

use parking_lot::Mutex;

use deferreds::testing::{Recorder, failure_result_of, success_result_of};
use deferreds::{AlreadyCalledError, Deferred, Failure};

#[test]
fn a_step_added_from_inside_a_running_step_goes_to_the_tail() {
    let log = Recorder::new();
    // The tail is unique, so the running step reaches it through a shared slot, the way
    // Twisted code reaches `d` through a closure.
    let slot: Arc<Mutex<Option<Deferred<()>>>> = Arc::new(Mutex::new(None));
    let (d, r) = Deferred::<()>::new();
    let (l1, l2, s) = (log.clone(), log.clone(), slot.clone());
    let d = d
        .map(move |()| {
            l1.record("cb1-start");
            let tail = s.lock().take().expect("the tail was parked");
            let l3 = l1.clone();
            let tail = tail.map(move |()| l3.record("cb3 (added by cb1)"));
            *s.lock() = Some(tail);
            l1.record("cb1-end");
        })
        .map(move |()| l2.record("cb2"));
    *slot.lock() = Some(d);
    r.callback(()).unwrap();
    assert_eq!(log.take(), ["cb1-start", "cb1-end", "cb2", "cb3 (added by cb1)"]);
    let d = slot.lock().take().unwrap();
    success_result_of(d);
}

#[test]
fn firing_a_deferred_from_its_own_callback_puts_already_called_on_the_chain() {
    let (d, r) = Deferred::<&str>::new();
    let again = r.clone();
    let d = d.add_callback(move |_| {
        again.callback("again")?; // the Rust form of Twisted's raise
        Ok("unreachable")
    });
    r.callback("first").unwrap();
    assert!(failure_result_of(d).check::<AlreadyCalledError>());
}

#[test]
fn a_callback_may_inspect_its_own_chain_while_it_runs() {
    let (d, r) = Deferred::<u8>::new();
    let probe = r.clone();
    let d = d.map(move |n| {
        assert!(probe.called());
        n
    });
    r.callback(1).unwrap();
    assert_eq!(success_result_of(d), 1);
}

#[test]
fn a_callback_that_fires_another_deferred_runs_that_chain_before_returning() {
    let log = Recorder::new();
    let (other, fire_other) = Deferred::<u8>::new();
    let l = log.clone();
    let other = other.map(move |n| l.record(format!("other ran with {n}")));
    let l = log.clone();
    let d = deferreds::succeed(5).add_callback(move |n| {
        fire_other.callback(n)?;
        l.record("after firing other");
        Ok(n)
    });
    assert_eq!(log.take(), ["other ran with 5", "after firing other"]);
    success_result_of(d);
    success_result_of(other);
}

#[test]
fn a_step_that_fails_after_an_errback_was_queued_reaches_it() {
    let (d, r) = Deferred::<u8>::new();
    let d = d
        .add_callback(|_| -> Result<u8, Failure> { Err(Failure::msg("late")) })
        .add_errback(|f| Ok(f.error_message().len() as u8));
    r.callback(0).unwrap();
    assert_eq!(success_result_of(d), 4);
}
