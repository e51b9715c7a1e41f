//! `DeferredList`, `gather_results`, `race`, `maybe_deferred`/`execute`, `SharedDeferred`, and
//! the laws they keep.

mod combinator_laws;
mod execute;
mod gather;
mod list;
mod race;
mod share;
