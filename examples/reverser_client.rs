//! A client object whose method returns a Deferred: `RemoteReverser::reverse`.
//!
//! The caller asks for a string to be reversed and gets a Deferred at once; it does not know
//! there is a connection, a protocol or a server behind it. The connection's protocol fires the
//! Deferred with the first line of the reply, and takes the resolver out of its slot as it
//! does, so a second line cannot fire it again. A naive protocol that fires on every line gets
//! `AlreadyCalledError` on the second one, as the example shows.
//!
//! The server is simulated: a reversing line server `latency` seconds away, whose replies
//! arrive through the time source. The example therefore runs on the real reactor with
//! `cargo run`, and on a `Clock` in its test. (`poetry_server_client.rs` talks to a real
//! server over TCP.)
//!
//! Run it with `cargo run --example reverser_client --features reactor`. The guide's chapter
//! is `docs/guide/06-client-objects.md`.

mod support;

use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use deferreds::reactor::{Time, exit_code, react};
use deferreds::{Deferred, Resolver, gather_results};
pub use support::Out;

fn main() -> ExitCode {
    exit_code(react(|reactor| reverser_story(reactor, &Out::stdout())))
}

/// A pretend connection to a server that answers every line with the line reversed, after a
/// round trip of `2 × latency` seconds. The reply lines reach `on_line` in order.
pub fn send_to_reversing_server<T: Time>(
    time: &T,
    latency: f64,
    text: &str,
    on_line: impl FnMut(String) + Send + 'static,
) {
    let on_line = Arc::new(Mutex::new(on_line));
    for line in text.lines() {
        let reply: String = line.chars().rev().collect();
        let on_line = on_line.clone();
        time.call_later(2.0 * latency, move || {
            (on_line.lock().unwrap_or_else(PoisonError::into_inner))(reply);
        })
        .expect("the latency is a valid number of seconds");
    }
}

/// The client's side of one connection (Twisted's protocol): it fires its Deferred with the
/// first line it receives, and never again.
#[derive(Debug)]
pub struct ReverseClientProtocol {
    reply: Option<Resolver<String>>,
    out: Out,
}

impl ReverseClientProtocol {
    /// A protocol that will fire `reply`.
    pub fn new(reply: Resolver<String>, out: Out) -> ReverseClientProtocol {
        ReverseClientProtocol { reply: Some(reply), out }
    }

    /// A line arrived. `Option::take` empties the slot as it fires, so only the first line
    /// can fire the Deferred.
    pub fn line_received(&mut self, line: String) {
        match self.reply.take() {
            Some(reply) => reply.callback(line).expect("the slot held the only way to fire it"),
            None => self.out.line(format!("  (protocol: ignored a later line, {line:?})")),
        }
    }
}

/// Reverses strings on a remote server. Its callers see only a method that returns a Deferred.
#[derive(Debug)]
pub struct RemoteReverser<T> {
    time: T,
    latency: f64,
    out: Out,
}

impl<T: Time + Clone + 'static> RemoteReverser<T> {
    /// A client for the server `latency` seconds away.
    pub fn new(time: T, latency: f64, out: Out) -> RemoteReverser<T> {
        RemoteReverser { time, latency, out }
    }

    /// Sends `text` to be reversed; the Deferred fires with the first line of the reply.
    pub fn reverse(&self, text: &str) -> Deferred<String> {
        let (reply, resolver) = Deferred::new();
        let mut protocol = ReverseClientProtocol::new(resolver, self.out.clone());
        send_to_reversing_server(&self.time, self.latency, text, move |line| {
            protocol.line_received(line);
        });
        reply
    }

    /// The same, with a protocol that fires on every line it receives.
    pub fn reverse_naively(&self, text: &str) -> Deferred<String> {
        let (reply, resolver) = Deferred::new();
        let out = self.out.clone();
        send_to_reversing_server(&self.time, self.latency, text, move |line| {
            if let Err(err) = resolver.callback(line) {
                out.line(format!("  (naive protocol: {err})"));
            }
        });
        reply
    }
}

/// Three requests at once: one line, two lines, and two lines to the naive protocol.
pub fn reverser_story<T: Time + Clone + 'static>(time: &T, out: &Out) -> Deferred<()> {
    let reverser = RemoteReverser::new(time.clone(), 0.25, out.clone());
    let requests = [
        ("reverse", "Hello"),
        ("reverse", "stressed\ndesserts"),
        ("reverse_naively", "drawer\nreward"),
    ];
    let replies = requests.map(|(method, text)| {
        let reply = if method == "reverse" {
            reverser.reverse(text)
        } else {
            reverser.reverse_naively(text)
        };
        out.line(format!("{method}({text:?}) returned a Deferred"));
        let (t, o) = (time.clone(), out.clone());
        reply.map(move |reversed| o.at(&t, format!("{method}({text:?}) fired with {reversed:?}")))
    });
    gather_results(replies).map(|_| ())
}
