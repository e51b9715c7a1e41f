//! Runs every example and compares what it prints with the text it should print.
//!
//! Each example is included here as a module, and its story function is called with an `Out`
//! that keeps the lines. The timed examples run on a `Clock` that jumps from one timer to the
//! next, so nothing waits; the hello-world runs the real reactor with no delay, and the network
//! examples use real sockets on 127.0.0.1. Every test also checks that its example leaves no
//! unhandled failure behind.

// Each example includes its own copy of the support module, as it does when built alone.
#![allow(clippy::duplicate_mod)]

use deferreds::Failure;
use deferreds::testing::capture_unhandled;
#[cfg(feature = "reactor")]
use {
    deferreds::Deferred,
    deferreds::reactor::{Clock, DelayedCall, Reactor},
    deferreds::testing::success_result_of,
    std::sync::{Arc, Mutex},
};

// Each example, as a module: its `main` goes unused here, and so do some helpers.
#[cfg(feature = "reactor")]
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/blocking.rs"]
mod blocking;
#[cfg(feature = "reactor")]
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/errback_after_return.rs"]
mod errback_after_return;
#[cfg(feature = "reactor")]
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/get_poetry.rs"]
mod get_poetry;
#[cfg(feature = "reactor")]
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/hello_reactor.rs"]
mod hello_reactor;
#[cfg(feature = "reactor")]
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/inflight_cache.rs"]
mod inflight_cache;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/placeholder.rs"]
mod placeholder;
#[cfg(feature = "reactor")]
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/poem_timeout.rs"]
mod poem_timeout;
#[cfg(feature = "reactor")]
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/poetry_server_client.rs"]
mod poetry_server_client;
#[cfg(feature = "reactor")]
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/refused.rs"]
mod refused;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/restaurant.rs"]
mod restaurant;
#[cfg(feature = "reactor")]
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/reverser_client.rs"]
mod reverser_client;
#[cfg(feature = "reactor")]
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/run_later.rs"]
mod run_later;
#[cfg(feature = "tokio")]
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/tokio_service.rs"]
mod tokio_service;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/tour.rs"]
mod tour;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/trap_and_check.rs"]
mod trap_and_check;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/try_except.rs"]
mod try_except;

/// Runs an example's story with an `Out` (that example's own copy of the type) that keeps its
/// lines, checks that it left no unhandled failure, and returns the lines.
macro_rules! lines_of {
    ($example:ident, |$out:ident| $story:expr) => {{
        let kept = $example::Out::capture();
        let $out = &kept;
        let (_, unhandled) = capture_unhandled(|| $story);
        assert!(unhandled.is_empty(), "unhandled failures: {unhandled:?}");
        kept.lines()
    }};
}

/// Compares lines with the expected text, given as one string with a line per line.
#[track_caller]
fn assert_text(actual: &[String], expected: &str) {
    let expected = expected.strip_prefix('\n').unwrap_or(expected);
    let expected = expected.strip_suffix('\n').unwrap_or(expected);
    assert_eq!(actual.join("\n"), expected, "\n--- the example printed:\n{}\n", actual.join("\n"));
}

/// Replaces the line and column of a `Failure created at <path>:<line>:<col>` line, after
/// checking that the path is the example's file.
fn without_line_numbers(lines: Vec<String>, file: &str) -> Vec<String> {
    lines
        .into_iter()
        .map(|line| match line.split_once("Failure created at ") {
            Some((before, place)) => {
                let path = place.rsplitn(3, ':').nth(2).unwrap_or(place);
                assert!(path.ends_with(file), "the failure was made in {path}, not in {file}");
                format!("{before}Failure created at {file}:LINE:COL")
            }
            None => line,
        })
        .collect()
}

/// Tracebacks in the expected texts have no frames: no test here captures a backtrace.
fn no_backtraces() {
    Failure::set_backtrace_capture(false);
}

#[test]
fn tour() {
    no_backtraces();
    let lines = lines_of!(tour, |out| tour::tour(out));
    assert_text(
        &without_line_numbers(lines, "examples/tour.rs"),
        r#"
== 1. Callbacks run when the result arrives
   order placed; nothing has run yet
   eating pizza
   that took 5 bites; compliments to the chef
   the kitchen fired the Deferred, and the chain ran inside that call
   adding a step now runs it at once:
   (late step ran inside add_callback)

== 2. Errbacks: the failure track
   cooking soup...
   errback: the kitchen is closed; ordering takeaway instead
   back on the callback track with takeaway noodles

== 3. Nesting: a callback that returns a Deferred
   curry is ready; waiting for the courier
   the outer chain waits: is_waiting() = true
   delivered after 25 minutes

== 4. A failure's traceback
   check::<ParseIntError>() = true
   error_message() = "invalid digit found in string"
   traceback():
   | Traceback (no frames captured; set RUST_BACKTRACE=1 to capture them):
   | Failure created at examples/tour.rs:LINE:COL
   | core::num::error::ParseIntError: invalid digit found in string

More in docs/guide/README.md.
"#,
    );
}

#[test]
fn placeholder() {
    let lines = lines_of!(placeholder, |out| placeholder::placeholder_story(out));
    assert_text(
        &lines,
        r#"
== A placeholder, when all goes well
  diner: ordered; the callbacks wait for the meal
  kitchen: the eggs are ready, firing the placeholder
  diner: eating the eggs benedict
  diner: my compliments to the chef!
  kitchen: fire() returned
  kitchen: a second fire() is refused: Err(AlreadyFired)

== Flaw 1: fire() does not return until every callback has run
  kitchen: firing
  diner: a slow bite, 1 of 3
  diner: a slow bite, 2 of 3
  diner: a slow bite, 3 of 3
  kitchen: fire() returned; only now can the kitchen cook the next order

== Flaw 2: a failing callback has nowhere to go but back into fire()
  kitchen: firing with a meal that went off
  (Rust prints the panic's message on standard error: that is part of the story)
  kitchen: fire() panicked with "the fish pie has gone off"
  kitchen: ...and the kitchen has no idea what to do about it
  (the diner's second callback never ran, and the diner never heard)

== Flaw 3: a callback that returns a placeholder
  diner: eating the roast, then ordering dessert
  diner: compliment_chef was handed a Placeholder instead of a verdict, and has no way to wait for it

== The Deferred: a failure goes down the errback track, to the diner
  kitchen: firing with a meal that went off
  diner's errback: the fish pie has gone off; asking for the bill
  kitchen: callback() returned Ok(()): the failure stayed with the diner

== The Deferred: a callback that returns a Deferred makes the chain wait for it
  diner: eating the roast, then ordering dessert
  the chain is waiting for the dessert: is_waiting() = true
  dinner.describe() pictures the chains, the one that waits first:
    Deferred<()>: a tower of 2 chains, outermost first
    => #0 waiting on #1, 1 step pending
       #1 pending, 1 step pending
  pastry chef: the treacle tart is ready
  diner: my compliments to the chef!

== The Deferred keeps flaw 1 on purpose: callbacks run inside callback()
  kitchen: firing
  diner: eating the risotto
  kitchen: callback() returned, after the diner ate
"#,
    );
}

/// Runs a `Clock` the way the reactor runs real time: it jumps to each timer in turn, until
/// none is left. `owed` is time that blocking calls used up while the clock stood still; the
/// clock moves on by that much first, and the timers that came due meanwhile run late.
#[cfg(feature = "reactor")]
fn run_clock(clock: &Clock, owed: &Mutex<f64>) {
    for _ in 0..10_000 {
        let debt = std::mem::take(&mut *owed.lock().unwrap());
        if debt > 0.0 {
            clock.advance(debt);
            continue;
        }
        let Some(next) = clock.pending_calls().first().map(DelayedCall::get_time) else {
            return;
        };
        clock.advance((next - clock.seconds()).max(0.0));
    }
    panic!("the clock never ran out of timers");
}

/// Runs a timed story on a fresh `Clock` until its timers run out, and checks that it finished.
#[cfg(feature = "reactor")]
fn on_clock<T: Send + 'static>(story: impl FnOnce(&Clock) -> Deferred<T>) -> T {
    let clock = Clock::new();
    let done = story(&clock);
    run_clock(&clock, &Mutex::new(0.0));
    success_result_of(done)
}

#[test]
fn restaurant() {
    let lines = lines_of!(restaurant, |out| restaurant::restaurant_story(out));
    assert_text(
        &lines,
        r#"
== Synchronous: one diner at a time
ordering eggs benedict, and waiting at the counter
  eating the eggs benedict
  "My compliments to the chef!"
ordering porridge, and waiting at the counter
  eating the porridge
  "Was this cooked in the dark?"

== With Deferreds: every order placed first, each chain runs when its meal comes
ordering eggs benedict, and sitting down
ordering porridge, and sitting down
(every order is placed, and no callback has run yet)
kitchen: the eggs benedict is ready
  eating the eggs benedict
  "My compliments to the chef!"
kitchen: the porridge is ready
  eating the porridge
  "Was this cooked in the dark?"
"#,
    );
}

#[test]
fn try_except_each_shape_prints_what_its_synchronous_version_prints() {
    for shape in try_except::SHAPES {
        for dish in try_except::DISHES {
            let synchronous =
                lines_of!(try_except, |out| try_except::run_synchronously(out, shape, dish));
            let deferred =
                lines_of!(try_except, |out| try_except::run_with_deferred(out, shape, dish));
            assert_eq!(deferred, synchronous, "{shape:?} on {dish}");
        }
    }
}

#[test]
fn try_except() {
    let lines = lines_of!(try_except, |out| try_except::try_except_story(out));
    // Every case twice, synchronously and with a Deferred: the test above checks that the two
    // agree, so here each synchronous block is spelled out once and doubled.
    let mut expected = String::new();
    for (title, cases) in [
        (
            "1. Handle the error, then carry on: add_errback, then add_callback",
            [
                "    eating the omelette\n    -> ate the omelette",
                "    handled: the lobster is sold out; toast instead\n    eating the toast\n    -> ate the toast",
                "    -> not handled: the vindaloo is far too hot",
            ],
        ),
        (
            "2. Act only if there was no error: add_callbacks",
            [
                "    eating the omelette\n    -> ate the omelette",
                "    handled: the lobster is sold out\n    -> complained that the lobster is sold out",
                "    -> not handled: the vindaloo is far too hot",
            ],
        ),
        (
            "3. Handle an error from anywhere: add_callback, then add_errback",
            [
                "    eating the omelette\n    -> ate the omelette",
                "    handled: the lobster is sold out\n    -> complained that the lobster is sold out",
                "    handled: the vindaloo is far too hot\n    -> complained that the vindaloo is far too hot",
            ],
        ),
        (
            "4. Clean up whatever happens: add_both",
            [
                "    eating the omelette\n    clearing the table\n    -> ate the omelette",
                "    clearing the table\n    -> not handled: the lobster is sold out",
                "    clearing the table\n    -> not handled: the vindaloo is far too hot",
            ],
        ),
    ] {
        if !expected.is_empty() {
            expected.push('\n');
        }
        expected.push_str(&format!("== {title}\n"));
        for (dish, case) in try_except::DISHES.iter().zip(cases) {
            expected.push_str(&format!("{dish}, synchronously:\n{case}\n"));
            expected.push_str(&format!("{dish}, with a Deferred:\n{case}\n"));
        }
    }
    assert_text(&lines, &expected);
}

#[test]
fn trap_and_check() {
    let lines = lines_of!(trap_and_check, |out| trap_and_check::trap_and_check_story(out));
    assert_text(
        &lines,
        r#"
== match versus trap
good server, synchronously:
    -> Here is the poem you asked for.
good server, with trap:
    -> Here is the poem you asked for.
slow server, synchronously:
    handled: the poem took too long; using the backup
    -> A shorter poem, from the cache.
slow server, with trap:
    handled: the poem took too long; using the backup
    -> A shorter poem, from the cache.
closed server, synchronously:
    -> passed up: connection refused
closed server, with trap:
    -> passed on: connection refused
clumsy server, synchronously:
    -> passed up: 'orange' rhymes with nothing
clumsy server, with trap:
    -> passed on: 'orange' rhymes with nothing

== check: which error is it?
closed server, trap then another errback:
    the next errback got: connection refused
      check::<PoemTimeout>() = false
      check::<io::Error>()   = true
      check_any::<(PoemTimeout, io::Error, BadRhyme)>() = io::Error
      the io::Error inside: kind ConnectionRefused
    -> still failing at the end of the chain: connection refused
clumsy server, trap then another errback:
    the next errback got: 'orange' rhymes with nothing
      check::<PoemTimeout>() = false
      check::<io::Error>()   = false
      check_any::<(PoemTimeout, io::Error, BadRhyme)>() = BadRhyme
    -> still failing at the end of the chain: 'orange' rhymes with nothing
"#,
    );
}

/// The real reactor, with the stop timer at 0 s instead of 5 s: `run` returns at once.
#[test]
#[cfg(feature = "reactor")]
fn hello_reactor() {
    let lines = lines_of!(hello_reactor, |out| {
        hello_reactor::hello_world(&Reactor::new(), out, 0.0).expect("the reactor runs")
    });
    assert_text(
        &lines,
        r#"
Hello,
(calling run: from here on, the reactor decides what runs)
World!
(the timer went off: stopping the reactor)
(run returned)
"#,
    );
}

#[test]
#[cfg(feature = "reactor")]
fn run_later() {
    let lines =
        lines_of!(run_later, |out| on_clock(|clock| run_later::hello_beautiful_world(clock, out)));
    assert_text(
        &lines,
        r#"
[ 2.0 s] Hello
[ 3.0 s] Beautiful
[ 5.0 s] World
"#,
    );
}

/// The "sleep" makes the clock owe the time, and `run_clock` pays it once the blocking
/// callback has returned: the timers due meanwhile run late, after "World".
#[test]
#[cfg(feature = "reactor")]
fn blocking() {
    let owed = Arc::new(Mutex::new(0.0));
    let lines = lines_of!(blocking, |out| {
        let clock = Clock::new();
        let debt = owed.clone();
        let sleep = move |seconds: f64| *debt.lock().unwrap() += seconds;
        let done = blocking::blocking_story(&clock, out, sleep);
        run_clock(&clock, &owed);
        success_result_of(done)
    });
    assert_text(
        &lines,
        r#"
[ 2.0 s] Hello
[ 2.0 s] sleep_then_print: sleeping for 3 s, on the reactor's thread
         World (after blocking the reactor's thread for 3 s)
[ 5.0 s] Beautiful (due at 3.0 s: 2.0 s late)
"#,
    );
}

/// The fix, on the real reactor: the "sleep" on the pool thread waits until Beautiful has
/// been printed, which can only happen while the reactor's thread is free.
#[test]
#[cfg(feature = "reactor")]
fn blocking_with_defer_to_thread_keeps_the_reactor_free() {
    let lines = lines_of!(blocking, |out| {
        let seen = out.clone();
        let sleep = move |_seconds: f64| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !seen.lines().iter().any(|l| l.starts_with("Beautiful"))
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        };
        Reactor::new()
            .react(|reactor| blocking::unblocked_story(reactor, out, 0.005, sleep))
            .expect("the story ends")
    });
    assert_text(
        &lines,
        r#"
Hello
defer_to_thread: sleeping for 3 s on a pool thread; the reactor's thread is free
Beautiful (on time)
World (back on the reactor's thread once the sleep ended)
"#,
    );
}

/// Without the blocking call, nothing is late: the same story with a sleep that takes no time.
#[test]
#[cfg(feature = "reactor")]
fn blocking_without_the_sleep_runs_on_time() {
    let lines = lines_of!(blocking, |out| on_clock(|clock| {
        blocking::blocking_story(clock, out, |_seconds| ())
    }));
    assert_eq!(lines[3], "[ 3.0 s] Beautiful");
}

#[test]
#[cfg(feature = "reactor")]
fn reverser_client() {
    let lines = lines_of!(reverser_client, |out| on_clock(
        |clock| reverser_client::reverser_story(clock, out)
    ));
    assert_text(
        &lines,
        r#"
reverse("Hello") returned a Deferred
reverse("stressed\ndesserts") returned a Deferred
reverse_naively("drawer\nreward") returned a Deferred
[ 0.5 s] reverse("Hello") fired with "olleH"
[ 0.5 s] reverse("stressed\ndesserts") fired with "desserts"
  (protocol: ignored a later line, "stressed")
[ 0.5 s] reverse_naively("drawer\nreward") fired with "reward"
  (naive protocol: the Deferred has already been called)
"#,
    );
}

#[test]
#[cfg(feature = "reactor")]
fn get_poetry() {
    no_backtraces();
    let lines =
        lines_of!(get_poetry, |out| on_clock(|clock| get_poetry::get_poetry_story(clock, out)));
    assert_text(
        &without_line_numbers(lines, "examples/get_poetry.rs"),
        r#"
[ 0.0 s] == Stage 1: get_poetry(port, callback)
[ 1.5 s] got_poem from 10001: "A kettle sings a patient note," (4 lines)
[ 3.0 s] still nothing from 10002, and nothing will ever come

[ 3.0 s] == Stage 2: callback(None) on failure
[ 3.5 s] got_poem from 10002: None. Something failed, but what?
[ 4.5 s] got_poem from 10001: "A kettle sings a patient note," (4 lines)

[ 6.0 s] == Stage 3: callback(Err(error)) on failure
[ 6.5 s] got_poem from 10002: an error, connection to port 10002 refused (nothing listens there)
[ 7.5 s] got_poem from 10001: "A kettle sings a patient note," (4 lines)

[ 9.0 s] == Stage 4: a callback and an errback, which gets a Failure
[ 9.5 s] poem_failed for 10002: connection to port 10002 refused (nothing listens there)
         its traceback, which points where the Failure was made, not here:
           | Traceback (no frames captured; set RUST_BACKTRACE=1 to capture them):
           | Failure created at examples/get_poetry.rs:LINE:COL
           | std::io::error::Error: connection to port 10002 refused (nothing listens there)
[10.5 s] got_poem from 10001: "A kettle sings a patient note," (4 lines)

[12.0 s] == Stage 5: get_poetry(port) returns a Deferred
[12.5 s] poem_failed for 10002: connection to port 10002 refused (nothing listens there)
         its traceback, which points where the Failure was made, not here:
           | Traceback (no frames captured; set RUST_BACKTRACE=1 to capture them):
           | Failure created at examples/get_poetry.rs:LINE:COL
           | std::io::error::Error: connection to port 10002 refused (nothing listens there)
[13.5 s] got_poem from 10001: "A kettle sings a patient note," (4 lines)
"#,
    );
}

/// A real connection attempt to a closed port on 127.0.0.1, on the real reactor.
#[test]
#[cfg(feature = "reactor")]
fn refused() {
    let lines = lines_of!(refused, |out| {
        refused::refused_program(&Reactor::new(), out).expect("the program runs")
    });
    assert_text(
        &lines,
        r#"
connecting to a port on 127.0.0.1 where nothing listens
connect() returned a Deferred; the outcome comes later, from the reactor
the errback got a Failure:
  failure.check::<io::Error>() = true
  the io::Error's kind: ConnectionRefused
  failure.type_name() = std::io::error::Error
"#,
    );
}

#[test]
#[cfg(feature = "reactor")]
fn poem_timeout() {
    let lines =
        lines_of!(poem_timeout, |out| on_clock(|clock| poem_timeout::timeout_story(clock, out)));
    assert_text(
        &lines,
        r#"
[ 0.0 s] == hand-made timeout: the server needs 1 s, we wait 3 s
         (the poem came first: timer cancelled)
[ 1.0 s] got the poem: "Slow is the snail, and slower still"

[ 1.0 s] == hand-made timeout: the server needs 5 s, we wait 3 s
         (connection closed before the poem arrived)
[ 4.0 s] errback: PoemTimeout, no poem after 3 s

[ 4.0 s] == add_timeout: the server needs 1 s, we wait 3 s
[ 5.0 s] got the poem: "Slow is the snail, and slower still"

[ 5.0 s] == add_timeout: the server needs 5 s, we wait 3 s
         (connection closed before the poem arrived)
[ 8.0 s] errback: TimeoutError, the Deferred timed out after 3 seconds
"#,
    );
}

/// Whichever way it ends, a timed-out or a delivered poem leaves nothing scheduled.
#[test]
#[cfg(feature = "reactor")]
fn poem_timeout_leaves_no_timer_behind() {
    let out = poem_timeout::Out::capture();
    for (server_delay, timeout) in [(1.0, 3.0), (5.0, 3.0)] {
        for get_poetry in [
            poem_timeout::get_poetry_with_timeout::<Clock>,
            poem_timeout::get_poetry_with_add_timeout::<Clock>,
        ] {
            let clock = Clock::new();
            let poem = get_poetry(&clock, &out, server_delay, timeout);
            clock.advance(server_delay.min(timeout));
            assert!(clock.pending_calls().is_empty(), "{server_delay} s, {timeout} s");
            let _ = poem.try_result().into_result().expect("the poem or the timeout came");
        }
    }
}

#[test]
#[cfg(feature = "reactor")]
fn errback_after_return() {
    let lines = lines_of!(errback_after_return, |out| on_clock(|clock| {
        errback_after_return::after_return_story(clock, out)
    }));
    assert_text(
        &lines,
        r#"
== An errback passed in: the reactor calls it after get_poetry returned
caller: calling get_poetry(10002, errback)
  get_poetry: starts
  (connecting to port 10002)
  get_poetry: returns
caller: get_poetry returned; the caller's code is done
  reactor: the connection failed
  errback: connection refused
  errback: has get_poetry returned? yes

== An errback added to the returned Deferred: it runs on a later turn
caller: calling get_poetry(10002)
  get_poetry: starts
  (connecting to port 10002)
  get_poetry: returns
caller: get_poetry returned; adding the errback
caller: errback added; the caller's code is done
  reactor: the connection failed
  errback: connection refused
  errback: is the caller's code done? yes

== A Deferred that has already failed: the errback runs as it is added
caller: calling get_poetry(0)
  get_poetry: starts
  get_poetry: port 0 is no address; returns a Deferred that has already failed
caller: get_poetry returned; adding the errback
  errback: port 0 is not a port one can connect to
  errback: is the caller's code done? no
caller: errback added; the caller's code is done
"#,
    );
}

/// Real servers and a real client on 127.0.0.1, with a short pause between chunks.
#[test]
#[cfg(feature = "reactor")]
fn poetry_server_client() {
    let lines = lines_of!(poetry_server_client, |out| {
        let pause = std::time::Duration::from_millis(2);
        poetry_server_client::poetry_program(&Reactor::new(), out, pause).expect("the program runs")
    });
    assert_text(
        &lines,
        r#"
downloading 3 poems at once

from the first server:
    Two ferries cross the harbour, slow,
    one coming in and one to go;
    they pass without a word between,
    like people in a magazine.

from the second server:
    The rain has learned a single word
    and says it to the roof all night;
    by morning, nothing has occurred
    except the garden, washed and bright.

from a port where nothing listens: failed, ConnectionRefused
"#,
    );
}

/// The client gives every poem back whole, however the bytes were split on the way.
#[test]
#[cfg(feature = "reactor")]
fn poetry_client_downloads_in_chunks() {
    use poetry_server_client::{POEMS, PoetryServer, get_poetry};
    let server = PoetryServer::start(POEMS[1], std::time::Duration::ZERO).expect("a server");
    let reactor = Reactor::new();
    let poems = deferreds::gather_results(
        (0..3).map(|_| get_poetry(&reactor, server.addr())).collect::<Vec<_>>(),
    );
    let poems = reactor.react(|_| poems).expect("poems");
    server.stop();
    assert_eq!(poems, [POEMS[1]; 3]);
}

#[test]
#[cfg(feature = "reactor")]
fn inflight_cache() {
    let lines =
        lines_of!(inflight_cache, |out| on_clock(|clock| inflight_cache::cache_story(clock, out)));
    assert_text(
        &lines,
        r#"
[ 0.0 s] reader 1 asks for "Ozymandias"
         (cache: nothing yet; fetch #1 starts)
[ 0.2 s] reader 2 asks for "Ozymandias"
         (cache: a fetch is in flight; waiting on it)
[ 1.0 s] reader 1 got "Ozymandias": "I met a traveller from an antique land,"
[ 1.0 s] reader 2 got "Ozymandias": "I met a traveller from an antique land,"
[ 1.5 s] reader 3 asks for "Ozymandias"
         (cache: have it)
[ 1.5 s] reader 3 got "Ozymandias": "I met a traveller from an antique land,"
[ 2.0 s] reader 4 asks for "Kubla Khan"
         (cache: nothing yet; fetch #2 starts)
[ 3.0 s] reader 4 got a failure: no poem called "Kubla Khan"
[ 3.5 s] reader 5 asks for "Kubla Khan"
         (cache: nothing yet; fetch #3 starts)
[ 4.5 s] reader 5 got a failure: no poem called "Kubla Khan"
[ 5.0 s] reader 6 asks for "The Tyger", and gives up after 0.5 s
         (cache: nothing yet; fetch #4 starts)
[ 5.2 s] reader 7 asks for "The Tyger"
         (cache: a fetch is in flight; waiting on it)
[ 5.5 s] reader 6 gave up (only that reader's Deferred was cancelled)
[ 5.5 s] reader 6 is gone
[ 6.0 s] reader 7 got "The Tyger": "Tyger Tyger, burning bright,"
fetches made: 4 for 7 readers
"#,
    );
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_service() {
    no_backtraces();
    // A paused clock: the five seconds of the story take none.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let lines = lines_of!(tokio_service, |out| {
        runtime.block_on(async {
            let time = deferreds::tokio::TokioTime::new();
            tokio_service::poetry_service(&time, out).await.unwrap();
        })
    });
    assert_text(
        &lines,
        r#"
[ 0.0 s] ode: download started
[ 2.0 s] ode: 2 lines
[ 2.0 s] sonnet: download started
[ 3.0 s] sonnet: Shall I compare thee to a summer's day?
[ 3.0 s] epic: download started
[ 5.0 s] epic: the Deferred timed out after 2 seconds
[ 5.0 s] epic: its task was aborted, and its future dropped
"#,
    );
}
