//! The reference model: a small, pure interpreter of the Deferred semantics that predicts what
//! a [`Program`] does, event by event.
//!
//! It knows nothing of the crate's engine. A chain here is a result slot, a queue of steps, a
//! pause count, the chain waiting on it, and three flags (running, the grace of a cancel
//! without canceller, a canceller running); the rules are Twisted's (`docs/conformance.md`
//! lists them, with the notes they come from), with the crate's deliberate differences:
//!
//! - **The unique tail** (C1): an operation that needs a tail a nest step owns, or one that an
//!   operation further up the stack is still using, does nothing and records
//!   [`Event::Unavailable`].
//! - **A step returning a Deferred whose own steps are running** waits for the end of that
//!   chain (C2), where Twisted takes its intermediate result.
//! - **`unpause` of a Deferred that is not paused** is refused ([`Event::UnpauseRefused`],
//!   C3), where Twisted's counter goes negative.
//! - **A cancel made while the canceller runs** does nothing (X2).
//! - **A wait that would close a circle** fails with `CircularChainError` (C6b).
//!
//! Firing runs the steps at once, on the caller's stack; a chain's run hands its result to the
//! chain waiting on it and goes on with that one; `chain_deferred` runs its target and then
//! resumes. Steps added while a chain runs go to the end of its queue, and a step added to a
//! fired, idle chain runs inside the `add_*` call. The model checks itself against Twisted's
//! own traces: `tests/conformance/` runs it on every recorded program.
//!
//! ```
//! use deferreds::proptest::{Attach, Event, Fault, FinalState, Op, Program, StepFn, StepId, model};
//!
//! // d0's first step returns d1, so cancelling d0 cancels d1, whose failure d0's errback gets.
//! let mut program = Program::new(2);
//! program.ops = vec![
//!     Op::Add(0, Attach::Callback(StepFn::Nest(1))),
//!     Op::Add(0, Attach::Errback(StepFn::Recover(Some(0)))),
//!     Op::Callback(0, Some(1)),
//!     Op::Cancel(0), // d0 waits on d1: the cancel goes to d1
//! ];
//! let trace = model::run(&program).unwrap();
//! assert_eq!(trace.events[2], Event::Step { d: 0, step: StepId::Op(1), input: Err(Fault::Cancelled) });
//! assert_eq!(trace.final_state(0), Some(&FinalState::Result(Ok(Some(0)))));
//! ```

use std::collections::VecDeque;

use super::event::{Event, FinalState, StepId, Trace};
use super::outcome::{Fault, Outcome};
use super::program::{Attach, Canceller, InvalidProgram, Op, Program, StepFn};

mod drive;

/// Runs `program` in the model and returns the trace it predicts: the same events, in the
/// same order, as [`runner::run`](super::runner::run) records on the crate.
///
/// The model is for short programs: it recurses once per step that fires or cancels another
/// Deferred from inside a step, as the real call stack does.
///
/// ```
/// use deferreds::proptest::{Attach, Canceller, Event, Op, Program, StepFn, model, runner};
///
/// let mut program = Program::new(2);
/// program.deferreds[0] = Canceller::FireOther(1, Some(7));
/// program.ops = vec![
///     Op::Add(1, Attach::Callback(StepFn::Fire(0, Some(8)))),
///     Op::Cancel(0), // the canceller fires d1, whose step fires d0 first
/// ];
/// let trace = model::run(&program).unwrap();
/// assert_eq!(trace, runner::run(&program).unwrap().trace);
/// assert!(matches!(trace.events[0], Event::Step { d: 1, .. }));
/// ```
pub fn run(program: &Program) -> Result<Trace, InvalidProgram> {
    program.validate()?;
    let mut model = Model::new(program);
    for (i, op) in program.ops.iter().enumerate() {
        model.op(i, op);
    }
    model.finish();
    Ok(Trace::new(model.events, program.names.clone()))
}

/// Where a Deferred's tail is, as far as the program can reach it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// In the program's hands.
    Here,
    /// Borrowed by an operation in progress.
    Out,
    /// Owned by a nest step.
    Gone,
}

enum Slot {
    /// Not fired; with its canceller, if it still has one.
    Pending(Option<Canceller>),
    Ready(Outcome),
    /// Waiting on the chain a step returned.
    Waiting(usize),
    /// A step has the value, or the result was handed on.
    Empty,
}

struct Chain {
    slot: Slot,
    steps: VecDeque<Queued>,
    /// The chain that takes this one's result once its steps are done.
    waiter: Option<usize>,
    /// The program's pauses: the model pauses no chain itself (a chain waiting on another is
    /// [`Slot::Waiting`]), so these are all there are.
    paused: u32,
    running: bool,
    /// Cancelled without a canceller: the next fire is swallowed.
    grace: bool,
    /// Its canceller is running: another cancel does nothing.
    cancelling: bool,
}

/// A step in a chain's queue.
#[derive(Clone)]
enum Queued {
    /// One of the program's steps; `owned` are the Deferreds whose tails its nest functions
    /// took when it was added.
    Program { d: usize, id: StepId, attach: Attach, owned: Vec<usize> },
    /// The step `chain_deferred` adds: fire the target with the input.
    ChainTo(usize),
    /// The step after it, which turns the `()` it continues with into `None`.
    ToNone,
}

/// What a step gave.
enum Out {
    Ready(Outcome),
    Wait(usize),
    Fire(usize, Outcome),
}

enum Work {
    Run(VecDeque<Queued>, Outcome),
    Settle(Out, Option<VecDeque<Queued>>),
    Deliver(usize, Outcome),
    Idle,
}

enum Fired {
    Run(Work),
    Stored,
    Swallowed,
}

enum Settled {
    Store(Outcome),
    Wait(usize),
    Switch(usize, Work),
}

struct Model {
    chains: Vec<Chain>,
    tails: Vec<Tail>,
    /// A nest step took (or tried to take) the tail.
    nested: Vec<bool>,
    events: Vec<Event>,
}

impl Model {
    fn new(program: &Program) -> Model {
        let n = program.deferreds.len();
        let chains = program
            .deferreds
            .iter()
            .map(|canceller| Chain {
                slot: Slot::Pending(match canceller {
                    Canceller::None => None,
                    other => Some(*other),
                }),
                steps: VecDeque::new(),
                waiter: None,
                paused: 0,
                running: false,
                grace: false,
                cancelling: false,
            })
            .collect();
        Model { chains, tails: vec![Tail::Here; n], nested: vec![false; n], events: Vec::new() }
    }

    fn op(&mut self, i: usize, op: &Op) {
        match *op {
            Op::Add(d, ref attach) => {
                self.with_tail(d, |model| model.add(d, StepId::Op(i), attach))
            }
            Op::Callback(d, v) => {
                let accepted = self.fire(d, Ok(v));
                self.events.push(Event::Fired { d, accepted });
            }
            Op::Errback(d, tag) => {
                let accepted = self.fire(d, Err(Fault::Raised(tag)));
                self.events.push(Event::Fired { d, accepted });
            }
            Op::Pause(d) => {
                self.chains[d].paused += 1;
            }
            Op::Unpause(d) => {
                if self.chains[d].paused == 0 {
                    self.events.push(Event::UnpauseRefused(d));
                } else {
                    self.chains[d].paused -= 1;
                    if let Some(work) = self.claim(d) {
                        self.drive(d, work);
                    }
                }
            }
            Op::Cancel(d) => self.with_tail(d, |model| model.cancel(d)),
            Op::ChainDeferred(d, e) => self.with_tail(d, |model| {
                model.push(d, Queued::ChainTo(e));
                model.push(d, Queued::ToNone);
            }),
        }
    }

    /// Lends Deferred k's tail to `f` for an operation, or records that it is out of reach.
    fn with_tail(&mut self, k: usize, f: impl FnOnce(&mut Model)) {
        if self.tails[k] == Tail::Here {
            self.tails[k] = Tail::Out;
            f(self);
            self.tails[k] = Tail::Here;
        } else {
            self.events.push(Event::Unavailable(k));
        }
    }

    /// Adds a step to Deferred d, whose tail the caller holds. Its nest functions take their
    /// Deferreds' tails now, each once.
    fn add(&mut self, d: usize, id: StepId, attach: &Attach) {
        let mut seen = Vec::new();
        let mut owned = Vec::new();
        for f in attach.fns() {
            if let StepFn::Nest(j) = *f {
                if seen.contains(&j) {
                    continue;
                }
                seen.push(j);
                if self.tails[j] == Tail::Here {
                    self.tails[j] = Tail::Gone;
                    owned.push(j);
                } else {
                    self.events.push(Event::Unavailable(j));
                }
            }
        }
        for j in seen {
            self.nested[j] = true;
        }
        self.push(d, Queued::Program { d, id, attach: attach.clone(), owned });
    }

    fn is_ready(&self, c: usize) -> bool {
        matches!(self.chains[c].slot, Slot::Ready(_))
    }

    /// Fired, idle, unpaused, with no step left: its result can be read or taken over.
    fn settled(&self, c: usize) -> bool {
        let chain = &self.chains[c];
        self.is_ready(c) && !chain.running && chain.paused == 0 && chain.steps.is_empty()
    }

    fn take_ready(&mut self, c: usize) -> Outcome {
        match std::mem::replace(&mut self.chains[c].slot, Slot::Empty) {
            Slot::Ready(outcome) => outcome,
            _ => unreachable!("only a chain with a result gives it up"),
        }
    }

    /// Appends a step, running it at once if the chain is fired and idle.
    fn push(&mut self, c: usize, step: Queued) {
        if !self.settled(c) {
            self.chains[c].steps.push_back(step);
            return;
        }
        let input = self.take_ready(c);
        self.chains[c].running = true;
        let out = self.call(step, input);
        self.drive(c, Work::Settle(out, None));
    }

    /// One [`Event::Final`] per Deferred.
    fn finish(&mut self) {
        for d in 0..self.chains.len() {
            let called = !matches!(self.chains[d].slot, Slot::Pending(_));
            let paused = self.chains[d].paused;
            let state = if self.nested[d] {
                FinalState::Nested
            } else if !called {
                FinalState::Pending
            } else if paused > 0 {
                FinalState::Paused
            } else if matches!(self.chains[d].slot, Slot::Waiting(_)) {
                FinalState::Waiting
            } else if self.settled(d) {
                FinalState::Result(self.take_ready(d))
            } else {
                unreachable!("a chain the program holds ends settled, paused, waiting or pending")
            };
            self.events.push(Event::Final { d, called, paused, state });
        }
    }
}
