//! A refused connection, reported as a `Failure` through an errback.
//!
//! The example makes a real TCP connection attempt with `std::net`, to a port on 127.0.0.1
//! where nothing listens (it binds a free port, then closes it). Connecting blocks, so it
//! runs on the reactor's thread pool with `Reactor::defer_to_thread` (Twisted's
//! `deferToThread`); the Deferred fires back on the reactor's thread, and the errback reads
//! the `Failure`: which error it wraps (`check`), and the `io::Error` inside (`downcast_ref`).
//! `react` runs the reactor until the story's Deferred has fired.
//!
//! Run it with `cargo run --example refused --features reactor`. The guide's chapter is
//! `docs/guide/07-get-poetry.md`.

mod support;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use deferreds::reactor::{Reactor, exit_code};
use deferreds::{Deferred, Failure, fail};
pub use support::Out;

fn main() -> ExitCode {
    exit_code(refused_program(&Reactor::new(), &Out::stdout()))
}

/// Runs [`refused_story`] on `reactor` until it ends.
pub fn refused_program(reactor: &Reactor, out: &Out) -> Result<(), Failure> {
    reactor.react(|reactor| refused_story(reactor, out).unwrap_or_else(|error| fail(error.into())))
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

/// Connects to `addr` without blocking the reactor.
pub fn connect(reactor: &Reactor, addr: SocketAddr) -> Deferred<TcpStream> {
    reactor.defer_to_thread(move || Ok(TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?))
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
