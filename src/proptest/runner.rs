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

// Part of `proptest`, on the public API and `testing`: it knows nothing of the engine, the
// combinators' insides, the primitives, the async bridge or the reactor.

use std::sync::Arc;

use parking_lot::Mutex;

use super::event::{Event, Trace};
use super::outcome::{Fault, Value};
use super::program::{Canceller, InvalidProgram, Op, Program, StepFn};
use crate::deferred::Deferred;
use crate::deferred::resolver::Resolver;
use crate::testing::capture_unhandled;

#[cfg(doc)]
use super::event::FinalState;

mod world;

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
