//! Depth: cancelling towers of nested combinators and blocks, dropping deep towers at thread
//! exit, and reading, formatting and dropping failures nested as deep as the towers, at
//! constant stack depth.
//!
//! Every tower here runs on a thread with a 256 KiB stack, so one stack frame per level would
//! overflow it. The thread-exit tests run in a child process (this test binary, re-run with
//! [`CHILD`] set), so that an overflow fails the test instead of aborting the suite.

use std::cell::RefCell;
use std::error::Error;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::hardening::support::on_small_stack;
use deferreds::testing::{DropCounter, capture_unhandled, failure_result_of};
use deferreds::{
    CancelledError, Deferred, DeferredList, Failure, FailureGroup, FirstError, Resolver,
    TracebackDetail, ensure_deferred, fail, gather_results, race, succeed,
};

const LEVELS: u64 = 100_000;

/// A pending leaf that counts its cancellations and recovers from them with 0, so that every
/// level above it has a value to pass on: the top's value says how many levels it went through.
fn recovering_leaf(cancels: &Arc<AtomicUsize>) -> (Deferred<u64>, Resolver<u64>) {
    let cancels = cancels.clone();
    let (leaf, fire) = Deferred::with_canceller(move |_: &Resolver<u64>| {
        cancels.fetch_add(1, Ordering::SeqCst);
    });
    let leaf = leaf.add_errback(|f| {
        f.trap::<CancelledError>()?;
        Ok(0)
    });
    (leaf, fire)
}

/// The ways a level of a tower can wrap the level below; each adds 1 to its value, and passes
/// a failure on as it came (unwrapped from `FirstError` or `FailureGroup`), so that failures do
/// not nest once per level.
#[derive(Clone, Copy, Debug)]
enum Level {
    Gather,
    /// A race against a Deferred that never fires.
    Race,
    List,
    /// A step that returns the level below.
    Nested,
    Block,
}

/// Gather, nesting, race and list, in turn.
fn mix(i: usize) -> Level {
    [Level::Gather, Level::Nested, Level::Race, Level::List][i % 4]
}

/// The same mix with a block every thousand levels.
fn mix_with_blocks(i: usize) -> Level {
    if i % 1000 == 999 { Level::Block } else { mix(i) }
}

/// A tower of `LEVELS` levels over a recovering leaf, with what tells how its cancellation
/// went.
struct Tower {
    top: Deferred<u64>,
    /// The leaf's cancellations.
    leaf_cancels: Arc<AtomicUsize>,
    /// The cancellations of the losers of the races.
    loser_cancels: Arc<AtomicUsize>,
    races: usize,
    /// The leaf's and the losers' resolvers: a Deferred nobody can fire any more is freed
    /// instead of cancelled.
    resolvers: Vec<Resolver<u64>>,
    /// One token per level, held by the level's step or block.
    tokens: DropCounter,
}

impl Tower {
    /// Level `i` (counted from the leaf) is `level(i)`.
    fn build(level: fn(usize) -> Level) -> Tower {
        let leaf_cancels = Arc::new(AtomicUsize::new(0));
        let (leaf, fire) = recovering_leaf(&leaf_cancels);
        let mut tower = Tower {
            top: leaf,
            leaf_cancels,
            loser_cancels: Arc::new(AtomicUsize::new(0)),
            races: 0,
            resolvers: vec![fire],
            tokens: DropCounter::new(),
        };
        for i in 0..LEVELS as usize {
            let below = std::mem::replace(&mut tower.top, succeed(0));
            tower.top = tower.wrap(level(i), below);
        }
        tower
    }

    fn wrap(&mut self, level: Level, below: Deferred<u64>) -> Deferred<u64> {
        let token = self.tokens.token();
        match level {
            Level::Gather => gather_results(vec![below])
                .add_errback(|f| match f.downcast_ref::<FirstError>() {
                    Some(first) => Err(first.failure.clone()),
                    None => Err(f),
                })
                .map(move |v| {
                    let _token = token;
                    v[0] + 1
                }),
            Level::Race => {
                let cancels = self.loser_cancels.clone();
                let (loser, fire) = Deferred::with_canceller(move |_: &Resolver<u64>| {
                    cancels.fetch_add(1, Ordering::SeqCst);
                });
                self.resolvers.push(fire);
                self.races += 1;
                race(vec![below, loser])
                    .add_errback(|f| match f.downcast_ref::<FailureGroup>() {
                        Some(group) => Err(group.failures[0].clone()),
                        None => Err(f),
                    })
                    .map(move |(index, n)| {
                        let _token = token;
                        assert_eq!(index, 0, "the level below wins");
                        n + 1
                    })
            }
            Level::List => DeferredList::new(vec![below])
                .consume_errors(true)
                .into_deferred()
                .add_callback(move |results| {
                    let _token = token;
                    Ok::<_, Failure>(results.into_iter().next().unwrap()? + 1)
                }),
            Level::Nested => succeed(()).add_callback(move |()| below).map(move |n| {
                let _token = token;
                n + 1
            }),
            Level::Block => ensure_deferred(async move {
                let _token = token;
                Ok::<_, Failure>(below.await? + 1)
            }),
        }
    }

    /// Cancels the tower from the top and checks that the cancellation reached the leaf once
    /// and every loser, that everything settled, and that everything is freed afterwards.
    /// Returns the top's result.
    fn cancel(self) -> Result<u64, Failure> {
        self.top.cancel();
        assert_eq!(self.leaf_cancels.load(Ordering::SeqCst), 1, "the leaf was cancelled once");
        let losers = self.loser_cancels.load(Ordering::SeqCst);
        assert_eq!(losers, self.races, "every loser was cancelled");
        let result = self.top.try_result().into_result().expect("the top settled");
        drop(self.resolvers);
        assert_eq!(self.tokens.made(), LEVELS as usize);
        assert_eq!(self.tokens.alive(), 0, "every level was freed");
        result
    }
}

/// Cancels a tower on a small stack; the leaf's value must come back up through every level.
fn cancel_tower(level: fn(usize) -> Level) {
    on_small_stack(move || {
        let result = Tower::build(level).cancel();
        assert_eq!(result.unwrap(), LEVELS);
    });
}

#[test]
fn cancelling_a_hundred_thousand_nested_gather_results_runs_on_a_256k_stack() {
    cancel_tower(|_| Level::Gather);
}

#[test]
fn cancelling_a_hundred_thousand_nested_races_runs_on_a_256k_stack() {
    cancel_tower(|_| Level::Race);
}

#[test]
fn cancelling_a_hundred_thousand_nested_deferred_lists_runs_on_a_256k_stack() {
    cancel_tower(|_| Level::List);
}

#[test]
fn cancelling_a_hundred_thousand_levels_mixing_combinators_and_nesting_runs_on_a_256k_stack() {
    cancel_tower(mix);
}

#[test]
fn cancelling_a_hundred_thousand_levels_mixing_combinators_nesting_and_blocks_runs_on_a_256k_stack()
{
    on_small_stack(|| {
        // The top block is polled inside the top's `cancel`; a block the cancellation reaches
        // from there gets it once that poll is over (tasks woken inside a task run after it),
        // so the gather above it has not been settled by its member when its canceller ends,
        // and fails with `CancelledError`, which comes up to the top. Every level is still
        // cancelled, settles and is freed.
        let failure = Tower::build(mix_with_blocks).cancel().unwrap_err();
        assert!(failure.check::<CancelledError>());
    });
}

#[test]
fn cancelling_a_hundred_thousand_nested_deferred_lists_that_their_members_cannot_settle_fails_each()
{
    // Every member is paused, so its `CancelledError` stays on it: no list is settled by its
    // members, and each fails with its own `CancelledError` once its members were cancelled.
    on_small_stack(|| {
        let cancels = Arc::new(AtomicUsize::new(0));
        let c = cancels.clone();
        let (leaf, fire) = Deferred::<u64>::with_canceller(move |_: &Resolver<u64>| {
            c.fetch_add(1, Ordering::SeqCst);
        });
        let mut top = leaf;
        for _ in 0..LEVELS {
            top.pause();
            top = DeferredList::new(vec![top])
                .consume_errors(true)
                .into_deferred()
                .map(|results| results.len() as u64);
        }
        let ((), reports) = capture_unhandled(move || {
            top.cancel();
            assert_eq!(cancels.load(Ordering::SeqCst), 1, "the leaf was cancelled once");
            assert!(failure_result_of(top).check::<CancelledError>());
            drop(fire);
        });
        // Each paused level kept its `CancelledError`, reported when the tower was dropped.
        assert_eq!(reports.len(), LEVELS as usize);
        assert!(reports.iter().all(|r| r.failure().check::<CancelledError>()));
    });
}

/// Set in a child process: it runs the scenario of the test it was started for.
const CHILD: &str = "DEFERREDS_DEPTH_CHILD";

/// Runs `scenario` in a child process (this test binary, re-run on the test `name` alone with
/// [`CHILD`] set), and fails unless the child passes: a stack overflow there fails this test
/// instead of aborting the suite.
fn in_child(name: &str, scenario: impl FnOnce()) {
    if std::env::var_os(CHILD).is_some() {
        return scenario();
    }
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let test = format!("{module}::{name}");
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} in a child process: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
    );
}

/// Which thread-local registers its destructor first, and so is destroyed last.
#[derive(Clone, Copy)]
enum First {
    /// The user's thread-local: the crate's are gone when the user's value is dropped.
    User,
    /// The crate's: they are still there when the user's value is dropped.
    Crate,
    /// The user's, and the crate's are first used while the thread exits.
    UserOnly,
}

/// On a 256 KiB thread: registers the destructors of the user's thread-local (`touch_user`)
/// and of the crate's (`touch_crate`) in the order `first` says, then runs `fill`, which leaves
/// something in the user's thread-local for the thread's exit to drop.
fn at_thread_exit(first: First, touch_user: fn(), fill: impl FnOnce() + Send + 'static) {
    // Dropping a two-level pending tower first uses the crate's thread-locals for iterative
    // drops of chains; a nested failure, those of failures; a block, those for running tasks.
    let touch_crate = || {
        drop(pending_tower(2, &DropCounter::new()));
        drop(Failure::new(FirstError { index: 0, failure: Failure::msg("nested") }));
        drop(ensure_deferred(async { Ok::<_, Failure>(()) }));
    };
    on_small_stack(move || {
        match first {
            First::User => {
                touch_user();
                touch_crate();
            }
            First::Crate => {
                touch_crate();
                touch_user();
            }
            First::UserOnly => touch_user(),
        }
        fill();
    });
}

const DEEP: usize = 1_000_000;

thread_local! {
    static HELD: RefCell<Option<Deferred<()>>> = const { RefCell::new(None) };
}

/// A pending tower of `levels`: each level's step owns the level below. `counter` counts its
/// steps.
fn pending_tower(levels: usize, counter: &DropCounter) -> Deferred<()> {
    let (leaf, _fire) = Deferred::<()>::new();
    let mut top = leaf;
    for _ in 0..levels {
        let inner = top;
        let token = counter.token();
        let (outer, _fire) = Deferred::<()>::new();
        top = outer.add_callback(move |()| {
            let _token = &token;
            inner
        });
    }
    top
}

/// Leaves a million-deep pending tower in a thread-local, and checks that every level was
/// dropped when the thread exited.
fn drop_tower_at_thread_exit(first: First) {
    let counter = DropCounter::new();
    let c = counter.clone();
    at_thread_exit(
        first,
        || HELD.with(|_| ()),
        move || HELD.with(|held| *held.borrow_mut() = Some(pending_tower(DEEP, &c))),
    );
    assert_eq!(counter.made(), DEEP);
    assert_eq!(counter.dropped(), DEEP);
}

#[test]
fn a_million_deep_tower_in_a_thread_local_destroyed_after_the_crates_drops_at_thread_exit() {
    in_child(
        "a_million_deep_tower_in_a_thread_local_destroyed_after_the_crates_drops_at_thread_exit",
        || drop_tower_at_thread_exit(First::User),
    );
}

#[test]
fn a_million_deep_tower_in_a_thread_local_destroyed_before_the_crates_drops_at_thread_exit() {
    in_child(
        "a_million_deep_tower_in_a_thread_local_destroyed_before_the_crates_drops_at_thread_exit",
        || drop_tower_at_thread_exit(First::Crate),
    );
}

#[test]
fn a_million_deep_tower_in_a_thread_local_drops_at_thread_exit_before_the_crate_was_used() {
    in_child(
        "a_million_deep_tower_in_a_thread_local_drops_at_thread_exit_before_the_crate_was_used",
        || drop_tower_at_thread_exit(First::UserOnly),
    );
}

/// Cancels its tower when dropped, and says so.
struct CancelOnDrop {
    tower: Option<Tower>,
    done: Arc<AtomicUsize>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(tower) = self.tower.take() {
            // `Tower::cancel` checks that every level was cancelled, settled and freed.
            assert!(tower.cancel().unwrap_err().check::<CancelledError>());
            self.done.fetch_add(1, Ordering::SeqCst);
        }
    }
}

thread_local! {
    static CANCELLED_AT_EXIT: RefCell<Option<CancelOnDrop>> = const { RefCell::new(None) };
}

/// Leaves, in a thread-local, a value that cancels a hundred-thousand-level tower of
/// combinators, nesting and blocks when dropped, and checks that it did when the thread exited.
fn cancel_tower_at_thread_exit(first: First) {
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    at_thread_exit(
        first,
        || CANCELLED_AT_EXIT.with(|_| ()),
        move || {
            let tower = Some(Tower::build(mix_with_blocks));
            let guard = CancelOnDrop { tower, done: d };
            CANCELLED_AT_EXIT.with(|held| *held.borrow_mut() = Some(guard));
        },
    );
    assert_eq!(done.load(Ordering::SeqCst), 1);
}

#[test]
fn a_tower_cancelled_by_a_thread_local_destroyed_after_the_crates_runs_on_a_256k_stack() {
    in_child(
        "a_tower_cancelled_by_a_thread_local_destroyed_after_the_crates_runs_on_a_256k_stack",
        || cancel_tower_at_thread_exit(First::User),
    );
}

#[test]
fn a_tower_cancelled_by_a_thread_local_destroyed_before_the_crates_runs_on_a_256k_stack() {
    in_child(
        "a_tower_cancelled_by_a_thread_local_destroyed_before_the_crates_runs_on_a_256k_stack",
        || cancel_tower_at_thread_exit(First::Crate),
    );
}

#[test]
fn a_tower_cancelled_at_thread_exit_before_the_crate_was_used_runs_on_a_256k_stack() {
    in_child(
        "a_tower_cancelled_at_thread_exit_before_the_crate_was_used_runs_on_a_256k_stack",
        || cancel_tower_at_thread_exit(First::UserOnly),
    );
}

/// How many levels of nested failures a formatted failure shows (documented on `Failure`).
const SHOWN: usize = 16;

/// A tower of `LEVELS` levels, each made by `level` over the one below, over a pending leaf
/// with no canceller: cancelled from the top without recovery, so that every level fails with
/// a failure wrapping the one below. Returns the top's failure, after checking that it is
/// nested as deep as the tower by walking it with `below`; every other handle is dropped.
fn failing_tower(
    level: fn(Deferred<u64>, &mut Vec<Resolver<u64>>) -> Deferred<u64>,
    below: fn(&Failure) -> &Failure,
) -> Failure {
    let (leaf, fire) = Deferred::<u64>::new();
    let mut resolvers = vec![fire];
    let mut top = leaf;
    for _ in 0..LEVELS {
        top = level(top, &mut resolvers);
    }
    top.cancel();
    let failure = failure_result_of(top);
    drop(resolvers);
    let mut innermost = &failure;
    for _ in 0..LEVELS {
        innermost = below(innermost);
    }
    assert!(innermost.check::<CancelledError>(), "the leaf's own failure is at the bottom");
    failure
}

fn gather_level(below: Deferred<u64>, _: &mut Vec<Resolver<u64>>) -> Deferred<u64> {
    gather_results(vec![below]).map(|v| v[0] + 1)
}

fn list_level(below: Deferred<u64>, _: &mut Vec<Resolver<u64>>) -> Deferred<u64> {
    DeferredList::new(vec![below])
        .fire_on_one_errback(true)
        .consume_errors(true)
        .into_deferred()
        .add_callback(|results| Ok::<_, Failure>(results.into_iter().next().unwrap()? + 1))
}

/// A race against a Deferred that never fires; cancelled, both fail.
fn race_level(below: Deferred<u64>, resolvers: &mut Vec<Resolver<u64>>) -> Deferred<u64> {
    let (loser, fire) = Deferred::new();
    resolvers.push(fire);
    race(vec![below, loser]).map(|(_, n)| n + 1)
}

fn first_error_below(failure: &Failure) -> &Failure {
    &failure.downcast_ref::<FirstError>().expect("a FirstError at every level").failure
}

fn failure_group_below(failure: &Failure) -> &Failure {
    let group = failure.downcast_ref::<FailureGroup>().expect("a FailureGroup at every level");
    assert!(group.failures[1].check::<CancelledError>(), "the loser was cancelled");
    &group.failures[0]
}

/// How the levels not shown are summed up, in place of the rest of the failure.
fn more(levels: usize) -> String {
    format!("... and {levels} more levels")
}

/// Formats `failure`, whose `Display` is `display`, every way the crate formats a failure, on
/// this (small) stack, checking each against `display`.
fn format_every_way(failure: &Failure, display: &str) {
    let type_name = failure.type_name();
    assert_eq!(failure.to_string(), display);
    assert_eq!(failure.error_message(), display);
    assert_eq!(format!("{failure:?}"), format!("<Failure {type_name}: {display}>"));

    let traceback = failure.traceback();
    assert!(traceback.ends_with(&format!("\n{type_name}: {display}\n")), "{traceback}");
    assert_eq!(failure.traceback_with(TracebackDetail::Default), traceback);
    let brief = failure.traceback_with(TracebackDetail::Brief);
    assert!(brief.starts_with(&format!("Traceback: {type_name}: {display}\n")), "{brief}");
    let verbose = failure.traceback_with(TracebackDetail::Verbose);
    assert!(verbose.starts_with(&format!("*--- Failure: {type_name}: {display} ---\n")));
    assert!(verbose.ends_with(&format!("\n{type_name}: {display}\n*--- End of Failure ---\n")));

    // The unhandled-failure report, captured and then printed by the default hook.
    let ((), reports) = capture_unhandled(|| drop(fail::<u8>(failure.clone())));
    assert_eq!(reports[0].to_string(), format!("Unhandled error in Deferred:\n{traceback}"));
    assert!(format!("{:?}", reports[0]).contains(display));
    {
        let _hook = crate::hardening::support::HOOK.lock();
        deferreds::reset_unhandled_hook();
        drop(fail::<u8>(failure.clone()));
    }

    // Out of the crate as a boxed error, and its sources.
    let boxed: Box<dyn Error + Send + Sync> = failure.clone().into();
    assert_eq!(boxed.to_string(), display);
    let mut source = boxed.source();
    while let Some(cause) = source {
        assert!(cause.to_string().len() < 10 * display.len() + 100);
        source = cause.source();
    }
    #[cfg(feature = "anyhow")]
    {
        let error = anyhow::Error::from(failure.clone());
        assert!(format!("{error:?}").starts_with(display));
        assert!(format!("{error:#}").starts_with(display));
    }

    // A Deferred holding it, as a result and inside a value.
    let failed = fail::<u8>(failure.clone());
    let shown = format!("<Deferred<u8> current result: <Failure {type_name}: {display}>>");
    assert_eq!(format!("{failed:?}"), shown);
    let (d, r) = Deferred::<u8>::new();
    r.errback(failure.clone()).unwrap();
    assert_eq!(format!("{d:?}"), shown);
    assert!(format!("{r:?}").contains(display));
    assert!(failure_result_of(d).ptr_eq(failure));
    let list = DeferredList::new(vec![failed]).consume_errors(true).into_deferred();
    let debug = format!("{list:?}");
    assert!(debug.ends_with(&format!("[Err(<Failure {type_name}: {display}>)]>")), "{debug}");
}

#[test]
fn a_failure_nested_a_hundred_thousand_levels_by_gather_results_is_read_formatted_and_dropped_on_a_256k_stack()
 {
    on_small_stack(|| {
        let failure = failing_tower(gather_level, first_error_below);
        let display = "input 0 failed first: ".repeat(SHOWN) + &more(LEVELS as usize + 1 - SHOWN);
        format_every_way(&failure, &display);
        // The combinator's own error, formatted by itself, shows its own level too.
        let first = failure.downcast_ref::<FirstError>().unwrap();
        let own = "input 0 failed first: ".repeat(SHOWN + 1) + &more(LEVELS as usize - SHOWN);
        assert_eq!(first.to_string(), own);
        let debug = format!("{first:?}");
        let nested = format!(": {}", "input 0 failed first: ".repeat(SHOWN));
        assert!(debug.contains(&(nested + &more(LEVELS as usize - SHOWN) + ">")), "{debug}");
        assert!(failure.as_error().source().is_none());
        drop(failure);
    });
}

#[test]
fn a_failure_nested_a_hundred_thousand_levels_by_deferred_lists_is_read_formatted_and_dropped_on_a_256k_stack()
 {
    on_small_stack(|| {
        let failure = failing_tower(list_level, first_error_below);
        let display = "input 0 failed first: ".repeat(SHOWN) + &more(LEVELS as usize + 1 - SHOWN);
        format_every_way(&failure, &display);
        drop(failure);
    });
}

#[test]
fn a_failure_nested_a_hundred_thousand_levels_by_races_is_read_formatted_and_dropped_on_a_256k_stack()
 {
    on_small_stack(|| {
        let failure = failing_tower(race_level, failure_group_below);
        // Each level's loser failed with a `CancelledError` of its own, which has nothing
        // nested in it: shown in full even at the cut-off.
        let display = "all 2 inputs failed: ".repeat(SHOWN)
            + &more(LEVELS as usize + 1 - SHOWN)
            + &"; the Deferred was cancelled".repeat(SHOWN);
        format_every_way(&failure, &display);
        let group = failure.downcast_ref::<FailureGroup>().unwrap();
        assert!(format!("{group:?}").contains(&more(LEVELS as usize - SHOWN)));
        drop(failure);
    });
}

#[test]
fn dropping_a_failure_nested_a_hundred_thousand_levels_by_gather_results_runs_on_a_256k_stack() {
    on_small_stack(|| drop(failing_tower(gather_level, first_error_below)));
}

thread_local! {
    static HELD_FAILURE: RefCell<Option<Failure>> = const { RefCell::new(None) };
}

/// Leaves a failure nested a hundred thousand levels deep in a thread-local, and checks that
/// the thread's exit dropped every level.
fn drop_nested_failure_at_thread_exit(first: First) {
    let counter = DropCounter::new();
    let c = counter.clone();
    at_thread_exit(
        first,
        || HELD_FAILURE.with(|_| ()),
        move || {
            let mut failure = Failure::msg("the leaf");
            for index in 0..LEVELS as usize {
                let token = c.token();
                failure = Failure::new(Wrapped { index, failure, _token: token });
            }
            HELD_FAILURE.with(|held| *held.borrow_mut() = Some(failure));
        },
    );
    assert_eq!(counter.made(), LEVELS as usize);
    assert_eq!(counter.dropped(), LEVELS as usize);
}

/// An error of the program's own that nests a failure: the crate knows nothing of its type.
#[derive(Debug)]
struct Wrapped<T> {
    index: usize,
    failure: Failure,
    _token: T,
}

impl<T> std::fmt::Display for Wrapped<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "level {} failed: {}", self.index, self.failure)
    }
}

impl<T: std::fmt::Debug> Error for Wrapped<T> {}

#[test]
fn a_deep_failure_in_a_thread_local_destroyed_after_the_crates_drops_at_thread_exit() {
    in_child(
        "a_deep_failure_in_a_thread_local_destroyed_after_the_crates_drops_at_thread_exit",
        || drop_nested_failure_at_thread_exit(First::User),
    );
}

#[test]
fn a_deep_failure_in_a_thread_local_destroyed_before_the_crates_drops_at_thread_exit() {
    in_child(
        "a_deep_failure_in_a_thread_local_destroyed_before_the_crates_drops_at_thread_exit",
        || drop_nested_failure_at_thread_exit(First::Crate),
    );
}

#[test]
fn a_deep_failure_in_a_thread_local_drops_at_thread_exit_before_the_crate_was_used() {
    in_child(
        "a_deep_failure_in_a_thread_local_drops_at_thread_exit_before_the_crate_was_used",
        || drop_nested_failure_at_thread_exit(First::UserOnly),
    );
}

#[test]
fn a_failure_nested_a_hundred_thousand_levels_by_the_programs_own_error_type_is_formatted_and_dropped_on_a_256k_stack()
 {
    on_small_stack(|| {
        let counter = DropCounter::new();
        let mut failure = Failure::msg("the leaf");
        for index in (0..LEVELS as usize).rev() {
            failure = Failure::new(Wrapped { index, failure, _token: counter.token() });
        }
        let display: String = (0..SHOWN).map(|i| format!("level {i} failed: ")).collect();
        let display = display + &more(LEVELS as usize + 1 - SHOWN);
        format_every_way(&failure, &display);
        drop(failure);
        assert_eq!(counter.alive(), 0);
    });
}
