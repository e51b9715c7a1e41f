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

use std::cell::RefCell;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;

use crate::contain;

/// A task, type-erased for the queue.
pub(crate) trait Runnable: Send + Sync {
    /// Polls the task, which the caller owns (it is scheduled).
    fn run(self: Arc<Self>);
}

thread_local! {
    /// `Some` while this thread is running tasks: tasks scheduled meanwhile wait here instead
    /// of being polled inside whatever woke them.
    static RUNNER: RefCell<Option<VecDeque<Arc<dyn Runnable>>>> = const { RefCell::new(None) };
}

/// Runs `f` as this thread's runner: tasks scheduled meanwhile are queued, and run after `f`.
/// If the thread is already running tasks (`f` was called from inside a poll), `f` just runs,
/// and the queue is left to that runner.
pub(crate) fn as_runner<R>(f: impl FnOnce() -> R) -> R {
    let became = RUNNER
        .try_with(|r| {
            let mut r = r.borrow_mut();
            if r.is_some() {
                false
            } else {
                *r = Some(VecDeque::new());
                true
            }
        })
        // The thread is exiting and its queue is gone: run without one.
        .unwrap_or(false);
    if !became {
        return f();
    }
    /// Stops being the runner, also if a task unwinds.
    struct Stop;
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = RUNNER.try_with(|r| r.borrow_mut().take());
        }
    }
    let _stop = Stop;
    // Tasks are written not to unwind (the future, its destructor and the chain's steps are
    // all caught), but a foreign waker woken by a step may panic. Finish the queue first, so
    // that no scheduled task is stranded, then pass the first panic on.
    let result = catch_unwind(AssertUnwindSafe(f));
    let mut panic = None;
    while let Some(task) = RUNNER.with(|r| r.borrow_mut().as_mut().and_then(VecDeque::pop_front)) {
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
    let mut slot = Some(task);
    let _ = RUNNER.try_with(|r| {
        if let Some(queue) = r.borrow_mut().as_mut() {
            queue.extend(slot.take());
        }
    });
    if let Some(task) = slot {
        as_runner(|| task.run());
    }
}
