//! Deferreds and futures: awaiting a Deferred, futures run as Deferreds, Twisted's async tests,
//! and Deferreds inside tokio.

use deferreds::testing::Recorder;
use deferreds::{Deferred, Resolver};

mod asyncio;
mod ensure;
#[cfg(feature = "tokio")]
mod tokio_embed;
mod twisted_async;

/// A Deferred whose canceller records that it ran, and then lets it fail with
/// `CancelledError`.
fn cancellable(log: &Recorder, name: &'static str) -> (Deferred<u32>, Resolver<u32>) {
    let log = log.clone();
    Deferred::with_canceller(move |_: &Resolver<u32>| log.record(format!("{name} cancelled")))
}
