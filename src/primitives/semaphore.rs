//! [`DeferredSemaphore`]: at most N chains of callbacks at once.
//!
//! Part of the coordination primitives, on the typed Deferred and the engine: it knows nothing of
//! the combinators, the async bridge or the reactor.

use std::fmt;
use std::sync::Arc;

use crate::deferred::Deferred;
use crate::deferred::step::IntoStep;
use crate::error::ZeroTokensError;
use crate::primitives::gate::{Gate, Permit, Token};

/// Lets at most `limit` holders in at once; the others wait, in order (Twisted's
/// `DeferredSemaphore`).
///
/// [`acquire`](DeferredSemaphore::acquire) returns a Deferred that fires with a
/// [`SemaphorePermit`] once a token is free, and dropping the permit gives the token back.
/// [`run`](DeferredSemaphore::run) wraps a function in that. Cancelling a waiting acquire takes
/// it out of the queue. Clones share the same semaphore.
///
/// ```
/// use deferreds::{Deferred, DeferredSemaphore};
///
/// let downloads = DeferredSemaphore::new(2).unwrap();
/// let mut finish = Vec::new();
/// let mut done = Vec::new();
/// for _ in 0..3 {
///     let (d, r) = Deferred::<()>::new();
///     finish.push(r);
///     done.push(downloads.run(move || d));
/// }
/// assert_eq!((downloads.tokens(), downloads.waiting()), (0, 1)); // two run, one waits
/// finish[0].callback(()).unwrap(); // the first ends: the third starts
/// assert_eq!((downloads.tokens(), downloads.waiting()), (0, 0));
/// # drop(done);
/// ```
///
/// As with [`DeferredLock`](crate::DeferredLock), tokens are given back by dropping permits,
/// so the semaphore cannot be released more times than it was acquired (Twisted asserts).
#[derive(Clone)]
pub struct DeferredSemaphore {
    gate: Arc<Gate<SemaphorePermit>>,
}

/// One token of a [`DeferredSemaphore`], given back when dropped (or
/// [`release`](SemaphorePermit::release)d).
///
/// ```
/// let sem = deferreds::DeferredSemaphore::new(1).unwrap();
/// let permit = deferreds::testing::success_result_of(sem.acquire());
/// assert_eq!(sem.tokens(), 0);
/// permit.release();
/// assert_eq!(sem.tokens(), 1);
/// ```
#[must_use = "the token is given back as soon as the permit is dropped"]
pub struct SemaphorePermit {
    _token: Token<SemaphorePermit>,
}

impl Permit for SemaphorePermit {
    fn from_token(token: Token<SemaphorePermit>) -> SemaphorePermit {
        SemaphorePermit { _token: token }
    }
}

impl DeferredSemaphore {
    /// A semaphore with `tokens` tokens, which is also its limit. Zero tokens is refused with
    /// [`ZeroTokensError`] (Twisted raises `ValueError`).
    ///
    /// ```
    /// let sem = deferreds::DeferredSemaphore::new(3).unwrap();
    /// assert_eq!((sem.tokens(), sem.limit()), (3, 3));
    /// assert!(deferreds::DeferredSemaphore::new(0).is_err());
    /// ```
    pub fn new(tokens: usize) -> Result<DeferredSemaphore, ZeroTokensError> {
        if tokens == 0 {
            return Err(ZeroTokensError);
        }
        Ok(DeferredSemaphore { gate: Gate::new(tokens) })
    }

    /// A Deferred that fires with a [`SemaphorePermit`] once a token is free: at once if one
    /// is, otherwise after every earlier waiter has had one.
    ///
    /// Cancelling the Deferred while it waits takes it out of the queue (it fails with
    /// [`CancelledError`](crate::CancelledError)); once it has a token, cancelling it does
    /// nothing.
    ///
    /// ```
    /// let sem = deferreds::DeferredSemaphore::new(1).unwrap();
    /// let first = sem.acquire();
    /// let second = sem.acquire();
    /// deferreds::testing::assert_no_result(&second);
    /// drop(first); // the permit inside is dropped with it
    /// let _permit = deferreds::testing::success_result_of(second);
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> Deferred<SemaphorePermit> {
        self.gate.acquire()
    }

    /// Waits for a token, calls `f`, and gives the token back once what `f` returned has
    /// fired: on success, on failure, and if `f` panics (Twisted's `run`).
    ///
    /// ```
    /// let sem = deferreds::DeferredSemaphore::new(1).unwrap();
    /// let d = sem.run(|| Ok::<_, deferreds::Failure>(7));
    /// assert_eq!(deferreds::testing::success_result_of(d), 7);
    /// assert_eq!(sem.tokens(), 1);
    /// ```
    #[track_caller]
    pub fn run<R: IntoStep>(&self, f: impl FnOnce() -> R + Send + 'static) -> Deferred<R::Output> {
        self.gate.run(f)
    }

    /// Tokens free now (Twisted's `tokens`).
    ///
    /// ```
    /// let sem = deferreds::DeferredSemaphore::new(2).unwrap();
    /// let permit = sem.acquire();
    /// assert_eq!(sem.tokens(), 1);
    /// # drop(permit);
    /// ```
    pub fn tokens(&self) -> usize {
        self.gate.available()
    }

    /// The number of tokens the semaphore was made with (Twisted's `limit`).
    ///
    /// ```
    /// assert_eq!(deferreds::DeferredSemaphore::new(4).unwrap().limit(), 4);
    /// ```
    pub fn limit(&self) -> usize {
        self.gate.limit()
    }

    /// How many acquires are waiting (Twisted's `len(waiting)`).
    ///
    /// ```
    /// let sem = deferreds::DeferredSemaphore::new(1).unwrap();
    /// let (held, waiting) = (sem.acquire(), sem.acquire());
    /// assert_eq!(sem.waiting(), 1);
    /// # drop((held, waiting));
    /// ```
    pub fn waiting(&self) -> usize {
        self.gate.waiting()
    }

    /// How many waiters the line has room for: its memory, in waiters. It stays within a
    /// small multiple of [`waiting`](DeferredSemaphore::waiting), plus a few hundred, however many
    /// acquires were cancelled. For tests of that bound; not part of the stable API.
    ///
    /// ```
    /// let sem = deferreds::DeferredSemaphore::new(1).unwrap();
    /// let held = sem.acquire();
    /// for _ in 0..1000 {
    ///     let waiter = sem.acquire();
    ///     waiter.cancel();
    ///     deferreds::testing::failure_result_of(waiter);
    /// }
    /// assert!(sem.waiter_slots() < 100);
    /// # drop(held);
    /// ```
    #[doc(hidden)]
    pub fn waiter_slots(&self) -> usize {
        self.gate.waiter_slots()
    }
}

impl SemaphorePermit {
    /// Gives the token back now; the same as dropping the permit.
    ///
    /// ```
    /// let sem = deferreds::DeferredSemaphore::new(1).unwrap();
    /// let d = sem.acquire().map(|permit| permit.release());
    /// deferreds::testing::success_result_of(d);
    /// assert_eq!(sem.tokens(), 1);
    /// ```
    pub fn release(self) {}
}

impl fmt::Debug for DeferredSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeferredSemaphore")
            .field("tokens", &self.tokens())
            .field("limit", &self.limit())
            .field("waiting", &self.waiting())
            .finish()
    }
}

impl fmt::Debug for SemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphorePermit")
    }
}
