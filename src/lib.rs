//! Twisted's Deferred for Rust: a value you don't have yet, with a chain of callbacks and
//! errbacks that runs when it arrives.
//!
//! New to Deferreds? [The guide](https://github.com/deferreds/deferreds/blob/main/docs/guide/README.md)
//! walks through the classic Twisted tutorials in Rust, and
//! [`twisted-to-rust.md`](https://github.com/deferreds/deferreds/blob/main/docs/twisted-to-rust.md)
//! maps Twisted's names to this crate's.
//!
//! ```toml
//! [dependencies]
//! deferreds = { version = "0.1", features = ["reactor"] } # timers; see "Features" below
//! ```
//!
//! # The model
//!
//! ```rust,ignore
//! let (d, resolver) = Deferred::<T>::new();   // the tail you add steps to, and the head you fire
//! let d = d.add_callback(|t: T| -> Result<U, Failure> { .. })   // value track
//!          .add_errback(|f: Failure| -> Result<U, Failure> { .. }) // failure track
//!          .add_both(|r: Result<U, Failure>| ..);                  // either
//! resolver.callback(t)?;  // runs the chain now, on this thread
//! ```
//!
//! A [`Deferred`] is a chain of steps with two tracks. A callback gets a value and returns the
//! next one, which may have another type; failing (an `Err`, a `?`, a panic) moves the chain to
//! the failure track, where errbacks get a [`Failure`]. An errback that returns a value moves it
//! back. Steps run synchronously: when the [`Resolver`] fires, or at once if the result is
//! already there.
//!
//! ```
//! use deferreds::{Deferred, IntoFailure};
//!
//! let (d, resolver) = Deferred::<&str>::new();
//! let d = d
//!     .add_callback(|text| text.parse::<u32>().into_failure()) // may fail
//!     .add_errback(|failure| {
//!         failure.trap::<std::num::ParseIntError>()?; // handle only this error
//!         Ok(0)
//!     })
//!     .map(|n| n + 1);
//!
//! resolver.callback("forty-one").unwrap();
//! assert_eq!(deferreds::testing::success_result_of(d), 1);
//! ```
//!
//! # Nesting
//!
//! A step that returns another Deferred pauses its chain until that one fires, then continues
//! with its result, to any depth and without recursion. A callback that may fail before it has
//! that Deferred is added with [`and_then`](Deferred::and_then): in `add_callback`,
//! `Ok(deferred)` would be a plain value.
//!
//! ```
//! use deferreds::Deferred;
//!
//! let (inner, fire_inner) = Deferred::<u32>::new();
//! let outer = deferreds::succeed("key").add_callback(move |_| inner).map(|n| n * 2);
//! assert!(outer.is_waiting());
//! fire_inner.callback(21).unwrap();
//! assert_eq!(deferreds::testing::success_result_of(outer), 42);
//! ```
//!
//! # Failures
//!
//! A [`Failure`] wraps any error, a panic ([`PanicError`]) or a message, with where it was
//! created and, when backtraces are on (`RUST_BACKTRACE=1`), the frames. `?` makes one from
//! any error, and [`into_failure()`](IntoFailure::into_failure) from a `Result` of any error
//! (a `Box<dyn Error>` and an `anyhow::Error` included), recording the caller's line; `?` takes
//! one out again into a `Box<dyn Error>` (or, with the `anyhow` feature, an `anyhow::Error`).
//! Errbacks
//! [`check`](Failure::check) and [`trap`](Failure::trap) it by type; [`Failure::traceback`]
//! prints it the way Twisted does. A chain that ends on a failure nobody handled reports it
//! when its last handle is dropped ([`set_unhandled_hook`]).
//!
//! # Cancellation and pausing
//!
//! [`Deferred::cancel`] runs the canceller given to [`Deferred::with_canceller`], or fails the
//! chain with [`CancelledError`]; a chain waiting on another passes the cancellation inward.
//! The firing side can ask [`Resolver::is_cancelled`] to stop work nobody wants.
//! [`Deferred::pause`] and [`Deferred::unpause`] hold the chain like a counter.
//!
//! # One result, many observers
//!
//! [`Deferred::share`] hands one Deferred's result to any number of observers, each a
//! Deferred of its own ([`SharedDeferred`]): what several holders of one Twisted Deferred do,
//! as in a cache of work in flight.
//!
//! ```
//! let (fetch, resolver) = deferreds::Deferred::<String>::new();
//! let shared = fetch.share();
//! let (first, second) = (shared.observe(), shared.observe().map(|s| s.len()));
//! resolver.callback("poem".into()).unwrap();
//! assert_eq!(deferreds::testing::success_result_of(first), "poem");
//! assert_eq!(deferreds::testing::success_result_of(second), 4);
//! ```
//!
//! # Several Deferreds at once
//!
//! [`DeferredList`], [`gather_results`] and [`race`](fn@crate::race) wait for several
//! Deferreds, keeping input order; cancelling them cancels their inputs. [`maybe_deferred`] turns any call into a
//! Deferred, and [`DeferredLock`], [`DeferredSemaphore`] and [`DeferredQueue`] coordinate
//! chains without blocking a thread
//! ([`combinators.md`](https://github.com/deferreds/deferreds/blob/main/docs/combinators.md)).
//!
//! ```
//! use deferreds::{Deferred, gather_results};
//!
//! let (a, fire_a) = Deferred::<u32>::new();
//! let sum = gather_results(vec![a, deferreds::succeed(2)]).map(|v| v.iter().sum::<u32>());
//! fire_a.callback(40).unwrap();
//! assert_eq!(deferreds::testing::success_result_of(sum), 42);
//! ```
//!
//! # Threads
//!
//! `Deferred`, `Resolver` and `Failure` are `Send` and `Sync`; steps must be `Send + 'static`.
//! Steps run on the thread that fires the Deferred, never under a lock, so a step may freely
//! add to, fire or inspect other Deferreds, including its own.
//!
//! # Async
//!
//! A Deferred can be awaited: `deferred.await` gives `Result<T, Failure>` under any executor, and
//! dropping the await cancels the Deferred ([`DeferredFuture`]). [`ensure_deferred`] runs an
//! async block as a Deferred with no executor at all, the way Twisted runs coroutines: at once,
//! resuming from the callbacks of whatever it awaits. [`Deferred::from_future`] does the same for
//! any future; a future that needs the tokio runtime runs there with `deferreds::tokio::spawn`
//! (feature `tokio`).
//! [`async.md`](https://github.com/deferreds/deferreds/blob/main/docs/async.md) has the
//! details, and the guide's chapter
//! [Embedding in tokio](https://github.com/deferreds/deferreds/blob/main/docs/guide/14-tokio.md)
//! puts it together.
//!
//! ```
//! use deferreds::{Deferred, Failure, ensure_deferred};
//!
//! let (reply, resolver) = Deferred::<u32>::new();
//! let doubled = ensure_deferred(async move { Ok::<_, Failure>(reply.await? * 2) });
//! resolver.callback(21).unwrap(); // the block resumes here, on this thread
//! assert_eq!(deferreds::testing::success_result_of(doubled), 42);
//! ```
//!
//! # Comparison with Twisted
//!
//! The chain semantics are Twisted's, with these differences where Rust's types give a better
//! answer (the full list is in
//! [`conformance.md`](https://github.com/deferreds/deferreds/blob/main/docs/conformance.md)):
//!
//! - The tail is unique: `add_*` consumes it and returns the next tail, so the chain's type is
//!   checked at every step, and the firing end is a separate [`Resolver`].
//! - Firing twice returns an [`AlreadyCalledError`] instead of raising; unpausing a chain that
//!   is not paused returns [`NotPausedError`] instead of making the counter negative.
//! - Unhandled failures are reported when the last handle drops, not at garbage collection.
//! - `chain_deferred`, like implicit nesting, runs without recursion at any length.
//! - A step whose Deferred would make chains wait on each other in a circle fails with
//!   [`CircularChainError`] instead of waiting for ever.
//! - Awaiting consumes the Deferred, and dropping the await cancels it. A task woken from
//!   inside another task's poll resumes after that poll, so nested `ensure_deferred` blocks
//!   complete at any depth (Twisted's fail at about 200).
//!
//! Under load, faults and misuse no result or step is lost, doubled or leaked, and a panic in
//! user code poisons nothing:
//! [`reliability.md`](https://github.com/deferreds/deferreds/blob/main/docs/reliability.md)
//! states the guarantees and how they are tested.
//!
//! # Seeing what a chain does
//!
//! [`Deferred::describe`] (or `{:#?}`) gives a [`Picture`] of a chain and of the whole tower of
//! chains it waits on and is waited on by: each chain's state, pause count and pending steps,
//! and in [debug mode](set_debugging) where each chain was created and fired and where each
//! step was added. [`Picture::dot`] draws pictures as a Graphviz graph.
//!
//! ```
//! use deferreds::Deferred;
//!
//! let (inner, fire_inner) = Deferred::<u32>::new();
//! let outer = deferreds::succeed(()).add_callback(move |()| inner).map(|n| n + 1);
//! assert_eq!(
//!     format!("{outer:#?}"),
//!     "Deferred<u32>: a tower of 2 chains, outermost first\n\
//!      => #0 waiting on #1, 1 step pending\n   \
//!         #1 pending"
//! );
//! # drop(fire_inner);
//! ```
//!
//! With the `tracing` feature, chains report every stage through the `tracing` crate, under
//! the target `deferreds`:
//!
//! | what happens | event or span | level | fields |
//! |---|---|---|---|
//! | a Deferred is made | "deferred created" | `TRACE` | `chain`, `at` |
//! | it is fired | "deferred fired" | `DEBUG` | `chain`, `at`, `value` or `failure` |
//! | a step runs | a `step` span around it | `TRACE` | `chain`, `kind`, `track`, `added_at` |
//! | a step's Deferred makes its chain wait | "waiting on a nested deferred" | `TRACE` | `chain`, `on` |
//! | that Deferred hands its result back | "resumed by a nested deferred" | `TRACE` | `chain`, `from`, `track` |
//! | it is cancelled | "deferred cancelled" | `DEBUG` | `chain`, `at` |
//! | a failure nobody handled | "unhandled failure in deferred" | `ERROR` | `error`, `error_type`, `created_at`, `debug` |
//!
//! - `chain` (and `on`, `from`) name a chain by its address, unique among the chains alive at
//!   one time; a Deferred made with its result that never needed a chain (`succeed`, `fail`
//!   outside debug mode) has none.
//! - `at` is where the Deferred was made, fired or cancelled (`file:line:column`); `added_at`
//!   where the step was added (`add_callback`, `map`, `and_then`, `add_errback`, `add_both`,
//!   `add_callbacks`). `kind` is the kind of step that was added (`callback`, `errback`,
//!   `both`, `callbacks`), `track` the track the result was on when it reached the step or came
//!   back (`callback` for a value, `errback` for a failure): a `callback` step on the `errback`
//!   track passes the failure on.
//! - `value` is the value as the engine sees it (small values as themselves, others as `a boxed
//!   value`); `failure` the failure's message. `error` is the unhandled failure's error, as a
//!   `&dyn Error` a subscriber can downcast; `error_type` its type, `created_at` where the
//!   failure was made, and `debug` debug mode's lines, if the Deferred was made in debug mode.
//! - Steps carry their place, and run in a span, when a subscriber wants `TRACE` spans of the
//!   target `deferreds` as they are added. The crate's own steps (those of `chain_deferred`,
//!   the combinators, timeouts, shares) have no span.
//! - No event is emitted under a chain's lock; a panic in a subscriber is caught and dropped.
//!   Without the feature the hooks are empty functions the compiler removes.
//!
//! Guide chapter 15,
//! [Seeing what chains do](https://github.com/deferreds/deferreds/blob/main/docs/guide/15-seeing-chains.md),
//! shows both.
//!
//! # Testing
//!
//! [`testing`] has Twisted trial's `success_result_of`, `failure_result_of` and
//! `assert_no_result`, a capture of unhandled-failure reports, and drop and call counters.
//!
//! # Features
//!
//! All off by default; `cargo doc --open --all-features` documents everything.
//!
//! - `reactor`: time for Deferreds, in the `reactor` module. A [`Time`] trait (Twisted's
//!   `IReactorTime`, open to implementations) with a deterministic `Clock` for tests and a
//!   real-time `Reactor` (timers, a run loop and calls from other threads; no I/O), and on top
//!   of any of them: `defer_later`, `Deferred::add_timeout` and `LoopingCall`, which take
//!   delays as `f64` seconds or `Duration`s. It uses only `std` and `parking_lot`.
//! - `tokio` (implies `reactor`): the `tokio` module. `TokioTime`, a `Time` on tokio's clock
//!   (which `tokio::time::pause()` drives in tests), and `spawn`, a future run on the runtime
//!   as a Deferred whose cancel aborts the task.
//! - `anyhow`: `?` from a [`Failure`] into an `anyhow::Error`, and
//!   [`into_failure()`](IntoFailure::into_failure) from one, keeping the error, its chain and
//!   its backtrace.
//! - `proptest`: property testing for Deferreds, in the `proptest` module. Strategies that
//!   generate Deferred programs, a reference model that predicts what a program does, and a
//!   runner that does it on this crate and records what happened. Adds the `proptest` crate.
//! - `tracing`: events and spans of the `tracing` crate for what chains do (see [Seeing what a
//!   chain does](#seeing-what-a-chain-does)). Adds the `tracing` crate.
//!
#![cfg_attr(feature = "reactor", doc = "[`Time`]: reactor::Time")]
#![cfg_attr(not(feature = "reactor"), doc = "[`Time`]: #features")]
//!
//! # Minimum supported Rust version
//!
//! Rust 1.85 for the library, with the oldest dependency versions that support it (Cargo's
//! resolver picks them when the newest need a newer compiler); the tests and benchmarks need
//! 1.86. Raising it is a minor-version change.
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod bridge;
mod chain;
mod combinators;
mod deferred;
// The foundation's error and failure types keep the module paths their type names show in
// tracebacks (`deferreds::error::CancelledError`, `deferreds::failure::PanicError`).
#[path = "foundation/error.rs"]
mod error;
#[path = "foundation/failure/mod.rs"]
mod failure;
mod foundation;
mod primitives;
#[cfg(feature = "proptest")]
#[cfg_attr(docsrs, doc(cfg(feature = "proptest")))]
pub mod proptest;
#[cfg(feature = "reactor")]
#[cfg_attr(docsrs, doc(cfg(feature = "reactor")))]
pub mod reactor;
pub mod testing;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use crate::bridge::future::DeferredFuture;
pub use crate::bridge::task::ensure_deferred;
pub use crate::combinators::gather::gather_results;
pub use crate::combinators::list::{DeferredList, FirstCallback};
pub use crate::combinators::race::race;
pub use crate::combinators::share::SharedDeferred;
pub use crate::deferred::execute::{execute, maybe_deferred};
pub use crate::deferred::passthru::passthru;
pub use crate::deferred::picture::Picture;
pub use crate::deferred::resolver::Resolver;
pub use crate::deferred::step::{IntoStep, Step, TryResult};
pub use crate::deferred::{Deferred, fail, succeed};
pub use crate::error::{
    AlreadyCalledError, CancelledError, CircularChainError, DeferredValueError, FailureGroup,
    FirstError, NotPausedError, QueueOverflow, QueueUnderflow, ZeroTokensError,
};
pub use crate::failure::convert::IntoFailure;
pub use crate::failure::traceback::{Frame, TracebackDetail};
pub use crate::failure::types::{ErrorType, ErrorTypes};
pub use crate::failure::{Failure, MessageError, PanicError};
pub use crate::foundation::debug::{debugging, set_debugging};
pub use crate::foundation::unhandled::{
    UnhandledFailure, reset_unhandled_hook, set_unhandled_hook,
};
pub use crate::primitives::lock::{DeferredLock, LockGuard};
pub use crate::primitives::queue::DeferredQueue;
pub use crate::primitives::semaphore::{DeferredSemaphore, SemaphorePermit};
