//! Freeing what only the engine's own links hold.
//!
//! Reference counts free a chain when its last handle goes, but two of the engine's links are
//! strong and can close a circle:
//!
//! - a `chain_deferred` step holds the chain it fires, which is how a chain nobody else holds
//!   still runs its steps when the source fires it;
//! - a chain that another waits on holds that outer chain as its waiter.
//!
//! `a.chain_deferred(&fire_b)` with `b.chain_deferred(&fire_a)`, or a chain waiting on an inner
//! chain it also `chain_deferred`s into, is such a circle. While someone outside can still fire
//! or cancel a chain on it, it runs as in Twisted. Once nobody can, Twisted's garbage collector
//! frees it without running anything; here [`dropping`] does the same, deterministically, when
//! the last handle from outside goes.
//!
//! # Finding a circle
//!
//! A `chain_deferred` step is a [`FireOrder`], whose target the engine can see in the step queue
//! (other steps are opaque closures). Both ends of a link, and every chain that waits on one of
//! them (directly or through others), are marked [`LINKED`]: only those can be on such a circle, so only their
//! handles pay for the check, and chains that never meet `chain_deferred` pay nothing. Chains
//! a task awaits are marked [`AWAITED`] and take part the same way once nothing but the task
//! holds them (see `awaiters`).
//!
//! When a handle of a marked chain goes and the chain outlives it, [`sweep`] walks the links
//! out of it: waiters, the targets of queued links, the task awaiting a chain and back (the task's future
//! holds the chain's tail), a task to its own Deferred. It compares each chain's (or task's)
//! reference count with the links it found pointing at it: one with more references than links
//! is held from outside, and so is everything it links to or can cancel (a chain waiting on
//! another can cancel it; a task's Deferred, the task). If the chain the handle belonged to is
//! not held, nothing outside can reach it: the walk takes the steps, waiters and cancellers out
//! of every chain that is not held (the circle breaks), marks them [`COLLECTED`], and drops
//! what it took, which frees them, and the tasks only they held. Everything a step holds is
//! dropped; no step runs, as with Twisted's collector.
//!
//! Only one walk runs at a time (two at once would each count the other's references as
//! outside ones); a walk takes the locks of the chains it frees together, which no other code
//! does, so there is no lock order to get wrong. A walk that meets a running chain, or finds
//! its chain held, lists its chain under the chain that stopped it ([`STALLED`]): when a
//! handle of that one goes (whoever runs a chain lets go of it afterwards), the walk is made
//! again.
//!
//! Part of the engine: it knows nothing of the typed Deferred, the combinators, the primitives,
//! the async bridge or the reactor.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::LocalKey;

use parking_lot::Mutex;

use super::awaiters;
use super::dispose::{Garbage, dispose};
use super::sweep::{Nodes, sweep};
use super::{AWAITED, Chain, FireOrder, LINKED, Outcome, RunStep, STALLED, Slot, Waiter};
use crate::failure::Failure;
use crate::foundation::unhandled::{self, UnhandledFailure};
use crate::foundation::value::Value;

/// Hashes the keys of the walk's side tables, addresses, which are unique already: a
/// multiplication spreads them over the table's buckets (SipHash would cost more than the rest
/// of a lookup).
#[derive(Clone, Copy, Default)]
pub(super) struct ByAddress;

impl std::hash::BuildHasher for ByAddress {
    type Hasher = AddressHasher;
    fn build_hasher(&self) -> AddressHasher {
        AddressHasher(0)
    }
}

#[derive(Default)]
pub(super) struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// One walk at a time, see the module docs.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

thread_local! {
    /// `Some` while this thread drops what a chain owned: see [`deferring`].
    static DEFERRED: RefCell<Option<Vec<Arc<Chain>>>> = const { RefCell::new(None) };
    /// `Some` while this thread walks: chains whose handles go meanwhile (freeing a circle drops
    /// steps, which drop handles) wait here for their own walk.
    static WALKING: RefCell<Option<Vec<Arc<Chain>>>> = const { RefCell::new(None) };
}

/// Ends a loop over one of the queues above when dropped, also if a destructor unwinds: the
/// queue goes back to `None`, and the chains still on it are let go of.
struct Reset(&'static LocalKey<RefCell<Option<Vec<Arc<Chain>>>>>);

impl Drop for Reset {
    fn drop(&mut self) {
        let rest = self.0.try_with(|q| q.borrow_mut().take()).ok().flatten();
        drop(rest);
    }
}

/// A `chain_deferred` step: fires its target with the result that reaches it. The engine can
/// see the target, which is how a walk follows these links. The step is the order it hands
/// to the trampoline, so running it allocates nothing.
impl RunStep for FireOrder {
    fn run(mut self: Box<Self>, input: Result<Value, Failure>) -> Outcome {
        self.result = input;
        Outcome::Fire(self)
    }

    fn fires(&self) -> Option<&Arc<Chain>> {
        Some(&self.target)
    }
}

impl FireOrder {
    /// The step of a `chain_deferred` link to `target`.
    pub(super) fn link(target: Arc<Chain>) -> Box<FireOrder> {
        Box::new(FireOrder { target, result: Ok(Value::UNIT), then: None })
    }
}

/// Marks `chain`, and every chain waiting on it, directly or through others, [`LINKED`].
pub(super) fn mark_linked(chain: &Arc<Chain>) {
    if chain.marks() & LINKED != 0 {
        return;
    }
    let mut next = Some(chain.clone());
    while let Some(current) = next.take() {
        // Under the lock: an outer chain that starts waiting reads the mark under the same
        // lock after it set itself as the waiter, so one of the two marks it.
        let st = current.state.lock();
        if current.marks.fetch_or(LINKED, Ordering::Relaxed) & LINKED == 0 {
            if let Some(Waiter::Chain(outer)) = &st.waiter {
                next = Some(outer.clone());
            }
        }
        drop(st);
    }
}

/// A handle to `chain` from outside the engine's links (a resolver, a tail, a link being
/// dropped, a chain delivering nothing, a task) is about to go. Frees what only the engine's
/// links then hold, and lets go of wakers nothing can wake; see the module docs here and in
/// `awaiters`.
#[inline]
pub(crate) fn dropping(chain: &Arc<Chain>) {
    if chain.marks() & (LINKED | AWAITED | STALLED) != 0 {
        dropping_marked(chain);
    }
}

/// [`dropping`], then drops it: for references the engine itself lets go of.
#[inline]
pub(super) fn release(chain: Arc<Chain>) {
    dropping(&chain);
}

#[cold]
fn dropping_marked(chain: &Arc<Chain>) {
    // A chain that goes with this handle is freed by its reference count.
    if Arc::strong_count(chain) <= 1 {
        return;
    }
    // While a chain's drop lets go of what it owned, what is let go of is looked at once all
    // of it is gone: until then, references from the chain being dropped look like outside
    // ones.
    let queued = DEFERRED.try_with(|d| match d.borrow_mut().as_mut() {
        Some(queue) => {
            queue.push(chain.clone());
            true
        }
        None => false,
    });
    if queued == Ok(false) {
        look_again(chain);
    }
}

/// Looks at a marked chain one of whose references (the caller's) is about to go.
fn look_again(chain: &Arc<Chain>) {
    if chain.marks() & STALLED != 0 {
        awaiters::retry_stalled(chain, true);
    }
    recheck(chain, None);
}

/// Looks at `chain` (one reference to it is the caller's to let go of): frees the circle it may
/// be on. `going`: a chain a reference of which is
/// going as well.
pub(super) fn recheck(chain: &Arc<Chain>, going: Option<&Arc<Chain>>) {
    let marks = chain.marks();
    if marks & LINKED != 0 || (marks & AWAITED != 0 && awaiters::on_circle_with_task(chain)) {
        walk(chain, 1, going);
    }
}

/// Looks at a chain that a task has just started awaiting, when only that task can settle it.
pub(super) fn look_at(chain: &Arc<Chain>) {
    walk(chain, 0, None);
}

/// Runs `drop_owned`, the drop of what a chain owned, and then looks at the marked chains it
/// let go of (see [`dropping`]), unless an enclosing call does.
pub(super) fn deferring(drop_owned: impl FnOnce()) {
    let first = DEFERRED.try_with(|d| {
        let mut d = d.borrow_mut();
        if d.is_some() {
            false
        } else {
            *d = Some(Vec::new());
            true
        }
    });
    if first != Ok(true) {
        drop_owned();
        return;
    }
    // Stops deferring, also if a destructor unwinds.
    let _reset = Reset(&DEFERRED);
    drop_owned();
    while let Some(chain) = DEFERRED.with(|d| d.borrow_mut().as_mut().and_then(Vec::pop)) {
        // The queued reference is the one going now.
        if Arc::strong_count(&chain) > 1 {
            look_again(&chain);
        }
    }
}

/// Drops `garbage` iteratively; a panic in a destructor (a step's capture, a future) is
/// reported instead of unwinding into the drop of whatever handle started this.
pub(super) fn contained(garbage: Garbage) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| dispose(garbage))) {
        unhandled::report(UnhandledFailure::new(Failure::from_panic(payload), None));
    }
}

/// Runs [`sweep`] from `chain`, `extra` of whose references are the caller's (about to go),
/// and then from every chain whose handle went while it ran.
fn walk(chain: &Arc<Chain>, extra: usize, going: Option<&Arc<Chain>>) {
    if !links_out(chain) {
        // Nothing to walk to, so no circle through it (the usual case for a handle of the
        // last chain of a `chain_deferred` line).
        return;
    }
    let first = WALKING.try_with(|w| {
        let mut w = w.borrow_mut();
        match w.as_mut() {
            Some(queue) => {
                queue.push(chain.clone());
                false
            }
            None => {
                *w = Some(Vec::new());
                true
            }
        }
    });
    // `Err`: the thread is exiting; its circles are left to the process's end.
    if first != Ok(true) {
        return;
    }
    // Ends the walk, also if a destructor unwinds.
    let _reset = Reset(&WALKING);
    // Chains queued meanwhile are looked at once their handles have gone.
    let mut next = Some((chain.clone(), extra, going));
    while let Some((root, extra, going)) = next.take() {
        // What the walk holds goes after the lock: a task let go of may run destructors.
        let mut graph = Nodes::default();
        let freed = {
            let _one = ONE_AT_A_TIME.lock();
            sweep(root, extra, going, &mut graph)
        };
        drop(graph);
        if let Some(freed) = freed {
            freed.drop_all();
        }
        next = WALKING.with(|w| w.borrow_mut().as_mut().and_then(Vec::pop)).map(|c| (c, 0, None));
    }
}

/// Whether a walk from `chain` would go anywhere: a waiter, a task awaiting it, a chain it waits
/// on, a task it belongs to, or a queued link.
fn links_out(chain: &Arc<Chain>) -> bool {
    let st = chain.state.lock();
    let out = st.waiter.is_some()
        || matches!(&st.slot, Slot::Waiting(_))
        || matches!(&st.slot, Slot::Pending(Some(canceller)) if canceller.task().is_some());
    out || st.steps.fire_targets().next().is_some()
}
