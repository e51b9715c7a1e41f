//! [`LoopingCall`]: call a function every interval (Twisted's `task.LoopingCall`).
//!
//! Part of the reactor, on the typed Deferred: it knows nothing of the engine's insides, the
//! combinators, the primitives or the async bridge.

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use super::delayed::DelayedCall;
use super::error::{LoopingCallError, check_delay};
use super::seconds::Seconds;
use super::time::{Time, WeakTime};
use crate::deferred::Deferred;
use crate::deferred::resolver::Resolver;
use crate::deferred::step::{IntoStep, Step};
use crate::failure::Failure;

mod iterate;

/// Calls a function every `interval` seconds on a time source, until stopped or until the
/// function fails (Twisted's `task.LoopingCall`).
///
/// [`start`](LoopingCall::start) returns a Deferred that fires with the `LoopingCall` when it is
/// [`stop`](LoopingCall::stop)ped, or fails with the function's failure (an `Err`, a panic, or
/// a failed Deferred), which also stops the loop. If the function returns a Deferred, the next
/// call waits until it has fired.
///
/// Calls are aligned on `start time + k × interval`: a call that runs late does not shift the
/// ones after it, and intervals that were missed entirely (the time source was blocked, or
/// the function's Deferred took longer than an interval) are skipped, not made up for.
/// [`with_count`](LoopingCall::with_count) tells the function how many intervals have passed.
///
/// ```
/// use deferreds::reactor::{Clock, LoopingCall};
/// use deferreds::testing::Recorder;
///
/// let clock = Clock::new();
/// let log = Recorder::new();
/// let (l, c) = (log.clone(), clock.clone());
/// let lc = LoopingCall::new(clock.clone(), move || l.record(format!("tick at {}", c.seconds())));
/// let done = lc.start(2.0, true).unwrap(); // the first call is made now
/// clock.pump([2.0, 2.0, 1.0]);
/// lc.stop().unwrap();
/// assert_eq!(log.take(), ["tick at 0", "tick at 2", "tick at 4"]);
/// assert_eq!(deferreds::testing::success_result_of(done), lc);
/// ```
///
/// The function runs on the time source's thread (or, for `start(_, true)`, on the thread
/// calling `start`). Handles are cheap to clone and share one loop; while the loop runs, its
/// scheduled call keeps it alive, so a loop that is never stopped lives as long as its clock.
/// The loop holds its clock weakly, so that the two do not keep each other alive: once every
/// other handle to the clock is dropped, its calls are discarded, the loop's with them, and
/// the loop is freed when its own handles go. Keep a handle to the clock (or reactor) for as
/// long as the loop should run.
///
/// ```
/// use deferreds::reactor::{Clock, LoopingCall, LoopingCallError};
/// use deferreds::testing::DropCounter;
///
/// let counter = DropCounter::new();
/// let clock = Clock::new();
/// let token = counter.token();
/// let lc = LoopingCall::new(clock.clone(), move || {
///     let _ = &token; // the function owns the token
/// });
/// let _done = lc.start(1.0, false).unwrap();
/// drop(clock); // the last handle: the pending call goes, and nothing can run the loop
/// assert_eq!(lc.reset(), Err(LoopingCallError::TimeSourceDropped));
/// drop(lc);
/// assert_eq!(counter.alive(), 0, "the function was freed with the loop");
/// ```
#[derive(Clone)]
pub struct LoopingCall {
    inner: Arc<Inner>,
}

struct Inner {
    /// Weak: the loop's scheduled call, which the time source holds, owns the loop.
    time: WeakTime,
    /// The function; taken out while it runs, so that it is never called under a lock.
    func: Mutex<Option<Func>>,
    state: Mutex<LoopState>,
}

type PlainFn = Box<dyn FnMut() -> Step<()> + Send>;
type CountFn = Box<dyn FnMut(u64) -> Step<()> + Send>;

enum Func {
    Plain(PlainFn),
    Counted(CountFn),
}

struct LoopState {
    running: bool,
    /// Incremented by every `start`; an iteration belongs to the run that scheduled it.
    generation: u64,
    /// `None` until the first `start`.
    interval: Option<f64>,
    start_time: f64,
    run_at_start: bool,
    /// When the counting function was last called (Twisted's `_realLastTime`).
    real_last_time: Option<f64>,
    /// The next call, while the loop waits for it. `None` while an iteration is in flight
    /// (the function is running, or its Deferred has not fired).
    call: Option<DelayedCall>,
    /// Fires the current run's `start` Deferred.
    resolver: Option<Resolver<LoopingCall>>,
    /// Runs that were stopped while an iteration was in flight and then replaced by a new
    /// `start`: each fires when its last iteration ends.
    stopping: Vec<(u64, Resolver<LoopingCall>)>,
}

/// The loop's handle on its time source: weak where the source has a weak handle.
fn weak<C: Time + 'static>(clock: C) -> WeakTime {
    clock.downgrade().unwrap_or_else(|| WeakTime::strong(clock))
}

/// Converts any step result to a `Step<()>`: the function's value is not used.
fn unit_step<R: IntoStep>(r: R) -> Step<()> {
    match r.into_step() {
        Step::Value(_) => Step::Value(()),
        Step::Fail(f) => Step::Fail(f),
        Step::Wait(d) => Step::Wait(d.map(|_| ())),
    }
}

impl LoopingCall {
    /// A loop that will call `f` on `clock` once started.
    ///
    /// `f` may return anything a callback may ([`IntoStep`]): `()`, a `Result<_, Failure>`
    /// whose `Err` stops the loop, or a Deferred to wait for before the next call.
    ///
    /// ```
    /// use deferreds::reactor::{Clock, LoopingCall};
    /// use deferreds::Failure;
    ///
    /// let clock = Clock::new();
    /// let lc = LoopingCall::new(clock.clone(), || -> Result<(), Failure> { Err(Failure::msg("broken")) });
    /// let done = lc.start(1.0, true).unwrap();
    /// assert!(!lc.running());
    /// assert_eq!(deferreds::testing::failure_result_of(done).error_message(), "broken");
    /// ```
    pub fn new<C, F, R>(clock: C, mut f: F) -> LoopingCall
    where
        C: Time + 'static,
        F: FnMut() -> R + Send + 'static,
        R: IntoStep,
    {
        LoopingCall::with_func(weak(clock), Func::Plain(Box::new(move || unit_step(f()))))
    }

    /// A loop whose function gets the number of intervals that have passed since it was last
    /// called (Twisted's `withCount`): normally 1, more when calls were skipped because the
    /// time source was blocked or the function's Deferred took longer than an interval. With
    /// an interval of 0 it is always 1. When a call comes due before a whole interval has
    /// passed since the last one (possible after a late call), the function is not called.
    ///
    /// ```
    /// use deferreds::reactor::{Clock, LoopingCall};
    /// use deferreds::testing::Recorder;
    ///
    /// let clock = Clock::new();
    /// let log = Recorder::new();
    /// let l = log.clone();
    /// let lc = LoopingCall::with_count(clock.clone(), move |n| l.record(n.to_string()));
    /// let _done = lc.start(1.0, false).unwrap();
    /// clock.advance(1.0);
    /// clock.advance(3.5); // two intervals were missed
    /// clock.advance(0.5);
    /// lc.stop().unwrap();
    /// assert_eq!(log.take(), ["1", "3", "1"]);
    /// ```
    pub fn with_count<C, F, R>(clock: C, mut f: F) -> LoopingCall
    where
        C: Time + 'static,
        F: FnMut(u64) -> R + Send + 'static,
        R: IntoStep,
    {
        LoopingCall::with_func(weak(clock), Func::Counted(Box::new(move |n| unit_step(f(n)))))
    }

    fn with_func(time: WeakTime, func: Func) -> LoopingCall {
        LoopingCall {
            inner: Arc::new(Inner {
                time,
                func: Mutex::new(Some(func)),
                state: Mutex::new(LoopState {
                    running: false,
                    generation: 0,
                    interval: None,
                    start_time: 0.0,
                    run_at_start: false,
                    real_last_time: None,
                    call: None,
                    resolver: None,
                    stopping: Vec::new(),
                }),
            }),
        }
    }

    /// Starts calling the function every `interval` (seconds as an `f64`, or a `Duration`): now
    /// and then every interval if
    /// `now`, or first after one interval. An interval of 0 calls it again as soon as
    /// possible (`call_later(0.0)`).
    ///
    /// Returns the Deferred that fires with this `LoopingCall` when the loop is stopped, or
    /// fails with the function's failure. Fails with [`LoopingCallError::AlreadyRunning`] if
    /// the loop is running, [`LoopingCallError::InvalidInterval`] if `interval` is negative,
    /// infinite or NaN (Twisted asserts, and raises `ValueError`), and
    /// [`LoopingCallError::TimeSourceDropped`] if every handle to the clock is gone.
    ///
    /// ```
    /// use deferreds::reactor::{Clock, LoopingCall, LoopingCallError};
    ///
    /// let clock = Clock::new();
    /// let lc = LoopingCall::new(clock.clone(), || ());
    /// let _done = lc.start(1.0, false).unwrap();
    /// assert_eq!(lc.start(1.0, false).unwrap_err(), LoopingCallError::AlreadyRunning);
    /// assert_eq!(clock.pending_calls()[0].get_time(), 1.0);
    /// ```
    pub fn start(
        &self,
        interval: impl Into<Seconds>,
        now: bool,
    ) -> Result<Deferred<LoopingCall>, LoopingCallError> {
        let interval = check_interval(interval.into())?;
        let inner = &self.inner;
        let time = inner.time()?;
        let (d, resolver) = Deferred::new();
        let start_time = time.seconds();
        let generation = {
            let mut st = inner.state.lock();
            if st.running {
                return Err(LoopingCallError::AlreadyRunning);
            }
            if let Some(previous) = st.resolver.take() {
                // The last run was stopped with an iteration in flight: it fires when that ends.
                let generation = st.generation;
                st.stopping.push((generation, previous));
            }
            st.generation += 1;
            st.running = true;
            st.interval = Some(interval);
            st.start_time = start_time;
            st.run_at_start = now;
            st.real_last_time = None;
            st.call = None;
            st.resolver = Some(resolver);
            if !now {
                let generation = st.generation;
                if let Err(err) = inner.schedule(&*time, &mut st, generation, start_time) {
                    drop(st);
                    inner.done(generation, Err(Failure::new(err)));
                    return Ok(d);
                }
            }
            st.generation
        };
        if now {
            inner.iterate(generation);
        }
        Ok(d)
    }

    /// Stops the loop: no more calls are made, and the `start` Deferred fires with this
    /// `LoopingCall`, at once if the loop was waiting for its next call, or when the call in
    /// flight (or the Deferred it returned) finishes. Fails with
    /// [`LoopingCallError::NotRunning`] if the loop is not running.
    ///
    /// ```
    /// use deferreds::reactor::{Clock, LoopingCall};
    /// let clock = Clock::new();
    /// let lc = LoopingCall::new(clock.clone(), || ());
    /// let done = lc.start(10.0, false).unwrap();
    /// lc.stop().unwrap();
    /// assert!(clock.pending_calls().is_empty());
    /// deferreds::testing::success_result_of(done);
    /// ```
    pub fn stop(&self) -> Result<(), LoopingCallError> {
        let mut st = self.inner.state.lock();
        if !st.running {
            return Err(LoopingCallError::NotRunning);
        }
        st.running = false;
        if let Some(call) = st.call.take() {
            let resolver = st.resolver.take();
            drop(st);
            let _ = call.cancel();
            if let Some(resolver) = resolver {
                let _ = resolver.callback(self.clone());
            }
        }
        Ok(())
    }

    /// Skips the next call and restarts the interval from now (Twisted's `reset`). Does
    /// nothing while a call is in flight. Fails with [`LoopingCallError::NotRunning`] if the
    /// loop is not running, and with [`LoopingCallError::TimeSourceDropped`] (changing
    /// nothing) if the clock is gone.
    ///
    /// ```
    /// use deferreds::reactor::{Clock, LoopingCall};
    /// let clock = Clock::new();
    /// let lc = LoopingCall::new(clock.clone(), || ());
    /// let _done = lc.start(2.0, false).unwrap();
    /// clock.advance(1.5);
    /// lc.reset().unwrap();
    /// assert_eq!(clock.pending_calls()[0].get_time(), 3.5);
    /// ```
    pub fn reset(&self) -> Result<(), LoopingCallError> {
        let inner = &self.inner;
        // Taken before the lock, so that it is dropped after it (see `Inner::time`).
        let time = inner.time();
        let mut st = inner.state.lock();
        if !st.running {
            return Err(LoopingCallError::NotRunning);
        }
        if st.call.is_none() {
            return Ok(());
        }
        // Nothing changes if the time source is gone: the call was discarded with it.
        let time = time.as_ref().map_err(|&err| err)?;
        if let Some(call) = st.call.take() {
            let _ = call.cancel();
        }
        let generation = st.generation;
        let now = time.seconds();
        st.start_time = now;
        if let Err(err) = inner.schedule(&**time, &mut st, generation, now) {
            drop(st);
            inner.done(generation, Err(Failure::new(err)));
        }
        Ok(())
    }

    /// Whether the loop is running: from `start` until `stop`, or until the function fails
    /// (Twisted's `running`).
    ///
    /// ```
    /// let lc = deferreds::reactor::LoopingCall::new(deferreds::reactor::Clock::new(), || ());
    /// assert!(!lc.running());
    /// ```
    pub fn running(&self) -> bool {
        self.inner.state.lock().running
    }

    /// The interval, once the loop has been started.
    ///
    /// ```
    /// let clock = deferreds::reactor::Clock::new();
    /// let lc = deferreds::reactor::LoopingCall::new(clock.clone(), || ());
    /// assert_eq!(lc.interval(), None);
    /// let _done = lc.start(0.5, false).unwrap();
    /// assert_eq!(lc.interval(), Some(0.5));
    /// ```
    pub fn interval(&self) -> Option<f64> {
        self.inner.state.lock().interval
    }

    /// Changes the interval from the next scheduling on (Twisted lets its `interval`
    /// attribute be set): the call already scheduled keeps its time. Fails with
    /// [`LoopingCallError::InvalidInterval`] if `interval` is negative, infinite or NaN.
    ///
    /// ```
    /// use deferreds::reactor::{Clock, LoopingCall};
    /// let clock = Clock::new();
    /// let lc = LoopingCall::new(clock.clone(), || ());
    /// let _done = lc.start(1.0, false).unwrap();
    /// lc.set_interval(4.0).unwrap();
    /// clock.advance(1.0); // the call scheduled with the old interval
    /// assert_eq!(clock.pending_calls()[0].get_time(), 4.0);
    /// ```
    pub fn set_interval(&self, interval: impl Into<Seconds>) -> Result<(), LoopingCallError> {
        let interval = check_interval(interval.into())?;
        self.inner.state.lock().interval = Some(interval);
        Ok(())
    }
}

/// An interval in seconds, if it is finite and not negative.
fn check_interval(interval: Seconds) -> Result<f64, LoopingCallError> {
    let interval = interval.as_secs_f64();
    check_delay(interval).map_err(|_| LoopingCallError::InvalidInterval(interval))
}

impl PartialEq for LoopingCall {
    /// Two handles are equal when they share one loop.
    fn eq(&self, other: &LoopingCall) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for LoopingCall {}

impl fmt::Debug for LoopingCall {
    /// `LoopingCall { running: true, interval: Some(0.5) }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.state.lock();
        f.debug_struct("LoopingCall")
            .field("running", &st.running)
            .field("interval", &st.interval)
            .finish()
    }
}
