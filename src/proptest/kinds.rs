//! The kinds of operation, step and canceller a [`Shape`](super::Shape) weighs.
//!
//! Part of `proptest`, on the public API and `testing`: it knows nothing of the engine, the
//! combinators' insides, the primitives, the async bridge or the reactor.

#[cfg(doc)]
use super::program::{Attach, Canceller, Op, StepFn};

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
/// added with [`Shape::custom_step`](super::Shape::custom_step).
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
    pub(super) fn computes(self) -> bool {
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
