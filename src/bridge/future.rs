//! Awaiting a Deferred: [`DeferredFuture`], the future `deferred.await` turns into.
//!
//! Part of the async bridge, on the typed Deferred and the engine: it knows nothing of the
//! combinators, the primitives or the reactor.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::bridge::task::cancel;
use crate::chain::{Chain, Outcome, Tail};
use crate::deferred::Deferred;
use crate::deferred::describe::fmt_state;
use crate::error::CancelledError;
use crate::failure::Failure;
use crate::foundation::value::Value;

/// The future a [`Deferred`] becomes when it is awaited: `deferred.await` gives the chain's
/// result as `Result<T, Failure>`.
///
/// Awaiting takes the result the way one more callback would: the steps added before the
/// `.await` run first, and the future completes with what the last of them left. The await
/// consumes the Deferred, so no step can come after it. (In Twisted, awaiting a Deferred that
/// already has its result leaves that result in place for later callbacks, while awaiting one
/// that fires later leaves `None`; with a unique tail there is no "later" to see either.)
///
/// A paused Deferred, or one waiting on a Deferred returned by one of its steps, completes
/// when its chain does. A failure handed to the awaiting code is handled: it is not reported
/// as unhandled.
///
/// The future works under any executor (and under [`ensure_deferred`](crate::ensure_deferred)
/// and [`Deferred::from_future`], with none), whichever thread fires the Deferred. It is `Send`,
/// `Sync` and `Unpin`.
///
/// # Dropping it cancels the Deferred
///
/// Dropping the future before it completes, as `tokio::select!` or a timeout does, cancels the
/// Deferred ([`Deferred::cancel`]): Rust cancels an operation by dropping its future, and
/// Twisted cancels the awaited Deferred when it cancels the awaiting coroutine. The
/// [`CancelledError`] this produces has nobody left to see it and is discarded silently; any
/// other failure the Deferred ends with is reported as unhandled as usual. To stop awaiting
/// without cancelling, take the Deferred back with [`into_deferred`](Self::into_deferred).
///
/// ```
/// use deferreds::Deferred;
///
/// let (d, resolver) = Deferred::<u32>::new();
/// let d = d.map(|n| n + 1);
/// std::thread::spawn(move || resolver.callback(41).unwrap());
/// let answer = futures::executor::block_on(async { d.await });
/// assert_eq!(answer.unwrap(), 42);
/// ```
#[must_use = "futures do nothing unless polled, and dropping this one cancels its Deferred"]
pub struct DeferredFuture<T> {
    /// The Deferred's tail until the result is handed out, `None` after.
    tail: Option<Tail>,
    /// For cancellation by the `ensure_deferred` task this future runs in (see `task::cancel::Armed`):
    /// when the future was first polled (`NEVER`, `UNARMED`, or the serial of the cancelling
    /// poll it was first polled in), and the serial of the last cancelling poll that cancelled
    /// its Deferred.
    seen: u64,
    cancelled_in: u64,
    _type: PhantomData<fn() -> T>,
}

const NEVER: u64 = 0;
const UNARMED: u64 = 1;

impl<T: Send + 'static> IntoFuture for Deferred<T> {
    type Output = Result<T, Failure>;
    type IntoFuture = DeferredFuture<T>;

    /// Turns the Deferred into a future of its result (what `.await` does).
    ///
    /// Edition 2024's prelude has `IntoFuture`; on edition 2021, calling `into_future()` needs
    /// `use std::future::IntoFuture;`, as below (`.await` needs nothing).
    ///
    /// ```
    /// use std::future::IntoFuture;
    /// let future = deferreds::succeed("ready").into_future();
    /// assert_eq!(futures::executor::block_on(future).unwrap(), "ready");
    /// ```
    fn into_future(self) -> DeferredFuture<T> {
        DeferredFuture {
            tail: Some(self.into_tail().shared()),
            seen: NEVER,
            cancelled_in: NEVER,
            _type: PhantomData,
        }
    }
}

impl<T: Send + 'static> DeferredFuture<T> {
    /// Stops awaiting and gives the Deferred back, uncancelled, or `None` if the future already
    /// returned its result.
    ///
    /// This is how to wait with a deadline without cancelling the Deferred when the deadline
    /// passes.
    ///
    /// ```
    /// use std::future::IntoFuture;
    /// use std::task::{Context, Waker};
    ///
    /// let (d, resolver) = deferreds::Deferred::<u8>::new();
    /// let mut future = d.into_future();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(std::pin::Pin::new(&mut future).poll(&mut cx).is_pending());
    ///
    /// let d = future.into_deferred().unwrap(); // not cancelled
    /// resolver.callback(7).unwrap();
    /// assert_eq!(deferreds::testing::success_result_of(d), 7);
    /// ```
    pub fn into_deferred(mut self) -> Option<Deferred<T>> {
        let tail = self.tail.take()?;
        if let Tail::Chain(chain) = &tail {
            if self.seen != NEVER {
                chain.clear_task();
            }
        }
        Some(Deferred::from_tail(tail))
    }
}

impl<T: Send + 'static> Future for DeferredFuture<T> {
    type Output = Result<T, Failure>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Failure>> {
        let this = &mut *self;
        let chain = match &mut this.tail {
            Some(Tail::Chain(chain)) => chain,
            Some(_) => {
                let Some(Ok(result)) = this.tail.take().map(Tail::take) else {
                    unreachable!("a tail without a chain has its result")
                };
                return Poll::Ready(result.map(Value::take::<T>));
            }
            None => panic!("`DeferredFuture` polled after it completed"),
        };
        let armed = cancel::armed();
        // In a cancelling poll of the task this future runs in, the Deferred is cancelled if it
        // was being awaited when the cancel came, that is, polled before this poll began; once
        // per cancelling poll, however often the future is polled in it.
        let old = armed.is_some_and(|serial| this.seen != NEVER && this.seen != serial);
        if this.seen == NEVER {
            this.seen = armed.unwrap_or(UNARMED);
        }
        if let Some(serial) = armed {
            if old && this.cancelled_in != serial {
                this.cancelled_in = serial;
                cancel::deliver_cancel(|| chain.cancel(Location::caller()));
            }
        }
        match Chain::poll_owned(chain, cx.waker()) {
            Some(result) => {
                this.tail = None;
                Poll::Ready(result.map(Value::take::<T>))
            }
            None => {
                if armed.is_some() {
                    cancel::note_pending(old);
                }
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for DeferredFuture<T> {
    fn drop(&mut self) {
        let Some(Tail::Chain(chain)) = self.tail.take() else {
            // Done, or a tail that had its result: dropping it drops the value or reports the
            // failure nobody saw.
            return;
        };
        if self.seen != NEVER {
            chain.clear_task();
        }
        // The tail is ours, so the chain may take one more step: one that discards the
        // `CancelledError` this cancellation causes, which nobody is left to handle. Added
        // before cancelling, it also sees a result that the canceller delivers synchronously.
        chain.push(Box::new(|result: Result<Value, Failure>| match result {
            Err(failure) if failure.check::<CancelledError>() => Outcome::Value(Value::UNIT),
            other => other.into(),
        }));
        let cancel = || chain.cancel(Location::caller());
        if cancel::armed().is_some() {
            // Dropped by the task's own cancelling poll (`try_join!` giving up, say): that
            // delivers the cancellation too.
            cancel::deliver_cancel(cancel);
        } else {
            cancel();
        }
        crate::chain::dropping(&chain);
    }
}

impl<T> fmt::Debug for DeferredFuture<T> {
    /// The state of the awaited chain, as [`Deferred`]'s `Debug` shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = format!("DeferredFuture<{}>", std::any::type_name::<T>());
        match &self.tail {
            Some(tail) => tail.peek(|peek, debug| fmt_state(&name, peek, false, debug, f)),
            None => write!(f, "<{name} completed>"),
        }
    }
}
