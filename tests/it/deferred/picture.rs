//! Pictures of chains (`describe`, `{:#?}`, DOT): each state, towers seen from any level, the
//! limits of a very tall tower. Debug mode's sites are tested in `tests/debug_mode.rs`.

use std::sync::{Arc, Mutex};

use crate::hardening::support::{BadDisplay, on_small_stack};
use deferreds::testing::{failure_result_of, success_result_of};
use deferreds::{Deferred, Failure, Picture, ensure_deferred, fail, succeed};

#[test]
fn a_lone_chain_is_one_line_with_its_state_pauses_and_pending_steps() {
    let (d, _r) = Deferred::<u8>::with_canceller(|_| {});
    assert_eq!(d.describe().to_string(), "Deferred<u8>: pending, with a canceller");

    let (d, _r) = Deferred::<u8>::new();
    let mut d = d.map(|n| n + 1).map(|n| n * 2);
    d.pause();
    d.pause();
    assert_eq!(d.describe().to_string(), "Deferred<u8>: pending, paused (2), 2 steps pending");

    assert_eq!(succeed(5u8).describe().to_string(), "Deferred<u8>: has its result: 5");
    let failed = fail::<u8>(Failure::msg("down"));
    let picture = failed.describe().to_string();
    assert!(
        picture.starts_with("Deferred<u8>: has failed: ") && picture.ends_with(": down"),
        "{picture}"
    );
    failure_result_of(failed);

    let (d, _r) = Deferred::<u8>::new();
    d.cancel();
    assert_eq!(
        d.describe().to_string(),
        "Deferred<u8>: has failed: deferreds::error::CancelledError: the Deferred was cancelled, \
         cancelled"
    );
    failure_result_of(d);
}

#[test]
fn a_chain_pictured_by_its_own_step_is_running_and_one_that_handed_its_result_on_says_so() {
    let (d, r) = Deferred::<u8>::new();
    let seen = Arc::new(Mutex::new(String::new()));
    let (seen2, r2) = (seen.clone(), r.clone());
    let d = d.map(move |n| {
        *seen2.lock().unwrap() = r2.describe().to_string();
        n
    });
    r.callback(1).unwrap();
    assert_eq!(*seen.lock().unwrap(), "Resolver<u8>: running its steps");
    success_result_of(d);

    let (inner, fire_inner) = Deferred::<u8>::new();
    let outer = succeed(()).add_callback(move |()| inner);
    fire_inner.callback(3).unwrap();
    assert_eq!(fire_inner.describe().to_string(), "Resolver<u8>: result handed on");
    assert_eq!(success_result_of(outer), 3);
}

#[test]
fn a_chain_awaited_by_a_task_says_so() {
    let (d, r) = Deferred::<u8>::new();
    let task = ensure_deferred(async move { d.await });
    assert_eq!(r.describe().to_string(), "Resolver<u8>: pending, awaited by a task");
    r.callback(1).unwrap();
    assert_eq!(success_result_of(task), 1);
}

#[test]
fn a_chain_whose_inner_deferred_is_gone_says_what_it_waits_on_is_gone() {
    let (inner, fire_inner) = Deferred::<u8>::new();
    let outer = succeed(()).add_callback(move |()| inner);
    drop(fire_inner);
    assert_eq!(outer.describe().to_string(), "Deferred<u8>: waiting on a Deferred that is gone");
    outer.cancel();
    failure_result_of(outer);
}

/// `top` waits on `mid`, which waits on `leaf`.
fn three_level_tower() -> (Deferred<u8>, deferreds::Resolver<()>, deferreds::Resolver<u8>) {
    let (leaf, fire_leaf) = Deferred::<u8>::new();
    let (mid, fire_mid) = Deferred::<()>::new();
    let mid = mid.add_callback(move |()| leaf);
    let top = succeed(()).add_callback(move |()| mid).map(|n| n + 1);
    fire_mid.callback(()).unwrap();
    (top, fire_mid, fire_leaf)
}

#[test]
fn a_tower_is_pictured_whole_from_any_of_its_levels() {
    let (top, fire_mid, fire_leaf) = three_level_tower();
    let levels = "#0 waiting on #1, 1 step pending\n\
                  {1}#1 waiting on #2\n\
                  {2}#2 pending";
    let expect = |name: &str, at: usize| {
        let marks: Vec<&str> = (0..3).map(|i| if i == at { "=> " } else { "   " }).collect();
        format!(
            "{name}: a tower of 3 chains, outermost first\n{}{}",
            marks[0],
            levels.replace("{1}", marks[1]).replace("{2}", marks[2])
        )
    };
    assert_eq!(top.describe().to_string(), expect("Deferred<u8>", 0));
    assert_eq!(fire_mid.describe().to_string(), expect("Resolver<()>", 1));
    assert_eq!(fire_leaf.describe().to_string(), expect("Resolver<u8>", 2));
    for (picture, position) in
        [(top.describe(), 0), (fire_mid.describe(), 1), (fire_leaf.describe(), 2)]
    {
        assert_eq!((picture.chains(), picture.position()), (3, position));
    }

    // Once the leaf fires, the tower unwinds into the top.
    fire_leaf.callback(41).unwrap();
    assert_eq!(top.describe().to_string(), "Deferred<u8>: has its result: 42");
    assert_eq!(success_result_of(top), 42);
}

#[test]
fn alternate_debug_shows_the_picture_with_the_value_through_its_own_debug() {
    let mut d = succeed(vec![1, 2]);
    d.pause();
    assert_eq!(
        format!("{d:#?}"),
        "Deferred<alloc::vec::Vec<i32>>: has its result: [1, 2], paused (1)"
    );
    assert_eq!(
        d.describe().to_string(),
        "Deferred<alloc::vec::Vec<i32>>: has its result: a boxed value, paused (1)"
    );
    // The one-line form is unchanged.
    assert_eq!(
        format!("{d:?}"),
        "<Deferred<alloc::vec::Vec<i32>> current result: [1, 2] (paused)>"
    );
    d.unpause().unwrap();
    assert_eq!(success_result_of(d), [1, 2]);

    let (_top, fire_mid, fire_leaf) = three_level_tower();
    assert_eq!(format!("{fire_mid:#?}"), fire_mid.describe().to_string());
    drop(fire_leaf);
}

#[test]
fn a_failure_whose_display_panics_is_pictured_with_the_panic_instead() {
    let d = fail::<u8>(Failure::new(BadDisplay));
    let picture = d.describe().to_string();
    assert!(
        picture.ends_with("BadDisplay: <formatting this error panicked: Display panicked>"),
        "{picture}"
    );
    failure_result_of(d);
}

#[test]
fn a_million_level_tower_is_pictured_on_a_256k_stack_showing_its_ends_and_counting_the_rest() {
    on_small_stack(|| {
        const DEEP: usize = 1_000_000;
        let (leaf, fire_leaf) = Deferred::<u64>::new();
        let mut top = leaf;
        for _ in 0..DEEP {
            let inner = top;
            top = succeed(()).add_callback(move |()| inner).map(|n| n + 1);
        }

        let down = top.describe();
        assert_eq!((down.chains(), down.position()), (DEEP + 1, 0));
        let text = down.to_string();
        assert_eq!(text.lines().count(), 1 + 1 + 8 + 1 + 8, "{text}");
        assert!(text.starts_with("Deferred<u64>: a tower of 1,000,001 chains, outermost first\n"));
        assert!(text.contains("\n=> #0 waiting on #1, 1 step pending\n"), "{text}");
        assert!(
            text.contains(
                "\n   #8 waiting on #9, 1 step pending\n   ... 999,984 more chains ...\n"
            )
        );
        assert!(text.ends_with("\n   #1,000,000 pending"), "{text}");

        let up = fire_leaf.describe();
        assert_eq!((up.chains(), up.position()), (DEEP + 1, DEEP));
        let text = up.to_string();
        assert_eq!(text.lines().count(), 1 + 8 + 1 + 8 + 1, "{text}");
        assert!(text.ends_with("\n=> #1,000,000 pending"), "{text}");
        let graph = Picture::dot([&up]);
        assert_eq!(graph.matches("[label=\"... 999,984 more chains ...\"").count(), 1, "{graph}");
        assert_eq!(graph.matches(" -> ").count(), 8 + 1 + 8, "the gap is one box: {graph}");

        // Pictured, and still whole: the leaf's value climbs every level.
        fire_leaf.callback(0).unwrap();
        assert_eq!(success_result_of(top), DEEP as u64);
    });
}

#[test]
fn dot_draws_a_box_per_chain_and_a_chain_in_several_pictures_once() {
    let (top, fire_mid, fire_leaf) = three_level_tower();
    let (lone, _r) = Deferred::<u8>::new();
    let graph = Picture::dot(&[top.describe(), fire_leaf.describe(), lone.describe()]);
    let boxes = graph.lines().filter(|line| line.contains("[label=") && !line.contains("->"));
    assert_eq!(boxes.count(), 4, "{graph}");
    assert_eq!(graph.matches(" -> ").count(), 2, "{graph}");
    assert!(graph.starts_with("digraph deferreds {\n"), "{graph}");
    assert!(graph.ends_with('}'), "{graph}");
    assert!(graph.contains("Deferred<u8>\\lwaiting, 1 step pending\\l"), "{graph}");
    assert!(graph.contains("[label=\"Deferred<u8>\\lpending\\l\"]"), "the lone chain: {graph}");
    drop((fire_mid, fire_leaf));
}
