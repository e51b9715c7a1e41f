//! What a run of a program records: [`Event`]s, in a [`Trace`].
//!
//! Part of `proptest`, on the public API and `testing`: it knows nothing of the engine, the
//! combinators' insides, the primitives, the async bridge or the reactor.

use std::fmt;

use super::outcome::{Outcome, ShowOutcome};
use super::program::display::{Named, Names};

/// Which step an event is about: the operation that added it, or a step that an
/// [`AddTo`](super::StepFn::AddTo) step function added while that operation's step ran.
///
/// ```
/// use deferreds::proptest::StepId;
/// assert_eq!(StepId::Op(3).to_string(), "3");
/// assert_eq!(StepId::AddedBy(3).to_string(), "3+");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StepId {
    /// Added by operation i.
    Op(usize),
    /// Added from inside the step that operation i added (at any depth).
    AddedBy(usize),
}

impl StepId {
    /// The id of a step added from inside this one.
    ///
    /// ```
    /// use deferreds::proptest::StepId;
    /// assert_eq!(StepId::Op(2).added(), StepId::AddedBy(2));
    /// ```
    pub fn added(self) -> StepId {
        match self {
            StepId::Op(i) | StepId::AddedBy(i) => StepId::AddedBy(i),
        }
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepId::Op(i) => write!(f, "{i}"),
            StepId::AddedBy(i) => write!(f, "{i}+"),
        }
    }
}

/// Where a Deferred stands when the program ends.
///
/// ```
/// use deferreds::proptest::{FinalState, Fault};
/// let state = FinalState::Result(Err(Fault::Cancelled));
/// assert_eq!(state.to_string(), "Err(Cancelled)");
/// assert_eq!(FinalState::Waiting.to_string(), "waiting");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FinalState {
    /// Never fired.
    Pending,
    /// Fired, but the program's pauses are not all undone.
    Paused,
    /// Fired, and waiting on a Deferred one of its steps returned.
    Waiting,
    /// A nest step owns its tail, so its result is not the program's to read.
    Nested,
    /// Its tail was [taken](super::runner::Runner::take) by your code.
    Held,
    /// Its result, the last step's output.
    Result(Outcome),
    /// Fired, not paused, not waiting, and yet without a result to read: only a bug in the
    /// crate ends a chain here (the runner describes the tail). The model never predicts it.
    Unsettled(String),
}

impl fmt::Display for FinalState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FinalState::Pending => f.write_str("pending"),
            FinalState::Paused => f.write_str("paused"),
            FinalState::Waiting => f.write_str("waiting"),
            FinalState::Nested => f.write_str("nested"),
            FinalState::Held => f.write_str("held"),
            FinalState::Result(outcome) => ShowOutcome(outcome).fmt(f),
            FinalState::Unsettled(tail) => write!(f, "unsettled {tail}"),
        }
    }
}

/// One thing that happened while a program ran.
///
/// The events are those of the differential tests against Twisted (`docs/conformance.md`, "The
/// trace"), so a trace here is the same list, typed.
///
/// ```
/// use deferreds::proptest::{Event, StepId};
/// let event = Event::Step { d: 0, step: StepId::Op(1), input: Ok(Some(2)) };
/// assert_eq!(event.to_string(), "d0: step 1 runs on Ok(Some(2))");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A step function of Deferred d started, on this input. Recorded for the program's own
    /// steps only.
    Step {
        /// The Deferred the step belongs to.
        d: usize,
        /// Which step.
        step: StepId,
        /// What it got.
        input: Outcome,
    },
    /// A top-level [`Callback`](super::Op::Callback) or [`Errback`](super::Op::Errback)
    /// returned: accepted, or refused with `AlreadyCalledError`. Recorded after the steps it
    /// ran.
    Fired {
        /// The Deferred fired.
        d: usize,
        /// Whether the fire was accepted.
        accepted: bool,
    },
    /// The program reached for a tail of Deferred d that is not in its hands: a nest step owns
    /// it, an operation on d further up the stack is still using it (a step running inside an
    /// `add_*`, `cancel` or `chain_deferred` call on d), or your code holds it
    /// ([`Runner::take`](super::runner::Runner::take)). The same for the resolver of a
    /// Deferred you [adopted](super::runner::Runner::adopt). The operation or step function
    /// does nothing then (a step passes its input on).
    Unavailable(usize),
    /// An [`Unpause`](super::Op::Unpause) of a Deferred that was not paused, refused with
    /// `NotPausedError` (Twisted lets the counter go negative).
    UnpauseRefused(usize),
    /// Deferred d at the end of the program, one event per Deferred, in order.
    Final {
        /// The Deferred.
        d: usize,
        /// Whether it was fired. (For a Deferred you adopted and a nest step then took, the
        /// run holds neither end and says `false`.)
        called: bool,
        /// The program's own pauses not undone.
        paused: u32,
        /// Where it stands.
        state: FinalState,
    },
    /// The runner found the crate contradicting itself about Deferred d (its tail and its
    /// resolver disagree on whether it was fired, or it is paused without a pause
    /// outstanding). The model never predicts it.
    Inconsistent {
        /// The Deferred.
        d: usize,
        /// What disagreed.
        detail: String,
    },
}

impl fmt::Display for Named<'_, Event> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.1;
        match self.0 {
            Event::Step { d, step, input } => {
                names.write(f, *d)?;
                write!(f, ": step {step} runs on {}", ShowOutcome(input))
            }
            Event::Fired { d, accepted } => {
                names.write(f, *d)?;
                f.write_str(if *accepted { " fired" } else { " refused the fire: AlreadyCalled" })
            }
            Event::Unavailable(d) => {
                names.write(f, *d)?;
                f.write_str(": tail unavailable")
            }
            Event::UnpauseRefused(d) => {
                names.write(f, *d)?;
                f.write_str(": unpause refused, not paused")
            }
            Event::Final { d, called, paused, state } => {
                names.write(f, *d)?;
                write!(f, " ends {state}")?;
                if !called {
                    f.write_str(" (never fired)")?;
                }
                match paused {
                    0 => Ok(()),
                    1 => f.write_str(" (1 pause outstanding)"),
                    n => write!(f, " ({n} pauses outstanding)"),
                }
            }
            Event::Inconsistent { d, detail } => {
                names.write(f, *d)?;
                write!(f, ": inconsistent: {detail}")
            }
        }
    }
}

impl fmt::Display for Event {
    /// One line, with the Deferreds named `d0`, `d1`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Named(self, Names(&[])).fmt(f)
    }
}

/// Everything a run of a program recorded, in order: what [`model::run`](super::model::run)
/// predicts and what [`runner::run`](super::runner::run) observes.
///
/// Two traces are equal when their events are. `Display` and `Debug` print one event per line,
/// with the program's names for its Deferreds.
///
/// ```
/// use deferreds::proptest::{Attach, FinalState, Op, Program, StepFn, model, runner};
///
/// let mut program = Program::new(1);
/// program.ops = vec![Op::Add(0, Attach::Callback(StepFn::Add(1))), Op::Callback(0, Some(1))];
/// let predicted = model::run(&program).unwrap();
/// assert_eq!(runner::run(&program).unwrap().trace, predicted);
/// assert_eq!(predicted.final_state(0), Some(&FinalState::Result(Ok(Some(2)))));
/// assert_eq!(
///     predicted.to_string(),
///     "d0: step 0 runs on Ok(Some(1))\nd0 fired\nd0 ends Ok(Some(2))\n"
/// );
/// ```
#[derive(Clone)]
pub struct Trace {
    /// The events, in order.
    pub events: Vec<Event>,
    names: Vec<String>,
}

impl Trace {
    pub(crate) fn new(events: Vec<Event>, names: Vec<String>) -> Trace {
        Trace { events, names }
    }

    /// Where Deferred d stood at the end, from its [`Event::Final`].
    ///
    /// ```
    /// use deferreds::proptest::{FinalState, Program, model};
    /// let trace = model::run(&Program::new(1)).unwrap();
    /// assert_eq!(trace.final_state(0), Some(&FinalState::Pending));
    /// assert_eq!(trace.final_state(1), None);
    /// ```
    pub fn final_state(&self, d: usize) -> Option<&FinalState> {
        self.events.iter().find_map(|event| match event {
            Event::Final { d: e, state, .. } if *e == d => Some(state),
            _ => None,
        })
    }

    /// The steps that ran, in order: the Deferred, the step and its input.
    ///
    /// ```
    /// use deferreds::proptest::{Attach, Op, Program, StepFn, StepId, model};
    /// let mut program = Program::new(1);
    /// program.ops = vec![
    ///     Op::Add(0, Attach::Callback(StepFn::Pass)),
    ///     Op::Add(0, Attach::Errback(StepFn::Pass)),
    ///     Op::Callback(0, None),
    /// ];
    /// let trace = model::run(&program).unwrap();
    /// let ran: Vec<StepId> = trace.steps().map(|(_, step, _)| step).collect();
    /// assert_eq!(ran, [StepId::Op(0)]); // the errback is skipped on a value
    /// ```
    pub fn steps(&self) -> impl Iterator<Item = (usize, StepId, &Outcome)> {
        self.events.iter().filter_map(|event| match event {
            Event::Step { d, step, input } => Some((*d, *step, input)),
            _ => None,
        })
    }
}

impl PartialEq for Trace {
    fn eq(&self, other: &Trace) -> bool {
        self.events == other.events
    }
}

impl Eq for Trace {}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for event in &self.events {
            writeln!(f, "{}", Named(event, Names(&self.names)))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Trace {
    /// The same as `Display`, so that `prop_assert_eq!` on traces shows two readable lists.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\n{self}")
    }
}
