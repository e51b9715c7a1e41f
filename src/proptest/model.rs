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
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::event::{Event, FinalState, StepId, Trace};
use super::outcome::{Fault, Outcome};
use super::program::{Attach, Canceller, InvalidProgram, Op, Program, StepFn};
use crate::failure::Failure;

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
    /// The program's own pauses.
    pauses: Vec<u32>,
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
        Model {
            chains,
            tails: vec![Tail::Here; n],
            nested: vec![false; n],
            pauses: vec![0; n],
            events: Vec::new(),
        }
    }

    fn op(&mut self, i: usize, op: &Op) {
        match *op {
            Op::Add(d, ref attach) => {
                if self.take(d) {
                    self.add(d, StepId::Op(i), attach);
                    self.tails[d] = Tail::Here;
                }
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
                self.pauses[d] += 1;
            }
            Op::Unpause(d) => {
                if self.chains[d].paused == 0 {
                    self.events.push(Event::UnpauseRefused(d));
                } else {
                    self.chains[d].paused -= 1;
                    self.pauses[d] -= 1;
                    if let Some(work) = self.claim(d) {
                        self.drive(d, work);
                    }
                }
            }
            Op::Cancel(d) => {
                if self.take(d) {
                    self.cancel(d);
                    self.tails[d] = Tail::Here;
                }
            }
            Op::ChainDeferred(d, e) => {
                if self.take(d) {
                    self.push(d, Queued::ChainTo(e));
                    self.push(d, Queued::ToNone);
                    self.tails[d] = Tail::Here;
                }
            }
        }
    }

    /// Borrows Deferred k's tail for an operation, or records that it is out of reach.
    fn take(&mut self, k: usize) -> bool {
        if self.tails[k] == Tail::Here {
            self.tails[k] = Tail::Out;
            true
        } else {
            self.events.push(Event::Unavailable(k));
            false
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

    /// Fires chain c; whether the fire was accepted.
    fn fire(&mut self, c: usize, result: Outcome) -> bool {
        match self.fire_inner(c, result) {
            Some(Fired::Run(work)) => {
                self.drive(c, work);
                true
            }
            Some(_) => true,
            None => false,
        }
    }

    /// Stores a result in a pending chain; `None` if it had one (`AlreadyCalledError`).
    fn fire_inner(&mut self, c: usize, result: Outcome) -> Option<Fired> {
        let chain = &mut self.chains[c];
        if let Slot::Pending(_) = chain.slot {
            chain.slot = Slot::Ready(result);
            Some(match self.claim(c) {
                Some(work) => Fired::Run(work),
                None => Fired::Stored,
            })
        } else if chain.grace {
            chain.grace = false;
            Some(Fired::Swallowed)
        } else {
            None
        }
    }

    /// Takes over the run of chain c if nobody runs it and nothing holds it back.
    fn claim(&mut self, c: usize) -> Option<Work> {
        let chain = &self.chains[c];
        if chain.running || chain.paused > 0 || !self.is_ready(c) {
            return None;
        }
        self.chains[c].running = true;
        Some(self.next_work(c))
    }

    /// What the owner of chain c's run does next; it lets the run go unless it is more steps.
    fn next_work(&mut self, c: usize) -> Work {
        if self.chains[c].paused > 0 || !self.is_ready(c) {
            self.chains[c].running = false;
            return Work::Idle;
        }
        if !self.chains[c].steps.is_empty() {
            let batch = std::mem::take(&mut self.chains[c].steps);
            return Work::Run(batch, self.take_ready(c));
        }
        self.chains[c].running = false;
        match self.chains[c].waiter.take() {
            Some(outer) => Work::Deliver(outer, self.take_ready(c)),
            None => Work::Idle,
        }
    }

    /// Runs chains until there is nothing left to do: the steps of `c`, then whatever its
    /// result reaches. Chains fired through `chain_deferred` run before their firer resumes.
    fn drive(&mut self, c: usize, work: Work) {
        let mut current = c;
        let mut work = work;
        let mut parents = Vec::new();
        loop {
            work = match work {
                Work::Run(mut batch, mut input) => loop {
                    let step = batch.pop_front().expect("a batch is never empty");
                    match self.call(step, input) {
                        Out::Ready(r) if !batch.is_empty() && self.chains[current].paused == 0 => {
                            input = r;
                        }
                        out => break Work::Settle(out, Some(batch)),
                    }
                },
                Work::Settle(out, rest) => {
                    let settled = match out {
                        Out::Ready(r) => Settled::Store(r),
                        Out::Wait(j) if j == current => Settled::Store(Err(Fault::CircularChain)),
                        Out::Wait(j) => {
                            if self.settled(j) {
                                Settled::Store(self.take_ready(j))
                            } else {
                                self.chains[j].waiter = Some(current);
                                Settled::Wait(j)
                            }
                        }
                        Out::Fire(target, r) => match self.fire_inner(target, r) {
                            Some(Fired::Run(target_work)) => Settled::Switch(target, target_work),
                            Some(_) => Settled::Store(Ok(None)),
                            None => Settled::Store(Err(Fault::AlreadyCalled)),
                        },
                    };
                    if let Some(rest) = rest {
                        let steps = &mut self.chains[current].steps;
                        for step in rest.into_iter().rev() {
                            steps.push_front(step);
                        }
                    }
                    match settled {
                        Settled::Store(r) => self.chains[current].slot = Slot::Ready(r),
                        Settled::Wait(j) => {
                            self.chains[current].slot = Slot::Waiting(j);
                            if self.chains[current].waiter.is_some() && self.waits_on(j, current) {
                                self.chains[j].waiter = None;
                                self.chains[current].slot = Slot::Ready(Err(Fault::CircularChain));
                            }
                        }
                        Settled::Switch(target, target_work) => {
                            // The firer goes on with `()` (here `None`) once the target's run ends.
                            self.chains[current].slot = Slot::Ready(Ok(None));
                            parents.push(current);
                            current = target;
                            work = target_work;
                            continue;
                        }
                    }
                    self.next_work(current)
                }
                Work::Deliver(outer, r) => {
                    self.chains[outer].slot = Slot::Ready(r);
                    match self.claim(outer) {
                        Some(next) => {
                            current = outer;
                            next
                        }
                        None => Work::Idle,
                    }
                }
                Work::Idle => match parents.pop() {
                    Some(parent) => {
                        current = parent;
                        self.next_work(parent)
                    }
                    None => return,
                },
            };
        }
    }

    /// Whether chain j waits, through the chains its steps returned, on chain c.
    fn waits_on(&self, j: usize, c: usize) -> bool {
        let mut k = j;
        for _ in 0..self.chains.len() {
            match self.chains[k].slot {
                Slot::Waiting(next) if next == c => return true,
                Slot::Waiting(next) => k = next,
                _ => return false,
            }
        }
        false
    }

    /// Runs one queued step.
    fn call(&mut self, step: Queued, input: Outcome) -> Out {
        match step {
            Queued::ToNone => Out::Ready(input),
            Queued::ChainTo(e) => Out::Fire(e, input),
            Queued::Program { d, id, attach, owned } => match attach.fn_for(&input) {
                None => Out::Ready(input),
                Some(f) => {
                    self.events.push(Event::Step { d, step: id, input: input.clone() });
                    self.step_fn(id, f, &owned, input)
                }
            },
        }
    }

    /// What a step function does.
    fn step_fn(&mut self, id: StepId, f: &StepFn, owned: &[usize], input: Outcome) -> Out {
        match *f {
            StepFn::Nest(j) if owned.contains(&j) => Out::Wait(j),
            // Its tail was out of reach when the step was added (recorded then).
            StepFn::Nest(_) => Out::Ready(input),
            StepFn::NestFired(v) => Out::Ready(Ok(v)),
            StepFn::NestFailed(tag) => Out::Ready(Err(Fault::Raised(tag))),
            StepFn::Fire(k, v) => {
                if self.fire(k, Ok(v)) {
                    Out::Ready(input)
                } else {
                    Out::Ready(Err(Fault::AlreadyCalled))
                }
            }
            StepFn::Cancel(k) => {
                if self.take(k) {
                    self.cancel(k);
                    self.tails[k] = Tail::Here;
                }
                Out::Ready(input)
            }
            StepFn::AddTo(k, ref attach) => {
                if self.take(k) {
                    self.add(k, id.added(), attach);
                    self.tails[k] = Tail::Here;
                }
                Out::Ready(input)
            }
            _ => {
                let output = catch_unwind(AssertUnwindSafe(|| f.apply(input)));
                match output {
                    Ok(output) => Out::Ready(output.expect("the other step functions compute")),
                    Err(payload) => Out::Ready(Err(Fault::of(&Failure::from_panic(payload)))),
                }
            }
        }
    }

    /// Cancels chain c, or the innermost chain it waits on.
    fn cancel(&mut self, c: usize) {
        let mut current = c;
        loop {
            let chain = &mut self.chains[current];
            match chain.slot {
                Slot::Pending(_) if chain.cancelling => return,
                Slot::Pending(None) => {
                    chain.grace = true;
                    self.fire(current, Err(Fault::Cancelled));
                    return;
                }
                Slot::Pending(Some(canceller)) => {
                    chain.slot = Slot::Pending(None);
                    chain.cancelling = true;
                    self.run_canceller(current, canceller);
                    self.chains[current].cancelling = false;
                    // Unless the canceller fired it, it fails now.
                    self.fire(current, Err(Fault::Cancelled));
                    return;
                }
                Slot::Waiting(inner) => current = inner,
                _ => return,
            }
        }
    }

    fn run_canceller(&mut self, c: usize, canceller: Canceller) {
        match canceller {
            Canceller::None | Canceller::Noop => {}
            Canceller::Fire(v) => {
                self.fire(c, Ok(v));
            }
            Canceller::Fail(tag) => {
                self.fire(c, Err(Fault::Raised(tag)));
            }
            Canceller::FireOther(k, v) => {
                self.fire(k, Ok(v));
            }
        }
    }

    /// One [`Event::Final`] per Deferred.
    fn finish(&mut self) {
        for d in 0..self.chains.len() {
            let called = !matches!(self.chains[d].slot, Slot::Pending(_));
            let paused = self.pauses[d];
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
