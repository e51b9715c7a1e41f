//! The trampoline: runs a chain's steps and hands results on, in a loop that never recurses.

use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::sync::{Arc, Weak};
use std::task::Waker;

use super::steps::Batch;
use super::{Chain, Fired, Outcome, Slot, StepFn, Waiter};
use crate::error::CircularChainError;
use crate::failure::Failure;
use crate::value::Value;

/// What the owner of a run does next.
pub(super) enum Work {
    /// Run these steps, starting with this input.
    Run(Batch, Result<Value, Failure>),
    /// A step produced this; the rest of its batch comes along to be put back.
    Settle(Outcome, Option<Batch>),
    /// Give the result to the chain waiting on this one.
    Deliver(Arc<Chain>, Result<Value, Failure>),
    /// Wake the task awaiting this chain.
    Wake(Box<Waker>),
    /// Nothing to do; ownership was released.
    Idle,
}

/// Runs one step, turning a panic into a failure.
#[inline]
pub(super) fn call(step: StepFn, input: Result<Value, Failure>) -> Outcome {
    match catch_unwind(AssertUnwindSafe(move || step(input))) {
        Ok(outcome) => outcome,
        Err(payload) => Outcome::Failure(Failure::from_panic(payload)),
    }
}

/// [`call`] for a step that was never boxed.
#[inline]
pub(super) fn call_inline<F>(step: F, input: Result<Value, Failure>) -> Outcome
where
    F: FnOnce(Result<Value, Failure>) -> Outcome,
{
    match catch_unwind(AssertUnwindSafe(move || step(input))) {
        Ok(outcome) => outcome,
        Err(payload) => Outcome::Failure(Failure::from_panic(payload)),
    }
}

/// What attaching to an inner chain gave.
pub(super) enum Attach {
    /// The inner chain had its result already; it is taken over now.
    Stolen(Result<Value, Failure>),
    /// The outer chain now waits; the inner will deliver.
    Registered,
}

pub(super) fn attach(inner: &Arc<Chain>, outer: &Arc<Chain>) -> Attach {
    let mut st = inner.state.lock();
    if inner.settled(&st) {
        return Attach::Stolen(st.slot.take_ready());
    }
    st.waiter = Some(Waiter::Chain(outer.clone()));
    Attach::Registered
}

pub(super) enum Settled {
    Store(Slot),
    Wait(Weak<Chain>),
    Switch(Arc<Chain>, Work, Slot),
}

/// The chain a trampoline is on: borrowed from its caller at first, which saves a reference
/// count round trip on every fire, owned once the run moves to another chain.
pub(super) enum Cur<'a> {
    Borrowed(&'a Arc<Chain>),
    Owned(Arc<Chain>),
}

impl std::ops::Deref for Cur<'_> {
    type Target = Arc<Chain>;
    #[inline]
    fn deref(&self) -> &Arc<Chain> {
        match self {
            Cur::Borrowed(chain) => chain,
            Cur::Owned(chain) => chain,
        }
    }
}

impl Cur<'_> {
    pub(super) fn into_owned(self) -> Arc<Chain> {
        match self {
            Cur::Borrowed(chain) => chain.clone(),
            Cur::Owned(chain) => chain,
        }
    }
}

/// The trampoline. `current` is owned by this call (`running` set) on entry.
pub(super) fn drive(current: &Arc<Chain>, work: Work) {
    drive_from(Cur::Borrowed(current), work)
}

pub(super) fn drive_from(mut current: Cur<'_>, mut work: Work) {
    // Chains fired through `chain_deferred` whose runs resume once the target's run ends.
    // Each is still owned by this call.
    let mut parents: Vec<Arc<Chain>> = Vec::new();
    loop {
        work = match work {
            Work::Run(mut batch, mut input) => loop {
                let step = batch.next().expect("a batch is never empty");
                match call(step, input) {
                    Outcome::Value(v) if !batch.is_empty() && !current.is_paused() => input = Ok(v),
                    Outcome::Failure(f) if !batch.is_empty() && !current.is_paused() => {
                        input = Err(f)
                    }
                    outcome => break Work::Settle(outcome, Some(batch)),
                }
            },
            Work::Settle(outcome, rest) => {
                let settled = match outcome {
                    Outcome::Value(v) => Settled::Store(Slot::Ok(v)),
                    Outcome::Failure(f) => Settled::Store(Slot::Err(f)),
                    // A step returned its own Deferred's tail (reachable through a shared
                    // slot): waiting on itself would hang, and leak the chain through its own
                    // waiter. Twisted warns about it and means to make it an error.
                    Outcome::Wait(inner) if Arc::ptr_eq(&inner, &current) => {
                        Settled::Store(Slot::Err(Failure::new(CircularChainError)))
                    }
                    Outcome::Wait(inner) => match attach(&inner, &current) {
                        Attach::Stolen(r) => Settled::Store(r.into()),
                        Attach::Registered => Settled::Wait(Arc::downgrade(&inner)),
                    },
                    Outcome::Fire(target, result, then) => {
                        let then = match then {
                            None => Slot::Ok(Value::UNIT),
                            Some(failure) => Slot::Err(failure),
                        };
                        match target.fire_inner(result, Location::caller()) {
                            Ok(Fired::Run(target_work)) => {
                                Settled::Switch(target, target_work, then)
                            }
                            Ok(_) => Settled::Store(then),
                            Err((err, rejected)) => {
                                drop(rejected);
                                Settled::Store(Slot::Err(Failure::new(err)))
                            }
                        }
                    }
                };
                let mut st = current.state.lock();
                if let Some(rest) = rest {
                    st.steps.put_back(rest);
                }
                match settled {
                    Settled::Store(slot) => st.slot = slot,
                    Settled::Wait(inner) => {
                        // Unless the inner chain delivered in the meantime.
                        if matches!(st.slot, Slot::Empty) {
                            st.slot = Slot::Waiting(inner);
                        }
                    }
                    Settled::Switch(target, target_work, then) => {
                        st.slot = then;
                        drop(st);
                        parents
                            .push(std::mem::replace(&mut current, Cur::Owned(target)).into_owned());
                        work = target_work;
                        continue;
                    }
                }
                current.next_work(&mut st)
            }
            Work::Deliver(outer, result) => {
                let mut st = outer.state.lock();
                st.slot = result.into();
                match outer.claim(&mut st) {
                    Some(next) => {
                        drop(st);
                        current = Cur::Owned(outer);
                        next
                    }
                    None => Work::Idle,
                }
            }
            Work::Wake(waker) => {
                waker.wake();
                Work::Idle
            }
            Work::Idle => match parents.pop() {
                Some(parent) => {
                    current = Cur::Owned(parent);
                    let mut st = current.state.lock();
                    current.next_work(&mut st)
                }
                None => return,
            },
        };
    }
}
