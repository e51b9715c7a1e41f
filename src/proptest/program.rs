//! Programs: a few Deferreds and the operations a test performs on them, in order.
//!
//! Part of `proptest`, on the public API and `testing`: it knows nothing of the engine, the
//! combinators' insides, the primitives, the async bridge or the reactor.

use std::fmt;
use std::sync::Arc;

use super::outcome::{Fault, Outcome, Tag, Value};

pub(crate) mod display;

/// A Deferred program: how many Deferreds there are (each made with or without a canceller)
/// and the operations performed on them, in order.
///
/// Every Deferred is a `Deferred<Value>` (a `Deferred<Option<i64>>`). The operations are what
/// a test can do to Deferreds: add steps ([`Op::Add`]), fire ([`Op::Callback`],
/// [`Op::Errback`]), [`pause`](Op::Pause) and [`unpause`](Op::Unpause), [`cancel`](Op::Cancel)
/// and [`chain_deferred`](Op::ChainDeferred). What a step does is a [`StepFn`]: compute,
/// fail, recover, return another Deferred (nesting), fire, cancel or add to another Deferred,
/// or run a [`CustomStep`] of your own.
///
/// [`Shape`](super::Shape) generates programs; [`model::run`](super::model::run) predicts what a
/// program does and [`runner::run`](super::runner::run) runs it on this crate. Both write the
/// same [`Trace`](super::Trace).
///
/// `Display` and `Debug` print a program as a numbered list of operations in Rust's spelling,
/// which is how proptest shows a failing case once it has shrunk it:
///
/// ```
/// use deferreds::proptest::{Attach, Canceller, Op, Program, StepFn, Tag};
///
/// let mut program = Program::new(2);
/// program.deferreds[1] = Canceller::Fire(Some(3));
/// program.ops = vec![
///     Op::Add(0, Attach::Callback(StepFn::Nest(1))),
///     Op::Add(0, Attach::Errback(StepFn::Trap(Tag::E1, Some(0)))),
///     Op::Callback(0, Some(1)),
///     Op::Cancel(0),
/// ];
/// assert_eq!(
///     program.to_string(),
///     "Deferreds: d0, d1 (canceller: fire(Some(3)))\n\
///      0. d0.add_callback(nest(d1))\n\
///      1. d0.add_errback(trap(E1, Some(0)))\n\
///      2. d0.callback(Some(1))\n\
///      3. d0.cancel()\n"
/// );
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Program {
    /// One entry per Deferred: how it is made.
    pub deferreds: Vec<Canceller>,
    /// The operations, run in order.
    pub ops: Vec<Op>,
    /// Names for the Deferreds in printed programs and traces, one per Deferred (`d0`, `d1`,
    /// ... when empty). Names that are Rust identifiers keep the printout valid Rust.
    pub names: Vec<String>,
}

/// How a Deferred of a program is made: without a canceller, or with one that does one thing.
///
/// ```
/// use deferreds::proptest::{Canceller, Program};
/// let mut program = Program::new(2);
/// program.deferreds[0] = Canceller::FireOther(1, Some(7));
/// assert!(program.to_string().starts_with("Deferreds: d0 (canceller: fire_other(d1, Some(7))), d1"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Canceller {
    /// `Deferred::new()`: cancelling fails it with `CancelledError`, and forgives one late fire.
    None,
    /// A canceller that does nothing: the Deferred then fails with `CancelledError`.
    Noop,
    /// A canceller that fires the Deferred with this value, which stands.
    Fire(Value),
    /// A canceller that fails the Deferred with this error, which stands.
    Fail(Tag),
    /// A canceller that fires *another* Deferred of the program (ignoring `AlreadyCalledError`),
    /// whose steps then run inside the canceller; the cancelled one fails with
    /// `CancelledError` unless those steps fired it.
    FireOther(usize, Value),
}

/// A step added to a Deferred: which `add_*` method adds it, with what function (or two).
///
/// ```
/// use deferreds::proptest::{Attach, StepFn};
/// let step = Attach::Callbacks(StepFn::Add(1), StepFn::Recover(None));
/// assert_eq!(step.to_string(), "add_callbacks(add(1), recover(None))");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attach {
    /// `add_callback(f)`: `f` runs on a value; failures pass.
    Callback(StepFn),
    /// `add_errback(f)`: `f` runs on a failure; values pass.
    Errback(StepFn),
    /// `add_both(f)`: `f` runs on either.
    Both(StepFn),
    /// `add_callbacks(f, g)`: one step, `f` on a value or `g` on a failure.
    Callbacks(StepFn, StepFn),
}

impl Attach {
    /// The function that runs on `input`, if one does.
    ///
    /// ```
    /// use deferreds::proptest::{Attach, Fault, StepFn};
    /// let step = Attach::Errback(StepFn::Recover(Some(0)));
    /// assert_eq!(step.fn_for(&Ok(Some(1))), None);
    /// assert_eq!(step.fn_for(&Err(Fault::Cancelled)), Some(&StepFn::Recover(Some(0))));
    /// ```
    pub fn fn_for(&self, input: &Outcome) -> Option<&StepFn> {
        match (self, input.is_ok()) {
            (Attach::Callback(f), true) | (Attach::Errback(f), false) | (Attach::Both(f), _) => {
                Some(f)
            }
            (Attach::Callbacks(f, _), true) | (Attach::Callbacks(_, f), false) => Some(f),
            _ => None,
        }
    }

    /// Its function, or both functions of a `Callbacks` pair.
    ///
    /// ```
    /// use deferreds::proptest::{Attach, StepFn};
    /// assert_eq!(Attach::Both(StepFn::Pass).fns().count(), 1);
    /// ```
    pub fn fns(&self) -> impl Iterator<Item = &StepFn> {
        let (first, second) = match self {
            Attach::Callback(f) | Attach::Errback(f) | Attach::Both(f) => (f, None),
            Attach::Callbacks(f, g) => (f, Some(g)),
        };
        std::iter::once(first).chain(second)
    }

    fn method(&self) -> &'static str {
        match self {
            Attach::Callback(_) => "add_callback",
            Attach::Errback(_) => "add_errback",
            Attach::Both(_) => "add_both",
            Attach::Callbacks(..) => "add_callbacks",
        }
    }
}

/// What a step does with its input: the step functions of Twisted's differential tests
/// (`docs/conformance.md`), plus steps of your own.
///
/// The first five only compute ([`StepFn::apply`] says what they give); the others act on
/// Deferreds of the program, so what they do depends on the run.
///
/// ```
/// use deferreds::proptest::{Fault, StepFn, Tag};
/// assert_eq!(StepFn::Add(2).apply(Ok(Some(1))), Some(Ok(Some(3))));
/// assert_eq!(StepFn::Add(2).apply(Ok(None)), Some(Err(Fault::TypeError)));
/// let trap = StepFn::Trap(Tag::E1, Some(0));
/// assert_eq!(trap.apply(Err(Fault::Raised(Tag::E1))), Some(Ok(Some(0))));
/// assert_eq!(trap.apply(Err(Fault::Raised(Tag::E2))), Some(Err(Fault::Raised(Tag::E2))));
/// assert_eq!(StepFn::Nest(1).apply(Ok(None)), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepFn {
    /// The value plus n (wrapping); `None` or a failure gives a [`TypeError`](super::TypeError)
    /// failure.
    Add(i64),
    /// Fails with this error.
    Fail(Tag),
    /// Returns this value, whatever the input.
    Recover(Value),
    /// Returns its input: a value goes on as a value, a failure as a failure.
    Pass,
    /// On a failure with exactly this tag, returns the value; other failures go on; values
    /// pass.
    Trap(Tag, Value),
    /// Returns Deferred j itself, so the chain waits for it. Its tail moves into the step
    /// when the step is *added*: from then on the program cannot add to j, cancel it or chain
    /// it (those operations find it [unavailable](super::Event::Unavailable)).
    Nest(usize),
    /// Returns `succeed(value)`.
    NestFired(Value),
    /// Returns `fail(error)`.
    NestFailed(Tag),
    /// Fires Deferred k with the value, then passes its input on. If k had its result
    /// already, the `AlreadyCalledError` is the step's failure (`?`).
    Fire(usize, Value),
    /// Cancels Deferred k, then passes its input on.
    Cancel(usize),
    /// Adds a step to Deferred k, then passes its input on.
    AddTo(usize, Box<Attach>),
    /// A step of your own.
    Custom(CustomStep),
}

impl StepFn {
    /// What this step function gives its chain, for the ones that only compute ([`Add`],
    /// [`Fail`], [`Recover`], [`Pass`], [`Trap`] and [`Custom`]); `None` for the ones that act
    /// on Deferreds. A panic in a custom step is not caught here.
    ///
    /// [`Add`]: StepFn::Add
    /// [`Fail`]: StepFn::Fail
    /// [`Recover`]: StepFn::Recover
    /// [`Pass`]: StepFn::Pass
    /// [`Trap`]: StepFn::Trap
    /// [`Custom`]: StepFn::Custom
    ///
    /// ```
    /// use deferreds::proptest::{Fault, StepFn, Tag};
    /// assert_eq!(StepFn::Recover(None).apply(Err(Fault::Cancelled)), Some(Ok(None)));
    /// assert_eq!(StepFn::Fail(Tag::E0).apply(Ok(Some(1))), Some(Err(Fault::Raised(Tag::E0))));
    /// ```
    pub fn apply(&self, input: Outcome) -> Option<Outcome> {
        Some(match self {
            StepFn::Add(n) => match input {
                Ok(Some(x)) => Ok(Some(x.wrapping_add(*n))),
                _ => Err(Fault::TypeError),
            },
            StepFn::Fail(tag) => Err(Fault::Raised(*tag)),
            StepFn::Recover(v) => Ok(*v),
            StepFn::Pass => input,
            StepFn::Trap(tag, v) => match input {
                Err(Fault::Raised(t)) if t == *tag => Ok(*v),
                other => other,
            },
            StepFn::Custom(step) => step.call(input),
            _ => return None,
        })
    }
}

/// A step function of your own, for programs to call: a name, for printing, and a function
/// from the step's input to its output.
///
/// The model calls the function to predict the step, and the runner calls it inside a real
/// step, so it should depend on its input only. A panic in it becomes the step's failure
/// ([`Fault::Panic`]) on both sides. [`Shape::custom_step`](super::Shape::custom_step) mixes
/// custom steps into generated programs.
///
/// ```
/// use deferreds::proptest::{CustomStep, Fault, StepFn};
///
/// // Retries once: a cancellation becomes a fresh value, anything else goes on.
/// let retry = CustomStep::new("retry_cancelled", |input| match input {
///     Err(Fault::Cancelled) => Ok(Some(0)),
///     other => other,
/// });
/// assert_eq!(retry.call(Err(Fault::Cancelled)), Ok(Some(0)));
/// let step = StepFn::Custom(retry);
/// assert_eq!(step.to_string(), "retry_cancelled");
/// ```
#[derive(Clone)]
pub struct CustomStep {
    name: Arc<str>,
    f: Arc<dyn Fn(Outcome) -> Outcome + Send + Sync>,
}

impl CustomStep {
    /// A step function called `name` that computes `f(input)`.
    ///
    /// ```
    /// use deferreds::proptest::CustomStep;
    /// let double = CustomStep::new("double", |input| input.map(|v| v.map(|n| n * 2)));
    /// assert_eq!(double.call(Ok(Some(4))), Ok(Some(8)));
    /// ```
    pub fn new(
        name: impl Into<String>,
        f: impl Fn(Outcome) -> Outcome + Send + Sync + 'static,
    ) -> CustomStep {
        CustomStep { name: Arc::from(name.into()), f: Arc::new(f) }
    }

    /// Its name.
    ///
    /// ```
    /// let pass = deferreds::proptest::CustomStep::new("pass_through", |input| input);
    /// assert_eq!(pass.name(), "pass_through");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Calls the function.
    ///
    /// ```
    /// use deferreds::proptest::{CustomStep, Fault};
    /// let give_up = CustomStep::new("give_up", |_| Err(Fault::Cancelled));
    /// assert_eq!(give_up.call(Ok(Some(1))), Err(Fault::Cancelled));
    /// ```
    pub fn call(&self, input: Outcome) -> Outcome {
        (self.f)(input)
    }
}

impl PartialEq for CustomStep {
    /// The same name and the same function (not merely an equal one).
    fn eq(&self, other: &CustomStep) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.f, &other.f)
    }
}

impl Eq for CustomStep {}

impl fmt::Debug for CustomStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CustomStep").field(&self.name).finish()
    }
}

/// One operation of a program. Each names the Deferred it acts on by its index.
///
/// How the runner performs each is in [`runner`](super::runner); the operations that need a
/// Deferred's tail (adding, cancelling and chaining from it) find it
/// [unavailable](super::Event::Unavailable) once a nest step owns it.
///
/// ```
/// use deferreds::proptest::{Op, Program};
/// let mut program = Program::new(2);
/// program.ops = vec![Op::ChainDeferred(0, 1), Op::Pause(1), Op::Callback(0, None), Op::Unpause(1)];
/// assert_eq!(
///     program.to_string(),
///     "Deferreds: d0, d1\n0. d0.chain_deferred(d1)\n1. d1.pause()\n2. d0.callback(None)\n3. d1.unpause()\n"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Adds a step to Deferred d.
    Add(usize, Attach),
    /// `resolver.callback(value)`.
    Callback(usize, Value),
    /// `resolver.errback(Failure::new(tag))`.
    Errback(usize, Tag),
    /// Pauses Deferred d (through its tail, or through its resolver once the tail is
    /// elsewhere).
    Pause(usize),
    /// `unpause()`; refused with `NotPausedError` when d is not paused.
    Unpause(usize),
    /// `d.cancel()`.
    Cancel(usize),
    /// `d.chain_deferred(&resolver_e)`; d's chain goes on with `None` (Twisted's `None`, what
    /// `callback` returns).
    ChainDeferred(usize, usize),
}

/// A program refers to a Deferred it does not have, or names its Deferreds inconsistently.
///
/// ```
/// use deferreds::proptest::{InvalidProgram, Op, Program};
/// let mut program = Program::new(1);
/// program.ops.push(Op::Cancel(3));
/// assert_eq!(
///     program.validate(),
///     Err(InvalidProgram::NoSuchDeferred { d: 3, deferreds: 1, at: "operation 0".into() })
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidProgram {
    /// An index past the end of [`Program::deferreds`].
    #[error("{at} refers to Deferred {d}, but the program has {deferreds}")]
    NoSuchDeferred {
        /// The index.
        d: usize,
        /// How many Deferreds the program has.
        deferreds: usize,
        /// Where: `operation 3`, or `the canceller of Deferred 1`.
        at: String,
    },
    /// [`Program::names`] is neither empty nor one name per Deferred.
    #[error("the program has {deferreds} Deferreds but {names} names")]
    Names {
        /// How many Deferreds the program has.
        deferreds: usize,
        /// How many names it has.
        names: usize,
    },
}

impl Program {
    /// A program of `deferreds` Deferreds without cancellers, and no operations yet.
    ///
    /// ```
    /// let program = deferreds::proptest::Program::new(3);
    /// assert_eq!(program.deferreds.len(), 3);
    /// assert!(program.ops.is_empty());
    /// ```
    pub fn new(deferreds: usize) -> Program {
        Program { deferreds: vec![Canceller::None; deferreds], ops: Vec::new(), names: Vec::new() }
    }

    /// The program with its Deferreds named, for printing.
    ///
    /// ```
    /// use deferreds::proptest::{Op, Program};
    /// let mut program = Program::new(2).named(["reply", "timer"]);
    /// program.ops.push(Op::Callback(1, None));
    /// assert_eq!(program.to_string(), "Deferreds: reply, timer\n0. timer.callback(None)\n");
    /// ```
    pub fn named<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Program {
        self.names = names.into_iter().map(Into::into).collect();
        self
    }

    /// The name of Deferred d: its entry in [`names`](Program::names), or `d0`, `d1`, ...
    ///
    /// ```
    /// let program = deferreds::proptest::Program::new(2);
    /// assert_eq!(program.name(1), "d1");
    /// ```
    pub fn name(&self, d: usize) -> String {
        match self.names.get(d) {
            Some(name) => name.clone(),
            None => format!("d{d}"),
        }
    }

    /// Checks that every index names one of the program's Deferreds and that there is a name
    /// for each Deferred or none at all. [`model::run`](super::model::run) and the
    /// [runner](super::runner::Runner::new) check this first.
    ///
    /// ```
    /// use deferreds::proptest::{Attach, Op, Program, StepFn};
    /// let mut program = Program::new(2);
    /// program.ops.push(Op::Add(0, Attach::Both(StepFn::Fire(1, None))));
    /// assert_eq!(program.validate(), Ok(()));
    /// ```
    pub fn validate(&self) -> Result<(), InvalidProgram> {
        let n = self.deferreds.len();
        if !self.names.is_empty() && self.names.len() != n {
            return Err(InvalidProgram::Names { deferreds: n, names: self.names.len() });
        }
        let check = |d: usize, at: &dyn Fn() -> String| {
            if d < n {
                Ok(())
            } else {
                Err(InvalidProgram::NoSuchDeferred { d, deferreds: n, at: at() })
            }
        };
        for (d, canceller) in self.deferreds.iter().enumerate() {
            if let Canceller::FireOther(k, _) = canceller {
                check(*k, &|| format!("the canceller of Deferred {d}"))?;
            }
        }
        for (i, op) in self.ops.iter().enumerate() {
            let at = || format!("operation {i}");
            let mut refs = vec![op.deferred()];
            match op {
                Op::Add(_, attach) => attach_refs(attach, &mut refs),
                Op::ChainDeferred(_, e) => refs.push(*e),
                _ => {}
            }
            for d in refs {
                check(d, &at)?;
            }
        }
        Ok(())
    }
}

/// Every Deferred the functions of `attach` refer to.
fn attach_refs(attach: &Attach, refs: &mut Vec<usize>) {
    for f in attach.fns() {
        match f {
            StepFn::Nest(k) | StepFn::Fire(k, _) | StepFn::Cancel(k) => refs.push(*k),
            StepFn::AddTo(k, inner) => {
                refs.push(*k);
                attach_refs(inner, refs);
            }
            _ => {}
        }
    }
}

impl Op {
    /// The Deferred the operation acts on.
    ///
    /// ```
    /// assert_eq!(deferreds::proptest::Op::ChainDeferred(2, 0).deferred(), 2);
    /// ```
    pub fn deferred(&self) -> usize {
        match self {
            Op::Add(d, _)
            | Op::Callback(d, _)
            | Op::Errback(d, _)
            | Op::Pause(d)
            | Op::Unpause(d)
            | Op::Cancel(d)
            | Op::ChainDeferred(d, _) => *d,
        }
    }
}
