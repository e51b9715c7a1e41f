//! One scheduled call: its closure, its due time and version, and where it is in its life;
//! shared by its heap entries and its `DelayedCall` handles.
//!
//! Part of the reactor, on the typed Deferred: it knows nothing of the engine's insides, the
//! combinators, the primitives or the async bridge.

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::Timers;
use super::heap::Entry;
use crate::reactor::error::{DelayedCallError, InvalidDelayError, check_delay};
/// A closure in a cell it is taken out of once: the unsized tail of a [`Call`].
pub(crate) trait Job: Send + Sync {
    /// Takes the closure out and runs it (after the cell's lock is released).
    fn run(&self);
    /// [`run`](Job::run) with exclusive access: no lock.
    fn run_mut(&mut self);
    /// Takes the closure out and drops it (after the cell's lock is released).
    fn discard(&self);
}

pub(super) struct JobCell<F>(pub(super) Mutex<Option<F>>);

impl<F: FnOnce() + Send> Job for JobCell<F> {
    fn run(&self) {
        let f = self.0.lock().take();
        if let Some(f) = f {
            f();
        }
    }

    fn run_mut(&mut self) {
        if let Some(f) = self.0.get_mut().take() {
            f();
        }
    }

    fn discard(&self) {
        let f = self.0.lock().take();
        drop(f);
    }
}

/// One scheduled call, shared by its heap entries and its `DelayedCall` handles.
pub(crate) struct Call<J: ?Sized = dyn Job> {
    /// Scheduling number: ties in time fire in this order.
    pub(super) seq: u64,
    /// Bits of the `f64` time the call is due (Twisted's `time + delayed_time`): its live
    /// entry's time, or later after a reset to a later time. Written under the heap's lock.
    pub(super) due: AtomicU64,
    /// The version of the live heap entry. Written under the heap's lock.
    pub(super) version: AtomicU32,
    /// A [`Status`] as a byte. Written under the heap's lock (or by a compare-exchange from
    /// `Pending` once the heap is gone).
    pub(super) status: AtomicU8,
    pub(super) timers: Weak<Timers>,
    pub(super) job: J,
}

/// What a [`Call::reschedule`] counts from: the time now (`reset`) or the time the call was
/// due (`delay`).
enum Origin {
    Now,
    Due,
}

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Status {
    Pending = 0,
    /// Taken off the heap to run (Twisted sets `called` before calling).
    Called = 1,
    Cancelled = 2,
}

impl Call {
    #[inline]
    pub(crate) fn status(&self) -> Status {
        match self.status.load(AtomicOrdering::Acquire) {
            0 => Status::Pending,
            1 => Status::Called,
            _ => Status::Cancelled,
        }
    }

    #[inline]
    pub(super) fn version(&self) -> u32 {
        self.version.load(AtomicOrdering::Acquire)
    }

    #[inline]
    pub(super) fn due(&self) -> f64 {
        f64::from_bits(self.due.load(AtomicOrdering::Acquire))
    }

    /// Moves the call from `Pending` to `to`; false if it had already left `Pending`.
    pub(super) fn claim(&self, to: Status) -> bool {
        let (from, to) = (Status::Pending as u8, to as u8);
        self.status
            .compare_exchange(from, to, AtomicOrdering::AcqRel, AtomicOrdering::Acquire)
            .is_ok()
    }

    /// Runs the closure of a call that [`Timers::pop_due`] handed out. When no handle to the
    /// call is left (the usual case: `call_later`'s result was dropped), nobody else can
    /// reach the closure, and it is taken without its lock.
    #[inline]
    pub(crate) fn run(mut this: Arc<Call>) {
        match Arc::get_mut(&mut this) {
            Some(call) => call.job.run_mut(),
            None => this.job.run(),
        }
    }

    /// When the call is (or was) due: Twisted's `getTime`.
    pub(crate) fn get_time(&self) -> f64 {
        self.due()
    }

    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// The address of the call, to compare and hash handles.
    pub(crate) fn addr(&self) -> *const () {
        self as *const Call as *const ()
    }

    fn refuse(status: Status) -> DelayedCallError {
        match status {
            Status::Called => DelayedCallError::AlreadyCalled,
            _ => DelayedCallError::AlreadyCancelled,
        }
    }

    /// The call's heap, or the error for a call whose heap is gone (see
    /// [`discarded`](Call::discarded)).
    fn heap(&self) -> Result<Arc<Timers>, DelayedCallError> {
        self.timers.upgrade().ok_or_else(|| self.discarded())
    }

    /// Refuses a call that has run or was cancelled; read under the heap's lock, which a change
    /// of status takes.
    fn still_pending(&self) -> Result<(), DelayedCallError> {
        match self.status() {
            Status::Pending => Ok(()),
            status => Err(Call::refuse(status)),
        }
    }

    pub(crate) fn cancel(&self) -> Result<(), DelayedCallError> {
        let timers = self.heap()?;
        let mut st = timers.state.lock();
        self.still_pending()?;
        self.status.store(Status::Cancelled as u8, AtomicOrdering::Release);
        st.garbage += 1;
        st.maybe_compact();
        drop(st);
        // If that was the last handle to the heap, dropping it discards the other calls.
        drop(timers);
        self.job.discard();
        Ok(())
    }

    /// Twisted's `reset`: due `secs` seconds from now.
    pub(crate) fn reset(self: &Arc<Self>, secs: f64) -> Result<(), DelayedCallError> {
        let secs = check_delay(secs)?;
        self.reschedule(Origin::Now, secs)
    }

    /// Twisted's `delay`: due `secs` seconds later than it was (earlier if negative).
    pub(crate) fn delay(self: &Arc<Self>, secs: f64) -> Result<(), DelayedCallError> {
        if !secs.is_finite() {
            return Err(InvalidDelayError::new(secs).into());
        }
        self.reschedule(Origin::Due, secs)
    }

    /// Moves the call to `secs` after `from`: an earlier time pushes a new heap entry (the old
    /// one becomes garbage), a later one only records the new due time, and the old entry is
    /// pushed again when it comes up. A time that is not finite is refused, changing nothing.
    fn reschedule(self: &Arc<Self>, from: Origin, secs: f64) -> Result<(), DelayedCallError> {
        let timers = self.heap()?;
        let mut st = timers.state.lock();
        self.still_pending()?;
        let old_due = self.due();
        let start = match from {
            Origin::Now => timers.now_locked(&st),
            Origin::Due => old_due,
        };
        let due = start + secs;
        if !due.is_finite() {
            return Err(InvalidDelayError::overflow(secs, start).into());
        }
        self.due.store(due.to_bits(), AtomicOrdering::Release);
        if due >= old_due {
            return Ok(());
        }
        let version = self.version().wrapping_add(1);
        self.version.store(version, AtomicOrdering::Release);
        let wake = timers.must_wake(&st, due);
        let depth = st.nesting.depth.map_or(0, |d| d.saturating_add(1));
        st.queue.push(Entry { time: due, version, depth, call: self.clone() });
        st.garbage += 1;
        st.maybe_compact();
        drop(st);
        if wake {
            timers.notify();
        }
        Ok(())
    }

    /// The error for a call whose heap is gone. The heap's `Drop` cancels every pending call;
    /// if it has not reached this one yet, this does, and drops the closure.
    fn discarded(&self) -> DelayedCallError {
        if self.claim(Status::Cancelled) {
            self.job.discard();
        }
        Call::refuse(self.status())
    }
}
