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

use std::any::Any;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use super::run::drive;
use super::{
    CANCELLED, CANCELLING, Cancelled, Canceller, Chain, FIRED_BY_CANCELLER, IN_CANCELLER, Slot,
};
use crate::error::CancelledError;
use crate::failure::Failure;
use crate::unhandled::{self, UnhandledFailure};

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
        self.begin_cancel(at, |frame| cascade(vec![frame], at))
    }

    /// Walks to the innermost chain and cancels it, up to the canceller's answer, and says
    /// whether that decided the chain's outcome. If the answer hands back chains to cancel
    /// first, the canceller is still under way (and [`IN_CANCELLER`] still names its chain):
    /// it goes to `cascading`, whose answer is returned.
    #[inline(always)]
    fn begin_cancel(
        self: &Arc<Self>,
        at: &'static Location<'static>,
        cascading: impl FnOnce(Frame) -> bool,
    ) -> bool {
        let mut current = self.clone();
        loop {
            let mut st = current.state.lock();
            match &mut st.slot {
                Slot::Pending(canceller) => match canceller.take() {
                    None => {
                        current.cancelling.fetch_or(CANCELLED, Ordering::Relaxed);
                        // No canceller: fail at once and forgive one late fire. The grace and
                        // the failure are set under one lock: were another thread's fire to
                        // land between them, it would win and leave the grace to forgive a
                        // second fire that should be refused.
                        current.grace.store(true, Ordering::Relaxed);
                        return match current.fire_locked(st, Err(Failure::new(CancelledError)), at)
                        {
                            Ok(fired) => {
                                current.finish_fire(fired);
                                true
                            }
                            Err((_, rejected)) => {
                                drop(rejected);
                                false
                            }
                        };
                    }
                    Some(canceller) => {
                        // A cancel made while this canceller runs (from inside it, or from
                        // another thread) finds this placeholder and does nothing: the running
                        // canceller settles the chain.
                        st.slot = Slot::Pending(Some(Box::new(|_: &Arc<Chain>| Cancelled::Leave)));
                        current.cancelling.store(CANCELLING | CANCELLED, Ordering::Relaxed);
                        drop(st);
                        let outer = IN_CANCELLER.with(|c| c.replace(current.addr()));
                        let outcome = catch_unwind(AssertUnwindSafe(|| canceller(&current)));
                        return current.conclude_cancel(outcome, outer, at, |cascade| {
                            cascading(Frame::new(current.clone(), outer, cascade))
                        });
                    }
                },
                Slot::Waiting(inner) => match inner.upgrade() {
                    Some(inner) => {
                        drop(st);
                        current = inner;
                    }
                    None => {
                        // What it waited on is gone and can never fire: the cancellation lands
                        // on this chain instead of being lost.
                        st.slot = Slot::Err(Failure::new(CancelledError));
                        if let Some(work) = current.claim(&mut st) {
                            drop(st);
                            drive(&current, work);
                        }
                        return true;
                    }
                },
                _ => return false,
            }
        }
    }

    /// Acts on a canceller's answer (or its panic): whether the cancellation decided the
    /// chain's outcome. `outer` is what [`IN_CANCELLER`] held before the canceller began. An
    /// answer that hands back chains to cancel first goes to `cascading` instead: the
    /// canceller is still under way.
    #[inline(always)]
    fn conclude_cancel(
        self: &Arc<Self>,
        outcome: std::thread::Result<Cancelled>,
        outer: usize,
        at: &'static Location<'static>,
        cascading: impl FnOnce(Box<dyn Cascade>) -> bool,
    ) -> bool {
        // The canceller is over: whether it fired the chain itself.
        let end = || {
            IN_CANCELLER.with(|c| c.set(outer));
            self.cancelling.swap(CANCELLED, Ordering::Relaxed) & FIRED_BY_CANCELLER != 0
        };
        let (failure, panicked, by_canceller) = match outcome {
            Ok(Cancelled::Cascade(cascade)) => return cascading(cascade),
            Ok(Cancelled::Leave) => {
                end();
                return false;
            }
            Ok(Cancelled::Fail) => (Failure::new(CancelledError), false, end()),
            Ok(Cancelled::KeepPending(next)) => {
                end();
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

    /// Puts a canceller back after a [`Cancelled::KeepPending`], in place of the placeholder
    /// that stood in while it ran, unless the chain was fired meanwhile.
    fn rearm(&self, canceller: Canceller) {
        let mut st = self.state.lock();
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
                member.begin_cancel(at, |frame| {
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
            None => return chain.conclude_cancel(outcome, outer, at, done),
            Some(parent) => {
                let concluded = catch_unwind(AssertUnwindSafe(|| {
                    chain.conclude_cancel(outcome, outer, at, done);
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
