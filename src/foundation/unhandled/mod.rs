//! Reporting failures that nobody handled.
//!
//! A chain that ends on a [`Failure`] reports it when its last handle is dropped: the tail, every
//! [`Resolver`](crate::Resolver), and any chain or future waiting on it. The moment is
//! deterministic, unlike Twisted's report at garbage collection. A failure that an errback
//! consumed, or that was handed to an outer chain or an `.await`, is not reported.
//!
//! By default the report goes to standard error as an "Unhandled error in Deferred:" block.
//! [`set_unhandled_hook`] routes it elsewhere (a logger, a counter, a panic in strict test
//! suites), and [`testing::capture_unhandled`](crate::testing::capture_unhandled) collects the
//! reports of one closure on the current thread.
//!
//! Part of the foundation: it knows nothing of chains, Deferreds or anything built on them.

use std::cell::RefCell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::failure::Failure;
use crate::foundation::contain;

pub(crate) mod shared;

/// A failure that reached the end of a chain with nobody to handle it.
///
/// ```
/// use deferreds::testing::capture_unhandled;
///
/// let ((), reports) = capture_unhandled(|| drop(deferreds::fail::<u8>(deferreds::Failure::msg("lost"))));
/// assert_eq!(reports.len(), 1);
/// assert!(reports[0].to_string().starts_with("Unhandled error in Deferred:\n"));
/// ```
#[derive(Clone)]
pub struct UnhandledFailure {
    failure: Failure,
    debug: Option<String>,
}

impl UnhandledFailure {
    pub(crate) fn new(failure: Failure, debug: Option<String>) -> UnhandledFailure {
        UnhandledFailure { failure, debug }
    }

    /// The failure the chain ended with.
    ///
    /// ```
    /// use deferreds::testing::capture_unhandled;
    ///
    /// let ((), reports) = capture_unhandled(|| drop(deferreds::fail::<u8>(deferreds::Failure::msg("lost"))));
    /// assert_eq!(reports[0].failure().error_message(), "lost");
    /// ```
    pub fn failure(&self) -> &Failure {
        &self.failure
    }

    /// Where the Deferred was created and fired, when [debug mode](crate::set_debugging) was on
    /// as it was created.
    ///
    /// ```
    /// use deferreds::testing::capture_unhandled;
    ///
    /// let lose = || drop(deferreds::fail::<u8>(deferreds::Failure::msg("lost")));
    /// let ((), quiet) = capture_unhandled(lose);
    /// assert!(quiet[0].debug_info().is_none());
    /// deferreds::set_debugging(true);
    /// let ((), debug) = capture_unhandled(lose);
    /// deferreds::set_debugging(false);
    /// assert!(debug[0].debug_info().unwrap().contains("Deferred was created at"));
    /// ```
    pub fn debug_info(&self) -> Option<&str> {
        self.debug.as_deref()
    }
}

impl fmt::Display for UnhandledFailure {
    /// The text the default hook prints: a header, the traceback, and the debug lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Unhandled error in Deferred:\n{}", self.failure.traceback())?;
        if let Some(debug) = &self.debug {
            writeln!(f, "(debug:{debug})")?;
        }
        Ok(())
    }
}

impl UnhandledFailure {
    /// The text of the report, which the error's `Display` must not stop: if formatting
    /// panics, the text says so in place of the error's message and traceback.
    fn render(&self) -> String {
        match contain::format_contained(self) {
            Ok(text) => text,
            Err(panic) => {
                let mut text = format!(
                    "Unhandled error in Deferred:\n{}",
                    contain::unprintable(&self.failure, &panic)
                );
                if let Some(debug) = &self.debug {
                    text.push_str(&format!("(debug:{debug})\n"));
                }
                text
            }
        }
    }
}

impl fmt::Debug for UnhandledFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnhandledFailure")
            .field("failure", &self.failure)
            .field("debug", &self.debug)
            .finish()
    }
}

type Hook = Arc<dyn Fn(&UnhandledFailure) + Send + Sync>;

static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

thread_local! {
    static CAPTURED: RefCell<Option<Vec<UnhandledFailure>>> = const { RefCell::new(None) };
}

/// Sends unhandled-failure reports to `hook` instead of standard error.
///
/// The hook runs on whichever thread drops the last handle. A panic inside it is caught and
/// the report printed instead, so a faulty hook cannot unwind through the drop that called it;
/// if formatting the error panics too, the printed report says so.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// static SEEN: AtomicUsize = AtomicUsize::new(0);
///
/// deferreds::set_unhandled_hook(|report| {
///     assert_eq!(report.failure().error_message(), "lost");
///     SEEN.fetch_add(1, Ordering::SeqCst);
/// });
/// drop(deferreds::fail::<()>(deferreds::Failure::msg("lost")));
/// assert_eq!(SEEN.load(Ordering::SeqCst), 1);
/// deferreds::reset_unhandled_hook();
/// ```
pub fn set_unhandled_hook(hook: impl Fn(&UnhandledFailure) + Send + Sync + 'static) {
    let old = HOOK.write().replace(Arc::new(hook));
    // The old hook is user code, and dropping it may report a failure it owned, which reads
    // the hook: after the lock is released.
    drop(old);
}

/// Restores the default report to standard error.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let seen = Arc::new(AtomicUsize::new(0));
/// let count = seen.clone();
/// deferreds::set_unhandled_hook(move |_| {
///     count.fetch_add(1, Ordering::SeqCst);
/// });
/// drop(deferreds::fail::<u8>(deferreds::Failure::msg("to the hook")));
/// deferreds::reset_unhandled_hook();
/// drop(deferreds::fail::<u8>(deferreds::Failure::msg("to standard error")));
/// assert_eq!(seen.load(Ordering::SeqCst), 1);
/// ```
pub fn reset_unhandled_hook() {
    let old = HOOK.write().take();
    drop(old);
}

/// Collects the reports made on this thread while `f` runs, instead of passing them on.
pub(crate) fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<UnhandledFailure>) {
    /// Puts back the enclosing capture, also when `f` panics.
    struct Restore(Option<Option<Vec<UnhandledFailure>>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(outer) = self.0.take() {
                let _ = CAPTURED.try_with(|c| *c.borrow_mut() = outer);
            }
        }
    }
    let outer = CAPTURED.with(|c| c.borrow_mut().replace(Vec::new()));
    let restore = Restore(Some(outer));
    let result = f();
    let captured = CAPTURED.with(|c| c.borrow_mut().take()).unwrap_or_default();
    drop(restore);
    (result, captured)
}

/// Hands one report to the thread's capture, the hook, or standard error.
pub(crate) fn report(report: UnhandledFailure) {
    // A failure shared by several observers is reported once, for all of them.
    let Some(report) = shared::intercept(report) else { return };
    crate::foundation::trace::unhandled(&report);
    let mut slot = Some(report);
    let _ = CAPTURED.try_with(|c| {
        if let Some(list) = c.borrow_mut().as_mut() {
            list.extend(slot.take());
        }
    });
    let Some(report) = slot else { return };
    let hook = HOOK.read().clone();
    let outcome = catch_unwind(AssertUnwindSafe(|| match &hook {
        Some(hook) => hook(&report),
        None => write_stderr(&report.render()),
    }));
    if let Err(payload) = outcome {
        contain::drop_payload(payload);
        let text = report.render();
        write_stderr(&format!(
            "deferreds: the unhandled-failure hook panicked while reporting:\n{text}"
        ));
    }
    // A report runs inside drops, and so must never unwind: the report may hold the last
    // reference to the failure (whose error's destructor is user code), and the hook the last
    // reference to a hook replaced meanwhile.
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop((report, hook)))) {
        contain::drop_payload(payload);
        write_stderr("deferreds: a destructor panicked while an unhandled-failure report ended\n");
    }
}

/// Prints to standard error (where the test harness captures it), ignoring a failed write,
/// on which `eprint!` panics.
fn write_stderr(text: &str) {
    let _ = catch_unwind(|| eprint!("{text}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::foundation::contain::BadDisplay;

    #[test]
    fn reports_say_that_the_errors_display_panicked() {
        let report = UnhandledFailure::new(Failure::new(BadDisplay), Some(" made here".into()));
        let text = report.render();
        assert!(text.starts_with("Unhandled error in Deferred:\n"), "{text}");
        assert!(text.contains("<formatting this error panicked: no words>"), "{text}");
        assert!(text.ends_with("(debug: made here)\n"), "{text}");
        let fine = UnhandledFailure::new(Failure::msg("fine"), None);
        assert_eq!(fine.render(), fine.to_string());
    }

    #[test]
    fn a_report_whose_failure_drops_with_a_panic_whose_payload_panics_too_never_unwinds() {
        /// A panic payload whose own destructor panics.
        struct Payload;
        impl Drop for Payload {
            fn drop(&mut self) {
                panic!("the payload's drop");
            }
        }
        #[derive(Debug)]
        struct Poisoned;
        impl fmt::Display for Poisoned {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("poisoned")
            }
        }
        impl std::error::Error for Poisoned {}
        impl Drop for Poisoned {
            fn drop(&mut self) {
                std::panic::panic_any(Payload);
            }
        }
        let reported = catch_unwind(|| report(UnhandledFailure::new(Failure::new(Poisoned), None)));
        assert!(reported.is_ok(), "the report unwound");
    }
}
