//! Misuse, generated: random sequences of operations over a few Deferreds, mixing the proper
//! with the improper. Fire twice, unpause more than paused, add from inside a callback, fire
//! or cancel from inside a canceller, cancel after the fire, drop the last handle while a
//! chain is pending, waiting or paused, nest a Deferred in itself or in a circle, await and
//! cancel the await.
//!
//! What each case checks:
//!
//! - every operation returns what Twisted's would, or a typed error: a fire is accepted exactly
//!   when the Deferred was not fired yet (or once after a cancel without canceller, the
//!   grace), an unpause exactly when a pause is outstanding;
//! - no operation panics, and nothing hangs (a watchdog aborts the run if a case stops making
//!   progress);
//! - the steps of each chain ran in the order they were added, each at most once, with no gap;
//! - once every Deferred that can be fired, unpaused or cancelled has been, every tail the test
//!   still holds has its result, and every one of its steps ran (no lost result);
//! - once every handle is dropped, every step, canceller and value has been dropped, exactly
//!   once (no leak).
//!
//! 10,000 cases; `DEFERREDS_SOAK=1` runs 200,000, `DEFERREDS_SOAK_CASES=n` n.

use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::{Either, select};
use parking_lot::Mutex;
use proptest::prelude::*;

use deferreds::testing::{Counted, DropCounter, capture_unhandled};
use deferreds::{
    AlreadyCalledError, Deferred, Failure, NotPausedError, Resolver, Step, ensure_deferred,
};

use crate::hardening::support::{Watchdog, soak};

/// Deferreds per case.
const N: usize = 4;

type V = Counted<i64>;

#[derive(Clone, Copy, Debug)]
enum Canceller {
    None,
    Noop,
    /// Fires its own Deferred.
    FireSelf,
    /// Fires Deferred j through the test's resolver (j may be itself).
    Fire(usize),
    /// Cancels Deferred j through the test's tail (j may be itself).
    Cancel(usize),
    Panic,
}

/// What a step does when it runs. Every step runs on both tracks.
#[derive(Clone, Copy, Debug)]
enum Action {
    /// Adds 1 to a value; passes a failure on.
    PlusOne,
    /// Fails a value; passes a failure on.
    Fail,
    /// Turns a failure into -1; passes a value on.
    Recover,
    /// Returns Deferred j's tail, if the test holds it when the step runs (j may be the
    /// step's own Deferred, or one waiting on it).
    Nest(usize),
    /// Adds a `PlusOne` step to Deferred j's tail, if the test holds it (j may be the step's own
    /// Deferred), then passes its input on.
    AddTo(usize),
    /// Fires Deferred j (maybe its own); a refusal becomes the step's failure.
    Fire(usize),
    /// Cancels Deferred j (maybe its own), then passes its input on.
    Cancel(usize),
}

#[derive(Clone, Debug)]
enum Op {
    /// Fires with a value (`true`) or a failure.
    Fire(usize, bool),
    Pause(usize),
    Unpause(usize),
    Add(usize, Action),
    Cancel(usize),
    /// Replaces the tail with an `ensure_deferred` block awaiting it.
    Await(usize),
    DropTail(usize),
    DropResolver(usize),
}

fn canceller() -> impl Strategy<Value = Canceller> {
    prop_oneof![
        4 => Just(Canceller::None),
        1 => Just(Canceller::Noop),
        1 => Just(Canceller::FireSelf),
        1 => (0..N).prop_map(Canceller::Fire),
        1 => (0..N).prop_map(Canceller::Cancel),
        1 => Just(Canceller::Panic),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => Just(Action::PlusOne),
        1 => Just(Action::Fail),
        1 => Just(Action::Recover),
        3 => (0..N).prop_map(Action::Nest),
        1 => (0..N).prop_map(Action::AddTo),
        1 => (0..N).prop_map(Action::Fire),
        1 => (0..N).prop_map(Action::Cancel),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let d = 0..N;
    prop_oneof![
        5 => (d.clone(), prop::bool::weighted(0.8)).prop_map(|(d, ok)| Op::Fire(d, ok)),
        2 => d.clone().prop_map(Op::Pause),
        2 => d.clone().prop_map(Op::Unpause),
        8 => (d.clone(), action()).prop_map(|(d, a)| Op::Add(d, a)),
        2 => d.clone().prop_map(Op::Cancel),
        1 => d.clone().prop_map(Op::Await),
        1 => d.clone().prop_map(Op::DropTail),
        1 => d.prop_map(Op::DropResolver),
    ]
}

fn case() -> impl Strategy<Value = (Vec<Canceller>, Vec<Op>)> {
    (prop::collection::vec(canceller(), N), prop::collection::vec(op(), 0..40))
}

/// The Deferreds of one case, their handles, and what the test knows about them. Steps and
/// cancellers reach it through an `Arc` and take what they need out of it (never while the
/// lock is held: the engine runs other steps inside those calls).
struct World {
    counter: DropCounter,
    cancellers: Vec<Canceller>,
    state: Mutex<State>,
}

struct State {
    /// The tails the test holds; `None` once dropped, or while an operation (or a step that
    /// nested it) has it.
    tails: Vec<Option<Deferred<V>>>,
    /// The logical chain behind each tail (a new one after an await), indexing `steps`.
    chain_of: Vec<usize>,
    /// Per logical chain, the run count of each step, in the order they were added.
    steps: Vec<Vec<Arc<AtomicUsize>>>,
    resolvers: Vec<Option<Resolver<V>>>,
    /// Outstanding pauses per Deferred (all are made through the resolver).
    pauses: Vec<u32>,
    /// The grace after a cancel without canceller has been used.
    graced: Vec<bool>,
    cancelled: bool,
    /// Ends the await of each `ensure_deferred` block, so that a block waiting on something
    /// that can never fire does not keep its task alive (see `docs/reliability.md`).
    kill: Vec<oneshot::Sender<()>>,
    /// A resolver was dropped with pauses outstanding: its chain may stay paused for good.
    stranded: bool,
    violations: Vec<String>,
}

impl World {
    fn new(cancellers: &[Canceller]) -> Arc<World> {
        let world = Arc::new(World {
            counter: DropCounter::new(),
            cancellers: cancellers.to_vec(),
            state: Mutex::new(State {
                tails: Vec::new(),
                chain_of: (0..N).collect(),
                steps: vec![Vec::new(); N],
                resolvers: Vec::new(),
                pauses: vec![0; N],
                graced: vec![false; N],
                cancelled: false,
                kill: Vec::new(),
                stranded: false,
                violations: Vec::new(),
            }),
        });
        let (tails, resolvers): (Vec<_>, Vec<_>) =
            (0..N).map(|d| world.make(d)).map(|(t, r)| (Some(t), Some(r))).unzip();
        let mut st = world.state.lock();
        st.tails = tails;
        st.resolvers = resolvers;
        drop(st);
        world
    }

    fn make(self: &Arc<Self>, d: usize) -> (Deferred<V>, Resolver<V>) {
        let token = self.counter.token();
        match self.cancellers[d] {
            Canceller::None => Deferred::new(),
            Canceller::Noop => Deferred::with_canceller(move |_: &Resolver<V>| drop(token)),
            Canceller::FireSelf => {
                let world = self.clone();
                Deferred::with_canceller(move |r: &Resolver<V>| {
                    let _token = token;
                    if r.callback(world.counter.wrap(50)).is_err() {
                        world.violation(format!("{d}'s canceller could not fire it"));
                    }
                })
            }
            Canceller::Fire(j) => {
                let world = self.clone();
                Deferred::with_canceller(move |_: &Resolver<V>| {
                    let _token = token;
                    let _ = world.fire(j, true);
                })
            }
            Canceller::Cancel(j) => {
                let world = self.clone();
                Deferred::with_canceller(move |_: &Resolver<V>| {
                    let _token = token;
                    world.cancel(j);
                })
            }
            Canceller::Panic => Deferred::with_canceller(move |_: &Resolver<V>| {
                let _token = token;
                panic!("the canceller panicked");
            }),
        }
    }

    fn violation(&self, what: String) {
        self.state.lock().violations.push(what);
    }

    fn take(&self, d: usize) -> Option<Deferred<V>> {
        self.state.lock().tails[d].take()
    }

    fn put(&self, d: usize, tail: Deferred<V>) {
        let old = self.state.lock().tails[d].replace(tail);
        if old.is_some() {
            self.violation(format!("Deferred {d} got a second tail"));
        }
    }

    fn resolver(&self, d: usize) -> Option<Resolver<V>> {
        self.state.lock().resolvers[d].clone()
    }

    /// Fires `d` if the test still has a resolver, and checks the answer.
    fn fire(self: &Arc<Self>, d: usize, ok: bool) -> Result<(), AlreadyCalledError> {
        let Some(r) = self.resolver(d) else { return Ok(()) };
        let was = r.called();
        let fired = if ok {
            r.callback(self.counter.wrap(d as i64 * 1000))
        } else {
            r.errback(Failure::msg("fired with a failure"))
        };
        match (was, fired.is_ok()) {
            (false, false) => self.violation(format!("the first fire of {d} was refused")),
            (true, true) => {
                let mut st = self.state.lock();
                let grace =
                    matches!(self.cancellers[d], Canceller::None) && st.cancelled && !st.graced[d];
                if grace {
                    st.graced[d] = true;
                } else {
                    st.violations.push(format!("a second fire of {d} was accepted"));
                }
            }
            _ => {}
        }
        fired
    }

    fn cancel(&self, d: usize) {
        if let Some(tail) = self.take(d) {
            self.state.lock().cancelled = true;
            tail.cancel();
            self.put(d, tail);
        }
    }

    /// A step for Deferred d's current chain.
    fn step(
        self: &Arc<Self>,
        d: usize,
        action: Action,
    ) -> impl FnOnce(Result<V, Failure>) -> Step<V> + Send + 'static {
        let runs = Arc::new(AtomicUsize::new(0));
        let mut st = self.state.lock();
        let chain = st.chain_of[d];
        st.steps[chain].push(runs.clone());
        drop(st);
        let (world, token) = (self.clone(), self.counter.token());
        move |input| {
            let _token = token;
            runs.fetch_add(1, SeqCst);
            world.run(action, input)
        }
    }

    fn run(self: &Arc<Self>, action: Action, input: Result<V, Failure>) -> Step<V> {
        let pass = |input: Result<V, Failure>| match input {
            Ok(v) => Step::Value(v),
            Err(f) => Step::Fail(f),
        };
        match action {
            Action::PlusOne => match input {
                Ok(v) => Step::Value(self.counter.wrap(*v + 1)),
                Err(f) => Step::Fail(f),
            },
            Action::Fail => match input {
                Ok(_) => Step::Fail(Failure::msg("a step failed")),
                Err(f) => Step::Fail(f),
            },
            Action::Recover => match input {
                Ok(v) => Step::Value(v),
                Err(_) => Step::Value(self.counter.wrap(-1)),
            },
            Action::Nest(j) => match self.take(j) {
                Some(tail) => Step::Wait(tail),
                None => pass(input),
            },
            Action::AddTo(j) => {
                if let Some(tail) = self.take(j) {
                    let tail = tail.add_both(self.step(j, Action::PlusOne));
                    self.put(j, tail);
                }
                pass(input)
            }
            Action::Fire(j) => match self.fire(j, true) {
                Ok(()) => pass(input),
                Err(e) => Step::Fail(Failure::new(e)),
            },
            Action::Cancel(j) => {
                self.cancel(j);
                pass(input)
            }
        }
    }

    fn apply(self: &Arc<Self>, op: &Op) {
        match *op {
            Op::Fire(d, ok) => {
                let _ = self.fire(d, ok);
            }
            Op::Pause(d) => {
                if let Some(r) = self.resolver(d) {
                    r.pause();
                    self.state.lock().pauses[d] += 1;
                }
            }
            Op::Unpause(d) => self.unpause(d),
            Op::Add(d, action) => {
                if let Some(tail) = self.take(d) {
                    let tail = tail.add_both(self.step(d, action));
                    self.put(d, tail);
                }
            }
            Op::Cancel(d) => {
                let Some(tail) = self.take(d) else { return };
                // Cancelling a Deferred that has its result leaves it alone.
                let before = tail.called().then(|| format!("{tail:?}"));
                self.state.lock().cancelled = true;
                tail.cancel();
                if let Some(before) = before.filter(|b| b.contains("current result")) {
                    let after = format!("{tail:?}");
                    if after != before {
                        self.violation(format!("cancel changed {d}: {before} -> {after}"));
                    }
                }
                self.put(d, tail);
            }
            Op::Await(d) => {
                let Some(tail) = self.take(d) else { return };
                let (kill, killed) = oneshot::channel::<()>();
                let token = self.counter.token();
                let task = ensure_deferred(async move {
                    let _token = token;
                    match select(tail.into_future(), killed).await {
                        Either::Left((result, _)) => result,
                        Either::Right(_) => Err(Failure::msg("the test ended the await")),
                    }
                });
                let mut st = self.state.lock();
                st.kill.push(kill);
                st.chain_of[d] = st.steps.len();
                st.steps.push(Vec::new());
                drop(st);
                self.put(d, task);
            }
            Op::DropTail(d) => drop(self.take(d)),
            Op::DropResolver(d) => {
                let mut st = self.state.lock();
                let r = st.resolvers[d].take();
                if r.is_some() && st.pauses[d] > 0 {
                    st.stranded = true;
                }
                drop(st);
                drop(r);
            }
        }
    }

    fn unpause(&self, d: usize) {
        let Some(r) = self.resolver(d) else { return };
        let outstanding = self.state.lock().pauses[d];
        match (r.unpause(), outstanding) {
            (Ok(()), 0) => self.violation(format!("unpause of {d} accepted with no pause")),
            (Ok(()), _) => self.state.lock().pauses[d] -= 1,
            (Err(NotPausedError), 0) => {}
            (Err(NotPausedError), _) => self.violation(format!("unpause of paused {d} refused")),
        }
    }

    /// Unpauses, fires and cancels everything that can be, ends the awaits, and checks that
    /// every tail still held has its result and every step ran in order.
    fn finish(self: &Arc<Self>) {
        for _ in 0..3 {
            for d in 0..N {
                while self.resolver(d).is_some() && self.state.lock().pauses[d] > 0 {
                    self.unpause(d);
                }
                if self.resolver(d).is_some_and(|r| !r.called()) {
                    let _ = self.fire(d, true);
                }
            }
            // Dropping the senders ends the awaits still pending, and cancels what they
            // awaited.
            let mut st = self.state.lock();
            st.cancelled = true;
            let kill = std::mem::take(&mut st.kill);
            drop(st);
            drop(kill);
            for d in 0..N {
                self.cancel(d);
            }
        }
        let mut st = self.state.lock();
        let tails = std::mem::take(&mut st.tails);
        let stranded = st.stranded;
        let chains: Vec<Option<usize>> =
            tails.iter().enumerate().map(|(d, t)| t.as_ref().map(|_| st.chain_of[d])).collect();
        drop(st);
        for (d, tail) in tails.into_iter().enumerate() {
            let Some(tail) = tail else { continue };
            if let deferreds::TryResult::Pending(tail) = tail.try_result() {
                if !stranded {
                    self.violation(format!("{d} has no result after everything fired: {tail:?}"));
                }
            }
        }
        let st = self.state.lock();
        let mut violations = Vec::new();
        for (chain, steps) in st.steps.iter().enumerate() {
            let runs: Vec<usize> = steps.iter().map(|r| r.load(SeqCst)).collect();
            let ran = runs.iter().take_while(|&&r| r == 1).count();
            if runs[ran..].iter().any(|&r| r != 0) {
                violations.push(format!("chain {chain}'s steps ran {runs:?}"));
            }
            let held = chains.contains(&Some(chain));
            if held && !stranded && ran < runs.len() {
                violations.push(format!("chain {chain} has its result but ran {runs:?}"));
            }
        }
        drop(st);
        self.state.lock().violations.extend(violations);
    }

    /// Drops every handle (outside the lock: the steps holding the world go with the chains)
    /// and returns the violations found.
    fn clear(&self) -> Vec<String> {
        let mut st = self.state.lock();
        let handles = (
            std::mem::take(&mut st.tails),
            std::mem::take(&mut st.resolvers),
            std::mem::take(&mut st.kill),
        );
        drop(st);
        drop(handles);
        std::mem::take(&mut self.state.lock().violations)
    }
}

/// Plays `ops` on a world with these cancellers, then ends every chain: the rules broken, and
/// the counter of what is still alive.
fn run(cancellers: &[Canceller], ops: &[Op]) -> (Vec<String>, DropCounter) {
    let (outcome, _reports) = capture_unhandled(|| {
        let world = World::new(cancellers);
        for op in ops {
            world.apply(op);
        }
        world.finish();
        let violations = world.clear();
        (violations, world.counter.clone())
    });
    outcome
}

fn cases() -> u32 {
    let asked = std::env::var("DEFERREDS_SOAK_CASES").ok().and_then(|v| v.parse().ok());
    asked.unwrap_or(if soak() { 200_000 } else { 10_000 })
}

#[test]
fn misuse_sequences_get_typed_errors_and_lose_leak_or_hang_nothing() {
    Failure::set_backtrace_capture(false);
    let watchdog = Watchdog::new("misuse sequences", Duration::from_secs(60));
    // XorShift: the default ChaCha generator is most of the run time in an unoptimised build.
    let config = ProptestConfig {
        cases: cases(),
        rng_algorithm: proptest::test_runner::RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    };
    proptest!(config, |((cancellers, ops) in case())| {
        watchdog.pet_doing(format!("{cancellers:?} {ops:?}"));
        let (violations, counter) = run(&cancellers, &ops);
        prop_assert!(violations.is_empty(), "{}", violations.join("\n"));
        prop_assert_eq!(counter.alive(), 0, "a step, canceller or value was never dropped");
    });
}

/// A case the soak run found. Three `ensure_deferred` blocks await each other in a circle, closed
/// by a step that returns the last block's Deferred. Cancelling one of them sent the cancellation
/// round the circle for ever: each block handed it on through the runner queue, so no single
/// delivery ever saw it come back. It is now recognised by its cause, and ends.
#[test]
fn a_cancellation_going_round_a_circle_of_blocks_through_the_runner_queue_ends() {
    use Action as A;
    use Canceller as C;
    use Op::*;
    Failure::set_backtrace_capture(false);
    // A regression hangs: the watchdog turns that into a failure.
    let _watchdog = Watchdog::new("a circle of blocks", Duration::from_secs(60));
    let cancellers = [C::None, C::Fire(2), C::None, C::Cancel(3)];
    let ops = vec![
        Cancel(1),
        Fire(2, true),
        Add(0, A::Nest(2)),
        Unpause(3),
        Cancel(1),
        Await(3),
        Cancel(2),
        Fire(2, true),
        Add(2, A::Fail),
        Fire(1, true),
        Add(3, A::Nest(3)),
        Add(1, A::Recover),
        Await(3),
        Unpause(2),
        Add(0, A::PlusOne),
        Add(2, A::AddTo(3)),
        DropResolver(3),
        Fire(0, true),
        Fire(1, true),
        Await(3),
        Unpause(3),
        Pause(2),
        Add(0, A::Fail),
        Add(1, A::Recover),
        Add(3, A::Nest(3)),
        Cancel(0),
        Pause(2),
        Unpause(3),
        DropResolver(0),
    ];
    let (violations, counter) = run(&cancellers, &ops);
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    assert_eq!(counter.alive(), 0);
}
