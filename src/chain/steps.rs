//! The step queue: room for one step inline, a vector beyond that.
//!
//! Part of the engine: it knows nothing of the typed Deferred, the combinators, the primitives,
//! the async bridge or the reactor.

use std::sync::Arc;

use super::{Chain, Outcome};
use crate::failure::Failure;
use crate::foundation::trace::Site;
use crate::foundation::value::Value;

/// The step queue, with room for one step inline: most chains that wait hold one callback,
/// and a `Vec` would allocate room for four.
#[derive(Default)]
pub(super) enum Steps {
    #[default]
    Empty,
    One(StepFn),
    Many(Vec<StepFn>),
}

impl Steps {
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        match self {
            Steps::Empty => true,
            Steps::One(_) => false,
            Steps::Many(v) => v.is_empty(),
        }
    }

    /// Appends a step, in place: every add to a pending chain comes through here, under the
    /// chain's lock.
    #[inline]
    pub(super) fn push(&mut self, step: StepFn) {
        match self {
            Steps::Many(v) => v.push(step),
            Steps::Empty => *self = Steps::One(step),
            Steps::One(_) => self.grow(step),
        }
    }

    /// The second step: the queue becomes a vector.
    #[cold]
    fn grow(&mut self, step: StepFn) {
        let Steps::One(first) = std::mem::take(self) else { unreachable!("called on One") };
        let mut v = Vec::with_capacity(4);
        v.push(first);
        v.push(step);
        // Over the `Empty` just left: nothing to drop.
        std::mem::forget(std::mem::replace(self, Steps::Many(v)));
    }

    /// The steps, oldest first, for reading.
    pub(super) fn as_slice(&self) -> &[StepFn] {
        match self {
            Steps::Empty => &[],
            Steps::One(step) => std::slice::from_ref(step),
            Steps::Many(v) => v,
        }
    }

    /// The chains the `chain_deferred` links among the steps fire.
    pub(super) fn fire_targets(&self) -> impl Iterator<Item = &Arc<Chain>> {
        self.as_slice().iter().filter_map(|step| step.fires())
    }

    /// Takes every step out, to be run as one batch.
    #[inline]
    pub(super) fn take_batch(&mut self) -> Batch {
        match std::mem::take(self) {
            Steps::Empty => Batch::One(None),
            Steps::One(step) => Batch::One(Some(step)),
            Steps::Many(v) => Batch::Many(v.into_iter()),
        }
    }

    /// Puts an unfinished batch back in front of the steps added meanwhile.
    #[cold]
    pub(super) fn put_back(&mut self, batch: Batch) {
        let mut front: Vec<StepFn> = match batch {
            Batch::One(None) => return,
            Batch::One(Some(step)) => vec![step],
            // Collecting a `vec::IntoIter` reuses its buffer.
            Batch::Many(rest) if rest.len() == 0 => return,
            Batch::Many(rest) => rest.collect(),
        };
        match std::mem::take(self) {
            Steps::Empty => {}
            Steps::One(step) => front.push(step),
            Steps::Many(v) => front.extend(v),
        }
        *self = Steps::Many(front);
    }
}

/// Steps taken out of the queue, consumed front to back outside the lock.
pub(super) enum Batch {
    One(Option<StepFn>),
    Many(std::vec::IntoIter<StepFn>),
}

impl Batch {
    /// A batch of one step.
    #[inline]
    pub(super) fn one(step: StepFn) -> Batch {
        Batch::One(Some(step))
    }

    /// A batch with no steps left.
    #[inline]
    pub(super) fn none() -> Batch {
        Batch::One(None)
    }

    #[inline]
    pub(super) fn next(&mut self) -> Option<StepFn> {
        match self {
            Batch::One(step) => step.take(),
            Batch::Many(iter) => iter.next(),
        }
    }

    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        match self {
            Batch::One(step) => step.is_none(),
            Batch::Many(iter) => iter.len() == 0,
        }
    }
}

/// One step: gets the current result, returns what comes next.
pub(crate) type StepFn = Box<dyn RunStep>;

/// What the step queue holds: any closure, or a `chain_deferred` link, whose target the engine
/// can see (see `cycles`).
pub(crate) trait RunStep: Send {
    fn run(self: Box<Self>, input: Result<Value, Failure>) -> Outcome;

    /// The chain this step fires, if it is a `chain_deferred` link.
    fn fires(&self) -> Option<&Arc<Chain>> {
        None
    }

    /// Where a user added this step, if it was added where that is kept (see `located`).
    fn site(&self) -> Option<Site> {
        None
    }
}

impl<F: FnOnce(Result<Value, Failure>) -> Outcome + Send> RunStep for F {
    #[inline]
    fn run(self: Box<Self>, input: Result<Value, Failure>) -> Outcome {
        (*self)(input)
    }
}
