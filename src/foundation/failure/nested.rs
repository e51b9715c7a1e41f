//! Failures nested in failures, at any depth: dropped in a loop, and formatted down to a
//! cut-off.
//!
//! A combinator's failure wraps its inputs' ([`FirstError`](crate::FirstError),
//! [`FailureGroup`](crate::FailureGroup)), and so may an error of the program's own, so a tower
//! of combinators that fails level by level makes a failure nested once per level, a hundred
//! thousand levels deep or more. Dropping or formatting it the obvious way recurses once per
//! level. Both hook into [`Failure`], which every level goes through, rather than into the
//! error types, so they hold whatever type does the nesting.
//!
//! # Dropping
//!
//! A failure's error is dropped through [`drop_error`]. The outermost drop on a thread drops
//! its error and then, in a loop, the errors of the failures that drop let go of, which were
//! queued instead of dropped in place: what `chain/dispose.rs` does for chains. At thread exit
//! the queue may be gone; the loop carries on with a [`Spill`] (see `spill.rs`).
//!
//! # Formatting
//!
//! A failure's `Display` and `Debug` ([`show`]) count, on the thread, the failures being
//! formatted one inside the other. The first [`SHOWN`] levels are written as usual; a failure
//! below them writes `... and N more levels` in place of itself, unless nothing is nested in it
//! (then it is written as usual too). N is found by formatting the levels below into nothing,
//! one level at a time, while each nested failure's formatting hands the failure over instead
//! of writing it ([`levels_from`]).
//!
//! Part of the foundation: it knows nothing of chains, Deferreds or anything built on them.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::error::Error;
use std::fmt::{self, Write as _};

use crate::failure::Failure;
use crate::foundation::spill::Spill;

/// A failure's error.
pub(crate) type BoxedError = Box<dyn Error + Send + Sync + 'static>;

/// [`STATE`]: this thread is inside [`drop_error`], and errors dropped meanwhile are queued.
const DROPPING: u8 = 1;
/// [`STATE`]: an error was queued since the loop last found nothing left.
const QUEUED: u8 = 2;
/// [`STATE`]: an error went to [`SPILLED`] since the loop last found none of this thread's
/// there.
const SPILLING: u8 = 4;

thread_local! {
    /// The drop loop's flags, in one cell: a plain failure's drop reads it twice and writes it
    /// twice.
    static STATE: Cell<u8> = const { Cell::new(0) };
    /// The queue, while this thread's thread-locals last.
    static QUEUE: RefCell<Vec<BoxedError>> = const { RefCell::new(Vec::new()) };
}

/// Errors queued after this thread's [`QUEUE`] was destroyed.
static SPILLED: Spill<BoxedError> = Spill::new();

fn state() -> u8 {
    STATE.with(Cell::get)
}

fn set_state(state: u8) {
    STATE.with(|s| s.set(state));
}

/// Drops a failure's error without recursing into the failures it holds.
#[inline(never)]
pub(crate) fn drop_error(error: BoxedError) {
    if state() & DROPPING != 0 {
        queue(error);
        return;
    }

    /// Ends the loop, also if a destructor unwinds: what is still queued is dropped then
    /// (each failure in it starting a loop of its own).
    struct Done;
    impl Drop for Done {
        fn drop(&mut self) {
            let state = state();
            set_state(0);
            if state & (QUEUED | SPILLING) != 0 {
                drop(take_all(state));
            }
        }
    }
    set_state(DROPPING);
    let done = Done;
    drop(error);
    if state() & QUEUED != 0 {
        drain();
    }
    // What `Done` does, less what it need not: the loop left nothing queued.
    std::mem::forget(done);
    set_state(0);
}

/// Drops what was queued, and what that queues in turn, until nothing is left.
#[cold]
fn drain() {
    while let Some(next) = pop() {
        drop(next);
    }
}

#[cold]
fn queue(error: BoxedError) {
    set_state(state() | QUEUED);
    if SPILLED.push_to(&QUEUE, error) {
        set_state(state() | SPILLING);
    }
}

/// The error queued last, if any is left.
fn pop() -> Option<BoxedError> {
    if let Ok(Some(error)) = QUEUE.try_with(|q| q.borrow_mut().pop()) {
        return Some(error);
    }
    if state() & SPILLING == 0 {
        return None;
    }
    let error = SPILLED.pop(true);
    if error.is_none() {
        set_state(state() & !SPILLING);
    }
    error
}

/// Everything still queued, to be dropped after the loop ends; `state` says where.
fn take_all(state: u8) -> Vec<BoxedError> {
    SPILLED.take_with(&QUEUE, state & SPILLING != 0)
}

/// How many levels of nested failures a formatted failure shows; documented on [`Failure`].
pub(crate) const SHOWN: usize = 16;

thread_local! {
    /// How many failures this thread is formatting, one inside the other.
    static LEVEL: Cell<usize> = const { Cell::new(0) };
    /// [`levels_from`] is under way: a failure being formatted is handed over, not written.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// The failures handed over.
    static MET: RefCell<Vec<Failure>> = const { RefCell::new(Vec::new()) };
    /// A failure went to [`MET_SPILLED`] since the count last took them.
    static MET_SPILLING: Cell<bool> = const { Cell::new(false) };
}

/// Failures handed over after this thread's [`MET`] was destroyed.
static MET_SPILLED: Spill<Failure> = Spill::new();

/// Formats `failure` with `body`, or, below the first [`SHOWN`] levels of failures being
/// formatted on this thread, says how many levels are left out instead.
pub(crate) fn show(
    failure: &Failure,
    f: &mut fmt::Formatter<'_>,
    body: impl FnOnce(&mut fmt::Formatter<'_>) -> fmt::Result,
) -> fmt::Result {
    if COUNTING.with(Cell::get) {
        meet(failure.clone());
        return Ok(());
    }
    let level = LEVEL.with(Cell::get);
    if level >= SHOWN {
        if level > SHOWN {
            // Inside a failure at the cut-off that has nothing nested in it: unreachable
            // unless its error formats differently each time.
            return f.write_str("...");
        }
        let levels = levels_from(failure);
        if levels > 1 {
            return write!(f, "... and {levels} more levels");
        }
    }

    /// Puts the level back, also if `body` unwinds.
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            LEVEL.with(|l| l.set(self.0));
        }
    }
    let _restore = Restore(LEVEL.with(|l| l.replace(level + 1)));
    body(f)
}

fn meet(failure: Failure) {
    if MET_SPILLED.push_to(&MET, failure) {
        MET_SPILLING.with(|s| s.set(true));
    }
}

fn take_met() -> Vec<Failure> {
    MET_SPILLED.take_with(&MET, MET_SPILLING.with(|s| s.replace(false)))
}

/// How many levels `top` and the failures nested in it make, `top` included: the length of
/// the longest nesting, each failure counted once, at the shallowest level it appears.
fn levels_from(top: &Failure) -> usize {
    /// Ends the count, also if an error's `Display` unwinds.
    struct Counting;
    impl Drop for Counting {
        fn drop(&mut self) {
            COUNTING.with(|c| c.set(false));
            drop(take_met());
        }
    }
    COUNTING.with(|c| c.set(true));
    let _counting = Counting;

    /// Where a level is formatted: nowhere.
    struct Discard;
    impl fmt::Write for Discard {
        fn write_str(&mut self, _: &str) -> fmt::Result {
            Ok(())
        }
    }

    let mut seen = HashSet::from([top.addr()]);
    let mut level = vec![top.clone()];
    let mut levels = 0;
    while !level.is_empty() {
        levels += 1;
        let mut next = Vec::new();
        for failure in &level {
            // The error's own `Display`: the failures nested in it are handed over.
            let _ = write!(Discard, "{}", failure.as_error());
            next.extend(take_met().into_iter().filter(|met| seen.insert(met.addr())));
        }
        level = next;
    }
    levels
}

/// Writes a `Caused by:` line for each of `error`'s sources, the first [`SHOWN`] of them, and
/// then one that says how many more there are.
pub(crate) fn write_causes<'a>(out: &mut String, error: &'a (dyn Error + 'static)) {
    let mut causes = std::iter::successors(error.source(), |&cause: &&'a dyn Error| cause.source());
    for cause in causes.by_ref().take(SHOWN) {
        let _ = writeln!(out, "Caused by: {cause}");
    }
    match causes.count() {
        0 => {}
        1 => out.push_str("Caused by: ... and 1 more cause\n"),
        more => {
            let _ = writeln!(out, "Caused by: ... and {more} more causes");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{FailureGroup, FirstError};

    fn nest(depth: usize, leaf: Failure) -> Failure {
        (0..depth).fold(leaf, |failure, _| Failure::new(FirstError { index: 0, failure }))
    }

    #[test]
    fn a_failure_as_deep_as_the_cut_off_is_shown_whole() {
        let failure = nest(SHOWN - 1, Failure::msg("leaf"));
        let whole = "input 0 failed first: ".repeat(SHOWN - 1) + "leaf";
        assert_eq!(failure.to_string(), whole);
        // One level deeper, the leaf is at the cut-off; with nothing nested in it, it is
        // still written.
        let failure = nest(SHOWN, Failure::msg("leaf"));
        assert_eq!(failure.to_string(), "input 0 failed first: ".repeat(SHOWN) + "leaf");
    }

    #[test]
    fn below_the_cut_off_the_levels_left_out_are_counted() {
        let failure = nest(SHOWN + 1, Failure::msg("leaf"));
        let text = "input 0 failed first: ".repeat(SHOWN) + "... and 2 more levels";
        assert_eq!(failure.to_string(), text);
        let failure = nest(1000, Failure::msg("leaf"));
        assert!(failure.to_string().ends_with(": ... and 985 more levels"));
    }

    #[test]
    fn the_count_follows_the_deepest_branch_and_counts_a_shared_failure_once() {
        // A group whose first member is shallow and whose second is deep: the count is the
        // deep one's, and a failure shared by both members is met once.
        let shared = Failure::msg("shared");
        let shallow = nest(1, shared.clone());
        let deep = nest(30, shared);
        let group = Failure::new(FailureGroup { failures: vec![shallow, deep] });
        let top = nest(SHOWN - 1, group);
        let text = top.to_string();
        // Level 16 is the group; its members are at the cut-off. The shallow one has a level
        // under it, and the deep one thirty.
        assert!(
            text.ends_with("all 2 inputs failed: ... and 2 more levels; ... and 31 more levels")
        );
        // Counted from the top, the shared failure is met first at the shallow member's level,
        // and so does not add a level under the deep one's thirty.
        assert_eq!(levels_from(&top), SHOWN + 30);
    }

    #[test]
    fn debug_counts_levels_as_display_does() {
        let failure = nest(SHOWN + 4, Failure::msg("leaf"));
        let debug = format!("{failure:?}");
        assert_eq!(
            debug,
            format!("<Failure deferreds::error::FirstError: {failure}>"),
            "the top failure is a level of its own"
        );
        assert!(debug.ends_with("... and 5 more levels>"));
    }

    #[derive(Debug)]
    struct PanicsBelow(Failure);

    impl fmt::Display for PanicsBelow {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            if self.0.check::<crate::failure::MessageError>() {
                panic!("no words");
            }
            write!(f, "below: {}", self.0)
        }
    }

    impl Error for PanicsBelow {}

    #[test]
    fn a_display_that_panics_while_the_levels_are_counted_leaves_nothing_behind() {
        let deep = Failure::new(PanicsBelow(Failure::msg("x")));
        let top = (0..SHOWN + 2).fold(deep, |f, _| Failure::new(PanicsBelow(f)));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| top.to_string()));
        assert!(panicked.is_err());
        assert_eq!(LEVEL.with(Cell::get), 0);
        assert!(!COUNTING.with(Cell::get));
        assert!(take_met().is_empty());
        let fine = nest(SHOWN + 2, Failure::msg("leaf"));
        assert!(fine.to_string().ends_with("... and 3 more levels"));
    }

    #[derive(Debug)]
    struct Chained(Option<Box<Chained>>);

    impl fmt::Display for Chained {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("link")
        }
    }

    impl Error for Chained {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.0.as_deref().map(|c| c as _)
        }
    }

    #[test]
    fn causes_past_the_cut_off_are_counted_on_one_line() {
        let chain = |n: usize| (0..n).fold(Chained(None), |c, _| Chained(Some(Box::new(c))));
        let mut out = String::new();
        write_causes(&mut out, &chain(SHOWN));
        assert_eq!(out, "Caused by: link\n".repeat(SHOWN));
        let mut out = String::new();
        write_causes(&mut out, &chain(SHOWN + 1));
        assert!(out.ends_with("Caused by: link\nCaused by: ... and 1 more cause\n"));
        let mut out = String::new();
        write_causes(&mut out, &chain(100));
        assert_eq!(out.lines().count(), SHOWN + 1);
        assert!(out.ends_with("Caused by: ... and 84 more causes\n"));
    }

    #[test]
    fn a_destructor_that_panics_in_the_drop_loop_reaches_the_dropper_after_the_rest_was_dropped() {
        #[derive(Debug)]
        struct Boom(std::sync::Arc<std::sync::atomic::AtomicUsize>);
        impl fmt::Display for Boom {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("boom")
            }
        }
        impl Error for Boom {}
        impl Drop for Boom {
            fn drop(&mut self) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if !std::thread::panicking() {
                    panic!("an error's destructor");
                }
            }
        }
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let boom = |inner: Vec<Failure>| {
            let group = Failure::new(FailureGroup { failures: inner });
            Failure::new(FailureGroup {
                failures: vec![group, Failure::new(Boom(dropped.clone()))],
            })
        };
        // The loop drops the queued errors last in, first out: the `Boom` beside the group first,
        // and the group's members after its panic.
        let top = boom(vec![Failure::new(Boom(dropped.clone())), nest(3, Failure::msg("x"))]);
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(top)));
        assert!(unwound.is_err());
        assert_eq!(dropped.load(std::sync::atomic::Ordering::SeqCst), 2, "every error went");
        assert_eq!(state(), 0, "the loop is over");
        drop(nest(3, Failure::msg("after")));
        assert_eq!(state(), 0);
    }

    #[test]
    fn a_failure_dropped_while_failures_are_being_dropped_waits_for_the_loop() {
        #[derive(Debug)]
        struct Log(&'static str, std::sync::Arc<parking_lot::Mutex<Vec<&'static str>>>);
        impl fmt::Display for Log {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
        }
        impl Error for Log {}
        impl Drop for Log {
            fn drop(&mut self) {
                self.1.lock().push(self.0);
            }
        }
        #[derive(Debug)]
        struct Holds(Failure, Log);
        impl fmt::Display for Holds {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}: {}", self.1, self.0)
            }
        }
        impl Error for Holds {}

        let log = std::sync::Arc::default();
        let inner = Failure::new(Log("inner", std::sync::Arc::clone(&log)));
        let outer = Failure::new(Holds(inner, Log("outer", std::sync::Arc::clone(&log))));
        drop(outer);
        // In place, the inner failure (the first field) would go first; the loop queues it
        // and drops it once the outer error is gone.
        assert_eq!(*log.lock(), ["outer", "inner"]);
        assert_eq!(state(), 0);
    }
}
