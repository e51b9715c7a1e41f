//! What flows through a program's chains: [`Value`]s, and failures as [`Fault`]s.
//!
//! Part of `proptest`, on the public API and `testing`: it knows nothing of the engine, the
//! combinators' insides, the primitives, the async bridge or the reactor.

use std::fmt;

use crate::deferred::Deferred;
use crate::error::{AlreadyCalledError, CancelledError, CircularChainError};
use crate::failure::{Failure, PanicError};

/// The value every Deferred of a program carries: a number, or `None`.
///
/// `None` is what a chain goes on with after [`chain_deferred`](crate::Deferred::chain_deferred)
/// (Twisted's `chainDeferred` continues with what `callback` returned, `None`), and what a step
/// may recover with.
///
/// ```
/// use deferreds::proptest::Value;
/// let v: Value = Some(5);
/// assert_eq!(v.map(|n| n + 1), Some(6));
/// ```
pub type Value = Option<i64>;

/// A step's input or output as the model sees it: a value, or a failure described by its kind.
///
/// ```
/// use deferreds::proptest::{Fault, Outcome, Tag};
/// let ok: Outcome = Ok(Some(1));
/// let failed: Outcome = Err(Fault::Raised(Tag::E1));
/// assert_ne!(ok, failed);
/// ```
pub type Outcome = Result<Value, Fault>;

/// The errors a program raises itself: three distinct tags, so that an errback can trap one and
/// let the others through.
///
/// A failure of a program carries a `Tag` as its error, so ordinary code can check for it.
///
/// ```
/// use deferreds::Failure;
/// use deferreds::proptest::Tag;
/// let failure = Failure::new(Tag::E2);
/// assert_eq!(failure.downcast_ref::<Tag>(), Some(&Tag::E2));
/// assert_eq!(failure.to_string(), "E2");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
pub enum Tag {
    /// The first of the three.
    #[error("E0")]
    E0,
    /// The second.
    #[error("E1")]
    E1,
    /// The third.
    #[error("E2")]
    E2,
}

impl Tag {
    /// The three tags, in order.
    ///
    /// ```
    /// use deferreds::proptest::Tag;
    /// assert_eq!(Tag::ALL.len(), 3);
    /// ```
    pub const ALL: [Tag; 3] = [Tag::E0, Tag::E1, Tag::E2];
}

/// What the `add` step function raises when its input is `None` or a failure (as Python's
/// `None + 1` raises a `TypeError`).
///
/// ```
/// use deferreds::proptest::TypeError;
/// assert_eq!(TypeError.to_string(), "unsupported operand type(s) for +");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, thiserror::Error)]
#[error("unsupported operand type(s) for +")]
pub struct TypeError;

/// A [`Failure`] as the model sees it: which kind of error it carries.
///
/// [`Fault::of`] reads it from a real failure and [`Fault::to_failure`] makes a real failure
/// of it, so a step can be written once, as a function of [`Outcome`]s, and run both by the
/// model and on the crate.
///
/// ```
/// use deferreds::{CancelledError, Failure};
/// use deferreds::proptest::{Fault, Tag};
///
/// assert_eq!(Fault::of(&Failure::new(CancelledError)), Fault::Cancelled);
/// assert_eq!(Fault::of(&Failure::new(Tag::E0)), Fault::Raised(Tag::E0));
/// assert_eq!(Fault::of(&Failure::msg("lost")), Fault::Other("lost".into()));
/// assert!(Fault::Cancelled.to_failure().check::<CancelledError>());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// One of the program's own errors ([`Tag`]).
    Raised(Tag),
    /// [`TypeError`]: `add` on `None` or on a failure.
    TypeError,
    /// [`CancelledError`].
    Cancelled,
    /// [`AlreadyCalledError`]: a step fired a Deferred that had its result already.
    AlreadyCalled,
    /// [`CircularChainError`].
    CircularChain,
    /// A panic in a step, with its message ([`PanicError`]).
    Panic(String),
    /// Any other error, by its message.
    Other(String),
}

impl Fault {
    /// The kind of error `failure` carries.
    ///
    /// ```
    /// use deferreds::proptest::Fault;
    /// let payload = std::panic::catch_unwind(|| panic!("boom")).unwrap_err();
    /// let failure = deferreds::Failure::from_panic(payload);
    /// assert_eq!(Fault::of(&failure), Fault::Panic("boom".into()));
    /// ```
    pub fn of(failure: &Failure) -> Fault {
        if let Some(tag) = failure.downcast_ref::<Tag>() {
            Fault::Raised(*tag)
        } else if failure.check::<TypeError>() {
            Fault::TypeError
        } else if failure.check::<CancelledError>() {
            Fault::Cancelled
        } else if failure.check::<AlreadyCalledError>() {
            Fault::AlreadyCalled
        } else if failure.check::<CircularChainError>() {
            Fault::CircularChain
        } else if let Some(panic) = failure.downcast_ref::<PanicError>() {
            Fault::Panic(panic.message().to_owned())
        } else {
            Fault::Other(failure.error_message())
        }
    }

    /// A new failure carrying this kind of error: the crate's own error types, a [`Tag`],
    /// [`TypeError`], a [`PanicError`], or a message for [`Fault::Other`].
    ///
    /// ```
    /// use deferreds::AlreadyCalledError;
    /// use deferreds::proptest::Fault;
    /// let failure = Fault::AlreadyCalled.to_failure();
    /// assert!(failure.check::<AlreadyCalledError>());
    /// assert_eq!(Fault::of(&failure), Fault::AlreadyCalled);
    /// ```
    pub fn to_failure(&self) -> Failure {
        match self {
            Fault::Raised(tag) => Failure::new(*tag),
            Fault::TypeError => Failure::new(TypeError),
            Fault::Cancelled => Failure::new(CancelledError),
            Fault::AlreadyCalled => Failure::new(already_called()),
            Fault::CircularChain => Failure::new(CircularChainError),
            Fault::Panic(message) => Failure::from_panic(Box::new(message.clone())),
            Fault::Other(message) => Failure::msg(message),
        }
    }
}

/// An `AlreadyCalledError`, made the only way code outside the engine can make one: by firing
/// a Deferred twice.
fn already_called() -> AlreadyCalledError {
    let (d, resolver) = Deferred::<()>::new();
    let _ = resolver.callback(());
    let error = resolver.callback(()).expect_err("a Deferred fires once");
    drop(d);
    error
}

impl fmt::Display for Fault {
    /// `E1`, `TypeError`, `Cancelled`, `AlreadyCalled`, `CircularChain`, `Panic("..")` or
    /// `Other("..")`.
    ///
    /// ```
    /// use deferreds::proptest::{Fault, Tag};
    /// assert_eq!(Fault::Raised(Tag::E1).to_string(), "E1");
    /// assert_eq!(Fault::Other("lost".into()).to_string(), "Other(\"lost\")");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Raised(tag) => write!(f, "{tag}"),
            Fault::TypeError => f.write_str("TypeError"),
            Fault::Cancelled => f.write_str("Cancelled"),
            Fault::AlreadyCalled => f.write_str("AlreadyCalled"),
            Fault::CircularChain => f.write_str("CircularChain"),
            Fault::Panic(message) => write!(f, "Panic({message:?})"),
            Fault::Other(message) => write!(f, "Other({message:?})"),
        }
    }
}

/// A real result as the model sees it: the value, or the [`Fault`] of the failure.
///
/// ```
/// use deferreds::{CancelledError, Failure};
/// use deferreds::proptest::{Fault, outcome_of};
/// assert_eq!(outcome_of(&Ok(Some(3))), Ok(Some(3)));
/// assert_eq!(outcome_of(&Err(Failure::new(CancelledError))), Err(Fault::Cancelled));
/// ```
pub fn outcome_of(result: &Result<Value, Failure>) -> Outcome {
    match result {
        Ok(v) => Ok(*v),
        Err(failure) => Err(Fault::of(failure)),
    }
}

/// Writes an outcome as Rust would: `Ok(Some(5))`, `Ok(None)`, `Err(E1)`.
pub(crate) struct ShowOutcome<'a>(pub(crate) &'a Outcome);

impl fmt::Display for ShowOutcome<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Ok(v) => write!(f, "Ok({})", ShowValue(*v)),
            Err(fault) => write!(f, "Err({fault})"),
        }
    }
}

/// Writes a value as Rust would: `Some(5)`, `None`.
pub(crate) struct ShowValue(pub(crate) Value);

impl fmt::Display for ShowValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, "Some({n})"),
            None => f.write_str("None"),
        }
    }
}
