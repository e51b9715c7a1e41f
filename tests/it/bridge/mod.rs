//! Deferreds and futures: awaiting a Deferred, futures run as Deferreds, Twisted's async tests,
//! and Deferreds inside tokio.

mod asyncio;
mod ensure;
#[cfg(feature = "tokio")]
mod tokio_embed;
mod twisted_async;
