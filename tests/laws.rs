//! The chain laws, as properties: each law is checked on thousands of generated chains.
//!
//! A chain here is a list of steps on a `Deferred<i64>`. Each step is a callback, an errback or
//! both, and does one thing to what it gets: add a number, fail with one of three errors,
//! recover with a number, or pass its input on. Steps log what they saw, so two chains can be
//! compared by their logs and their results. [`model`] is the two-track rule written out as a
//! plain loop; the laws compare the engine with it, or with itself under a transformation that
//! must not change anything.
//!
//! The combinator laws (a list's results are its inputs' results, in input order, whatever
//! order they fire in; `gather_results` and `race` decide on the first result to arrive) are in
//! `tests/it/combinator_laws.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use proptest::prelude::*;

use deferreds::testing::{DropCounter, Recorder, assert_no_result};
use deferreds::{AlreadyCalledError, CancelledError, Deferred, Failure, Resolver, Step};

/// Cases per law. Each case is a few microseconds to a few hundred; the whole file runs in
/// seconds even unoptimised.
const CASES: u32 = 3000;

fn config() -> ProptestConfig {
    // The laws are about chains, not tracebacks: with RUST_BACKTRACE set, capturing a backtrace
    // for each of the many failures would double the run time.
    Failure::set_backtrace_capture(false);
    ProptestConfig { cases: CASES, ..ProptestConfig::default() }
}

/// The errors steps fail with: `Tagged(0)`, `Tagged(1)`, `Tagged(2)`.
#[derive(Debug, thiserror::Error)]
#[error("E{0}")]
struct Tagged(u8);

/// A result as the model sees it: a value or an error tag.
type R = Result<i64, u8>;

fn to_engine(r: R) -> Result<i64, Failure> {
    r.map_err(|tag| Failure::new(Tagged(tag)))
}

/// The tag of a failure: the program's own errors are 0 to 2, a cancellation is 9.
fn tag_of(f: &Failure) -> u8 {
    match f.downcast_ref::<Tagged>() {
        Some(t) => t.0,
        None if f.check::<CancelledError>() => 9,
        None => panic!("an unexpected failure reached a step: {f}"),
    }
}

fn from_engine(r: Result<i64, Failure>) -> R {
    r.map_err(|f| tag_of(&f))
}

#[derive(Clone, Copy, Debug)]
enum Action {
    Add(i64),
    Fail(u8),
    Recover(i64),
    Pass,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Callback,
    Errback,
    Both,
}

#[derive(Clone, Copy, Debug)]
struct S {
    kind: Kind,
    action: Action,
}

fn act(action: Action, input: R) -> R {
    match action {
        Action::Add(n) => input.map(|v| v.wrapping_add(n)),
        Action::Fail(tag) => Err(tag),
        Action::Recover(n) => Ok(n),
        Action::Pass => input,
    }
}

fn runs(kind: Kind, input: &R) -> bool {
    matches!((kind, input), (Kind::Callback, Ok(_)) | (Kind::Errback, Err(_)) | (Kind::Both, _))
}

fn event(i: usize, input: &R) -> String {
    match input {
        Ok(v) => format!("{i} saw V:{v}"),
        Err(t) => format!("{i} saw F:E{t}"),
    }
}

/// The two-track rule: a step runs when its kind matches the track, and its result decides the
/// track for the next one.
fn model(input: R, steps: &[S]) -> (Vec<String>, R) {
    let mut r = input;
    let mut log = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        if runs(s.kind, &r) {
            log.push(event(i, &r));
            r = act(s.action, r);
        }
    }
    (log, r)
}

/// Adds step `i` to `d`, logging what it sees.
fn add(d: Deferred<i64>, i: usize, s: S, log: &Recorder) -> Deferred<i64> {
    let log = log.clone();
    let run = move |r: R| {
        log.record(event(i, &r));
        to_engine(act(s.action, r))
    };
    match s.kind {
        Kind::Callback => d.add_callback(move |v| run(Ok(v))),
        Kind::Errback => d.add_errback(move |f| run(Err(tag_of(&f)))),
        Kind::Both => d.add_both(move |r| run(from_engine(r))),
    }
}

fn add_all(mut d: Deferred<i64>, steps: &[S], log: &Recorder) -> Deferred<i64> {
    for (i, s) in steps.iter().enumerate() {
        d = add(d, i, *s, log);
    }
    d
}

fn fire(r: &Resolver<i64>, input: R) {
    r.resolve(to_engine(input)).expect("fired once");
}

/// The result, which every law's chain has by the time it is read.
fn result(d: Deferred<i64>) -> R {
    from_engine(d.try_result().into_result().expect("the chain has its result"))
}

/// Fires after adding the first `split` steps (all of them if `split` is larger).
fn run_split(input: R, steps: &[S], split: usize) -> (Vec<String>, R) {
    let log = Recorder::new();
    let split = split.min(steps.len());
    let (d, r) = Deferred::new();
    let mut d = d;
    for (i, s) in steps.iter().enumerate().take(split) {
        d = add(d, i, *s, &log);
    }
    fire(&r, input);
    for (i, s) in steps.iter().enumerate().skip(split) {
        d = add(d, i, *s, &log);
    }
    (log.take(), result(d))
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Callback), Just(Kind::Errback), Just(Kind::Both)]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (-5i64..10).prop_map(Action::Add),
        2 => (0u8..3).prop_map(Action::Fail),
        2 => (0i64..100).prop_map(Action::Recover),
        1 => Just(Action::Pass),
    ]
}

fn steps() -> impl Strategy<Value = Vec<S>> {
    prop::collection::vec((kind(), action()).prop_map(|(kind, action)| S { kind, action }), 0..12)
}

fn input() -> impl Strategy<Value = R> {
    prop_oneof![3 => (0i64..50).prop_map(Ok), 1 => (0u8..3).prop_map(Err)]
}

/// The ways to write a step that changes nothing.
#[derive(Clone, Copy, Debug)]
enum Identity {
    Callback,
    Errback,
    Both,
    Map,
    Callbacks,
    StepValue,
}

fn identity() -> impl Strategy<Value = Identity> {
    prop_oneof![
        Just(Identity::Callback),
        Just(Identity::Errback),
        Just(Identity::Both),
        Just(Identity::Map),
        Just(Identity::Callbacks),
        Just(Identity::StepValue),
    ]
}

fn add_identity(d: Deferred<i64>, form: Identity) -> Deferred<i64> {
    match form {
        Identity::Callback => d.add_callback(Ok),
        Identity::Errback => d.add_errback(Err),
        Identity::Both => d.add_both(|r| r),
        Identity::Map => d.map(|v| v),
        Identity::Callbacks => d.add_callbacks(Ok, Err),
        Identity::StepValue => d.add_callback(Step::Value),
    }
}

/// Fires a list of resolvers in the order of their keys.
type Firers = Arc<Mutex<Vec<(u32, Box<dyn FnOnce() + Send>)>>>;

fn fire_all(firers: &Firers) {
    let mut pending = std::mem::take(&mut *firers.lock());
    pending.sort_by_key(|(key, _)| *key);
    for (_, fire) in pending {
        fire();
    }
}

/// A Deferred that yields `r` through `levels.len()` nested Deferreds: level 0 holds `r`, and
/// each next level's callback returns the one below. A level marked `true` is already fired;
/// the others are fired later, through `firers`, in the order of their keys.
fn tower(r: R, levels: &[(bool, u32)], firers: &Firers) -> Deferred<i64> {
    let (fired, key) = levels[0];
    let mut d = if fired {
        ready(r)
    } else {
        let (d, resolver) = Deferred::new();
        firers.lock().push((key, Box::new(move || fire(&resolver, r))));
        d
    };
    for &(fired, key) in &levels[1..] {
        let outer = if fired {
            deferreds::succeed(())
        } else {
            let (outer, resolver) = Deferred::<()>::new();
            firers.lock().push((key, Box::new(move || resolver.callback(()).unwrap())));
            outer
        };
        let inner = d;
        d = outer.add_callback(move |()| inner);
    }
    d
}

fn ready(r: R) -> Deferred<i64> {
    match r {
        Ok(v) => deferreds::succeed(v),
        Err(tag) => deferreds::fail(Failure::new(Tagged(tag))),
    }
}

proptest! {
    #![proptest_config(config())]

    /// Law 1, two-track switching: a chain does what the model says. A failure skips callbacks
    /// until the first errback; an errback's value resumes the callbacks; `both` steps see
    /// either track.
    #[test]
    fn two_track_switching_follows_the_model(input in input(), steps in steps()) {
        let log = Recorder::new();
        let (d, r) = Deferred::new();
        let d = add_all(d, &steps, &log);
        fire(&r, input);
        let (expected_log, expected) = model(input, &steps);
        prop_assert_eq!(log.take(), expected_log);
        prop_assert_eq!(result(d), expected);
    }

    /// Law 2, callback order: firing before, after, or in the middle of adding the steps gives
    /// the same log and the same result.
    #[test]
    fn firing_before_or_after_adding_steps_is_the_same(
        input in input(),
        steps in steps(),
        split in 0usize..13,
    ) {
        let after = run_split(input, &steps, steps.len());
        prop_assert_eq!(run_split(input, &steps, 0), after.clone());
        prop_assert_eq!(run_split(input, &steps, split), after);
    }

    /// Law 3, identity: adding pass-through steps, in any of their spellings and anywhere in
    /// the chain, changes nothing.
    #[test]
    fn pass_through_steps_change_nothing(
        input in input(),
        steps in steps(),
        inserts in prop::collection::vec((0usize..13, identity()), 0..6),
        fire_first in any::<bool>(),
    ) {
        let log = Recorder::new();
        let (d, r) = Deferred::new();
        if fire_first {
            fire(&r, input);
        }
        let mut d = d;
        for i in 0..=steps.len() {
            for &(_, form) in inserts.iter().filter(|(at, _)| (*at).min(steps.len()) == i) {
                d = add_identity(d, form);
            }
            if let Some(s) = steps.get(i) {
                d = add(d, i, *s, &log);
            }
        }
        if !fire_first {
            fire(&r, input);
        }
        let (expected_log, expected) = model(input, &steps);
        prop_assert_eq!(log.take(), expected_log);
        prop_assert_eq!(result(d), expected);
    }

    /// Law 4, associativity of nesting: a step that returns a Deferred yielding x is the same as
    /// a step returning x, at any depth, with each level fired before or after it is returned
    /// and the unfired ones fired in any order. Until the last of them fires, the chain stops
    /// after that step.
    #[test]
    fn returning_a_deferred_that_yields_x_is_returning_x(
        input in input(),
        steps in steps(),
        at in any::<prop::sample::Index>(),
        levels in prop::collection::vec((any::<bool>(), any::<u32>()), 1..6),
        fire_first in any::<bool>(),
    ) {
        let at = if steps.is_empty() { 0 } else { at.index(steps.len()) };
        let log = Recorder::new();
        let firers: Firers = Arc::default();
        let (d, r) = Deferred::new();
        if fire_first {
            fire(&r, input);
        }
        let mut d = d;
        for (i, s) in steps.iter().enumerate() {
            if i != at {
                d = add(d, i, *s, &log);
                continue;
            }
            // The same step, but it hands its result over through a tower of Deferreds.
            let (log, firers, levels, s) = (log.clone(), firers.clone(), levels.clone(), *s);
            let nested = move |r: R| {
                log.record(event(i, &r));
                tower(act(s.action, r), &levels, &firers)
            };
            d = match s.kind {
                Kind::Callback => d.add_callback(move |v| nested(Ok(v))),
                Kind::Errback => d.add_errback(move |f| nested(Err(tag_of(&f)))),
                Kind::Both => d.add_both(move |r| nested(from_engine(r))),
            };
        }
        if !fire_first {
            fire(&r, input);
        }
        let (expected_log, expected) = model(input, &steps);
        if !firers.lock().is_empty() {
            // Held at step `at`: nothing after it has run.
            assert_no_result(&d);
            let held: Vec<String> = expected_log
                .iter()
                .filter(|e| e.split(' ').next().unwrap().parse::<usize>().unwrap() <= at)
                .cloned()
                .collect();
            prop_assert_eq!(log.events(), held);
            fire_all(&firers);
        }
        prop_assert_eq!(log.take(), expected_log);
        prop_assert_eq!(result(d), expected);
    }

    /// Law 5, pause/unpause: pauses and unpauses in any balanced order, through the tail or the
    /// resolver, interleaved with adding steps and firing, give the same log and result as no
    /// pauses at all; while a fired chain is paused it has no result.
    #[test]
    fn balanced_pauses_change_nothing_but_timing(
        input in input(),
        steps in steps(),
        fire_at in 0usize..13,
        schedule in prop::collection::vec(0u8..6, 0..30),
    ) {
        let fire_at = fire_at.min(steps.len());
        let log = Recorder::new();
        let (d, r) = Deferred::new();
        let mut d = d;
        let mut paused = 0u32;
        let mut next = 0; // the next base event: step 0..fire_at, the fire, then the rest
        let base_events = steps.len() + 1;
        let do_base = |d: Deferred<i64>, next: usize| -> Deferred<i64> {
            match next.cmp(&fire_at) {
                std::cmp::Ordering::Less => add(d, next, steps[next], &log),
                std::cmp::Ordering::Equal => {
                    fire(&r, input);
                    d
                }
                std::cmp::Ordering::Greater => add(d, next - 1, steps[next - 1], &log),
            }
        };
        for op in schedule {
            match op {
                0 | 1 => {
                    if op == 0 { d.pause() } else { r.pause() }
                    paused += 1;
                }
                2 | 3 if paused > 0 => {
                    if op == 2 { d.unpause().unwrap() } else { r.unpause().unwrap() }
                    paused -= 1;
                }
                _ if next < base_events => {
                    d = do_base(d, next);
                    next += 1;
                }
                _ => {}
            }
            if paused > 0 && next > fire_at {
                assert_no_result(&d);
            }
        }
        while next < base_events {
            d = do_base(d, next);
            next += 1;
        }
        if paused > 0 {
            assert_no_result(&d);
        }
        for _ in 0..paused {
            d.unpause().unwrap();
        }
        prop_assert!(!d.is_paused());
        prop_assert_eq!(d.unpause(), Err(deferreds::NotPausedError));
        let (expected_log, expected) = model(input, &steps);
        prop_assert_eq!(log.take(), expected_log);
        prop_assert_eq!(result(d), expected);
    }

    /// Law 6, exactly once: every step runs at most once, and every closure is dropped exactly
    /// once, right after it runs or with its chain, whether the chain is fired, cancelled,
    /// never fired, or left waiting on a Deferred that never fires.
    #[test]
    fn every_step_runs_at_most_once_and_is_dropped_exactly_once(
        input in input(),
        steps in steps(),
        fate in 0u8..4,
        stuck_at in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let stuck_at = stuck_at.filter(|_| !steps.is_empty()).map(|at| at.index(steps.len()));
        let counters: Vec<DropCounter> = steps.iter().map(|_| DropCounter::new()).collect();
        let calls: Vec<Arc<AtomicUsize>> = steps.iter().map(|_| Arc::default()).collect();
        // A Deferred some step waits on and that never fires; its resolver is kept until the end.
        // The steps reach the list weakly: a step that is never run would otherwise keep the
        // resolver, its chain, the waiting chain and so itself alive (a cycle through user data,
        // which no reference-counted design can free).
        let stuck: Arc<Mutex<Vec<Resolver<i64>>>> = Arc::default();
        let (d, r) = Deferred::new();
        if fate == 0 {
            fire(&r, input);
        }
        let mut d = d;
        for (i, s) in steps.iter().enumerate() {
            let (token, calls, s) = (counters[i].token(), calls[i].clone(), *s);
            let stuck = Arc::downgrade(&stuck);
            let wait = stuck_at == Some(i);
            let run = move |r: R| -> Step<i64> {
                let _keep = &token;
                calls.fetch_add(1, Ordering::SeqCst);
                if wait {
                    let (inner, resolver) = Deferred::new();
                    stuck.upgrade().expect("alive while the test runs").lock().push(resolver);
                    return Step::Wait(inner);
                }
                match act(s.action, r) {
                    Ok(v) => Step::Value(v),
                    Err(t) => Step::Fail(Failure::new(Tagged(t))),
                }
            };
            d = match s.kind {
                Kind::Callback => d.add_callback(move |v| run(Ok(v))),
                Kind::Errback => d.add_errback(move |f| run(Err(tag_of(&f)))),
                Kind::Both => d.add_both(move |r| run(from_engine(r))),
            };
        }
        match fate {
            1 => fire(&r, input),
            2 => d.cancel(),
            _ => {}
        }
        for (i, (counter, calls)) in counters.iter().zip(&calls).enumerate() {
            let n = calls.load(Ordering::SeqCst);
            prop_assert!(n <= 1, "step {} ran {} times", i, n);
            if n == 1 {
                prop_assert_eq!(counter.dropped(), 1, "step {} was not dropped after running", i);
            }
        }
        let ((), _reports) = deferreds::testing::capture_unhandled(move || {
            drop(d);
            drop(r);
            drop(stuck);
        });
        for (i, counter) in counters.iter().enumerate() {
            prop_assert_eq!((counter.made(), counter.dropped()), (1, 1), "step {}", i);
        }
    }

    /// Law 7, cancel then fire: the grace rule. Without a canceller the chain fails with
    /// `CancelledError` and exactly one later fire is swallowed; a canceller that fires the
    /// Deferred decides its result; one that does not gets `CancelledError` and no grace. Every
    /// other later fire is `AlreadyCalledError`, and cancelling a fired Deferred does nothing.
    #[test]
    fn cancel_then_fire_follows_the_grace_rule(
        canceller in prop::option::of(prop::option::of(input())),
        fire_before in prop::option::of(input()),
        late in prop::collection::vec(input(), 0..4),
        steps in steps(),
    ) {
        let cancels = Arc::new(AtomicUsize::new(0));
        let (d, r) = match canceller {
            None => Deferred::new(),
            Some(fires) => {
                let cancels = cancels.clone();
                Deferred::with_canceller(move |r: &Resolver<i64>| {
                    cancels.fetch_add(1, Ordering::SeqCst);
                    if let Some(result) = fires {
                        fire(r, result);
                    }
                })
            }
        };
        let log = Recorder::new();
        let d = add_all(d, &steps, &log);
        if let Some(first) = fire_before {
            fire(&r, first);
        }
        d.cancel();
        let late_results: Vec<bool> =
            late.iter().map(|l| r.resolve(to_engine(*l)).is_ok()).collect();

        let (chain_input, swallowed) = match (fire_before, canceller) {
            (Some(first), _) => (first, 0),
            (None, None) => (Err(9), 1),
            (None, Some(None)) => (Err(9), 0),
            (None, Some(Some(result))) => (result, 0),
        };
        let expected_cancels = usize::from(fire_before.is_none() && canceller.is_some());
        prop_assert_eq!(cancels.load(Ordering::SeqCst), expected_cancels);
        let expected_late: Vec<bool> = (0..late.len()).map(|i| i < swallowed).collect();
        prop_assert_eq!(late_results, expected_late);
        let (expected_log, expected) = model(chain_input, &steps);
        prop_assert_eq!(log.take(), expected_log);
        prop_assert_eq!(result(d), expected);
    }

    /// Law 8, chain_deferred: `a.chain_deferred(&b)` fires b with a's result exactly as firing b
    /// directly would, and a goes on with `()`, or with `AlreadyCalledError` if b was fired first.
    #[test]
    fn chain_deferred_is_firing_the_target(
        input in input(),
        before in steps(),
        target_steps in steps(),
        target_fired_first in prop::option::of(input()),
    ) {
        let (a, fire_a) = Deferred::new();
        let (b, fire_b) = Deferred::new();
        let (log_a, log_b) = (Recorder::new(), Recorder::new());
        let b = add_all(b, &target_steps, &log_b);
        if let Some(early) = target_fired_first {
            fire(&fire_b, early);
        }
        let a = add_all(a, &before, &log_a).chain_deferred(&fire_b);
        let a = a.add_both(|r| Ok(r.map_err(|f| f.check::<AlreadyCalledError>())));
        fire(&fire_a, input);

        let (expected_a_log, through_a) = model(input, &before);
        let b_input = target_fired_first.unwrap_or(through_a);
        let (expected_b_log, expected_b) = model(b_input, &target_steps);
        prop_assert_eq!(log_a.take(), expected_a_log);
        prop_assert_eq!(log_b.take(), expected_b_log);
        prop_assert_eq!(result(b), expected_b);
        let a = deferreds::testing::success_result_of(a);
        let expected_a = if target_fired_first.is_some() { Err(true) } else { Ok(()) };
        prop_assert_eq!(a, expected_a);
    }
}
