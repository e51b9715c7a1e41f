//! The engine shared by [`DeferredList`](crate::DeferredList),
//! [`gather_results`](crate::gather_results) and [`race`](fn@crate::race): one Deferred fed by
//! many.
//!
//! # Cost
//!
//! An input that has not fired gets no step: the join is its chain's waiter
//! (`Waiter::Join`), which the engine hands the chain's result to once its steps have run, as
//! it hands a result to a chain that waits on it. Each input has a pre-sized slot; its result
//! takes the join's lock once, is stored, and counts down. Nothing is searched or shifted, so
//! the work per input is constant whatever the number of inputs; and it is no more than the
//! engine's own work for the input plus that slot, with no allocation of its own. An input
//! that has fired already gets a step, which runs at once.
//!
//! The join is untyped, as the engine is: it holds the inputs' values erased ([`Value`]), and
//! the combinator's [`Spec`] turns them into the typed result.
//!
//! # Who fires the join's Deferred
//!
//! Exactly one party: whoever takes `target` out of the state under the lock. A member's step
//! returns [`Outcome::Fire`] so the engine fires the join from its trampoline (nested
//! combinators complete without recursion), and marks the chain promised to that fire first;
//! the canceller leaves it to the engine's `CancelledError`. Everything that arrives afterwards
//! is a leftover: it settles the member's own chain and nothing else.
//!
//! # Cancelling
//!
//! The canceller cancels the members that have not reported, and their results settle the
//! join as usual. A member whose result is in flight on another thread when the cancel comes
//! has nothing left to cancel, and is waited for: the canceller keeps the join pending (and
//! re-armed) as long as every member still unreported is in flight, and takes `target` only
//! when one of them cannot report.
//!
//! # Ownership
//!
//! The steps on the members own the join, and the join owns its Deferred's chain until it
//! fires it: that is what keeps a join fed by Deferreds still to fire alive. The join's
//! canceller holds it weakly and the join holds its members weakly, so nothing forms a cycle:
//! members that can never fire (every handle that could fire them was dropped) take the join
//! with them instead of leaking it.
//!
//! Part of the engine: it knows nothing of the typed Deferred, the combinators, the primitives,
//! the async bridge or the reactor.

use std::panic::Location;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::{Cancelled, Canceller, Cascade, Chain, Outcome, Tail};
use crate::error::FirstError;
use crate::failure::Failure;
use crate::foundation::contain;
use crate::foundation::value::Value;

/// One slot per input, in input order: its result once it has one, erased (each value is one
/// of the inputs' `T`, which the [`Spec`]'s functions take back).
pub(crate) type Slots = Vec<Option<Result<Value, Failure>>>;

/// What a join does with its inputs' results.
pub(crate) struct Spec {
    /// Fire on the first success, with this result (`fire_on_one_callback`, `race`).
    pub(crate) first_success: Option<fn(usize, Value) -> Value>,
    /// Fail on the first failure, with a [`FirstError`] (`fire_on_one_errback`, `gather`).
    pub(crate) first_failure: bool,
    /// The result once every input has one, in input order.
    pub(crate) complete: fn(Slots) -> Result<Value, Failure>,
    /// Members' failures end there instead of staying on their chains, where they would be
    /// reported as unhandled.
    pub(crate) consume_errors: bool,
    /// Cancel every other member once one succeeds (`race`).
    pub(crate) cancel_losers: bool,
}

/// A join: the Deferred it fires, and what its inputs brought so far.
pub(crate) struct Join {
    state: Mutex<State>,
    spec: Spec,
}

struct State {
    /// The join's own chain, until someone takes it to fire it. `None` means done.
    target: Option<Arc<Chain>>,
    /// One slot per input, filled as results arrive (successes are not stored when the join
    /// fires on the first one).
    results: Slots,
    /// Inputs still to report.
    remaining: usize,
    /// The members, to cancel; empty until construction has attached every step, and taken by
    /// whoever cancels them.
    members: Vec<Option<Weak<Chain>>>,
    /// The input whose success fired the join, in the modes that fire on one.
    winner: Option<usize>,
}

/// Starts a join over `inputs` (its members' tails) and returns the handle `handle` makes of
/// the join's own chain (the combinators make a `Deferred` of it).
pub(crate) fn start<H>(
    inputs: impl ExactSizeIterator<Item = Tail>,
    spec: Spec,
    created: &'static Location<'static>,
    handle: impl FnOnce(Arc<Chain>) -> H,
) -> H {
    let n = inputs.len();
    let join = Arc::new_cyclic(|weak: &Weak<Join>| {
        let target = Chain::pending(Some(canceller(weak.clone())), created);
        let results = std::iter::repeat_with(|| None).take(n).collect();
        let state = State {
            target: Some(target),
            results,
            remaining: n,
            members: Vec::new(),
            winner: None,
        };
        Join { state: Mutex::new(state), spec }
    });
    let target = join.state.lock().target.clone().expect("a new join has its target");
    let d = handle(target);
    if n == 0 {
        let target = join.state.lock().target.take().expect("nothing else can fire it yet");
        let _ = target.fire((join.spec.complete)(Vec::new()), created);
        return d;
    }

    let mut members = Vec::with_capacity(n);
    for (index, input) in inputs.enumerate() {
        // A tail that is just a result (the input had fired) is dropped in there, once the
        // join has its result; if it holds a failure the join did not consume, that reports
        // it, as the member's own chain would.
        members.push(input.join(&join, index));
    }

    let mut st = join.state.lock();
    if st.target.is_some() {
        st.members = members;
    } else if let (true, Some(winner)) = (join.spec.cancel_losers, st.winner) {
        // A member won while the others were still being attached.
        drop(st);
        members[winner] = None;
        cancel_all(members);
    }
    d
}

/// Drops the results gathered so far once the join has decided without them (a first failure,
/// a first success, a cancellation). The caller has taken the join's Deferred out to fire it,
/// or is its canceller: a panic in a value's or an error's destructor must not unwind through
/// that, or the Deferred would never fire. It is reported instead.
fn discard(earlier: Slots) {
    if !earlier.is_empty() {
        contain::drop_reporting(earlier);
    }
}

/// The join's canceller. It holds the join weakly: the join owns the chain it sits on.
fn canceller(join: Weak<Join>) -> Canceller {
    Box::new(move |target: &Arc<Chain>| match join.upgrade() {
        Some(join) => Join::cancel(join),
        // The last member to report took the chain to fire it, and its step, which held the
        // last handle on the join, has returned: the fire is on its way.
        None if target.fire_promised() => Cancelled::Leave,
        // Every member is gone without firing: nothing can settle the join any more.
        None => Cancelled::Fail,
    })
}

impl Drop for Join {
    fn drop(&mut self) {
        // Every member went unfired: nothing will fire the join's Deferred now (see
        // `chain::cycles`).
        if let Some(target) = self.state.get_mut().target.take() {
            crate::chain::dropping(&target);
        }
    }
}

fn cancel_all(members: Vec<Option<Weak<Chain>>>) {
    for member in members.into_iter().flatten() {
        if let Some(chain) = member.upgrade() {
            chain.cancel(Location::caller());
        }
    }
}

impl Join {
    /// Member `index`'s result: records it and says what the member's chain goes on with,
    /// firing the join if this result settles it. Called by the engine, once the member's
    /// steps have run (the join is its chain's waiter), or as the member's step.
    pub(crate) fn record(&self, index: usize, result: Result<Value, Failure>) -> Outcome {
        let mut st = self.state.lock();
        // This member no longer needs cancelling. Its handle goes now, while its chain is
        // still in the cache, rather than in one sweep over every member at the end (after
        // the lock is released: `st` is dropped first on every path).
        let _member = st.members.get_mut(index).and_then(Option::take);
        if st.target.is_none() {
            drop(st);
            return self.leftover(result);
        }
        st.remaining -= 1;
        let keep = match result {
            Ok(value) => {
                if let Some(first_success) = self.spec.first_success {
                    let target = take_to_fire(&mut st);
                    let mut members = std::mem::take(&mut st.members);
                    let earlier = std::mem::take(&mut st.results);
                    st.winner = Some(index);
                    drop(st);
                    discard(earlier);
                    // Twisted's order: the losers are cancelled before the winner is announced.
                    if self.spec.cancel_losers && !members.is_empty() {
                        members[index] = None;
                        cancel_all(members);
                    }
                    return Outcome::fire(target, Ok(first_success(index, value)), None);
                }
                st.results[index] = Some(Ok(value));
                None
            }
            Err(failure) => {
                let keep = (!self.spec.consume_errors).then(|| failure.clone());
                if self.spec.first_failure {
                    let target = take_to_fire(&mut st);
                    let members = std::mem::take(&mut st.members);
                    let earlier = std::mem::take(&mut st.results);
                    drop(st);
                    // The values that came in before are not needed any more; they are
                    // dropped now, outside the lock, rather than with the last input.
                    drop(members);
                    discard(earlier);
                    let first = Failure::new(FirstError { index, failure });
                    return Outcome::fire(target, Err(first), keep);
                }
                st.results[index] = Some(Err(failure));
                keep
            }
        };
        if st.remaining == 0 {
            let target = take_to_fire(&mut st);
            let results = std::mem::take(&mut st.results);
            let members = std::mem::take(&mut st.members);
            drop(st);
            drop(members);
            return Outcome::fire(target, (self.spec.complete)(results), keep);
        }
        drop(st);
        match keep {
            Some(failure) => Outcome::Failure(failure),
            None => Outcome::Value(Value::UNIT),
        }
    }

    /// A result that arrived after the join had fired: it goes nowhere, and the member's chain
    /// keeps a failure unless errors are consumed.
    fn leftover(&self, result: Result<Value, Failure>) -> Outcome {
        match result {
            Err(failure) if !self.spec.consume_errors => Outcome::Failure(failure),
            _ => Outcome::Value(Value::UNIT),
        }
    }

    /// The join's canceller: cancels every member that has not reported, whose results may
    /// settle the join as usual. If they do not, because a member cannot report (it is
    /// paused, or pending with nobody to fire it, or gone), the join fails with
    /// `CancelledError`. A member whose result is in flight (another thread runs its steps,
    /// or its fire is promised) is waited for: the join stays pending, and cancelling it again
    /// cancels again whatever has not reported by then. The engine cancels the members (see
    /// [`Cancelled::Cascade`]), then [`after_cancel`](Join::after_cancel) answers.
    fn cancel(join: Arc<Self>) -> Cancelled {
        let st = join.state.lock();
        if st.target.is_none() {
            // A member settled the join and its step is about to fire it.
            return Cancelled::Leave;
        }
        // Cloned rather than taken: each member takes its own handle out as it reports, so
        // what is left afterwards is what has not reported.
        let members = st.members.clone();
        drop(st);
        Cancelled::Cascade(Box::new(CancelMembers { join, members }))
    }

    /// The rest of the canceller, once every member was cancelled.
    fn after_cancel(self: &Arc<Self>) -> Cancelled {
        let unreported: Vec<Weak<Chain>> = self.unreported().into_iter().flatten().collect();
        let in_flight = !unreported.is_empty()
            && unreported.iter().all(|m| m.upgrade().is_some_and(|m| m.in_flight()));
        if in_flight {
            return Cancelled::KeepPending(canceller(Arc::downgrade(self)));
        }
        let mut st = self.state.lock();
        match st.target.take() {
            None => Cancelled::Leave,
            Some(target) => {
                // Nobody else will fire it now; the engine fails it with `CancelledError`.
                let earlier = std::mem::take(&mut st.results);
                let members = std::mem::take(&mut st.members);
                drop(st);
                drop(target);
                discard(earlier);
                drop(members);
                Cancelled::Fail
            }
        }
    }

    /// Handles on the members that have not reported yet (`None` for those gone already).
    fn unreported(&self) -> Vec<Option<Weak<Chain>>> {
        let st = self.state.lock();
        if st.target.is_none() { Vec::new() } else { st.members.clone() }
    }
}

/// Takes the join's chain to fire it, and says so on the chain: from here until the fire
/// lands, the join may be gone (its last handle was the reporting member's step), and a cancel
/// that finds it gone must leave the chain to this fire.
fn take_to_fire(st: &mut State) -> Arc<Chain> {
    let target = st.target.take().expect("checked above");
    target.promise_fire();
    target
}

/// The join's canceller, under way: the engine cancels `members`, then asks the join.
struct CancelMembers {
    join: Arc<Join>,
    members: Vec<Option<Weak<Chain>>>,
}

impl Cascade for CancelMembers {
    fn members(&mut self) -> Vec<Option<Weak<Chain>>> {
        std::mem::take(&mut self.members)
    }

    fn then(self: Box<Self>) -> Cancelled {
        self.join.after_cancel()
    }
}
