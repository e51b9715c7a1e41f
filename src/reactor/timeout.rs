//! [`Deferred::add_timeout`]: cancel a Deferred that takes too long (Twisted's `addTimeout`).
//!
//! Part of the reactor, on the typed Deferred: it knows nothing of the engine's insides, the
//! combinators, the primitives or the async bridge.

use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use super::error::TimeoutError;
use super::seconds::Seconds;
use super::time::Time;
use crate::deferred::Deferred;
use crate::deferred::step::{IntoStep, Step};
use crate::error::CancelledError;
use crate::failure::Failure;

impl<T: Send + 'static> Deferred<T> {
    /// Cancels this Deferred if it has no result `timeout` from now (seconds as an `f64`, or a
    /// `Duration`), and turns the resulting [`CancelledError`] into a [`TimeoutError`]
    /// (Twisted's `addTimeout`).
    ///
    /// The timeout covers the steps added *before* this call, and none added after, as in
    /// Twisted: if the Deferred gets its result first, the timer is cancelled as the result
    /// passes, before any later step runs. A Deferred made with
    /// [`with_canceller`](Deferred::with_canceller) keeps what its canceller does: if the
    /// canceller fires it with a value, or with another failure, that is the result.
    ///
    /// With the timer and the value on different threads, "first" is decided once: by the
    /// result reaching this point of the chain, or by the timer's cancellation taking effect
    /// on a Deferred that has no result yet (under that Deferred's lock, which a fire takes
    /// too). Once the result has passed, the timer cancels nothing, even if it was already
    /// running. A timer that fires while the steps before this point run finds nothing to
    /// cancel and decides nothing.
    ///
    /// A `timeout` that is negative, infinite or NaN schedules nothing, and the Deferred's
    /// result is replaced by an [`InvalidDelayError`](super::InvalidDelayError) failure.
    ///
    /// ```
    /// use deferreds::reactor::{Clock, TimeoutError};
    /// use deferreds::testing::{failure_result_of, success_result_of};
    /// use deferreds::Deferred;
    ///
    /// let clock = Clock::new();
    /// let (poem, _server) = Deferred::<String>::new();
    /// let poem = poem.add_timeout(5.0, &clock);
    /// clock.advance(5.0);
    /// assert!(failure_result_of(poem).check::<TimeoutError>());
    ///
    /// let (poem, server) = Deferred::<String>::new();
    /// let poem = poem.add_timeout(5.0, &clock);
    /// server.callback("a poem".into()).unwrap();
    /// assert!(clock.pending_calls().is_empty()); // the timer went with the result
    /// assert_eq!(success_result_of(poem), "a poem");
    /// ```
    #[track_caller]
    pub fn add_timeout<C: Time + ?Sized>(
        self,
        timeout: impl Into<Seconds>,
        clock: &C,
    ) -> Deferred<T> {
        self.add_timeout_with(timeout, clock, |result: Result<T, Failure>, timeout| match result {
            Err(failure) if failure.check::<CancelledError>() => {
                Err(Failure::new(TimeoutError { timeout }))
            }
            other => other,
        })
    }

    /// [`add_timeout`](Deferred::add_timeout) with a custom conversion: when the timeout
    /// expires, `on_timeout_cancel` gets whatever the cancellation left (usually a
    /// [`CancelledError`] failure, but a canceller or an earlier errback may have left
    /// something else) and the timeout, and returns the result to go on with, like a step
    /// (Twisted's `onTimeoutCancel`). It is called only if the timer's cancellation took effect
    /// before the result reached this point of the chain: not if the Deferred gets its result,
    /// or is cancelled by someone else, first, whichever threads the timer and the result are
    /// on. It may still get a value: one that the Deferred's canceller fired it with, or that
    /// another thread fired while the canceller ran.
    ///
    /// ```
    /// use deferreds::reactor::Clock;
    /// use deferreds::Deferred;
    ///
    /// let clock = Clock::new();
    /// let (d, _r) = Deferred::<String>::new();
    /// let d = d.add_timeout_with(10.0, &clock, |_cancelled, timeout| {
    ///     Ok(format!("gave up after {timeout} s"))
    /// });
    /// clock.advance(10.0);
    /// assert_eq!(deferreds::testing::success_result_of(d), "gave up after 10 s");
    /// ```
    #[track_caller]
    pub fn add_timeout_with<C, F, R>(
        self,
        timeout: impl Into<Seconds>,
        clock: &C,
        on_timeout_cancel: F,
    ) -> Deferred<T>
    where
        C: Time + ?Sized,
        F: FnOnce(Result<T, Failure>, f64) -> R + Send + 'static,
        R: IntoStep<Output = T>,
    {
        let at = Location::caller();
        let timeout = timeout.into().as_secs_f64();
        if self.has_result() {
            // Twisted schedules the timer and cancels it as the result passes; nothing to do
            // but refuse the timeout that scheduling would have refused.
            return match super::error::check_delay_from(clock.seconds(), timeout) {
                Ok(_) => self,
                Err(err) => self.add_both(move |_| Err::<T, _>(Failure::new(err))),
            };
        }
        let verdict = Arc::new(Verdict::default());
        let chain = self.into_tail().into_chain();
        let (timer, target) = (verdict.clone(), chain.clone());
        let expire = Box::new(move || {
            // The engine asks under the lock of the chain the cancellation is about to land
            // on, which no result has reached: if the result passed the timeout first, the
            // timer cancels nothing.
            target.cancel_if(at, &|| timer.decide(TIMED_OUT) == TIMED_OUT);
        });
        let d = Deferred::<T>::from_chain(chain);
        let call = match clock.call_later_boxed(Seconds::new(timeout), expire) {
            Ok(call) => call,
            Err(err) => return d.add_both(move |_| Err::<T, _>(Failure::new(err))),
        };
        d.add_both(move |result: Result<T, Failure>| -> Step<T> {
            if verdict.decide(PASSED) == PASSED {
                // The result got here first. The timer may be running already, past the point
                // where cancelling it works; it then finds the verdict taken and does nothing.
                let _ = call.cancel();
                crate::foundation::contain::drop_unused(on_timeout_cancel);
                result.into_step()
            } else {
                on_timeout_cancel(result, timeout).into_step()
            }
        })
    }
}

/// The one decision a timeout makes: did the result pass the timeout's step first, or did the
/// timer's cancellation take effect first? Taken once, by a compare-and-swap from `UNDECIDED`,
/// by whichever of the two gets there first; the other follows it.
#[derive(Default)]
struct Verdict(AtomicU8);

const UNDECIDED: u8 = 0;
const PASSED: u8 = 1;
const TIMED_OUT: u8 = 2;

impl Verdict {
    /// Takes the decision `to` unless it was taken already; returns the decision that stands.
    fn decide(&self, to: u8) -> u8 {
        match self.0.compare_exchange(UNDECIDED, to, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => to,
            Err(taken) => taken,
        }
    }
}
