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

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::task::Waker;

use parking_lot::{Mutex, MutexGuard};

use crate::error::{AlreadyCalledError, NotPausedError};
use crate::failure::Failure;
use crate::foundation::contain;
use crate::foundation::debug;
use crate::foundation::trace::{self, Site};
use crate::foundation::unhandled::{self, UnhandledFailure};
use crate::foundation::value::Value;

mod awaiters;
mod cancel;
mod cycles;
mod dispose;
pub(crate) mod join;
mod located;
pub(crate) mod look;
mod run;
mod steps;
mod tail;

use self::awaiters::Awaiter;
pub(crate) use self::awaiters::{Awaiting, kept_for, polling};
pub(crate) use self::cancel::Cascade;
pub(crate) use self::cycles::dropping;
use self::dispose::{Garbage, dispose};
use self::join::Join;
use self::run::{Start, call_inline, drive, run_batch};
use self::steps::{Batch, Steps};
pub(crate) use self::tail::Tail;

/// One step: gets the current result, returns what comes next.
pub(crate) type StepFn = Box<dyn RunStep>;

/// What the step queue holds: any closure, or a `chain_deferred` link, whose target the engine
/// can see (see `cycles`).
pub(crate) trait RunStep: Send {
    fn run(self: Box<Self>, input: Result<Value, Failure>) -> Outcome;

    /// The chain this step fires, if it is a `chain_deferred` link.
    fn fires(&self) -> Option<&Arc<Chain>> {
        None
    }

    /// Where a user added this step, if it was added where that is kept (see `located`).
    fn site(&self) -> Option<Site> {
        None
    }
}

impl<F: FnOnce(Result<Value, Failure>) -> Outcome + Send> RunStep for F {
    #[inline]
    fn run(self: Box<Self>, input: Result<Value, Failure>) -> Outcome {
        (*self)(input)
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

    /// With the run held, what comes after steps that produced `result`: the steps added
    /// meanwhile (the run is kept), or else the result stored, handed to the waiting chain or
    /// kept for the waiting task (the run is released). A paused chain keeps the result.
    #[inline]
    fn finish(&self, st: &mut State, result: Result<Value, Failure>) -> Option<Start> {
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
    fn give(&self, st: &mut State, result: Result<Value, Failure>) -> Claim {
        if self.is_running() || self.is_paused() {
            st.slot.fill(result);
            return Claim::Busy;
        }
        self.set_running(true);
        Claim::Took(self.finish(st, result))
    }

    /// Takes ownership of the run if nobody has it and nothing holds the chain back.
    fn claim(&self, st: &mut State) -> Option<Start> {
        if self.is_running() || self.is_paused() || !st.slot.is_ready() {
            return None;
        }
        let result = st.slot.take_ready();
        self.set_running(true);
        self.finish(st, result)
    }

    /// Stores a result in a pending chain. The caller runs the returned work, if any.
    fn fire_inner(
        &self,
        result: Result<Value, Failure>,
        at: &'static Location<'static>,
    ) -> Result<Fired, (AlreadyCalledError, Result<Value, Failure>)> {
        self.fire_locked(self.state.lock(), result, at)
    }

    /// [`fire_inner`](Chain::fire_inner) with the lock already held, for a caller whose check
    /// of the state and fire must be one step.
    fn fire_locked(
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
    fn fire_slow(
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
    fn finish_fire(self: &Arc<Self>, fired: Fired) {
        if let Fired::Run(start) = fired {
            drive(self, start);
        }
    }

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
    fn push_tail<F>(this: Arc<Chain>, step: F) -> Tail
    where
        F: FnOnce(Result<Value, Failure>) -> Outcome + Send + 'static,
    {
        // A plain load first: `get_mut` costs an atomic read-modify-write even when it fails,
        // and a pending chain's resolver usually still holds it.
        if Arc::strong_count(&this) == 1 {
            return Chain::push_unique(this, step);
        }
        let mut st = this.state.lock();
        if !st.slot.is_ready() || !this.settled(&st) {
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
    fn push_unique<F>(mut this: Arc<Chain>, step: F) -> Tail
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
            match call_inline(step, input) {
                Outcome::Value(v) => st.slot.fill(Ok(v)),
                Outcome::Failure(f) => st.slot.fill(Err(f)),
                other => {
                    chain.set_running(true);
                    drive(&this, Start::Outcome(other));
                }
            }
            return Tail::Chain(this);
        }
        // The chain's last handle: it has nothing left but what was just taken out.
        drop(this);
        Tail::ready_then(input, step)
    }

    /// [`push_tail`](Chain::push_tail) while another handle may hold the chain.
    #[inline(never)]
    fn push_shared<F>(this: Arc<Chain>, step: F) -> Tail
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
    fn lend(&self, st: &mut State) -> Result<Value, Failure> {
        let input = st.slot.take_ready();
        if self.is_debug() {
            self.set_running(true);
        } else {
            std::mem::forget(std::mem::replace(&mut st.slot, Slot::Lent));
        }
        input
    }

    /// [`push_tail`](Chain::push_tail) on a chain whose result [`lend`](Chain::lend) took out.
    #[inline(never)]
    fn push_settled<F>(this: Arc<Chain>, input: Result<Value, Failure>, step: F) -> Tail
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
    fn resume_lent(self: &Arc<Self>, outcome: Outcome) {
        let mut st = self.state.lock();
        debug_assert!(matches!(st.slot, Slot::Lent));
        st.slot = Slot::Empty;
        self.set_running(true);
        drop(st);
        drive(self, Start::Outcome(outcome));
    }

    /// Puts back the result its tail had taken out ([`Slot::Lent`]).
    fn restore(&self, result: Result<Value, Failure>) {
        let mut st = self.state.lock();
        debug_assert!(matches!(st.slot, Slot::Lent));
        st.slot = result.into();
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

    /// [`try_take`](Chain::try_take) that registers `waker` to be woken when the result is in.
    pub(crate) fn poll_take(self: &Arc<Self>, waker: &Waker) -> Option<Result<Value, Failure>> {
        let mut st = self.state.lock();
        let mut new: Option<Box<Awaiter>> = None;
        loop {
            if self.settled(&st) {
                let old = st.waiter.take();
                let result = st.slot.take_ready();
                drop(st);
                // A waker's destructor is the executor's code. Every waker the engine drops is
                // contained the same way; here a panic would also lose the result, which is
                // already out of the chain.
                if old.is_some() || new.is_some() {
                    contain::drop_reporting((old, new));
                }
                return Some(result);
            }
            // Only the caller, through its tail, can still settle the chain, by cancelling it.
            // Another executor's waker would never be woken: it is left out. A task of this
            // crate may still be reached through its own Deferred: its waker goes in, and the
            // chain is looked at as a circle with the task.
            let stuck = awaiters::can_only_be_cancelled(self, &st, 1);
            if stuck && !awaiters::is_ours(waker) {
                let old = match st.waiter {
                    Some(Waiter::Task(_)) => st.waiter.take(),
                    _ => None,
                };
                drop(st);
                if old.is_some() || new.is_some() {
                    contain::drop_reporting((old, new));
                }
                return None;
            }
            if let Some(Waiter::Task(w)) = &st.waiter {
                if w.will_wake(waker) {
                    drop(st);
                    if let Some(new) = new {
                        contain::drop_reporting(new);
                    }
                    return None;
                }
            }
            match new.take() {
                Some(new) => {
                    let ours = new.is_ours();
                    let old = st.waiter.replace(Waiter::Task(new));
                    let marks = self.marks();
                    if ours && marks & AWAITED == 0 {
                        // Only a task of this crate can close a circle through its waker.
                        self.marks.fetch_or(AWAITED, Ordering::Relaxed);
                    }
                    drop(st);
                    if let Some(old) = old {
                        contain::drop_reporting(old);
                    }
                    if ours {
                        awaiters::note(self);
                    }
                    if marks & STALLED != 0 {
                        // What a handle of this chain kept reachable may now depend on the task
                        // awaiting it.
                        awaiters::retry_stalled(self, false);
                    }
                    if stuck || marks & LINKED != 0 {
                        // The task may close a circle through this chain.
                        cycles::look_at(self);
                    }
                    return None;
                }
                None => {
                    // Cloning a waker runs the executor's code: not under the lock. The state
                    // is looked at again afterwards.
                    drop(st);
                    new = Some(Awaiter::new(waker));
                    st = self.state.lock();
                }
            }
        }
    }

    /// [`poll_take`](Chain::poll_take) for the tail's owner: when nobody else holds the chain,
    /// nobody can race it, so the lock is skipped.
    #[inline]
    pub(crate) fn poll_owned(
        this: &mut Arc<Chain>,
        waker: &Waker,
    ) -> Option<Result<Value, Failure>> {
        Chain::take_owned(this).or_else(|| this.poll_take(waker))
    }

    /// Takes the final result without the lock when `this` is the chain's only handle and
    /// nothing else is due to run; `None` otherwise (the caller falls back to the locked path).
    #[inline]
    pub(crate) fn take_owned(this: &mut Arc<Chain>) -> Option<Result<Value, Failure>> {
        // A plain load first, as in `push_owned`.
        if Arc::strong_count(this) != 1 {
            return None;
        }
        let c = Arc::get_mut(this)?;
        let idle = !*c.running.get_mut() && *c.paused.get_mut() == 0;
        let st = c.state.get_mut();
        (idle && st.slot.is_ready() && st.steps.is_empty()).then(|| st.slot.take_ready())
    }

    /// Forgets a waker registered by [`poll_take`](Chain::poll_take).
    pub(crate) fn clear_task(&self) {
        let mut st = self.state.lock();
        let old = match st.waiter {
            Some(Waiter::Task(_)) => st.waiter.take(),
            _ => None,
        };
        drop(st);
        // The executor's code, on the way to a cancel (a dropped `DeferredFuture`) that a panic
        // here must not skip.
        if let Some(old) = old {
            contain::drop_reporting(old);
        }
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

    /// Runs `f` on a snapshot of the state, taken under the lock; `f` runs after it is released.
    pub(crate) fn peek<R>(&self, f: impl FnOnce(Peek, Option<String>) -> R) -> R {
        let debug = self.describe();
        let st = self.state.lock();
        let peek = match &st.slot {
            Slot::Pending(_) => Peek::Pending,
            Slot::Ok(v) => Peek::Ok(v.describe()),
            Slot::Err(e) => Peek::Err(e.clone()),
            Slot::Waiting(_) => Peek::Waiting,
            Slot::Empty if self.is_running() => Peek::Running,
            Slot::Empty | Slot::Lent => Peek::Consumed,
        };
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

impl Drop for Chain {
    fn drop(&mut self) {
        let marks = self.marks();
        let st = self.state.get_mut();
        let trivial = match &st.slot {
            Slot::Empty | Slot::Lent => true,
            Slot::Ok(v) => v.is_inline(),
            _ => false,
        } && matches!(st.steps, Steps::Empty)
            && st.waiter.is_none();
        if trivial && marks == 0 {
            // Nothing here can own another chain or be reported, and no table lists it.
            return;
        }
        self.drop_slow(marks, trivial);
    }
}

impl Chain {
    #[cold]
    fn drop_slow(&mut self, marks: u8, trivial: bool) {
        let debug = if marks & DEBUG != 0 { debug::forget(self.addr()) } else { None };
        if marks & STALLED != 0 {
            awaiters::forget(self.addr());
        }
        let st = self.state.get_mut();
        if let Slot::Err(failure) = &st.slot {
            unhandled::report(UnhandledFailure::new(failure.clone(), debug));
        }
        if trivial {
            // Nothing here can own another chain: no need for the iterative drop.
            return;
        }
        let garbage = Garbage {
            _slot: std::mem::replace(&mut st.slot, Slot::Empty),
            _steps: std::mem::replace(&mut st.steps, Steps::Empty),
            _waiter: st.waiter.take(),
        };
        cycles::deferring(|| {
            if let Some(Waiter::Chain(outer)) = &garbage._waiter {
                // The chain that waited on this one loses its way to a result.
                dropping(outer);
            }
            // And the chains its `chain_deferred` links would have fired lose a firer.
            for target in garbage._steps.fire_targets() {
                dropping(target);
            }
            dispose(garbage);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> &'static Location<'static> {
        Location::caller()
    }

    #[test]
    fn cancel_tells_its_cancellers_answer_from_a_fire_that_raced_it() {
        // The canceller fires the chain itself: its answer is the cancellation's outcome.
        let chain = Chain::pending(
            Some(Box::new(|chain: &Arc<Chain>| {
                chain.fire(Ok(Value::new(9u8)), at()).unwrap();
                Cancelled::Fail
            })),
            at(),
        );
        assert!(chain.cancel(at()));
        assert_eq!(chain.try_take().unwrap().unwrap().take::<u8>(), 9);

        // Another thread fires it while the canceller runs: that fire wins, and the cancel
        // decided nothing.
        let chain = Chain::pending(
            Some(Box::new(|chain: &Arc<Chain>| {
                let other = chain.clone();
                std::thread::spawn(move || other.fire(Ok(Value::new(7u8)), at()).unwrap())
                    .join()
                    .unwrap();
                Cancelled::Fail
            })),
            at(),
        );
        assert!(!chain.cancel(at()));
        assert_eq!(chain.try_take().unwrap().unwrap().take::<u8>(), 7);

        // Without a canceller it fails at once; a fired chain is left alone.
        let chain = Chain::pending(None, at());
        assert!(chain.cancel(at()));
        assert!(chain.try_take().unwrap().is_err());
        assert!(!chain.cancel(at()));
    }

    #[test]
    fn layout_is_small() {
        // The whole shared allocation of a pending chain: two reference counts and the chain.
        let bytes = 2 * std::mem::size_of::<usize>() + std::mem::size_of::<Chain>();
        assert!(bytes <= 96, "a chain takes {bytes} bytes");
    }
}
