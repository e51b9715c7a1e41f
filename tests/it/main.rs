//! Integration tests, one binary (linking one binary per file is slow on small machines).
//! Each module pins one area of behaviour; test names say what they pin.

mod bridge;
mod combinators;
mod deferred;
mod engine;
mod foundation;
mod hardening;
mod primitives;
#[cfg(feature = "reactor")]
mod reactor;
