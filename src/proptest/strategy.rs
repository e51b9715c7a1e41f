//! Strategies: [`Shape`] says what programs to generate, and generates them.
//!
//! Part of `proptest`, on the public API and `testing`: it knows nothing of the engine, the
//! combinators' insides, the primitives, the async bridge or the reactor.

use std::fmt;

use ::proptest::collection::{SizeRange, vec};
use ::proptest::prelude::*;
use ::proptest::strategy::{NewTree, ValueTree};
use ::proptest::test_runner::TestRunner;

use super::generate::{
    Choice, Depth, FnChoices, SHRINK_ORDER, attach, drawn, index_of, keep_only, repair,
    settle_at_end, tag, weighted,
};
use super::kinds::{CancellerKind, OpKind, StepKind};
use super::outcome::{Fault, Outcome, Value};
use super::program::{Attach, Canceller, CustomStep, Op, Program};

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
        keep_only(&mut self.ops, &OpKind::ALL, kinds);
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
        keep_only(&mut self.steps, &StepKind::ALL, kinds);
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
        let (weights, total) = drawn(&OpKind::ALL, &self.ops);
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
        let (weights, total) = drawn(&CancellerKind::ALL, &self.cancellers);
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
