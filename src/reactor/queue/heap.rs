//! The lazy heap of timer entries, and the ready buffer in front of it (see the module docs
//! of `queue`).
//!
//! Part of the reactor, on the typed Deferred: it knows nothing of the engine's insides, the
//! combinators, the primitives or the async bridge.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

use super::call::{Call, Status};
/// How many due entries move from the heap to the ready buffer at a time.
const READY_BATCH: usize = 16;

/// One heap entry: 32 bytes, like a `(f64, u64, Box<dyn FnOnce()>)`. Ordered so that
/// `BinaryHeap`'s maximum is the earliest `(time, seq)`.
pub(super) struct Entry {
    pub(super) time: f64,
    /// The call's version when this entry was pushed.
    pub(super) version: u32,
    /// Nesting depth (see [`Nesting`]): 0 for a call scheduled outside the calls an `advance`
    /// runs, n + 1 for one scheduled by a call of depth n.
    pub(super) depth: u32,
    pub(super) call: Arc<Call>,
}

impl Ord for Entry {
    #[inline]
    fn cmp(&self, other: &Entry) -> Ordering {
        // Reversed: the heap is a max-heap, the earliest call must come out first. Times are
        // finite (checked when scheduled), so `total_cmp` is the usual order. Ties, which are
        // rare on real time, read the sequence number from the call.
        other.time.total_cmp(&self.time).then_with(|| other.call.seq.cmp(&self.call.seq))
    }
}

impl PartialOrd for Entry {
    #[inline]
    fn partial_cmp(&self, other: &Entry) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

/// The heap, and the ready buffer in front of it (see the module docs).
#[derive(Default)]
pub(super) struct Queue {
    pub(super) heap: BinaryHeap<Entry>,
    /// Due entries taken off the heap, earliest first; all of them were due, and no later than
    /// the heap's top, when they were taken.
    pub(super) ready: VecDeque<Entry>,
}

impl Queue {
    pub(super) fn push(&mut self, entry: Entry) {
        self.heap.push(entry);
    }

    /// Whether the next entry comes from the ready buffer rather than the heap.
    #[inline]
    pub(super) fn next_is_ready(&self) -> bool {
        match (self.ready.front(), self.heap.peek()) {
            (Some(ready), Some(top)) => ready >= top,
            (ready, _) => ready.is_some(),
        }
    }

    /// The earliest entry.
    #[inline]
    pub(super) fn peek(&self) -> Option<&Entry> {
        if self.next_is_ready() { self.ready.front() } else { self.heap.peek() }
    }

    /// Takes the earliest entry.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<Entry> {
        if self.next_is_ready() { self.ready.pop_front() } else { self.heap.pop() }
    }

    /// Moves up to [`READY_BATCH`] entries due by `now` from the heap to the ready buffer,
    /// if it is empty, dropping garbage on the way; returns how much garbage it dropped.
    pub(super) fn refill(&mut self, now: f64) -> usize {
        if !self.ready.is_empty() {
            return 0;
        }
        while self.ready.len() < READY_BATCH && self.heap.peek().is_some_and(|e| e.time <= now) {
            self.ready.extend(self.heap.pop());
        }
        // Reading the calls in a tight loop, after the heap work, is what lets their cache
        // misses overlap. A call spans two cache lines: the loop reads both (the reference
        // counts and the fields firing reads), so that neither misses later.
        let before = self.ready.len();
        self.ready.retain(|e| {
            let call = &e.call;
            std::hint::black_box((Arc::strong_count(call), call.seq, call.due()));
            e.is_live()
        });
        before - self.ready.len()
    }

    pub(super) fn len(&self) -> usize {
        self.heap.len() + self.ready.len()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.heap.iter().chain(self.ready.iter())
    }

    pub(super) fn retain(&mut self, keep: impl Fn(&Entry) -> bool) {
        self.heap.retain(&keep);
        self.ready.retain(&keep);
    }

    pub(super) fn take(&mut self) -> impl Iterator<Item = Entry> + use<> {
        let (heap, ready) = (std::mem::take(&mut self.heap), std::mem::take(&mut self.ready));
        heap.into_iter().chain(ready)
    }
}

impl Entry {
    /// Whether this entry is its call's live one.
    #[inline]
    pub(super) fn is_live(&self) -> bool {
        self.call.status() == Status::Pending && self.call.version() == self.version
    }
}
