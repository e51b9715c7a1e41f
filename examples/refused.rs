//! A refused connection, reported as a `Failure` through an errback.
//!
//! The example makes a real TCP connection attempt with `std::net`, to a port on 127.0.0.1
//! where nothing listens (it binds a free port, then closes it). Connecting blocks, so it
//! happens on a helper thread, which hands the outcome back to the reactor's thread with
//! `call_from_thread`; the Deferred fires there, and the errback reads the `Failure`: which
//! error it wraps (`check`), and the `io::Error` inside (`downcast_ref`).
//!
//! Run it with `cargo run --example refused --features reactor`. The guide's chapter is
//! `docs/guide/07-get-poetry.md`.

mod support;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread;
use std::time::Duration;

use deferreds::reactor::Reactor;
use deferreds::{Deferred, Failure};
pub use support::Out;

fn main() -> io::Result<()> {
    refused_program(&Reactor::new(), &Out::stdout())
}

/// Runs [`refused_story`] on `reactor` until it ends.
pub fn refused_program(reactor: &Reactor, out: &Out) -> io::Result<()> {
    let story = refused_story(reactor, out)?;
    support::run_until_done(reactor, story).map_err(|failure| io::Error::other(failure.to_string()))
}

/// How long a connection attempt may take before it counts as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An address on 127.0.0.1 where nothing listens: a port the system had free a moment ago.
pub fn closed_port() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    drop(listener);
    Ok(addr)
}

/// Runs `work` on a new thread, and fires the returned Deferred with its result on the
/// reactor's thread (Twisted's `deferToThread`). A panic in `work` becomes the failure.
pub fn defer_to_thread<R, F>(reactor: &Reactor, work: F) -> Deferred<R>
where
    R: Send + 'static,
    F: FnOnce() -> Result<R, Failure> + Send + 'static,
{
    let (result, resolver) = Deferred::new();
    let r = reactor.clone();
    let worker = thread::spawn(move || {
        let outcome = catch_unwind(AssertUnwindSafe(work))
            .unwrap_or_else(|panic| Err(Failure::from_panic(panic)));
        r.call_from_thread(move || {
            let _ = resolver.resolve(outcome);
        });
    });
    // The first step runs once the result is on the reactor's thread, when the worker's last
    // act is done: joining it then takes no time.
    result.add_both(move |outcome| {
        let _ = worker.join();
        outcome
    })
}

/// Connects to `addr` without blocking the reactor.
pub fn connect(reactor: &Reactor, addr: SocketAddr) -> Deferred<TcpStream> {
    defer_to_thread(reactor, move || Ok(TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?))
}

/// Tries to connect to a closed port, and reports the failure.
pub fn refused_story(reactor: &Reactor, out: &Out) -> io::Result<Deferred<()>> {
    let addr = closed_port()?;
    out.line("connecting to a port on 127.0.0.1 where nothing listens");
    let (o1, o2) = (out.clone(), out.clone());
    let attempt = connect(reactor, addr).add_callbacks(
        move |_stream| o1.line("connected?! something was listening after all"),
        move |failure| report_refusal(&o2, &failure),
    );
    out.line("connect() returned a Deferred; the outcome comes later, from the reactor");
    Ok(attempt)
}

/// The errback: a `Failure` is not the error itself, but it can say what it wraps.
fn report_refusal(out: &Out, failure: &Failure) {
    out.line("the errback got a Failure:");
    out.line(format!("  failure.check::<io::Error>() = {}", failure.check::<io::Error>()));
    if let Some(error) = failure.downcast_ref::<io::Error>() {
        out.line(format!("  the io::Error's kind: {:?}", error.kind()));
    }
    out.line(format!("  failure.type_name() = {}", failure.type_name()));
}
