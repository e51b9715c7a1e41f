//! Several Deferreds made into one, and one made into several: `DeferredList`,
//! `gather_results` and `race` over the engine's join, and `SharedDeferred`, which hands one
//! Deferred's result to any number of observers.
//!
//! Part of the combinators, on the typed Deferred and the engine: it knows nothing of the
//! primitives, the async bridge or the reactor.

use std::panic::Location;

use crate::chain::join::{self as engine, Spec};
use crate::deferred::Deferred;

pub(crate) mod gather;
pub(crate) mod list;
pub(crate) mod race;
pub(crate) mod share;

/// Starts the engine's join over `inputs`, and types its Deferred.
pub(crate) fn join<T: Send + 'static, U: Send + 'static>(
    inputs: Vec<Deferred<T>>,
    spec: Spec,
    created: &'static Location<'static>,
) -> Deferred<U> {
    engine::start(inputs.into_iter().map(Deferred::into_tail), spec, created, Deferred::from_chain)
}
