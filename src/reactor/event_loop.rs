//! [`Reactor`]: a real-time run loop of timers and cross-thread calls (Twisted's reactor,
//! without the I/O).
//!
//! Part of the reactor, on the typed Deferred: it knows nothing of the engine's insides, the
//! combinators, the primitives or the async bridge.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Weak};
use std::thread::{self, ThreadId};

use parking_lot::{Mutex, MutexGuard};

use super::delayed::DelayedCall;
use super::error::{InvalidDelayError, ReactorError};
use super::events::{
    Phase, ReactorFailure, SystemEvent, Trigger, TriggerId, TriggerResult, Triggers,
};
use super::pool::Pool;
use super::queue::Timers;
use super::seconds::Seconds;
use super::time::{Time, WeakTime};
use crate::failure::Failure;

mod running;

/// A run loop on real, monotonic time: it runs timed calls when they come due and calls that
/// other threads hand it, and sleeps in between (Twisted's reactor, without the I/O).
///
/// [`run`](Reactor::run) blocks the calling thread, the *reactor thread*, until
/// [`stop`](Reactor::stop) is called and shutdown completes. Everything the reactor runs
/// (timed calls, [`call_from_thread`](Reactor::call_from_thread) calls,
/// [`call_when_running`](Reactor::call_when_running) calls and event triggers) runs on that
/// thread, one at a time, so a call that blocks delays every later one. Between calls the loop
/// sleeps until the next timer is due or another thread wakes it; it never polls.
///
/// ```
/// use deferreds::reactor::Reactor;
/// use deferreds::testing::Recorder;
///
/// let reactor = Reactor::new();
/// let log = Recorder::new();
/// let (l1, l2, r) = (log.clone(), log.clone(), reactor.clone());
/// reactor.call_when_running(move || l1.record("running"));
/// reactor.call_later(0.01, move || {
///     l2.record("10 ms later");
///     r.stop().unwrap();
/// }).unwrap();
/// reactor.run().unwrap();
/// assert_eq!(log.take(), ["running", "10 ms later"]);
/// ```
///
/// Handles are cheap to clone, `Send` and `Sync`: every method may be called from any thread,
/// and a clone moved into a closure is how a call reaches the reactor. A reactor runs once:
/// when `run` returns, calls still pending are discarded (their closures dropped, their
/// [`DelayedCall`]s [`cancelled`](DelayedCall::cancelled)), and anything scheduled later is
/// discarded at once, since it could never run. This also frees closures that hold a handle to
/// the reactor (on a reactor that never runs, such a closure keeps it alive, as any `Arc`
/// cycle would).
///
/// A panic in a call is caught and reported to the [failure
/// handler](Reactor::set_failure_handler) (by default, printed to standard error like
/// Twisted's "while handling timed call" log), and the loop goes on.
#[derive(Clone)]
pub struct Reactor {
    shared: Arc<Shared>,
}

struct Shared {
    timers: Arc<Timers>,
    state: Mutex<State>,
    /// The thread pool behind `defer_to_thread` and `call_in_thread` (`threads.rs`).
    pool: Pool,
}

struct State {
    /// `run` has been called and has not returned.
    started: bool,
    /// `run` has returned: the reactor cannot run again.
    done: bool,
    /// Between the "during startup" and "during shutdown" phases (Twisted's `running`).
    running: bool,
    /// `stop` is refused (Twisted's `_stopped`): before `run`, and from the first `stop` on.
    stopped: bool,
    /// `stop` was called and the shutdown event has not been fired yet (`_justStopped`).
    just_stopped: bool,
    /// The "during shutdown" phase has run: the loop ends after this iteration.
    crashed: bool,
    /// The thread inside `run`.
    thread: Option<ThreadId>,
    /// Calls from `call_from_thread`, oldest first.
    thread_calls: Vec<Job>,
    startup: Triggers,
    shutdown: Triggers,
    next_trigger: u64,
    /// Events whose "before" Deferreds have all fired: their "during" and "after" phases are
    /// due on the reactor thread.
    continuing: VecDeque<SystemEvent>,
    /// Failures of "before" Deferreds, to report on the reactor thread.
    trigger_failures: Vec<Failure>,
    handler: Option<Handler>,
}

type Handler = Arc<dyn Fn(&ReactorFailure) + Send + Sync>;
type Job = Box<dyn FnOnce() + Send + 'static>;

const TIMED_CALL: &str = "while handling timed call";
const THREAD_CALL: &str = "while calling from thread";
const TRIGGER: &str = "while calling system event trigger handler";
const POOL_RESULT: &str = "while delivering a thread's result";

impl Reactor {
    /// A reactor that has not run yet; its clock starts at 0 now.
    ///
    /// ```
    /// let reactor = deferreds::reactor::Reactor::new();
    /// assert!(!reactor.running());
    /// assert!(reactor.seconds() < 1.0);
    /// ```
    pub fn new() -> Reactor {
        let timers = Timers::monotonic();
        Reactor {
            shared: Arc::new(Shared {
                pool: Pool::new(timers.clone()),
                timers,
                state: Mutex::new(State {
                    started: false,
                    done: false,
                    running: false,
                    stopped: true,
                    just_stopped: false,
                    crashed: false,
                    thread: None,
                    thread_calls: Vec::new(),
                    startup: Triggers::default(),
                    shutdown: Triggers::default(),
                    next_trigger: 0,
                    continuing: VecDeque::new(),
                    trigger_failures: Vec::new(),
                    handler: None,
                }),
            }),
        }
    }

    /// Monotonic seconds since the reactor was created (Twisted's `seconds()` is wall-clock
    /// time, which can jump).
    ///
    /// ```
    /// let reactor = deferreds::reactor::Reactor::new();
    /// let (a, b) = (reactor.seconds(), reactor.seconds());
    /// assert!(b >= a);
    /// ```
    pub fn seconds(&self) -> f64 {
        self.shared.timers.now()
    }

    /// Runs `f` on the reactor thread once `delay` seconds have passed ([`Time::call_later`]).
    ///
    /// May be called from any thread; a call that becomes the earliest wakes the sleeping
    /// loop. A call scheduled for now from inside a timed call runs on the next iteration, as
    /// in Twisted.
    ///
    /// ```
    /// let reactor = deferreds::reactor::Reactor::new();
    /// let r = reactor.clone();
    /// reactor.call_later(0.0, move || r.stop().unwrap()).unwrap();
    /// reactor.run().unwrap();
    /// ```
    pub fn call_later<F>(
        &self,
        delay: impl Into<Seconds>,
        f: F,
    ) -> Result<DelayedCall, InvalidDelayError>
    where
        F: FnOnce() + Send + 'static,
    {
        self.shared.timers.schedule(delay.into().as_secs_f64(), f).map(DelayedCall::new)
    }

    /// Hands `f` to the reactor thread, waking the loop at once; `f` runs at the start of the
    /// next iteration, after the calls handed over before it (Twisted's `callFromThread`).
    ///
    /// Calls handed over before [`run`](Reactor::run) run in its first iteration; after `run`
    /// has returned, `f` is dropped.
    ///
    /// ```
    /// use deferreds::reactor::Reactor;
    ///
    /// let reactor = Reactor::new();
    /// let r = reactor.clone();
    /// let worker = std::thread::spawn(move || {
    ///     let answer = 6 * 7; // some work off the reactor thread
    ///     let r2 = r.clone();
    ///     r.call_from_thread(move || {
    ///         assert_eq!(answer, 42);
    ///         r2.stop().unwrap();
    ///     });
    /// });
    /// reactor.run().unwrap();
    /// worker.join().unwrap();
    /// ```
    pub fn call_from_thread<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        // After `run` has returned, `f` is dropped, once the lock is released.
        let Some(mut st) = self.state_unless_done() else { return };
        st.thread_calls.push(Box::new(f));
        drop(st);
        self.shared.timers.wake();
    }

    /// Runs `f` once the reactor is running (Twisted's `callWhenRunning`).
    ///
    /// Before that, `f` becomes an "after startup" trigger and its id is returned. If the
    /// reactor is running, `f` runs now when called on the reactor thread, and is handed over
    /// with [`call_from_thread`](Reactor::call_from_thread) from any other thread. After the
    /// reactor has run, `f` is dropped.
    ///
    /// ```
    /// use deferreds::reactor::Reactor;
    ///
    /// let reactor = Reactor::new();
    /// let r = reactor.clone();
    /// let id = reactor.call_when_running(move || r.stop().unwrap());
    /// assert!(id.is_some());
    /// reactor.run().unwrap();
    /// ```
    pub fn call_when_running<F>(&self, f: F) -> Option<TriggerId>
    where
        F: FnOnce() + Send + 'static,
    {
        // After `run` has returned, `f` is dropped, once the lock is released.
        let mut st = self.state_unless_done()?;
        if !st.running {
            let trigger: Trigger = Box::new(move || {
                f();
                None
            });
            return Some(st.add_trigger(SystemEvent::Startup, Phase::After, trigger));
        }
        let here = st.thread == Some(thread::current().id());
        drop(st);
        if here {
            f();
        } else {
            self.call_from_thread(f);
        }
        None
    }

    /// Adds a trigger to run on the reactor thread in `phase` of `event` (Twisted's
    /// `addSystemEventTrigger`). Each trigger runs once.
    ///
    /// A "before" trigger may return a Deferred to make the event wait for it: for example, to
    /// finish work in flight before shutdown. After the reactor has run, `f` is dropped.
    ///
    /// ```
    /// use deferreds::reactor::{Phase, Reactor, SystemEvent};
    /// use deferreds::testing::Recorder;
    ///
    /// let reactor = Reactor::new();
    /// let log = Recorder::new();
    /// let (l1, l2, r) = (log.clone(), log.clone(), reactor.clone());
    /// reactor.add_system_event_trigger(Phase::After, SystemEvent::Shutdown, move || l1.record("after"));
    /// reactor.add_system_event_trigger(Phase::Before, SystemEvent::Shutdown, move || {
    ///     l2.record("before: flushing for 10 ms");
    ///     deferreds::reactor::defer_later(&r, 0.01, || ())
    /// });
    /// let r = reactor.clone();
    /// reactor.call_when_running(move || r.stop().unwrap());
    /// reactor.run().unwrap();
    /// assert_eq!(log.take(), ["before: flushing for 10 ms", "after"]);
    /// ```
    pub fn add_system_event_trigger<F, R>(
        &self,
        phase: Phase,
        event: SystemEvent,
        f: F,
    ) -> TriggerId
    where
        F: FnOnce() -> R + Send + 'static,
        R: TriggerResult,
    {
        let trigger: Trigger = Box::new(move || f().into_wait());
        let mut st = self.shared.state.lock();
        let id = st.add_trigger(event, phase, trigger);
        if st.done {
            let dropped = st.triggers(event).phase(phase).pop();
            drop(st);
            drop(dropped);
        }
        id
    }

    /// Removes a trigger that has not run yet (Twisted's `removeSystemEventTrigger`); returns
    /// whether it was still there.
    ///
    /// ```
    /// use deferreds::reactor::{Phase, Reactor, SystemEvent};
    /// let reactor = Reactor::new();
    /// let id = reactor.add_system_event_trigger(Phase::During, SystemEvent::Startup, || ());
    /// assert!(reactor.remove_system_event_trigger(id));
    /// assert!(!reactor.remove_system_event_trigger(id));
    /// ```
    pub fn remove_system_event_trigger(&self, id: TriggerId) -> bool {
        let mut st = self.shared.state.lock();
        let list = st.triggers(id.event).phase(id.phase);
        let removed = list.iter().position(|(n, _)| *n == id.id).map(|i| list.remove(i));
        drop(st);
        removed.is_some()
    }

    /// Whether the reactor is running: from the "during startup" phase to the "during
    /// shutdown" phase (Twisted's `running`).
    ///
    /// ```
    /// use deferreds::reactor::Reactor;
    /// let reactor = Reactor::new();
    /// let r = reactor.clone();
    /// reactor.call_when_running(move || {
    ///     assert!(r.running());
    ///     r.stop().unwrap();
    /// });
    /// reactor.run().unwrap();
    /// assert!(!reactor.running());
    /// ```
    pub fn running(&self) -> bool {
        self.shared.state.lock().running
    }

    /// Asks the reactor to stop: shutdown begins at the end of the current iteration, and
    /// [`run`](Reactor::run) returns once its triggers have run. May be called from any thread.
    ///
    /// Fails with [`ReactorError::NotRunning`] before `run`, after the reactor has stopped, and
    /// on a second `stop` before shutdown completes, as in Twisted.
    ///
    /// ```
    /// use deferreds::reactor::{Reactor, ReactorError};
    /// let reactor = Reactor::new();
    /// let r = reactor.clone();
    /// reactor.call_when_running(move || {
    ///     r.stop().unwrap();
    ///     assert_eq!(r.stop(), Err(ReactorError::NotRunning));
    /// });
    /// reactor.run().unwrap();
    /// assert_eq!(reactor.stop(), Err(ReactorError::NotRunning));
    /// ```
    pub fn stop(&self) -> Result<(), ReactorError> {
        let mut st = self.shared.state.lock();
        if st.stopped {
            return Err(ReactorError::NotRunning);
        }
        st.stopped = true;
        st.just_stopped = true;
        drop(st);
        self.shared.timers.wake();
        Ok(())
    }

    /// Sets what is done with a panic the reactor caught in a call it ran, or a failure of a
    /// "before" trigger's Deferred: by default it is printed to standard error. The handler
    /// runs on the reactor thread; a panic inside it is caught and the report printed instead
    /// (saying so if formatting the error panicked too).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use deferreds::reactor::Reactor;
    ///
    /// let reactor = Reactor::new();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let s = seen.clone();
    /// reactor.set_failure_handler(move |report| {
    ///     s.lock().unwrap().push((report.context(), report.failure().error_message()));
    /// });
    /// reactor.call_later(0.0, || panic!("boom")).unwrap();
    /// let r = reactor.clone();
    /// reactor.call_later(0.0, move || r.stop().unwrap()).unwrap(); // still runs
    /// reactor.run().unwrap();
    /// assert_eq!(*seen.lock().unwrap(), [("while handling timed call", "boom".to_string())]);
    /// ```
    pub fn set_failure_handler(&self, handler: impl Fn(&ReactorFailure) + Send + Sync + 'static) {
        let old = self.shared.state.lock().handler.replace(Arc::new(handler));
        // The old handler is user code: dropped after the lock is released.
        drop(old);
    }

    /// The calls still pending, in the order they would run (Twisted's `getDelayedCalls`).
    ///
    /// ```
    /// let reactor = deferreds::reactor::Reactor::new();
    /// let call = reactor.call_later(60.0, || ()).unwrap();
    /// assert_eq!(reactor.pending_calls(), [call]);
    /// ```
    pub fn pending_calls(&self) -> Vec<DelayedCall> {
        self.shared.timers.pending().into_iter().map(DelayedCall::new).collect()
    }

    /// The reactor's state, locked, unless `run` has returned: nothing more may be added then.
    fn state_unless_done(&self) -> Option<MutexGuard<'_, State>> {
        let st = self.shared.state.lock();
        if st.done { None } else { Some(st) }
    }
}

/// A [`Reactor`] handle that does not keep it alive.
pub(super) struct WeakReactor(Weak<Shared>);

impl WeakReactor {
    pub(super) fn upgrade(&self) -> Option<Reactor> {
        self.0.upgrade().map(|shared| Reactor { shared })
    }
}

impl Default for Reactor {
    fn default() -> Reactor {
        Reactor::new()
    }
}

impl Time for Reactor {
    #[inline]
    fn seconds(&self) -> f64 {
        Reactor::seconds(self)
    }

    #[inline]
    fn call_later_boxed(
        &self,
        delay: Seconds,
        f: Box<dyn FnOnce() + Send + 'static>,
    ) -> Result<DelayedCall, InvalidDelayError> {
        Reactor::call_later(self, delay, f)
    }

    fn downgrade(&self) -> Option<WeakTime> {
        Some(WeakTime::of(&self.shared, |shared| Reactor { shared }))
    }
}

impl fmt::Debug for Reactor {
    /// `Reactor { running: true, seconds: 0.25, pending: 3 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("running", &self.running())
            .field("seconds", &self.seconds())
            .field("pending", &self.shared.timers.pending().len())
            .finish()
    }
}
