//! Proof that the failure callback runs after `get_poetry` has returned.
//!
//! A failed connection is reported by the reactor, on a later turn of its loop, so its
//! errback can only run once `get_poetry` has returned, and once the caller's code is done.
//! The example prints every step, and the errback reads flags that the caller sets as it goes:
//! first with the errback passed to `get_poetry` as an argument, then with it added to the
//! Deferred that `get_poetry` returns.
//!
//! The Deferred is not what makes it later: a Deferred that already has its result runs a
//! callback the moment it is added. The last part shows that with a `get_poetry` that rejects
//! a bad address at once, before any connection.
//!
//! The connection is simulated on the time source (`refused.rs` makes a real one), so
//! `cargo run` uses the real reactor and the test a `Clock`.
//!
//! Run it with `cargo run --example errback_after_return --features reactor`. The guide's
//! chapter is `docs/guide/10-after-return.md`.

mod support;

use std::io;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deferreds::reactor::{Time, exit_code, react};
use deferreds::{Deferred, Failure};
pub use support::Out;

fn main() -> ExitCode {
    exit_code(react(|reactor| after_return_story(reactor, &Out::stdout())))
}

/// The failure of a (simulated) connection to `port`, reported by the reactor on its next
/// turn, as it would report a refused connection.
fn connect<T: Time>(
    time: &T,
    out: &Out,
    port: u16,
    on_failure: impl FnOnce(Failure) + Send + 'static,
) {
    let o = out.clone();
    time.call_later(0.0, move || {
        o.line("  reactor: the connection failed");
        let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused");
        on_failure(Failure::new(refused));
    })
    .expect("a delay of 0 s is valid");
    out.line(format!("  (connecting to port {port})"));
}

/// `get_poetry` with the errback passed in, the way Twisted's factory gets
/// `clientConnectionFailed`: could it be called before `get_poetry` returns?
pub fn get_poetry_with_errback<T: Time>(
    time: &T,
    out: &Out,
    port: u16,
    errback: impl FnOnce(Failure) + Send + 'static,
) {
    out.line("  get_poetry: starts");
    connect(time, out, port, errback);
    out.line("  get_poetry: returns");
}

/// `get_poetry` returning a Deferred. A port of 0 is refused at once, with a Deferred that has
/// already failed.
pub fn get_poetry<T: Time>(time: &T, out: &Out, port: u16) -> Deferred<String> {
    out.line("  get_poetry: starts");
    if port == 0 {
        out.line("  get_poetry: port 0 is no address; returns a Deferred that has already failed");
        return deferreds::fail(Failure::msg("port 0 is not a port one can connect to"));
    }
    let (poem, resolver) = Deferred::new();
    connect(time, out, port, move |failure| {
        resolver.errback(failure).expect("the connection fails once");
    });
    out.line("  get_poetry: returns");
    poem
}

/// Passes the errback in, and has it read a flag set when `get_poetry` returns.
fn errback_passed_in<T: Time>(time: &T, out: &Out) -> Deferred<()> {
    let (done, finished) = Deferred::new();
    let returned = Arc::new(AtomicBool::new(false));
    let (o, has_returned) = (out.clone(), returned.clone());
    out.line("caller: calling get_poetry(10002, errback)");
    get_poetry_with_errback(time, out, 10002, move |failure| {
        o.line(format!("  errback: {failure}"));
        o.line(format!("  errback: has get_poetry returned? {}", yes_no(&has_returned)));
        finished.callback(()).expect("the errback runs once");
    });
    returned.store(true, Ordering::SeqCst);
    out.line("caller: get_poetry returned; the caller's code is done");
    done
}

/// Calls the Deferred `get_poetry`, adds the errback, and has the errback read a flag set when
/// the caller's code is done.
fn errback_added<T: Time>(time: &T, out: &Out, port: u16) -> Deferred<()> {
    let caller_done = Arc::new(AtomicBool::new(false));
    out.line(format!("caller: calling get_poetry({port})"));
    let poem = get_poetry(time, out, port);
    out.line("caller: get_poetry returned; adding the errback");
    let (o, done) = (out.clone(), caller_done.clone());
    let handled = poem.add_errback(move |failure| {
        o.line(format!("  errback: {failure}"));
        o.line(format!("  errback: is the caller's code done? {}", yes_no(&done)));
        Ok(String::new())
    });
    caller_done.store(true, Ordering::SeqCst);
    out.line("caller: errback added; the caller's code is done");
    handled.map(|_| ())
}

fn yes_no(flag: &AtomicBool) -> &'static str {
    if flag.load(Ordering::SeqCst) { "yes" } else { "no" }
}

/// The errback passed in; the errback added to a Deferred; and a Deferred that failed at once.
pub fn after_return_story<T: Time + Clone + 'static>(time: &T, out: &Out) -> Deferred<()> {
    out.line("== An errback passed in: the reactor calls it after get_poetry returned");
    let (t, o) = (time.clone(), out.clone());
    errback_passed_in(time, out)
        .add_callback(move |()| {
            o.line("");
            o.line("== An errback added to the returned Deferred: it runs on a later turn");
            errback_added(&t, &o, 10002)
        })
        .add_callback({
            let (t, o) = (time.clone(), out.clone());
            move |()| {
                o.line("");
                o.line("== A Deferred that has already failed: the errback runs as it is added");
                errback_added(&t, &o, 0)
            }
        })
}
