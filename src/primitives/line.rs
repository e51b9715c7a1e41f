//! Joining the line of waiters of a gate or a queue: a pending Deferred whose cancel takes it
//! out of the line again.
//!
//! Part of the coordination primitives, on the typed Deferred and the engine: it knows nothing of
//! the combinators, the async bridge or the reactor.

use std::sync::Arc;

use crate::chain::Cancelled;
use crate::deferred::Deferred;
use crate::deferred::resolver::Resolver;
use crate::deferred::waiters::{Waiters, left};

/// Puts a new waiter at the back of `waiting`, the line that `owner` keeps under its lock (held
/// by the caller), and returns its Deferred.
///
/// Cancelling the Deferred takes the waiter out with `remove`, which locks `owner` again. If
/// it is no longer in the line, whoever took it out is about to fire it (with a token, or a
/// value that must not be lost), and that stands; if `owner` is gone, nobody can fire it, and
/// it fails with `CancelledError`.
#[track_caller]
pub(super) fn join<O, T>(
    owner: &Arc<O>,
    waiting: &mut Waiters<Resolver<T>>,
    remove: fn(&O, u64) -> Option<Resolver<T>>,
) -> Deferred<T>
where
    O: Send + Sync + 'static,
    T: Send + 'static,
{
    let ticket = waiting.next_ticket();
    let owner = Arc::downgrade(owner);
    // No user code runs here: this only allocates the chain.
    let (d, resolver) = Deferred::with_raw_canceller(move || match owner.upgrade() {
        // `remove` has released the lock when `left` drops the waiter.
        Some(owner) => left(remove(&owner, ticket)),
        None => Cancelled::Fail,
    });
    waiting.push(resolver);
    d
}
