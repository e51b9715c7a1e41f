//! The thread's task queue, which keeps nested tasks from polling each other recursively.
//!
//! When a task's future completes, firing its Deferred may wake the task that awaits it, whose
//! completion wakes the next one, and so on: polling each from inside the previous one's wake
//! would recurse once per level, and a tower of 100,000 nested `ensure_deferred` calls would
//! overflow any stack. Instead, a thread that is polling a task is this thread's *runner*: a task
//! scheduled on the thread meanwhile is queued, and polled once the running one is done, in a
//! loop. This is the trampoline of `chain/run.rs` again, for tasks.
//!
//! A thread becomes the runner when it polls a task and is not one already (inside a wake from
//! outside any task, a `cancel`, or the first poll of a new task), and stops being one once its
//! queue is empty, all before that call returns.
//!
//! Part of the async bridge, on the typed Deferred and the engine: it knows nothing of the
//! combinators, the primitives or the reactor.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;

use crate::foundation::contain;
use crate::foundation::spill::Spill;

/// A task, type-erased for the queue.
pub(crate) trait Runnable: Send + Sync {
    /// Polls the task, which the caller owns (it is scheduled).
    fn run(self: Arc<Self>);
}

thread_local! {
    /// This thread is running tasks: tasks scheduled meanwhile wait in the queue instead of
    /// being polled inside whatever woke them. A `Cell` without a destructor, so that this
    /// holds at thread exit too (see `spill.rs`).
    static RUNNING: Cell<bool> = const { Cell::new(false) };
    /// Tasks went to [`SPILLED`] since the runner last found none of this thread's there.
    static SPILLING: Cell<bool> = const { Cell::new(false) };
    /// The queue, while this thread's thread-locals last.
    static QUEUE: RefCell<VecDeque<Arc<dyn Runnable>>> = const { RefCell::new(VecDeque::new()) };
}

/// Tasks scheduled after this thread's [`QUEUE`] was destroyed.
static SPILLED: Spill<Arc<dyn Runnable>> = Spill::new();

/// Runs `f` as this thread's runner: tasks scheduled meanwhile are queued, and run after `f`.
/// If the thread is already running tasks (`f` was called from inside a poll), `f` just runs,
/// and the queue is left to that runner.
pub(crate) fn as_runner<R>(f: impl FnOnce() -> R) -> R {
    if RUNNING.with(|r| r.replace(true)) {
        return f();
    }
    /// Stops being the runner, also if a task unwinds.
    struct Stop;
    impl Drop for Stop {
        fn drop(&mut self) {
            RUNNING.with(|r| r.set(false));
        }
    }
    let _stop = Stop;
    // Tasks are written not to unwind (the future, its destructor and the chain's steps are
    // all caught), but a foreign waker woken by a step may panic. Finish the queue first, so
    // that no scheduled task is stranded, then pass the first panic on.
    let result = catch_unwind(AssertUnwindSafe(f));
    let mut panic = None;
    while let Some(task) = next() {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| task.run())) {
            contain::keep_first(&mut panic, payload);
        }
    }
    match (result, panic) {
        (Ok(result), None) => result,
        (Err(payload), _) | (Ok(_), Some(payload)) => resume_unwind(payload),
    }
}

/// Runs a task that was just scheduled: now, or after the task running on this thread.
pub(crate) fn dispatch(task: Arc<dyn Runnable>) {
    if !RUNNING.with(Cell::get) {
        return as_runner(|| task.run());
    }
    let mut task = Some(task);
    let _ = QUEUE.try_with(|q| q.borrow_mut().extend(task.take()));
    if let Some(task) = task {
        // The thread is exiting and its queue is gone.
        SPILLING.with(|s| s.set(true));
        SPILLED.push(task);
    }
}

/// The task queued first, if any is left.
fn next() -> Option<Arc<dyn Runnable>> {
    if let Ok(Some(task)) = QUEUE.try_with(|q| q.borrow_mut().pop_front()) {
        return Some(task);
    }
    if !SPILLING.with(Cell::get) {
        return None;
    }
    let task = SPILLED.pop(false);
    if task.is_none() {
        SPILLING.with(|s| s.set(false));
    }
    task
}
