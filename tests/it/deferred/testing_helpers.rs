//! deferreds::testing itself.

use deferreds::testing::{
    DropCounter, Recorder, assert_no_result, failure_result_of, success_result_of,
};
use deferreds::{Deferred, Failure, fail, succeed};

#[test]
fn success_result_of_returns_the_value() {
    assert_eq!(success_result_of(succeed("x")), "x");
}

#[test]
#[should_panic(expected = "found no result")]
fn success_result_of_panics_without_a_result() {
    let (d, _r) = Deferred::<u8>::new();
    success_result_of(d);
}

#[test]
#[should_panic(expected = "found a failure")]
fn success_result_of_panics_on_a_failure() {
    success_result_of(fail::<u8>(Failure::msg("nope")));
}

#[test]
fn failure_result_of_returns_the_failure() {
    assert_eq!(failure_result_of(fail::<u8>(Failure::msg("f"))).error_message(), "f");
}

#[test]
#[should_panic(expected = "found a success result")]
fn failure_result_of_panics_on_a_success() {
    failure_result_of(succeed(1));
}

#[test]
#[should_panic(expected = "found no result")]
fn failure_result_of_panics_without_a_result() {
    let (d, _r) = Deferred::<u8>::new();
    failure_result_of(d);
}

#[test]
fn assert_no_result_accepts_pending_paused_and_waiting() {
    let (d, _r) = Deferred::<u8>::new();
    assert_no_result(&d);
    let mut p = succeed(1);
    p.pause();
    let p = p.map(|n| n);
    assert_no_result(&p);
    let (inner, _fire) = Deferred::<u8>::new();
    let w = succeed(()).add_callback(move |()| inner);
    assert_no_result(&w);
}

#[test]
#[should_panic(expected = "no result expected")]
fn assert_no_result_panics_on_a_result() {
    assert_no_result(&succeed(1));
}

#[test]
fn drop_counter_counts_tokens() {
    let c = DropCounter::new();
    let t1 = c.token();
    let t2 = c.token();
    assert_eq!((c.made(), c.dropped(), c.alive()), (2, 0, 2));
    drop(t1);
    assert_eq!(c.dropped(), 1);
    drop(t2);
    assert_eq!(c.alive(), 0);
}

#[test]
fn every_closure_is_dropped_exactly_once_whether_it_ran_or_not() {
    let counter = DropCounter::new();
    let (d, r) = Deferred::<u8>::new();
    let mut d = d;
    for _ in 0..5 {
        let t = counter.token();
        d = d.map(move |n| {
            let _t = &t;
            n
        });
    }
    // Errbacks are skipped on the value track but still dropped.
    for _ in 0..3 {
        let t = counter.token();
        d = d.add_errback(move |f| {
            let _t = &t;
            Err(f)
        });
    }
    r.callback(1).unwrap();
    assert_eq!(counter.dropped(), 8);
    success_result_of(d);

    let counter = DropCounter::new();
    let (d, r) = Deferred::<u8>::new();
    let t = counter.token();
    let d = d.map(move |n| {
        let _t = &t;
        n
    });
    drop(d);
    drop(r);
    assert_eq!(counter.dropped(), 1, "an unfired chain frees its steps with its last handle");
}

#[test]
fn recorder_keeps_order_and_take_empties_it() {
    let r = Recorder::new();
    r.record("a");
    r.record(String::from("b"));
    assert_eq!(r.events(), ["a", "b"]);
    assert_eq!(r.take(), ["a", "b"]);
    assert!(r.take().is_empty());
}
