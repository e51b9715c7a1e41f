//! The reactor's hello world: print "Hello," before the loop runs, "World!" once it is running
//! (`call_when_running`), and stop five seconds later (`call_later(5.0, stop)`).
//!
//! `run()` hands the thread to the reactor, which calls our code when its events come: the
//! startup, then the timer. When that code returns, control goes back to the reactor. Without
//! the timer, nothing would ever stop the loop and the program would never end.
//!
//! Run it with `cargo run --example hello_reactor --features reactor`. The guide's chapter is
//! `docs/guide/04-the-reactor.md`.

mod support;

use deferreds::reactor::{Reactor, ReactorError};
pub use support::Out;

fn main() -> Result<(), ReactorError> {
    hello_world(&Reactor::new(), &Out::stdout(), 5.0)
}

/// Says hello, runs `reactor` until a timer stops it `stop_after` seconds after it started,
/// and says when `run` has returned.
pub fn hello_world(reactor: &Reactor, out: &Out, stop_after: f64) -> Result<(), ReactorError> {
    out.line("Hello,");

    let o = out.clone();
    reactor.call_when_running(move || o.line("World!"));

    let (r, o) = (reactor.clone(), out.clone());
    reactor
        .call_later(stop_after, move || {
            o.line("(the timer went off: stopping the reactor)");
            r.stop().expect("the reactor is running while it runs a timer");
        })
        .expect("the delay is a valid number of seconds");

    out.line("(calling run: from here on, the reactor decides what runs)");
    reactor.run()?;
    out.line("(run returned)");
    Ok(())
}
