//! The trampoline: runs a chain's steps and hands results on, in a loop that never recurses.

use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::sync::Arc;

use super::awaiters::Awaiter;
use super::cycles::{dropping, mark_linked};
use super::steps::Batch;
use super::{AWAITED, Chain, Fired, LINKED, Outcome, STALLED, Slot, StepFn, Waiter};
use crate::contain;
use crate::error::CircularChainError;
use crate::failure::Failure;
use crate::trace;
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
    Wake(Box<Awaiter>),
    /// Nothing to do; ownership was released.
    Idle,
}

/// Runs one step, turning a panic into a failure.
#[inline]
pub(super) fn call(step: StepFn, input: Result<Value, Failure>) -> Outcome {
    match catch_unwind(AssertUnwindSafe(move || step.run(input))) {
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
    // Read under the lock that set the waiter: a `chain_deferred` marking `inner` meanwhile
    // sees the waiter, or this sees the mark.
    let linked = inner.marks() & LINKED != 0;
    drop(st);
    if linked {
        mark_linked(outer);
    }
    Attach::Registered
}

/// Whether `outer` now waiting on `inner` closes a cycle: whether `inner` waits, through the
/// `Waiting` links, on `outer`. Both links of the new wait are in place when this is called.
///
/// The path down from `inner` and the path up from `outer` (its waiter, that one's waiter...)
/// are the same path if there is a cycle, so the walk follows both in lock-step and stops as
/// soon as either ends: 2 x min(down, up) lock acquisitions, which keeps building a tower
/// linear whichever end it grows from (bottom-up, the path up from each new outer is empty;
/// top-down, the path down from each new inner is). `up` is `outer`'s waiter, read already.
///
/// One lock at a time, never two. Other threads may change the links meanwhile; what keeps
/// the answer sound:
///
/// - A cycle, once closed, stays closed: no chain on it can deliver its result, since each
///   waits on the next. Links found one by one therefore form a real cycle, unless another
///   thread's walk found the same cycle and broke it, which `detach` allows for.
/// - Two attaches on other threads may close a cycle together, each walk running before the
///   other's links exist. Every attach writes both its links before it walks, and all the
///   accesses are under the chains' locks, so the attach whose writes end last sees every link
///   of the cycle, both ways, and finds it.
fn closes_cycle(inner: &Arc<Chain>, outer: &Arc<Chain>, up: Arc<Chain>) -> bool {
    let mut up = up;
    let mut down = inner.clone();
    loop {
        if Arc::ptr_eq(&up, inner) {
            return true;
        }
        let next = match &down.state.lock().slot {
            Slot::Waiting(next) => next.upgrade(),
            _ => None,
        };
        let Some(next) = next else { return false };
        if Arc::ptr_eq(&next, outer) {
            return true;
        }
        down = next;
        let next = match &up.state.lock().waiter {
            Some(Waiter::Chain(next)) => next.clone(),
            _ => return false,
        };
        up = next;
    }
}

/// Undoes `outer`'s wait on `inner` after [`closes_cycle`]: takes the waiter link back, unless
/// `inner` delivered meanwhile (possible only if another thread's walk broke the cycle first),
/// and says whether it did. Only then does `outer` fail, so a result on its way is never lost.
fn detach(inner: &Arc<Chain>, outer: &Arc<Chain>) -> bool {
    let mut st = inner.state.lock();
    let link = match &st.waiter {
        Some(Waiter::Chain(waiter)) if Arc::ptr_eq(waiter, outer) => st.waiter.take(),
        _ => None,
    };
    drop(st);
    link.is_some()
}

pub(super) enum Settled {
    Store(Slot),
    Wait(Arc<Chain>),
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

/// Lets go of the chain a trampoline was on, through [`release`].
#[inline]
fn let_go(cur: Cur<'_>) {
    if let Cur::Owned(chain) = cur {
        release(chain);
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

/// Lets go of a chain the trampoline held (one it fired, waited on or delivered to), which may
/// be that chain's last handle. Dropping it then drops what it still owns, its result and any
/// steps, which is user code; the trampoline may still own other runs (its `parents`, the
/// current chain), so a panic there must not unwind out of it: it is reported instead.
///
/// A chain it owned may also be left held only by the engine's links (see `cycles`).
#[inline]
fn release(chain: Arc<Chain>) {
    dropping(&chain);
    contain::drop_reporting(chain);
}

/// The trampoline. `current` is owned by this call (`running` set) on entry.
pub(super) fn drive(current: &Arc<Chain>, work: Work) {
    drive_from(Cur::Borrowed(current), work)
}

pub(super) fn drive_from(mut current: Cur<'_>, mut work: Work) {
    // Chains fired through `chain_deferred` whose runs resume once the target's run ends.
    // Each is still owned by this call.
    let mut parents: Vec<Arc<Chain>> = Vec::new();
    // A panic from a foreign waker: passed on once every chain this call owns has been run,
    // so that none is left owned by nobody (and never run again).
    let mut panic = None;
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
                        // The inner chain let go of here has given up its result and has no
                        // steps: nothing of the user's goes with it.
                        Attach::Stolen(r) => Settled::Store(r.into()),
                        Attach::Registered => {
                            trace::waiting(current.addr(), inner.addr());
                            Settled::Wait(inner)
                        }
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
                            Ok(_) => {
                                release(target);
                                Settled::Store(then)
                            }
                            Err((err, rejected)) => {
                                contain::drop_reporting(rejected);
                                release(target);
                                Settled::Store(Slot::Err(Failure::new(err)))
                            }
                        }
                    }
                };
                // The inner chain a step returned, once this chain waits on it: released after
                // the lock, since it may be the last handle.
                let mut waited_on = None;
                let mut st = current.state.lock();
                if let Some(rest) = rest {
                    st.steps.put_back(rest);
                }
                match settled {
                    Settled::Store(slot) => st.slot = slot,
                    Settled::Wait(inner) => {
                        // Unless the inner chain delivered in the meantime.
                        if matches!(st.slot, Slot::Empty) {
                            st.slot = Slot::Waiting(Arc::downgrade(&inner));
                        }
                        // Only a chain that another chain waits on can close a cycle; the
                        // usual case ends here. Otherwise the walk runs outside the lock with
                        // `running` still held, so a result the inner chain delivers meanwhile
                        // is stored, and `next_work` below picks it up.
                        if let Some(Waiter::Chain(up)) = &st.waiter {
                            let up = up.clone();
                            drop(st);
                            let circular =
                                closes_cycle(&inner, &current, up) && detach(&inner, &current);
                            st = current.state.lock();
                            if circular {
                                st.slot = Slot::Err(Failure::new(CircularChainError));
                            }
                        }
                        waited_on = Some(inner);
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
                let next = current.next_work(&mut st);
                drop(st);
                if let Some(inner) = waited_on {
                    release(inner);
                }
                next
            }
            Work::Deliver(outer, result) => {
                trace::resumed(outer.addr(), current.addr(), &result);
                let mut st = outer.state.lock();
                st.slot = result.into();
                match outer.claim(&mut st) {
                    Some(next) => {
                        drop(st);
                        // The chain let go of here has handed its result on and has no steps
                        // left: nothing of the user's goes with it, so no boundary is needed
                        // on this path, which every level of a tower takes, unless the engine's
                        // own links may hold it (`dropping` may then free a circle).
                        match std::mem::replace(&mut current, Cur::Owned(outer)) {
                            Cur::Owned(done)
                                if done.marks() & (LINKED | AWAITED | STALLED) != 0 =>
                            {
                                release(done)
                            }
                            done => drop(done),
                        }
                        next
                    }
                    None => {
                        // Paused, or run by another thread: this may have been its last
                        // handle (a paused chain nobody else holds).
                        drop(st);
                        release(outer);
                        Work::Idle
                    }
                }
            }
            Work::Wake(waker) => {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(move || (*waker).wake())) {
                    contain::keep_first(&mut panic, payload);
                }
                Work::Idle
            }
            Work::Idle => match parents.pop() {
                Some(parent) => {
                    let_go(std::mem::replace(&mut current, Cur::Owned(parent)));
                    let mut st = current.state.lock();
                    current.next_work(&mut st)
                }
                None => {
                    let_go(current);
                    match panic {
                        Some(payload) => resume_unwind(payload),
                        None => return,
                    }
                }
            },
        };
    }
}
