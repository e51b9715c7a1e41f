//! [`react`]: run a reactor for as long as `main`'s Deferred takes (Twisted's `task.react`),
//! and turn its result into a process exit status.
//!
//! Part of the reactor, on the typed Deferred: it knows nothing of the engine's insides, the
//! combinators, the primitives or the async bridge.

use std::fmt;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::error::StoppedEarlyError;
use super::event_loop::Reactor;
use super::events::{Phase, SystemEvent};
use crate::deferred::Deferred;
use crate::failure::Failure;
use crate::foundation::contain;

/// Calls `main` with a new [`Reactor`], runs the reactor until the Deferred `main` returns
/// fires, stops it, and returns that Deferred's result (Twisted's `task.react`).
///
/// This is the way to write a program with a clear end, such as a client that fetches
/// something and exits: nothing needs to call [`stop`](Reactor::stop), and it is called once,
/// at the right time. `main` runs before the reactor starts; the reactor stops (running its
/// shutdown triggers) as soon as the Deferred has fired, even if it fired inside `main`.
///
/// If something else stops the reactor first, the Deferred is cancelled, and the result is a
/// [`StoppedEarlyError`] failure. [`exit_code`] turns the result into what a `main` returns,
/// printing a failure the way Twisted does:
///
/// ```no_run
/// use std::process::ExitCode;
/// use deferreds::reactor::{defer_later, exit_code, react};
///
/// fn main() -> ExitCode {
///     exit_code(react(|reactor| defer_later(reactor, 0.5, || println!("half a second later"))))
/// }
/// ```
///
/// The result itself, for a test or a caller that wants it:
///
/// ```
/// let answer = deferreds::reactor::react(|reactor| {
///     reactor.defer_to_thread(|| Ok(6 * 7)) // blocking work, on the reactor's pool
/// });
/// assert_eq!(answer.unwrap(), 42);
/// ```
pub fn react<T, F>(main: F) -> Result<T, Failure>
where
    T: Send + 'static,
    F: FnOnce(&Reactor) -> Deferred<T>,
{
    Reactor::new().react(main)
}

impl Reactor {
    /// [`react`] on this reactor, which must not have run: its handlers and settings (a
    /// [failure handler](Reactor::set_failure_handler), a
    /// [pool size](Reactor::suggest_thread_pool_size)) apply. A reactor that is running or
    /// has run gives a [`ReactorError`](super::ReactorError) failure, and `main` is not called.
    ///
    /// ```
    /// use deferreds::reactor::{Reactor, ReactorError};
    ///
    /// let reactor = Reactor::new();
    /// reactor.suggest_thread_pool_size(1).unwrap();
    /// let one = reactor.react(|r| r.defer_to_thread(|| Ok(1)));
    /// assert_eq!(one.unwrap(), 1);
    /// let again = reactor.react(|_| deferreds::succeed(2)).unwrap_err();
    /// assert_eq!(again.downcast_ref(), Some(&ReactorError::NotRestartable));
    /// ```
    pub fn react<T, F>(&self, main: F) -> Result<T, Failure>
    where
        T: Send + 'static,
        F: FnOnce(&Reactor) -> Deferred<T>,
    {
        self.can_run().map_err(Failure::new)?;
        let done = main(self);
        let result = Arc::new(Mutex::new(None));
        // Set in the "before shutdown" phase: a result that comes after that need not (and
        // cannot) stop the reactor, which is stopping already.
        let stopping = Arc::new(AtomicBool::new(false));
        let s = stopping.clone();
        self.add_system_event_trigger(Phase::Before, SystemEvent::Shutdown, move || {
            s.store(true, Ordering::SeqCst);
        });
        let (slot, r) = (result.clone(), self.clone());
        let watched = done.add_both(move |outcome| {
            *slot.lock() = Some(outcome);
            if !stopping.load(Ordering::SeqCst) {
                // At once on the running reactor's thread, at startup if the result came
                // before `run`, handed over from any other thread.
                let r2 = r.clone();
                r.call_when_running(move || {
                    let _ = r2.stop();
                });
            }
        });
        self.run().map_err(Failure::new)?;
        if let Some(outcome) = result.lock().take() {
            return outcome;
        }
        // Stopped by someone else: nothing will run the Deferred's callbacks any more.
        watched.cancel();
        // What the cancellation left is not returned. Its destructor is user code, which must
        // not take the `StoppedEarlyError` with it: a panic there is reported.
        let discarded = result.lock().take();
        contain::drop_reporting(discarded);
        Err(Failure::new(StoppedEarlyError))
    }
}

/// Twisted's `SystemExit` for [`react`]: a `main` whose Deferred fails with `Exit(code)`
/// makes [`exit_code`] return that status, without printing anything.
///
/// ```
/// use deferreds::Failure;
/// use deferreds::reactor::{Exit, exit_status, react};
///
/// let result = react(|_| deferreds::fail::<()>(Failure::new(Exit(3))));
/// assert_eq!(exit_status(&result), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("exit with status {0}")]
pub struct Exit(pub u8);

/// The exit status for a [`react`] result, as Twisted's `react` chooses it: 0 for a value,
/// the code of an [`Exit`] failure, and 1 for any other failure.
///
/// ```
/// use deferreds::Failure;
/// use deferreds::reactor::{Exit, exit_status};
///
/// assert_eq!(exit_status(&Ok::<_, Failure>("done")), 0);
/// assert_eq!(exit_status::<()>(&Err(Failure::new(Exit(4)))), 4);
/// assert_eq!(exit_status::<()>(&Err(Failure::msg("connection refused"))), 1);
/// ```
pub fn exit_status<T>(result: &Result<T, Failure>) -> u8 {
    match result {
        Ok(_) => 0,
        Err(failure) => failure.downcast_ref::<Exit>().map_or(1, |exit| exit.0),
    }
}

/// Turns a [`react`] result into a `main`'s return value: [`exit_status`], after printing a
/// failure (other than [`Exit`]) with its traceback on standard error, under Twisted's
/// heading, `main function encountered error`.
///
/// ```
/// use std::process::ExitCode;
/// use deferreds::reactor::{exit_code, react};
///
/// let code = exit_code(react(|_| deferreds::succeed(())));
/// assert_eq!(code, ExitCode::SUCCESS);
/// ```
pub fn exit_code<T>(result: Result<T, Failure>) -> ExitCode {
    let _ = write_failure(&mut std::io::stderr().lock(), &result);
    ExitCode::from(exit_status(&result))
}

/// What [`exit_code`] prints for `result`: nothing for a value or an [`Exit`]. The error's
/// `Display` is user code; if it panics, the text says so, and the status is still returned.
fn write_failure<T>(out: &mut impl Write, result: &Result<T, Failure>) -> std::io::Result<()> {
    /// A failure's traceback, as `Display`.
    struct Traceback<'a>(&'a Failure);
    impl fmt::Display for Traceback<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.0.traceback())
        }
    }
    match result {
        Err(failure) if !failure.check::<Exit>() => {
            let traceback = contain::format_contained(&Traceback(failure))
                .unwrap_or_else(|panic| contain::unprintable(failure, &panic));
            write!(out, "main function encountered error\n{traceback}")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed<T>(result: &Result<T, Failure>) -> String {
        let mut out = Vec::new();
        write_failure(&mut out, result).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_failure_is_printed_with_its_traceback_and_a_value_or_an_exit_is_not() {
        let text = printed::<()>(&Err(Failure::msg("no poem")));
        assert!(text.starts_with("main function encountered error\nTraceback"), "{text}");
        assert!(text.ends_with("deferreds::failure::MessageError: no poem\n"), "{text}");
        assert_eq!(printed(&Ok::<_, Failure>(1)), "");
        assert_eq!(printed::<()>(&Err(Failure::new(Exit(2)))), "");
    }

    use crate::foundation::contain::BadDisplay;

    #[test]
    fn a_failure_whose_display_panics_is_printed_as_such_with_exit_status_one() {
        let result = Err::<(), _>(Failure::new(BadDisplay));
        let text = printed(&result);
        assert!(text.starts_with("main function encountered error\n"), "{text}");
        assert!(text.contains("BadDisplay: <formatting this error panicked: no words>"), "{text}");
        assert_eq!(exit_code(result), ExitCode::from(1));
    }
}
