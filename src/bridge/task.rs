//! Futures that drive themselves: [`Deferred::from_future`] and [`ensure_deferred`].
//!
//! # No executor
//!
//! A task is a future and the Deferred its output goes to. It is polled at once, on the thread
//! that creates it, and after that by whichever thread wakes it: the task is its own waker, and
//! waking it polls it. Wakes that arrive while the task is being polled are never lost and never
//! poll it twice at once: a small state machine under the task's lock decides who polls.
//!
//! | state | meaning | a wake... |
//! |---|---|---|
//! | `Idle` | pending, nobody polling | schedules a poll (`Scheduled`) |
//! | `Scheduled` | a poll is due; whoever scheduled it owns it | changes nothing |
//! | `Polling` | being polled | asks for one more poll (`Notified`) |
//! | `Notified` | being polled, and polled again right after | changes nothing |
//! | `Done` | the output was handed over, or the future dropped | changes nothing |
//!
//! # No recursion
//!
//! Tasks are polled through this thread's [runner](crate::bridge::runner), which queues the
//! tasks woken while one is being polled and polls them after it, in a loop: a tower of nested
//! `ensure_deferred` calls unwinds at constant stack depth, whatever its height.
//!
//! # Cancellation
//!
//! How a task is cancelled, and how a cancellation reaches the future, is in `task/cancel.rs`.
//!
//! Part of the async bridge, on the typed Deferred and the engine: it knows nothing of the
//! combinators, the primitives or the reactor.

use std::future::Future;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};

use parking_lot::Mutex;

use self::cancel::MAX_ARMED_POLLS;
use self::cancel::SERIAL;
use self::cancel::canceller;
use self::cancel::with_armed;
use crate::bridge::runner::{Runnable, as_runner, dispatch};
use crate::chain::{Awaiting, Chain, Tail, kept_for, polling};
use crate::deferred::Deferred;
use crate::error::CancelledError;
use crate::failure::Failure;
use crate::foundation::contain;
use crate::foundation::unhandled::{self, UnhandledFailure};
use crate::foundation::value::Value;

pub(crate) mod cancel;

impl<T: Send + 'static> Deferred<T> {
    /// A Deferred that fires with `future`'s output (Twisted's `Deferred.fromFuture`).
    ///
    /// No executor is needed: the future is polled at once, on this thread, and again on
    /// whichever thread wakes it. If it completes in that first poll, the Deferred already has
    /// its result when `from_future` returns. A panic in the future becomes a
    /// [`PanicError`](crate::PanicError) failure.
    ///
    /// [`cancel`](Deferred::cancel) drops the future (right away, or once the poll in progress
    /// returns) and fails the Deferred with [`CancelledError`]; any Deferred the future was
    /// awaiting is cancelled by that drop. For a future whose output is a `Result<T, Failure>`,
    /// and for the cancellation Twisted gives coroutines, use [`ensure_deferred`].
    ///
    /// Polling inside `wake` is what makes this work without an executor, and it has a
    /// consequence: the future runs on the thread that wakes it, which need not be one of the
    /// runtime's whose timers or sockets it uses (a tokio future woken by a plain thread
    /// panics with "there is no reactor running"). A future that needs a runtime must run on
    /// it: with the `tokio` feature, `deferreds::tokio::spawn` runs it there as a Deferred whose
    /// cancel aborts the task. (`from_future(tokio::spawn(..))` is not the same: cancelling
    /// drops the `JoinHandle`, which detaches the task and leaves it running.) See
    /// [the async guide](https://github.com/deferreds/deferreds/blob/main/docs/async.md).
    ///
    /// ```
    /// use deferreds::Deferred;
    ///
    /// let (tx, rx) = futures::channel::oneshot::channel::<u32>();
    /// let d = Deferred::from_future(async move { rx.await.unwrap_or(0) * 2 });
    /// deferreds::testing::assert_no_result(&d);
    /// tx.send(21).unwrap(); // wakes the future, which runs to completion here
    /// assert_eq!(deferreds::testing::success_result_of(d), 42);
    /// ```
    #[track_caller]
    pub fn from_future<F>(future: F) -> Deferred<T>
    where
        F: Future<Output = T> + Send + 'static,
    {
        Deferred::from_tail(start(
            future,
            |t| Ok(Value::new(t)),
            OnCancel::Drop,
            Location::caller(),
        ))
    }
}

/// Runs an async block (or any future of a `Result<T, Failure>`) as a Deferred: Twisted's
/// `ensureDeferred`, `Deferred.fromCoroutine` and `inlineCallbacks`.
///
/// The future runs synchronously, on this thread, as far as it can: awaiting a Deferred that
/// already has its result does not suspend it, so a block that only awaits fired Deferreds has
/// finished when `ensure_deferred` returns. When it awaits one that has not fired, it resumes
/// from that Deferred's firing, on the thread that fires it, as Twisted's coroutines resume
/// from a callback. No executor is involved (see [`Deferred::from_future`]). `Ok` fires the
/// Deferred with a value, `Err` with a failure, and a panic becomes a
/// [`PanicError`](crate::PanicError) failure.
///
/// Cancelling the returned Deferred cancels the Deferred the future is awaiting at that moment,
/// and the resulting failure (usually [`CancelledError`]) comes out of that `.await`. The
/// future may handle it and carry on, in which case the returned Deferred stays pending, or let
/// it propagate with `?`. If the future is awaiting something other than a Deferred, it is
/// dropped and the Deferred fails with `CancelledError`.
///
/// Tasks woken while another task is running on the same thread resume after it, not inside
/// it, which is what keeps a tower of 100,000 nested `ensure_deferred` calls within a small
/// stack (Twisted overflows after about 200).
///
/// ```
/// use deferreds::{Deferred, Failure, ensure_deferred};
///
/// let (port, open_port) = Deferred::<u16>::new();
/// let d = ensure_deferred(async move {
///     let greeting = deferreds::succeed("hello").await?; // fired already: no suspension
///     let port = port.await?;                            // suspends until `open_port` fires
///     Ok::<_, Failure>(format!("{greeting} on {port}"))
/// });
/// deferreds::testing::assert_no_result(&d);
/// open_port.callback(8080).unwrap(); // the async block resumes and finishes here
/// assert_eq!(deferreds::testing::success_result_of(d), "hello on 8080");
/// ```
#[track_caller]
pub fn ensure_deferred<T, F>(future: F) -> Deferred<T>
where
    T: Send + 'static,
    F: Future<Output = Result<T, Failure>> + Send + 'static,
{
    Deferred::from_tail(start(future, |r| r.map(Value::new), OnCancel::Deliver, Location::caller()))
}

/// What a cancel does to a task.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnCancel {
    /// Drop the future; the engine fails the Deferred (`from_future`).
    Drop,
    /// Deliver the cancellation into the future (`ensure_deferred`).
    Deliver,
}

/// Who polls the task next; see the module docs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Run {
    Idle,
    Scheduled,
    Polling,
    Notified,
    Done,
}

/// A cancellation waiting for the owner of the task to carry it out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cancel {
    None,
    /// Poll once more, armed (`ensure_deferred`), to deliver the cancellation `cause`
    /// names (see [`CAUSE`]).
    Deliver {
        cause: u64,
    },
    /// Drop the future; `fire` says whether the task fails the Deferred itself (it does when a
    /// delivery found nothing to cancel) or the engine already did (`from_future`).
    Drop {
        fire: bool,
    },
}

struct Task<F: Future> {
    state: Mutex<State<F>>,
    /// The task itself, for the wakers it leaves in chains (see `chain::awaiters`).
    me: Weak<dyn Awaiting>,
    convert: fn(F::Output) -> Result<Value, Failure>,
    on_cancel: OnCancel,
    created: &'static Location<'static>,
}

struct State<F: Future> {
    run: Run,
    /// In place while `Idle` or `Scheduled`; held by the poller while `Polling` or `Notified`
    /// (so that it is polled outside the lock); gone once `Done`.
    future: Option<Pin<Box<F>>>,
    /// The Deferred the output goes to. Created when the first poll returns `Pending` (a
    /// future that completes at once needs none), taken when the output is handed over.
    chain: Option<Arc<Chain>>,
    /// A cancel that arrived while someone else owned the task; that owner carries it out.
    cancel: Cancel,
    /// The cause of the last cancellation this task was asked to deliver, or 0.
    cause: u64,
    /// Chains this task's waker was left in, for the engine's walk (see `chain::cycles`).
    awaited: Vec<Weak<Chain>>,
}

impl<F: Future> Drop for State<F> {
    fn drop(&mut self) {
        // A future still here when its task is freed was dropped because nothing can wake it
        // any more (it never kept its waker, or every waker it gave out is gone). That drop
        // happens wherever the last waker goes: at the end of `start`, inside a chain's drop,
        // in a foreign executor. Only a cancel can settle its Deferred now, and no chain takes
        // the panic: it is reported.
        if let Some(future) = self.future.take() {
            contain::drop_reporting(future);
        }
    }
}

/// Creates a task for `future` and polls it for the first time.
fn start<F>(
    future: F,
    convert: fn(F::Output) -> Result<Value, Failure>,
    on_cancel: OnCancel,
    created: &'static Location<'static>,
) -> Tail
where
    F: Future + Send + 'static,
{
    let task = Arc::new_cyclic(|me: &Weak<Task<F>>| Task {
        state: Mutex::new(State {
            run: Run::Scheduled,
            future: Some(Box::pin(future)),
            chain: None,
            cancel: Cancel::None,
            cause: 0,
            awaited: Vec::new(),
        }),
        me: me.clone(),
        convert,
        on_cancel,
        created,
    });
    // The first poll happens now, inside whatever poll (if any) created the task: this is what
    // lets an async block run synchronously as far as it can.
    as_runner(|| task.poll_loop(true)).expect("a task's first poll makes its Deferred")
}

impl<F> Task<F>
where
    F: Future + Send + 'static,
{
    /// [`schedule`](Task::schedule) under the lock, for a wake.
    fn mark(&self) -> bool {
        self.schedule(&mut self.state.lock())
    }

    /// Moves an `Idle` task to `Scheduled`, or asks a polling one for another poll. Returns
    /// whether the caller now owns a scheduled task and must dispatch it.
    fn schedule(&self, st: &mut State<F>) -> bool {
        match st.run {
            Run::Idle => {
                st.run = Run::Scheduled;
                true
            }
            Run::Polling => {
                st.run = Run::Notified;
                false
            }
            Run::Scheduled | Run::Notified | Run::Done => false,
        }
    }

    /// Polls the future until it is pending with no wake outstanding, or done. The caller owns
    /// the task (`Scheduled`).
    ///
    /// The `first` call (from [`start`]) makes the task's Deferred and returns it: a ready tail
    /// if the future completed before it ever went idle, else its chain. Later calls return
    /// `None`.
    fn poll_loop(self: &Arc<Self>, first: bool) -> Option<Tail> {
        let waker = Waker::from(self.clone());
        let mut cx = Context::from_waker(&waker);

        // The Deferred, if this call made it.
        let mut made: Option<Arc<Chain>> = None;
        // Cancelling polls in a row that found nothing to cancel (see `MAX_ARMED_POLLS`).
        let mut armed_polls = 0;
        let mut st = self.state.lock();
        loop {
            debug_assert_eq!(st.run, Run::Scheduled);
            if let Cancel::Drop { fire } = st.cancel {
                st.cancel = Cancel::None;
                st.run = Run::Done;
                let future = st.future.take();
                let chain = st.chain.take();
                drop(st);
                let panicked = drop_future(future);
                match (fire, chain) {
                    (true, Some(chain)) => {
                        let failure = panicked.unwrap_or_else(|| Failure::new(CancelledError));
                        let _ = chain.fire(Err(failure), self.created);
                        crate::chain::dropping(&chain);
                    }
                    // The engine fails the Deferred with `CancelledError`: a panic in the
                    // future's destructor has nowhere to go but the report.
                    _ => report_lost(panicked),
                }
                return made.map(Tail::Chain);
            }
            let (armed, cause) = match st.cancel {
                Cancel::Deliver { cause } => {
                    st.cancel = Cancel::None;
                    armed_polls += 1;
                    (Some(SERIAL.fetch_add(1, Ordering::Relaxed)), cause)
                }
                _ => (None, 0),
            };
            let mut future = st.future.take().expect("a scheduled task has its future");
            st.run = Run::Polling;
            drop(st);

            // The task's wakers left in chains in this poll are recorded as its own (see
            // `chain::awaiters`).
            let ((poll, recorded), scope) = polling(&self.me, || {
                with_armed(armed, cause, || {
                    catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx)))
                })
            });
            let output = match poll {
                Ok(Poll::Pending) => None,
                Ok(Poll::Ready(output)) => Some((self.convert)(output)),
                Err(payload) => Some(Err(Failure::from_panic(payload))),
            };
            if let Some(output) = output {
                return match self.finish(output, future) {
                    Some(output) => Some(Tail::ready(output, self.created)),
                    None => made.map(Tail::Chain),
                };
            }

            // The first time the task goes idle, it needs its Deferred. It is made outside the
            // lock (it allocates); nobody else can reach the task's state before it is idle.
            let new_chain = if first && made.is_none() {
                let chain = Chain::pending(Some(canceller(Arc::downgrade(self))), self.created);
                made = Some(chain.clone());
                Some(chain)
            } else {
                None
            };
            if let Some(chain) = &made {
                // Chains that can never fire kept this task's waker while it had no Deferred:
                // whether they still need to is up to whoever gets the Deferred.
                kept_for(chain, scope.kept);
            }
            st = self.state.lock();
            if new_chain.is_some() {
                st.chain = new_chain;
            }
            st.future = Some(future);
            if !scope.awaited.is_empty() {
                // Those gone are let go of as others come.
                st.awaited.retain(|c| c.strong_count() > 0);
                for chain in scope.awaited {
                    if !st.awaited.iter().any(|c| c.ptr_eq(&chain)) {
                        st.awaited.push(chain);
                    }
                }
            }
            // Whether to poll again at once, without waiting for a wake.
            let mut again = false;
            if armed.is_some() && recorded.cancelled == 0 && st.cancel == Cancel::None {
                if recorded.pending_old > 0 {
                    // What it was awaiting has a result on the way (it fired on another thread
                    // as the cancel came, or is running its steps): the wake that result brings
                    // polls it again, armed, and the cancellation goes to whatever it awaits
                    // then. Polling before that would only spin.
                    st.cancel = Cancel::Deliver { cause };
                } else if recorded.pending_new > 0 && armed_polls < MAX_ARMED_POLLS {
                    // It awaits only Deferreds it first awaited in this very poll (it caught up
                    // with one that had fired): those are what it awaits now.
                    st.cancel = Cancel::Deliver { cause };
                    again = true;
                } else {
                    // It awaits no Deferred: drop it, as `from_future` would.
                    st.cancel = Cancel::Drop { fire: true };
                    again = true;
                }
            }
            if recorded.cancelled > 0 {
                armed_polls = 0;
            }
            match st.run {
                Run::Polling if !again => {
                    st.run = Run::Idle;
                    return made.map(Tail::Chain);
                }
                Run::Polling | Run::Notified => st.run = Run::Scheduled,
                other => unreachable!("a polled task cannot be {other:?}"),
            }
        }
    }

    /// Hands the output over, to the task's Deferred, or back to the caller if the task has
    /// none yet. The caller owned the task and has the future back.
    fn finish(
        &self,
        output: Result<Value, Failure>,
        future: Pin<Box<F>>,
    ) -> Option<Result<Value, Failure>> {
        let mut st = self.state.lock();
        st.run = Run::Done;
        st.cancel = Cancel::None;
        let chain = st.chain.take();
        drop(st);
        // What the future still owns goes before the callbacks run, as a returning coroutine's
        // frame does.
        let output = match (drop_future(Some(future)), output) {
            (Some(panic), Ok(_)) => Err(panic),
            // The future failed already: that failure stands, and the panic is reported.
            (panic, output) => {
                report_lost(panic);
                output
            }
        };
        match chain {
            Some(chain) => {
                // If the Deferred was cancelled meanwhile (`from_future`), the cancellation
                // stands and the output is discarded.
                let _ = chain.fire(output, self.created);
                // The task's hold on its Deferred goes: what that left may only be held by the
                // engine's links (see `chain::cycles`).
                crate::chain::dropping(&chain);
                None
            }
            None => Some(output),
        }
    }
}

impl<F: Future> Drop for Task<F> {
    fn drop(&mut self) {
        // A task freed unfinished will never fire its Deferred: whatever awaits that Deferred
        // may be left with nothing to wake it (see `chain::cycles`).
        if let Some(chain) = self.state.get_mut().chain.take() {
            crate::chain::dropping(&chain);
        }
    }
}

/// Reports a panic from a future's destructor that cannot be the task's failure, as a
/// canceller's is when the canceller had fired its Deferred.
fn report_lost(panic: Option<Failure>) {
    if let Some(panic) = panic {
        unhandled::report(UnhandledFailure::new(panic, None));
    }
}

/// Drops a future, turning a panic in its destructor into a failure.
fn drop_future<F>(future: Option<F>) -> Option<Failure> {
    catch_unwind(AssertUnwindSafe(move || drop(future))).err().map(Failure::from_panic)
}

impl<F> Awaiting for Task<F>
where
    F: Future + Send + 'static,
{
    fn deferred(&self) -> Option<Arc<Chain>> {
        self.state.lock().chain.clone()
    }

    fn awaited(&self) -> Vec<Arc<Chain>> {
        self.state.lock().awaited.iter().filter_map(Weak::upgrade).collect()
    }
}

impl<F> Runnable for Task<F>
where
    F: Future + Send + 'static,
{
    fn run(self: Arc<Self>) {
        // Only a task that outlived its first poll is ever queued: its Deferred exists.
        self.poll_loop(false);
    }
}

impl<F> Wake for Task<F>
where
    F: Future + Send + 'static,
{
    fn wake(self: Arc<Self>) {
        if self.mark() {
            dispatch(self);
        }
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.mark() {
            dispatch(self.clone());
        }
    }
}
