//! The runner: performs a [`Program`] on this crate, through its public API only, and records
//! the same [`Trace`] the [model](super::model) predicts.
//!
//! Each Deferred of the program is made as its [`Canceller`] says and kept in a table: its
//! tail, and its resolver if the program ever fires, pauses, chains into or nests it (the
//! others keep their tail as their only handle, which is a path of its own in the engine).
//! Each operation is the call you would write:
//!
//! | operation | call |
//! |---|---|
//! | [`Op::Add`] | `d.add_callback(f)`, `add_errback`, `add_both` or `add_callbacks` |
//! | [`Op::Callback`], [`Op::Errback`] | `resolver.callback(v)`, `resolver.errback(Failure::new(tag))` |
//! | [`Op::Pause`] | `d.pause()`, or `resolver.pause()` once the tail is out of reach |
//! | [`Op::Unpause`] | `resolver.unpause()` |
//! | [`Op::Cancel`] | `d.cancel()` |
//! | [`Op::ChainDeferred`] | `d.chain_deferred(&resolver_e).map(\|()\| None)` |
//!
//! An operation that needs a tail takes it out of the table for the length of the call and
//! puts the new tail back; a step that reaches for a tail that is out (see
//! [`Event::Unavailable`]) does nothing. At the end, the runner records each Deferred's
//! [final state](Event::Final), taking its result out of the chain.
//!
//! # Your own code in a run
//!
//! A [`Runner`] lets your code take part: [`Runner::take`] hands a Deferred's tail to it (the
//! program still fires, pauses and unpauses that Deferred), and [`Runner::adopt`] puts a
//! Deferred your code made in the program's hands (the program adds to it, pauses, cancels and
//! chains it, and records its final state). [`Run::unhandled`] then tells whether your code
//! left a failure unhandled. `docs/guide/13-property-testing.md` tests a retrying client this
//! way.
//!
//! ```
//! use deferreds::Deferred;
//! use deferreds::proptest::{FinalState, Op, Program, runner::Runner};
//!
//! let mut program = Program::new(2).named(["reply", "result"]);
//! program.ops = vec![Op::Callback(0, Some(20))];
//! let mut runner = Runner::new(&program).unwrap();
//! let reply: Deferred<Option<i64>> = runner.take(0).unwrap();
//! runner.adopt(1, reply.map(|v| v.map(|n| n + 1))).unwrap();
//! let run = runner.run();
//! assert_eq!(run.trace.final_state(0), Some(&FinalState::Held));
//! assert_eq!(run.trace.final_state(1), Some(&FinalState::Result(Ok(Some(21)))));
//! assert!(run.unhandled.is_empty());
//! ```

use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::event::{Event, FinalState, StepId, Trace};
use super::outcome::{Fault, Value, outcome_of};
use super::program::{Attach, Canceller, InvalidProgram, Op, Program, StepFn};
use crate::deferred::resolver::Resolver;
use crate::deferred::step::{Step, TryResult};
use crate::deferred::{Deferred, fail, succeed};
use crate::failure::Failure;
use crate::testing::capture_unhandled;

/// Runs `program` on the crate and returns what it recorded.
///
/// ```
/// use deferreds::proptest::{Attach, Op, Program, StepFn, model, runner};
/// let mut program = Program::new(1);
/// program.ops = vec![Op::Add(0, Attach::Both(StepFn::Add(1))), Op::Cancel(0)];
/// let run = runner::run(&program).unwrap();
/// assert_eq!(run.trace, model::run(&program).unwrap());
/// assert!(run.unhandled.is_empty()); // the TypeError ends the chain, and the runner read it
/// ```
pub fn run(program: &Program) -> Result<Run, InvalidProgram> {
    Ok(Runner::new(program)?.run())
}

/// What a run recorded.
///
/// ```
/// use deferreds::proptest::{Fault, Op, Program, Tag, runner};
/// let mut program = Program::new(1);
/// program.ops = vec![Op::Pause(0), Op::Errback(0, Tag::E1)];
/// let run = runner::run(&program).unwrap();
/// // Still paused at the end, so its failure was never read: released, nothing handles it.
/// assert_eq!(run.unhandled, [Fault::Raised(Tag::E1)]);
/// ```
#[derive(Debug)]
pub struct Run {
    /// The events, as [`model::run`](super::model::run) predicts them.
    pub trace: Trace,
    /// The failures reported unhandled (see
    /// [`set_unhandled_hook`](crate::set_unhandled_hook)) while the program ran, and when the
    /// runner let go of its handles at the end, with the program's outstanding pauses undone:
    /// failures that no step handled and that the final states did not read, such as one left
    /// in a chain your code held, or one a paused chain held. (Deferreds of the program left
    /// unfired are then fired with `None`, so that chains holding each other are freed; what
    /// that reports is not counted.)
    pub unhandled: Vec<Fault>,
}

/// [`Runner::take`] or [`Runner::adopt`] was asked for a Deferred the program does not have,
/// or one already handed over.
///
/// ```
/// use deferreds::proptest::{Program, runner::{Runner, TakeError}};
/// let mut runner = Runner::new(&Program::new(1)).unwrap();
/// let _tail = runner.take(0).unwrap();
/// assert_eq!(runner.take(0).unwrap_err(), TakeError::HandedOver(0));
/// assert_eq!(runner.take(5).unwrap_err(), TakeError::NoSuchDeferred { d: 5, deferreds: 1 });
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TakeError {
    /// An index past the end of the program's Deferreds.
    #[error("the program has {deferreds} Deferreds; there is no Deferred {d}")]
    NoSuchDeferred {
        /// The index.
        d: usize,
        /// How many Deferreds the program has.
        deferreds: usize,
    },
    /// The Deferred was taken or adopted already.
    #[error("Deferred {0} was taken or adopted already")]
    HandedOver(usize),
}

/// Who holds a Deferred's tail between operations.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hands {
    /// The program: made by the runner.
    Program,
    /// Your code ([`Runner::take`]).
    Taken,
    /// Made by your code, held by the program ([`Runner::adopt`]).
    Adopted,
}

/// A program about to run, whose Deferreds your code may take part in.
///
/// ```
/// use deferreds::proptest::{Attach, Op, Program, StepFn, runner::Runner};
/// let mut program = Program::new(1);
/// program.ops = vec![Op::Add(0, Attach::Callback(StepFn::Add(1))), Op::Callback(0, Some(1))];
/// let run = Runner::new(&program).unwrap().run();
/// assert_eq!(run.trace.events.len(), 3);
/// ```
pub struct Runner {
    program: Program,
    world: Arc<World>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("program", &self.program).finish_non_exhaustive()
    }
}

type Cell = Arc<Mutex<Option<Deferred<Value>>>>;

struct State {
    /// The tails in the program's hands; `None` while an operation has one, once a nest step
    /// owns it, or when your code holds it.
    tails: Vec<Option<Deferred<Value>>>,
    resolvers: Vec<Option<Resolver<Value>>>,
    hands: Vec<Hands>,
    /// A nest step took (or tried to take) the tail.
    nested: Vec<bool>,
    /// The program's own pauses.
    pauses: Vec<u32>,
    events: Vec<Event>,
}

/// The Deferreds of one run and its record. Steps and cancellers reach it weakly: once the
/// run is over, they find it gone and only compute.
///
/// The lock is never held while the crate runs user code: steps take it themselves.
struct World {
    state: Mutex<State>,
}

impl Runner {
    /// Makes the program's Deferreds, ready to run.
    ///
    /// ```
    /// use deferreds::proptest::{InvalidProgram, Op, Program, runner::Runner};
    /// let mut program = Program::new(1);
    /// program.ops.push(Op::Callback(1, None));
    /// assert!(matches!(Runner::new(&program), Err(InvalidProgram::NoSuchDeferred { .. })));
    /// ```
    pub fn new(program: &Program) -> Result<Runner, InvalidProgram> {
        program.validate()?;
        let world = Arc::new_cyclic(|world| World::new(program, world));
        Ok(Runner { program: program.clone(), world })
    }

    /// Hands Deferred d's tail to your code. The program still fires, pauses and unpauses d
    /// through its resolver; what needs the tail (adding a step, cancelling, chaining from it,
    /// nesting it) finds it [unavailable](Event::Unavailable), and its final state is
    /// [`FinalState::Held`].
    ///
    /// ```
    /// use deferreds::proptest::{Op, Program, runner::Runner};
    /// let mut program = Program::new(1);
    /// program.ops.push(Op::Callback(0, Some(3)));
    /// let mut runner = Runner::new(&program).unwrap();
    /// let d = runner.take(0).unwrap();
    /// let run = runner.run();
    /// assert_eq!(deferreds::testing::success_result_of(d), Some(3));
    /// assert!(run.unhandled.is_empty());
    /// ```
    pub fn take(&mut self, d: usize) -> Result<Deferred<Value>, TakeError> {
        let mut st = self.world.state.lock();
        st.check_own(d)?;
        st.hands[d] = Hands::Taken;
        Ok(st.tails[d].take().expect("the program holds its own tails before it runs"))
    }

    /// Puts `deferred`, made by your code, in the place of Deferred d: the program adds
    /// steps to it, pauses, cancels and chains it, and records its final state. It has no
    /// resolver the program can use, so the program's fires of d find it
    /// [unavailable](Event::Unavailable). The Deferred the runner had made for d is dropped.
    ///
    /// ```
    /// use deferreds::proptest::{FinalState, Op, Program, runner::Runner};
    /// let mut program = Program::new(1);
    /// program.ops.push(Op::Cancel(0));
    /// let mut runner = Runner::new(&program).unwrap();
    /// let (mine, _resolver) = deferreds::Deferred::with_canceller(|r: &deferreds::Resolver<_>| {
    ///     r.callback(Some(0)).unwrap();
    /// });
    /// runner.adopt(0, mine).unwrap();
    /// let run = runner.run();
    /// assert_eq!(run.trace.final_state(0), Some(&FinalState::Result(Ok(Some(0)))));
    /// ```
    pub fn adopt(&mut self, d: usize, deferred: Deferred<Value>) -> Result<(), TakeError> {
        let (tail, resolver) = {
            let mut st = self.world.state.lock();
            st.check_own(d)?;
            st.hands[d] = Hands::Adopted;
            (st.tails[d].replace(deferred), st.resolvers[d].take())
        };
        // Dropped outside the lock: a canceller is user code.
        drop((tail, resolver));
        Ok(())
    }

    /// Runs the program and returns what it recorded.
    ///
    /// ```
    /// use deferreds::proptest::{Event, Op, Program, runner::Runner};
    /// let mut program = Program::new(1);
    /// program.ops = vec![Op::Unpause(0)];
    /// let run = Runner::new(&program).unwrap().run();
    /// assert_eq!(run.trace.events[0], Event::UnpauseRefused(0));
    /// ```
    pub fn run(self) -> Run {
        let Runner { program, world } = self;
        world.drop_unused_resolvers(&program);
        let ((trace, leftovers), reports) = capture_unhandled(|| {
            for (i, op) in program.ops.iter().enumerate() {
                world.op(i, op);
            }
            let events = world.finish();
            (Trace::new(events, program.names.clone()), world.release())
        });
        let ((), _freed) = capture_unhandled(|| free(leftovers));
        let unhandled = reports.iter().map(|report| Fault::of(report.failure())).collect();
        Run { trace, unhandled }
    }
}

/// Fires what the program left unfired, so that chains holding each other (through
/// `chain_deferred`, or a step that owns another tail) are freed.
fn free(leftovers: Vec<Resolver<Value>>) {
    for resolver in &leftovers {
        let _ = resolver.callback(None);
    }
}

/// Whether the program needs Deferred d's resolver: it fires, pauses, unpauses, chains into or
/// nests d (a nested Deferred is kept alive by its resolver, so that a cancel can reach it).
fn needs_resolver(program: &Program, d: usize) -> bool {
    fn in_fn(f: &StepFn, d: usize) -> bool {
        match f {
            StepFn::Nest(j) | StepFn::Fire(j, _) => *j == d,
            StepFn::AddTo(_, attach) => attach.fns().any(|f| in_fn(f, d)),
            _ => false,
        }
    }
    let fired_by_a_canceller =
        program.deferreds.iter().any(|c| matches!(*c, Canceller::FireOther(k, _) if k == d));
    fired_by_a_canceller
        || program.ops.iter().any(|op| match op {
            Op::Callback(k, _) | Op::Errback(k, _) | Op::Pause(k) | Op::Unpause(k) => *k == d,
            Op::ChainDeferred(_, e) => *e == d,
            Op::Add(_, attach) => attach.fns().any(|f| in_fn(f, d)),
            Op::Cancel(_) => false,
        })
}

impl State {
    fn check_own(&self, d: usize) -> Result<(), TakeError> {
        match self.hands.get(d) {
            None => Err(TakeError::NoSuchDeferred { d, deferreds: self.hands.len() }),
            Some(Hands::Program) => Ok(()),
            Some(_) => Err(TakeError::HandedOver(d)),
        }
    }
}

impl World {
    fn new(program: &Program, world: &Weak<World>) -> World {
        let n = program.deferreds.len();
        let mut tails = Vec::with_capacity(n);
        let mut resolvers = Vec::with_capacity(n);
        for canceller in &program.deferreds {
            let (tail, resolver) = match *canceller {
                Canceller::None => Deferred::new(),
                Canceller::Noop => Deferred::with_canceller(|_: &Resolver<Value>| {}),
                Canceller::Fire(v) => Deferred::with_canceller(move |r: &Resolver<Value>| {
                    let _ = r.callback(v);
                }),
                Canceller::Fail(tag) => Deferred::with_canceller(move |r: &Resolver<Value>| {
                    let _ = r.errback(Failure::new(tag));
                }),
                Canceller::FireOther(k, v) => {
                    let world = world.clone();
                    Deferred::with_canceller(move |_: &Resolver<Value>| {
                        if let Some(world) = world.upgrade() {
                            if let Some(other) = world.resolver(k) {
                                // Twisted's canceller lets the AlreadyCalledError out of
                                // `cancel()`; here it is ignored.
                                let _ = other.callback(v);
                            }
                        }
                    })
                }
            };
            tails.push(Some(tail));
            resolvers.push(Some(resolver));
        }
        World {
            state: Mutex::new(State {
                tails,
                resolvers,
                hands: vec![Hands::Program; n],
                nested: vec![false; n],
                pauses: vec![0; n],
                events: Vec::new(),
            }),
        }
    }

    /// Lets go of the resolvers the program will not use, so that those tails are their
    /// chains' only handles.
    fn drop_unused_resolvers(&self, program: &Program) {
        let unused: Vec<Resolver<Value>> = {
            let mut st = self.state.lock();
            let unused: Vec<usize> = (0..st.resolvers.len())
                .filter(|&d| st.hands[d] == Hands::Program && !needs_resolver(program, d))
                .collect();
            unused.into_iter().filter_map(|d| st.resolvers[d].take()).collect()
        };
        drop(unused);
    }

    fn record(&self, event: Event) {
        self.state.lock().events.push(event);
    }

    /// Takes Deferred k's tail for an operation, or records that it is out of reach.
    fn take(&self, k: usize) -> Option<Deferred<Value>> {
        let mut st = self.state.lock();
        let tail = st.tails[k].take();
        if tail.is_none() {
            st.events.push(Event::Unavailable(k));
        }
        tail
    }

    fn put(&self, k: usize, tail: Deferred<Value>) {
        let old = self.state.lock().tails[k].replace(tail);
        debug_assert!(old.is_none(), "Deferred {k} got a second tail");
    }

    fn resolver(&self, k: usize) -> Option<Resolver<Value>> {
        self.state.lock().resolvers[k].clone()
    }

    /// Deferred k's resolver, or the record that the program cannot reach it.
    fn resolver_or_unavailable(&self, k: usize) -> Option<Resolver<Value>> {
        let mut st = self.state.lock();
        let resolver = st.resolvers[k].clone();
        if resolver.is_none() {
            st.events.push(Event::Unavailable(k));
        }
        resolver
    }

    fn op(self: &Arc<Self>, i: usize, op: &Op) {
        match *op {
            Op::Add(d, ref attach) => {
                if let Some(tail) = self.take(d) {
                    let tail = self.add(tail, d, StepId::Op(i), attach);
                    self.put(d, tail);
                }
            }
            Op::Callback(d, v) => {
                if let Some(resolver) = self.resolver_or_unavailable(d) {
                    let accepted = resolver.callback(v).is_ok();
                    self.record(Event::Fired { d, accepted });
                }
            }
            Op::Errback(d, tag) => {
                if let Some(resolver) = self.resolver_or_unavailable(d) {
                    let accepted = resolver.errback(Failure::new(tag)).is_ok();
                    self.record(Event::Fired { d, accepted });
                }
            }
            Op::Pause(d) => {
                // Through the tail while the program has it, else through the resolver.
                let tail = self.state.lock().tails[d].take();
                match tail {
                    Some(mut tail) => {
                        tail.pause();
                        self.put(d, tail);
                    }
                    None => match self.resolver_or_unavailable(d) {
                        Some(resolver) => resolver.pause(),
                        None => return,
                    },
                }
                self.state.lock().pauses[d] += 1;
            }
            Op::Unpause(d) => {
                let unpaused = match self.resolver(d) {
                    Some(resolver) => resolver.unpause(),
                    None => match self.take(d) {
                        Some(mut tail) => {
                            let unpaused = tail.unpause();
                            self.put(d, tail);
                            unpaused
                        }
                        None => return,
                    },
                };
                match unpaused {
                    Ok(()) => self.state.lock().pauses[d] -= 1,
                    // Twisted lets the counter go negative; this crate refuses.
                    Err(crate::error::NotPausedError) => self.record(Event::UnpauseRefused(d)),
                }
            }
            Op::Cancel(d) => {
                if let Some(tail) = self.take(d) {
                    tail.cancel();
                    self.put(d, tail);
                }
            }
            Op::ChainDeferred(d, e) => {
                if let Some(tail) = self.take(d) {
                    let tail = match self.resolver_or_unavailable(e) {
                        // Twisted's chain goes on with None, what `e.callback` returned.
                        Some(target) => tail.chain_deferred(&target).map(|()| None),
                        None => tail,
                    };
                    self.put(d, tail);
                }
            }
        }
    }

    /// Adds one step to Deferred d's `tail` and returns the new tail. A nest function owns
    /// its Deferred's tail from the moment the step is added.
    fn add(
        self: &Arc<Self>,
        tail: Deferred<Value>,
        d: usize,
        id: StepId,
        attach: &Attach,
    ) -> Deferred<Value> {
        // Both halves of a `callbacks` pair that nest the same Deferred share its tail; the
        // half that runs takes it.
        let mut cells: Vec<(usize, Cell)> = Vec::new();
        let mut cell_of = |f: &StepFn| -> Option<Cell> {
            let StepFn::Nest(j) = *f else { return None };
            if let Some((_, cell)) = cells.iter().find(|(k, _)| *k == j) {
                return Some(cell.clone());
            }
            let cell = Arc::new(Mutex::new(self.take(j)));
            cells.push((j, cell.clone()));
            Some(cell)
        };
        let halves: Vec<(StepFn, Option<Cell>)> =
            attach.fns().map(|f| (f.clone(), cell_of(f))).collect();
        {
            let mut st = self.state.lock();
            for (j, _) in &cells {
                st.nested[*j] = true;
            }
        }
        let step = |(f, cell): (StepFn, Option<Cell>)| {
            let world = Arc::downgrade(self);
            move |input: Result<Value, Failure>| run_step(&world, d, id, &f, cell, input)
        };
        let mut halves = halves.into_iter();
        let first = step(halves.next().expect("a step has a function"));
        match attach {
            Attach::Callback(_) => tail.add_callback(move |v| first(Ok(v))),
            Attach::Errback(_) => tail.add_errback(move |f| first(Err(f))),
            Attach::Both(_) => tail.add_both(first),
            Attach::Callbacks(..) => {
                let second = step(halves.next().expect("a callbacks pair has two functions"));
                tail.add_callbacks(move |v| first(Ok(v)), move |f| second(Err(f)))
            }
        }
    }

    /// The final events, read through the public API only.
    fn finish(&self) -> Vec<Event> {
        let n = self.state.lock().tails.len();
        // The tails read here stay alive until `release`, so that no chain goes away while
        // the others are read.
        let mut read = Vec::with_capacity(n);
        for d in 0..n {
            let (tail, resolver, hands, nested, paused) = {
                let mut st = self.state.lock();
                let tail = st.tails[d].take();
                (tail, st.resolvers[d].clone(), st.hands[d], st.nested[d], st.pauses[d])
            };
            let called = match (&resolver, &tail) {
                (Some(r), _) => r.called(),
                (None, Some(t)) => t.called(),
                // An adopted Deferred that a nest step took: neither end is the program's.
                (None, None) => false,
            };
            if let (Some(r), Some(t)) = (&resolver, &tail) {
                if t.called() != r.called() {
                    let detail = format!(
                        "the tail says called: {}, the resolver {}",
                        t.called(),
                        r.called()
                    );
                    self.record(Event::Inconsistent { d, detail });
                }
            }
            if let (Some(t), Hands::Program) = (&tail, hands) {
                if t.is_paused() != (paused > 0) {
                    let detail = format!("is_paused() is {} with {paused} pauses", t.is_paused());
                    self.record(Event::Inconsistent { d, detail });
                }
            }
            let state = if nested {
                FinalState::Nested
            } else if hands == Hands::Taken {
                FinalState::Held
            } else {
                match tail {
                    None => FinalState::Unsettled("no tail in the program's hands".to_owned()),
                    Some(t) if !called || paused > 0 || t.is_waiting() => {
                        read.push(t);
                        if !called {
                            FinalState::Pending
                        } else if paused > 0 {
                            FinalState::Paused
                        } else {
                            FinalState::Waiting
                        }
                    }
                    Some(t) => match t.try_result() {
                        TryResult::Value(value) => FinalState::Result(outcome_of(&Ok(value))),
                        TryResult::Failure(failure) => {
                            FinalState::Result(outcome_of(&Err(failure)))
                        }
                        TryResult::Pending(t) => {
                            let state = FinalState::Unsettled(format!("{t:?}"));
                            read.push(t);
                            state
                        }
                    },
                }
            };
            self.record(Event::Final { d, called, paused, state });
        }
        self.state.lock().tails.extend(read.into_iter().map(Some));
        std::mem::take(&mut self.state.lock().events)
    }

    /// Lets go of everything the run holds, the program's outstanding pauses undone first.
    /// The resolvers of the program's own Deferreds that were never fired are returned, to be
    /// fired by [`free`] once the failures reported here have been counted.
    fn release(self: Arc<Self>) -> Vec<Resolver<Value>> {
        let (mut tails, resolvers, hands, pauses) = {
            let mut st = self.state.lock();
            (
                std::mem::take(&mut st.tails),
                std::mem::take(&mut st.resolvers),
                std::mem::take(&mut st.hands),
                std::mem::take(&mut st.pauses),
            )
        };
        // From here on the steps only compute.
        drop(self);
        for (d, &count) in pauses.iter().enumerate() {
            for _ in 0..count {
                let unpaused = match (&resolvers[d], &mut tails[d]) {
                    (Some(r), _) => r.unpause(),
                    (None, Some(t)) => t.unpause(),
                    (None, None) => Ok(()),
                };
                debug_assert!(unpaused.is_ok(), "the program's own pauses are outstanding");
            }
        }
        drop(tails);
        let mut leftovers = Vec::new();
        let mut others = Vec::new();
        for (d, resolver) in resolvers.into_iter().enumerate() {
            let Some(resolver) = resolver else { continue };
            if hands[d] == Hands::Program && !resolver.called() {
                leftovers.push(resolver);
            } else {
                others.push(resolver);
            }
        }
        drop(others);
        leftovers
    }
}

/// One step running: record it, then do what its function says. Once the run is over (the
/// world is gone), a step only computes.
fn run_step(
    world: &Weak<World>,
    d: usize,
    id: StepId,
    f: &StepFn,
    cell: Option<Cell>,
    input: Result<Value, Failure>,
) -> Step<Value> {
    let world = world.upgrade();
    if let Some(world) = &world {
        world.record(Event::Step { d, step: id, input: outcome_of(&input) });
    }
    let pass = |input: Result<Value, Failure>| match input {
        Ok(v) => Step::Value(v),
        Err(f) => Step::Fail(f),
    };
    match *f {
        StepFn::Nest(_) => match cell.and_then(|cell| cell.lock().take()) {
            Some(inner) => Step::Wait(inner),
            // The tail was out of reach when the step was added (recorded then).
            None => pass(input),
        },
        StepFn::NestFired(v) => Step::Wait(succeed(v)),
        StepFn::NestFailed(tag) => Step::Wait(fail(Failure::new(tag))),
        StepFn::Fire(k, v) => {
            let Some(resolver) = world.and_then(|w| w.resolver_or_unavailable(k)) else {
                return pass(input);
            };
            let fire = || -> Result<(), Failure> {
                resolver.callback(v)?; // Twisted's raise: the step's failure
                Ok(())
            };
            match fire() {
                Ok(()) => pass(input),
                Err(failure) => Step::Fail(failure),
            }
        }
        StepFn::Cancel(k) => {
            if let Some(world) = world {
                if let Some(tail) = world.take(k) {
                    tail.cancel();
                    world.put(k, tail);
                }
            }
            pass(input)
        }
        StepFn::AddTo(k, ref attach) => {
            if let Some(world) = world {
                if let Some(tail) = world.take(k) {
                    let tail = world.add(tail, k, id.added(), attach);
                    world.put(k, tail);
                }
            }
            pass(input)
        }
        _ => {
            drop(world);
            let output = f.apply(outcome_of(&input)).expect("the other step functions compute");
            match (output, input) {
                (Ok(v), _) => Step::Value(v),
                // A failure that goes on unchanged is the same failure, not a copy.
                (Err(fault), Err(failure)) if Fault::of(&failure) == fault => Step::Fail(failure),
                (Err(fault), _) => Step::Fail(fault.to_failure()),
            }
        }
    }
}
