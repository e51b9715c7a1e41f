//! The boundaries for user code that the crate drops or formats where a panic must not unwind.
//!
//! Most user code runs inside a boundary that turns a panic into a failure of the chain it
//! belongs to: a step (`chain::run::run_steps`), a canceller (`Chain::cancel`), a future's poll and
//! destructor (`task`). What is left is user code the crate drops or formats at a point where
//! no chain can take the panic, and where unwinding would leave work half done: a trampoline
//! that still owns runs, a combinator that has taken its Deferred out to fire it, a task being
//! freed, an unhandled-failure report. Those points call the helpers here, so that each one is
//! visible by name; `docs/reliability.md` lists them all.
//!
//! A `catch_unwind` costs nothing measurable while nothing panics, but it does keep the
//! compiler from folding the drop into its caller, so the helpers are used only where user
//! code may run (a value that may own user data, a canceller that exists), not on every path.
//!
//! Part of the foundation: it knows nothing of chains, Deferreds or anything built on them.

use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::failure::Failure;
use crate::foundation::unhandled::{self, UnhandledFailure};

/// Drops `value`, whose destructor may be user code, at a point where a panic must not unwind:
/// a panic becomes a [`PanicError`](crate::PanicError) failure sent to the unhandled-failure
/// report, created at the caller's location.
#[track_caller]
pub(crate) fn drop_reporting<T>(value: T) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
        unhandled::report(UnhandledFailure::new(Failure::from_panic(payload), None));
    }
}

/// Drops the half of a step that does not run: a callback on the failure track, an errback on
/// the value track, `add_timeout_with`'s conversion when no timeout happened. Its destructor is
/// user code, but the result passes through untouched, so a panic there is reported rather than
/// replacing that result. (Left to the end of the step, the drop would also make Rust leak the
/// result already built: a return value is not dropped when a local's destructor panics after
/// it was made.) A closure with nothing to drop, the usual case, costs nothing here.
#[inline(always)]
#[track_caller]
pub(crate) fn drop_unused<F>(unused: F) {
    if std::mem::needs_drop::<F>() {
        drop_reporting(unused);
    }
}

/// Drops a panic's payload, which is user data: `std::panic::panic_any` may carry a value whose
/// destructor panics too, and that panic would unwind out of the boundary that caught the
/// first. Its payload is dropped the same way; a payload that keeps panicking is leaked after a
/// few rounds rather than dropped forever.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    let mut payload = payload;
    for _ in 0..4 {
        match catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            Ok(()) => return,
            Err(next) => payload = next,
        }
    }
    std::mem::forget(payload);
}

/// Keeps the first of several panics caught in one loop, to pass on once the loop is done, and
/// drops the payload of any later one with [`drop_payload`].
pub(crate) fn keep_first(first: &mut Option<Box<dyn Any + Send>>, payload: Box<dyn Any + Send>) {
    match first {
        None => *first = Some(payload),
        Some(_) => drop_payload(payload),
    }
}

/// Formats `what`, whose `Display` may be user code (an error's message), or returns the panic
/// message if formatting panicked.
pub(crate) fn format_contained(what: &dyn fmt::Display) -> Result<String, String> {
    catch_unwind(AssertUnwindSafe(|| what.to_string()))
        .map_err(|payload| Failure::from_panic(payload).error_message())
}

/// What a report says in place of `failure` when formatting it panicked: the error's type, the
/// panic, and where the failure was made, none of which runs user code.
pub(crate) fn unprintable(failure: &Failure, panic: &str) -> String {
    format!(
        "{}: <formatting this error panicked: {panic}>\nFailure created at {}\n",
        failure.type_name(),
        failure.location()
    )
}

/// An error whose `Display` panics, with the message "no words": for the tests of every place
/// that formats a failure.
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct BadDisplay;

#[cfg(test)]
impl fmt::Display for BadDisplay {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("no words")
    }
}

#[cfg(test)]
impl std::error::Error for BadDisplay {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_that_panics_gives_the_panic_message_and_a_note_without_user_code() {
        let failure = Failure::new(BadDisplay);
        let panic = format_contained(&failure).unwrap_err();
        assert_eq!(panic, "no words");
        let note = unprintable(&failure, &panic);
        assert!(
            note.starts_with(
                "deferreds::foundation::contain::BadDisplay: <formatting this error panicked: no words>\n"
            ),
            "{note}"
        );
        assert!(note.contains(&format!("Failure created at {}:", file!())), "{note}");
        assert_eq!(format_contained(&Failure::msg("fine")).unwrap(), "fine");
    }

    #[test]
    fn drop_reporting_reports_a_panicking_destructor_and_nothing_else() {
        struct Boom;
        impl Drop for Boom {
            fn drop(&mut self) {
                panic!("boom");
            }
        }
        let ((), reports) = unhandled::capture(|| {
            drop_reporting(Boom);
            drop_reporting(String::from("quiet"));
        });
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].failure().error_message(), "boom");
        assert_eq!(reports[0].failure().location().file(), file!());
    }
}
