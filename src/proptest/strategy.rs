//! Strategies: [`Shape`] says what programs to generate, and generates them.

use std::fmt;

use ::proptest::collection::{SizeRange, vec};
use ::proptest::prelude::*;
use ::proptest::strategy::{NewTree, ValueTree};
use ::proptest::test_runner::TestRunner;

use super::outcome::{Fault, Outcome, Tag, Value};
use super::program::{Attach, Canceller, CustomStep, Op, Program, StepFn};

/// The kinds of operation a generated program may contain (see [`Op`]).
///
/// ```
/// use deferreds::proptest::{OpKind, Shape};
/// // Programs that only add steps and fire: no pauses, cancels or chaining.
/// let shape = Shape::new().only(&[OpKind::AddCallback, OpKind::AddErrback, OpKind::Callback]);
/// # let _ = shape;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// [`Op::Add`] with [`Attach::Callback`].
    AddCallback,
    /// [`Op::Add`] with [`Attach::Errback`].
    AddErrback,
    /// [`Op::Add`] with [`Attach::Both`].
    AddBoth,
    /// [`Op::Add`] with [`Attach::Callbacks`].
    AddCallbacks,
    /// [`Op::Callback`].
    Callback,
    /// [`Op::Errback`].
    Errback,
    /// [`Op::Pause`].
    Pause,
    /// [`Op::Unpause`], of a Deferred with a pause outstanding.
    Unpause,
    /// [`Op::Cancel`].
    Cancel,
    /// [`Op::ChainDeferred`], between two different Deferreds.
    ChainDeferred,
}

impl OpKind {
    /// Every kind, in the order above.
    ///
    /// ```
    /// assert_eq!(deferreds::proptest::OpKind::ALL.len(), 10);
    /// ```
    pub const ALL: [OpKind; 10] = [
        OpKind::AddCallback,
        OpKind::AddErrback,
        OpKind::AddBoth,
        OpKind::AddCallbacks,
        OpKind::Callback,
        OpKind::Errback,
        OpKind::Pause,
        OpKind::Unpause,
        OpKind::Cancel,
        OpKind::ChainDeferred,
    ];
}

/// The kinds of step function a generated step may have (see [`StepFn`]). Custom steps are
/// added with [`Shape::custom_step`].
///
/// ```
/// use deferreds::proptest::{Shape, StepKind};
/// // Steps that only compute: no nesting, and nothing done to other Deferreds.
/// let shape = Shape::new().only_steps(&[StepKind::Add, StepKind::Fail, StepKind::Recover, StepKind::Pass]);
/// # let _ = shape;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepKind {
    /// [`StepFn::Add`].
    Add,
    /// [`StepFn::Fail`].
    Fail,
    /// [`StepFn::Recover`].
    Recover,
    /// [`StepFn::Pass`].
    Pass,
    /// [`StepFn::Trap`].
    Trap,
    /// [`StepFn::Nest`], of a Deferred no other step has nested (not inside an `AddTo`).
    Nest,
    /// [`StepFn::NestFired`].
    NestFired,
    /// [`StepFn::NestFailed`].
    NestFailed,
    /// [`StepFn::Fire`].
    Fire,
    /// [`StepFn::Cancel`].
    Cancel,
    /// [`StepFn::AddTo`] (not inside another `AddTo`).
    AddTo,
}

impl StepKind {
    /// Every kind, in the order above.
    ///
    /// ```
    /// assert_eq!(deferreds::proptest::StepKind::ALL.len(), 11);
    /// ```
    pub const ALL: [StepKind; 11] = [
        StepKind::Add,
        StepKind::Fail,
        StepKind::Recover,
        StepKind::Pass,
        StepKind::Trap,
        StepKind::Nest,
        StepKind::NestFired,
        StepKind::NestFailed,
        StepKind::Fire,
        StepKind::Cancel,
        StepKind::AddTo,
    ];

    /// Whether the kind only computes (see [`StepFn::apply`]), so that it can be a step of
    /// a chain outside any program.
    fn computes(self) -> bool {
        matches!(
            self,
            StepKind::Add | StepKind::Fail | StepKind::Recover | StepKind::Pass | StepKind::Trap
        )
    }
}

/// The kinds of canceller a generated Deferred may have (see [`Canceller`]).
///
/// ```
/// use deferreds::proptest::{CancellerKind, Shape};
/// let shape = Shape::new().canceller_weight(CancellerKind::FireOther, 40);
/// # let _ = shape;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CancellerKind {
    /// [`Canceller::None`].
    None,
    /// [`Canceller::Noop`].
    Noop,
    /// [`Canceller::Fire`].
    Fire,
    /// [`Canceller::Fail`].
    Fail,
    /// [`Canceller::FireOther`].
    FireOther,
}

impl CancellerKind {
    /// Every kind, in the order above.
    ///
    /// ```
    /// assert_eq!(deferreds::proptest::CancellerKind::ALL.len(), 5);
    /// ```
    pub const ALL: [CancellerKind; 5] = [
        CancellerKind::None,
        CancellerKind::Noop,
        CancellerKind::Fire,
        CancellerKind::Fail,
        CancellerKind::FireOther,
    ];
}

/// What generated programs look like: how many Deferreds, how many operations, which kinds of
/// operation, step function and canceller with what weights, your own step functions, and
/// whether a program ends by releasing its pauses and firing every Deferred. A `Shape` is a
/// proptest [`Strategy`] for [`Program`]s.
///
/// The defaults are those of the differential tests against Twisted: 1 to 4 Deferreds, 3 to
/// 14 operations, most of them adding steps, and 70% of programs ending by firing everything.
/// A weight of 0 leaves a kind out.
///
/// Every generated program is one Rust can express: once a step that nests Deferred j has
/// been added, nothing more is added to j, j is not cancelled, chained from or nested again;
/// no step nests its own Deferred and no Deferred is chained into itself; an unpause follows a
/// pause. Operations drawn against these rules are left out. (Whether a step's `cancel` or
/// `add_to` reaches its target depends on what is running when it runs; such steps are kept,
/// and record [`Event::Unavailable`](super::Event::Unavailable).)
///
/// Shrinking removes operations, lowers the number of Deferreds (not below the range given to
/// [`deferreds`](Shape::deferreds)), and simplifies what is left, so a failing case ends as a
/// short program, printed as a numbered list of operations. It works within proptest's
/// budget (`max_shrink_iters`, by default four shrinking steps per case).
///
/// ```
/// use deferreds::proptest::{OpKind, Shape, model, runner};
/// use proptest::prelude::*;
///
/// proptest! {
///     #![proptest_config(ProptestConfig::with_cases(64))]
///     fn the_crate_agrees_with_the_model(program in Shape::new().deferreds(2..=3).weight(OpKind::Cancel, 20)) {
///         prop_assert_eq!(runner::run(&program)?.trace, model::run(&program)?);
///     }
/// }
/// # the_crate_agrees_with_the_model();
/// ```
#[derive(Clone)]
pub struct Shape {
    deferreds: SizeRange,
    length: SizeRange,
    ops: [u32; OpKind::ALL.len()],
    steps: [u32; StepKind::ALL.len()],
    cancellers: [u32; CancellerKind::ALL.len()],
    custom: Vec<(CustomStep, u32)>,
    settle: f64,
    values: (i64, i64),
    names: Vec<String>,
}

impl Default for Shape {
    fn default() -> Shape {
        Shape::new()
    }
}

impl Shape {
    /// The default shape.
    ///
    /// ```
    /// use deferreds::proptest::Shape;
    /// use proptest::strategy::{Strategy, ValueTree};
    /// let program = Shape::new().new_tree(&mut Default::default()).unwrap().current();
    /// assert!((1..=4).contains(&program.deferreds.len()));
    /// ```
    pub fn new() -> Shape {
        Shape {
            deferreds: (1..=4).into(),
            length: (3..=14).into(),
            // The weights of `conformance/generate.py`.
            ops: [15, 8, 8, 11, 12, 5, 5, 8, 6, 5],
            steps: [18, 10, 8, 8, 9, 11, 5, 4, 8, 5, 7],
            cancellers: [55, 15, 15, 15, 10],
            custom: Vec::new(),
            settle: 0.7,
            values: (0, 9),
            names: Vec::new(),
        }
    }

    /// How many Deferreds: a number or a range (`2`, `1..=3`). A program has one at least.
    ///
    /// ```
    /// use deferreds::proptest::Shape;
    /// use proptest::strategy::{Strategy, ValueTree};
    /// let program = Shape::new().deferreds(3).new_tree(&mut Default::default()).unwrap().current();
    /// assert_eq!(program.deferreds.len(), 3);
    /// ```
    pub fn deferreds(mut self, n: impl Into<SizeRange>) -> Shape {
        self.deferreds = n.into();
        self
    }

    /// How many operations are drawn (some may be left out, see above; the operations that
    /// settle the program at the end come on top).
    ///
    /// ```
    /// use deferreds::proptest::Shape;
    /// use proptest::strategy::{Strategy, ValueTree};
    /// let shape = Shape::new().length(0..=2).settle(0.0);
    /// let program = shape.new_tree(&mut Default::default()).unwrap().current();
    /// assert!(program.ops.len() <= 2);
    /// ```
    pub fn length(mut self, n: impl Into<SizeRange>) -> Shape {
        self.length = n.into();
        self
    }

    /// The weight of a kind of operation; 0 leaves it out.
    ///
    /// ```
    /// use deferreds::proptest::{Op, OpKind, Shape};
    /// use proptest::strategy::{Strategy, ValueTree};
    /// let shape = Shape::new().weight(OpKind::Cancel, 0);
    /// let program = shape.new_tree(&mut Default::default()).unwrap().current();
    /// assert!(!program.ops.iter().any(|op| matches!(op, Op::Cancel(_))));
    /// ```
    pub fn weight(mut self, kind: OpKind, weight: u32) -> Shape {
        self.ops[index_of(&OpKind::ALL, kind)] = weight;
        self
    }

    /// Only these kinds of operation, with their weights as they were.
    ///
    /// ```
    /// use deferreds::proptest::{Op, OpKind, Shape};
    /// use proptest::strategy::{Strategy, ValueTree};
    /// let shape = Shape::new().only(&[OpKind::Pause, OpKind::Unpause]).settle(0.0);
    /// let program = shape.new_tree(&mut Default::default()).unwrap().current();
    /// assert!(program.ops.iter().all(|op| matches!(op, Op::Pause(_) | Op::Unpause(_))));
    /// ```
    pub fn only(mut self, kinds: &[OpKind]) -> Shape {
        for (i, kind) in OpKind::ALL.iter().enumerate() {
            if !kinds.contains(kind) {
                self.ops[i] = 0;
            }
        }
        self
    }

    /// The weight of a kind of step function; 0 leaves it out.
    ///
    /// ```
    /// use deferreds::proptest::{Shape, StepKind};
    /// let shape = Shape::new().step_weight(StepKind::Nest, 30);
    /// # let _ = shape;
    /// ```
    pub fn step_weight(mut self, kind: StepKind, weight: u32) -> Shape {
        self.steps[index_of(&StepKind::ALL, kind)] = weight;
        self
    }

    /// Only these kinds of step function (and the custom ones), with their weights as they
    /// were.
    ///
    /// ```
    /// use deferreds::proptest::{Op, Shape, StepFn, StepKind};
    /// use proptest::strategy::{Strategy, ValueTree};
    /// let shape = Shape::new().only_steps(&[StepKind::Pass]);
    /// let program = shape.new_tree(&mut Default::default()).unwrap().current();
    /// for op in &program.ops {
    ///     if let Op::Add(_, attach) = op {
    ///         assert!(attach.fns().all(|f| *f == StepFn::Pass));
    ///     }
    /// }
    /// ```
    pub fn only_steps(mut self, kinds: &[StepKind]) -> Shape {
        for (i, kind) in StepKind::ALL.iter().enumerate() {
            if !kinds.contains(kind) {
                self.steps[i] = 0;
            }
        }
        self
    }

    /// The weight of a kind of canceller; 0 leaves it out. With every weight 0, no Deferred
    /// has a canceller.
    ///
    /// ```
    /// use deferreds::proptest::{Canceller, CancellerKind, Shape};
    /// use proptest::strategy::{Strategy, ValueTree};
    /// let mut shape = Shape::new();
    /// for kind in CancellerKind::ALL {
    ///     shape = shape.canceller_weight(kind, 0);
    /// }
    /// let program = shape.new_tree(&mut Default::default()).unwrap().current();
    /// assert!(program.deferreds.iter().all(|c| *c == Canceller::None));
    /// ```
    pub fn canceller_weight(mut self, kind: CancellerKind, weight: u32) -> Shape {
        self.cancellers[index_of(&CancellerKind::ALL, kind)] = weight;
        self
    }

    /// Adds a step function of your own, drawn with this weight among the others.
    ///
    /// ```
    /// use deferreds::proptest::{CustomStep, Fault, Shape, model, runner};
    /// use proptest::strategy::{Strategy, ValueTree};
    ///
    /// let forgive = CustomStep::new("forgive_cancel", |input| match input {
    ///     Err(Fault::Cancelled) => Ok(None),
    ///     other => other,
    /// });
    /// let shape = Shape::new().custom_step(forgive, 20);
    /// let program = shape.new_tree(&mut Default::default()).unwrap().current();
    /// assert_eq!(runner::run(&program).unwrap().trace, model::run(&program).unwrap());
    /// ```
    pub fn custom_step(mut self, step: CustomStep, weight: u32) -> Shape {
        self.custom.push((step, weight));
        self
    }

    /// The share of programs that end by undoing their outstanding pauses and firing every
    /// Deferred (those already fired refuse), in a shuffled order, so that results flow to the
    /// ends of the chains. 0 never, 1 always (a share outside `0.0..=1.0` is taken as the
    /// nearer end, and NaN as 0); the default is 0.7.
    ///
    /// ```
    /// use deferreds::proptest::{Event, FinalState, Shape, model};
    /// use proptest::strategy::{Strategy, ValueTree};
    /// let shape = Shape::new().settle(1.0);
    /// let program = shape.new_tree(&mut Default::default()).unwrap().current();
    /// let trace = model::run(&program).unwrap();
    /// assert!(trace.events.iter().all(|e| !matches!(e, Event::Final { state: FinalState::Pending, .. })));
    /// ```
    pub fn settle(mut self, share: f64) -> Shape {
        self.settle = if share.is_nan() { 0.0 } else { share.clamp(0.0, 1.0) };
        self
    }

    /// The values that fires, recoveries, traps and cancellers use (default `0..=9`; `None` is
    /// drawn one time in ten besides). The numbers `add` steps add are `-2..=9`.
    ///
    /// # Panics
    ///
    /// If the range is empty.
    ///
    /// ```
    /// use deferreds::proptest::Shape;
    /// let shape = Shape::new().values(-100..=100);
    /// # let _ = shape;
    /// ```
    pub fn values(mut self, range: std::ops::RangeInclusive<i64>) -> Shape {
        assert!(!range.is_empty(), "Shape::values: the range {range:?} has no value");
        self.values = (*range.start(), *range.end());
        self
    }

    /// Names for the Deferreds of generated programs, used when they are printed (with more
    /// Deferreds than names, the rest are `d3`, `d4`, ...).
    ///
    /// ```
    /// use deferreds::proptest::Shape;
    /// use proptest::strategy::{Strategy, ValueTree};
    /// let shape = Shape::new().deferreds(2).names(["reply", "timer"]);
    /// let program = shape.new_tree(&mut Default::default()).unwrap().current();
    /// assert!(program.to_string().starts_with("Deferreds: reply"));
    /// ```
    pub fn names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Shape {
        self.names = names.into_iter().map(Into::into).collect();
        self
    }

    /// The strategy for programs, boxed.
    ///
    /// ```
    /// use deferreds::proptest::{Program, Shape};
    /// use proptest::strategy::BoxedStrategy;
    /// let programs: BoxedStrategy<Program> = Shape::new().programs();
    /// # let _ = programs;
    /// ```
    pub fn programs(&self) -> BoxedStrategy<Program> {
        let max = self.deferreds.end_incl().max(1);
        let deferreds = (self.deferreds.start().max(1)..=max).boxed();
        let ops = match self.op_strategy() {
            Some(op) => vec(op, self.length.clone()).boxed(),
            None => Just(Vec::new()).boxed(),
        };
        // A flag per operation that shrinks to false, taking the operation out: shrinking
        // goes below the shortest length drawn, and tries each removal before it spends its
        // budget on the operations' fields.
        let kept = vec(::proptest::bool::weighted(1.0), self.length.end_incl());
        // The same for the number of Deferreds, one at a time once operations are gone.
        let fewer = vec(::proptest::bool::weighted(1.0), max);
        let least = self.deferreds.start().max(1);
        let cancellers = vec(self.canceller_strategy(), max);
        let settle = ::proptest::bool::weighted(self.settle);
        // Each operation of the settling end may shrink away on its own.
        let settle_kept = vec(::proptest::bool::weighted(1.0), self.length.end_incl() + 2 * max);
        let order = Just((0..max).collect::<Vec<usize>>()).prop_shuffle();
        let fires = vec(self.value_strategy(), max);
        let names = self.names.clone();
        // Shrinking takes the parts in this order.
        let removals = (deferreds, kept, fewer, settle, settle_kept);
        let rest = (ops, cancellers, order, fires);
        (removals, rest)
            .prop_map(
                move |((n, kept, fewer, settle, settle_kept), (ops, cancellers, order, fires))| {
                    let n = n.min(fewer.iter().filter(|k| **k).count()).max(least);
                    let ops = ops.into_iter().zip(kept.iter().chain(std::iter::repeat(&true)));
                    let ops = ops.filter(|(_, k)| **k).map(|(op, _)| op).collect();
                    let (mut program, pauses) = repair(n, ops, cancellers);
                    if settle {
                        settle_at_end(&mut program, pauses, &order, &fires, &settle_kept);
                    }
                    if !names.is_empty() {
                        let name =
                            |d: usize| names.get(d).cloned().unwrap_or_else(|| format!("d{d}"));
                        program.names = (0..n).map(name).collect();
                    }
                    program
                },
            )
            .boxed()
    }

    /// Steps for chains of your own: an [`Attach`] whose functions only compute (`add`,
    /// `fail`, `recover`, `pass`, `trap` and the custom steps, with their weights; the kinds
    /// that return or act on Deferreds are left out). With none of those left, `Pass` steps.
    ///
    /// ```
    /// use deferreds::proptest::Shape;
    /// use proptest::strategy::{Strategy, ValueTree};
    /// let attach = Shape::new().attaches().new_tree(&mut Default::default()).unwrap().current();
    /// assert!(attach.fns().all(|f| f.apply(Ok(Some(1))).is_some()));
    /// ```
    pub fn attaches(&self) -> BoxedStrategy<Attach> {
        self.own_attach_strategy()
    }

    /// Inputs for chains of your own: a value three times in four, else one of the program's
    /// errors.
    ///
    /// ```
    /// use deferreds::proptest::Shape;
    /// use proptest::strategy::{Strategy, ValueTree};
    /// let input = Shape::new().outcomes().new_tree(&mut Default::default()).unwrap().current();
    /// if let Ok(Some(n)) = input {
    ///     assert!((0..=9).contains(&n));
    /// }
    /// ```
    pub fn outcomes(&self) -> BoxedStrategy<Outcome> {
        (0u8..4, self.value_strategy(), tag())
            .prop_map(|(k, v, tag)| if k < 3 { Ok(v) } else { Err(Fault::Raised(tag)) })
            .boxed()
    }

    /// Indices are drawn from this range and mapped onto the Deferreds a choice may take, so
    /// that shrinking one moves it to the first of them.
    fn raw(&self) -> std::ops::Range<usize> {
        0..4 * self.deferreds.end_incl().max(1)
    }

    fn value_strategy(&self) -> BoxedStrategy<Value> {
        let (low, high) = self.values;
        // `None` one time in ten; a shrinking value goes to `None`, or toward `low`.
        (0u8..10, low..=high).prop_map(|(k, n)| (k != 0).then_some(n)).boxed()
    }

    // The choices below are flat: a weighted pick and the fields any choice may need, drawn
    // together. (A proptest `Union` prepares a value tree for every option before the one it
    // picks, which costs more than the rest of a case.) A shrinking pick moves to the
    // choices listed first, the simplest.

    fn op_strategy(&self) -> Option<BoxedStrategy<Op>> {
        let weights: Vec<(OpKind, u32)> =
            OpKind::ALL.iter().copied().zip(self.ops).filter(|(_, w)| *w > 0).collect();
        let total: u32 = weights.iter().map(|(_, w)| w).sum();
        if total == 0 {
            return None;
        }
        // One set of fields for an operation and its step: which operation and on what; the
        // value, tag, number and target its functions use; which function (two for a pair);
        // and an `add_to`'s own step, whose functions share the value, tag and number.
        let (top, inner) = (self.fn_choices(Depth::Top), self.fn_choices(Depth::Inner));
        let (top_total, inner_total) = (top.total().max(1), inner.total().max(1));
        let head = (0..total, self.raw(), self.raw());
        let data = (self.value_strategy(), tag(), -2i64..=9, self.raw());
        let fns = (0..top_total, 0..top_total);
        let nested = (0u32..100, 0..inner_total, 0..inner_total, self.raw());
        let op = (head, data, fns, nested).prop_map(move |fields| {
            let ((pick, d, e), (v, t, n, k), (p, q), (kind, ip, iq, ik)) = fields;
            let inner_fn = |pick| inner.build((pick, ik, v, t, n), None);
            let f = |pick| {
                let nested = attach(kind, inner_fn(ip), inner_fn(iq));
                top.build((pick, k, v, t, n), Some(nested))
            };
            match weighted(&weights, pick) {
                OpKind::AddCallback => Op::Add(d, Attach::Callback(f(p))),
                OpKind::AddErrback => Op::Add(d, Attach::Errback(f(p))),
                OpKind::AddBoth => Op::Add(d, Attach::Both(f(p))),
                OpKind::AddCallbacks => Op::Add(d, Attach::Callbacks(f(p), f(q))),
                OpKind::Callback => Op::Callback(d, v),
                OpKind::Errback => Op::Errback(d, t),
                OpKind::Pause => Op::Pause(d),
                OpKind::Unpause => Op::Unpause(d),
                OpKind::Cancel => Op::Cancel(d),
                OpKind::ChainDeferred => Op::ChainDeferred(d, e),
            }
        });
        Some(op.boxed())
    }

    /// Steps that only compute (and custom ones), for [`attaches`](Shape::attaches).
    fn own_attach_strategy(&self) -> BoxedStrategy<Attach> {
        let choices = self.fn_choices(Depth::Own);
        let total = choices.total().max(1);
        let fields = (0u32..100, 0..total, 0..total, self.value_strategy(), tag(), -2i64..=9);
        fields
            .prop_map(move |(kind, p, q, v, t, n)| {
                let f = |pick| choices.build((pick, 0, v, t, n), None);
                attach(kind, f(p), f(q))
            })
            .boxed()
    }

    fn fn_choices(&self, depth: Depth) -> FnChoices {
        let mut weights: Vec<(Choice, u32)> = Vec::new();
        for kind in SHRINK_ORDER {
            let weight = self.steps[index_of(&StepKind::ALL, kind)];
            let allowed = match depth {
                Depth::Top => true,
                Depth::Inner => !matches!(kind, StepKind::Nest | StepKind::AddTo),
                Depth::Own => kind.computes(),
            };
            if weight > 0 && allowed {
                weights.push((Choice::Builtin(kind), weight));
            }
        }
        for (i, (_, weight)) in self.custom.iter().enumerate() {
            if *weight > 0 {
                weights.push((Choice::Custom(i), *weight));
            }
        }
        let custom = self.custom.iter().map(|(step, _)| step.clone()).collect();
        FnChoices { weights, custom }
    }

    fn canceller_strategy(&self) -> BoxedStrategy<Canceller> {
        let weights: Vec<(CancellerKind, u32)> = CancellerKind::ALL
            .iter()
            .copied()
            .zip(self.cancellers)
            .filter(|(_, w)| *w > 0)
            .collect();
        let total: u32 = weights.iter().map(|(_, w)| w).sum();
        if total == 0 {
            return Just(Canceller::None).boxed();
        }
        (0..total, self.raw(), self.value_strategy(), tag())
            .prop_map(move |(pick, k, v, t)| match weighted(&weights, pick) {
                CancellerKind::None => Canceller::None,
                CancellerKind::Noop => Canceller::Noop,
                CancellerKind::Fire => Canceller::Fire(v),
                CancellerKind::Fail => Canceller::Fail(t),
                CancellerKind::FireOther => Canceller::FireOther(k, v),
            })
            .boxed()
    }
}

/// The step kinds from the simplest, which is where a shrinking pick goes.
const SHRINK_ORDER: [StepKind; 11] = [
    StepKind::Pass,
    StepKind::Add,
    StepKind::Recover,
    StepKind::Fail,
    StepKind::Trap,
    StepKind::NestFired,
    StepKind::NestFailed,
    StepKind::Fire,
    StepKind::Cancel,
    StepKind::Nest,
    StepKind::AddTo,
];

#[derive(Clone, Copy)]
enum Choice {
    Builtin(StepKind),
    Custom(usize),
}

/// The step functions one position may have, with their weights.
#[derive(Clone)]
struct FnChoices {
    weights: Vec<(Choice, u32)>,
    custom: Vec<CustomStep>,
}

impl FnChoices {
    fn total(&self) -> u32 {
        self.weights.iter().map(|(_, w)| w).sum()
    }

    /// The function a pick falls on, made from the drawn fields (`inner` for an `add_to`).
    fn build(
        &self,
        (pick, k, v, t, n): (u32, usize, Value, Tag, i64),
        inner: Option<Attach>,
    ) -> StepFn {
        if self.weights.is_empty() {
            return StepFn::Pass;
        }
        match weighted(&self.weights, pick) {
            Choice::Builtin(kind) => match kind {
                StepKind::Add => StepFn::Add(n),
                StepKind::Fail => StepFn::Fail(t),
                StepKind::Recover => StepFn::Recover(v),
                StepKind::Pass => StepFn::Pass,
                StepKind::Trap => StepFn::Trap(t, v),
                StepKind::Nest => StepFn::Nest(k),
                StepKind::NestFired => StepFn::NestFired(v),
                StepKind::NestFailed => StepFn::NestFailed(t),
                StepKind::Fire => StepFn::Fire(k, v),
                StepKind::Cancel => StepFn::Cancel(k),
                // Inside an `add_to` there is none; with no kind left for its step, a pass.
                StepKind::AddTo => {
                    StepFn::AddTo(k, Box::new(inner.unwrap_or(Attach::Callback(StepFn::Pass))))
                }
            },
            Choice::Custom(i) => StepFn::Custom(self.custom[i].clone()),
        }
    }
}

/// A step of the kind a pick in `0..100` falls on: the weights of `conformance/generate.py`.
fn attach(kind: u32, f: StepFn, g: StepFn) -> Attach {
    match kind {
        0..35 => Attach::Callback(f),
        35..55 => Attach::Errback(f),
        55..75 => Attach::Both(f),
        _ => Attach::Callbacks(f, g),
    }
}

/// The choice that a pick in `0..total weight` falls on.
fn weighted<T: Copy>(weights: &[(T, u32)], pick: u32) -> T {
    let mut below = 0;
    for &(choice, weight) in weights {
        below += weight;
        if pick < below {
            return choice;
        }
    }
    unreachable!("a pick is below the total weight")
}

#[derive(Clone, Copy)]
enum Depth {
    /// A step added by an operation.
    Top,
    /// A step added by an `add_to` step function.
    Inner,
    /// A step for a chain of the caller's own.
    Own,
}

fn tag() -> impl Strategy<Value = Tag> + Clone {
    (0usize..3).prop_map(|i| Tag::ALL[i])
}

fn index_of<T: PartialEq>(all: &[T], kind: T) -> usize {
    all.iter().position(|k| *k == kind).expect("ALL lists every kind")
}

/// Picks one of `options` by a raw index.
fn pick(options: &[usize], raw: usize) -> Option<usize> {
    (!options.is_empty()).then(|| options[raw % options.len()])
}

/// Turns drawn operations into a program Rust can express: each raw index becomes one of the
/// Deferreds the choice may take, and a choice with none to take is left out. Returns the
/// program and its outstanding pauses.
fn repair(n: usize, ops: Vec<Op>, cancellers: Vec<Canceller>) -> (Program, Vec<u32>) {
    let mut program = Program::new(n);
    for (d, canceller) in cancellers.into_iter().take(n).enumerate() {
        program.deferreds[d] = match canceller {
            Canceller::FireOther(raw, v) => {
                let others: Vec<usize> = (0..n).filter(|&k| k != d).collect();
                match pick(&others, raw) {
                    Some(k) => Canceller::FireOther(k, v),
                    None => Canceller::None,
                }
            }
            other => other,
        };
    }
    let mut nested = vec![false; n];
    let mut pauses = vec![0u32; n];
    let all: Vec<usize> = (0..n).collect();
    for op in ops {
        let free: Vec<usize> = all.iter().copied().filter(|&k| !nested[k]).collect();
        let op = match op {
            Op::Add(raw, attach) => {
                let Some(d) = pick(&free, raw) else { continue };
                let targets: Vec<usize> = free.iter().copied().filter(|&k| k != d).collect();
                let Some(attach) = repair_attach(attach, n, Some(&targets)) else { continue };
                for f in attach.fns() {
                    if let StepFn::Nest(j) = f {
                        nested[*j] = true;
                    }
                }
                Op::Add(d, attach)
            }
            Op::Callback(raw, v) => Op::Callback(raw % n, v),
            Op::Errback(raw, tag) => Op::Errback(raw % n, tag),
            Op::Pause(raw) => {
                pauses[raw % n] += 1;
                Op::Pause(raw % n)
            }
            Op::Unpause(raw) => {
                let paused: Vec<usize> = all.iter().copied().filter(|&k| pauses[k] > 0).collect();
                let Some(d) = pick(&paused, raw) else { continue };
                pauses[d] -= 1;
                Op::Unpause(d)
            }
            Op::Cancel(raw) => {
                let Some(d) = pick(&free, raw) else { continue };
                Op::Cancel(d)
            }
            Op::ChainDeferred(raw_d, raw_e) => {
                let Some(d) = pick(&free, raw_d) else { continue };
                let others: Vec<usize> = all.iter().copied().filter(|&k| k != d).collect();
                let Some(e) = pick(&others, raw_e) else { continue };
                Op::ChainDeferred(d, e)
            }
        };
        program.ops.push(op);
    }
    (program, pauses)
}

/// The functions of one step, with their indices resolved; `targets` are the Deferreds a
/// nest may take (`None` inside an `add_to`, where there is no nesting).
fn repair_attach(attach: Attach, n: usize, targets: Option<&[usize]>) -> Option<Attach> {
    let f = |f: StepFn| repair_fn(f, n, targets);
    Some(match attach {
        Attach::Callback(a) => Attach::Callback(f(a)?),
        Attach::Errback(a) => Attach::Errback(f(a)?),
        Attach::Both(a) => Attach::Both(f(a)?),
        Attach::Callbacks(a, b) => Attach::Callbacks(f(a)?, f(b)?),
    })
}

fn repair_fn(f: StepFn, n: usize, targets: Option<&[usize]>) -> Option<StepFn> {
    Some(match f {
        StepFn::Nest(raw) => StepFn::Nest(pick(targets?, raw)?),
        StepFn::Fire(raw, v) => StepFn::Fire(raw % n, v),
        StepFn::Cancel(raw) => StepFn::Cancel(raw % n),
        StepFn::AddTo(raw, attach) => {
            StepFn::AddTo(raw % n, Box::new(repair_attach(*attach, n, None)?))
        }
        other => other,
    })
}

/// Appends the end that settles a program: every outstanding pause undone, then every
/// Deferred fired, in `order`. The unpauses whose flag in `kept` shrank to false are left out,
/// and so are the fires of the Deferreds whose flag (counted from the end of `kept`, so that
/// the fires of the last Deferreds go first) did.
fn settle_at_end(
    program: &mut Program,
    pauses: Vec<u32>,
    order: &[usize],
    values: &[Value],
    kept: &[bool],
) {
    let n = program.deferreds.len();
    let kept_at = |i: usize| kept.get(i).copied().unwrap_or(true);
    let unpauses = pauses.into_iter().enumerate().flat_map(|(d, count)| (0..count).map(move |_| d));
    for (i, d) in unpauses.enumerate() {
        if kept_at(i) {
            program.ops.push(Op::Unpause(d));
        }
    }
    for &d in order.iter().filter(|&&d| d < n) {
        if kept_at(kept.len().saturating_sub(1 + d)) {
            program.ops.push(Op::Callback(d, values[d]));
        }
    }
}

impl Strategy for Shape {
    type Tree = Box<dyn ValueTree<Value = Program>>;
    type Value = Program;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Shape> {
        self.programs().new_tree(runner)
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shape")
            .field("deferreds", &self.deferreds)
            .field("length", &self.length)
            .field("ops", &self.ops)
            .field("steps", &self.steps)
            .field("cancellers", &self.cancellers)
            .field("custom", &self.custom)
            .field("settle", &self.settle)
            .field("values", &self.values)
            .field("names", &self.names)
            .finish()
    }
}

impl Arbitrary for Program {
    type Parameters = Shape;
    type Strategy = BoxedStrategy<Program>;

    /// Programs of the given [`Shape`] (`any::<Program>()` uses the default one).
    fn arbitrary_with(shape: Shape) -> BoxedStrategy<Program> {
        shape.programs()
    }
}
