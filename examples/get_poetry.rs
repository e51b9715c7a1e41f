//! `get_poetry` grows an error path, one stage at a time, until it needs a Deferred.
//!
//! A synchronous `get_poetry(port) -> String` would block until the whole poem had arrived,
//! so the asynchronous one takes what to do with the poem instead. The question is what
//! happens when the download fails:
//!
//! 1. a callback for the poem, and nothing at all on failure: the caller waits forever;
//! 2. `callback(None)` on failure: the caller hears of it, but not why;
//! 3. `callback(Err(error))`: the caller learns why, but one function handles both paths;
//! 4. a callback and an errback, the errback getting a `Failure` that remembers where the
//!    error happened;
//! 5. and, once two callbacks are a chore to pass around, a returned `Deferred<String>`.
//!
//! Each stage asks two servers at once: one that sends a poem, and one where nothing listens.
//! The servers are simulated on the time source (the connection takes 0.5 s, the poem 1 s
//! more), so the story runs on the real reactor with `cargo run` and on a `Clock` in its test;
//! `refused.rs` and `poetry_server_client.rs` use real sockets.
//!
//! Run it with `cargo run --example get_poetry --features reactor`; with `RUST_BACKTRACE=1`,
//! the failure's traceback lists the calls that led to it. The guide's chapter is
//! `docs/guide/07-get-poetry.md`.

mod support;

use std::io;
use std::process::ExitCode;

use deferreds::reactor::{Time, defer_later, exit_code, react};
use deferreds::{Deferred, Failure};
pub use support::Out;

fn main() -> ExitCode {
    exit_code(react(|reactor| get_poetry_story(reactor, &Out::stdout())))
}

/// The port of the server that sends a poem.
pub const GOOD_PORT: u16 = 10001;
/// A port where nothing listens.
pub const EMPTY_PORT: u16 = 10002;

/// What the server on [`GOOD_PORT`] sends.
pub const POEM: &str = "\
A kettle sings a patient note,
the window fogs and clears;
the morning, buttoned to the throat,
forgets its yesterdays.";

/// The transport level, simulated: connects to `port` (0.5 s), reads the poem (1 s more), and
/// calls `on_done` with it, or with the error that ended the attempt. Every stage of
/// `get_poetry` is built on this.
pub fn download<T: Time>(
    time: &T,
    port: u16,
    on_done: impl FnOnce(io::Result<String>) + Send + 'static,
) {
    let delay = if port == GOOD_PORT { 1.5 } else { 0.5 };
    time.call_later(delay, move || {
        if port == GOOD_PORT {
            on_done(Ok(POEM.to_string()));
        } else {
            on_done(Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("connection to port {port} refused (nothing listens there)"),
            )));
        }
    })
    .expect("the delay is a valid number of seconds");
}

/// Stage 1: a callback, called only with a poem. A failure is dropped on the floor.
pub fn get_poetry_1<T: Time>(time: &T, port: u16, callback: impl FnOnce(String) + Send + 'static) {
    download(time, port, move |result| {
        if let Ok(poem) = result {
            callback(poem);
        }
    });
}

/// Stage 2: the callback gets `None` when the download failed.
pub fn get_poetry_2<T: Time>(
    time: &T,
    port: u16,
    callback: impl FnOnce(Option<String>) + Send + 'static,
) {
    download(time, port, move |result| callback(result.ok()));
}

/// Stage 3: the callback gets the poem or the error, in one `Result`.
pub fn get_poetry_3<T: Time>(
    time: &T,
    port: u16,
    callback: impl FnOnce(io::Result<String>) + Send + 'static,
) {
    download(time, port, callback);
}

/// Stage 4: a callback for the poem and an errback for the failure. The `Failure` is made
/// here, where the connection failed, and keeps that place (and, when backtraces are on, the
/// calls that led to it) for whoever reads it later.
pub fn get_poetry_4<T: Time>(
    time: &T,
    port: u16,
    callback: impl FnOnce(String) + Send + 'static,
    errback: impl FnOnce(Failure) + Send + 'static,
) {
    download(time, port, move |result| match result {
        Ok(poem) => callback(poem),
        Err(error) => errback(Failure::new(error)),
    });
}

/// Stage 5: no callbacks passed in; a Deferred handed back. The caller adds the callback and
/// errback to it, and so can everyone the caller passes it to.
pub fn get_poetry<T: Time>(time: &T, port: u16) -> Deferred<String> {
    let (poem, resolver) = Deferred::new();
    download(time, port, move |result| {
        resolver
            .resolve(result.map_err(|error| Failure::new(error)))
            .expect("a download ends once");
    });
    poem
}

/// A poem, in a line: its first line and how many there are.
fn summary(poem: &str) -> String {
    format!("{:?} ({} lines)", poem.lines().next().unwrap_or(""), poem.lines().count())
}

/// Each stage asks both servers and lasts 3 s; then the next begins.
pub fn get_poetry_story<T: Time + Clone + 'static>(time: &T, out: &Out) -> Deferred<()> {
    let (t, o) = (time.clone(), out.clone());
    let mut story = stage_1(time, out);
    let stages: [fn(&T, &Out) -> Deferred<()>; 4] = [stage_2, stage_3, stage_4, stage_5];
    for stage in stages {
        let (t, o) = (t.clone(), o.clone());
        story = story.add_callback(move |()| stage(&t, &o));
    }
    story
}

fn stage_1<T: Time + Clone + 'static>(time: &T, out: &Out) -> Deferred<()> {
    out.at(time, "== Stage 1: get_poetry(port, callback)");
    for port in [GOOD_PORT, EMPTY_PORT] {
        let (t, o) = (time.clone(), out.clone());
        get_poetry_1(time, port, move |poem| {
            o.at(&t, format!("got_poem from {port}: {}", summary(&poem)));
        });
    }
    let (t, o) = (time.clone(), out.clone());
    defer_later(time, 3.0, move || {
        o.at(&t, format!("still nothing from {EMPTY_PORT}, and nothing will ever come"));
    })
}

fn stage_2<T: Time + Clone + 'static>(time: &T, out: &Out) -> Deferred<()> {
    out.line("");
    out.at(time, "== Stage 2: callback(None) on failure");
    for port in [GOOD_PORT, EMPTY_PORT] {
        let (t, o) = (time.clone(), out.clone());
        get_poetry_2(time, port, move |poem| match poem {
            Some(poem) => o.at(&t, format!("got_poem from {port}: {}", summary(&poem))),
            None => o.at(&t, format!("got_poem from {port}: None. Something failed, but what?")),
        });
    }
    end_of_stage(time)
}

fn stage_3<T: Time + Clone + 'static>(time: &T, out: &Out) -> Deferred<()> {
    out.line("");
    out.at(time, "== Stage 3: callback(Err(error)) on failure");
    for port in [GOOD_PORT, EMPTY_PORT] {
        let (t, o) = (time.clone(), out.clone());
        get_poetry_3(time, port, move |result| match result {
            Ok(poem) => o.at(&t, format!("got_poem from {port}: {}", summary(&poem))),
            Err(error) => o.at(&t, format!("got_poem from {port}: an error, {error}")),
        });
    }
    end_of_stage(time)
}

fn stage_4<T: Time + Clone + 'static>(time: &T, out: &Out) -> Deferred<()> {
    out.line("");
    out.at(time, "== Stage 4: a callback and an errback, which gets a Failure");
    for port in [GOOD_PORT, EMPTY_PORT] {
        let (t, o) = (time.clone(), out.clone());
        let (t2, o2) = (time.clone(), out.clone());
        get_poetry_4(
            time,
            port,
            move |poem| o.at(&t, format!("got_poem from {port}: {}", summary(&poem))),
            move |failure| poem_failed(&t2, &o2, port, &failure),
        );
    }
    end_of_stage(time)
}

/// The errback of stages 4 and 5: what went wrong, and where.
fn poem_failed(time: &impl Time, out: &Out, port: u16, failure: &Failure) {
    out.at(time, format!("poem_failed for {port}: {}", failure.error_message()));
    out.line("         its traceback, which points where the Failure was made, not here:");
    for line in failure.traceback().lines() {
        out.line(format!("           | {line}"));
    }
}

fn stage_5<T: Time + Clone + 'static>(time: &T, out: &Out) -> Deferred<()> {
    out.line("");
    out.at(time, "== Stage 5: get_poetry(port) returns a Deferred");
    for port in [GOOD_PORT, EMPTY_PORT] {
        let (t, o) = (time.clone(), out.clone());
        let (t2, o2) = (time.clone(), out.clone());
        let _handled = get_poetry(time, port).add_callbacks(
            move |poem| o.at(&t, format!("got_poem from {port}: {}", summary(&poem))),
            move |failure| poem_failed(&t2, &o2, port, &failure),
        );
    }
    end_of_stage(time)
}

/// Each stage lasts 3 s: time for both answers, or for the one that never comes.
fn end_of_stage<T: Time>(time: &T) -> Deferred<()> {
    defer_later(time, 3.0, || ())
}
