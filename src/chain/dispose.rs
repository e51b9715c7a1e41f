//! Dropping chains that own chains, without recursion.
//!
//! # At thread exit
//!
//! A chain can be dropped while its thread exits, by the destructor of a thread-local that
//! holds it, after the queue below was destroyed. The loop does not depend on the queue: see
//! `spill.rs`.
//!
//! Part of the engine: it knows nothing of the typed Deferred, the combinators, the primitives,
//! the async bridge or the reactor.

use std::cell::{Cell, RefCell};

use super::steps::Steps;
use super::{Slot, Waiter};
use crate::foundation::spill::Spill;

/// What a dropped chain still owned: dropped later, iteratively (see [`dispose`]).
pub(super) struct Garbage {
    pub(super) _slot: Slot,
    pub(super) _steps: Steps,
    pub(super) _waiter: Option<Waiter>,
}

thread_local! {
    /// This thread is inside [`dispose`]: nested chain drops queue their garbage.
    static DISPOSING: Cell<bool> = const { Cell::new(false) };
    /// Garbage was queued since the loop last found nothing left.
    static QUEUED: Cell<bool> = const { Cell::new(false) };
    /// Garbage went to [`SPILLED`] since the loop last found none of this thread's there.
    static SPILLING: Cell<bool> = const { Cell::new(false) };
    /// The queue, while this thread's thread-locals last.
    static QUEUE: RefCell<Vec<Garbage>> = const { RefCell::new(Vec::new()) };
}

/// Garbage queued after this thread's [`QUEUE`] was destroyed.
static SPILLED: Spill<Garbage> = Spill::new();

/// Drops what a chain owned without recursing into the chains it owned in turn.
///
/// A pending tower of a million Deferreds is a million nested boxes (each step owns the next
/// tail); dropping them in place would recurse once per level. The outermost call drops its
/// garbage and then, in a loop, whatever the chains dropped meanwhile queued.
pub(super) fn dispose(garbage: Garbage) {
    if DISPOSING.with(|d| d.replace(true)) {
        queue(garbage);
        return;
    }

    /// Ends the loop, also if a destructor unwinds: what is still queued is dropped then (each
    /// chain in it starting a loop of its own).
    struct Done;
    impl Drop for Done {
        fn drop(&mut self) {
            let rest = QUEUED.with(|q| q.replace(false)).then(take_all);
            DISPOSING.with(|d| d.set(false));
            drop(rest);
        }
    }
    let _done = Done;
    drop(garbage);
    while QUEUED.with(Cell::get) {
        match pop() {
            Some(next) => drop(next),
            None => QUEUED.with(|q| q.set(false)),
        }
    }
}

fn queue(garbage: Garbage) {
    QUEUED.with(|q| q.set(true));
    let mut garbage = Some(garbage);
    let _ = QUEUE.try_with(|q| q.borrow_mut().extend(garbage.take()));
    if let Some(garbage) = garbage {
        // The thread is exiting and its queue is gone.
        SPILLING.with(|s| s.set(true));
        SPILLED.push(garbage);
    }
}

/// The garbage queued last, if any is left.
fn pop() -> Option<Garbage> {
    if let Ok(Some(garbage)) = QUEUE.try_with(|q| q.borrow_mut().pop()) {
        return Some(garbage);
    }
    if !SPILLING.with(Cell::get) {
        return None;
    }
    let garbage = SPILLED.pop(true);
    if garbage.is_none() {
        SPILLING.with(|s| s.set(false));
    }
    garbage
}

/// Everything still queued, to be dropped after the loop ends.
fn take_all() -> Vec<Garbage> {
    let mut all = QUEUE.try_with(|q| std::mem::take(&mut *q.borrow_mut())).unwrap_or_default();
    if SPILLING.with(|s| s.replace(false)) {
        all.extend(SPILLED.take_all());
    }
    all
}
