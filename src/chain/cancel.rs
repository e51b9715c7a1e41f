//! Cancellation: the canceller protocol, the walk to the innermost waited-on chain, and the loop
//! that cancels the chains a canceller hands back.
//!
//! # No recursion
//!
//! A combinator's canceller cancels its inputs, which may be combinators too. Were it to call
//! their `cancel` itself, a tower of nested combinators would recurse once per level. So it hands
//! them back instead ([`Cancelled::Cascade`]), with the rest of its work to do once they are
//! cancelled, and the engine cancels them in a loop over an explicit stack of cancellers still
//! under way ([`Frame`]). What each of them observes is what it would observe in the recursion:
//! the chains are cancelled one after another, each completely, with the thread's
//! [`IN_CANCELLER`] naming the chain whose canceller is (still) running, before the rest of that
//! canceller runs; and a panic in any of it is that canceller's panic. The stack is local to
//! the outermost `cancel`, so nothing depends on thread-locals that may be gone at thread exit.
//!
//! Part of the engine: it knows nothing of the typed Deferred, the combinators, the primitives,
//! the async bridge or the reactor.

use std::any::Any;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use super::awaiters::Awaiting;
use super::run::drive;
use super::{
    CANCELLED, CANCELLING, Cancelled, Chain, Claim, FIRED_BY_CANCELLER, IN_CANCELLER, PROMISED,
    Slot,
};
use crate::error::CancelledError;
use crate::failure::Failure;
use crate::foundation::trace;
use crate::foundation::unhandled::{self, UnhandledFailure};

/// A canceller's work that cancels other chains first ([`Cancelled::Cascade`]).
pub(crate) trait Cascade {
    /// The chains to cancel, in order. Called once, first.
    fn members(&mut self) -> Vec<Option<Weak<Chain>>>;
    /// The rest of the canceller, once they are cancelled: its answer.
    fn then(self: Box<Self>) -> Cancelled;
}

/// A canceller under way that handed back chains to cancel ([`Cancelled::Cascade`]).
struct Frame {
    /// The chain whose canceller this is. Its slot holds the placeholder canceller and its
    /// `cancelling` flag is set until the canceller's answer is in.
    chain: Arc<Chain>,
    /// The chain that was cancelled to reach it, for a member: held, and released after
    /// `chain`, as the recursion held it, since either may be the last handle.
    member: Option<Arc<Chain>>,
    /// What [`IN_CANCELLER`] held before this canceller began.
    outer: usize,
    /// The chains still to cancel, in order.
    members: std::vec::IntoIter<Option<Weak<Chain>>>,
    /// The rest of the canceller, run once every member is cancelled.
    rest: Option<Box<dyn Cascade>>,
    /// A panic while cancelling a member: the canceller's answer. The members left are not
    /// cancelled and `rest` does not run, as if the panic had unwound out of the canceller.
    panic: Option<Box<dyn Any + Send>>,
}

impl Frame {
    fn new(chain: Arc<Chain>, outer: usize, mut cascade: Box<dyn Cascade>) -> Frame {
        let members = cascade.members().into_iter();
        Frame { chain, member: None, outer, members, rest: Some(cascade), panic: None }
    }
}

impl Chain {
    /// Cancels the chain, or the innermost chain it waits on (iteratively, at any depth).
    ///
    /// Returns whether the cancellation decided the outcome: the chain failed with
    /// `CancelledError`, took its canceller's answer, or handed the cancellation on
    /// ([`Cancelled::KeepPending`]). `false` if it already had a result, was running its steps,
    /// or got its result from another thread while the canceller ran.
    pub(crate) fn cancel(self: &Arc<Self>, at: &'static Location<'static>) -> bool {
        self.begin_cancel(at, None, |frame| cascade(vec![frame], at))
    }

    /// [`cancel`](Chain::cancel) for a canceller that races the chain's result for one
    /// decision (a timeout's timer against the value it times). `decide` is asked once, under
    /// the lock of the chain where the cancellation is about to take effect (this chain, or
    /// the innermost one it waits on), while that chain has no result: if it answers true, the
    /// cancellation goes ahead; if false (the result already went past the point the decision
    /// is about), nothing is cancelled and no canceller runs. Where the walk finds nothing to
    /// cancel, `decide` is not asked at all.
    ///
    /// The decision must be taken under that lock: a fire from another thread takes the same
    /// lock, so the decision and the fire can never both believe they came first.
    #[cfg(feature = "reactor")]
    pub(crate) fn cancel_if(
        self: &Arc<Self>,
        at: &'static Location<'static>,
        decide: &dyn Fn() -> bool,
    ) -> bool {
        self.begin_cancel(at, Some(decide), |frame| cascade(vec![frame], at))
    }

    /// Walks to the innermost chain and cancels it, up to the canceller's answer, and says
    /// whether that decided the chain's outcome (`decide`: see [`cancel_if`](Chain::cancel_if)).
    /// If the answer hands back chains to cancel first, the canceller is still under way (and
    /// [`IN_CANCELLER`] still names its chain): it goes to `cascading`, whose answer is
    /// returned.
    #[inline(always)]
    fn begin_cancel(
        self: &Arc<Self>,
        at: &'static Location<'static>,
        decide: Option<&dyn Fn() -> bool>,
        cascading: impl FnOnce(Frame) -> bool,
    ) -> bool {
        let declined = || decide.is_some_and(|decide| !decide());
        trace::cancelling(self.addr(), at);
        let mut current = self.clone();
        loop {
            let mut st = current.state.lock();
            match &mut st.slot {
                Slot::Pending(_) if declined() => return false,
                Slot::Pending(canceller) => match canceller.take() {
                    None => {
                        current.cancelling.fetch_or(CANCELLED, Ordering::Relaxed);
                        // No canceller: fail at once and forgive one late fire. The grace and
                        // the failure are set under one lock: were another thread's fire to
                        // land between them, it would win and leave the grace to forgive a
                        // second fire that should be refused.
                        current.grace.store(true, Ordering::Relaxed);
                        let failure = Err(Failure::new(CancelledError));
                        let Ok(fired) = current.fire_locked(st, failure, at) else {
                            unreachable!("a pending chain takes a fire")
                        };
                        current.finish_fire(fired);
                        return true;
                    }
                    Some(canceller) => {
                        // A cancel made while this canceller runs (from inside it, or from
                        // another thread) finds this placeholder and does nothing: the running
                        // canceller settles the chain.
                        st.slot = Slot::Pending(Some(Box::new(|_: &Arc<Chain>| Cancelled::Leave)));
                        // Set already if this is another cancel's placeholder.
                        let placeholder =
                            current.cancelling.fetch_or(CANCELLING | CANCELLED, Ordering::Relaxed)
                                & CANCELLING
                                != 0;
                        drop(st);
                        let outer = IN_CANCELLER.with(|c| c.replace(current.addr()));
                        let outcome = catch_unwind(AssertUnwindSafe(|| canceller.cancel(&current)));
                        return current.conclude_cancel(
                            outcome,
                            outer,
                            placeholder,
                            at,
                            |cascade| cascading(Frame::new(current.clone(), outer, cascade)),
                        );
                    }
                },
                Slot::Waiting(inner) => match inner.upgrade() {
                    Some(inner) => {
                        drop(st);
                        current = inner;
                    }
                    None if declined() => return false,
                    None => {
                        // What it waited on is gone and can never fire: the cancellation lands
                        // on this chain instead of being lost.
                        st.slot = Slot::Empty;
                        if let Claim::Took(Some(start)) =
                            current.give(&mut st, Err(Failure::new(CancelledError)))
                        {
                            drop(st);
                            drive(&current, start);
                        }
                        return true;
                    }
                },
                _ => return false,
            }
        }
    }

    /// Acts on a canceller's answer (or its panic): whether the cancellation decided the
    /// chain's outcome. `outer` is what [`IN_CANCELLER`] held before the canceller began;
    /// `placeholder`, whether the canceller was the stand-in of another cancel under way. An
    /// answer that hands back chains to cancel first goes to `cascading` instead: the
    /// canceller is still under way.
    #[inline(always)]
    fn conclude_cancel(
        self: &Arc<Self>,
        outcome: std::thread::Result<Cancelled>,
        outer: usize,
        placeholder: bool,
        at: &'static Location<'static>,
        cascading: impl FnOnce(Box<dyn Cascade>) -> bool,
    ) -> bool {
        let restore = || IN_CANCELLER.with(|c| c.set(outer));
        // The canceller is over: whether it fired the chain itself.
        let end = || {
            restore();
            self.end_cancelling() & FIRED_BY_CANCELLER != 0
        };
        let (failure, panicked, by_canceller) = match outcome {
            Ok(Cancelled::Cascade(cascade)) => return cascading(cascade),
            // The placeholder's answer: the flags and the outcome belong to the cancel whose
            // canceller is running.
            Ok(Cancelled::Leave) if placeholder => {
                restore();
                return false;
            }
            Ok(Cancelled::Leave) => {
                end();
                // A canceller's own `Leave` means that a fire is on its way: a combinator
                // asking whether the chain will settle counts on it (see `in_flight`).
                self.promise_fire();
                return false;
            }
            Ok(Cancelled::Fail) => (Failure::new(CancelledError), false, end()),
            Ok(Cancelled::KeepPending(next)) => {
                restore();
                self.rearm(next);
                return true;
            }
            Err(payload) => {
                let by_canceller = end();
                (Failure::from_panic(payload), true, by_canceller)
            }
        };
        // If the canceller fired the chain, its result stands.
        match self.fire_inner(Err(failure), at) {
            Ok(fired) => {
                self.finish_fire(fired);
                true
            }
            // The canceller fired the chain and then panicked: the result stands, and the
            // panic is reported rather than lost.
            Err((_, Err(failure))) if panicked => {
                let debug = self.describe();
                unhandled::report(UnhandledFailure::new(failure, debug));
                by_canceller
            }
            Err((_, rejected)) => {
                drop(rejected);
                by_canceller
            }
        }
    }

    /// Clears the flags a cancel set while its canceller ran; returns them as they were.
    fn end_cancelling(&self) -> u8 {
        self.cancelling.fetch_and(!(CANCELLING | FIRED_BY_CANCELLER), Ordering::Relaxed)
    }

    /// Records that the caller has committed to fire this pending chain and is about to: a
    /// combinator whose input settled it, from the moment it took the chain to fire until the
    /// fire lands (the engine fires it from the input's run). Lock-free and idempotent.
    pub(crate) fn promise_fire(&self) {
        self.cancelling.fetch_or(PROMISED, Ordering::Release);
    }

    /// Whether [`promise_fire`](Chain::promise_fire) was called on this chain.
    pub(crate) fn fire_promised(&self) -> bool {
        self.cancelling.load(Ordering::Acquire) & PROMISED != 0
    }

    /// Whether this chain's result is on its way to the end of its steps with nobody else's
    /// help: it (or the innermost chain it waits on) is being run by some thread, has been
    /// promised a fire, or has a canceller running that settles it. False if it, or a chain it
    /// waits on, is paused, if what it waits on is gone, or if the innermost chain is pending
    /// with nobody committed to fire it.
    ///
    /// A snapshot: one lock at a time along the `Waiting` links, so the answer may be stale by
    /// the time it is read. A combinator uses it after cancelling its inputs, to tell an input
    /// whose result is in flight on another thread from one that cannot report.
    pub(crate) fn in_flight(self: &Arc<Self>) -> bool {
        let mut current = self.clone();
        loop {
            let st = current.state.lock();
            if current.is_paused() {
                return false;
            }
            let inner = match &st.slot {
                Slot::Waiting(inner) => inner.upgrade(),
                Slot::Pending(_) => {
                    return current.cancelling.load(Ordering::Acquire) & (CANCELLING | PROMISED)
                        != 0;
                }
                // A result that its run (or the fire that stored it) is taking on, or one
                // already handed to the chain that waited on it, which runs with it now.
                Slot::Ok(_) | Slot::Err(_) | Slot::Empty | Slot::Lent => return true,
            };
            drop(st);
            match inner {
                Some(inner) => current = inner,
                None => return false,
            }
        }
    }

    /// Puts a canceller back after a [`Cancelled::KeepPending`], in place of the placeholder
    /// that stood in while it ran, unless the chain was fired meanwhile.
    fn rearm(&self, canceller: Canceller) {
        let mut st = self.state.lock();
        // Under the lock that puts the canceller back: a cancel that takes it finds the flags
        // of this one cleared, and one that comes before finds them set (the placeholder).
        self.end_cancelling();
        let unused = match &mut st.slot {
            Slot::Pending(slot) => slot.replace(canceller),
            _ => Some(canceller),
        };
        drop(st);
        // A canceller is user code; it is dropped outside the lock.
        drop(unused);
    }
}

/// Runs the canceller on `frames`, which handed back chains to cancel, and every canceller
/// those hand back in turn, to the end; returns whether the first one's cancellation decided
/// its chain's outcome.
///
/// Depth first, as the recursion would: a member is cancelled completely (its own members
/// first) before the next one. Work done on behalf of the canceller on top of the stack (a
/// member's cancellation, or the conclusion of a member's own cascade) runs under
/// `catch_unwind`, and a panic in it ends that canceller, as it would unwind out of it.
#[cold]
fn cascade(mut frames: Vec<Frame>, at: &'static Location<'static>) -> bool {
    loop {
        let top = frames.last_mut().expect("the loop ends when the first frame does");
        let member = match top.panic {
            None => top.members.by_ref().flatten().find_map(|m| m.upgrade()),
            Some(_) => None,
        };
        if let Some(member) = member {
            // The member, and whatever dropping it drops, goes inside: in a recursion it would
            // go inside the canceller, and so would a panic it raised.
            let cancelled = catch_unwind(AssertUnwindSafe(move || {
                let mut pushed = None;
                member.begin_cancel(at, None, |frame| {
                    pushed = Some(frame);
                    false
                });
                pushed.map(|frame| Frame { member: Some(member), ..frame })
            }));
            match cancelled {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => {}
                Err(payload) => top.panic = Some(payload),
            }
            continue;
        }
        let mut frame = frames.pop().expect("just looked at it");
        let outcome = match frame.panic.take() {
            Some(payload) => Err(payload),
            None => {
                let rest = frame.rest.take().expect("the rest of a canceller runs once");
                catch_unwind(AssertUnwindSafe(|| rest.then()))
            }
        };
        if let Ok(Cancelled::Cascade(cascade)) = outcome {
            // The rest of the canceller has more chains to cancel first.
            frames.push(Frame {
                member: frame.member,
                ..Frame::new(frame.chain, frame.outer, cascade)
            });
            continue;
        }
        let Frame { chain, member, outer, members, rest, .. } = frame;
        drop((members, rest));
        let done = |_| unreachable!("handled above");
        match frames.last_mut() {
            None => return chain.conclude_cancel(outcome, outer, false, at, done),
            Some(parent) => {
                let concluded = catch_unwind(AssertUnwindSafe(|| {
                    chain.conclude_cancel(outcome, outer, false, at, done);
                    drop(chain);
                    drop(member);
                }));
                if let Err(payload) = concluded {
                    parent.panic = Some(payload);
                }
            }
        }
    }
}

/// A canceller, given the chain so that the typed layer can hand it a `Resolver`. What it
/// returns decides what the engine does next (see [`Cancelled`]).
pub(crate) type Canceller = Box<dyn CancelFn>;

/// What a [`Canceller`] is: any closure, or a task's, which the engine can ask for its task.
pub(crate) trait CancelFn: Send {
    fn cancel(self: Box<Self>, chain: &Arc<Chain>) -> Cancelled;

    /// The task of this crate the cancellation goes to, for the engine's walk (see `cycles`).
    fn task(&self) -> Option<Weak<dyn Awaiting>> {
        None
    }
}

impl<F: FnOnce(&Arc<Chain>) -> Cancelled + Send> CancelFn for F {
    fn cancel(self: Box<Self>, chain: &Arc<Chain>) -> Cancelled {
        (*self)(chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::foundation::value::Value;

    fn at() -> &'static Location<'static> {
        Location::caller()
    }

    #[test]
    fn a_cancel_that_finds_the_placeholder_leaves_the_running_cancellers_flags_alone() {
        // The canceller cancels its own chain again (which finds the placeholder and does
        // nothing), then fires the chain itself: that fire is still the canceller's answer.
        let chain = Chain::pending(
            Some(Box::new(|chain: &Arc<Chain>| {
                assert!(!chain.cancel(at()));
                chain.fire(Ok(Value::new(9u8)), at()).unwrap();
                Cancelled::Fail
            })),
            at(),
        );
        assert!(chain.cancel(at()), "the canceller decided the outcome");
        assert_eq!(chain.try_take().unwrap().unwrap().take::<u8>(), 9);
    }

    #[cfg(feature = "reactor")]
    #[test]
    fn cancel_if_asks_where_the_cancellation_lands_and_a_no_changes_nothing() {
        let asked = std::cell::Cell::new(0);
        let no = || {
            asked.set(asked.get() + 1);
            false
        };
        let chain = Chain::pending(Some(Box::new(|_: &Arc<Chain>| unreachable!())), at());
        assert!(!chain.cancel_if(at(), &no));
        assert_eq!(asked.get(), 1);
        assert!(matches!(chain.state.lock().slot, Slot::Pending(Some(_))), "canceller kept");
        // Nothing to cancel: not asked.
        chain.fire(Ok(Value::new(1u8)), at()).unwrap();
        assert!(!chain.cancel_if(at(), &no));
        assert_eq!(asked.get(), 1);
    }

    #[test]
    fn in_flight_tells_a_result_on_its_way_from_one_that_cannot_come() {
        let pending = Chain::pending(None, at());
        assert!(!pending.in_flight(), "nobody is about to fire it");
        pending.promise_fire();
        assert!(pending.in_flight() && pending.fire_promised());
        let fired = Chain::fired(Ok(Value::new(1u8)), at());
        assert!(fired.in_flight());
        fired.pause();
        assert!(!fired.in_flight(), "paused");
    }
}
