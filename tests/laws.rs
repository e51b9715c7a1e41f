//! The chain laws, as properties: each law is checked on thousands of generated chains.
//!
//! Written with `deferreds::proptest`. A chain here is a list of steps on a `Deferred<Value>`
//! (a `Deferred<Option<i64>>`): callbacks, errbacks, both or pairs, whose functions add a
//! number, fail with one of three errors, recover, trap one error, or pass their input on.
//! Where a law is about a program (a few Deferreds and operations on them), the runner does it
//! on the crate and the reference model predicts it; where it needs what no program can say (a
//! `map`, a tower of nested Deferreds, drop counts), the chain is built by hand with the same
//! step functions and compared with the model's prediction. The model itself is checked
//! against Twisted's recorded traces by `tests/conformance/`.
//!
//! The combinator laws (a list's results are its inputs' results, in input order, whatever
//! order they fire in; `gather_results` and `race` decide on the first result to arrive) are in
//! `tests/it/combinators/combinator_laws.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use proptest::prelude::*;

use deferreds::proptest::{
    Attach, Canceller, CustomStep, Event, Fault, FinalState, Op, OpKind, Outcome, Program, Shape,
    StepFn, StepId, StepKind, Trace, Value, model, outcome_of, runner,
};
use deferreds::testing::{DropCounter, assert_no_result};
use deferreds::{Deferred, Failure, Resolver, Step, TryResult};

/// Cases per law. Each case is a few microseconds to a few hundred; the whole file runs in
/// seconds even unoptimised.
const CASES: u32 = 3000;

fn config() -> ProptestConfig {
    // The laws are about chains, not tracebacks: with RUST_BACKTRACE set, capturing a backtrace
    // for each of the many failures would double the run time.
    Failure::set_backtrace_capture(false);
    ProptestConfig { cases: CASES, ..ProptestConfig::default() }
}

/// Chains of steps that compute: the laws' steps and inputs.
fn chain_shape() -> Shape {
    Shape::new().only_steps(&[
        StepKind::Add,
        StepKind::Fail,
        StepKind::Recover,
        StepKind::Pass,
        StepKind::Trap,
    ])
}

fn steps() -> impl Strategy<Value = Vec<Attach>> {
    prop::collection::vec(chain_shape().attaches(), 0..12)
}

fn input() -> BoxedStrategy<Outcome> {
    chain_shape().outcomes()
}

/// The operation that fires Deferred d with `input`.
fn fire(d: usize, input: &Outcome) -> Op {
    match input {
        Ok(v) => Op::Callback(d, *v),
        Err(Fault::Raised(tag)) => Op::Errback(d, *tag),
        Err(other) => unreachable!("the inputs are values and the program's errors, not {other}"),
    }
}

/// A program of one Deferred: the steps added in order, and the fire before step `fire_at`
/// (after them all if `fire_at` is past the end).
fn one_chain(input: &Outcome, steps: &[Attach], fire_at: usize) -> Program {
    let mut program = Program::new(1);
    for (i, step) in steps.iter().enumerate() {
        if i == fire_at {
            program.ops.push(fire(0, input));
        }
        program.ops.push(Op::Add(0, step.clone()));
    }
    if fire_at >= steps.len() {
        program.ops.push(fire(0, input));
    }
    program
}

/// Which of Deferred d's steps ran, numbered in the order they were added, and on what.
fn ran(program: &Program, trace: &Trace, d: usize) -> Vec<(usize, Outcome)> {
    let ordinal = |op: usize| {
        program.ops[..op].iter().filter(|o| matches!(o, Op::Add(e, _) if *e == d)).count()
    };
    trace
        .steps()
        .filter(|(e, _, _)| *e == d)
        .map(|(_, step, input)| match step {
            StepId::Op(i) => (ordinal(i), input.clone()),
            StepId::AddedBy(i) => panic!("the laws add no step from a step ({i}+)"),
        })
        .collect()
}

/// What the model predicts for `steps` getting `input`: the steps that run, and the result.
/// Any input, failures a program cannot fire with included: a first step of the model's
/// own hands it to them.
fn predicted(input: &Outcome, steps: &[Attach]) -> (Vec<(usize, Outcome)>, Outcome) {
    let given = input.clone();
    let start = CustomStep::new("start", move |_| given.clone());
    let mut all = vec![Attach::Both(StepFn::Custom(start))];
    all.extend(steps.iter().cloned());
    let program = one_chain(&Ok(None), &all, all.len());
    let trace = model::run(&program).expect("a valid program");
    let result = match trace.final_state(0) {
        Some(FinalState::Result(result)) => result.clone(),
        other => panic!("a fired chain of steps that compute ends with a result, not {other:?}"),
    };
    let ran = ran(&program, &trace, 0).into_iter().skip(1).map(|(i, input)| (i - 1, input));
    (ran.collect(), result)
}

// ---- Chains built by hand, with the programs' step functions.

/// The steps that ran in a chain built by hand: (the step's number, its input).
type Log = Arc<Mutex<Vec<(usize, Outcome)>>>;

/// What step `i`'s function does with a real result, logging that it ran.
fn run_fn(
    f: &StepFn,
    i: usize,
    input: Result<Value, Failure>,
    log: &Log,
) -> Result<Value, Failure> {
    let seen = outcome_of(&input);
    log.lock().push((i, seen.clone()));
    match f.apply(seen).expect("the laws' step functions compute") {
        Ok(v) => Ok(v),
        Err(fault) => Err(fault.to_failure()),
    }
}

/// Adds step `i` to `d` with the method its [`Attach`] names.
fn add(d: Deferred<Value>, i: usize, step: &Attach, log: &Log) -> Deferred<Value> {
    let log = log.clone();
    match step.clone() {
        Attach::Callback(f) => d.add_callback(move |v| run_fn(&f, i, Ok(v), &log)),
        Attach::Errback(f) => d.add_errback(move |e| run_fn(&f, i, Err(e), &log)),
        Attach::Both(f) => d.add_both(move |r| run_fn(&f, i, r, &log)),
        Attach::Callbacks(f, g) => {
            let other = log.clone();
            d.add_callbacks(
                move |v| run_fn(&f, i, Ok(v), &log),
                move |e| run_fn(&g, i, Err(e), &other),
            )
        }
    }
}

fn resolve(r: &Resolver<Value>, input: &Outcome) {
    let result = input.clone().map_err(|fault| fault.to_failure());
    r.resolve(result).expect("fired once");
}

/// The result, which every hand-built chain has by the time it is read.
fn result(d: Deferred<Value>) -> Outcome {
    let result = match d.try_result() {
        TryResult::Value(value) => Ok(value),
        TryResult::Failure(failure) => Err(failure),
        TryResult::Pending(d) => panic!("no result: {d:?}"),
    };
    outcome_of(&result)
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

fn add_identity(d: Deferred<Value>, form: Identity) -> Deferred<Value> {
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
fn tower(r: Outcome, levels: &[(bool, u32)], firers: &Firers) -> Deferred<Value> {
    let (fired, key) = levels[0];
    let mut d = if fired {
        match r {
            Ok(v) => deferreds::succeed(v),
            Err(fault) => deferreds::fail(fault.to_failure()),
        }
    } else {
        let (d, resolver) = Deferred::new();
        firers.lock().push((key, Box::new(move || resolve(&resolver, &r))));
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

proptest! {
    #![proptest_config(config())]

    /// Law 1, two-track switching: a chain does what the model says. A failure skips callbacks
    /// until the first errback; an errback's value resumes the callbacks; `both` steps see
    /// either track; one function of a pair runs.
    #[test]
    fn two_track_switching_follows_the_model(input in input(), steps in steps()) {
        let program = one_chain(&input, &steps, steps.len());
        prop_assert_eq!(runner::run(&program)?.trace, model::run(&program)?);
    }

    /// Law 2, callback order: firing before, after, or in the middle of adding the steps gives
    /// the same steps on the same inputs and the same result.
    #[test]
    fn firing_before_or_after_adding_steps_is_the_same(
        input in input(),
        steps in steps(),
        split in 0usize..13,
    ) {
        let outcome = |fire_at: usize| -> Result<_, TestCaseError> {
            let program = one_chain(&input, &steps, fire_at);
            let trace = runner::run(&program)?.trace;
            Ok((ran(&program, &trace, 0), trace.final_state(0).cloned()))
        };
        let after = outcome(steps.len())?;
        prop_assert_eq!(outcome(0)?, after.clone());
        prop_assert_eq!(outcome(split)?, after);
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
        let log = Log::default();
        let (d, r) = Deferred::new();
        if fire_first {
            resolve(&r, &input);
        }
        let mut d = d;
        for i in 0..=steps.len() {
            for &(_, form) in inserts.iter().filter(|(at, _)| (*at).min(steps.len()) == i) {
                d = add_identity(d, form);
            }
            if let Some(step) = steps.get(i) {
                d = add(d, i, step, &log);
            }
        }
        if !fire_first {
            resolve(&r, &input);
        }
        let (expected_log, expected) = predicted(&input, &steps);
        prop_assert_eq!(std::mem::take(&mut *log.lock()), expected_log);
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
        let log = Log::default();
        let firers: Firers = Arc::default();
        let (d, r) = Deferred::new();
        if fire_first {
            resolve(&r, &input);
        }
        let mut d = d;
        for (i, step) in steps.iter().enumerate() {
            if i != at {
                d = add(d, i, step, &log);
                continue;
            }
            // The same step, but it hands its result over through a tower of Deferreds.
            let nested = {
                let (log, firers, levels) = (log.clone(), firers.clone(), levels.clone());
                move |f: &StepFn, input: Result<Value, Failure>| {
                    let seen = outcome_of(&input);
                    log.lock().push((i, seen.clone()));
                    let output = f.apply(seen).expect("the laws' step functions compute");
                    tower(output, &levels, &firers)
                }
            };
            d = match step.clone() {
                Attach::Callback(f) => d.add_callback(move |v| nested(&f, Ok(v))),
                Attach::Errback(f) => d.add_errback(move |e| nested(&f, Err(e))),
                Attach::Both(f) => d.add_both(move |r| nested(&f, r)),
                Attach::Callbacks(f, g) => {
                    let other = nested.clone();
                    d.add_callbacks(move |v| nested(&f, Ok(v)), move |e| other(&g, Err(e)))
                }
            };
        }
        if !fire_first {
            resolve(&r, &input);
        }
        let (expected_log, expected) = predicted(&input, &steps);
        if !firers.lock().is_empty() {
            // Held at step `at`: nothing after it has run.
            assert_no_result(&d);
            let held: Vec<(usize, Outcome)> =
                expected_log.iter().filter(|(i, _)| *i <= at).cloned().collect();
            prop_assert_eq!(log.lock().clone(), held);
            fire_all(&firers);
        }
        prop_assert_eq!(std::mem::take(&mut *log.lock()), expected_log);
        prop_assert_eq!(result(d), expected);
    }

    /// Law 5, pause/unpause: pauses and unpauses in any balanced order, through the tail or the
    /// resolver, interleaved with adding steps and firing, give the same steps and result as no
    /// pauses at all; while a fired chain is paused it has no result.
    #[test]
    fn balanced_pauses_change_nothing_but_timing(
        input in input(),
        steps in steps(),
        fire_at in 0usize..13,
        schedule in prop::collection::vec(0u8..6, 0..30),
    ) {
        let fire_at = fire_at.min(steps.len());
        let log = Log::default();
        let (d, r) = Deferred::new();
        let mut d = d;
        let mut paused = 0u32;
        let mut next = 0; // the next base event: step 0..fire_at, the fire, then the rest
        let base_events = steps.len() + 1;
        let do_base = |d: Deferred<Value>, next: usize| -> Deferred<Value> {
            match next.cmp(&fire_at) {
                std::cmp::Ordering::Less => add(d, next, &steps[next], &log),
                std::cmp::Ordering::Equal => {
                    resolve(&r, &input);
                    d
                }
                std::cmp::Ordering::Greater => add(d, next - 1, &steps[next - 1], &log),
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
        let (expected_log, expected) = predicted(&input, &steps);
        prop_assert_eq!(std::mem::take(&mut *log.lock()), expected_log);
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
        let stuck: Arc<Mutex<Vec<Resolver<Value>>>> = Arc::default();
        let (d, r) = Deferred::new();
        if fate == 0 {
            resolve(&r, &input);
        }
        let mut d = d;
        for (i, step) in steps.iter().enumerate() {
            let (token, calls) = (counters[i].token(), calls[i].clone());
            let stuck = Arc::downgrade(&stuck);
            let wait = stuck_at == Some(i);
            let run = move |f: &StepFn, input: Result<Value, Failure>| -> Step<Value> {
                let _keep = &token;
                calls.fetch_add(1, Ordering::SeqCst);
                if wait {
                    let (inner, resolver) = Deferred::new();
                    stuck.upgrade().expect("alive while the test runs").lock().push(resolver);
                    return Step::Wait(inner);
                }
                match f.apply(outcome_of(&input)).expect("the laws' step functions compute") {
                    Ok(v) => Step::Value(v),
                    Err(fault) => Step::Fail(fault.to_failure()),
                }
            };
            d = match step.clone() {
                Attach::Callback(f) => d.add_callback(move |v| run(&f, Ok(v))),
                Attach::Errback(f) => d.add_errback(move |e| run(&f, Err(e))),
                Attach::Both(f) => d.add_both(move |r| run(&f, r)),
                Attach::Callbacks(f, g) => {
                    // One closure for both halves: the pair is one step, which runs once.
                    let run = Arc::new(run);
                    let other = run.clone();
                    d.add_callbacks(move |v| run(&f, Ok(v)), move |e| other(&g, Err(e)))
                }
            };
        }
        match fate {
            1 => resolve(&r, &input),
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
        let mut program = Program::new(1);
        program.ops.extend(steps.iter().map(|s| Op::Add(0, s.clone())));
        program.deferreds[0] = match &canceller {
            None => Canceller::None,
            Some(None) => Canceller::Noop,
            Some(Some(Ok(v))) => Canceller::Fire(*v),
            Some(Some(Err(Fault::Raised(tag)))) => Canceller::Fail(*tag),
            Some(Some(Err(other))) => unreachable!("not an input: {other}"),
        };
        if let Some(first) = &fire_before {
            program.ops.push(fire(0, first));
        }
        program.ops.push(Op::Cancel(0));
        program.ops.extend(late.iter().map(|l| fire(0, l)));
        let trace = runner::run(&program)?.trace;
        prop_assert_eq!(&trace, &model::run(&program)?);

        let (chain_input, swallowed) = match (&fire_before, &canceller) {
            (Some(first), _) => (first.clone(), 0),
            (None, None) => (Err(Fault::Cancelled), 1),
            (None, Some(None)) => (Err(Fault::Cancelled), 0),
            (None, Some(Some(result))) => (result.clone(), 0),
        };
        let fires: Vec<bool> = trace
            .events
            .iter()
            .filter_map(|e| match e { Event::Fired { accepted, .. } => Some(*accepted), _ => None })
            .collect();
        let late_fires = &fires[usize::from(fire_before.is_some())..];
        let expected_late: Vec<bool> = (0..late.len()).map(|i| i < swallowed).collect();
        prop_assert_eq!(late_fires, &expected_late[..]);
        let (expected_log, expected) = predicted(&chain_input, &steps);
        prop_assert_eq!(ran(&program, &trace, 0), expected_log);
        prop_assert_eq!(trace.final_state(0), Some(&FinalState::Result(expected)));
    }

    /// Law 8, chain_deferred: `a.chain_deferred(&b)` fires b with a's result exactly as firing b
    /// directly would, and a goes on with `()` (here `None`), or with `AlreadyCalledError` if b
    /// was fired first.
    #[test]
    fn chain_deferred_is_firing_the_target(
        input in input(),
        before in steps(),
        target_steps in steps(),
        target_fired_first in prop::option::of(input()),
    ) {
        let (a, b) = (0, 1);
        let mut program = Program::new(2).named(["a", "b"]);
        program.ops.extend(target_steps.iter().map(|s| Op::Add(b, s.clone())));
        if let Some(early) = &target_fired_first {
            program.ops.push(fire(b, early));
        }
        program.ops.extend(before.iter().map(|s| Op::Add(a, s.clone())));
        program.ops.push(Op::ChainDeferred(a, b));
        program.ops.push(fire(a, &input));
        let trace = runner::run(&program)?.trace;
        prop_assert_eq!(&trace, &model::run(&program)?);

        let (expected_a_log, through_a) = predicted(&input, &before);
        let b_input = target_fired_first.clone().unwrap_or(through_a);
        let (expected_b_log, expected_b) = predicted(&b_input, &target_steps);
        prop_assert_eq!(ran(&program, &trace, a), expected_a_log);
        prop_assert_eq!(ran(&program, &trace, b), expected_b_log);
        prop_assert_eq!(trace.final_state(b), Some(&FinalState::Result(expected_b)));
        let expected_a = if target_fired_first.is_some() { Err(Fault::AlreadyCalled) } else { Ok(None) };
        prop_assert_eq!(trace.final_state(a), Some(&FinalState::Result(expected_a)));
    }

    /// Law 9, the reference model: on any program (nesting, chaining, pauses, cancels with and
    /// without cancellers, steps that fire, cancel and add to other Deferreds), the crate does
    /// what the model predicts, event for event.
    #[test]
    fn the_crate_does_what_the_model_predicts(program in Shape::new()) {
        prop_assert_eq!(runner::run(&program)?.trace, model::run(&program)?);
    }

    /// Law 9 again, on programs about cancellation (more cancels, cancellers that fire other
    /// Deferreds) with steps of a user's own among the others, one of which panics.
    #[test]
    fn the_crate_does_what_the_model_predicts_with_cancels_and_custom_steps(
        program in Shape::new()
            .weight(OpKind::Cancel, 14)
            .step_weight(StepKind::Cancel, 12)
            .canceller_weight(deferreds::proptest::CancellerKind::FireOther, 35)
            .custom_step(CustomStep::new("double", |r| r.map(|v| v.map(|n| n.wrapping_mul(2)))), 6)
            .custom_step(CustomStep::new("forgive_cancel", |r| match r {
                Err(Fault::Cancelled) => Ok(None),
                other => other,
            }), 6)
            .custom_step(CustomStep::new("panics_on_none", |r| match r {
                Ok(None) => panic!("no value"),
                other => other,
            }), 2),
    ) {
        prop_assert_eq!(runner::run(&program)?.trace, model::run(&program)?);
    }
}
