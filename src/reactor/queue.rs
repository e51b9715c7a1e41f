//! The timer heap behind both [`Clock`](super::Clock) and [`Reactor`](super::Reactor).
//!
//! # Lazy heap
//!
//! Calls wait in a binary min-heap ordered by `(time, seq)`: the due time, then the order in
//! which the calls were scheduled, so ties fire first-scheduled first. Nothing is ever removed
//! from the middle of the heap or re-sorted, so scheduling and firing are O(log n):
//!
//! - **Cancelling** marks the call cancelled and drops its closure at once; its heap entry
//!   stays behind as garbage and is skipped when it reaches the top.
//! - **Resetting to a later time** (Twisted's `delayed_time`) only records the new due time;
//!   when the old entry reaches the top it is pushed again at that time. An idle timeout that
//!   is pushed back on every message costs O(1) per push back.
//! - **Resetting to an earlier time** pushes a new entry and turns the old one into garbage.
//!   Each entry carries the call's `version` at the time it was pushed; only the entry whose
//!   version matches its call's is live.
//!
//! Garbage is counted, and the heap is compacted in one pass when it holds more than 50
//! garbage entries and they outnumber the live ones, as Twisted's reactor does. Each entry is
//! removed at most once, so compaction is amortised O(1) per cancellation.
//!
//! # Ready buffer
//!
//! Firing is bound by the cache miss on each call's allocation, and a lock release right
//! after it would make the CPU wait for each miss in turn. So due entries come off the heap a
//! few at a time, into a short sorted buffer (`Queue::ready`), and their calls are then read
//! in one tight loop, which lets those misses overlap. The buffer is part of the queue: the
//! next entry is the earlier of the buffer's front and the heap's top, so anything pushed
//! meanwhile (a reset to an earlier time, say) still comes out in order, and cancelling or
//! resetting a call in the buffer works exactly as for one in the heap.
//!
//! # One allocation per call
//!
//! A call and its closure share one allocation: [`Call`] ends in an unsized [`Job`], the
//! closure in a cell it is taken out of exactly once. Firing a call touches the heap and that
//! one allocation, like a heap of boxed closures. With many timers, firing is bound by the
//! cache misses on those allocations, so the call is kept small: what only the heap needs
//! (the nesting depth, the version) lives in the 32-byte heap entry instead.
//!
//! # Locks and atomics
//!
//! A call's `status`, `version` and `due` are atomics that are written only under the heap's
//! lock (`Timers::state`), or with exclusive access once the heap is gone, so readers need no
//! lock and writers never race. The closure's cell has a lock of its own, taken only to take
//! the closure out. User code never runs under either lock: a due call is taken off the heap
//! under the lock and its closure run after it is released, and a cancelled call's closure is
//! dropped after it is released.
//!
//! # Back-pointers
//!
//! A call points to its heap with a `Weak`, so that pending calls never keep their clock alive:
//! when the last `Clock` (or `Reactor`) handle goes, the heap is dropped, and every call still
//! pending is marked cancelled and its closure dropped. Without that, a closure that owns
//! something pointing back at the call (an `add_timeout` step does) would form a cycle.
//!
//! Part of the reactor, on the typed Deferred: it knows nothing of the engine's insides, the
//! combinators, the primitives or the async bridge.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering as AtomicOrdering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use self::call::{Call, JobCell, Status};
use self::heap::{Entry, Queue};
use super::error::{InvalidDelayError, check_delay_from};
use crate::foundation::contain;

pub(crate) mod call;
mod heap;

/// Compaction starts only above this much garbage (Twisted's threshold).
const COMPACT_MIN_GARBAGE: usize = 50;

/// A heap of timed calls and the time it runs on.
pub(crate) struct Timers {
    state: Mutex<State>,
    source: Source,
    /// The reactor's loop sleeps on this, with `state`'s lock, until the next call is due or
    /// somebody wakes it. Waiting and checking happen under the same lock, so no wake is lost.
    wakeup: Condvar,
}

/// Where "now" comes from.
enum Source {
    /// A [`Clock`](super::Clock): `State::now`, moved by `advance`.
    Manual,
    /// A [`Reactor`](super::Reactor): seconds since this instant.
    Monotonic(Instant),
    /// A [`TimerQueue`](super::TimerQueue): the implementation's clock, and how to wake the
    /// loop that drives it when a call becomes the earliest.
    External(External),
}

pub(crate) struct External {
    pub(crate) now: Box<dyn Fn() -> f64 + Send + Sync>,
    pub(crate) wake: Box<dyn Fn() + Send + Sync>,
}

struct State {
    queue: Queue,
    /// The next call's scheduling number.
    next_seq: u64,
    /// Entries in `queue` that are not live (cancelled calls, superseded versions). A
    /// heuristic for compaction: it may be off by a few, which never matters for correctness.
    garbage: usize,
    /// Manual time, in seconds.
    now: f64,
    /// What the clock's `advance` is running now, for the nesting guard.
    nesting: Nesting,
    /// The reactor's loop is waiting on `wakeup`.
    sleeping: bool,
    /// Somebody asked the reactor's loop not to sleep (or to wake up) once.
    woken: bool,
    /// The reactor has shut down: new calls are discarded at once.
    closed: bool,
}

/// The nesting guard's bookkeeping (see [`Clock::NESTING_LIMIT`](super::Clock::NESTING_LIMIT)):
/// the innermost `advance` running, if any.
#[derive(Clone, Copy, Default)]
pub(crate) struct Nesting {
    /// The first sequence number scheduled during it: calls from before it have depth 0.
    start_seq: u64,
    /// Depth of the call it is running now, if any.
    depth: Option<u32>,
}

/// Which due calls `pop_due` may hand out.
#[derive(Clone, Copy)]
pub(crate) enum Due {
    /// Everything due by the clock's current time, up to the nesting limit.
    Clock { limit: u32 },
    /// Everything due by `now` that was scheduled before this reactor iteration began (its
    /// first sequence number is `before_seq`): a `call_later(0)` made by a timed call runs on
    /// the next iteration, as in Twisted's reactor.
    Reactor { now: f64, before_seq: u64 },
}

impl Timers {
    /// A heap on manual time (a `Clock`), starting at 0.
    pub(crate) fn manual() -> Arc<Timers> {
        Timers::with_source(Source::Manual)
    }

    /// A heap on monotonic time (a `Reactor`), starting at 0 now.
    pub(crate) fn monotonic() -> Arc<Timers> {
        Timers::with_source(Source::Monotonic(Instant::now()))
    }

    /// A heap on an outside clock, for a `Time` implementation to drive.
    pub(crate) fn external(external: External) -> Arc<Timers> {
        Timers::with_source(Source::External(external))
    }

    fn with_source(source: Source) -> Arc<Timers> {
        Arc::new(Timers {
            state: Mutex::new(State {
                queue: Queue::default(),
                next_seq: 0,
                garbage: 0,
                now: 0.0,
                nesting: Nesting::default(),
                sleeping: false,
                woken: false,
                closed: false,
            }),
            source,
            wakeup: Condvar::new(),
        })
    }

    /// The current time in seconds.
    pub(crate) fn now(&self) -> f64 {
        match &self.source {
            Source::Manual => self.state.lock().now,
            Source::Monotonic(origin) => origin.elapsed().as_secs_f64(),
            Source::External(external) => (external.now)(),
        }
    }

    #[inline]
    fn now_locked(&self, st: &State) -> f64 {
        match &self.source {
            Source::Manual => st.now,
            Source::Monotonic(origin) => origin.elapsed().as_secs_f64(),
            Source::External(external) => (external.now)(),
        }
    }

    /// Whoever drives this heap sleeps until its earliest call: told when that changes.
    #[inline]
    fn must_wake(&self, st: &State, time: f64) -> bool {
        (st.sleeping || matches!(self.source, Source::External(_)))
            && st.queue.peek().is_none_or(|top| time < top.time)
    }

    /// Wakes whoever drives this heap; called without the lock.
    fn notify(&self) {
        match &self.source {
            Source::External(external) => (external.wake)(),
            _ => {
                self.wakeup.notify_one();
            }
        }
    }

    /// The time the earliest pending call is due, if any (possibly a call since cancelled or
    /// moved later: waking for it finds nothing to run).
    pub(crate) fn next_due(&self) -> Option<f64> {
        self.state.lock().queue.peek().map(|top| top.time)
    }

    /// Schedules `f` to run `delay` seconds from now.
    pub(crate) fn schedule<F>(
        self: &Arc<Self>,
        delay: f64,
        f: F,
    ) -> Result<Arc<Call>, InvalidDelayError>
    where
        F: FnOnce() + Send + 'static,
    {
        let mut st = self.state.lock();
        let time = match check_delay_from(self.now_locked(&st), delay) {
            Ok(time) => time,
            Err(err) => {
                drop(st);
                return Err(err);
            }
        };
        let seq = st.next_seq;
        st.next_seq += 1;
        let closed = st.closed;
        let call: Arc<Call> = Arc::new(Call {
            seq,
            due: AtomicU64::new(time.to_bits()),
            version: AtomicU32::new(0),
            // A closed heap (a reactor that has shut down) discards the call at once.
            status: AtomicU8::new(if closed { Status::Cancelled } else { Status::Pending } as u8),
            timers: Arc::downgrade(self),
            job: JobCell(Mutex::new(Some(f))),
        });
        if closed {
            drop(st);
            call.job.discard();
            return Ok(call);
        }
        let wake = self.must_wake(&st, time);
        let depth = st.nesting.depth.map_or(0, |d| d.saturating_add(1));
        st.queue.push(Entry { time, version: 0, depth, call: call.clone() });
        drop(st);
        if wake {
            self.notify();
        }
        Ok(call)
    }

    /// Takes the next due call off the heap and marks it called, or returns `None` if nothing
    /// (more) is due. The caller runs it with [`Call::run`], holding no lock.
    pub(crate) fn pop_due(&self, due: Due) -> Option<Arc<Call>> {
        let mut st = self.state.lock();
        loop {
            let now = match due {
                // Read every time: a call may advance the clock from inside (Twisted does too).
                Due::Clock { .. } => st.now,
                Due::Reactor { now, .. } => now,
            };
            let dropped = st.queue.refill(now);
            st.garbage = st.garbage.saturating_sub(dropped);
            if st.queue.peek()?.time > now {
                return None;
            }
            let entry = st.queue.pop()?;
            if !entry.is_live() {
                st.garbage = st.garbage.saturating_sub(1);
                continue;
            }
            let call_due = entry.call.due();
            if call_due > entry.time {
                // Reset to a later time since this entry was pushed: push it again, then.
                st.queue.push(Entry { time: call_due, ..entry });
                continue;
            }
            match due {
                Due::Reactor { before_seq, .. } if entry.call.seq >= before_seq => {
                    // Scheduled during this iteration; everything still due sorts after it.
                    st.queue.push(entry);
                    return None;
                }
                Due::Clock { limit } => {
                    // Scheduled before this `advance` began: depth 0 again.
                    let fresh = entry.call.seq >= st.nesting.start_seq;
                    let depth = if fresh { entry.depth } else { 0 };
                    if depth > limit {
                        st.queue.push(entry);
                        return None;
                    }
                    st.nesting.depth = Some(depth);
                }
                Due::Reactor { .. } => {}
            }
            entry.call.status.store(Status::Called as u8, AtomicOrdering::Release);
            return Some(entry.call);
        }
    }

    /// The sequence number the next scheduled call will get.
    pub(crate) fn next_seq(&self) -> u64 {
        self.state.lock().next_seq
    }

    /// Every pending call, in the order they would fire.
    pub(crate) fn pending(&self) -> Vec<Arc<Call>> {
        let st = self.state.lock();
        let mut live: Vec<(f64, u64, Arc<Call>)> = st
            .queue
            .iter()
            .filter(|e| e.is_live())
            .map(|e| (e.call.due(), e.call.seq, e.call.clone()))
            .collect();
        drop(st);
        live.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        live.into_iter().map(|(_, _, call)| call).collect()
    }

    /// How many entries the heap holds, garbage included (for tests of the lazy heap).
    #[cfg(test)]
    pub(crate) fn heap_len(&self) -> usize {
        self.state.lock().queue.len()
    }

    /// Moves manual time forward and opens a new nesting level; returns what to restore when
    /// the `advance` ends (an `advance` may run inside a call that another one runs).
    pub(crate) fn begin_advance(&self, amount: f64) -> Nesting {
        let mut st = self.state.lock();
        // Saturates: a clock that would pass the largest finite time stops there, where every
        // time stays comparable and every delay still counts from a finite time.
        st.now = (st.now + amount).min(f64::MAX);
        let start_seq = st.next_seq;
        std::mem::replace(&mut st.nesting, Nesting { start_seq, depth: None })
    }

    /// Closes an `advance` opened by `begin_advance`.
    pub(crate) fn end_advance(&self, saved: Nesting) {
        self.state.lock().nesting = saved;
    }

    /// Discards every pending call and every call scheduled from now on (the reactor has shut
    /// down). Their closures are dropped here, after the heap's lock is released.
    pub(crate) fn close(&self) {
        let entries = {
            let mut st = self.state.lock();
            st.closed = true;
            st.garbage = 0;
            st.queue.take()
        };
        discard(entries);
    }

    /// Asks the reactor's loop to run an iteration now: wakes it if it sleeps, or keeps it from
    /// sleeping next time.
    pub(crate) fn wake(&self) {
        let mut st = self.state.lock();
        st.woken = true;
        let sleeping = st.sleeping;
        drop(st);
        if sleeping {
            self.wakeup.notify_one();
        }
    }

    /// Sleeps until the earliest call is due or [`wake`](Timers::wake) is called. Returns at
    /// once if a wake came since the last sleep.
    pub(crate) fn sleep(&self) {
        let Source::Monotonic(origin) = self.source else { return };
        let mut st = self.state.lock();
        if !st.woken {
            let deadline = st.queue.peek().map(|e| {
                Duration::try_from_secs_f64(e.time).ok().and_then(|d| origin.checked_add(d))
            });
            st.sleeping = true;
            match deadline {
                Some(Some(when)) => {
                    self.wakeup.wait_until(&mut st, when);
                }
                // No timer, or one too far away for an `Instant`: only a wake ends the sleep.
                None | Some(None) => self.wakeup.wait(&mut st),
            }
            st.sleeping = false;
        }
        st.woken = false;
    }
}

impl Drop for Timers {
    fn drop(&mut self) {
        discard(self.state.get_mut().queue.take());
    }
}

/// Marks every pending call in `entries` cancelled and drops its closure. Called without the
/// heap's lock: the entries were taken out of it.
///
/// A closure's destructor is user code. If one panics, the others are still cancelled and
/// dropped, and the first panic is passed on afterwards (out of the `Clock`'s drop, or into the
/// reactor's guard at shutdown). Unwinding at once would leave the calls after it pending, with
/// their closures, on a heap that will never run them, until their last handles went.
fn discard(entries: impl Iterator<Item = Entry>) {
    let mut panic = None;
    for entry in entries {
        if entry.call.claim(Status::Cancelled) {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| entry.call.job.discard())) {
                contain::keep_first(&mut panic, payload);
            }
        }
    }
    if let Some(payload) = panic {
        resume_unwind(payload);
    }
}

impl State {
    /// Drops garbage entries once they are many and outnumber the live ones.
    fn maybe_compact(&mut self) {
        if self.garbage > COMPACT_MIN_GARBAGE && self.garbage > self.queue.len() / 2 {
            // Garbage entries hold no closure (a cancelled call's was dropped when it was
            // cancelled, a superseded entry's call is alive elsewhere), so no user code runs.
            self.queue.retain(Entry::is_live);
            self.garbage = 0;
        }
    }
}

#[cfg(test)]
mod tests;
