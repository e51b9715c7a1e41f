//! `run_later`: a timer turned into a Deferred, so that one thing can wait for another.
//!
//! "Hello" is printed at 2 s and "Beautiful" at 3 s; "World" waits for "Hello", because its
//! timer is only set by a callback of Hello's Deferred, so it comes 3 s after Hello, at 5 s.
//! Nothing here blocks: each timer's code runs quickly and gives control back to the loop.
//!
//! The story takes its time source as a parameter (the `Time` trait): `cargo run` runs it on
//! the real reactor, and `tests/examples.rs` on a `Clock` that jumps from one timer to the
//! next, so the test takes no time.
//!
//! Run it with `cargo run --example run_later --features reactor`. The guide's chapter is
//! `docs/guide/04-the-reactor.md`.

mod support;

use std::process::ExitCode;

use deferreds::reactor::{Time, exit_code, react};
use deferreds::{Deferred, gather_results};
pub use support::Out;

fn main() -> ExitCode {
    exit_code(react(|reactor| hello_beautiful_world(reactor, &Out::stdout())))
}

/// Calls `f` `seconds` from now and fires the returned Deferred with what it returns.
///
/// This is the crate's `defer_later` made by hand: a Deferred, and a timer that fires it.
pub fn run_later<T, F>(time: &impl Time, seconds: f64, f: F) -> Deferred<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (result, resolver) = Deferred::new();
    time.call_later(seconds, move || {
        resolver.callback(f()).expect("only this timer fires the Deferred");
    })
    .expect("the delay is a valid number of seconds");
    result
}

/// Hello at 2 s, Beautiful at 3 s, World 3 s after Hello; the Deferred fires when all three
/// have been said.
pub fn hello_beautiful_world<T>(time: &T, out: &Out) -> Deferred<()>
where
    T: Time + Clone + 'static,
{
    let (t, o) = (time.clone(), out.clone());
    let hello = run_later(time, 2.0, move || o.at(&t, "Hello"));

    // World's timer is set by a callback, so it starts counting when Hello has been said.
    let (t, o) = (time.clone(), out.clone());
    let world = hello.add_callback(move |()| {
        let t2 = t.clone();
        run_later(&t, 3.0, move || o.at(&t2, "World"))
    });

    let (t, o) = (time.clone(), out.clone());
    let beautiful = run_later(time, 3.0, move || o.at(&t, "Beautiful"));

    gather_results([world, beautiful]).map(|_| ())
}
