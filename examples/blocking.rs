//! A callback that blocks holds up every other timer.
//!
//! The program of `run_later.rs`, with one change: after "Hello", a callback *sleeps* for 3 s
//! and then prints "World", instead of asking for a timer. The reactor runs one thing at a
//! time on one thread, so while that callback sleeps nothing else can run: "Beautiful", due at
//! 3 s, comes out at 5 s, after "World". The example prints when each line was due and when it
//! ran.
//!
//! The blocking call is a parameter too. `cargo run` really sleeps on the real reactor; the
//! test uses a `Clock` and a "sleep" that makes the clock owe 3 s, paid as soon as the callback
//! returns: the timers then find themselves late, exactly as on the reactor, without waiting.
//!
//! Then the fix: the same story with the sleep handed to the reactor's thread pool with
//! `Reactor::defer_to_thread` (Twisted's `deferToThread`). The reactor's thread stays free,
//! Beautiful is on time, and World comes back to the reactor's thread when the sleep ends.
//!
//! Run it with `cargo run --example blocking --features reactor`. The guide's chapter is
//! `docs/guide/05-blocking.md`.

mod support;

use std::process::ExitCode;
use std::time::Duration;

use deferreds::reactor::{Reactor, Time, defer_later, exit_code, react};
use deferreds::{Deferred, gather_results};
pub use support::Out;

fn main() -> ExitCode {
    let out = Out::stdout();
    let sleep = |seconds| std::thread::sleep(Duration::from_secs_f64(seconds));
    exit_code(react(|reactor| {
        let (r, o) = (reactor.clone(), out.clone());
        blocking_story(reactor, &out, sleep).add_callback(move |()| {
            o.line("");
            o.line("== The same story, with the sleep on a pool thread");
            unblocked_story(&r, &o, 1.0, sleep)
        })
    }))
}

/// Blocks the thread for `seconds`, then says `text`: the mistake this example is about.
pub fn sleep_then_print(out: &Out, sleep: &dyn Fn(f64), seconds: f64, text: &str) {
    sleep(seconds);
    out.line(format!("         {text} (after blocking the reactor's thread for {seconds} s)"));
}

/// Says `text` when its timer comes due, with how late it is.
fn say(
    time: &(impl Time + Clone + 'static),
    out: &Out,
    due: f64,
    text: &'static str,
) -> Deferred<()> {
    let (t, o) = (time.clone(), out.clone());
    defer_later(time, due - time.seconds(), move || {
        let late = t.seconds() - due;
        if late < 0.05 {
            o.at(&t, text);
        } else {
            o.at(&t, format!("{text} (due at {due:.1} s: {late:.1} s late)"));
        }
    })
}

/// Hello at 2 s; then a callback that sleeps 3 s and prints World; Beautiful due at 3 s.
pub fn blocking_story<T>(
    time: &T,
    out: &Out,
    sleep: impl Fn(f64) + Send + Sync + 'static,
) -> Deferred<()>
where
    T: Time + Clone + 'static,
{
    let hello = say(time, out, 2.0, "Hello");

    let (t, o) = (time.clone(), out.clone());
    let world = hello.map(move |()| {
        o.at(&t, "sleep_then_print: sleeping for 3 s, on the reactor's thread");
        sleep_then_print(&o, &sleep, 3.0, "World");
    });

    let beautiful = say(time, out, 3.0, "Beautiful");

    gather_results([world, beautiful]).map(|_| ())
}

/// The fix: Hello after `2 * scale` s, then a sleep of `3 * scale` s handed to the reactor's
/// thread pool, after which World is printed back on the reactor's thread; Beautiful is due
/// at `3 * scale` s and, the reactor's thread being free, comes on time.
pub fn unblocked_story(
    reactor: &Reactor,
    out: &Out,
    scale: f64,
    sleep: impl Fn(f64) + Send + Sync + 'static,
) -> Deferred<()> {
    let o = out.clone();
    let hello = defer_later(reactor, 2.0 * scale, move || o.line("Hello"));

    let (r, o) = (reactor.clone(), out.clone());
    let world = hello.add_callback(move |()| {
        o.line("defer_to_thread: sleeping for 3 s on a pool thread; the reactor's thread is free");
        r.defer_to_thread(move || {
            sleep(3.0 * scale);
            Ok(())
        })
        .map(move |()| o.line("World (back on the reactor's thread once the sleep ended)"))
    });

    let o = out.clone();
    let beautiful = defer_later(reactor, 3.0 * scale, move || o.line("Beautiful (on time)"));

    gather_results([world, beautiful]).map(|_| ())
}
