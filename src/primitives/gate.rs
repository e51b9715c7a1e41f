//! The engine behind [`DeferredLock`](crate::DeferredLock) and
//! [`DeferredSemaphore`](crate::DeferredSemaphore): a number of tokens, and a FIFO of
//! Deferreds waiting for one.
//!
//! A token is handed out as a permit (a `LockGuard`, a `SemaphorePermit`) that gives it back
//! when dropped, so a token cannot be returned twice, nor returned by someone who never had
//! one. Giving a token back hands it straight to the oldest waiter, if any: the count never
//! rises while someone waits, so a newcomer cannot overtake the queue.
//!
//! Part of the coordination primitives, on the typed Deferred and the engine: it knows nothing of
//! the combinators, the async bridge or the reactor.

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use super::line;
use crate::deferred::execute::maybe_deferred;
use crate::deferred::resolver::Resolver;
use crate::deferred::step::IntoStep;
use crate::deferred::waiters::{Waiters, hand_over};
use crate::deferred::{Deferred, succeed};

/// A permit type: what a waiter receives, holding one token.
pub(crate) trait Permit: Send + Sized + 'static {
    fn from_token(token: Token<Self>) -> Self;
}

pub(crate) struct Gate<P> {
    state: Mutex<GateState<P>>,
    limit: usize,
}

struct GateState<P> {
    /// Tokens not handed out. Zero whenever someone waits.
    available: usize,
    waiting: Waiters<Resolver<P>>,
}

/// One token, given back to its gate when dropped.
pub(crate) struct Token<P: Permit> {
    gate: Arc<Gate<P>>,
}

impl<P: Permit> Drop for Token<P> {
    fn drop(&mut self) {
        Gate::release(&self.gate);
    }
}

impl<P: Permit> Gate<P> {
    /// A gate with `limit` tokens, all available.
    pub(crate) fn new(limit: usize) -> Arc<Gate<P>> {
        let state = GateState { available: limit, waiting: Waiters::new() };
        Arc::new(Gate { state: Mutex::new(state), limit })
    }

    /// A Deferred that fires with a permit: at once if a token is available, otherwise when
    /// every earlier waiter has had one and a token comes back.
    #[track_caller]
    pub(crate) fn acquire(self: &Arc<Self>) -> Deferred<P> {
        let mut st = self.state.lock();
        if st.available > 0 {
            st.available -= 1;
            drop(st);
            return succeed(P::from_token(Token { gate: self.clone() }));
        }
        line::join(self, &mut st.waiting, |gate, ticket| gate.state.lock().waiting.remove(ticket))
    }

    /// Acquire, run `f`, and give the token back when what `f` returned has fired, whether it
    /// succeeded, failed or panicked.
    #[track_caller]
    pub(crate) fn run<R: IntoStep>(
        self: &Arc<Self>,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Deferred<R::Output> {
        self.acquire().add_callback(move |permit: P| {
            maybe_deferred(f).add_both(move |result| {
                drop(permit);
                result
            })
        })
    }

    fn release(self: &Arc<Self>) {
        let mut st = self.state.lock();
        match st.waiting.pop() {
            Some(resolver) => {
                drop(st);
                hand_over(resolver, P::from_token(Token { gate: self.clone() }));
            }
            None => {
                st.available += 1;
                debug_assert!(st.available <= self.limit, "a token was given back twice");
            }
        }
    }

    /// Tokens not handed out.
    pub(crate) fn available(&self) -> usize {
        self.state.lock().available
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Deferreds waiting for a token.
    pub(crate) fn waiting(&self) -> usize {
        self.state.lock().waiting.len()
    }

    /// Room in the line of waiters, holes left by cancelled waiters included.
    pub(crate) fn waiter_slots(&self) -> usize {
        self.state.lock().waiting.capacity()
    }
}

impl<P> fmt::Debug for Gate<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.lock();
        f.debug_struct("Gate")
            .field("available", &st.available)
            .field("limit", &self.limit)
            .field("waiting", &st.waiting.len())
            .finish()
    }
}
