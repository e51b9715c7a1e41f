//! Where a thread's work queues put their items once the thread's own storage is gone.
//!
//! The loops that stand in for recursion (the iterative drop in `chain/dispose.rs`, the task
//! runner in `runner.rs`) queue their work in thread-locals. While a thread exits, its
//! thread-locals are destroyed in an order the crate does not control, and the destructor of
//! one of them (a user's, holding a deep tower) may drop or cancel chains after the crate's
//! queue is gone. The loops carry on regardless: whether one is running is a `Cell` with a
//! constant initialiser and no destructor, which stays usable to the end of the thread, and the
//! items that cannot be queued go to a [`Spill`], a process-wide list keyed by thread. Only that
//! rare case ever locks it.
//!
//! Part of the foundation: it knows nothing of chains, Deferreds or anything built on them.

use std::cell::{Cell, RefCell};
use std::thread::LocalKey;

use parking_lot::Mutex;

thread_local! {
    /// Only its address is used: no other living thread has the same.
    static KEY: Cell<u8> = const { Cell::new(0) };
}

fn thread_key() -> usize {
    KEY.with(|k| k as *const Cell<u8> as usize)
}

/// Items of threads whose queue is gone, each with its thread's key.
pub(crate) struct Spill<T> {
    items: Mutex<Vec<(usize, T)>>,
}

impl<T> Spill<T> {
    pub(crate) const fn new() -> Spill<T> {
        Spill { items: Mutex::new(Vec::new()) }
    }

    pub(crate) fn push(&self, item: T) {
        self.items.lock().push((thread_key(), item));
    }

    /// This thread's item pushed first, or last if `last`.
    pub(crate) fn pop(&self, last: bool) -> Option<T> {
        let key = thread_key();
        let mut items = self.items.lock();
        let mut mine = items.iter().enumerate().filter(|(_, (k, _))| *k == key);
        let (i, _) = if last { mine.next_back() } else { mine.next() }?;
        Some(items.remove(i).1)
    }

    /// Pushes `item` on this thread's `queue`, or here once the thread's queue is gone:
    /// `true` then.
    pub(crate) fn push_to(&self, queue: &'static LocalKey<RefCell<Vec<T>>>, item: T) -> bool {
        let mut item = Some(item);
        let _ = queue.try_with(|q| q.borrow_mut().extend(item.take()));
        match item {
            None => false,
            Some(item) => {
                // The thread is exiting and its queue is gone.
                self.push(item);
                true
            }
        }
    }

    /// Everything of this thread's `queue`, and of this spill if `spilled`, to be dropped
    /// once a loop has ended.
    pub(crate) fn take_with(
        &self,
        queue: &'static LocalKey<RefCell<Vec<T>>>,
        spilled: bool,
    ) -> Vec<T> {
        let mut all = queue.try_with(|q| std::mem::take(&mut *q.borrow_mut())).unwrap_or_default();
        if spilled {
            all.extend(self.take_all());
        }
        all
    }

    /// All of this thread's items, oldest first.
    pub(crate) fn take_all(&self) -> Vec<T> {
        let key = thread_key();
        let mut items = self.items.lock();
        let (mine, others): (Vec<_>, Vec<_>) =
            std::mem::take(&mut *items).into_iter().partition(|(k, _)| *k == key);
        *items = others;
        drop(items);
        mine.into_iter().map(|(_, item)| item).collect()
    }
}
