//! The untyped engine behind [`Deferred`](crate::Deferred): one shared chain per Deferred, and
//! the trampoline that runs chains without recursion.
//!
//! # States
//!
//! A chain's [`Slot`] is `Pending` until it is fired, then holds the current result (`Ok` or
//! `Err`), `Waiting` while a step's returned Deferred has not fired yet, `Empty` while a step
//! has the value or once the result has been handed on, and `Lent` while its tail carries the
//! result (see `tail.rs`). Steps wait in a FIFO queue; a [`Waiter`] (a chain, a task, or a
//! combinator) takes the result once they have run.
//!
//! # Ownership of a run
//!
//! At most one thread runs a chain's steps at a time: the one that set `running`. Everybody
//! else (adding a step, unpausing, delivering an inner result) only changes the state under the
//! lock and leaves the work to that owner, who looks again before letting go. This is Twisted's
//! `_runningCallbacks` guard, and it is what makes re-entrant calls from inside a callback
//! behave as they do there.
//!
//! # No user code under the lock
//!
//! The owner takes the whole queue out under the lock, drops the lock, and runs the steps one
//! after another, passing each result straight to the next. It takes the lock again only when
//! the batch ends, a step returns a Deferred, or the chain was paused (or, when a step fires
//! another chain whose run this thread then owns, to park the rest of the batch).
//! Anything a step does to its own chain in the meantime (add, pause, fire, inspect) takes the
//! lock, finds `running` set, and queues or records the change.
//!
//! # No recursion
//!
//! `run::drive` is a loop. Handing a result to the chain that waits on it replaces the current
//! chain (a tail call: with unique tails the inner chain is finished for good). Firing another
//! chain through `chain_deferred` pushes the current chain on an explicit stack and resumes it
//! afterwards, the way Twisted's `_runCallbacks` keeps its `chain` list. Dropping a chain that
//! owns other chains queues them on a thread-local list instead of dropping them in place, and
//! a combinator's canceller hands the chains it cancels back to `cancel`'s loop (`cancel.rs`).
//!
//! Part of the engine: it knows nothing of the typed Deferred, the combinators, the primitives,
//! the async bridge or the reactor.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::error::NotPausedError;
use crate::failure::Failure;
use crate::foundation::debug;
use crate::foundation::trace::{self};
use crate::foundation::value::Value;

mod awaiters;
mod cancel;
mod cycles;
mod dispose;
mod dropped;
mod fire;
pub(crate) mod join;
mod located;
pub(crate) mod look;
mod push;
mod run;
mod steps;
mod sweep;
mod tail;

use self::awaiters::Awaiter;
pub(crate) use self::awaiters::{Awaiting, kept_for, polling};
pub(crate) use self::cancel::{CancelFn, Canceller, Cascade};
pub(crate) use self::cycles::dropping;
use self::join::Join;
use self::run::{Start, drive};
pub(crate) use self::steps::RunStep;
use self::steps::Steps;
pub(crate) use self::tail::Tail;

/// What a canceller did, and so what [`Chain::cancel`] does once it has returned.
pub(crate) enum Cancelled {
    /// The usual case: unless the canceller fired the chain, it now fails with
    /// `CancelledError`. The contract of [`Deferred::with_canceller`](crate::Deferred::with_canceller).
    Fail,
    /// Leave the chain alone: whoever the canceller found about to fire it (a member that
    /// completed a `DeferredList`, a `put` handing a value to a cancelled `get`) fires it
    /// right after, and injecting a failure first would lose that result.
    Leave,
    /// The cancellation was handed on, and whoever took it fires the chain later: it stays
    /// pending, with this canceller for the next `cancel`. An `ensure_deferred` task does this:
    /// its cancellation surfaces inside the future, which may recover (Twisted's
    /// `_handleCancelInlineCallbacks`).
    KeepPending(Canceller),
    /// Cancel the [`Cascade`]'s chains first, one after another, as if from inside the
    /// canceller; the canceller's answer is what the cascade answers then. A combinator's
    /// canceller does this with its inputs, so that the engine cancels a tower of combinators
    /// in a loop instead of each canceller recursing into the next (see `cancel.rs`).
    Cascade(Box<dyn Cascade>),
}

/// What a step produced. Small (three words): it is moved once per step.
pub(crate) enum Outcome {
    Value(Value),
    Failure(Failure),
    /// Wait for this chain (its tail was consumed) and take over its result.
    Wait(Arc<Chain>),
    /// Fire a chain (`chain_deferred`, and the combinators firing their own Deferred from a
    /// member's step, without recursion). Boxed: it is rare, and would make every other
    /// outcome as large as itself.
    Fire(Box<FireOrder>),
}

/// What [`Outcome::Fire`] fires, and with what.
pub(crate) struct FireOrder {
    pub(crate) target: Arc<Chain>,
    pub(crate) result: Result<Value, Failure>,
    /// What the firing chain goes on with: this failure, or else `()`; if the target was
    /// already fired, an `AlreadyCalledError`.
    pub(crate) then: Option<Failure>,
}

impl Outcome {
    /// Fires `target` with `result`; the firing chain goes on with `then`, or else `()`.
    pub(crate) fn fire(
        target: Arc<Chain>,
        result: Result<Value, Failure>,
        then: Option<Failure>,
    ) -> Outcome {
        Outcome::Fire(Box::new(FireOrder { target, result, then }))
    }
}

impl From<Result<Value, Failure>> for Outcome {
    #[inline]
    fn from(r: Result<Value, Failure>) -> Outcome {
        match r {
            Ok(v) => Outcome::Value(v),
            Err(f) => Outcome::Failure(f),
        }
    }
}

/// One chain. Its layout is kept to 80 bytes (96 with the `Arc` counts) because every
/// Deferred is one of these: the flags and the counter sit beside the lock rather than in it,
/// where the lock's padding would cost a word.
pub(crate) struct Chain {
    state: Mutex<State>,
    /// Pause counter. Changed only under the lock, but the owner of a run also reads it
    /// between steps without the lock, so that a step pausing its own chain stops the batch.
    paused: AtomicU32,
    /// A thread is running this chain's steps (see the module docs). Read and written only
    /// under the lock; atomic only so that it can live outside it.
    running: AtomicBool,
    /// Cancelled with no canceller: the next fire is swallowed instead of raising
    /// `AlreadyCalledError` (Twisted's `_suppressAlreadyCalled`). Under the lock, like
    /// `running`.
    grace: AtomicBool,
    /// `CANCELLING` while a canceller runs, plus `FIRED_BY_CANCELLER` once that canceller fired
    /// the chain itself: `cancel` tells the canceller's own answer apart from a fire that raced
    /// it on another thread. Under the lock, like `running`; and `PROMISED`, which is set
    /// without it (every change of this byte is a read-modify-write for that reason).
    cancelling: AtomicU8,
    /// What the chain has been part of, for what has to be checked when its handles go: see
    /// [`DEBUG`], [`LINKED`], [`AWAITED`], [`COLLECTED`] and [`STALLED`]. Bits are only ever
    /// set.
    marks: AtomicU8,
}

/// Bits of [`Chain::cancelling`].
const CANCELLING: u8 = 1;
const FIRED_BY_CANCELLER: u8 = 2;
/// A cancel reached the chain while it was pending; never cleared (`Resolver::is_cancelled`).
const CANCELLED: u8 = 4;
/// Somebody has committed to fire this pending chain and is about to (see
/// [`Chain::promise_fire`]). Never cleared: once the chain is fired it no longer matters.
const PROMISED: u8 = 8;

/// Bits of [`Chain::marks`]. Debug mode was on when the chain was made: it has an entry in the
/// debug table. Set at creation only.
const DEBUG: u8 = 1;
/// The chain was one end of a `chain_deferred` link, or waits on a chain marked so: it may be
/// on a circle of the engine's own links (see `cycles`).
const LINKED: u8 = 2;
/// A task of this crate awaited the chain.
const AWAITED: u8 = 4;
/// Freed as part of a circle nothing outside could reach: it has no steps and no waiter left.
const COLLECTED: u8 = 8;
/// A handle of this chain holds chains that would be freed without it: they are looked at
/// again when one goes (see `awaiters`).
const STALLED: u8 = 16;

thread_local! {
    /// The address of the chain whose canceller this thread is running, or 0.
    static IN_CANCELLER: Cell<usize> = const { Cell::new(0) };
}

struct State {
    slot: Slot,
    /// Steps not run yet, oldest first.
    steps: Steps,
    /// Who takes the result once the steps are exhausted. Set only after the tail was consumed
    /// (by an outer chain or an `.await`), so nobody can add steps after it.
    waiter: Option<Waiter>,
}

enum Slot {
    Pending(Option<Canceller>),
    Ok(Value),
    Err(Failure),
    /// Fired, and waiting on the inner chain a step returned. Weak, because the inner chain
    /// holds this one strongly as its waiter; the strong links point outward.
    Waiting(Weak<Chain>),
    /// A step has the value, or the result was handed on.
    Empty,
    /// The tail took the result out to run its steps as they are added, without the lock
    /// (see [`Lent`](tail::Lent)); it gives it back when it needs the chain again.
    Lent,
}

impl Slot {
    #[inline]
    fn is_ready(&self) -> bool {
        matches!(self, Slot::Ok(_) | Slot::Err(_))
    }

    /// Stores a result in an empty slot. The engine only ever does that (whoever stores a
    /// result took the last one out, or emptied the slot), and the assignment then skips the
    /// old value's drop, a call that is otherwise made on every store.
    #[inline]
    fn fill(&mut self, result: Result<Value, Failure>) {
        self.put(result.into());
    }

    /// [`fill`](Slot::fill) with any state.
    #[inline]
    fn put(&mut self, new: Slot) {
        debug_assert!(matches!(self, Slot::Empty), "a slot written over");
        match self {
            Slot::Empty => std::mem::forget(std::mem::replace(self, new)),
            _ => *self = new,
        }
    }

    #[inline]
    fn take_ready(&mut self) -> Result<Value, Failure> {
        match std::mem::replace(self, Slot::Empty) {
            Slot::Ok(v) => Ok(v),
            Slot::Err(f) => Err(f),
            _ => unreachable!("take_ready on a chain with no result"),
        }
    }
}

impl From<Result<Value, Failure>> for Slot {
    #[inline]
    fn from(r: Result<Value, Failure>) -> Slot {
        match r {
            Ok(v) => Slot::Ok(v),
            Err(f) => Slot::Err(f),
        }
    }
}

enum Waiter {
    Chain(Arc<Chain>),
    /// Boxed to keep the chain small: a waker is two words.
    Task(Box<Awaiter>),
    /// A combinator (`gather_results`, `DeferredList`, `race`), whose input this chain is, at
    /// this index. A pointer and an index: the waiter is two words, as with the others.
    Join(Arc<Join>, u32),
}

/// What a fire did.
enum Fired {
    /// The result is in; this thread now owns the run and must do this first.
    Run(Start),
    /// The result is in; someone else runs it, or it is paused.
    Stored,
    /// The fire was swallowed by the cancellation grace.
    Swallowed,
}

/// What a chain that was given a result does: see [`Chain::give`].
enum Claim {
    /// Somebody else owns its run, or it is paused: the result is stored.
    Busy,
    /// This thread owned its run, and this is what it does next (`None`: the result is
    /// stored and the run released).
    Took(Option<Start>),
}

/// A snapshot of a chain for `Debug` output and inspection. It is taken under the lock and read
/// after it: formatting a failure runs the error's `Display`, which is user code.
pub(crate) enum Peek {
    Pending,
    /// The value's description ([`Value::describe`], which runs no user code).
    Ok(String),
    Err(Failure),
    Waiting,
    Running,
    Consumed,
}

impl Chain {
    /// A chain in its initial state around `slot`, registered nowhere.
    fn build(slot: Slot, debug: bool) -> Arc<Chain> {
        Arc::new(Chain {
            state: Mutex::new(State { slot, steps: Steps::Empty, waiter: None }),
            paused: AtomicU32::new(0),
            running: AtomicBool::new(false),
            grace: AtomicBool::new(false),
            cancelling: AtomicU8::new(0),
            marks: AtomicU8::new(if debug { DEBUG } else { 0 }),
        })
    }

    fn with_slot(slot: Slot, created: &'static Location<'static>) -> Arc<Chain> {
        let debug = debug::debugging();
        let chain = Chain::build(slot, debug);
        if debug {
            debug::register(chain.addr(), created);
        }
        trace::created(chain.addr(), created);
        chain
    }

    /// A chain waiting to be fired.
    #[inline]
    pub(crate) fn pending(
        canceller: Option<Canceller>,
        created: &'static Location<'static>,
    ) -> Arc<Chain> {
        Chain::with_slot(Slot::Pending(canceller), created)
    }

    /// A chain that already has its result (`succeed`, `fail`).
    #[inline]
    pub(crate) fn fired(
        result: Result<Value, Failure>,
        created: &'static Location<'static>,
    ) -> Arc<Chain> {
        let note = trace::firing(&result);
        let chain = Chain::with_slot(result.into(), created);
        if chain.is_debug() {
            debug::fired_at(chain.addr(), created);
        }
        trace::fired(chain.addr(), created, note);
        chain
    }

    /// A fired chain for a tail that was `Ready`, which was made while debug mode was off.
    fn fired_quiet(result: Result<Value, Failure>) -> Arc<Chain> {
        Chain::build(result.into(), false)
    }

    /// The key of this chain in the debug table.
    fn addr(&self) -> usize {
        self as *const Chain as usize
    }

    fn describe(&self) -> Option<String> {
        if self.is_debug() { debug::describe(self.addr()) } else { None }
    }

    #[inline]
    fn marks(&self) -> u8 {
        self.marks.load(Ordering::Relaxed)
    }

    #[inline]
    fn is_debug(&self) -> bool {
        self.marks() & DEBUG != 0
    }

    #[inline]
    fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire) != 0
    }

    #[inline]
    fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    #[inline]
    fn set_running(&self, on: bool) {
        self.running.store(on, Ordering::Relaxed);
    }

    /// Nothing stands between the result and a reader: fired, idle, unpaused, no steps left.
    #[inline]
    fn settled(&self, st: &State) -> bool {
        st.slot.is_ready() && !self.is_running() && !self.is_paused() && st.steps.is_empty()
    }

    pub(crate) fn pause(&self) {
        let _st = self.state.lock();
        self.paused.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn unpause(self: &Arc<Self>) -> Result<(), NotPausedError> {
        let mut st = self.state.lock();
        let paused = self.paused.load(Ordering::Acquire);
        if paused == 0 {
            return Err(NotPausedError);
        }
        self.paused.store(paused - 1, Ordering::Release);
        if let Some(start) = self.claim(&mut st) {
            drop(st);
            drive(self, start);
        }
        Ok(())
    }

    /// Takes the final result if the chain has one and nothing else is due to run.
    pub(crate) fn try_take(&self) -> Option<Result<Value, Failure>> {
        let mut st = self.state.lock();
        self.settled(&st).then(|| st.slot.take_ready())
    }

    /// Whether [`try_take`](Chain::try_take) would succeed.
    pub(crate) fn has_result(&self) -> bool {
        self.settled(&self.state.lock())
    }

    pub(crate) fn called(&self) -> bool {
        !matches!(self.state.lock().slot, Slot::Pending(_))
    }

    pub(crate) fn paused(&self) -> bool {
        self.is_paused()
    }

    /// Whether a cancel reached the chain while it was pending.
    pub(crate) fn cancel_requested(&self) -> bool {
        let _st = self.state.lock();
        self.cancelling.load(Ordering::Relaxed) & CANCELLED != 0
    }

    pub(crate) fn waiting(&self) -> bool {
        matches!(self.state.lock().slot, Slot::Waiting(_))
    }

    /// What the chain's slot holds, for reading: no user code runs (the value is described by
    /// the engine, a failure's reference count is taken).
    fn peek_locked(&self, st: &State) -> Peek {
        match &st.slot {
            Slot::Pending(_) => Peek::Pending,
            Slot::Ok(v) => Peek::Ok(v.describe()),
            Slot::Err(e) => Peek::Err(e.clone()),
            Slot::Waiting(_) => Peek::Waiting,
            Slot::Empty if self.is_running() => Peek::Running,
            Slot::Empty | Slot::Lent => Peek::Consumed,
        }
    }

    /// Runs `f` on a snapshot of the state, taken under the lock; `f` runs after it is released.
    pub(crate) fn peek<R>(&self, f: impl FnOnce(Peek, Option<String>) -> R) -> R {
        let debug = self.describe();
        let st = self.state.lock();
        let peek = self.peek_locked(&st);
        drop(st);
        f(peek, debug)
    }
}

impl Chain {
    /// Lends the chain's value to `f` outside the lock, for the typed layer's `Debug` output:
    /// the value's `Debug` is user code, and no user code runs under the lock. While the value
    /// is out the chain looks as it does while a step has it (`running`, "running callbacks"),
    /// so nobody else touches it; it goes back before this returns, even if `f` panics.
    /// `None` if the chain holds no value or someone else owns its run.
    pub(crate) fn lend_value<R>(self: &Arc<Self>, f: impl FnOnce(&Value) -> R) -> Option<R> {
        let mut st = self.state.lock();
        if self.is_running() || !matches!(st.slot, Slot::Ok(_)) {
            return None;
        }
        let Ok(value) = st.slot.take_ready() else { unreachable!("checked above") };
        self.set_running(true);
        drop(st);
        let out = catch_unwind(AssertUnwindSafe(|| f(&value)));
        let mut st = self.state.lock();
        // Whatever was queued meanwhile (nothing, while the tail is only borrowed) runs now,
        // as it would after a step.
        let next = self.finish(&mut st, Ok(value));
        drop(st);
        if let Some(start) = next {
            drive(self, start);
        }
        match out {
            Ok(r) => Some(r),
            Err(payload) => resume_unwind(payload),
        }
    }
}

#[cfg(test)]
mod tests;
