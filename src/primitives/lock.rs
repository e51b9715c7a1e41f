//! [`DeferredLock`]: mutual exclusion between chains of callbacks.
//!
//! Part of the coordination primitives, on the typed Deferred and the engine: it knows nothing of
//! the combinators, the async bridge or the reactor.

use std::fmt;
use std::sync::Arc;

use crate::deferred::Deferred;
use crate::deferred::step::IntoStep;
use crate::primitives::gate::{Gate, Permit, Token};

/// A lock for callback code: [`acquire`](DeferredLock::acquire) returns a Deferred that fires
/// with a [`LockGuard`] once the lock is free, and dropping the guard releases it (Twisted's
/// `DeferredLock`).
///
/// Waiters get the lock in the order they asked for it. Nothing blocks: a waiting acquire is a
/// pending Deferred, and cancelling it takes it out of the queue. Clones share the same lock.
///
/// [`run`](DeferredLock::run) is the usual way in: it waits for the lock, calls a function,
/// and releases the lock once what the function returned has fired, however it ends.
///
/// ```
/// use deferreds::{Deferred, DeferredLock};
///
/// let lock = DeferredLock::new();
/// let (write, finish_write) = Deferred::<()>::new();
/// let first = lock.run(move || write); // holds the lock until `write` fires
/// let second = lock.run(|| Ok::<_, deferreds::Failure>("second ran"));
///
/// assert!(lock.is_locked());
/// deferreds::testing::assert_no_result(&second);
/// finish_write.callback(()).unwrap();
/// assert_eq!(deferreds::testing::success_result_of(second), "second ran");
/// deferreds::testing::success_result_of(first);
/// assert!(!lock.is_locked());
/// ```
///
/// # Differences from Twisted
///
/// Twisted's `acquire` fires with the lock and `release()` is a method of the lock, which
/// fails an assertion when the lock is not held. Here the guard is the only way to release,
/// so releasing twice, or without holding the lock, cannot be written; a guard dropped on any
/// path (an error, a panic, a Deferred nobody waits for) releases the lock.
#[derive(Clone)]
pub struct DeferredLock {
    gate: Arc<Gate<LockGuard>>,
}

/// Holds a [`DeferredLock`]; dropping it (or calling [`release`](LockGuard::release)) releases
/// the lock, handing it to the oldest waiter.
///
/// ```
/// let lock = deferreds::DeferredLock::new();
/// let guard = deferreds::testing::success_result_of(lock.acquire());
/// assert!(lock.is_locked());
/// drop(guard);
/// assert!(!lock.is_locked());
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard {
    _token: Token<LockGuard>,
}

impl Permit for LockGuard {
    fn from_token(token: Token<LockGuard>) -> LockGuard {
        LockGuard { _token: token }
    }
}

impl DeferredLock {
    /// An unlocked lock.
    ///
    /// ```
    /// let lock = deferreds::DeferredLock::new();
    /// assert!(!lock.is_locked());
    /// assert_eq!(lock.waiting(), 0);
    /// ```
    pub fn new() -> DeferredLock {
        DeferredLock { gate: Gate::new(1) }
    }

    /// A Deferred that fires with a [`LockGuard`] once the lock is yours: at once if it is
    /// free, otherwise after everyone who asked earlier has had it.
    ///
    /// Cancelling the Deferred while it waits takes it out of the queue (it fails with
    /// [`CancelledError`](crate::CancelledError)); once it has the lock, cancelling it does
    /// nothing.
    ///
    /// ```
    /// use deferreds::{CancelledError, DeferredLock};
    ///
    /// let lock = DeferredLock::new();
    /// let held = lock.acquire();
    /// let waiting = lock.acquire();
    /// assert_eq!(lock.waiting(), 1);
    /// waiting.cancel();
    /// assert_eq!(lock.waiting(), 0);
    /// assert!(deferreds::testing::failure_result_of(waiting).check::<CancelledError>());
    /// drop(held);
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> Deferred<LockGuard> {
        self.gate.acquire()
    }

    /// Waits for the lock, calls `f`, and releases the lock once what `f` returned has fired:
    /// on success, on failure, and if `f` panics (Twisted's `run`).
    ///
    /// `f` returns anything [`maybe_deferred`](crate::maybe_deferred) takes; the result is what
    /// it produced, after the lock is released.
    ///
    /// ```
    /// use deferreds::{DeferredLock, Failure, PanicError};
    ///
    /// let lock = DeferredLock::new();
    /// let d = lock.run(|| -> Result<u8, Failure> { panic!("inside the lock") });
    /// assert!(deferreds::testing::failure_result_of(d).check::<PanicError>());
    /// assert!(!lock.is_locked());
    /// ```
    #[track_caller]
    pub fn run<R: IntoStep>(&self, f: impl FnOnce() -> R + Send + 'static) -> Deferred<R::Output> {
        self.gate.run(f)
    }

    /// Whether someone holds the lock (Twisted's `locked`).
    ///
    /// ```
    /// let lock = deferreds::DeferredLock::new();
    /// let guard = lock.acquire();
    /// assert!(lock.is_locked());
    /// drop(guard);
    /// assert!(!lock.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.gate.available() == 0
    }

    /// How many acquires are waiting (Twisted's `len(waiting)`).
    ///
    /// ```
    /// let lock = deferreds::DeferredLock::new();
    /// let (held, waiting) = (lock.acquire(), lock.acquire());
    /// assert_eq!(lock.waiting(), 1);
    /// # drop((held, waiting));
    /// ```
    pub fn waiting(&self) -> usize {
        self.gate.waiting()
    }

    /// How many waiters the line has room for: its memory, in waiters. It stays within a
    /// small multiple of [`waiting`](DeferredLock::waiting), plus a few hundred, however many
    /// acquires were cancelled. For tests of that bound; not part of the stable API.
    ///
    /// ```
    /// let lock = deferreds::DeferredLock::new();
    /// let held = lock.acquire();
    /// for _ in 0..1000 {
    ///     let waiter = lock.acquire();
    ///     waiter.cancel();
    ///     deferreds::testing::failure_result_of(waiter);
    /// }
    /// assert!(lock.waiter_slots() < 100);
    /// # drop(held);
    /// ```
    #[doc(hidden)]
    pub fn waiter_slots(&self) -> usize {
        self.gate.waiter_slots()
    }
}

impl LockGuard {
    /// Releases the lock now; the same as dropping the guard.
    ///
    /// ```
    /// let lock = deferreds::DeferredLock::new();
    /// let d = lock.acquire().map(|guard| guard.release());
    /// deferreds::testing::success_result_of(d);
    /// assert!(!lock.is_locked());
    /// ```
    pub fn release(self) {}
}

impl Default for DeferredLock {
    fn default() -> DeferredLock {
        DeferredLock::new()
    }
}

impl fmt::Debug for DeferredLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeferredLock")
            .field("locked", &self.is_locked())
            .field("waiting", &self.waiting())
            .finish()
    }
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockGuard")
    }
}
