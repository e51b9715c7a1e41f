//! Deferreds and futures, both ways: awaiting a Deferred (`DeferredFuture`), running a future
//! as a Deferred (`ensure_deferred`, `Deferred::from_future`), and the thread's task runner
//! that resumes those futures from the callbacks of what they await.
//!
//! Part of the async bridge, on the typed Deferred and the engine: it knows nothing of the
//! combinators, the primitives or the reactor.

pub(crate) mod future;
pub(crate) mod runner;
pub(crate) mod task;
