//! The reactor's system events and their triggers (Twisted's `addSystemEventTrigger`), and
//! [`ReactorFailure`], what the reactor reports when a call it runs panics.
//!
//! Part of the reactor, on the typed Deferred: it knows nothing of the engine's insides, the
//! combinators, the primitives or the async bridge.

use std::fmt;

use crate::deferred::Deferred;
use crate::failure::Failure;
use crate::foundation::contain;

#[cfg(doc)]
use super::Reactor;

/// A trigger: runs once, and may hand back a Deferred for the event to wait for.
pub(super) type Trigger = Box<dyn FnOnce() -> Option<Deferred<()>> + Send>;

/// One event's triggers, by phase.
#[derive(Default)]
pub(super) struct Triggers {
    pub(super) before: Vec<(u64, Trigger)>,
    pub(super) during: Vec<(u64, Trigger)>,
    pub(super) after: Vec<(u64, Trigger)>,
    /// "Before" Deferreds still pending for the event being fired.
    pub(super) waiting: usize,
}

impl Triggers {
    pub(super) fn phase(&mut self, phase: Phase) -> &mut Vec<(u64, Trigger)> {
        match phase {
            Phase::Before => &mut self.before,
            Phase::During => &mut self.during,
            Phase::After => &mut self.after,
        }
    }
}

/// The reactor's two system events (Twisted's `"startup"` and `"shutdown"`).
///
/// ```
/// use deferreds::reactor::{Phase, Reactor, SystemEvent};
/// let reactor = Reactor::new();
/// let r = reactor.clone();
/// reactor.add_system_event_trigger(Phase::After, SystemEvent::Startup, move || r.stop().unwrap());
/// reactor.run().unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SystemEvent {
    /// Fired by [`Reactor::run`] before the first iteration.
    Startup,
    /// Fired at the end of the iteration in which [`Reactor::stop`] was called.
    Shutdown,
}

/// When a trigger runs relative to its event (Twisted's `"before"`, `"during"`, `"after"`).
///
/// "Before" triggers run first and may return a Deferred: the event waits until all of them
/// have fired, while the loop keeps running timers. Then "during" triggers run (the reactor
/// becomes [`running`](Reactor::running) just before the "during startup" ones and stops being
/// running just before the "during shutdown" ones), then "after" triggers.
///
/// ```
/// use deferreds::reactor::{Phase, Reactor, SystemEvent};
/// use deferreds::testing::Recorder;
///
/// let reactor = Reactor::new();
/// let log = Recorder::new();
/// for (phase, name) in [(Phase::After, "after"), (Phase::Before, "before"), (Phase::During, "during")] {
///     let l = log.clone();
///     reactor.add_system_event_trigger(phase, SystemEvent::Shutdown, move || l.record(name));
/// }
/// let r = reactor.clone();
/// reactor.call_when_running(move || r.stop().unwrap());
/// reactor.run().unwrap();
/// assert_eq!(log.take(), ["before", "during", "after"]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Before the event; may delay it with a Deferred.
    Before,
    /// The event itself.
    During,
    /// After the event.
    After,
}

/// Identifies a trigger added by [`Reactor::add_system_event_trigger`] or
/// [`Reactor::call_when_running`], to [remove](Reactor::remove_system_event_trigger) it.
///
/// ```
/// use deferreds::reactor::Reactor;
/// let reactor = Reactor::new();
/// let id = reactor.call_when_running(|| unreachable!("removed")).unwrap();
/// assert!(reactor.remove_system_event_trigger(id));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TriggerId {
    pub(super) event: SystemEvent,
    pub(super) phase: Phase,
    pub(super) id: u64,
}

/// What a system event trigger may return: `()`, or (useful in [`Phase::Before`]) a Deferred
/// that the event waits for. Its value is ignored; a failure is reported to the failure
/// handler.
///
/// ```
/// use deferreds::reactor::TriggerResult;
/// assert!(().into_wait().is_none());
/// assert!(deferreds::succeed(5).into_wait().is_some());
/// ```
pub trait TriggerResult: Send + 'static {
    /// The Deferred to wait for, if any, with its value dropped.
    ///
    /// ```
    /// use deferreds::reactor::TriggerResult;
    /// let wait = deferreds::succeed("flushed").into_wait().unwrap();
    /// deferreds::testing::success_result_of(wait);
    /// ```
    fn into_wait(self) -> Option<Deferred<()>>;
}

impl TriggerResult for () {
    fn into_wait(self) -> Option<Deferred<()>> {
        None
    }
}

impl<T: Send + 'static> TriggerResult for Deferred<T> {
    fn into_wait(self) -> Option<Deferred<()>> {
        Some(self.map(|_| ()))
    }
}

/// A panic (or a failed "before" trigger's Deferred) that the reactor caught and went on from.
///
/// Its `Display` is what the default handler prints:
///
/// ```text
/// Unhandled error while handling timed call:
/// <the failure's traceback>
/// ```
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use deferreds::reactor::{Reactor, ReactorFailure};
///
/// let reactor = Reactor::new();
/// let reports: Arc<Mutex<Vec<ReactorFailure>>> = Arc::default();
/// let r = reports.clone();
/// reactor.set_failure_handler(move |report| r.lock().unwrap().push(report.clone()));
/// reactor.call_from_thread(|| panic!("oops"));
/// let stop = reactor.clone();
/// reactor.call_later(0.0, move || stop.stop().unwrap()).unwrap();
/// reactor.run().unwrap();
/// let report = reports.lock().unwrap().pop().unwrap();
/// assert!(report.to_string().starts_with("Unhandled error while calling from thread:\n"));
/// ```
#[derive(Debug, Clone)]
pub struct ReactorFailure {
    pub(super) context: &'static str,
    pub(super) failure: Failure,
}

impl ReactorFailure {
    /// What the reactor was doing, in Twisted's words: `"while handling timed call"`, `"while
    /// calling from thread"` or `"while calling system event trigger handler"`.
    ///
    /// ```
    /// use deferreds::reactor::Reactor;
    /// let reactor = Reactor::new();
    /// reactor.set_failure_handler(|report| assert_eq!(report.context(), "while handling timed call"));
    /// reactor.call_later(0.0, || panic!("in a timer")).unwrap();
    /// let r = reactor.clone();
    /// reactor.call_later(0.0, move || r.stop().unwrap()).unwrap();
    /// reactor.run().unwrap();
    /// ```
    pub fn context(&self) -> &'static str {
        self.context
    }

    /// The failure: a [`PanicError`](crate::PanicError) for a panic.
    ///
    /// ```
    /// use deferreds::reactor::Reactor;
    /// let reactor = Reactor::new();
    /// reactor.set_failure_handler(|report| {
    ///     assert!(report.failure().check::<deferreds::PanicError>());
    ///     assert_eq!(report.failure().error_message(), "in a timer");
    /// });
    /// reactor.call_later(0.0, || panic!("in a timer")).unwrap();
    /// let r = reactor.clone();
    /// reactor.call_later(0.0, move || r.stop().unwrap()).unwrap();
    /// reactor.run().unwrap();
    /// ```
    pub fn failure(&self) -> &Failure {
        &self.failure
    }
}

impl ReactorFailure {
    /// The text of the report, which the error's `Display` must not stop: if formatting
    /// panics, the text says so in place of the error's message and traceback.
    pub(super) fn render(&self) -> String {
        contain::format_contained(self).unwrap_or_else(|panic| {
            format!(
                "Unhandled error {}:\n{}",
                self.context,
                contain::unprintable(&self.failure, &panic)
            )
        })
    }
}

impl fmt::Display for ReactorFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Unhandled error {}:\n{}", self.context, self.failure.traceback())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::foundation::contain::BadDisplay;

    #[test]
    fn a_report_whose_errors_display_panics_says_so() {
        let report = ReactorFailure { context: "while testing", failure: Failure::new(BadDisplay) };
        let text = report.render();
        assert!(text.starts_with("Unhandled error while testing:\n"), "{text}");
        assert!(text.contains("<formatting this error panicked: no words>"), "{text}");
    }
}
