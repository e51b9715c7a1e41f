//! Coordination without blocking a thread: `DeferredLock`, `DeferredSemaphore` and
//! `DeferredQueue`, the gate of tokens the lock and the semaphore share, and the line of waiters
//! the gate and the queue join.
//!
//! Part of the coordination primitives, on the typed Deferred and the engine: it knows nothing of
//! the combinators, the async bridge or the reactor.

pub(crate) mod gate;
mod line;
pub(crate) mod lock;
pub(crate) mod queue;
pub(crate) mod semaphore;
