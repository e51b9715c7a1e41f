//! Debug mode is process-wide, so its tests live in their own binary and run one at a time
//! (each takes the lock below), away from tests that assert exact messages.

use parking_lot::Mutex;

use deferreds::testing::{capture_unhandled, success_result_of};
use deferreds::{Deferred, Failure, fail, set_debugging, succeed};

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `f` with debug mode on, restoring it afterwards even if `f` panics.
fn with_debugging(f: impl FnOnce()) {
    struct Off;
    impl Drop for Off {
        fn drop(&mut self) {
            set_debugging(false);
        }
    }
    let _serial = SERIAL.lock();
    set_debugging(true);
    let _off = Off;
    f();
}

#[test]
fn debug_mode_is_off_by_default_and_adds_nothing() {
    let _serial = SERIAL.lock();
    assert!(!deferreds::debugging());
    let (d, r) = Deferred::<u8>::new();
    r.callback(1).unwrap();
    assert_eq!(r.callback(2).unwrap_err().to_string(), "the Deferred has already been called");
    assert_eq!(format!("{d:?}"), "<Deferred<u8> current result: 1>");
    let ((), reports) = capture_unhandled(|| drop(fail::<u8>(Failure::msg("x"))));
    assert_eq!(reports[0].debug_info(), None);
}

#[test]
fn already_called_names_the_creation_and_first_fire_sites() {
    with_debugging(|| {
        let ((d, r), created_line) = (Deferred::<u8>::new(), line!());
        let (fired, fired_line) = (r.callback(1), line!());
        fired.unwrap();
        let message = r.callback(2).unwrap_err().to_string();
        assert!(message.starts_with("the Deferred has already been called"), "{message}");
        assert!(
            message.contains(&format!("C: Deferred was created at {}:{created_line}:", file!())),
            "{message}"
        );
        assert!(
            message.contains(&format!("I: First fired at {}:{fired_line}:", file!())),
            "{message}"
        );
        success_result_of(d);
    });
}

#[test]
fn debug_output_shows_where_the_deferred_was_created() {
    with_debugging(|| {
        let ((d, _r), line) = (Deferred::<u8>::new(), line!());
        let shown = format!("{d:?}");
        assert!(
            shown.contains(&format!("C: Deferred was created at {}:{line}:", file!())),
            "{shown}"
        );
        assert!(shown.contains("I: not fired yet"), "{shown}");
    });
}

#[test]
fn unhandled_reports_carry_the_debug_lines() {
    with_debugging(|| {
        let ((), reports) = capture_unhandled(|| {
            let (d, r) = Deferred::<u8>::new();
            r.errback(Failure::msg("lost")).unwrap();
            drop((d, r));
        });
        assert_eq!(reports.len(), 1);
        let debug = reports[0].debug_info().expect("debug lines recorded");
        assert!(debug.contains("C: Deferred was created at"), "{debug}");
        assert!(debug.contains("I: First fired at"), "{debug}");
        assert!(reports[0].to_string().contains("(debug:"), "{}", reports[0]);
    });
}

#[test]
fn succeed_in_debug_mode_records_its_creation_site() {
    with_debugging(|| {
        let (d, line) = (succeed(5), line!());
        let shown = format!("{d:?}");
        assert!(shown.contains(&format!("{}:{line}:", file!())), "{shown}");
        assert_eq!(success_result_of(d), 5);
    });
}

#[test]
fn deferreds_made_before_debug_mode_was_turned_on_have_no_record() {
    let _serial = SERIAL.lock();
    let (d, r) = Deferred::<u8>::new();
    set_debugging(true);
    r.callback(1).unwrap();
    let message = r.callback(2).unwrap_err().to_string();
    set_debugging(false);
    assert_eq!(message, "the Deferred has already been called");
    success_result_of(d);
}

#[test]
fn a_step_whose_value_is_a_deferred_is_reported_in_debug_mode_and_the_chain_goes_on() {
    with_debugging(|| {
        let (d, reports) = capture_unhandled(|| {
            let inner = succeed(42u32);
            succeed("41").add_callback(move |s| {
                s.parse::<u32>()?;
                Ok(inner) // the mistake: `Ok(deferred)` is a value, not a wait
            })
        });
        assert_eq!(reports.len(), 1);
        let error = reports[0].failure().downcast_ref::<deferreds::DeferredValueError>().unwrap();
        assert_eq!(error.type_name(), "deferreds::deferred::Deferred<u32>");
        assert!(reports[0].failure().error_message().contains("and_then"));
        // Reported, not changed: the chain carries the Deferred as its value.
        assert_eq!(success_result_of(success_result_of(d)), 42);

        let (d, reports) = capture_unhandled(|| succeed(1u8).map(|n| succeed(n)));
        assert_eq!(reports.len(), 1, "map is checked too");
        drop(d);
    });
}

#[test]
fn a_hook_that_panics_on_a_deferred_value_report_leaves_the_chain_with_its_value() {
    with_debugging(|| {
        deferreds::set_unhandled_hook(|report| {
            if report.failure().check::<deferreds::DeferredValueError>() {
                panic!("the hook panicked");
            }
        });
        let d = succeed(1u8).map(|n| succeed(n + 1));
        deferreds::reset_unhandled_hook();
        assert_eq!(success_result_of(success_result_of(d)), 2);
    });
}

#[test]
fn a_deferred_value_is_not_reported_outside_debug_mode_nor_when_the_step_waits() {
    let _serial = SERIAL.lock();
    let (d, reports) = capture_unhandled(|| succeed(1u8).add_callback(|n| Ok(succeed(n))));
    assert!(reports.is_empty());
    drop(d);
    drop(_serial);
    with_debugging(|| {
        let (d, reports) = capture_unhandled(|| {
            succeed("7").and_then(|s| Ok(succeed(s.parse::<u32>()?))).add_callback(|n| Ok(n + 1))
        });
        assert!(reports.is_empty());
        assert_eq!(success_result_of(d), 8);
    });
}

/// `text` with each `file:line:column` of this file cut to `file:line`, the columns being
/// whatever rustfmt makes them.
fn without_columns(text: &str) -> String {
    let here = format!("{}:", file!());
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(&here) {
        let (before, after) = rest.split_at(at + here.len());
        out.push_str(before);
        let line_end = after.find(':').expect("a line, then a column");
        out.push_str(&after[..line_end]);
        let column_end = after[line_end + 1..]
            .find(|c: char| !c.is_ascii_digit())
            .map_or(after.len(), |i| line_end + 1 + i);
        rest = &after[column_end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn a_picture_in_debug_mode_shows_where_each_chain_was_made_and_fired_and_each_step_added() {
    with_debugging(|| {
        let ((leaf, fire_leaf), leaf_line) = (Deferred::<u8>::new(), line!());
        let (top, top_line) = (succeed(()), line!());
        let top = top.add_callback(move |()| leaf);
        let (top, map_line) = (top.map(|n| n + 1), line!());
        let (top, errback_line) = (top.add_errback(Err), line!());
        let f = file!();
        assert_eq!(
            without_columns(&top.describe().to_string()),
            format!(
                "Deferred<u8>: a tower of 2 chains, outermost first\n\
                 => #0 waiting on #1, 2 steps pending\n      \
                       created at {f}:{top_line}, fired at {f}:{top_line}\n      \
                       callback added at {f}:{map_line}\n      \
                       errback added at {f}:{errback_line}\n   \
                    #1 pending\n      \
                       created at {f}:{leaf_line}"
            )
        );
        let dot = top.describe().to_dot();
        assert!(dot.contains(&format!("\\lcallback added at {f}:{map_line}:")), "{dot}");
        fire_leaf.callback(1).unwrap();
        assert_eq!(success_result_of(top), 2);
    });
}

#[test]
fn a_picture_in_debug_mode_names_links_and_combinator_inputs_and_counts_steps_past_eight() {
    with_debugging(|| {
        let (a, fire_a) = Deferred::<u8>::new();
        let (b, fire_b) = Deferred::<u8>::new();
        let mut a = a.chain_deferred(&fire_b);
        for _ in 0..9 {
            a = a.add_callback(|()| Ok(()));
        }
        let text = a.describe().to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Deferred<()>: pending, 10 steps pending", "{text}");
        assert_eq!(lines[2], "    chain_deferred: fires another Deferred", "{text}");
        assert!(lines[3].starts_with("    callback added at "), "{text}");
        assert_eq!(lines.last(), Some(&"    ... and 2 more steps"), "{text}");
        assert_eq!(lines.len(), 2 + 8 + 1, "{text}");

        // `gather_results` waits for each Deferred it gathers, after that Deferred's steps.
        let b = b.map(|n| n + 1);
        let gathered = deferreds::gather_results(vec![b]);
        let text = fire_b.describe().to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0], "Resolver<u8>: pending, 1 step pending, an input of a combinator",
            "{text}"
        );
        assert!(lines[2].starts_with("    callback added at "), "{text}");
        fire_a.callback(7).unwrap();
        success_result_of(a);
        assert_eq!(success_result_of(gathered), [8]);
    });
}

#[test]
fn a_chain_made_before_debug_mode_was_on_is_pictured_without_sites() {
    let _serial = SERIAL.lock();
    let (d, _r) = Deferred::<u8>::new();
    set_debugging(true);
    let d = d.map(|n| n + 1);
    set_debugging(false);
    assert_eq!(d.describe().to_string(), "Deferred<u8>: pending, 1 step pending");
}

/// A program that pauses, nests, recovers and adds to its own chain from a step, with what
/// it did written down.
fn busy_program() -> Vec<String> {
    let log = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let note = |log: &std::sync::Arc<parking_lot::Mutex<Vec<String>>>| {
        let log = log.clone();
        move |what: String| log.lock().push(what)
    };
    let (inner, fire_inner) = Deferred::<u32>::new();
    let (d, r) = Deferred::<u32>::new();
    let (n1, n2, n3) = (note(&log), note(&log), note(&log));
    let mut d = d
        .add_callback(move |n| {
            n1(format!("first {n}"));
            inner.map(move |m| m + n)
        })
        .add_callback(|n| if n > 10 { Err(Failure::msg("too big")) } else { Ok(n) })
        .add_errback(move |f| {
            n2(format!("recovered from {}", f.error_message()));
            Ok(0)
        });
    d.pause();
    r.callback(5).unwrap();
    fire_inner.callback(6).unwrap();
    let d = d.add_both(move |r| {
        n3(format!("both saw {r:?}"));
        r
    });
    let mut d = d;
    d.unpause().unwrap();
    let result = success_result_of(d);
    let mut log = log.lock().clone();
    log.push(format!("result {result}"));
    log
}

#[test]
fn steps_that_carry_their_sites_run_exactly_as_plain_steps_do() {
    let plain = {
        let _serial = SERIAL.lock();
        busy_program()
    };
    let mut located = Vec::new();
    with_debugging(|| located = busy_program());
    assert_eq!(plain, ["first 5", "recovered from too big", "both saw Ok(0)", "result 0"]);
    assert_eq!(located, plain);
}

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/seeing_chains.rs"]
mod seeing_chains;

#[test]
fn the_guides_pictures_of_a_tower_show_every_level_from_either_end() {
    let out = seeing_chains::Out::capture();
    with_debugging(|| seeing_chains::seeing_chains(&out));
    let text = out.lines().join("\n").replace("tests/../examples/", "examples/");
    let expected = r#"
== dinner.describe(), while the tart bakes
  Deferred<alloc::string::String>: a tower of 3 chains, outermost first
  => #0 waiting on #1, 1 step pending
        created at examples/seeing_chains.rs:23:28, fired at examples/seeing_chains.rs:31:13
        callback added at examples/seeing_chains.rs:30:10
     #1 waiting on #2
        created at examples/seeing_chains.rs:24:34, fired at examples/seeing_chains.rs:32:17
     #2 pending, 1 step pending
        created at examples/seeing_chains.rs:25:25
        callback added at examples/seeing_chains.rs:27:47

== timer.describe(): the same tower, seen from the oven
  Resolver<u32>: a tower of 3 chains, outermost first
     #0 waiting on #1, 1 step pending
        created at examples/seeing_chains.rs:23:28, fired at examples/seeing_chains.rs:31:13
        callback added at examples/seeing_chains.rs:30:10
     #1 waiting on #2
        created at examples/seeing_chains.rs:24:34, fired at examples/seeing_chains.rs:32:17
  => #2 pending, 1 step pending
        created at examples/seeing_chains.rs:25:25
        callback added at examples/seeing_chains.rs:27:47

== Picture::dot: the tower as a Graphviz graph
  digraph deferreds {
    node [shape=box, fontname="monospace"];
    c0 [label="Deferred<alloc::string::String>\lwaiting, 1 step pending\lcreated at examples/seeing_chains.rs:23:28, fired at examples/seeing_chains.rs:31:13\lcallback added at examples/seeing_chains.rs:30:10\l"];
    c1 [label="waiting\lcreated at examples/seeing_chains.rs:24:34, fired at examples/seeing_chains.rs:32:17\l"];
    c0 -> c1 [label="waits on"];
    c2 [label="pending, 1 step pending\lcreated at examples/seeing_chains.rs:25:25\lcallback added at examples/seeing_chains.rs:27:47\l"];
    c1 -> c2 [label="waits on"];
  }

== {dinner:#?}, once the oven rang: the value shown with its Debug
  Deferred<alloc::string::String>: has its result: "compliments for the treacle tart, 40 min"
      created at examples/seeing_chains.rs:23:28, fired at examples/seeing_chains.rs:31:13
"#;
    assert_eq!(text, expected.trim_matches('\n'), "\n--- the example printed:\n{text}\n");
}
