//! Adding a step to a chain: queued while the chain is pending or running, run at once on a
//! fired and idle chain, and run without the lock on a tail that holds its result alone.
//!
//! Part of the engine: it knows nothing of the typed Deferred, the combinators or the reactor.

use std::sync::Arc;

use super::run::{Start, call_inline, drive};
use super::steps::{Batch, StepFn};
use super::tail::Tail;
use super::{Chain, DEBUG, Outcome, Slot, State};
use crate::failure::Failure;
use crate::foundation::value::Value;

impl Chain {
    /// Appends a step, running it at once if the chain is fired and idle.
    pub(crate) fn push(self: &Arc<Self>, step: StepFn) {
        let mut st = self.state.lock();
        if !self.settled(&st) {
            st.steps.push(step);
            return;
        }
        let input = st.slot.take_ready();
        self.set_running(true);
        drop(st);
        drive(self, Start::Steps(Batch::one(step), input));
    }

    /// [`push`](Chain::push) for a tail, which it consumes and returns.
    ///
    /// - When the tail is the chain's only handle, nobody can race it: the lock is skipped.
    ///   If the chain has its result and is idle, it is not needed any more: the tail becomes
    ///   a ready one ([`Tail::Value`]), and this step and every later one is a plain call.
    /// - When a resolver still holds the chain and the chain has its result, idle, the tail
    ///   takes the result out under the lock once and goes on with it ([`Lent`](tail::Lent)):
    ///   this step and every later one is a plain call, with no box and no lock.
    ///
    /// Not in debug mode, where the chain holds the records a ready tail would not have.
    #[inline]
    pub(super) fn push_tail<F>(this: Arc<Chain>, step: F) -> Tail
    where
        F: FnOnce(Result<Value, Failure>) -> Outcome + Send + 'static,
    {
        // A plain load first: `get_mut` costs an atomic read-modify-write even when it fails,
        // and a pending chain's resolver usually still holds it.
        if Arc::strong_count(&this) == 1 {
            return Chain::push_unique(this, step);
        }
        let mut st = this.state.lock();
        if !this.settled(&st) {
            // The usual case: a pending chain.
            st.steps.push(Box::new(step));
            drop(st);
            return Tail::Chain(this);
        }
        let input = this.lend(&mut st);
        drop(st);
        Chain::push_settled(this, input, step)
    }

    /// [`push_tail`](Chain::push_tail) when the tail holds the only strong handle.
    #[inline(never)]
    pub(super) fn push_unique<F>(mut this: Arc<Chain>, step: F) -> Tail
    where
        F: FnOnce(Result<Value, Failure>) -> Outcome + Send + 'static,
    {
        let Some(chain) = Arc::get_mut(&mut this) else {
            // A weak handle (a combinator's, a waiting chain's) may become strong meanwhile.
            return Chain::push_shared(this, step);
        };
        let paused = *chain.paused.get_mut() != 0;
        let debug = *chain.marks.get_mut() & DEBUG != 0;
        let st = chain.state.get_mut();
        if paused || !st.slot.is_ready() || !st.steps.is_empty() {
            st.steps.push(Box::new(step));
            return Tail::Chain(this);
        }
        let input = st.slot.take_ready();
        if debug {
            // The chain keeps the records: the step runs as the input of a run the tail owns,
            // as on a shared chain.
            chain.set_running(true);
            return Chain::push_settled(this, input, step);
        }
        // The chain's last handle: it has nothing left but what was just taken out.
        drop(this);
        Tail::ready_then(input, step)
    }

    /// [`push_tail`](Chain::push_tail) while another handle may hold the chain.
    #[inline(never)]
    pub(super) fn push_shared<F>(this: Arc<Chain>, step: F) -> Tail
    where
        F: FnOnce(Result<Value, Failure>) -> Outcome + Send + 'static,
    {
        let mut st = this.state.lock();
        if !this.settled(&st) {
            st.steps.push(Box::new(step));
            drop(st);
            return Tail::Chain(this);
        }
        let input = this.lend(&mut st);
        drop(st);
        Chain::push_settled(this, input, step)
    }

    /// Takes the result of a chain that has it and is idle out for its tail, which another
    /// handle may hold: lent ([`Slot::Lent`]), or in debug mode, where the chain keeps what the
    /// tail does, as the input of a run the tail now owns.
    #[inline]
    pub(super) fn lend(&self, st: &mut State) -> Result<Value, Failure> {
        let input = st.slot.take_ready();
        if self.is_debug() {
            self.set_running(true);
        } else {
            st.slot.put(Slot::Lent);
        }
        input
    }

    /// [`push_tail`](Chain::push_tail) on a chain whose result [`lend`](Chain::lend) took out.
    #[inline(never)]
    pub(super) fn push_settled<F>(this: Arc<Chain>, input: Result<Value, Failure>, step: F) -> Tail
    where
        F: FnOnce(Result<Value, Failure>) -> Outcome + Send + 'static,
    {
        let outcome = call_inline(step, input);
        if this.is_debug() {
            drive(&this, Start::Outcome(outcome));
            return Tail::Chain(this);
        }
        Tail::lent(this, outcome)
    }

    /// Takes back the run of a chain whose result its tail had taken out ([`Slot::Lent`]),
    /// for a step of the tail's that did more than compute (it waits, or fires a chain).
    pub(super) fn resume_lent(self: &Arc<Self>, outcome: Outcome) {
        let mut st = self.state.lock();
        debug_assert!(matches!(st.slot, Slot::Lent));
        st.slot = Slot::Empty;
        self.set_running(true);
        drop(st);
        drive(self, Start::Outcome(outcome));
    }

    /// Puts back the result its tail had taken out ([`Slot::Lent`]).
    pub(super) fn restore(&self, result: Result<Value, Failure>) {
        let mut st = self.state.lock();
        debug_assert!(matches!(st.slot, Slot::Lent));
        st.slot = result.into();
    }
}
