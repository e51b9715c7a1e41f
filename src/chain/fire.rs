//! Firing a chain: storing its result, or handing it to whoever waits, and claiming the run
//! that runs its steps.
//!
//! Part of the engine: it knows nothing of the typed Deferred, the combinators or the reactor.

use std::cell::Cell;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::MutexGuard;

use super::run::{Start, drive, run_batch};
use super::{
    CANCELLING, Chain, Claim, DEBUG, FIRED_BY_CANCELLER, Fired, IN_CANCELLER, Slot, State, Waiter,
};
use crate::error::AlreadyCalledError;
use crate::failure::Failure;
use crate::foundation::trace;
use crate::foundation::value::Value;
use crate::foundation::{contain, debug};

impl Chain {
    /// With the run held, what comes after steps that produced `result`: the steps added
    /// meanwhile (the run is kept), or else the result stored, handed to the waiting chain or
    /// kept for the waiting task (the run is released). A paused chain keeps the result.
    #[inline]
    pub(super) fn finish(&self, st: &mut State, result: Result<Value, Failure>) -> Option<Start> {
        if !self.is_paused() {
            if !st.steps.is_empty() {
                return Some(Start::Steps(st.steps.take_batch(), result));
            }
            self.set_running(false);
            match st.waiter.take() {
                None => {}
                Some(Waiter::Chain(outer)) => return Some(Start::Deliver(outer, result)),
                Some(Waiter::Task(waker)) => {
                    st.slot.fill(result);
                    return Some(Start::Wake(waker));
                }
                Some(Waiter::Join(join, index)) => return Some(Start::Join(join, index, result)),
            }
        } else {
            self.set_running(false);
        }
        st.slot.fill(result);
        None
    }

    /// Gives a chain whose slot is empty (it was pending, or waited on another) its result,
    /// and takes its run if nobody has it and nothing holds it back.
    #[inline]
    pub(super) fn give(&self, st: &mut State, result: Result<Value, Failure>) -> Claim {
        if self.is_running() || self.is_paused() {
            st.slot.fill(result);
            return Claim::Busy;
        }
        self.set_running(true);
        Claim::Took(self.finish(st, result))
    }

    /// Takes ownership of the run if nobody has it and nothing holds the chain back.
    pub(super) fn claim(&self, st: &mut State) -> Option<Start> {
        if self.is_running() || self.is_paused() || !st.slot.is_ready() {
            return None;
        }
        let result = st.slot.take_ready();
        self.set_running(true);
        self.finish(st, result)
    }

    /// Stores a result in a pending chain. The caller runs the returned work, if any.
    pub(super) fn fire_inner(
        &self,
        result: Result<Value, Failure>,
        at: &'static Location<'static>,
    ) -> Result<Fired, (AlreadyCalledError, Result<Value, Failure>)> {
        self.fire_locked(self.state.lock(), result, at)
    }

    /// [`fire_inner`](Chain::fire_inner) with the lock already held, for a caller whose check
    /// of the state and fire must be one step.
    pub(super) fn fire_locked(
        &self,
        mut st: MutexGuard<'_, State>,
        result: Result<Value, Failure>,
        at: &'static Location<'static>,
    ) -> Result<Fired, (AlreadyCalledError, Result<Value, Failure>)> {
        if matches!(st.slot, Slot::Pending(_)) {
            if self.cancelling.load(Ordering::Relaxed) & (CANCELLING | FIRED_BY_CANCELLER)
                == CANCELLING
                && IN_CANCELLER.with(Cell::get) == self.addr()
            {
                self.cancelling.fetch_or(FIRED_BY_CANCELLER, Ordering::Relaxed);
            }
            let Slot::Pending(canceller) = std::mem::replace(&mut st.slot, Slot::Empty) else {
                unreachable!("checked above")
            };
            let note = trace::firing(&result);
            if self.is_debug() {
                debug::fired_at(self.addr(), at);
            }
            let fired = match self.give(&mut st, result) {
                Claim::Took(Some(start)) => Fired::Run(start),
                _ => Fired::Stored,
            };
            drop(st);
            trace::fired(self.addr(), at, note);
            // The canceller is user code; it is dropped outside the lock. This thread may own
            // the run now (`Fired::Run`), so a panic in its destructor must not unwind: the
            // result stands and the panic is reported, as for a canceller that fired its own
            // chain and then panicked.
            if let Some(canceller) = canceller {
                contain::drop_reporting(canceller);
            }
            Ok(fired)
        } else if self.grace.load(Ordering::Relaxed) {
            self.grace.store(false, Ordering::Relaxed);
            drop(st);
            // The swallowed result is user data: dropped outside the lock, and contained, since
            // the caller may be a trampoline that owns runs.
            contain::drop_reporting(result);
            Ok(Fired::Swallowed)
        } else {
            drop(st);
            let detail = self.describe().unwrap_or_default();
            Err((AlreadyCalledError { detail }, result))
        }
    }

    /// Fires the chain (`Resolver::callback`/`errback`).
    #[inline]
    pub(crate) fn fire(
        self: &Arc<Self>,
        result: Result<Value, Failure>,
        at: &'static Location<'static>,
    ) -> Result<(), AlreadyCalledError> {
        let mut st = self.state.lock();
        // The usual fire, in short: a pending chain with no canceller, no cancel under way,
        // not in debug mode, nothing holding it back. What `fire_locked` does then.
        if matches!(st.slot, Slot::Pending(None))
            && self.cancelling.load(Ordering::Relaxed) & CANCELLING == 0
            && self.marks() & DEBUG == 0
            && !self.is_running()
            && !self.is_paused()
        {
            // A spent `Pending(None)` owns nothing: replaced without its drop.
            if !st.steps.is_empty() {
                let note = trace::firing(&result);
                let batch = st.steps.take_batch();
                std::mem::forget(std::mem::replace(&mut st.slot, Slot::Empty));
                self.set_running(true);
                drop(st);
                trace::fired(self.addr(), at, note);
                run_batch(self, batch, result);
                return Ok(());
            }
            if st.waiter.is_none() {
                let note = trace::firing(&result);
                std::mem::forget(std::mem::replace(&mut st.slot, result.into()));
                drop(st);
                trace::fired(self.addr(), at, note);
                return Ok(());
            }
        }
        self.fire_slow(st, result, at)
    }

    #[inline(never)]
    pub(super) fn fire_slow(
        self: &Arc<Self>,
        st: MutexGuard<'_, State>,
        result: Result<Value, Failure>,
        at: &'static Location<'static>,
    ) -> Result<(), AlreadyCalledError> {
        match self.fire_locked(st, result, at) {
            Ok(fired) => {
                self.finish_fire(fired);
                Ok(())
            }
            Err((err, result)) => {
                // The rejected value is user data, dropped outside the lock; a panic in its
                // destructor is reported, like every result the engine refuses or swallows,
                // and the caller gets its `AlreadyCalledError`.
                contain::drop_reporting(result);
                Err(err)
            }
        }
    }

    /// Runs the work a fire left to this thread, if it left any.
    #[inline]
    pub(super) fn finish_fire(self: &Arc<Self>, fired: Fired) {
        if let Fired::Run(start) = fired {
            drive(self, start);
        }
    }
}
