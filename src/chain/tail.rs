//! The tail end of a chain, as a `Deferred` holds it.
//!
//! Part of the engine: it knows nothing of the typed Deferred, the combinators, the primitives,
//! the async bridge or the reactor.

use std::panic::Location;
use std::sync::{Arc, Weak};

use super::cycles::{mark_linked, release};
use super::join::Join;
use super::run::call_inline;
use super::{Chain, FireOrder, LINKED, Outcome, Peek, Slot, Waiter};
use crate::error::NotPausedError;
use crate::failure::Failure;
use crate::foundation::contain;
use crate::foundation::debug;
use crate::foundation::trace;
use crate::foundation::unhandled::{self, UnhandledFailure};
use crate::foundation::value::Value;

/// The tail end of a chain, as a `Deferred` holds it.
///
/// A Deferred that has its result, with nothing queued and nobody else holding the chain,
/// needs no shared state at all: it is just the result. `succeed`, `fail`, and any
/// Deferred whose steps all ran as they were added stay that way, so adding a step is a plain
/// function call with no allocation and no atomic operation. Anything that needs the shared
/// chain (pausing, waiting on a pending Deferred, handing the tail to another chain) turns it
/// into one.
///
/// A tail whose chain a resolver still holds can stop using the chain too, once the chain has
/// its result and is idle: see [`Lent`].
pub(crate) enum Tail {
    Chain(Arc<Chain>),
    Value(Value),
    Failed(Unreported),
    Lent(Box<Lent>),
}

/// The result of a fired chain, taken out by its tail while another handle (a resolver) still
/// holds the chain: the tail runs the steps added to it as plain calls, with no lock and no
/// box, as a ready tail does ([`Tail::Value`]).
///
/// The chain waits for it ([`Slot::Lent`]): a fire is refused as on any fired chain, and a
/// cancel does nothing. The tail gives the result back as soon as the chain would see a
/// difference: when the chain is paused from its resolver (the tail looks at the pause counter
/// before each step, a plain load), when the tail needs the chain (to pause it, to wait on
/// something, to be waited on or awaited), and when it is dropped while another handle still
/// holds the chain, so that a failure is reported, and a value dropped, with the chain's last
/// handle, as if it had never left.
pub(crate) struct Lent {
    chain: Arc<Chain>,
    /// `None` once taken for good.
    result: Option<Result<Value, Failure>>,
}

impl Lent {
    /// Whether the chain was paused since: the result goes back before the next step.
    #[inline]
    fn paused(&self) -> bool {
        self.chain.is_paused()
    }

    /// Gives the result back; the chain is the tail's again.
    fn give_back(&mut self) -> Arc<Chain> {
        if let Some(result) = self.result.take() {
            self.chain.restore(result);
        }
        self.chain.clone()
    }

    #[inline]
    fn take(&mut self) -> Result<Value, Failure> {
        self.result.take().expect("a lent result is there until taken")
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(result) = self.result.take() {
            // Another handle still holds the chain, or the result is a failure (reported by
            // the chain's last handle, with what the chain knows).
            if result.is_err() || Arc::strong_count(&self.chain) > 1 {
                self.chain.restore(result);
            }
        }
        super::dropping(&self.chain);
    }
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
            trace::ready(created, &result);
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
            Tail::Chain(chain) => return Chain::push_tail(chain, step),
            Tail::Value(v) => Ok(v),
            Tail::Failed(f) => Err(f.take()),
            Tail::Lent(lent) => return Tail::push_lent(lent, step),
        };
        Tail::ready_then(input, step)
    }

    /// The tail after running `step` on the result of a tail that needs no chain.
    #[inline]
    pub(super) fn ready_then<F>(input: Result<Value, Failure>, step: F) -> Tail
    where
        F: FnOnce(Result<Value, Failure>) -> Outcome,
    {
        match call_inline(step, input) {
            Outcome::Value(v) => Tail::Value(v),
            Outcome::Failure(f) => Tail::Failed(Unreported::new(f)),
            other => Tail::settle(other),
        }
    }

    /// A tail that took its chain's result out, after running a step on it.
    #[inline]
    pub(super) fn lent(chain: Arc<Chain>, outcome: Outcome) -> Tail {
        let result = match outcome {
            Outcome::Value(v) => Ok(v),
            Outcome::Failure(f) => Err(f),
            other => {
                chain.resume_lent(other);
                return Tail::Chain(chain);
            }
        };
        Tail::Lent(Box::new(Lent { chain, result: Some(result) }))
    }

    #[inline]
    fn push_lent<F>(mut lent: Box<Lent>, step: F) -> Tail
    where
        F: FnOnce(Result<Value, Failure>) -> Outcome + Send + 'static,
    {
        if lent.paused() {
            return Chain::push_tail(lent.give_back(), step);
        }
        match call_inline(step, lent.take()) {
            Outcome::Value(v) => lent.result = Some(Ok(v)),
            Outcome::Failure(f) => lent.result = Some(Err(f)),
            other => {
                let chain = lent.chain.clone();
                drop(lent);
                chain.resume_lent(other);
                return Tail::Chain(chain);
            }
        }
        Tail::Lent(lent)
    }

    /// Adds a `chain_deferred` step: fires `target` with the result that reaches it.
    pub(crate) fn push_fire(self, target: Arc<Chain>) -> Tail {
        let tail = match self {
            // Paused since: the link waits in the chain, where it can be seen.
            Tail::Lent(mut lent) if lent.paused() => Tail::Chain(lent.give_back()),
            other => other,
        };
        match tail {
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

    /// Hands the tail to `join` as its input `index`, and returns what the join cancels it
    /// through. A chain that has not got its result (or is running, or paused, or has steps
    /// to run) gets the join as its waiter, which takes the result once the steps have run;
    /// a tail that has its result gets the join's step, which runs at once.
    pub(crate) fn join(self, join: &Arc<Join>, index: usize) -> Option<Weak<Chain>> {
        if let Tail::Chain(chain) = &self {
            let mut st = chain.state.lock();
            if !chain.settled(&st) {
                let index = u32::try_from(index).expect("fewer than 2^32 inputs");
                st.waiter = Some(Waiter::Join(join.clone(), index));
                drop(st);
                let member = Arc::downgrade(chain);
                self.dismiss();
                return Some(member);
            }
        }
        let join = join.clone();
        let tail = self.push(move |input: Result<Value, Failure>| join.record(index, input));
        let member = tail.downgrade();
        tail.dismiss();
        member
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
                trace::waiting(outer.addr(), inner.addr());
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

    /// The tail with a chain of its own again, if it had taken its chain's result out: for a
    /// holder that reaches the chain directly (an `.await`).
    pub(crate) fn shared(self) -> Tail {
        match self {
            Tail::Lent(mut lent) => Tail::Chain(lent.give_back()),
            other => other,
        }
    }

    /// The shared chain, creating it if the tail had none.
    pub(crate) fn into_chain(self) -> Arc<Chain> {
        match self {
            Tail::Chain(chain) => chain,
            Tail::Value(v) => Chain::fired_quiet(Ok(v)),
            Tail::Failed(f) => Chain::fired_quiet(Err(f.take())),
            Tail::Lent(mut lent) => lent.give_back(),
        }
    }

    /// What a step returning this tail hands to the trampoline.
    #[inline]
    pub(crate) fn into_outcome(self) -> Outcome {
        match self {
            Tail::Chain(chain) => Outcome::Wait(chain),
            Tail::Value(v) => Outcome::Value(v),
            Tail::Failed(f) => Outcome::Failure(f.take()),
            Tail::Lent(mut lent) if lent.paused() => Outcome::Wait(lent.give_back()),
            Tail::Lent(mut lent) => lent.take().into(),
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
            Tail::Lent(mut lent) if lent.paused() => Tail::Chain(lent.give_back()).take(),
            Tail::Lent(mut lent) => Ok(lent.take()),
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
            Tail::Lent(lent) => !lent.paused(),
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
        match self {
            Tail::Chain(chain) => chain.paused(),
            Tail::Lent(lent) => lent.paused(),
            _ => false,
        }
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
            // Paused from the resolver since the result was taken out: the counter is the
            // chain's, and the result is back in it at the tail's next step.
            Tail::Lent(lent) => lent.chain.unpause(),
            _ => Err(NotPausedError),
        }
    }

    /// Lends the value, if the tail has one, to `f` (see [`Chain::lend_value`]).
    pub(crate) fn lend_value<R>(&self, f: impl FnOnce(&Value) -> R) -> Option<R> {
        match self {
            Tail::Chain(chain) => chain.lend_value(f),
            Tail::Value(v) => Some(f(v)),
            Tail::Failed(_) => None,
            Tail::Lent(lent) => match &lent.result {
                Some(Ok(v)) => Some(f(v)),
                _ => None,
            },
        }
    }

    pub(crate) fn peek<R>(&self, f: impl FnOnce(Peek, Option<String>) -> R) -> R {
        match self {
            Tail::Chain(chain) => chain.peek(f),
            Tail::Value(v) => f(Peek::Ok(v.describe()), None),
            Tail::Failed(e) => f(Peek::Err(e.get().clone()), None),
            Tail::Lent(lent) => match &lent.result {
                Some(Ok(v)) => f(Peek::Ok(v.describe()), None),
                Some(Err(e)) => f(Peek::Err(e.clone()), None),
                None => f(Peek::Consumed, None),
            },
        }
    }
}
