//! Wakers left in chains that can never wake them, and the tasks they keep.
//!
//! An awaited chain holds the awaiting task's waker, and an `ensure_deferred` or `from_future`
//! task is kept alive by the wakers it gave out, while its future holds the awaited chain's
//! tail: the two keep each other alive. While the chain can still fire, or something outside
//! can still cancel the task's own Deferred (which the future takes at its `.await`, and may
//! recover from, as a Twisted coroutine does), that is right. Once neither is possible, the
//! pair is a circle that only the engine's links hold, and `cycles` frees it like the others:
//! its walk links a chain to the task awaiting it (the waker) and back (the task's future holds
//! the `DeferredFuture`), and the task to its own Deferred.
//!
//! Another executor's task is opaque, and its future may still drop its await (which cancels
//! the chain): the chain is left alone, but a poll does not leave its waker in a chain that can
//! never wake it (it is pending and only the awaiting future holds it, or it waits on a chain
//! that was freed unfired; see `Chain::poll_take`).
//!
//! A walk that finds its chain held from outside lists it under each chain that holds it so
//! ([`STALLED`], [`STALLED_ON`]); when a handle of one of those goes, or a task comes to await
//! it, the listed chains are looked at again ([`retry_stalled`]). A task's first poll has no
//! Deferred yet to list them under: they wait in the poll's scope until the task makes it
//! ([`kept_for`]).
//!
//! Part of the engine: it knows nothing of the typed Deferred, the combinators, the primitives,
//! the async bridge or the reactor.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::Waker;

use parking_lot::Mutex;

use super::cycles::ByAddress;
use super::{AWAITED, Chain, LINKED, STALLED, Slot, State, Waiter, cycles};
use crate::failure::Failure;
use crate::foundation::contain;
use crate::foundation::value::Value;

/// A task of this crate, as a chain's awaiter sees it.
pub(crate) trait Awaiting: Send + Sync {
    /// The task's own Deferred, once it has one and until it fires it.
    fn deferred(&self) -> Option<Arc<Chain>>;

    /// The chains the task's waker was left in (some may have let go of it since).
    fn awaited(&self) -> Vec<Arc<Chain>>;
}

/// What waits for a chain's result in its waiter slot: a waker, and, when the waker is that
/// of a task of this crate polled on this thread when it was left, the task.
pub(crate) struct Awaiter {
    waker: Waker,
    task: Option<Weak<dyn Awaiting>>,
}

impl Awaiter {
    pub(super) fn new(waker: &Waker) -> Box<Awaiter> {
        Box::new(Awaiter { waker: waker.clone(), task: task_of(waker) })
    }

    /// Whether the waker is that of a task of this crate.
    #[inline]
    pub(super) fn is_ours(&self) -> bool {
        self.task.is_some()
    }

    /// The task this waker polls, if it is one of this crate's and still there.
    pub(super) fn task(&self) -> Option<Arc<dyn Awaiting>> {
        self.task.as_ref()?.upgrade()
    }

    #[inline]
    pub(super) fn will_wake(&self, waker: &Waker) -> bool {
        self.waker.will_wake(waker)
    }

    /// Wakes the waker (the box goes: the engine's `Start::Wake` holds the awaiter boxed).
    #[inline]
    pub(super) fn wake(self) {
        let Awaiter { waker, task } = self;
        drop(task);
        waker.wake();
    }
}

/// The task being polled on this thread, and the stuck chains its poll kept its waker in
/// before the task had a Deferred to watch.
struct Polling {
    task: Weak<dyn Awaiting>,
    scope: PollScope,
}

/// What a poll of a task recorded, for the task to keep once it has its lock back.
#[derive(Default)]
pub(crate) struct PollScope {
    /// Stuck chains that kept the task's waker only because the task had no Deferred yet: see
    /// [`kept_for`].
    pub(crate) kept: Vec<Weak<Chain>>,
    /// Chains the poll left the task's waker in: the task lists them for the walk.
    pub(crate) awaited: Vec<Weak<Chain>>,
}

thread_local! {
    static POLLING: RefCell<Option<Polling>> = const { RefCell::new(None) };
}

/// Chains to look at again when a handle of the chain at this address goes, by their own
/// address.
static STALLED_ON: Mutex<Option<HashMap<usize, Stalled, ByAddress>>> = Mutex::new(None);

/// The chains listed under one chain, by address (each once).
type Stalled = HashMap<usize, Weak<Chain>, ByAddress>;

/// Runs `poll` as a poll of `task` on this thread. Returns what it returned, and what the poll
/// recorded (see [`PollScope`]).
pub(crate) fn polling<R>(task: &Weak<dyn Awaiting>, poll: impl FnOnce() -> R) -> (R, PollScope) {
    let mine = Polling { task: task.clone(), scope: PollScope::default() };
    let outer = POLLING.try_with(|p| p.replace(Some(mine))).ok().flatten();
    /// Puts the enclosing task's scope back (nested tasks poll inside polls).
    struct Restore(Option<Option<Polling>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(outer) = self.0.take() {
                let _ = POLLING.try_with(|p| *p.borrow_mut() = outer);
            }
        }
    }
    let mut restore = Restore(Some(outer));
    let result = poll();
    let outer = restore.0.take().expect("restored once");
    let mine = POLLING.try_with(|p| p.replace(outer)).ok().flatten();
    (result, mine.map(|m| m.scope).unwrap_or_default())
}

/// The task polled on this thread, if `waker` is its own.
fn task_of(waker: &Waker) -> Option<Weak<dyn Awaiting>> {
    POLLING
        .try_with(|p| {
            let p = p.borrow();
            let polling = p.as_ref()?;
            (Weak::as_ptr(&polling.task) as *const () == waker.data()).then(|| polling.task.clone())
        })
        .ok()
        .flatten()
}

/// A task made its Deferred after its first poll kept wakers in the stuck chains `kept`:
/// they are looked at again when a handle of that Deferred goes.
pub(crate) fn kept_for(deferred: &Arc<Chain>, kept: Vec<Weak<Chain>>) {
    if !kept.is_empty() {
        stall(deferred, kept);
    }
}

/// Whether `task` is being polled on this thread.
pub(super) fn polled_here(task: &Arc<dyn Awaiting>) -> bool {
    POLLING
        .try_with(|p| {
            p.borrow().as_ref().is_some_and(|p| {
                Weak::as_ptr(&p.task) as *const () == Arc::as_ptr(task) as *const ()
            })
        })
        .unwrap_or(false)
}

/// Lists `chain` to be looked at again when a handle of the Deferred the task being polled on
/// this thread is about to make goes.
pub(super) fn kept_in_poll(chain: &Arc<Chain>) {
    let _ = POLLING.try_with(|p| {
        if let Some(polling) = p.borrow_mut().as_mut() {
            polling.scope.kept.push(Arc::downgrade(chain));
        }
    });
}

/// Lists the chains `stuck` to be looked at again when a handle of `on` goes.
pub(super) fn stall(on: &Arc<Chain>, stuck: Vec<Weak<Chain>>) {
    let mut map = STALLED_ON.lock();
    let listed = map.get_or_insert_with(HashMap::default).entry(on.addr()).or_default();
    // Each once: a chain looked at often must not make the list grow.
    listed.extend(stuck.into_iter().map(|c| (c.as_ptr() as usize, c)));
    drop(map);
    on.marks.fetch_or(STALLED, Ordering::Relaxed);
}

/// Looks again at the stuck chains that keep wakers because of `chain`: a handle of it is
/// about to go (`going`), or a task now awaits it, and what keeps it reachable is that task's.
pub(super) fn retry_stalled(chain: &Arc<Chain>, going: bool) {
    let stuck = STALLED_ON.lock().as_mut().and_then(|map| map.remove(&chain.addr()));
    for stuck in stuck.into_iter().flatten().filter_map(|(_, c)| c.upgrade()) {
        // The upgrade is the caller's reference `recheck` counts out.
        cycles::recheck(&stuck, going.then_some(chain));
    }
}

/// Forgets what a chain being dropped kept stalled; its stuck chains are left to their own
/// handles.
pub(super) fn forget(chain: usize) {
    let gone = STALLED_ON.lock().as_mut().and_then(|map| map.remove(&chain));
    drop(gone);
}

/// Whether only whoever holds `holds` of the chain's references (the tail of an awaiting
/// future) can still settle it, and only by cancelling it: it is pending and nothing else
/// holds it (no resolver, no link, no task or combinator that would fire it), or it waits on a
/// chain that was freed unfired.
fn can_only_be_cancelled(chain: &Arc<Chain>, st: &State, holds: usize) -> bool {
    match &st.slot {
        Slot::Pending(_) => Arc::strong_count(chain) <= holds,
        _ => waits_on_nothing(st),
    }
}

/// Whether `waker` belongs to a task of this crate being polled on this thread.
fn is_ours(waker: &Waker) -> bool {
    task_of(waker).is_some()
}

/// Whether the chain waits on a chain that was freed unfired.
pub(super) fn waits_on_nothing(st: &State) -> bool {
    matches!(&st.slot, Slot::Waiting(inner) if inner.strong_count() == 0)
}

/// Whether `chain` (one reference to it the caller's) may be on a circle with the task of this
/// crate that awaits it: that task's future holds its tail, and nothing else that could fire
/// it holds it, unless it waits on a chain freed unfired.
pub(super) fn on_circle_with_task(chain: &Arc<Chain>) -> bool {
    let st = chain.state.lock();
    matches!(&st.waiter, Some(Waiter::Task(awaiter)) if awaiter.task.is_some())
        && (Arc::strong_count(chain) <= 2 || waits_on_nothing(&st))
}

/// Records that the waker of the task polled on this thread was just left in `chain`.
fn note(chain: &Arc<Chain>) {
    let _ = POLLING.try_with(|p| {
        if let Some(polling) = p.borrow_mut().as_mut() {
            polling.scope.awaited.push(Arc::downgrade(chain));
        }
    });
}

impl Chain {
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
            let stuck = can_only_be_cancelled(self, &st, 1);
            if stuck && !is_ours(waker) {
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
                        note(self);
                    }
                    if marks & STALLED != 0 {
                        // What a handle of this chain kept reachable may now depend on the task
                        // awaiting it.
                        retry_stalled(self, false);
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
        // A plain load first, as in `push_tail`.
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
}
