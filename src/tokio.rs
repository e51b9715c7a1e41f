//! Deferreds in a tokio program (cargo feature `tokio`): [`TokioTime`], a [`Time`] on tokio's
//! timer, and [`spawn`], a future run on the runtime as
//! a Deferred.
//!
//! A Deferred can be awaited under tokio as under any executor, and everything timed in
//! [`reactor`](crate::reactor) runs on tokio's clock through a `TokioTime`, including
//! `tokio::time::pause()` in tests. A future that needs the runtime (a tokio socket, timer or
//! channel) must be polled on it: [`spawn`] runs it there and gives a Deferred that its output
//! fires and whose cancel aborts the task. [`Deferred::from_future`](crate::Deferred::from_future)
//! would poll it on whatever thread wakes it, which is not always one of the runtime's.
//!
//! ```
//! use std::time::Duration;
//! use deferreds::reactor::{TimeoutError, defer_later};
//! use deferreds::tokio::{TokioTime, spawn};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() {
//!     let time = TokioTime::new();
//!     let answer = defer_later(&time, Duration::from_millis(5), || Ok(42));
//!     assert_eq!(answer.await.unwrap(), 42);
//!
//!     let slow = spawn(async {
//!         tokio::time::sleep(Duration::from_secs(3600)).await;
//!         "too late"
//!     });
//!     let slow = slow.add_timeout(Duration::from_millis(5), &time); // cancels: aborts the task
//!     assert!(slow.await.unwrap_err().check::<TimeoutError>());
//! }
//! ```
//!
//! The guide's chapter
//! [Embedding in tokio](https://github.com/deferreds/deferreds/blob/main/docs/guide/14-tokio.md)
//! tells the whole story.

// The top of the map (see docs/design.md): on the reactor and the typed Deferred; nothing in
// the crate builds on it.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use ::tokio::runtime::Handle;
use ::tokio::sync::Notify;
use ::tokio::task::AbortHandle;
use ::tokio::time::Instant;

use crate::deferred::Deferred;
use crate::deferred::resolver::Resolver;
use crate::error::CancelledError;
use crate::failure::Failure;
use crate::foundation::contain;
use crate::foundation::unhandled::{self, UnhandledFailure};
use crate::reactor::{DelayedCall, InvalidDelayError, Seconds, Time, TimerQueue, WeakTime};

/// A [`Time`] on tokio's clock and timer: `defer_later`, `add_timeout`, `LoopingCall` and
/// `call_later` in a tokio program, with no [`Reactor`](crate::reactor::Reactor) thread beside
/// it.
///
/// [`seconds`](Time::seconds) counts from the moment the `TokioTime` was made, on
/// `tokio::time::Instant`, so it stops when the runtime's time is paused
/// (`tokio::time::pause()`, `#[tokio::test(start_paused = true)]`, which need tokio's
/// `test-util` feature) and jumps with `tokio::time::advance`; a paused runtime with nothing
/// else to do moves straight to the next call. Calls run, one at a time and in due order, on a
/// task spawned on the runtime; a panic in one is reported through the
/// [unhandled-failure hook](crate::set_unhandled_hook) and the next calls run as usual.
/// Scheduling, cancelling and moving calls work from any thread.
///
/// Handles are cheap to clone and share one timer. When the last is dropped, its task ends and
/// the calls still pending are discarded, as a [`Clock`](crate::reactor::Clock)'s are. Calls
/// run only while the runtime runs.
///
/// ```
/// use std::time::Duration;
/// use deferreds::reactor::LoopingCall;
/// use deferreds::tokio::TokioTime;
///
/// #[tokio::main(flavor = "current_thread", start_paused = true)]
/// async fn main() {
///     let time = TokioTime::new();
///     let t = time.clone();
///     let lc = LoopingCall::new(time.clone(), move || println!("tick at {}", t.seconds()));
///     let done = lc.start(Duration::from_secs(60), true).unwrap();
///     tokio::time::sleep(Duration::from_secs(150)).await; // instant: time is paused
///     lc.stop().unwrap();
///     done.await.unwrap(); // ticked at 0, 60 and 120
///     assert_eq!(time.seconds(), 150.0);
/// }
/// ```
#[derive(Clone)]
pub struct TokioTime {
    shared: Arc<Shared>,
}

struct Shared {
    queue: TimerQueue,
    /// Wakes the task that runs the calls: a new earliest call, or the last handle going.
    wake: Arc<Notify>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.wake.notify_one();
    }
}

impl TokioTime {
    /// A time source on the current tokio runtime, starting at 0 now.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as `tokio::spawn` does; [`with_handle`](TokioTime::with_handle)
    /// takes the runtime's handle instead.
    ///
    /// ```
    /// let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// let time = runtime.block_on(async { deferreds::tokio::TokioTime::new() });
    /// # drop(time);
    /// ```
    #[track_caller]
    #[allow(clippy::new_without_default)] // It panics outside a runtime: no `Default` for that.
    pub fn new() -> TokioTime {
        TokioTime::with_handle(&Handle::current())
    }

    /// A time source on the runtime `handle` belongs to, starting at 0 now.
    ///
    /// ```
    /// let runtime = tokio::runtime::Builder::new_multi_thread().enable_time().build().unwrap();
    /// let time = deferreds::tokio::TokioTime::with_handle(runtime.handle());
    /// let d = deferreds::reactor::defer_later(&time, 0.001, || Ok("from a runtime thread"));
    /// assert_eq!(futures::executor::block_on(async { d.await }).unwrap(), "from a runtime thread");
    /// assert!(time.seconds() >= 0.001);
    /// ```
    pub fn with_handle(handle: &Handle) -> TokioTime {
        let origin = {
            let _runtime = handle.enter();
            Instant::now()
        };
        let wake = Arc::new(Notify::new());
        let (clock, waker) = (handle.clone(), wake.clone());
        let queue = TimerQueue::new(
            // Entered, so that a thread outside the runtime reads the runtime's clock, which
            // is the one that pauses.
            move || {
                let _runtime = clock.enter();
                origin.elapsed().as_secs_f64()
            },
            move || waker.notify_one(),
        );
        let shared = Arc::new(Shared { queue, wake: wake.clone() });
        handle.spawn(drive(Arc::downgrade(&shared), wake, origin));
        TokioTime { shared }
    }

    /// The current time in seconds: how long ago, on the runtime's clock, this time source
    /// was made.
    pub fn seconds(&self) -> f64 {
        self.shared.queue.now()
    }

    /// The calls still pending, in the order they would run.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// use deferreds::reactor::Time;
    /// let time = deferreds::tokio::TokioTime::new();
    /// let call = time.call_later(1.0, || ()).unwrap();
    /// assert_eq!(time.pending_calls(), [call]);
    /// # });
    /// ```
    pub fn pending_calls(&self) -> Vec<DelayedCall> {
        self.shared.queue.pending_calls()
    }
}

/// The task behind a `TokioTime`: runs the due calls, then sleeps until the next one is due or
/// it is woken, until the last handle is dropped.
async fn drive(shared: Weak<Shared>, wake: Arc<Notify>, origin: Instant) {
    loop {
        let Some(time) = shared.upgrade() else { return };
        run_due(&time.queue);
        let next = time.queue.next_due();
        // Not held while asleep: the last handle may go meanwhile, and wakes us when it does.
        // This may be the last handle itself (a call dropped the others): the calls still
        // pending go with it, and their destructors are user code, which must not end this
        // task in a panic tokio would swallow.
        contain::drop_reporting(time);
        let deadline = next.and_then(|secs| {
            Duration::try_from_secs_f64(secs).ok().and_then(|d| origin.checked_add(d))
        });
        match deadline {
            Some(deadline) => {
                let _ = ::tokio::time::timeout_at(deadline, wake.notified()).await;
            }
            // No call, or one too far away for an `Instant`: only a wake ends the sleep.
            None => wake.notified().await,
        }
    }
}

/// Runs the calls that are due; a panic in one is reported, and the rest still run.
fn run_due(queue: &TimerQueue) {
    while let Err(payload) = catch_unwind(AssertUnwindSafe(|| queue.run_due())) {
        report_panic(payload);
    }
}

impl Time for TokioTime {
    #[inline]
    fn seconds(&self) -> f64 {
        TokioTime::seconds(self)
    }

    #[inline]
    fn call_later_boxed(
        &self,
        delay: Seconds,
        f: Box<dyn FnOnce() + Send + 'static>,
    ) -> Result<DelayedCall, InvalidDelayError> {
        self.shared.queue.call_later_boxed(delay, f)
    }

    fn downgrade(&self) -> Option<WeakTime> {
        Some(WeakTime::of(&self.shared, |shared| TokioTime { shared }))
    }
}

impl fmt::Debug for TokioTime {
    /// `TokioTime { seconds: 1.5, pending: 2 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokioTime")
            .field("seconds", &self.seconds())
            .field("pending", &self.pending_calls().len())
            .finish()
    }
}

/// Runs `future` on the current tokio runtime as a Deferred: the task's output fires it, and
/// cancelling it aborts the task.
///
/// This is how a Deferred-based program starts work that needs the runtime (tokio sockets,
/// timers, channels): the future is polled on the runtime's threads, like any task, and the
/// Deferred's callbacks run on the thread that finishes it. A panic in the future becomes a
/// [`PanicError`](crate::PanicError) failure, and so does a panic in its destructor once it has
/// its output; a future dropped unfinished (aborted, or the runtime shut down) that panics in
/// its destructor is reported through the [unhandled-failure hook](crate::set_unhandled_hook). [`cancel`](Deferred::cancel) aborts the task,
/// which stops at its next `.await`, and fails the Deferred with [`CancelledError`] at once
/// (unless the output got there first); so do a timeout through
/// [`add_timeout`](Deferred::add_timeout) and dropping the future that awaits the Deferred. A
/// task that ends without output, because the runtime shut down, fails it with
/// `CancelledError` too.
///
/// For a future of `Result<T, E>`, `.add_callback(|result| result.into_failure())` moves the
/// error to the failure track ([`IntoFailure`](crate::IntoFailure)).
///
/// # Panics
///
/// Outside a tokio runtime, as `tokio::spawn` does; [`spawn_on`] takes a handle instead.
///
/// ```
/// use deferreds::IntoFailure;
///
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() {
///     let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
///     let d = deferreds::tokio::spawn(async move { rx.await })
///         .add_callback(|received| received.into_failure())
///         .map(|n| n * 2);
///     tx.send(21).unwrap();
///     assert_eq!(d.await.unwrap(), 42);
///
///     let forever = deferreds::tokio::spawn(std::future::pending::<()>());
///     forever.cancel(); // aborts the task
///     assert!(forever.await.unwrap_err().check::<deferreds::CancelledError>());
/// }
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> Deferred<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_on(&Handle::current(), future)
}

/// [`spawn`] on the runtime `handle` belongs to, from any thread.
///
/// ```
/// let runtime = tokio::runtime::Builder::new_multi_thread().enable_time().build().unwrap();
/// let d = deferreds::tokio::spawn_on(runtime.handle(), async {
///     tokio::time::sleep(std::time::Duration::from_millis(1)).await; // needs the runtime
///     "slept"
/// });
/// assert_eq!(futures::executor::block_on(async { d.await }).unwrap(), "slept");
/// ```
#[track_caller]
pub fn spawn_on<F>(handle: &Handle, future: F) -> Deferred<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let task: Arc<OnceLock<AbortHandle>> = Arc::new(OnceLock::new());
    let abort = task.clone();
    let (d, resolver) = Deferred::with_canceller(move |_: &Resolver<F::Output>| {
        if let Some(task) = abort.get() {
            task.abort();
        }
    });
    // Made out here, so that a task dropped before its first poll fires it too, and contains
    // the future's destructor then.
    let mut output = Output { resolver: Some(resolver) };
    let future = CatchUnwind(Some(Box::pin(future)));
    let join = handle.spawn(async move {
        let result = future.await;
        output.fire(result.map_err(Failure::from_panic));
    });
    let _ = task.set(join.abort_handle());
    d
}

/// Fires the spawned task's Deferred with its output, or, if the task is dropped first
/// (aborted, or the runtime shut down), with a `CancelledError`.
struct Output<T: Send + 'static> {
    resolver: Option<Resolver<T>>,
}

impl<T: Send + 'static> Output<T> {
    fn fire(&mut self, result: Result<T, Failure>) {
        if let Some(resolver) = self.resolver.take() {
            // Already failed with `CancelledError` if it was cancelled meanwhile.
            let _ = resolver.resolve(result);
        }
    }
}

impl<T: Send + 'static> Drop for Output<T> {
    fn drop(&mut self) {
        self.fire(Err(Failure::new(CancelledError)));
    }
}

/// A future whose panic becomes its output, and whose destructor is contained: dropped once it
/// is done, a panic there becomes the output of a future that succeeded (as a returning
/// coroutine's frame goes before its result is handed on), and is reported otherwise; dropped
/// before it is done (the task was aborted, or the runtime shut down), it is reported. Tokio
/// would swallow it.
struct CatchUnwind<F>(Option<Pin<Box<F>>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn std::any::Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(future) = self.0.as_mut() else { return Poll::Pending };
        let polled = catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx)));
        if polled.as_ref().is_ok_and(Poll::is_pending) {
            return Poll::Pending;
        }
        let future = self.0.take();
        let dropped = catch_unwind(AssertUnwindSafe(move || drop(future)));
        Poll::Ready(match (polled, dropped) {
            (Ok(Poll::Ready(output)), Ok(())) => Ok(output),
            (Ok(Poll::Ready(output)), Err(panic)) => {
                contain::drop_reporting(output);
                Err(panic)
            }
            (Err(panic), dropped) => {
                if let Err(late) = dropped {
                    report_panic(late);
                }
                Err(panic)
            }
            (Ok(Poll::Pending), _) => unreachable!("returned above"),
        })
    }
}

impl<F> Drop for CatchUnwind<F> {
    fn drop(&mut self) {
        if let Some(future) = self.0.take() {
            contain::drop_reporting(future);
        }
    }
}

fn report_panic(payload: Box<dyn std::any::Any + Send>) {
    unhandled::report(UnhandledFailure::new(Failure::from_panic(payload), None));
}
