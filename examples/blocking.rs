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
//! Run it with `cargo run --example blocking --features reactor`. The guide's chapter is
//! `docs/guide/05-blocking.md`.

mod support;

use std::time::Duration;

use deferreds::reactor::{Reactor, Time, defer_later};
use deferreds::{Deferred, gather_results};
pub use support::Out;

fn main() {
    let reactor = Reactor::new();
    let sleep = |seconds| std::thread::sleep(Duration::from_secs_f64(seconds));
    let story = blocking_story(&reactor, &Out::stdout(), sleep);
    support::run_until_done(&reactor, story).expect("the story ends");
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
