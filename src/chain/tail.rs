//! The tail end of a chain, as a `Deferred` holds it.

use std::panic::Location;
use std::sync::{Arc, Weak};

use super::cycles::{mark_linked, release};
use super::run::call_inline;
use super::{Chain, FireOrder, LINKED, Outcome, Peek, Slot, Waiter};
use crate::contain;
use crate::debug;
use crate::error::NotPausedError;
use crate::failure::Failure;
use crate::unhandled::{self, UnhandledFailure};
use crate::value::Value;

/// The tail end of a chain, as a `Deferred` holds it.
///
/// A Deferred that has its result, with nothing queued and nobody else holding the chain,
/// needs no shared state at all: it is just the result. `succeed`, `fail`, and any
/// Deferred whose steps all ran as they were added stay that way, so adding a step is a plain
/// function call with no allocation and no atomic operation. Anything that needs the shared
/// chain (pausing, waiting on a pending Deferred, handing the tail to another chain) turns it
/// into one.
pub(crate) enum Tail {
    Chain(Arc<Chain>),
    Value(Value),
    Failed(Unreported),
}

/// A failure held by a tail with no chain: reported if it is dropped unhandled, since such a
/// tail is a whole chain on its own.
pub(crate) struct Unreported(Option<Failure>);

impl Unreported {
    #[inline]
    fn new(failure: Failure) -> Unreported {
        Unreported(Some(failure))
    }

    /// Takes the failure; it is no longer this guard's to report.
    #[inline]
    fn take(mut self) -> Failure {
        self.0.take().expect("an Unreported always holds its failure until taken")
    }

    fn get(&self) -> &Failure {
        self.0.as_ref().expect("an Unreported always holds its failure until taken")
    }
}

impl Drop for Unreported {
    fn drop(&mut self) {
        if let Some(failure) = self.0.take() {
            unhandled::report(UnhandledFailure::new(failure, None));
        }
    }
}

impl Tail {
    /// A tail that already has `result`. In debug mode it is a real chain, so that it has
    /// somewhere to keep its creation site.
    #[inline]
    pub(crate) fn ready(
        result: Result<Value, Failure>,
        created: &'static Location<'static>,
    ) -> Tail {
        if debug::debugging() {
            Tail::Chain(Chain::fired(result, created))
        } else {
            Tail::from_result(result)
        }
    }

    #[inline]
    fn from_result(result: Result<Value, Failure>) -> Tail {
        match result {
            Ok(v) => Tail::Value(v),
            Err(f) => Tail::Failed(Unreported::new(f)),
        }
    }

    /// Adds a step and returns the new tail.
    #[inline]
    pub(crate) fn push<F>(self, step: F) -> Tail
    where
        F: FnOnce(Result<Value, Failure>) -> Outcome + Send + 'static,
    {
        let input = match self {
            Tail::Chain(mut chain) => {
                Chain::push_owned(&mut chain, step);
                return Tail::Chain(chain);
            }
            Tail::Value(v) => Ok(v),
            Tail::Failed(f) => Err(f.take()),
        };
        match call_inline(step, input) {
            Outcome::Value(v) => Tail::Value(v),
            Outcome::Failure(f) => Tail::Failed(Unreported::new(f)),
            other => Tail::settle(other),
        }
    }

    /// Adds a `chain_deferred` step: fires `target` with the result that reaches it.
    pub(crate) fn push_fire(self, target: Arc<Chain>) -> Tail {
        match self {
            Tail::Chain(source) => {
                // Marked, so that a circle of such links can be found and freed.
                mark_linked(&source);
                mark_linked(&target);
                source.push(FireOrder::link(target));
                Tail::Chain(source)
            }
            // Fired already and nobody else holds it: the step runs now.
            ready => {
                ready.push(move |input: Result<Value, Failure>| Outcome::fire(target, input, None))
            }
        }
    }

    /// Tells the engine that a tail the crate took over goes here (see `cycles`).
    pub(crate) fn dismiss(self) {
        if let Tail::Chain(chain) = &self {
            super::dropping(chain);
        }
    }

    /// The tail that a waiting or firing step leaves, when no chain existed yet.
    #[cold]
    fn settle(outcome: Outcome) -> Tail {
        match outcome {
            Outcome::Value(v) => Tail::Value(v),
            Outcome::Failure(f) => Tail::Failed(Unreported::new(f)),
            Outcome::Wait(inner) => {
                let mut st = inner.state.lock();
                if inner.settled(&st) {
                    return Tail::from_result(st.slot.take_ready());
                }
                // A chain of our own is needed to wait; it is created waiting, so the inner
                // chain may deliver to it as soon as the lock is released.
                let outer =
                    Chain::with_slot(Slot::Waiting(Arc::downgrade(&inner)), Location::caller());
                st.waiter = Some(Waiter::Chain(outer.clone()));
                let linked = inner.marks() & LINKED != 0;
                drop(st);
                if linked {
                    mark_linked(&outer);
                }
                // The tail the step returned goes now (see `cycles`).
                release(inner);
                Tail::Chain(outer)
            }
            Outcome::Fire(order) => {
                let FireOrder { target, result, then } = *order;
                let fired = target.fire(result, Location::caller());
                // As in the trampoline: this may be the target's last handle, and what it still
                // owns is user code, whose panic must not take the new tail with it.
                contain::drop_reporting(target);
                match fired {
                    Ok(()) => Tail::from_result(then.map_or(Ok(Value::UNIT), Err)),
                    Err(err) => Tail::Failed(Unreported::new(Failure::new(err))),
                }
            }
        }
    }

    /// The shared chain, creating it if the tail had none.
    pub(crate) fn into_chain(self) -> Arc<Chain> {
        match self {
            Tail::Chain(chain) => chain,
            Tail::Value(v) => Chain::fired_quiet(Ok(v)),
            Tail::Failed(f) => Chain::fired_quiet(Err(f.take())),
        }
    }

    /// What a step returning this tail hands to the trampoline.
    #[inline]
    pub(crate) fn into_outcome(self) -> Outcome {
        match self {
            Tail::Chain(chain) => Outcome::Wait(chain),
            Tail::Value(v) => Outcome::Value(v),
            Tail::Failed(f) => Outcome::Failure(f.take()),
        }
    }

    /// The result, if it is available now; otherwise the tail back.
    #[inline]
    pub(crate) fn take(self) -> Result<Result<Value, Failure>, Tail> {
        match self {
            Tail::Chain(mut chain) => {
                // The last handle needs no lock.
                match Chain::take_owned(&mut chain).or_else(|| chain.try_take()) {
                    Some(result) => Ok(result),
                    None => Err(Tail::Chain(chain)),
                }
            }
            Tail::Value(v) => Ok(Ok(v)),
            Tail::Failed(f) => Ok(Err(f.take())),
        }
    }

    /// A weak handle on the shared chain, if there is one (a tail that is just a result has
    /// nothing left to cancel).
    pub(crate) fn downgrade(&self) -> Option<Weak<Chain>> {
        match self {
            Tail::Chain(chain) => Some(Arc::downgrade(chain)),
            _ => None,
        }
    }

    pub(crate) fn has_result(&self) -> bool {
        match self {
            Tail::Chain(chain) => chain.has_result(),
            _ => true,
        }
    }

    pub(crate) fn called(&self) -> bool {
        match self {
            Tail::Chain(chain) => chain.called(),
            _ => true,
        }
    }

    pub(crate) fn is_paused(&self) -> bool {
        matches!(self, Tail::Chain(chain) if chain.paused())
    }

    pub(crate) fn is_waiting(&self) -> bool {
        matches!(self, Tail::Chain(chain) if chain.waiting())
    }

    pub(crate) fn cancel(&self, at: &'static Location<'static>) {
        if let Tail::Chain(chain) = self {
            chain.cancel(at);
        }
    }

    pub(crate) fn unpause(&self) -> Result<(), NotPausedError> {
        match self {
            Tail::Chain(chain) => chain.unpause(),
            _ => Err(NotPausedError),
        }
    }

    /// Lends the value, if the tail has one, to `f` (see [`Chain::lend_value`]).
    pub(crate) fn lend_value<R>(&self, f: impl FnOnce(&Value) -> R) -> Option<R> {
        match self {
            Tail::Chain(chain) => chain.lend_value(f),
            Tail::Value(v) => Some(f(v)),
            Tail::Failed(_) => None,
        }
    }

    pub(crate) fn peek<R>(&self, f: impl FnOnce(Peek, Option<String>) -> R) -> R {
        match self {
            Tail::Chain(chain) => chain.peek(f),
            Tail::Value(v) => f(Peek::Ok(v.describe()), None),
            Tail::Failed(e) => f(Peek::Err(e.get().clone()), None),
        }
    }
}
