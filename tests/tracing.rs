//! The `tracing` feature: the events and spans chains emit, as a subscriber sees them.
//!
//! Each test installs a subscriber for its own thread only (`with_default`), a registry with a
//! layer that keeps what the crate emits.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber, span};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use deferreds::testing::{capture_unhandled, failure_result_of, success_result_of};
use deferreds::{CancelledError, Deferred, Failure, Step};

/// One event or new span, as the layer saw it.
#[derive(Clone, Debug)]
struct Seen {
    level: Level,
    /// The event's message, or `span step` for a new step span.
    what: String,
    fields: BTreeMap<String, String>,
    /// The `kind` and `track` of the step span an event was emitted in.
    in_step: Option<String>,
    /// The `error` field of an event held a `CancelledError`, seen by downcasting.
    cancelled_error: bool,
}

impl Seen {
    fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("<none>", String::as_str)
    }

    /// The event's message and the fields that do not change from run to run (not the chain
    /// ids, which are addresses, nor line numbers).
    fn brief(&self) -> String {
        let mut out = format!("{} {}", self.level, self.what);
        for key in ["kind", "track", "value", "failure"] {
            if let Some(value) = self.fields.get(key) {
                out.push_str(&format!(" {key}={value}"));
            }
        }
        if let Some(step) = &self.in_step {
            out.push_str(&format!(" (in step {step})"));
        }
        out
    }
}

#[derive(Clone, Default)]
struct Keep(Arc<Mutex<Vec<Seen>>>);

#[derive(Default)]
struct Fields {
    message: Option<String>,
    map: BTreeMap<String, String>,
    cancelled_error: bool,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        match field.name() {
            "message" => self.message = Some(text),
            name => {
                self.map.insert(name.to_owned(), text);
            }
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.map.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.cancelled_error |= value.downcast_ref::<CancelledError>().is_some();
        self.map.insert(field.name().to_owned(), value.to_string());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Keep {
    fn on_new_span(&self, attrs: &span::Attributes<'_>, _: &span::Id, _: Context<'_, S>) {
        if attrs.metadata().target() != "deferreds" {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let seen = Seen {
            level: *attrs.metadata().level(),
            what: format!("span {}", attrs.metadata().name()),
            fields: fields.map,
            in_step: None,
            cancelled_error: false,
        };
        self.0.lock().unwrap().push(seen);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let in_step = ctx.event_span(event).map(|span| {
            let kind = span.extensions().get::<String>().cloned();
            kind.unwrap_or_else(|| span.name().to_owned())
        });
        let seen = Seen {
            level: *event.metadata().level(),
            what: fields.message.unwrap_or_default(),
            fields: fields.map,
            in_step,
            cancelled_error: fields.cancelled_error,
        };
        self.0.lock().unwrap().push(seen);
    }

    fn on_record(&self, _: &span::Id, _: &span::Record<'_>, _: Context<'_, S>) {}
}

/// Keeps the `kind` and `track` of each step span in its extensions, so that the events
/// emitted inside it can say which step they were in.
struct StepNames;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for StepNames {
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            let name = format!(
                "{}/{}",
                fields.map.get("kind").cloned().unwrap_or_default(),
                fields.map.get("track").cloned().unwrap_or_default()
            );
            span.extensions_mut().insert(name);
        }
    }
}

/// Runs `f` with a subscriber that keeps the crate's events, and returns them.
fn collect<R>(f: impl FnOnce() -> R) -> (R, Vec<Seen>) {
    let keep = Keep::default();
    let subscriber = Registry::default().with(StepNames).with(keep.clone());
    let out = tracing::subscriber::with_default(subscriber, f);
    let seen = keep.0.lock().unwrap().clone();
    (out, seen)
}

fn briefs(seen: &[Seen]) -> Vec<String> {
    seen.iter().map(Seen::brief).collect()
}

#[test]
fn a_nested_chain_that_fails_and_is_cancelled_emits_each_stage_in_order() {
    let (cancel_line, seen) = collect(|| {
        let (inner, fire_inner) = Deferred::<u32>::new();
        let (outer, fire_outer) = Deferred::<&str>::new();
        let outer = outer
            .add_callback(move |_key| inner)
            .add_callback(|n| Ok(n + 1))
            .add_errback(Err::<u32, _>);
        fire_outer.callback("key").unwrap();
        let cancel_line = line!() + 1;
        outer.cancel();
        let ((), reports) = capture_unhandled(|| drop((outer, fire_outer)));
        assert_eq!(reports.len(), 1, "the failure nobody handled is reported as before");
        drop(fire_inner);
        cancel_line
    });
    assert_eq!(
        briefs(&seen),
        [
            // Both Deferreds are made...
            "TRACE deferred created",
            "TRACE deferred created",
            // ...the outer is fired, and its first step returns the inner Deferred...
            "DEBUG deferred fired value=a boxed value",
            "TRACE span step kind=callback track=callback",
            "TRACE waiting on a nested deferred",
            // ...the cancel goes inward, the inner fails, and hands its failure back...
            "DEBUG deferred cancelled",
            "DEBUG deferred fired failure=the Deferred was cancelled",
            "TRACE resumed by a nested deferred track=errback",
            // ...past the callback, into the errback, which passes it on...
            "TRACE span step kind=callback track=errback",
            "TRACE span step kind=errback track=errback",
            // ...and nobody handles it.
            "ERROR unhandled failure in deferred",
        ]
    );
    let [
        inner_made,
        outer_made,
        outer_fired,
        first_step,
        waiting,
        cancelled,
        inner_fired,
        resumed,
        _,
        _,
        unhandled,
    ] = &seen[..]
    else {
        unreachable!("the length was checked above")
    };
    // The chains are named consistently from one event to the next.
    let (inner, outer) = (inner_made.field("chain"), outer_made.field("chain"));
    assert!(inner.starts_with("0x") && inner != outer, "{inner} {outer}");
    assert_eq!(outer_fired.field("chain"), outer);
    assert_eq!(first_step.field("chain"), outer);
    assert_eq!((waiting.field("chain"), waiting.field("on")), (outer, inner));
    assert_eq!(cancelled.field("chain"), outer, "cancelled where it was asked");
    assert_eq!(inner_fired.field("chain"), inner, "the cancel landed on the inner chain");
    assert_eq!((resumed.field("chain"), resumed.field("from")), (outer, inner));
    // Where: the creation, fire and cancel sites, and where each step was added.
    let here = file!();
    assert!(inner_made.field("at").starts_with(&format!("{here}:")), "{inner_made:?}");
    assert!(first_step.field("added_at").starts_with(&format!("{here}:")), "{first_step:?}");
    assert!(cancelled.field("at").starts_with(&format!("{here}:{cancel_line}:")), "{cancelled:?}");
    assert_eq!(inner_fired.field("at"), cancelled.field("at"), "fired by the cancel");
    // The unhandled failure's event carries the error itself.
    assert!(unhandled.cancelled_error, "{unhandled:?}");
    assert_eq!(unhandled.field("error"), "the Deferred was cancelled");
    assert_eq!(unhandled.field("error_type"), "deferreds::error::CancelledError");
    assert!(unhandled.field("created_at").starts_with("src/"), "made by the crate: {unhandled:?}");
}

#[test]
fn a_deferred_made_with_its_result_has_events_without_a_chain() {
    let (value, seen) = collect(|| success_result_of(deferreds::succeed(2u8).map(|n| n * 3)));
    assert_eq!(value, 6);
    assert_eq!(
        briefs(&seen),
        [
            "TRACE deferred created",
            "DEBUG deferred fired value=2",
            "TRACE span step kind=callback track=callback",
        ]
    );
    assert!(seen.iter().all(|s| !s.fields.contains_key("chain")), "{seen:?}");
    assert!(seen[2].field("added_at").starts_with(&format!("{}:", file!())), "{:?}", seen[2]);
}

#[test]
fn each_kind_of_step_names_itself_and_the_track_it_was_reached_on() {
    let (failure, seen) = collect(|| {
        let d = deferreds::fail::<u8>(Failure::msg("no"))
            .add_callbacks(Ok, Err::<u8, _>)
            .add_both(|r| r.map(|n| n + 1))
            .add_errback(Err)
            .and_then(|n| Ok(deferreds::succeed(n)));
        failure_result_of(d)
    });
    assert_eq!(failure.error_message(), "no");
    let steps: Vec<_> = seen
        .iter()
        .filter(|s| s.what == "span step")
        .map(|s| format!("{}/{}", s.field("kind"), s.field("track")))
        .collect();
    assert_eq!(steps, ["callbacks/errback", "both/errback", "errback/errback", "callback/errback"]);
}

#[test]
fn a_step_that_returns_a_fired_deferred_takes_its_result_without_waiting() {
    let (value, seen) = collect(|| {
        let (d, r) = Deferred::<u8>::new();
        let d = d.add_callback(|n| Step::Wait(deferreds::succeed(n + 1)));
        r.callback(1).unwrap();
        success_result_of(d)
    });
    assert_eq!(value, 2);
    assert!(
        !seen.iter().any(|s| s.what.starts_with("waiting") || s.what.starts_with("resumed")),
        "{:?}",
        briefs(&seen)
    );
}

/// A layer whose every call panics.
struct Panicking;

impl<S: Subscriber> Layer<S> for Panicking {
    fn on_new_span(&self, _: &span::Attributes<'_>, _: &span::Id, _: Context<'_, S>) {
        panic!("the subscriber panicked on a span");
    }

    fn on_event(&self, _: &Event<'_>, _: Context<'_, S>) {
        panic!("the subscriber panicked on an event");
    }

    fn on_enter(&self, _: &span::Id, _: Context<'_, S>) {
        panic!("the subscriber panicked entering a span");
    }

    fn on_exit(&self, _: &span::Id, _: Context<'_, S>) {
        panic!("the subscriber panicked leaving a span");
    }
}

#[test]
fn a_subscriber_that_panics_changes_no_result_and_wedges_nothing() {
    let subscriber = Registry::default().with(Panicking);
    let ((), reports) = tracing::subscriber::with_default(subscriber, || {
        capture_unhandled(|| {
            let (inner, fire_inner) = Deferred::<u32>::new();
            let (outer, fire_outer) = Deferred::<u32>::new();
            let outer = outer.add_callback(move |_| inner).map(|n| n * 2);
            fire_outer.callback(1).unwrap();
            fire_inner.callback(21).unwrap();
            assert_eq!(success_result_of(outer), 42);

            // A step that panics while the subscriber panics too: the step's panic is the
            // chain's failure, and nothing aborts.
            let d = deferreds::succeed(1u8).map(|_| -> u8 { panic!("the step panicked") });
            assert_eq!(failure_result_of(d).error_message(), "the step panicked");

            let (d, _r) = Deferred::<u8>::new();
            d.cancel();
            assert!(failure_result_of(d).check::<CancelledError>());
            drop(deferreds::fail::<u8>(Failure::msg("lost")));
        })
    });
    assert_eq!(reports.len(), 1, "the unhandled failure is still reported: {reports:?}");
    assert_eq!(reports[0].failure().error_message(), "lost");
}

#[test]
fn a_subscriber_that_wants_only_errors_sees_only_unhandled_failures() {
    let keep = Keep::default();
    let subscriber = Registry::default()
        .with(keep.clone().with_filter(tracing_subscriber::filter::LevelFilter::ERROR));
    let ((), reports) = tracing::subscriber::with_default(subscriber, || {
        capture_unhandled(|| {
            let (d, r) = Deferred::<u8>::new();
            let d = d.map(|n| n + 1);
            r.errback(Failure::msg("refused")).unwrap();
            drop(d);
        })
    });
    assert_eq!(reports.len(), 1);
    let seen = keep.0.lock().unwrap().clone();
    assert_eq!(briefs(&seen), ["ERROR unhandled failure in deferred"]);
    assert_eq!(seen[0].field("error"), "refused");
}

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/traced_chain.rs"]
mod traced_chain;

/// `line` with each chain's address replaced by `<chain N>`, N counting the chains in the
/// order they first appear, and the line and column of a place in the crate's own source cut.
/// The example's path is made the one `cargo run --example` prints.
fn named(line: &str, chains: &mut Vec<String>) -> String {
    let line = line.replace("tests/../examples/", "examples/");
    let mut out = String::new();
    for word in line.split_inclusive([' ', '{', '}']) {
        let trimmed = word.trim_end_matches([' ', '{', '}']);
        let (key, value) = trimmed.split_once('=').unwrap_or(("", trimmed));
        let end = &word[trimmed.len()..];
        if value.starts_with("0x") {
            let n = match chains.iter().position(|c| c == value) {
                Some(n) => n,
                None => {
                    chains.push(value.to_owned());
                    chains.len() - 1
                }
            };
            out.push_str(&format!("{key}=<chain {}>{end}", n + 1));
        } else if value.starts_with("src/") {
            let path = value.split(':').next().unwrap_or(value);
            out.push_str(&format!("{key}={path}:LINE:COL{end}"));
        } else {
            out.push_str(word);
        }
    }
    out
}

#[test]
fn the_guides_traced_chain_prints_each_stage() {
    let out = traced_chain::Out::capture();
    let ((), reports) = capture_unhandled(|| {
        let _watching = traced_chain::watch(&out);
        traced_chain::traced_chain(&out);
    });
    assert_eq!(reports.len(), 1, "the failure nobody handled");
    let mut chains = Vec::new();
    let lines: Vec<String> = out.lines().iter().map(|line| named(line, &mut chains)).collect();
    let step = |chain: u8, kind: &str, track: &str, line: u32| {
        format!(
            "step{{chain=<chain {chain}> kind=\"{kind}\" track=\"{track}\" \
             added_at=examples/traced_chain.rs:{line}:10}}"
        )
    };
    let at = |line: u32, column: u32| format!("at=examples/traced_chain.rs:{line}:{column}");
    assert_eq!(
        lines,
        [
            format!("TRACE deferred created chain=<chain 1> {}", at(41, 29)),
            format!("TRACE deferred created chain=<chain 2> {}", at(42, 31)),
            format!("DEBUG deferred fired chain=<chain 2> {} value=1047", at(53, 14)),
            format!("TRACE {}: new", step(2, "callback", "callback", 44)),
            format!(
                " INFO {}: asking the supplier for a quote item=1047",
                step(2, "callback", "callback", 44)
            ),
            "TRACE waiting on a nested deferred chain=<chain 2> on=<chain 1>".to_owned(),
            "-- the customer gives up".to_owned(),
            format!("DEBUG deferred cancelled chain=<chain 2> {}", at(55, 11)),
            format!(
                "DEBUG deferred fired chain=<chain 1> {} failure=the Deferred was cancelled",
                at(55, 11)
            ),
            "TRACE resumed by a nested deferred chain=<chain 2> from=<chain 1> track=\"errback\""
                .to_owned(),
            format!("TRACE {}: new", step(2, "callback", "errback", 48)),
            format!("TRACE {}: new", step(2, "errback", "errback", 49)),
            format!(
                " WARN {}: no price failure=the Deferred was cancelled",
                step(2, "errback", "errback", 49)
            ),
            "-- and drops the price".to_owned(),
            "ERROR unhandled failure in deferred error=the Deferred was cancelled \
             error_type=\"deferreds::error::CancelledError\" \
             created_at=src/chain/cancel.rs:LINE:COL"
                .to_owned(),
        ]
    );
}
