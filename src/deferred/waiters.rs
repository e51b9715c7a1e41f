//! What the concurrency primitives share: a FIFO of waiters that a cancelled waiter leaves at
//! once, in memory that follows the live waiters, and the hand-over that fires a waiter without
//! recursion.
//!
//! Part of the typed Deferred: it knows nothing of the combinators, the primitives, the async
//! bridge or the reactor.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::chain::Cancelled;
use crate::deferred::resolver::Resolver;
use crate::foundation::contain;

/// Waiters in arrival order, each known by a ticket so that a cancelled one can leave at once.
///
/// Tickets are consecutive and never reused. A waiter that leaves becomes a hole, skipped when
/// it reaches the front; holes at either end are trimmed as they appear. Holes behind a waiter
/// that stays at the front (a lock held for long, cancelled acquires queuing behind its next
/// owner) are compacted away once they are more than [`COMPACT_MIN_HOLES`] and outnumber the
/// live waiters, so the queue never holds more than about twice its live waiters, and its
/// room is given back as it empties: its memory follows the waiters, not the cancellations.
/// Each slot keeps its ticket, so a ticket is found by binary search whatever was compacted.
pub(crate) struct Waiters<R> {
    /// `(ticket, waiter)` in ticket order; `None` is a hole.
    slots: VecDeque<(u64, Option<R>)>,
    /// The ticket the next waiter gets.
    next: u64,
    /// Live waiters (slots that are not holes).
    live: usize,
}

/// Compaction waits for this many holes, so that a short queue is not compacted on every
/// cancel (the timer heap's rule, from Twisted's reactor).
const COMPACT_MIN_HOLES: usize = 50;

/// Room a queue keeps however few wait in it, so that a short queue never reallocates.
const SPARE_SLOTS: usize = 16;

impl<R> Waiters<R> {
    pub(crate) fn new() -> Waiters<R> {
        Waiters { slots: VecDeque::new(), next: 0, live: 0 }
    }

    /// The ticket the next [`push`](Waiters::push) will return.
    pub(crate) fn next_ticket(&self) -> u64 {
        self.next
    }

    /// Adds a waiter at the back and returns its ticket.
    pub(crate) fn push(&mut self, waiter: R) -> u64 {
        let ticket = self.next;
        self.next += 1;
        self.slots.push_back((ticket, Some(waiter)));
        self.live += 1;
        ticket
    }

    /// Takes the waiter at the front.
    pub(crate) fn pop(&mut self) -> Option<R> {
        while let Some((_, slot)) = self.slots.pop_front() {
            if let Some(waiter) = slot {
                self.live -= 1;
                self.trim();
                self.fit();
                return Some(waiter);
            }
        }
        None
    }

    /// Takes the waiter with this ticket, if it is still waiting.
    pub(crate) fn remove(&mut self, ticket: u64) -> Option<R> {
        let index = self.slots.binary_search_by_key(&ticket, |(t, _)| *t).ok()?;
        let waiter = self.slots[index].1.take()?;
        self.live -= 1;
        self.trim();
        let holes = self.slots.len() - self.live;
        if holes > COMPACT_MIN_HOLES && holes > self.live {
            self.slots.retain(|(_, slot)| slot.is_some());
        }
        self.fit();
        Some(waiter)
    }

    /// How many are waiting.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// How many slots the queue has room for: its memory, holes included.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// Gives memory back once the queue uses less than a quarter of it, as a burst of waiters
    /// drains or is cancelled: halving the room each time its use falls to a quarter costs
    /// O(1) per waiter, amortised, like the doubling that made it.
    fn fit(&mut self) {
        let used = self.slots.len() + SPARE_SLOTS;
        if self.slots.capacity() > 4 * used {
            self.slots.shrink_to(2 * used);
        }
    }

    /// Drops the holes at either end.
    fn trim(&mut self) {
        while let Some((_, None)) = self.slots.front() {
            self.slots.pop_front();
        }
        while let Some((_, None)) = self.slots.back() {
            self.slots.pop_back();
        }
    }
}

/// What a waiter's canceller answers, given what [`Waiters::remove`] gave it for the waiter's
/// ticket: a waiter still in the queue has left it, and fails with `CancelledError`; one that is
/// gone was just taken out by whoever is about to fire it, and that firing stands.
pub(crate) fn left<R>(removed: Option<R>) -> Cancelled {
    match removed {
        // Dropped here, after the caller released its lock.
        Some(waiter) => {
            drop(waiter);
            Cancelled::Fail
        }
        None => Cancelled::Leave,
    }
}

type Job = Box<dyn FnOnce()>;

thread_local! {
    /// `Some` while this thread is handing values over; hand-overs made meanwhile queue here.
    static HANDING_OVER: RefCell<Option<VecDeque<Job>>> = const { RefCell::new(None) };
}

/// Fires `resolver` with `value`, without recursion.
///
/// A waiter's callbacks often release what they were given (a lock guard dropped at the end
/// of the work, a value put back in a queue), which hands it to the next waiter, whose
/// callbacks do the same: done directly, a queue of a hundred thousand waiters would nest a
/// hundred thousand fires. Instead, a hand-over made while this thread is already handing
/// over is queued, and the outermost one fires them in order before it returns. The caller
/// has already decided who gets the value, under its lock; only the firing waits.
pub(crate) fn hand_over<T: Send + 'static>(resolver: Resolver<T>, value: T) {
    let mut job = Some((resolver, value));
    let nested = HANDING_OVER.try_with(|queue| {
        let mut queue = queue.borrow_mut();
        match queue.as_mut() {
            Some(queue) => {
                let (resolver, value) = job.take().expect("taken once");
                queue.push_back(Box::new(move || fire(resolver, value)));
                true
            }
            None => {
                *queue = Some(VecDeque::new());
                false
            }
        }
    });
    let Some((resolver, value)) = job else { return };
    if nested.is_err() {
        // The thread is exiting and its storage is gone: fire in place.
        return fire(resolver, value);
    }
    let mut panic = catch_unwind(AssertUnwindSafe(|| fire(resolver, value))).err();
    loop {
        let next = HANDING_OVER.with(|queue| {
            let mut queue = queue.borrow_mut();
            let next = queue.as_mut().and_then(VecDeque::pop_front);
            if next.is_none() {
                *queue = None;
            }
            next
        });
        let Some(job) = next else { break };
        // Every queued waiter is fired even if one of them panics, so that none is stranded.
        if let Err(payload) = catch_unwind(AssertUnwindSafe(job)) {
            contain::keep_first(&mut panic, payload);
        }
    }
    if let Some(payload) = panic {
        resume_unwind(payload);
    }
}

fn fire<T: Send + 'static>(resolver: Resolver<T>, value: T) {
    // The primitive took this waiter out of its queue under its lock, and a cancel that finds
    // it gone leaves it pending, so the fire lands. Were it refused anyway, the value would be
    // dropped here, which releases a guard or permit.
    let _ = resolver.callback(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_come_out_in_order_and_skip_the_removed() {
        let mut w = Waiters::new();
        let tickets: Vec<u64> = (0..5).map(|i| w.push(i)).collect();
        assert_eq!(tickets, [0, 1, 2, 3, 4]);
        assert_eq!(w.remove(2), Some(2));
        assert_eq!(w.remove(2), None, "a ticket leaves once");
        assert_eq!(w.len(), 4);
        assert_eq!(w.pop(), Some(0));
        assert_eq!(w.pop(), Some(1));
        assert_eq!(w.pop(), Some(3), "the hole is skipped");
        assert_eq!(w.remove(0), None, "a popped ticket is gone");
        assert_eq!(w.pop(), Some(4));
        assert_eq!(w.pop(), None);
        assert_eq!(w.len(), 0);
        assert_eq!(w.next_ticket(), 5, "tickets are never reused");
    }

    #[test]
    fn holes_at_the_front_are_trimmed_and_tickets_never_come_back() {
        let mut w = Waiters::new();
        for i in 0..4 {
            w.push(i);
        }
        w.remove(3);
        w.remove(2);
        assert_eq!(w.next_ticket(), 4, "removing the last waiters frees no ticket");
        assert_eq!(w.slots.len(), 2, "the trailing holes are dropped");
        w.remove(0);
        assert_eq!(w.slots.len(), 1, "the leading hole is dropped");
        assert_eq!(w.remove(1), Some(1));
        assert!(w.slots.is_empty(), "all holes: nothing left");
        assert_eq!(w.push(9), 4);
        assert_eq!(w.remove(3), None, "an old ticket does not reach the new waiter");
        assert_eq!(w.pop(), Some(9));
    }

    #[test]
    fn holes_behind_a_waiter_at_the_front_are_compacted() {
        // One waiter stays at the front; behind it, each newcomer outlives the one before.
        let mut w = Waiters::new();
        w.push(0);
        let mut last = w.push(1);
        for i in 2..=10_000 {
            let ticket = w.push(i);
            assert!(w.remove(last).is_some());
            last = ticket;
            assert!(w.slots.len() <= COMPACT_MIN_HOLES + 3, "{} slots", w.slots.len());
        }
        // A burst of waiters that then leave gives its room back.
        let tickets: Vec<u64> = (0..10_000).map(|i| w.push(i)).collect();
        assert!(w.capacity() >= 10_000);
        for ticket in tickets {
            w.remove(ticket);
        }
        assert!(w.capacity() <= 4 * (2 + COMPACT_MIN_HOLES + SPARE_SLOTS), "{}", w.capacity());
        assert_eq!(w.len(), 2);
        assert_eq!((w.pop(), w.pop(), w.pop()), (Some(0), Some(10_000), None));
    }

    #[test]
    fn unknown_tickets_are_ignored() {
        let mut w: Waiters<u8> = Waiters::new();
        assert_eq!(w.remove(0), None);
        w.push(1);
        assert_eq!(w.remove(7), None);
        assert_eq!(w.len(), 1);
    }
}
