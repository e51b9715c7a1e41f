//! The trampoline: runs a chain's steps and hands results on, in a loop that never recurses.
//!
//! The common case, a batch of steps each returning a value or a failure, is one loop over the
//! batch inside one `catch_unwind`, then one lock to store the result (or to take the steps
//! added meanwhile). Everything else a step can do (wait on another chain, fire one) leaves
//! that loop for [`Trampoline::wait`] or [`Trampoline::fire`], and handing a result to the
//! chain that waits on it is [`Trampoline::deliver`], one lock per chain.
//!
//! Part of the engine: it knows nothing of the typed Deferred, the combinators, the primitives,
//! the async bridge or the reactor.
//!
//! The file is a little over 500 lines on purpose: it is one concern, the loop and the few
//! cases it dispatches to (run a batch, wait, fire, deliver, join), which read best together.

use std::any::Any;
use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::sync::Arc;

use super::awaiters::Awaiter;
use super::cycles::{dropping, mark_linked};
use super::join::Join;
use super::steps::Batch;
use super::{AWAITED, Chain, Claim, FireOrder, Fired, LINKED, Outcome, STALLED, Slot, Waiter};
use crate::error::CircularChainError;
use crate::failure::Failure;
use crate::foundation::contain;
use crate::foundation::trace;
use crate::foundation::value::Value;

type Res = Result<Value, Failure>;

/// What the new owner of a chain's run does first.
pub(super) enum Start {
    /// Run these steps, starting with this input.
    Steps(Batch, Res),
    /// Go on from what a step that was called at once returned (a Deferred to wait on, a
    /// chain to fire).
    Outcome(Outcome),
    /// Hand the result to the chain waiting on this one.
    Deliver(Arc<Chain>, Res),
    /// Wake the task awaiting the chain.
    Wake(Box<Awaiter>),
    /// Give the result to the combinator the chain is an input of, at this index.
    Join(Arc<Join>, u32, Res),
}

/// Runs a step that was never boxed, turning a panic into a failure.
#[inline]
pub(super) fn call_inline<F>(step: F, input: Res) -> Outcome
where
    F: FnOnce(Res) -> Outcome,
{
    match catch_unwind(AssertUnwindSafe(move || step(input))) {
        Ok(outcome) => outcome,
        Err(payload) => Outcome::Failure(Failure::from_panic(payload)),
    }
}

/// What a step returned that is not a value or a failure.
enum Rare {
    Wait(Arc<Chain>),
    Fire(Box<FireOrder>),
}

/// Runs the steps of `batch` from `input` on, until the batch ends, the chain is paused, or a
/// step returns something other than a value or a failure; the result of the last step run, or
/// what it returned.
///
/// One `catch_unwind` for the whole batch: a panicking step becomes a failure, which the next
/// step gets, exactly as if each step had a boundary of its own. The batch is the caller's,
/// so the steps after the one that panicked are still there.
#[inline]
fn run_steps(chain: &Chain, batch: &mut Batch, input: Res) -> Result<Res, Rare> {
    let mut input = input;
    loop {
        match catch_unwind(AssertUnwindSafe(|| steps_until(chain, batch, input))) {
            Ok(end) => return end,
            Err(payload) => {
                let failure = Failure::from_panic(payload);
                if batch.is_empty() || chain.is_paused() {
                    return Ok(Err(failure));
                }
                input = Err(failure);
            }
        }
    }
}

#[inline(always)]
fn steps_until(chain: &Chain, batch: &mut Batch, input: Res) -> Result<Res, Rare> {
    let mut input = input;
    while let Some(step) = batch.next() {
        input = match step.run(input) {
            Outcome::Value(v) => Ok(v),
            Outcome::Failure(f) => Err(f),
            Outcome::Wait(inner) => return Err(Rare::Wait(inner)),
            Outcome::Fire(order) => return Err(Rare::Fire(order)),
        };
        // A step may pause its own chain: the next one waits.
        if chain.is_paused() {
            break;
        }
    }
    Ok(input)
}

/// The chain a trampoline is on: borrowed from its caller at first, which saves a reference
/// count round trip on every fire, owned once the run moves to another chain.
enum Cur<'a> {
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
    fn into_owned(self) -> Arc<Chain> {
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
pub(super) fn release(chain: Arc<Chain>) {
    dropping(&chain);
    contain::drop_reporting(chain);
}

/// The state of one trampoline: the chain whose run it owns, and the chains whose runs resume
/// once that one's ends.
struct Trampoline<'a> {
    cur: Cur<'a>,
    /// Chains that fired another chain (`chain_deferred`, a combinator's member) and resume
    /// once its run ends. Each is still owned by this trampoline.
    parents: Vec<Arc<Chain>>,
    /// A panic from a foreign waker: passed on once every chain this call owns has been run,
    /// so that none is left owned by nobody (and never run again).
    panic: Option<Box<dyn Any + Send>>,
}

/// The trampoline. `first` is owned by this call (`running` set) on entry, unless `start`
/// only hands its result on.
pub(super) fn drive(first: &Arc<Chain>, start: Start) {
    let mut t = Trampoline { cur: Cur::Borrowed(first), parents: Vec::new(), panic: None };
    let next = t.start(start);
    t.go_on(next);
}

/// [`drive`] from `Start::Steps(batch, input)`: what a fire usually does.
pub(super) fn run_batch(first: &Arc<Chain>, batch: Batch, input: Res) {
    let mut t = Trampoline { cur: Cur::Borrowed(first), parents: Vec::new(), panic: None };
    let next = t.run(batch, input);
    if next.is_some() || !t.parents.is_empty() || matches!(t.cur, Cur::Owned(_)) {
        t.go_on(next);
    }
}

impl<'a> Trampoline<'a> {
    fn start(&mut self, start: Start) -> Option<Start> {
        match start {
            Start::Steps(batch, input) => self.run(batch, input),
            Start::Outcome(Outcome::Value(v)) => self.run(Batch::none(), Ok(v)),
            Start::Outcome(Outcome::Failure(f)) => self.run(Batch::none(), Err(f)),
            Start::Outcome(Outcome::Wait(inner)) => self.wait(inner, Batch::none()),
            Start::Outcome(Outcome::Fire(order)) => self.fire_then(*order, Batch::none()),
            Start::Deliver(outer, result) => self.deliver(outer, result),
            Start::Wake(waker) => {
                self.wake(waker);
                None
            }
            Start::Join(join, index, result) => self.join(join, index, result),
        }
    }

    /// Goes on from `next` until every run this trampoline owns has ended.
    fn go_on(mut self, next: Option<Start>) {
        let mut next = next;
        loop {
            let start = match next {
                Some(start) => start,
                None => match self.resume() {
                    Some(start) => start,
                    None => break,
                },
            };
            next = self.start(start);
        }
        let Trampoline { cur, panic, .. } = self;
        if let Cur::Owned(chain) = cur {
            release(chain);
        }
        if let Some(payload) = panic {
            resume_unwind(payload);
        }
    }

    /// Runs the current chain from `result`, the last step's (or the first step's input), with
    /// `batch` still to run, until its run ends or moves to another chain.
    fn run(&mut self, batch: Batch, result: Res) -> Option<Start> {
        let mut batch = batch;
        let mut result = result;
        loop {
            if !batch.is_empty() && !self.cur.is_paused() {
                result = match run_steps(&self.cur, &mut batch, result) {
                    Ok(result) => result,
                    Err(Rare::Wait(inner)) => return self.wait(inner, batch),
                    Err(Rare::Fire(order)) => match self.fire(*order, &mut batch) {
                        Ok(result) => result,
                        Err(start) => return start,
                    },
                };
                if !batch.is_empty() && !self.cur.is_paused() {
                    // Go on with the rest of the batch (after a fire).
                    continue;
                }
            }
            let mut st = self.cur.state.lock();
            if !batch.is_empty() {
                // Paused from a step: the rest waits, in front of what was added meanwhile.
                st.steps.put_back(std::mem::replace(&mut batch, Batch::none()));
            }
            match self.cur.finish(&mut st, result) {
                Some(Start::Steps(more, input)) => {
                    drop(st);
                    batch = more;
                    result = input;
                }
                other => {
                    drop(st);
                    return other;
                }
            }
        }
    }

    /// [`fire`](Trampoline::fire) from the start of a run.
    fn fire_then(&mut self, order: FireOrder, batch: Batch) -> Option<Start> {
        let mut batch = batch;
        match self.fire(order, &mut batch) {
            Ok(result) => self.run(batch, result),
            Err(start) => start,
        }
    }

    /// Hands `result` to `outer`, the chain that waited on the current one, and moves the run
    /// there; and on to the chain waiting on that one, as long as a chain has no steps left.
    fn deliver(&mut self, outer: Arc<Chain>, result: Res) -> Option<Start> {
        let mut outer = outer;
        let mut result = result;
        loop {
            trace::resumed(outer.addr(), self.cur.addr(), &result);
            let mut st = outer.state.lock();
            // Its `Waiting` link goes.
            st.slot = Slot::Empty;
            match outer.give(&mut st, result) {
                Claim::Busy => {
                    // Paused, or run by another thread: this may have been its last handle (a
                    // paused chain nobody else holds).
                    drop(st);
                    release(outer);
                    return None;
                }
                Claim::Took(start) => {
                    drop(st);
                    self.move_to(outer);
                    match start {
                        Some(Start::Deliver(next, r)) => {
                            outer = next;
                            result = r;
                        }
                        other => return other,
                    }
                }
            }
        }
    }

    /// The current chain's steps are done, and its result goes to the combinator it is an
    /// input of. What the join answers is what the chain ends with: usually nothing (its result
    /// was handed on), a failure the combinator does not consume (left on the chain, to be
    /// reported with it), or the combinator's own chain to fire, which the run moves to.
    fn join(&mut self, join: Arc<Join>, index: u32, result: Res) -> Option<Start> {
        // The join's lock and slots are the crate's, but the values it lets go of (the results
        // it no longer needs, the join itself if this was its last handle) are the user's: as
        // in a step, a panic there is this input's failure.
        let outcome = catch_unwind(AssertUnwindSafe(move || join.record(index as usize, result)))
            .unwrap_or_else(|payload| Outcome::Failure(Failure::from_panic(payload)));
        match outcome {
            Outcome::Value(_) => None,
            Outcome::Failure(kept) => {
                self.cur.state.lock().slot.fill(Err(kept));
                None
            }
            Outcome::Fire(order) => {
                let FireOrder { target, result, then } = *order;
                if let Some(kept) = then {
                    self.cur.state.lock().slot.fill(Err(kept));
                }
                match target.fire_inner(result, Location::caller()) {
                    Ok(Fired::Run(start)) => {
                        self.move_to(target);
                        Some(start)
                    }
                    Ok(_) => {
                        release(target);
                        None
                    }
                    Err((err, rejected)) => {
                        contain::drop_reporting(rejected);
                        release(target);
                        self.cur.state.lock().slot.fill(Err(Failure::new(err)));
                        None
                    }
                }
            }
            Outcome::Wait(_) => unreachable!("a join does not wait"),
        }
    }

    /// Makes `chain` the current one. The chain let go of here has handed its result on and
    /// has no steps left: nothing of the user's goes with it, so no boundary is needed on this
    /// path, which every level of a tower takes, unless the engine's own links may hold it
    /// (`dropping` may then free a circle).
    #[inline]
    fn move_to(&mut self, chain: Arc<Chain>) {
        match std::mem::replace(&mut self.cur, Cur::Owned(chain)) {
            Cur::Owned(done) if done.marks() & (LINKED | AWAITED | STALLED) != 0 => release(done),
            done => drop(done),
        }
    }

    fn wake(&mut self, waker: Box<Awaiter>) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(move || (*waker).wake())) {
            contain::keep_first(&mut self.panic, payload);
        }
    }

    /// The current chain's run has ended: resumes the chain that fired it, if any.
    fn resume(&mut self) -> Option<Start> {
        loop {
            let parent = self.parents.pop()?;
            if let Cur::Owned(done) = std::mem::replace(&mut self.cur, Cur::Owned(parent)) {
                release(done);
            }
            let mut st = self.cur.state.lock();
            // What the parent goes on with was stored when it fired the other chain.
            let result = st.slot.take_ready();
            let next = self.cur.finish(&mut st, result);
            drop(st);
            if next.is_some() {
                return next;
            }
        }
    }

    /// A step returned a Deferred that has a chain: the current chain waits on it, or takes
    /// its result at once if it has one. `batch` is the rest of the current batch.
    #[cold]
    fn wait(&mut self, inner: Arc<Chain>, batch: Batch) -> Option<Start> {
        let outer = &*self.cur;
        if Arc::ptr_eq(&inner, outer) {
            // A step returned its own Deferred's tail (reachable through a shared slot):
            // waiting on itself would hang, and leak the chain through its own waiter. Twisted
            // warns about it and means to make it an error.
            drop(inner);
            return Some(Start::Steps(batch, Err(Failure::new(CircularChainError))));
        }
        // The outer chain's side of the wait first: a circle of waits closed by two attaches
        // at once is then seen by whichever registers its waiter last (see `closes_cycle`).
        // The run is released: nobody can claim a chain that waits, and the inner chain
        // claims it when it delivers.
        let mut st = outer.state.lock();
        if !batch.is_empty() {
            st.steps.put_back(batch);
        }
        st.slot.put(Slot::Waiting(Arc::downgrade(&inner)));
        outer.set_running(false);
        drop(st);

        let mut ist = inner.state.lock();
        if inner.settled(&ist) {
            // It had its result already: taken over now (Twisted's "steal"), and handed to the
            // outer chain, which nobody else could claim meanwhile. The inner chain let go of
            // here has given up its result and has no steps: nothing of the user's goes with
            // it.
            let result = ist.slot.take_ready();
            drop(ist);
            drop(inner);
            return self.reclaim(result);
        }
        ist.waiter = Some(Waiter::Chain(outer.clone()));
        // Only an inner chain that waits itself can lead back to the outer one.
        let waits = matches!(ist.slot, Slot::Waiting(_));
        // Read under the lock that set the waiter: a `chain_deferred` marking `inner`
        // meanwhile sees the waiter, or this sees the mark.
        let linked = inner.marks() & LINKED != 0;
        drop(ist);
        trace::waiting(outer.addr(), inner.addr());
        if linked {
            mark_linked(outer);
        }
        let circular = waits && closes_cycle(&inner, outer) && detach(&inner, outer);
        // The tail the step returned goes now; it may be the inner chain's last handle.
        release(inner);
        if circular {
            return self.reclaim(Err(Failure::new(CircularChainError)));
        }
        None
    }

    /// Gives the current chain, which waits and whose run nobody holds, the result of what it
    /// waited on, and takes its run back. What comes next goes back to [`drive`]'s loop, not
    /// into a nested [`run`](Trampoline::run): a chain whose steps each take over a fired
    /// Deferred would otherwise recurse once per step.
    fn reclaim(&mut self, result: Res) -> Option<Start> {
        let mut st = self.cur.state.lock();
        st.slot = Slot::Empty;
        let claim = self.cur.give(&mut st, result);
        drop(st);
        match claim {
            Claim::Took(next) => next,
            Claim::Busy => None,
        }
    }

    /// A step fired another chain (`chain_deferred`, a combinator's member). If this thread
    /// now owns the target's run, the current chain is parked with the rest of `batch` and the
    /// run moves to the target (`Err` with what it does first); otherwise the current chain
    /// goes on at once (`Ok`).
    #[cold]
    fn fire(&mut self, order: FireOrder, batch: &mut Batch) -> Result<Res, Option<Start>> {
        let FireOrder { target, result, then } = order;
        let then = match then {
            None => Ok(Value::UNIT),
            Some(failure) => Err(failure),
        };
        match target.fire_inner(result, Location::caller()) {
            Ok(Fired::Run(start)) => {
                let mut st = self.cur.state.lock();
                st.steps.put_back(std::mem::replace(batch, Batch::none()));
                st.slot.fill(then);
                drop(st);
                let parent = std::mem::replace(&mut self.cur, Cur::Owned(target)).into_owned();
                self.parents.push(parent);
                Err(Some(start))
            }
            Ok(_) => {
                release(target);
                Ok(then)
            }
            Err((err, rejected)) => {
                contain::drop_reporting(rejected);
                release(target);
                Ok(Err(Failure::new(err)))
            }
        }
    }
}

/// Whether `outer` now waiting on `inner` closes a cycle: whether `inner` waits, through the
/// `Waiting` links, on `outer`. Both links of the new wait are in place when this is called.
///
/// The path down from `inner` and the path up from `outer` (its waiter, that one's waiter...)
/// are the same path if there is a cycle, so the walk follows both in lock-step and stops as
/// soon as either ends: 2 x min(down, up) lock acquisitions, which keeps building a tower
/// linear whichever end it grows from (bottom-up, the path up from each new outer is empty;
/// top-down, the path down from each new inner is).
///
/// One lock at a time, never two. Other threads may change the links meanwhile; what keeps
/// the answer sound:
///
/// - A cycle, once closed, stays closed: no chain on it can deliver its result, since each
///   waits on the next. Links found one by one therefore form a real cycle, unless another
///   thread's walk found the same cycle and broke it, which `detach` allows for.
/// - Every wait writes its link down (the outer chain's `Waiting`) before its link up (the
///   inner chain's waiter), and looks whether the inner chain waits under the lock that
///   writes the link up. Of the waits that close a cycle, the one whose link up is written
///   last therefore finds its inner chain waiting and walks, and sees every link of the
///   cycle, both ways. A wait whose inner chain does not wait (the usual case) cannot be
///   that one, and skips the walk.
fn closes_cycle(inner: &Arc<Chain>, outer: &Arc<Chain>) -> bool {
    let up = match &outer.state.lock().waiter {
        Some(Waiter::Chain(up)) => up.clone(),
        // Nothing waits on the outer chain: the wait that closes a cycle through it is still
        // to come.
        _ => return false,
    };
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
