//! What the `tracing` feature reports of a nested chain that fails and is cancelled.
//!
//! A price lookup for an item waits on a quote from a supplier; the customer gives up and cancels; the
//! cancel goes in to the quote, the failure comes back out past the lookup's callback, and
//! nobody handles it. Every stage is an event or a span of the `tracing` crate, printed here
//! by `tracing-subscriber`'s `fmt`.
//!
//! Run it with `cargo run --example traced_chain --features tracing`. The guide's chapter is
//! `docs/guide/15-seeing-chains.md`.

mod support;

use deferreds::{Deferred, Failure};
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::fmt::format::FmtSpan;

pub use support::Out;

fn main() {
    let out = Out::stdout();
    let _watching = watch(&out);
    traced_chain(&out);
}

/// Prints the crate's events and spans to `out`, on this thread, until the guard is dropped:
/// every level, without timestamps, each step's span as it opens.
pub fn watch(out: &Out) -> DefaultGuard {
    let out = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .without_time()
        .with_target(false)
        .with_span_events(FmtSpan::NEW)
        .with_writer(move || Lines(out.clone()))
        .finish();
    tracing::subscriber::set_default(subscriber)
}

/// The story.
pub fn traced_chain(out: &Out) {
    let (quote, supplier) = Deferred::<u32>::new();
    let (request, customer) = Deferred::<u32>::new();
    let price = request
        .add_callback(move |item| {
            tracing::info!(item, "asking the supplier for a quote");
            quote
        })
        .add_callback(|pence| Ok(pence * 2))
        .add_errback(|failure| {
            tracing::warn!(%failure, "no price");
            Err::<u32, Failure>(failure)
        });
    customer.callback(1047).expect("the first request"); // a teapot
    out.line("-- the customer gives up");
    price.cancel();
    out.line("-- and drops the price");
    drop((price, customer, supplier));
}

/// A writer that hands each line the subscriber writes to an `Out`.
struct Lines(Out);

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for line in String::from_utf8_lossy(buf).lines() {
            self.0.line(line);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
