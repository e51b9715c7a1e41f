//! A looping call's iterations: each call of the function, the count of intervals it stands
//! for, what its Deferred's result does to the loop, and the next call's scheduling.
//!
//! Part of the reactor, on the typed Deferred: it knows nothing of the engine's insides, the
//! combinators, the primitives or the async bridge.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use super::{Func, Inner, LoopState, LoopingCall};
use crate::deferred::step::Step;
use crate::failure::Failure;
use crate::reactor::error::{InvalidDelayError, LoopingCallError};
use crate::reactor::seconds::Seconds;
use crate::reactor::time::Time;
impl Inner {
    /// One call of the function (Twisted's `__call__`), for run `generation`.
    pub(super) fn iterate(self: &Arc<Inner>, generation: u64) {
        {
            let mut st = self.state.lock();
            if st.generation != generation || !st.running {
                return;
            }
            st.call = None;
        }
        let Some(mut func) = self.func.lock().take() else {
            // The function is running: `start(_, true)` from inside it. Call it again as soon
            // as it has returned, instead of recursing.
            let time = self.time();
            let mut st = self.state.lock();
            if st.generation == generation && st.running {
                let inner = self.clone();
                st.call = time.as_ref().ok().and_then(|time| {
                    time.call_later_boxed(
                        Seconds::new(0.0),
                        Box::new(move || inner.iterate(generation)),
                    )
                    .ok()
                });
            }
            drop(st);
            return;
        };
        let step = catch_unwind(AssertUnwindSafe(|| match &mut func {
            Func::Plain(f) => Some(f()),
            Func::Counted(f) => self.count(generation).map(f),
        }));
        *self.func.lock() = Some(func);
        match step {
            Ok(None | Some(Step::Value(()))) => self.done(generation, Ok(())),
            Ok(Some(Step::Fail(failure))) => self.done(generation, Err(failure)),
            Ok(Some(Step::Wait(d))) => {
                let inner = self.clone();
                drop(d.add_both(move |result| inner.done(generation, result)));
            }
            Err(payload) => self.done(generation, Err(Failure::from_panic(payload))),
        }
    }

    /// How many intervals have passed since the counting function was last called, or `None`
    /// to skip this call (Twisted's `withCount` counter).
    pub(super) fn count(&self, generation: u64) -> Option<u64> {
        let now = self.time().ok()?.seconds();
        let mut st = self.state.lock();
        if st.generation != generation {
            return None;
        }
        let interval = st.interval.unwrap_or(0.0);
        if interval == 0.0 {
            st.real_last_time = Some(now);
            return Some(1);
        }
        let start = st.start_time;
        let last =
            st.real_last_time.unwrap_or(if st.run_at_start { start - interval } else { start });
        // Truncated towards zero, like Python's `int()`.
        let interval_of = |t: f64| ((t - start) / interval) as i64;
        let count = interval_of(now) - interval_of(last);
        if count > 0 {
            st.real_last_time = Some(now);
            Some(count as u64)
        } else {
            None
        }
    }

    /// An iteration of run `generation` ended with `result`.
    pub(super) fn done(self: &Arc<Inner>, generation: u64, result: Result<(), Failure>) {
        let me = || LoopingCall { inner: self.clone() };
        let time = self.time();
        let mut st = self.state.lock();
        if st.generation != generation {
            // The last iteration of a run that was stopped and replaced by a new `start`.
            let index = st.stopping.iter().position(|(g, _)| *g == generation);
            let resolver = index.map(|i| st.stopping.remove(i).1);
            drop(st);
            if let Some(resolver) = resolver {
                let _ = resolver.resolve(result.map(|()| me()));
            }
            return;
        }
        let resolver = match result {
            Ok(()) if st.running => {
                let scheduled = time.as_ref().map_err(|&err| Failure::new(err)).and_then(|time| {
                    let now = time.seconds();
                    self.schedule(&**time, &mut st, generation, now).map_err(Failure::new)
                });
                match scheduled {
                    Ok(()) => return,
                    Err(failure) => {
                        st.running = false;
                        st.resolver.take().map(|r| (r, Err(failure)))
                    }
                }
            }
            Ok(()) => st.resolver.take().map(|r| (r, Ok(()))),
            Err(failure) => {
                st.running = false;
                st.resolver.take().map(|r| (r, Err(failure)))
            }
        };
        drop(st);
        if let Some((resolver, result)) = resolver {
            let _ = resolver.resolve(result.map(|()| me()));
        }
    }

    /// Schedules the next call of run `generation`, from time `when` (Twisted's
    /// `_scheduleFrom`): at the end of the current interval, or a whole interval later if that
    /// end is too close to `when` to be told apart from it.
    pub(super) fn schedule(
        self: &Arc<Inner>,
        time: &dyn Time,
        st: &mut LoopState,
        generation: u64,
        when: f64,
    ) -> Result<(), InvalidDelayError> {
        let interval = st.interval.unwrap_or(0.0);
        let delay = if interval == 0.0 {
            0.0
        } else {
            let running_for = when - st.start_time;
            let until_next = interval - running_for.rem_euclid(interval);
            if when == when + until_next { interval } else { until_next }
        };
        let inner = self.clone();
        // The time source is one of this crate's (the trait is sealed): it runs no user code
        // and never calls back, so scheduling under the loop's lock is safe.
        st.call =
            Some(time.call_later_boxed(
                Seconds::new(delay),
                Box::new(move || inner.iterate(generation)),
            )?);
        Ok(())
    }

    /// The time source, or [`LoopingCallError::TimeSourceDropped`] once every handle to it is
    /// gone.
    ///
    /// Callers take it before the loop's lock, so that it is dropped after the lock is
    /// released: if the handle is the time source's last one, dropping it drops the calls
    /// still pending there, and with them whatever their closures own, which is user code.
    pub(super) fn time(&self) -> Result<Box<dyn Time>, LoopingCallError> {
        self.time.upgrade().ok_or(LoopingCallError::TimeSourceDropped)
    }
}
