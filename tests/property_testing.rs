//! `deferreds::proptest` itself: what its strategies generate and how they shrink, what the
//! runner reports, and the guide's worked example (`examples/retrying_client.rs`, chapter
//! `docs/guide/13-property-testing.md`). The laws and the conformance replay use the module
//! too; these are the cases they do not reach.

use std::collections::HashSet;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use deferreds::proptest::runner::{Runner, TakeError};
use deferreds::proptest::{
    Attach, Canceller, CancellerKind, CustomStep, Event, Fault, FinalState, InvalidProgram, Op,
    OpKind, Program, Shape, StepFn, StepKind, Tag, model, runner,
};
use deferreds::testing::failure_result_of;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/retrying_client.rs"]
mod retrying_client;

#[path = "conformance/typing.rs"]
mod typing;

use retrying_client::{Client, check_many};

fn deterministic(cases: u32) -> TestRunner {
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

fn sample(shape: &Shape, count: usize) -> Vec<Program> {
    let mut runner = deterministic(1);
    let programs = shape.programs();
    (0..count).map(|_| programs.new_tree(&mut runner).unwrap().current()).collect()
}

// ---- The guide's example.

#[test]
fn the_retrying_client_keeps_its_promise_on_every_interleaving() {
    if let Err(shrunk) = check_many(Client::Fixed, 3000) {
        panic!("the client fails:\n{shrunk}");
    }
}

/// The planted bug is found, shrinks to two operations, and the chapter shows that very case.
#[test]
fn the_planted_bug_shrinks_to_the_case_the_guide_shows() {
    let shrunk = check_many(Client::PlantedBug, 1000).expect_err("the planted bug is found");
    let expected = "Deferreds: reply0, reply1, timer0, timer1, caller\n\
                    0. timer0.callback(None)\n\
                    1. reply0.callback(None)\n";
    assert!(shrunk.starts_with(expected), "shrunk to:\n{shrunk}");
    assert!(shrunk.contains("why: the caller got Err(Cancelled)"), "shrunk to:\n{shrunk}");
    let chapter = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/guide/13-property-testing.md"),
    )
    .expect("the chapter is there");
    assert!(chapter.contains(&shrunk), "the chapter shows another case than:\n{shrunk}");
}

// ---- Strategies.

/// A property that fails on any program whose first Deferred ends cancelled shrinks to the one
/// operation that does it, with one Deferred.
#[test]
fn a_failing_case_shrinks_to_a_short_program() {
    let mut runner = deterministic(256);
    let result = runner.run(&Shape::new(), |program| {
        let trace = model::run(&program)?;
        let cancelled = FinalState::Result(Err(Fault::Cancelled));
        if trace.final_state(0) == Some(&cancelled) {
            return Err(TestCaseError::fail("d0 ended cancelled"));
        }
        Ok(())
    });
    match result {
        Err(TestError::Fail(_, program)) => {
            assert_eq!(program.to_string(), "Deferreds: d0\n0. d0.cancel()\n");
        }
        other => panic!("expected a shrunk failure, got {other:?}"),
    }
}

/// Generated programs are ones Rust can express: nothing is added to, cancelled or chained from
/// a Deferred once a step that nests it was added, nothing is nested twice or in itself, no
/// Deferred is chained into itself, no canceller fires its own Deferred, an unpause follows a
/// pause, and every index is in range.
#[test]
fn generated_programs_respect_what_typing_forbids() {
    for program in sample(&Shape::new().deferreds(1..=5), 2000) {
        assert_eq!(program.validate(), Ok(()));
        assert_eq!(typing::broken_rule(&program), None, "in\n{program}");
    }
}

fn op_kind(op: &Op) -> OpKind {
    match op {
        Op::Add(_, Attach::Callback(_)) => OpKind::AddCallback,
        Op::Add(_, Attach::Errback(_)) => OpKind::AddErrback,
        Op::Add(_, Attach::Both(_)) => OpKind::AddBoth,
        Op::Add(_, Attach::Callbacks(..)) => OpKind::AddCallbacks,
        Op::Callback(..) => OpKind::Callback,
        Op::Errback(..) => OpKind::Errback,
        Op::Pause(_) => OpKind::Pause,
        Op::Unpause(_) => OpKind::Unpause,
        Op::Cancel(_) => OpKind::Cancel,
        Op::ChainDeferred(..) => OpKind::ChainDeferred,
    }
}

fn step_kinds(attach: &Attach, into: &mut HashSet<String>) {
    for f in attach.fns() {
        let name = match f {
            StepFn::Custom(step) => step.name().to_owned(),
            other => format!("{other:?}").split('(').next().unwrap().to_owned(),
        };
        into.insert(name);
        if let StepFn::AddTo(_, inner) = f {
            step_kinds(inner, into);
        }
    }
}

/// With the default weights every kind of operation, step function and canceller turns up,
/// custom steps included; a weight of 0 keeps a kind out.
#[test]
fn weights_decide_what_programs_contain() {
    let custom = CustomStep::new("custom_pass", |input| input);
    let programs = sample(&Shape::new().custom_step(custom, 5), 1000);
    let ops: HashSet<OpKind> = programs.iter().flat_map(|p| p.ops.iter().map(op_kind)).collect();
    assert_eq!(ops.len(), OpKind::ALL.len(), "{ops:?}");
    let mut steps = HashSet::new();
    for op in programs.iter().flat_map(|p| &p.ops) {
        if let Op::Add(_, attach) = op {
            step_kinds(attach, &mut steps);
        }
    }
    assert_eq!(steps.len(), StepKind::ALL.len() + 1, "{steps:?}");
    let cancellers: HashSet<String> = programs
        .iter()
        .flat_map(|p| {
            p.deferreds.iter().map(|c| format!("{c:?}").split('(').next().unwrap().to_owned())
        })
        .collect();
    assert_eq!(cancellers.len(), CancellerKind::ALL.len(), "{cancellers:?}");

    let shape = Shape::new()
        .weight(OpKind::Cancel, 0)
        .step_weight(StepKind::Nest, 0)
        .canceller_weight(CancellerKind::FireOther, 0)
        .settle(0.0);
    for program in sample(&shape, 500) {
        assert!(!program.ops.iter().any(|op| matches!(op, Op::Cancel(_))), "{program}");
        let mut steps = HashSet::new();
        for op in &program.ops {
            if let Op::Add(_, attach) = op {
                step_kinds(attach, &mut steps);
            }
        }
        assert!(!steps.contains("Nest"), "{program}");
        assert!(!program.deferreds.iter().any(|c| matches!(c, Canceller::FireOther(..))));
    }
}

/// The steps for chains of one's own only compute: no nesting, not even of a fired Deferred.
#[test]
fn steps_for_chains_of_your_own_only_compute() {
    let custom = CustomStep::new("custom_pass", |input| input);
    let attaches = Shape::new().custom_step(custom, 5).attaches();
    let mut runner = deterministic(1);
    for _ in 0..2000 {
        let attach = attaches.new_tree(&mut runner).unwrap().current();
        for f in attach.fns() {
            assert!(f.apply(Ok(Some(1))).is_some(), "{f} does not only compute");
        }
    }
}

/// With no kind of operation allowed, programs are empty; with an exact number of Deferreds,
/// shrinking keeps it.
#[test]
fn shapes_hold_their_bounds() {
    let none = Shape::new().only(&[]).settle(0.0);
    assert!(sample(&none, 50).iter().all(|p| p.ops.is_empty()));
    let exact = Shape::new().deferreds(3).names(["a", "b", "c"]);
    assert!(
        sample(&exact, 50).iter().all(|p| p.deferreds.len() == 3 && p.names == ["a", "b", "c"])
    );
    let mut runner = deterministic(256);
    let result = runner.run(&exact, |program| {
        let any_fire = program.ops.iter().any(|op| matches!(op, Op::Callback(..)));
        if any_fire { Err(TestCaseError::fail("fires")) } else { Ok(()) }
    });
    match result {
        Err(TestError::Fail(_, program)) => {
            assert_eq!(program.to_string(), "Deferreds: a, b, c\n0. a.callback(None)\n");
        }
        other => panic!("expected a shrunk failure, got {other:?}"),
    }
}

// ---- The runner.

/// A failure left in a chain that your code held and dropped is reported; one the final
/// states read is not.
#[test]
fn the_runner_reports_failures_nobody_handled() {
    let mut program = Program::new(2);
    program.ops = vec![Op::Errback(0, Tag::E0), Op::Errback(1, Tag::E1)];
    let mut runner = Runner::new(&program).unwrap();
    drop(runner.take(0).unwrap());
    let run = runner.run();
    assert_eq!(run.unhandled, [Fault::Raised(Tag::E0)]);
    assert_eq!(run.trace.final_state(1), Some(&FinalState::Result(Err(Fault::Raised(Tag::E1)))));
}

/// Your code's steps on a taken Deferred run when the program fires it, and what the program
/// cannot do to it (add a step, cancel it) is recorded as unavailable.
#[test]
fn a_taken_deferred_is_fired_by_the_program_and_out_of_its_reach() {
    let mut program = Program::new(1);
    program.ops =
        vec![Op::Add(0, Attach::Callback(StepFn::Pass)), Op::Cancel(0), Op::Errback(0, Tag::E2)];
    let mut runner = Runner::new(&program).unwrap();
    let held = runner.take(0).unwrap();
    assert_eq!(runner.take(0).unwrap_err(), TakeError::HandedOver(0));
    let run = runner.run();
    assert_eq!(
        run.trace.events,
        [
            Event::Unavailable(0),
            Event::Unavailable(0),
            Event::Fired { d: 0, accepted: true },
            Event::Final { d: 0, called: true, paused: 0, state: FinalState::Held },
        ]
    );
    assert!(failure_result_of(held).check::<Tag>());
}

/// A Deferred your code made takes the place of the program's: the program adds to it and
/// cancels it; its fires find no resolver.
#[test]
fn an_adopted_deferred_takes_steps_and_cancels_but_not_fires() {
    let mut program = Program::new(1);
    program.ops = vec![
        Op::Callback(0, Some(1)),
        Op::Add(0, Attach::Errback(StepFn::Recover(Some(7)))),
        Op::Cancel(0),
    ];
    let mut runner = Runner::new(&program).unwrap();
    let (mine, _resolver) = deferreds::Deferred::new();
    runner.adopt(0, mine).unwrap();
    assert_eq!(runner.adopt(0, deferreds::succeed(None)).unwrap_err(), TakeError::HandedOver(0));
    let run = runner.run();
    assert_eq!(run.trace.events[0], Event::Unavailable(0));
    assert_eq!(run.trace.final_state(0), Some(&FinalState::Result(Ok(Some(7)))));
    assert!(run.unhandled.is_empty());
}

/// A program that reaches for a tail a nest step owns gets the same answer from the runner
/// and the model: unavailable, and nothing done.
#[test]
fn the_unique_tail_is_unavailable_on_both_sides() {
    let mut program = Program::new(2);
    program.ops = vec![
        Op::Add(0, Attach::Callback(StepFn::Nest(1))),
        Op::Add(1, Attach::Callback(StepFn::Add(1))),
        Op::Cancel(1),
        Op::ChainDeferred(1, 0),
        Op::Callback(1, Some(1)),
        Op::Callback(0, None),
    ];
    let predicted = model::run(&program).unwrap();
    assert_eq!(runner::run(&program).unwrap().trace, predicted);
    let unavailable = predicted.events.iter().filter(|e| **e == Event::Unavailable(1)).count();
    assert_eq!(unavailable, 3);
    assert_eq!(predicted.final_state(0), Some(&FinalState::Result(Ok(Some(1)))));
}

/// The model and the runner refuse a program with an index out of range, with the same error.
#[test]
fn an_invalid_program_is_refused_with_a_typed_error() {
    let mut program = Program::new(2);
    program
        .ops
        .push(Op::Add(0, Attach::Both(StepFn::AddTo(4, Box::new(Attach::Both(StepFn::Pass))))));
    let expected =
        InvalidProgram::NoSuchDeferred { d: 4, deferreds: 2, at: "operation 0".to_owned() };
    assert_eq!(model::run(&program).unwrap_err(), expected);
    assert_eq!(runner::run(&program).unwrap_err(), expected);
    let named = Program::new(2).named(["only one"]);
    assert_eq!(named.validate(), Err(InvalidProgram::Names { deferreds: 2, names: 1 }));
}

/// A panic in a custom step fails its chain with the panic, on both sides.
#[test]
fn a_panicking_custom_step_fails_its_chain_with_the_panic() {
    let panics = CustomStep::new("panics", |_| panic!("step went wrong"));
    let mut program = Program::new(1);
    program.ops = vec![Op::Add(0, Attach::Callback(StepFn::Custom(panics))), Op::Callback(0, None)];
    let run = runner::run(&program).unwrap();
    let expected = FinalState::Result(Err(Fault::Panic("step went wrong".into())));
    assert_eq!(run.trace.final_state(0), Some(&expected));
    assert_eq!(run.trace, model::run(&program).unwrap());
}
