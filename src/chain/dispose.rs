//! Dropping chains that own chains, without recursion.

use std::cell::RefCell;

use super::steps::Steps;
use super::{Slot, Waiter};

/// What a dropped chain still owned: dropped later, iteratively (see [`dispose`]).
pub(super) struct Garbage {
    pub(super) _slot: Slot,
    pub(super) _steps: Steps,
    pub(super) _waiter: Option<Waiter>,
}

thread_local! {
    /// `Some` while this thread is inside [`dispose`]; nested chain drops queue here.
    static DISPOSING: RefCell<Option<Vec<Garbage>>> = const { RefCell::new(None) };
}

/// Drops what a chain owned without recursing into the chains it owned in turn.
///
/// A pending tower of a million Deferreds is a million nested boxes (each step owns the next
/// tail); dropping them in place would recurse once per level.
pub(super) fn dispose(garbage: Garbage) {
    let first = DISPOSING.try_with(|d| {
        let mut d = d.borrow_mut();
        match d.as_mut() {
            Some(queue) => {
                queue.push(garbage);
                None
            }
            None => {
                *d = Some(Vec::new());
                Some(garbage)
            }
        }
    });
    // `Err`: the thread is exiting and its storage is gone; the closure, and the garbage with
    // it, was dropped in place.
    let Ok(Some(garbage)) = first else { return };

    /// Ends the loop even if a value's destructor panics.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            let rest = DISPOSING.try_with(|d| d.borrow_mut().take()).ok().flatten();
            drop(rest);
        }
    }
    let _reset = Reset;
    drop(garbage);
    while let Some(next) = DISPOSING.with(|d| d.borrow_mut().as_mut().and_then(Vec::pop)) {
        drop(next);
    }
}
