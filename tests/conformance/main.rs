//! Differential tests against Twisted: every program in `conformance/golden/` runs on this crate
//! and its event trace is compared with the one real Twisted recorded for it.
//!
//! The golden files are committed, so this needs neither Python nor a network;
//! `conformance/regenerate.sh` rebuilds them. The language, the trace, the classes of programs
//! and every deliberate difference are documented in `docs/conformance.md`.
//!
//! Each golden record has a `class`:
//!
//! - `match`: the traces must be identical.
//! - `unique-tail`: at some point the program reaches for a tail that Rust's unique tail puts out
//!   of reach. Both sides mark that point with `["unavailable", k]`; the traces must be identical
//!   up to and including the first mark.
//! - `running-inner`: a step returns a Deferred whose own steps are running. Twisted takes that
//!   Deferred's result as it is at that moment, mid-chain (`["running_inner", j]` on its side
//!   only); Rust waits for the end of its chain, since the intermediate value may not even have
//!   the tail's type. The traces must be identical up to the mark.
//! - `differs` (hand-written quirk programs only): Rust differs on purpose; its trace is pinned
//!   in the record and must not equal Twisted's.
//!
//! The programs run on this crate through `deferreds::proptest`'s runner, and the reference
//! model of that module must predict the crate's trace for every one of them.
//!
//! `CONFORMANCE_SHOW=<id>` prints both traces of one program.

mod program;
mod trace;
mod typing;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value as Json;

use deferreds::proptest::Program;

struct Record {
    id: String,
    program: Program,
    raw: Json,
    twisted: Vec<Json>,
    class: String,
}

struct Golden {
    meta: Json,
    records: Vec<Record>,
}

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance/golden").join(name)
}

fn load(name: &str) -> Golden {
    let path = golden_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("cannot read {}: {e} (conformance/regenerate.sh writes it)", path.display())
    });
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first: Json = serde_json::from_str(lines.next().expect("a golden file is not empty"))
        .expect("the first line is JSON");
    let meta = first.get("meta").cloned().expect("the first line holds the meta data");
    let records = lines
        .map(|line| {
            let raw: Json = serde_json::from_str(line).expect("one JSON object per line");
            let id = raw["id"].as_str().expect("an id").to_owned();
            let program = program::parse(&raw["program"])
                .unwrap_or_else(|e| panic!("program {id} does not parse: {e}"));
            let twisted = raw["trace"].as_array().expect("a trace").clone();
            let class = raw["class"].as_str().expect("a class").to_owned();
            Record { id, program, raw, twisted, class }
        })
        .collect::<Vec<_>>();
    assert_eq!(
        meta["programs"].as_u64(),
        Some(records.len() as u64),
        "{name}: the meta line counts a different number of programs"
    );
    Golden { meta, records }
}

fn is_mark(event: &Json) -> bool {
    matches!(event[0].as_str(), Some("unavailable" | "running_inner"))
}

/// Checks one program's Rust trace against its golden record.
fn verdict(record: &Record, rust: &[Json]) -> Result<(), String> {
    let twisted = &record.twisted[..];
    let first_mark = twisted.iter().position(is_mark);
    match record.class.as_str() {
        "match" => {
            if first_mark.is_some() {
                return Err("class `match`, but Twisted's trace has a mark".into());
            }
            if rust != twisted {
                return Err("the traces differ".into());
            }
        }
        class @ ("unique-tail" | "running-inner") => {
            let p = first_mark.ok_or("no mark in Twisted's trace")?;
            let expected = if class == "unique-tail" { "unavailable" } else { "running_inner" };
            if twisted[p][0] != expected {
                return Err(format!("class `{class}`, but the first mark is {}", twisted[p]));
            }
            // Rust records `unavailable` itself; Twisted's `running_inner` is its side only.
            let end = if class == "unique-tail" { p + 1 } else { p };
            if rust.len() < end || rust[..end] != twisted[..end] {
                return Err(format!("the traces differ before the first mark (event {p})"));
            }
        }
        "differs" => {
            let pinned = record.raw["rust_trace"].as_array().ok_or("no pinned rust_trace")?;
            if rust == twisted {
                return Err("documented as differing, but Rust now matches Twisted".into());
            }
            if rust != &pinned[..] {
                return Err("the Rust trace is not the pinned one".into());
            }
        }
        other => return Err(format!("unknown class {other:?}")),
    }
    Ok(())
}

fn without_marks(trace: &[Json]) -> Vec<&Json> {
    trace.iter().filter(|e| !is_mark(e)).collect()
}

fn pretty(trace: &[Json]) -> String {
    trace.iter().map(|e| format!("    {e}\n")).collect()
}

fn report(record: &Record, rust: &[Json], why: &str) -> String {
    format!(
        "program {} ({}): {why}\n  program: {}\n  twisted:\n{}  rust:\n{}",
        record.id,
        record.class,
        record.raw["program"],
        pretty(&record.twisted),
        pretty(rust)
    )
}

/// Replays a golden file and returns the number of programs per class; panics, listing the
/// first few, if any program disagrees with its record.
fn replay(name: &str) -> BTreeMap<String, usize> {
    let golden = load(name);
    let show = std::env::var("CONFORMANCE_SHOW").ok();
    let mut classes = BTreeMap::new();
    let mut failures = Vec::new();
    let mut agree_anyway = 0;
    for record in &golden.records {
        let rust = trace::rust(&record.program);
        if show.as_deref() == Some(record.id.as_str()) {
            println!("{}", report(record, &rust, "shown on request"));
            println!("rust_trace: {}", Json::Array(rust.clone()));
        }
        if let Err(why) = verdict(record, &rust) {
            failures.push(report(record, &rust, &why));
        }
        *classes.entry(record.class.clone()).or_insert(0) += 1;
        if record.class != "match" && without_marks(&rust) == without_marks(&record.twisted) {
            agree_anyway += 1;
        }
    }
    println!(
        "{name}: {} programs by class: {classes:?}; {agree_anyway} of the others agree apart \
         from the marks (meta: {})",
        golden.records.len(),
        golden.meta
    );
    if !failures.is_empty() {
        let shown = failures.iter().take(5).cloned().collect::<Vec<_>>().join("\n");
        panic!(
            "{} of {} programs in {name} disagree with Twisted's traces:\n\n{shown}",
            failures.len(),
            golden.records.len()
        );
    }
    classes
}

#[test]
fn random_programs_replay_as_twisted_ran_them() {
    let classes = replay("random.jsonl");
    let total: usize = classes.values().sum();
    assert!(total >= 2000, "at least 2,000 random programs, found {total}");
    assert!(
        classes.get("match").copied().unwrap_or(0) * 10 >= total * 8,
        "most random programs are ones Rust can express: {classes:?}"
    );
}

#[test]
fn cancellation_programs_replay_as_twisted_ran_them() {
    let classes = replay("cancel.jsonl");
    let total: usize = classes.values().sum();
    assert!(total >= 500, "at least 500 programs about cancellation, found {total}");
    assert!(
        classes.get("match").copied().unwrap_or(0) * 10 >= total * 8,
        "most of them are programs Rust can express: {classes:?}"
    );
}

#[test]
fn quirk_programs_replay_as_twisted_ran_them_or_differ_as_documented() {
    let classes = replay("quirks.jsonl");
    assert!(classes.values().sum::<usize>() >= 16, "one program per quirk at least");
}

/// The reference model predicts, event for event, what the crate does with every recorded
/// program (and so, for the `match` programs, what Twisted did).
#[test]
fn the_model_predicts_every_golden_program_as_the_crate_runs_it() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for name in ["random.jsonl", "cancel.jsonl", "quirks.jsonl"] {
        for record in load(name).records {
            let rust = trace::rust(&record.program);
            let model = trace::model(&record.program);
            checked += 1;
            if rust != model {
                failures.push(format!(
                    "program {} ({name}):\n  program: {}\n  model:\n{}  rust:\n{}",
                    record.id,
                    record.raw["program"],
                    pretty(&model),
                    pretty(&rust)
                ));
            }
        }
    }
    assert!(checked >= 4000, "every golden program, found {checked}");
    if !failures.is_empty() {
        let shown = failures.iter().take(5).cloned().collect::<Vec<_>>().join("\n");
        panic!("the model mispredicts {} of {checked} programs:\n\n{shown}", failures.len());
    }
}

/// The generator's restrictions, checked independently of the generator.
#[test]
fn random_programs_respect_what_typing_forbids() {
    let random = load("random.jsonl").records;
    let cancel = load("cancel.jsonl").records;
    for record in random.into_iter().chain(cancel) {
        let broken = typing::broken_rule(&record.program);
        assert_eq!(broken, None, "program {}", record.id);
    }
}
