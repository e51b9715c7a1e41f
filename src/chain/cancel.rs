//! Cancellation: the canceller protocol, and the walk to the innermost waited-on chain.

use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::run::drive;
use super::{CANCELLING, Cancelled, Canceller, Chain, FIRED_BY_CANCELLER, IN_CANCELLER, Slot};
use crate::error::CancelledError;
use crate::failure::Failure;
use crate::unhandled::{self, UnhandledFailure};

impl Chain {
    /// Cancels the chain, or the innermost chain it waits on (iteratively, at any depth).
    ///
    /// Returns whether the cancellation decided the outcome: the chain failed with
    /// `CancelledError`, took its canceller's answer, or handed the cancellation on
    /// ([`Cancelled::KeepPending`]). `false` if it already had a result, was running its steps,
    /// or got its result from another thread while the canceller ran.
    pub(crate) fn cancel(self: &Arc<Self>, at: &'static Location<'static>) -> bool {
        let mut current = self.clone();
        loop {
            let mut st = current.state.lock();
            match &mut st.slot {
                Slot::Pending(canceller) => match canceller.take() {
                    None => {
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
                        current.cancelling.store(CANCELLING, Ordering::Relaxed);
                        drop(st);
                        let outer = IN_CANCELLER.with(|c| c.replace(current.addr()));
                        let outcome = catch_unwind(AssertUnwindSafe(|| canceller.cancel(&current)));
                        IN_CANCELLER.with(|c| c.set(outer));
                        let by_canceller =
                            current.cancelling.swap(0, Ordering::Relaxed) & FIRED_BY_CANCELLER != 0;
                        let (failure, panicked) = match outcome {
                            Ok(Cancelled::Leave) => return false,
                            Ok(Cancelled::Fail) => (Failure::new(CancelledError), false),
                            Ok(Cancelled::KeepPending(next)) => {
                                current.rearm(next);
                                return true;
                            }
                            Err(payload) => (Failure::from_panic(payload), true),
                        };
                        // If the canceller fired the chain, its result stands.
                        return match current.fire_inner(Err(failure), at) {
                            Ok(fired) => {
                                current.finish_fire(fired);
                                true
                            }
                            // The canceller fired the chain and then panicked: the result
                            // stands, and the panic is reported rather than lost.
                            Err((_, Err(failure))) if panicked => {
                                let debug = current.describe();
                                unhandled::report(UnhandledFailure::new(failure, debug));
                                by_canceller
                            }
                            Err((_, rejected)) => {
                                drop(rejected);
                                by_canceller
                            }
                        };
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
