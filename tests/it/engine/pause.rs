//! pause/unpause as a counter.

use deferreds::testing::{Recorder, assert_no_result, success_result_of};
use deferreds::{Deferred, NotPausedError, succeed};

#[test]
fn pauses_nest_like_a_counter() {
    let log = Recorder::new();
    let (l1, l2) = (log.clone(), log.clone());
    let (d, r) = Deferred::<u8>::new();
    let mut d = d.map(move |n| {
        l1.record(format!("cb1 {n}"));
        n
    });
    d.pause();
    d.pause();
    r.callback(1).unwrap();
    let mut d = d.map(move |n| {
        l2.record(format!("cb2 {n}"));
        n
    });
    d.unpause().unwrap();
    assert!(d.is_paused());
    assert!(log.events().is_empty(), "still paused once");
    d.unpause().unwrap();
    assert!(!d.is_paused());
    assert_eq!(log.take(), ["cb1 1", "cb2 1"]);
    assert_eq!(success_result_of(d), 1);
}

#[test]
fn unpausing_an_unpaused_deferred_is_refused_and_changes_nothing() {
    // Twisted lets the counter go to -1, after which the chain never runs: refused here.
    let (mut d, r) = Deferred::<u8>::new();
    assert_eq!(d.unpause(), Err(NotPausedError));
    assert_eq!(r.unpause(), Err(NotPausedError));
    r.callback(4).unwrap();
    assert_eq!(success_result_of(d), 4);
}

#[test]
fn a_paused_deferred_can_still_be_fired_and_adding_steps_does_not_run_them() {
    let mut d = succeed(1);
    d.pause();
    let mut d = d.map(|n| n + 1);
    assert!(d.called());
    assert_no_result(&d);
    d.unpause().unwrap();
    assert_eq!(success_result_of(d), 2);
}

#[test]
fn a_step_that_pauses_its_own_chain_stops_it_before_the_next_step() {
    let log = Recorder::new();
    let (l1, l2) = (log.clone(), log.clone());
    let (d, r) = Deferred::<u8>::new();
    let pauser = r.clone();
    let d = d
        .map(move |n| {
            pauser.pause();
            l1.record("first");
            n
        })
        .map(move |n| {
            l2.record("second");
            n
        });
    r.callback(1).unwrap();
    assert_eq!(log.take(), ["first"]);
    assert_no_result(&d);
    r.unpause().unwrap();
    assert_eq!(log.take(), ["second"]);
    assert_eq!(success_result_of(d), 1);
}
