//! A timeout made with `call_later`: the errback fires with our own error if the poem is too
//! slow, and the timer is cancelled if the poem comes first.
//!
//! Three things must happen together for a timeout to be right: when the timer goes off, the
//! connection is closed (or the poem would still arrive and try to fire the Deferred a second
//! time) and the Deferred fails with `PoemTimeout`; when the poem arrives first, the timer is
//! cancelled, so nothing is left scheduled. Both outcomes are shown: a server that sends its
//! poem in 1 s, and one that would take 5 s, each with 3 s to do it.
//!
//! Then the same with the crate's `Deferred::add_timeout`, which cancels the Deferred: its
//! canceller closes the connection, and the failure is a `TimeoutError`.
//!
//! The servers are simulated on the time source, so `cargo run` uses the real reactor and the
//! test a `Clock`.
//!
//! Run it with `cargo run --example poem_timeout --features reactor`. The guide's chapter is
//! `docs/guide/08-timeouts.md`.

mod support;

use std::fmt;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use deferreds::reactor::{DelayedCall, Time, TimeoutError, exit_code, react};
use deferreds::{Deferred, Failure, Resolver};
pub use support::Out;

fn main() -> ExitCode {
    exit_code(react(|reactor| timeout_story(reactor, &Out::stdout())))
}

/// Our own error: the poem did not come in time.
#[derive(Debug)]
pub struct PoemTimeout {
    /// How long we waited, in seconds.
    pub after: f64,
}

impl fmt::Display for PoemTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no poem after {} s", self.after)
    }
}

impl std::error::Error for PoemTimeout {}

/// A simulated connection to a poetry server that sends its whole poem `delay` seconds after
/// the connection is made.
#[derive(Debug)]
pub struct Connection {
    delivery: DelayedCall,
    out: Out,
}

impl Connection {
    /// Connects; `on_poem` gets the poem when (if) it arrives.
    pub fn open<T: Time>(
        time: &T,
        delay: f64,
        out: &Out,
        on_poem: impl FnOnce(String) + Send + 'static,
    ) -> Connection {
        let poem = "Slow is the snail, and slower still\nthe poem climbing up the hill.";
        let delivery = time
            .call_later(delay, move || on_poem(poem.to_string()))
            .expect("the delay is a valid number of seconds");
        Connection { delivery, out: out.clone() }
    }

    /// Closes the connection: whatever had not arrived never will.
    pub fn close(&self) {
        if self.delivery.cancel().is_ok() {
            self.out.line("         (connection closed before the poem arrived)");
        }
    }
}

/// Gets a poem from a server that takes `server_delay` seconds, giving up after `timeout`.
pub fn get_poetry_with_timeout<T: Time>(
    time: &T,
    out: &Out,
    server_delay: f64,
    timeout: f64,
) -> Deferred<String> {
    let (poem, resolver) = Deferred::<String>::new();
    let on_poem = resolver.clone();
    let connection = Connection::open(time, server_delay, out, move |text| {
        on_poem.callback(text).expect("the connection is closed when the timer fires first");
    });
    let timer = time
        .call_later(timeout, move || {
            connection.close();
            resolver
                .errback(Failure::new(PoemTimeout { after: timeout }))
                .expect("the timer is cancelled when the poem fires first");
        })
        .expect("the timeout is a valid number of seconds");
    // Whatever comes first, the timer has no more work: cancel it if it has not run.
    let o = out.clone();
    poem.add_both(move |result| {
        if timer.cancel().is_ok() {
            o.line("         (the poem came first: timer cancelled)");
        }
        result
    })
}

/// The same with the crate's tools: a Deferred whose canceller closes the connection, and
/// `add_timeout`, which cancels it when time is up.
pub fn get_poetry_with_add_timeout<T: Time>(
    time: &T,
    out: &Out,
    server_delay: f64,
    timeout: f64,
) -> Deferred<String> {
    // The canceller needs the connection, and the connection needs the resolver, which comes
    // with the canceller: the connection goes in a slot the canceller reads when it runs.
    let slot: Arc<OnceLock<Connection>> = Arc::default();
    let in_canceller = slot.clone();
    let (poem, resolver) = Deferred::with_canceller(move |_: &Resolver<String>| {
        if let Some(connection) = in_canceller.get() {
            connection.close();
        }
    });
    let connection = Connection::open(time, server_delay, out, move |text| {
        resolver.callback(text).expect("cancelling closes the connection first");
    });
    slot.set(connection).expect("the slot is filled once");
    poem.add_timeout(timeout, time)
}

/// Both outcomes with the hand-made timeout, then both with `add_timeout`.
pub fn timeout_story<T: Time + Clone + 'static>(time: &T, out: &Out) -> Deferred<()> {
    let (t, o) = (time.clone(), out.clone());
    ask(time, out, "hand-made timeout", 1.0, get_poetry_with_timeout)
        .add_callback(move |()| ask(&t, &o, "hand-made timeout", 5.0, get_poetry_with_timeout))
        .add_callback({
            let (t, o) = (time.clone(), out.clone());
            move |()| ask(&t, &o, "add_timeout", 1.0, get_poetry_with_add_timeout)
        })
        .add_callback({
            let (t, o) = (time.clone(), out.clone());
            move |()| ask(&t, &o, "add_timeout", 5.0, get_poetry_with_add_timeout)
        })
}

/// One request with 3 s to spare, and a report of how it ended.
fn ask<T: Time + Clone + 'static>(
    time: &T,
    out: &Out,
    how: &str,
    server_delay: f64,
    get_poetry: fn(&T, &Out, f64, f64) -> Deferred<String>,
) -> Deferred<()> {
    if time.seconds() > 0.0 {
        out.line("");
    }
    out.at(time, format!("== {how}: the server needs {server_delay} s, we wait 3 s"));
    let (t, o) = (time.clone(), out.clone());
    let (t2, o2) = (time.clone(), out.clone());
    get_poetry(time, out, server_delay, 3.0).add_callbacks(
        move |poem| o.at(&t, format!("got the poem: {:?}", poem.lines().next().unwrap_or(""))),
        move |failure| {
            if let Some(timeout) = failure.downcast_ref::<PoemTimeout>() {
                o2.at(&t2, format!("errback: PoemTimeout, {timeout}"));
            } else if let Some(timeout) = failure.downcast_ref::<TimeoutError>() {
                o2.at(&t2, format!("errback: TimeoutError, {timeout}"));
            } else {
                o2.at(&t2, format!("errback: something else, {failure}"));
            }
        },
    )
}
