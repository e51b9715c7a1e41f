//! `race`: the first success wins and the others are cancelled.
//!
//! The `test_*` functions port Twisted's `RaceTests` (twisted/test/test_defer.py, Twisted
//! 26.10); where the original draws sizes with Hypothesis, the port runs every size in the
//! same range.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use deferreds::testing::{Recorder, capture_unhandled, failure_result_of, success_result_of};
use deferreds::{CancelledError, Deferred, Failure, FailureGroup, Resolver, fail, race, succeed};

/// Deferreds whose cancellers count their calls, with their resolvers.
struct RaceState {
    cancelled: Arc<Vec<AtomicUsize>>,
    ds: Vec<Deferred<usize>>,
    rs: Vec<Resolver<usize>>,
}

/// Twisted's `_setupRaceState`.
fn setup_race_state(n: usize) -> RaceState {
    let cancelled: Arc<Vec<AtomicUsize>> = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect());
    let mut ds = Vec::new();
    let mut rs = Vec::new();
    for i in 0..n {
        let c = cancelled.clone();
        let (d, r) = Deferred::with_canceller(move |_| {
            c[i].fetch_add(1, Ordering::SeqCst);
        });
        ds.push(d);
        rs.push(r);
    }
    RaceState { cancelled, ds, rs }
}

fn counts(cancelled: &[AtomicUsize]) -> Vec<usize> {
    cancelled.iter().map(|c| c.load(Ordering::SeqCst)).collect()
}

/// Ported from `RaceTests.test_success`.
#[test]
fn test_success() {
    for before in 0..=3 {
        for after in 0..=3 {
            let RaceState { cancelled, ds, rs } = setup_race_state(before + 1 + after);
            let d = race(ds);
            rs[before].callback(1000 + before).unwrap();
            assert_eq!(success_result_of(d), (before, 1000 + before));
            let mut expected = vec![1; before + 1 + after];
            expected[before] = 0;
            assert_eq!(counts(&cancelled), expected, "before {before}, after {after}");
        }
    }
}

/// Ported from `RaceTests.test_failure`.
#[test]
fn test_failure() {
    for before in 0..=3 {
        for after in 0..=3 {
            let RaceState { cancelled, ds, rs } = setup_race_state(before + 1 + after);
            let failure = Failure::msg("The test demands failures.");
            let d = race(ds);
            for r in &rs {
                r.errback(failure.clone()).unwrap();
            }
            let group = failure_result_of(d);
            let failures = &group.downcast_ref::<FailureGroup>().unwrap().failures;
            assert_eq!(failures.len(), before + 1 + after);
            assert!(failures.iter().all(|f| f.ptr_eq(&failure)));
            assert_eq!(counts(&cancelled), vec![0; before + 1 + after]);
        }
    }
}

/// Ported from `RaceTests.test_resultAfterCancel`: a loser that fires after being cancelled
/// (it had no canceller, so the grace swallows it) causes no error report.
#[test]
fn test_result_after_cancel() {
    for before in 0..=3 {
        for after in 0..=3 {
            let ((), reports) = capture_unhandled(|| {
                let mut ds = Vec::new();
                let mut rs = Vec::new();
                for _ in 0..before + 2 + after {
                    let (d, r) = Deferred::<()>::new();
                    ds.push(d);
                    rs.push(r);
                }
                let d = race(ds);
                rs[before].callback(()).unwrap();
                rs[before + 1].callback(()).unwrap();
                success_result_of(d);
            });
            assert!(reports.is_empty(), "{reports:?}");
        }
    }
}

/// Ported from `RaceTests.test_resultFromCancel`: a loser whose canceller fires it with a
/// success changes nothing.
#[test]
fn test_result_from_cancel() {
    let (winner, fire_winner) = Deferred::<&str>::new();
    let (loser, _fire_loser) =
        Deferred::with_canceller(|r: &Resolver<&str>| r.callback("from the canceller").unwrap());
    let d = race(vec![winner, loser]);
    fire_winner.callback("expected").unwrap();
    assert_eq!(success_result_of(d), (0, "expected"));
}

/// Ported from `RaceTests.test_cancel`.
#[test]
fn test_cancel() {
    for n in 1..=3 {
        let RaceState { cancelled, ds, rs: _rs } = setup_race_state(n);
        let d = race(ds);
        d.cancel();
        assert_eq!(counts(&cancelled), vec![1; n]);
        let failure = failure_result_of(d);
        let group = failure.downcast_ref::<FailureGroup>().unwrap();
        assert!(group.failures.iter().all(|f| f.check::<CancelledError>()));
    }
}

#[test]
fn losers_are_cancelled_before_the_winner_is_announced() {
    let log = Recorder::new();
    let (l1, l2) = (log.clone(), log.clone());
    let (loser, _r) = Deferred::<u8>::with_canceller(move |_| l1.record("loser cancelled"));
    let (winner, fire_winner) = Deferred::<u8>::new();
    let d = race(vec![loser, winner]).map(move |(i, v)| {
        l2.record(format!("race fired with {i}, {v}"));
    });
    fire_winner.callback(7).unwrap();
    assert_eq!(log.take(), ["loser cancelled", "race fired with 1, 7"]);
    success_result_of(d);
}

#[test]
fn a_winner_that_had_fired_already_cancels_the_inputs_after_it_too() {
    let RaceState { cancelled, mut ds, rs: _rs } = setup_race_state(3);
    ds.insert(1, succeed(42));
    let d = race(ds);
    assert_eq!(success_result_of(d), (1, 42));
    assert_eq!(counts(&cancelled), [1, 1, 1]);
}

#[test]
fn an_empty_race_fails_at_once_with_an_empty_group() {
    let failure = failure_result_of(race(Vec::<Deferred<u8>>::new()));
    assert!(failure.downcast_ref::<FailureGroup>().unwrap().failures.is_empty());
}

#[test]
fn failures_keep_input_order_whatever_order_they_arrive_in() {
    let (a, fire_a) = Deferred::<u8>::new();
    let (b, fire_b) = Deferred::<u8>::new();
    let d = race(vec![a, b, fail(Failure::msg("c"))]);
    fire_b.errback(Failure::msg("b")).unwrap();
    fire_a.errback(Failure::msg("a")).unwrap();
    let failure = failure_result_of(d);
    assert_eq!(failure.error_message(), "all 3 inputs failed: a; b; c");
}

#[test]
fn the_winner_itself_is_not_cancelled() {
    let (winner, fire_winner) = Deferred::<u8>::with_canceller(|_| panic!("must not run"));
    let (other, _r) = Deferred::<u8>::new();
    let d = race(vec![winner, other]);
    fire_winner.callback(1).unwrap();
    assert_eq!(success_result_of(d), (0, 1));
}

#[test]
fn cancelling_the_race_while_its_losers_are_being_cancelled_keeps_the_winner() {
    // A loser's errback cancels the race itself, after the winner was chosen but before it is
    // announced: too late to change the result, and nothing is reported.
    type Shared = Arc<Deferred<(usize, u8)>>;
    let slot: Arc<parking_lot::Mutex<Option<Shared>>> = Arc::default();
    let s = slot.clone();
    let ((), reports) = capture_unhandled(|| {
        let (loser, _r) = Deferred::<u8>::new();
        let loser = loser.add_errback(move |f| {
            if let Some(race) = s.lock().take() {
                race.cancel();
            }
            Err(f)
        });
        let (winner, fire_winner) = Deferred::<u8>::new();
        let d = Arc::new(race(vec![loser, winner]));
        *slot.lock() = Some(d.clone());
        fire_winner.callback(5).unwrap();
        let d = Arc::try_unwrap(d).unwrap();
        assert_eq!(success_result_of(d), (1, 5));
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn cancelling_a_race_while_an_input_runs_its_steps_on_another_thread_lets_that_input_win() {
    let (a, fire_a) = Deferred::<u8>::new();
    let (a, has_started, go) = crate::combinators::list::blocking_input(a);
    let (b, _fire_b) = Deferred::<u8>::new();
    let winner = race(vec![a, b]);
    let firer = std::thread::spawn(move || fire_a.callback(1).unwrap());
    has_started.recv().unwrap();
    winner.cancel(); // `b` fails with `CancelledError`; `a`'s value is on its way
    deferreds::testing::assert_no_result(&winner);
    go.send(()).unwrap();
    firer.join().unwrap();
    assert_eq!(success_result_of(winner), (0, 1));
}
