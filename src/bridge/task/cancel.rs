//! Cancelling a task, and the armed poll that hands the cancellation to the future.
//!
//! [`Deferred::from_future`]'s canceller drops the future (after the current poll, if it is being
//! polled) and lets the Deferred fail with `CancelledError`. [`ensure_deferred`]'s hands the
//! cancellation to the future instead, the way Twisted cancels the Deferred that an
//! `inlineCallbacks` generator is waiting on. The task is polled once more with the thread's
//! [`ARMED`] scope set, and every [`DeferredFuture`](crate::DeferredFuture) polled in that poll
//! that was already being awaited before it cancels its Deferred. The resulting failure comes
//! out of that `.await`, and the future decides what happens next.
//!
//! The cancellation counts as delivered once it decided the outcome of an awaited Deferred.
//! Delivering it in a poll, on the one thread that owns the task, is what keeps it from being
//! lost whatever other threads do meanwhile:
//!
//! - if the awaited Deferred turns out to have a result on the way (fired on another thread as
//!   the cancel came, or running its steps), the task stays armed and the wake that result
//!   brings polls it armed again: the cancellation then reaches whatever the future awaits next,
//!   as it would in Twisted, where the coroutine would have resumed first;
//! - if the future is found awaiting only Deferreds it first awaited in the armed poll itself
//!   (it caught up with a result that had arrived), it is polled armed once more at once;
//! - if it awaits no Deferred at all, it is dropped, as by `from_future`, and the task fails its
//!   Deferred with `CancelledError`.
//!
//! Part of the async bridge, on the typed Deferred and the engine: it knows nothing of the
//! combinators, the primitives or the reactor.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use super::{Cancel, OnCancel, Run, Task};
use crate::bridge::runner::dispatch;
use crate::chain::{Awaiting, CancelFn, Cancelled, Canceller, Chain};
thread_local! {
    /// Set while a task is polled to deliver a cancellation; see [`armed`].
    static ARMED: Cell<Armed> = const { Cell::new(Armed::OFF) };
    /// The cause of the cancellation [`deliver_cancel`] is handing on, or 0.
    ///
    /// Every cancellation that reaches a task gets a cause: the one of the delivery it came
    /// from, or a new one when it came from anywhere else (a user's `cancel`, a combinator).
    /// The cause travels with the cancellation from task to task, also across the deferred
    /// polls of the runner queue. A task asked twice to deliver the same cause is on a circle
    /// (it awaits, through others, a Deferred that waits on its own), and handing the
    /// cancellation on again would go round it forever.
    static CAUSE: Cell<u64> = const { Cell::new(0) };
}

/// Causes for cancellations that start outside any delivery; 0 means "none".
static CAUSES: AtomicU64 = AtomicU64::new(1);

/// What a cancelling poll records. Futures polled inside it read and update it through
/// [`armed`], [`deliver_cancel`] and [`note_pending`].
#[derive(Clone, Copy)]
pub(super) struct Armed {
    /// Unique per cancelling poll, so that a `DeferredFuture` can tell whether it was already
    /// being awaited when the poll began; 0 when no cancelling poll is under way.
    pub(super) serial: u64,
    /// The cause of the cancellation this poll delivers.
    pub(super) cause: u64,
    /// Awaited Deferreds whose outcome this poll's cancellation decided.
    pub(super) cancelled: u32,
    /// `DeferredFuture`s pending at the end of this poll that were already awaited before it
    /// (their Deferreds had a result on the way, or the cancel would have decided them)...
    pub(super) pending_old: u32,
    /// ...and those first awaited in it.
    pub(super) pending_new: u32,
}

impl Armed {
    const OFF: Armed = Armed { serial: 0, cause: 0, cancelled: 0, pending_old: 0, pending_new: 0 };
}

/// How many cancelling polls in a row may find nothing to cancel but new Deferreds awaited
/// before the future is dropped instead. One is the normal case (the future had caught up with a
/// Deferred that fired meanwhile); only a future that makes a new Deferred to await on every
/// poll, keeping the old ones, needs more, and it could otherwise keep this up forever.
pub(super) const MAX_ARMED_POLLS: u32 = 8;

/// Serials for cancelling polls; 0 and 1 mean "none" to `DeferredFuture`.
pub(super) static SERIAL: AtomicU64 = AtomicU64::new(2);

/// The serial of the cancelling poll under way on this thread, if any.
#[inline]
pub(crate) fn armed() -> Option<u64> {
    let serial = ARMED.try_with(|a| a.get().serial).unwrap_or(0);
    (serial != 0).then_some(serial)
}

/// Runs `cancel` (which cancels an awaited Deferred and says whether that decided its outcome)
/// outside the cancelling poll, so that nothing it polls is cancelled too, and counts the
/// cancellation as delivered if it was.
///
/// While it runs, [`CAUSE`] names the cancellation, so that the tasks it reaches know where it
/// came from.
pub(crate) fn deliver_cancel(cancel: impl FnOnce() -> bool) {
    let outer = ARMED.with(|a| a.replace(Armed::OFF));
    let cause = CAUSE.with(|c| c.replace(outer.cause));
    let delivered = cancel();
    CAUSE.with(|c| c.set(cause));
    let cancelled = outer.cancelled + u32::from(delivered);
    ARMED.with(|a| a.set(Armed { cancelled, ..outer }));
}

/// Records that a `DeferredFuture` is pending in the cancelling poll under way, and whether it
/// was already awaited before the poll (`old`).
pub(crate) fn note_pending(old: bool) {
    ARMED.with(|a| {
        let mut now = a.get();
        if old {
            now.pending_old += 1;
        } else {
            now.pending_new += 1;
        }
        a.set(now);
    });
}

/// Polls `poll` with the armed scope set (if `serial` is given) and returns what it recorded.
pub(super) fn with_armed<R>(
    serial: Option<u64>,
    cause: u64,
    poll: impl FnOnce() -> R,
) -> (R, Armed) {
    let mine = Armed { serial: serial.unwrap_or(0), cause, ..Armed::OFF };
    // Nested tasks (an `ensure_deferred` created inside a poll) save and restore the scope.
    let outer = ARMED.with(|a| a.replace(mine));
    /// Restores the scope even if `poll` unwinds (it does not: panics are caught inside).
    struct Restore(Armed);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = ARMED.try_with(|a| a.set(self.0));
        }
    }
    let restore = Restore(outer);
    let result = poll();
    let recorded = ARMED.with(|a| a.get());
    drop(restore);
    (result, recorded)
}

impl<F> Task<F>
where
    F: Future + Send + 'static,
{
    /// The canceller's work, on whichever thread cancels.
    fn cancel(self: &Arc<Self>) -> Cancelled {
        let cause = match CAUSE.with(Cell::get) {
            0 => CAUSES.fetch_add(1, Ordering::Relaxed),
            cause => cause,
        };
        let mut st = self.state.lock();
        if self.on_cancel == OnCancel::Deliver && st.cause == cause {
            // This task's cancellation came back to it (see `CAUSE`): the future awaits a
            // Deferred that waits, through others, on the task's Deferred. Failing the Deferred
            // now breaks the circle, and what awaited it gets the `CancelledError`.
            return Cancelled::Fail;
        }
        if st.run == Run::Done {
            // Finished but not yet fired: the cancel wins, and the output is discarded.
            return Cancelled::Fail;
        }
        let (request, answer) = match self.on_cancel {
            OnCancel::Drop => (Cancel::Drop { fire: false }, Cancelled::Fail),
            OnCancel::Deliver => {
                st.cause = cause;
                (Cancel::Deliver { cause }, Cancelled::KeepPending(canceller(Arc::downgrade(self))))
            }
        };
        // A drop overrides a delivery still waiting to happen; a second delivery is the same
        // as one.
        if !matches!(st.cancel, Cancel::Drop { .. }) {
            st.cancel = request;
        }
        let dispatch_now = self.schedule(&mut st);
        drop(st);
        if dispatch_now {
            dispatch(self.clone());
        }
        answer
    }
}

/// The canceller for a task's Deferred. It holds the task weakly: a task is kept alive by the
/// wakers it gave out, not by its Deferred, so that dropping every waker frees it.
pub(super) fn canceller<F>(task: Weak<Task<F>>) -> Canceller
where
    F: Future + Send + 'static,
{
    Box::new(TaskCanceller(task))
}

/// A task's canceller; the engine can ask it which task it cancels (see `chain::cycles`).
struct TaskCanceller<F: Future>(Weak<Task<F>>);

impl<F> CancelFn for TaskCanceller<F>
where
    F: Future + Send + 'static,
{
    fn cancel(self: Box<Self>, _chain: &Arc<Chain>) -> Cancelled {
        match self.0.upgrade() {
            Some(task) => task.cancel(),
            // Nothing can wake the future any more, so it was dropped: it can only fail.
            None => Cancelled::Fail,
        }
    }

    fn task(&self) -> Option<Weak<dyn Awaiting>> {
        Some(self.0.clone())
    }
}
