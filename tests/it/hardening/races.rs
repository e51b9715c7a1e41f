//! Races between threads over one Deferred whose window is a few nanoseconds wide: a timeout's
//! timer against the value it times, and the cancel of a combinator against its inputs' fires.
//!
//! A barrier that puts its threads to sleep wakes them microseconds apart, far wider than these
//! windows. A [`Crew`] releases its threads with a spin on one atomic instead, and each thread
//! then spins a random while before it acts, so that the rounds sweep the offsets between the
//! racing actions. Each test counts its bad rounds and asserts that there are none.
//!
//! CI runs a few thousand rounds of each race. `DEFERREDS_SOAK=1` (meant for `--release`) runs
//! each race for the number of rounds at which it showed reliably before it was fixed, and
//! `DEFERREDS_SOAK_ROUNDS=n` runs n rounds (see `docs/reliability.md`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

use deferreds::testing::{Counted, DropCounter, capture_unhandled};
use deferreds::{
    CancelledError, Deferred, DeferredList, Failure, FailureGroup, FirstCallback, FirstError,
    TryResult, gather_results, race,
};

use crate::hardening::support::{Rng, Watchdog, soak, soak_rounds};

/// One round's parts: part `t` runs on thread `t` of the crew (0 is the caller's).
type Job = Arc<dyn Fn(usize) + Send + Sync>;

/// The round number that tells the crew to go home.
const STOP: u64 = u64::MAX;

struct Shared {
    /// Bumped to start a round.
    round: AtomicU64,
    /// Helpers done with the round under way.
    done: AtomicUsize,
    job: Mutex<Option<Job>>,
    /// The helpers' panics and unhandled failures in the round under way.
    problems: Mutex<Vec<String>>,
}

/// The calling thread and a few helpers, playing the parts of a round at the same instant.
struct Crew {
    shared: Arc<Shared>,
    helpers: Vec<JoinHandle<()>>,
}

/// Spins until `ready` gives an answer, yielding the core after a short while: the machine
/// may have fewer cores than the crew has threads.
fn spin_until<R>(mut ready: impl FnMut() -> Option<R>) -> R {
    let mut spins = 0u32;
    loop {
        if let Some(answer) = ready() {
            return answer;
        }
        spins += 1;
        if spins < 2_000 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

impl Crew {
    /// The caller and `helpers` more threads.
    fn new(helpers: usize) -> Crew {
        let shared = Arc::new(Shared {
            round: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            job: Mutex::new(None),
            problems: Mutex::new(Vec::new()),
        });
        let helpers = (1..=helpers)
            .map(|t| {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let mut seen = 0;
                    loop {
                        seen = spin_until(|| {
                            let round = shared.round.load(SeqCst);
                            (round != seen).then_some(round)
                        });
                        if seen == STOP {
                            return;
                        }
                        let job = shared.job.lock().clone().expect("a job for every round");
                        let (outcome, reports) =
                            capture_unhandled(|| catch_unwind(AssertUnwindSafe(|| job(t))));
                        drop(job);
                        let mut problems = shared.problems.lock();
                        if let Err(payload) = outcome {
                            problems
                                .push(format!("thread {t} panicked: {}", panic_message(&*payload)));
                        }
                        for report in reports {
                            let message = report.failure().error_message();
                            problems.push(format!("thread {t}: unhandled failure: {message}"));
                        }
                        drop(problems);
                        shared.done.fetch_add(1, SeqCst);
                    }
                })
            })
            .collect();
        Crew { shared, helpers }
    }

    /// Plays one round: every thread runs its part of `job` at once. Returns the helpers'
    /// panics and unhandled failures (the caller's own are the caller's to catch).
    fn run(&self, job: Job) -> Vec<String> {
        *self.shared.job.lock() = Some(job.clone());
        self.shared.done.store(0, SeqCst);
        self.shared.round.fetch_add(1, SeqCst);
        job(0);
        drop(job);
        let helpers = self.helpers.len();
        spin_until(|| (self.shared.done.load(SeqCst) == helpers).then_some(()));
        *self.shared.job.lock() = None;
        std::mem::take(&mut *self.shared.problems.lock())
    }
}

impl Drop for Crew {
    fn drop(&mut self) {
        self.shared.round.store(STOP, SeqCst);
        for helper in self.helpers.drain(..) {
            let _ = helper.join();
        }
    }
}

/// Spins for a while that depends on the round's `seed` and the thread `t`: up to `spread`
/// spins, so that the rounds sweep the offsets between the threads' actions.
fn jitter(seed: u64, t: usize, spread: u64) {
    // Each round picks a scale too: which offsets hit a window depends on the machine and its load.
    let spread = spread >> ((seed >> 8) % 8);
    let spins = Rng::new(seed ^ (t as u64).wrapping_mul(0x9e37_79b9)).next_u64() % spread.max(1);
    for _ in 0..spins {
        std::hint::spin_loop();
    }
}

/// Runs `round` (given its seed) for the asked number of rounds, and returns how many went
/// bad and the first few descriptions of what went wrong.
fn count_bad(
    name: &str,
    ci_rounds: u64,
    soak_rounds_default: u64,
    mut round: impl FnMut(u64) -> Option<String>,
) -> (u64, Vec<String>) {
    let rounds = soak_rounds().unwrap_or(if soak() { soak_rounds_default } else { ci_rounds });
    Failure::set_backtrace_capture(false);
    let watchdog = Watchdog::new(format!("races: {name}"), Duration::from_secs(60));
    let mut rng = Rng::new(0x7ace ^ name.len() as u64);
    let (mut bad, mut seen) = (0, Vec::new());
    for n in 0..rounds {
        if let Some(what) = round(rng.next_u64()) {
            bad += 1;
            if seen.len() < 5 {
                seen.push(format!("round {n}: {what}"));
            }
        }
        watchdog.pet();
    }
    println!("races {name}: {bad} bad rounds in {rounds}");
    (bad, seen)
}

// ---------------------------------------------------------------------------------------------
// A timeout's timer against the value it times.

#[cfg(feature = "reactor")]
mod timeouts {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use deferreds::Resolver;
    use deferreds::reactor::{Clock, TimeoutError};

    /// How far apart (in spins) the timer and the value may start.
    const SPREAD: u64 = 1024;

    /// One round: thread 0 advances the clock to the timeout while thread 1 fires the value;
    /// `timed` is the Deferred the timeout is on. Returns what the chain after the timeout
    /// ended with, and whether the canceller of a Deferred that a step after the timeout
    /// waits on ran.
    fn timeout_round(
        seed: u64,
        crew: &Crew,
        add_timeout: impl FnOnce(Deferred<u64>, &Clock) -> Deferred<u64>,
    ) -> (Result<u64, Failure>, bool, Vec<String>) {
        let clock = Clock::new();
        let (d, resolver) = Deferred::<u64>::new();
        let cancelled = Arc::new(AtomicBool::new(false));
        let flag = cancelled.clone();
        let (later, fire_later) = Deferred::<u64>::with_canceller(move |_: &Resolver<u64>| {
            flag.store(true, SeqCst);
        });
        // The step after the timeout waits on `later`, which is not the timeout's to cancel.
        let d = add_timeout(d, &clock).add_callback(move |v| later.map(move |w| v + w));
        let time = clock.clone();
        let problems = crew.run(Arc::new(move |t| {
            jitter(seed, t, SPREAD);
            if t == 0 {
                time.advance(1.0);
            } else {
                let _ = resolver.callback(7);
            }
        }));
        let _ = fire_later.callback(100);
        let result = match d.try_result() {
            TryResult::Value(value) => Ok(value),
            TryResult::Failure(failure) => Err(failure),
            TryResult::Pending(d) => Err(Failure::msg(format!("no result: {d:?}"))),
        };
        (result, cancelled.load(SeqCst), problems)
    }

    #[test]
    fn a_timeout_whose_value_won_the_race_cancels_nothing_after_it() {
        let crew = Crew::new(1);
        let (bad, seen) = count_bad("timer against value", 20_000, 1_000_000, |seed| {
            let ((result, cancelled, problems), reports) = capture_unhandled(|| {
                timeout_round(seed, &crew, |d, clock| d.add_timeout(1.0, clock))
            });
            let ok = match &result {
                // The value won: it went on to the step after the timeout, and then to `later`.
                Ok(v) => *v == 107,
                // The timer won.
                Err(f) => f.check::<TimeoutError>(),
            };
            (!ok || cancelled || !problems.is_empty() || !reports.is_empty()).then(|| {
                format!(
                    "ended with {result:?}; the step's Deferred cancelled: {cancelled}; \
                     {problems:?} {reports:?}"
                )
            })
        });
        assert_eq!(bad, 0, "{}", seen.join("\n"));
    }

    #[test]
    fn a_timeout_conversion_never_gets_the_value_that_won_the_race() {
        let crew = Crew::new(1);
        let (bad, seen) = count_bad("timer against value, converted", 20_000, 200_000, |seed| {
            let saw_value = Arc::new(AtomicBool::new(false));
            let saw = saw_value.clone();
            let ((result, cancelled, problems), reports) = capture_unhandled(|| {
                timeout_round(seed, &crew, move |d, clock| {
                    d.add_timeout_with(1.0, clock, move |r: Result<u64, Failure>, _| {
                        saw.store(r.is_ok(), SeqCst);
                        Err::<u64, _>(Failure::msg("gave up"))
                    })
                })
            });
            let saw_value = saw_value.load(SeqCst);
            let ok = match &result {
                Ok(v) => *v == 107,
                Err(f) => f.error_message() == "gave up",
            };
            (!ok || saw_value || cancelled || !problems.is_empty() || !reports.is_empty()).then(
                || {
                    format!(
                        "ended with {result:?}; the conversion got the value: {saw_value}; \
                         the step's Deferred cancelled: {cancelled}; {problems:?} {reports:?}"
                    )
                },
            )
        });
        assert_eq!(bad, 0, "{}", seen.join("\n"));
    }
}

// ---------------------------------------------------------------------------------------------
// A combinator cancelled while its inputs fire.

/// The most inputs in a combinator round; thread `i + 1` fires input `i` with `i + 1`.
const INPUTS: usize = 4;

/// How far apart (in spins) the cancel and the fires may start.
const COMBINATOR_SPREAD: u64 = 2048;

type V = Counted<u64>;

/// What a combinator round gave: a description of a wrong result, if it was wrong, and the
/// unhandled failures and panics of every thread.
struct Verdict {
    wrong: Option<String>,
    problems: Vec<String>,
}

/// One round: four inputs, each with one step, go into the combinator `build` makes; threads
/// 1 to 4 fire them while thread 0 cancels the combinator. `judge` says what is wrong with the
/// combinator's result, if anything.
fn combinator_round<X: Send + 'static>(
    seed: u64,
    crew: &Crew,
    inputs: usize,
    build: fn(Vec<Deferred<V>>) -> Deferred<X>,
    judge: fn(usize, Result<X, Failure>) -> Option<String>,
) -> Verdict {
    let counter = DropCounter::new();
    let ((wrong, mut problems), reports) = capture_unhandled(|| {
        let (ds, resolvers): (Vec<_>, Vec<_>) = (0..inputs)
            .map(|_| {
                let (d, r) = Deferred::<V>::new();
                (d.map(|v| v), r)
            })
            .unzip();
        let combined = Arc::new(Mutex::new(Some(build(ds))));
        let (shared, c) = (combined.clone(), counter.clone());
        let problems = crew.run(Arc::new(move |t| {
            jitter(seed, t, COMBINATOR_SPREAD);
            if t == 0 {
                if let Some(d) = &*shared.lock() {
                    d.cancel();
                }
            } else if let Some(resolver) = resolvers.get(t - 1) {
                let _ = resolver.callback(c.wrap(t as u64));
            }
        }));
        let d = combined.lock().take().expect("taken once");
        let wrong = match d.try_result() {
            TryResult::Value(value) => judge(inputs, Ok(value)),
            TryResult::Failure(failure) => judge(inputs, Err(failure)),
            TryResult::Pending(_) => Some("no result".to_owned()),
        };
        (wrong, problems)
    });
    problems.extend(reports.iter().map(|r| format!("unhandled: {}", r.failure().error_message())));
    if counter.alive() != 0 {
        problems.push(format!("{} values never dropped", counter.alive()));
    }
    Verdict { wrong, problems }
}

fn is_cancelled(f: &Failure) -> bool {
    f.check::<CancelledError>()
}

/// A value that input `index` was fired with.
fn fired_with(index: usize, value: &V) -> bool {
    **value == index as u64 + 1
}

fn list(inputs: Vec<Deferred<V>>) -> Deferred<Vec<Result<V, Failure>>> {
    DeferredList::new(inputs).consume_errors(true).into_deferred()
}

/// Without `fire_on_one_errback` the list never fails: each entry is the input's value, or the
/// `CancelledError` the cancel gave it.
fn judge_list(_: usize, result: Result<Vec<Result<V, Failure>>, Failure>) -> Option<String> {
    match result {
        Ok(entries) => {
            let right = entries
                .iter()
                .enumerate()
                .all(|(i, e)| e.as_ref().map_or_else(is_cancelled, |v| fired_with(i, v)));
            (!right).then(|| format!("wrong entries: {entries:?}"))
        }
        Err(f) => Some(format!("the list failed: {f}")),
    }
}

fn first_callback(inputs: Vec<Deferred<V>>) -> Deferred<FirstCallback<V>> {
    DeferredList::new(inputs).consume_errors(true).fire_on_one_callback()
}

fn judge_first_callback(
    inputs: usize,
    result: Result<FirstCallback<V>, Failure>,
) -> Option<String> {
    match result {
        Ok(FirstCallback::Succeeded { index, value }) if fired_with(index, &value) => None,
        Ok(FirstCallback::AllFailed(failures))
            if failures.len() == inputs && failures.iter().all(is_cancelled) =>
        {
            None
        }
        Ok(other) => Some(format!("wrong result: {other:?}")),
        Err(f) => Some(format!("the list failed: {f}")),
    }
}

fn gather(inputs: Vec<Deferred<V>>) -> Deferred<Vec<V>> {
    gather_results(inputs)
}

/// A gather ends with every value, or with the `FirstError` of the first input the cancel
/// reached.
fn judge_gather(_: usize, result: Result<Vec<V>, Failure>) -> Option<String> {
    match result {
        Ok(values) if values.iter().enumerate().all(|(i, v)| fired_with(i, v)) => None,
        Ok(values) => Some(format!("wrong values: {values:?}")),
        Err(f) if f.downcast_ref::<FirstError>().is_some_and(|e| is_cancelled(&e.failure)) => None,
        Err(f) => Some(format!("failed with {f} ({}), not a FirstError", f.type_name())),
    }
}

fn race_of(inputs: Vec<Deferred<V>>) -> Deferred<(usize, V)> {
    race(inputs)
}

/// A race ends with a winner's value, or with the `FailureGroup` of every input's
/// cancellation.
fn judge_race(inputs: usize, result: Result<(usize, V), Failure>) -> Option<String> {
    match result {
        Ok((index, value)) if fired_with(index, &value) => None,
        Ok(other) => Some(format!("wrong winner: {other:?}")),
        Err(f)
            if f.downcast_ref::<FailureGroup>().is_some_and(|g| {
                g.failures.len() == inputs && g.failures.iter().all(is_cancelled)
            }) =>
        {
            None
        }
        Err(f) => Some(format!("failed with {f} ({}), not a FailureGroup", f.type_name())),
    }
}

/// Counts the rounds whose result was wrong; the unhandled failures are left to
/// [`combinators_cancelled_while_their_last_input_fires_report_nothing_unhandled`].
fn wrong_results<X: Send + 'static>(
    name: &str,
    build: fn(Vec<Deferred<V>>) -> Deferred<X>,
    judge: fn(usize, Result<X, Failure>) -> Option<String>,
) {
    let crew = Crew::new(INPUTS);
    let (bad, seen) = count_bad(name, 3_000, 200_000, |seed| {
        // With fewer inputs, the cancel more often finds every one of them in flight.
        let inputs = 1 + ((seed >> 16) % INPUTS as u64) as usize;
        combinator_round(seed, &crew, inputs, build, judge).wrong
    });
    assert_eq!(bad, 0, "{}", seen.join("\n"));
}

#[test]
fn a_cancelled_deferred_list_whose_inputs_fired_meanwhile_never_fails() {
    wrong_results("list", list, judge_list);
}

#[test]
fn a_cancelled_fire_on_one_callback_list_whose_inputs_fired_meanwhile_never_fails() {
    wrong_results("fire_on_one_callback", first_callback, judge_first_callback);
}

#[test]
fn a_cancelled_gather_whose_inputs_fired_meanwhile_fails_only_with_a_first_error() {
    wrong_results("gather", gather, judge_gather);
}

#[test]
fn a_cancelled_race_whose_inputs_fired_meanwhile_fails_only_with_a_failure_group() {
    wrong_results("race", race_of, judge_race);
}

#[test]
fn combinators_cancelled_while_their_last_input_fires_report_nothing_unhandled() {
    // The window is between the last input's report and the combinator's fire, so every round
    // has one input: then every round has that window.
    let crew = Crew::new(1);
    let (bad, seen) = count_bad("unhandled", 5_000, 200_000, |seed| {
        let (name, problems) = match seed % 4 {
            0 => ("race", combinator_round(seed, &crew, 1, race_of, judge_race).problems),
            1 => ("gather", combinator_round(seed, &crew, 1, gather, judge_gather).problems),
            2 => ("list", combinator_round(seed, &crew, 1, list, judge_list).problems),
            _ => (
                "fire_on_one_callback",
                combinator_round(seed, &crew, 1, first_callback, judge_first_callback).problems,
            ),
        };
        (!problems.is_empty()).then(|| format!("{name}: {}", problems.join("; ")))
    });
    assert_eq!(bad, 0, "{}", seen.join("\n"));
}
