//! Time for Deferreds: a deterministic [`Clock`] for tests, a real-time [`Reactor`], and what
//! is built on either: [`defer_later`], [`Deferred::add_timeout`](crate::Deferred::add_timeout)
//! and [`LoopingCall`] (cargo feature `reactor`).
//!
//! Twisted's `IReactorTime` is the [`Time`] trait: [`seconds`](Time::seconds) and
//! [`call_later`](Time::call_later), which returns a [`DelayedCall`] that can be cancelled or
//! moved until it runs. Code that takes `&impl Time` runs unchanged on the real reactor and on
//! a `Clock`, where a test moves time by hand and nothing sleeps:
//!
//! ```
//! use deferreds::reactor::{Clock, Time, defer_later};
//! use deferreds::testing::Recorder;
//! use deferreds::Deferred;
//!
//! /// "Hello" after 2 s, then "World" 3 s after that.
//! fn hello_world(time: &(impl Time + Clone + 'static), log: &Recorder) -> Deferred<()> {
//!     let (log, log2, time2) = (log.clone(), log.clone(), time.clone());
//!     defer_later(time, 2.0, move || log.record("Hello"))
//!         .add_callback(move |()| defer_later(&time2, 3.0, move || log2.record("World")))
//! }
//!
//! let clock = Clock::new();
//! let log = Recorder::new();
//! let done = hello_world(&clock, &log);
//! clock.advance(2.0);
//! assert_eq!(log.take(), ["Hello"]);
//! clock.advance(3.0);
//! assert_eq!(log.take(), ["World"]);
//! deferreds::testing::success_result_of(done);
//! ```
//!
//! | Twisted | here |
//! |---|---|
//! | `IReactorTime` | [`Time`] |
//! | `reactor.callLater(delay, f)` | [`Time::call_later`], returning `Result<`[`DelayedCall`]`, _>` |
//! | `IDelayedCall`: `cancel`, `reset`, `delay`, `active`, `getTime` | [`DelayedCall`]: the same in snake case |
//! | `task.Clock`: `advance`, `pump`, `seconds`, `getDelayedCalls` | [`Clock`]: `advance`, `pump`, `seconds`, `pending_calls` |
//! | `reactor.run`, `stop`, `running`, `callWhenRunning`, `callFromThread`, `addSystemEventTrigger` | [`Reactor`]: the same in snake case |
//! | `task.deferLater` | [`defer_later`] |
//! | `Deferred.addTimeout` | [`Deferred::add_timeout`](crate::Deferred::add_timeout), [`add_timeout_with`](crate::Deferred::add_timeout_with) |
//! | `task.LoopingCall`, `withCount` | [`LoopingCall`], [`LoopingCall::with_count`] |
//! | `AlreadyCalled`, `AlreadyCancelled` | [`DelayedCallError`] |
//! | `ReactorNotRunning`, `ReactorAlreadyRunning`, `ReactorNotRestartable` | [`ReactorError`] |
//! | `defer.TimeoutError` | [`TimeoutError`] |
//! | `threads.deferToThread`, `reactor.callInThread`, `suggestThreadPoolSize` | [`Reactor::defer_to_thread`], [`Reactor::call_in_thread`], [`Reactor::suggest_thread_pool_size`] |
//! | `task.react`, `SystemExit` | [`react`], [`Reactor::react`], [`exit_code`], [`Exit`] |
//! | a delay in seconds | anything that converts into [`Seconds`]: an `f64` of seconds or a `Duration` |
//! | a reactor of your own | a [`Time`] implementation on a [`TimerQueue`]; `deferreds::tokio::TokioTime` (feature `tokio`) is one |
//!
//! # Threads
//!
//! Everything here is `Send` and `Sync`, and may be called from any thread. Scheduled closures
//! are `FnOnce() + Send + 'static` and run on the thread that drives the time source: the one
//! inside [`Reactor::run`], or the one calling [`Clock::advance`]. Work given to
//! [`Reactor::defer_to_thread`] runs on the reactor's thread pool, and its Deferred fires on
//! the reactor thread. No closure ever runs while
//! this module holds a lock, so a closure may schedule, cancel, or advance freely.
//!
//! [`reactor.md`](https://github.com/deferreds/deferreds/blob/main/docs/reactor.md) tells the
//! whole story, and
//! [`conformance.md`](https://github.com/deferreds/deferreds/blob/main/docs/conformance.md) lists
//! where this module differs from Twisted and why.

// Part of the reactor, on the typed Deferred: it knows nothing of the engine's insides, the
// combinators, the primitives or the async bridge.

mod clock;
mod delayed;
mod error;
mod event_loop;
mod events;
mod later;
mod looping;
mod pool;
mod queue;
mod react;
mod seconds;
mod threads;
mod time;
mod timeout;
mod timer_queue;

pub use clock::Clock;
pub use delayed::DelayedCall;
pub use error::{
    DelayedCallError, InvalidDelayError, LoopingCallError, ReactorError, StoppedEarlyError,
    ThreadPoolError, TimeoutError,
};
pub use event_loop::Reactor;
pub use events::{Phase, ReactorFailure, SystemEvent, TriggerId, TriggerResult};
pub use later::defer_later;
pub use looping::LoopingCall;
pub use react::{Exit, exit_code, exit_status, react};
pub use seconds::Seconds;
pub use time::{Time, WeakTime};
pub use timer_queue::TimerQueue;
