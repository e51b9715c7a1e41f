//! Cross-thread stress: eight threads racing fire, add, cancel, pause/unpause and awaits on
//! shared chains, nested towers, async tasks, combinators and primitives.
//!
//! Each test runs rounds until it has done its operations. In a round, a scenario is built, the
//! eight threads of a pool are released together to play their parts in it, and once they are
//! all back the round is checked: every fire got the answer it should (one winner, or the grace
//! after a cancel), every step ran exactly once, every result reached its consumer with the
//! value it should have, no failure went unhandled, and every value and closure was dropped
//! (`DropCounter`). Awaits block their thread until another thread's fire wakes them, so a lost
//! wake-up hangs: a watchdog turns any hang into a failure.
//!
//! `DEFERREDS_SOAK=1 cargo test --release --all-features --test it stress` runs each scenario
//! for 1,000,000 operations instead of 50,000, and `DEFERREDS_SOAK_OPS=n` for n (see
//! `docs/reliability.md`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use parking_lot::Mutex;

use deferreds::testing::{Counted, DropCounter, capture_unhandled};
use deferreds::{
    CancelledError, Deferred, DeferredLock, DeferredQueue, DeferredSemaphore, Failure, FirstError,
    Resolver, Step, ensure_deferred, gather_results,
};

use crate::hardening::support::{Rng, Watchdog, soak, soak_ops};

const THREADS: usize = 8;

type V = Counted<u64>;

/// One round's shared objects and the part each thread plays in it.
trait Scenario: Send + Sync {
    /// Thread `t`'s part; all eight run at once.
    fn act(&self, t: usize);
    /// Run once every thread is back; panics on anything lost, doubled or wrong.
    fn check(&self, round: u64);
    /// Operations done in the round.
    fn ops(&self) -> u64;
    fn counter(&self) -> &DropCounter;
}

/// The scenario of the round under way, and its seed.
type Job = Arc<Mutex<Option<(Arc<dyn Scenario>, u64)>>>;

/// Eight threads that play a scenario's parts together, as often as asked.
struct Pool {
    start: Arc<Barrier>,
    end: Arc<Barrier>,
    job: Job,
    failures: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    fn new() -> Pool {
        let start = Arc::new(Barrier::new(THREADS + 1));
        let end = Arc::new(Barrier::new(THREADS + 1));
        let job: Job = Arc::new(Mutex::new(None));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..THREADS)
            .map(|t| {
                let (start, end, job) = (start.clone(), end.clone(), job.clone());
                let (failures, stop) = (failures.clone(), stop.clone());
                std::thread::spawn(move || {
                    loop {
                        start.wait();
                        if stop.load(SeqCst) {
                            return;
                        }
                        let (scenario, seed) = job.lock().clone().expect("a job for every round");
                        // A different start order each round: on few cores, threads otherwise
                        // tend to run their parts in the order the barrier woke them.
                        for _ in 0..(seed.wrapping_mul(t as u64 + 1) >> 7) % 4 {
                            std::thread::yield_now();
                        }
                        let (outcome, reports) = capture_unhandled(|| {
                            catch_unwind(AssertUnwindSafe(|| scenario.act(t)))
                        });
                        drop(scenario);
                        if let Err(payload) = outcome {
                            let message = payload
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default();
                            failures.lock().push(format!("thread {t} panicked: {message}"));
                        }
                        for report in reports {
                            failures.lock().push(format!("thread {t}: unhandled {report}"));
                        }
                        end.wait();
                    }
                })
            })
            .collect();
        Pool { start, end, job, failures, stop, threads }
    }

    fn run(&self, scenario: &Arc<dyn Scenario>, seed: u64) {
        *self.job.lock() = Some((scenario.clone(), seed));
        self.start.wait();
        self.end.wait();
        *self.job.lock() = None;
        let failures = std::mem::take(&mut *self.failures.lock());
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.stop.store(true, SeqCst);
        self.start.wait();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Runs rounds of the scenarios `make` builds until they have done the operations asked for.
fn stress(name: &str, make: impl Fn(u64, &mut Rng) -> Arc<dyn Scenario>) {
    let target: u64 = soak_ops().unwrap_or(if soak() { 1_000_000 } else { 50_000 });
    Failure::set_backtrace_capture(false);
    let watchdog = Watchdog::new(format!("stress: {name}"), Duration::from_secs(60));
    let pool = Pool::new();
    let mut rng = Rng::new(0x5eed ^ name.len() as u64);
    let started = Instant::now();
    let (mut ops, mut round) = (0, 0);
    while ops < target {
        let scenario = make(round, &mut rng);
        pool.run(&scenario, rng.next_u64());
        scenario.check(round);
        ops += scenario.ops();
        let counter = scenario.counter().clone();
        drop(scenario);
        assert_eq!(counter.alive(), 0, "round {round}: a value or closure was never dropped");
        round += 1;
        watchdog.pet();
    }
    let took = started.elapsed();
    println!("stress {name}: {ops} operations in {round} rounds of {THREADS} threads, {took:?}");
}

/// Per step: how often it ran, and whether it saw a value.
#[derive(Default)]
struct StepLog {
    runs: AtomicUsize,
    saw_value: AtomicBool,
}

/// Steps made for a round, to check that each ran exactly once.
#[derive(Default)]
struct Steps(Mutex<Vec<Arc<StepLog>>>);

impl Steps {
    fn log(&self) -> Arc<StepLog> {
        let log = Arc::new(StepLog::default());
        self.0.lock().push(log.clone());
        log
    }

    /// A step for either track that adds 1 to a value and passes failures on.
    fn plus_one(
        &self,
        counter: &DropCounter,
    ) -> impl FnOnce(Result<V, Failure>) -> Result<V, Failure> + Send + 'static {
        let (log, counter, token) = (self.log(), counter.clone(), counter.token());
        move |r| {
            let _token = token;
            log.runs.fetch_add(1, SeqCst);
            let v = r?;
            log.saw_value.store(true, SeqCst);
            Ok(counter.wrap(*v + 1))
        }
    }

    /// A step for either track that waits on `inner` after a value and adds the two values;
    /// failures pass on (and `inner` is dropped).
    fn nest(
        &self,
        counter: &DropCounter,
        inner: Deferred<V>,
    ) -> (impl FnOnce(Result<V, Failure>) -> Step<V> + Send + 'static, Arc<StepLog>) {
        let (log, counter, token) = (self.log(), counter.clone(), counter.token());
        let seen = log.clone();
        let step = move |r: Result<V, Failure>| {
            let _token = token;
            log.runs.fetch_add(1, SeqCst);
            match r {
                Ok(x) => {
                    log.saw_value.store(true, SeqCst);
                    Step::Wait(inner.map(move |y| counter.wrap(*x + *y)))
                }
                Err(f) => Step::Fail(f),
            }
        };
        (step, seen)
    }

    /// Every step ran exactly once; returns how many saw a value.
    fn check(&self, round: u64) -> usize {
        let steps = self.0.lock();
        for (i, log) in steps.iter().enumerate() {
            assert_eq!(
                log.runs.load(SeqCst),
                1,
                "round {round}: step {i} ran a wrong number of times"
            );
        }
        steps.iter().filter(|log| log.saw_value.load(SeqCst)).count()
    }
}

/// Takes the tail in `slot`, if it is there, and puts back what `f` makes of it.
fn with_tail<T>(slot: &Mutex<Option<Deferred<T>>>, f: impl FnOnce(Deferred<T>) -> Deferred<T>) {
    let mut slot = slot.lock();
    if let Some(d) = slot.take() {
        *slot = Some(f(d));
    }
}

fn is_cancellation(f: &Failure) -> bool {
    f.check::<CancelledError>()
        || f.downcast_ref::<FirstError>().is_some_and(|e| e.failure.check::<CancelledError>())
}

// ---------------------------------------------------------------------------------------------
// One chain, shared by all eight threads.

struct SharedChain {
    counter: DropCounter,
    cancel: bool,
    tail: Mutex<Option<Deferred<V>>>,
    fire: Resolver<V>,
    inner: Mutex<Option<Deferred<V>>>,
    fire_inner: Resolver<V>,
    steps: Steps,
    nest: Mutex<Option<Arc<StepLog>>>,
    fired: [AtomicBool; 2],
    inner_fired: AtomicBool,
    result: Mutex<Option<Result<u64, Failure>>>,
    ops: AtomicU64,
}

const BASE: u64 = 1 << 40;
const INNER: u64 = 1 << 20;

impl SharedChain {
    fn new(round: u64) -> SharedChain {
        let (d, fire) = Deferred::new();
        let (inner, fire_inner) = Deferred::new();
        SharedChain {
            counter: DropCounter::new(),
            cancel: round % 3 == 0,
            tail: Mutex::new(Some(d)),
            fire,
            inner: Mutex::new(Some(inner)),
            fire_inner,
            steps: Steps::default(),
            nest: Mutex::new(None),
            fired: Default::default(),
            inner_fired: AtomicBool::new(false),
            result: Mutex::new(None),
            ops: AtomicU64::new(0),
        }
    }

    fn add_plus_one(&self) {
        with_tail(&self.tail, |d| d.add_both(self.steps.plus_one(&self.counter)));
        self.ops.fetch_add(1, SeqCst);
    }
}

impl Scenario for SharedChain {
    fn act(&self, t: usize) {
        match t {
            0 | 1 => {
                let fired = self.fire.callback(self.counter.wrap((t as u64 + 1) * BASE)).is_ok();
                self.fired[t].store(fired, SeqCst);
                self.ops.fetch_add(1, SeqCst);
            }
            2 | 3 => {
                for _ in 0..4 {
                    self.add_plus_one();
                }
                if t == 3 && self.cancel {
                    if let Some(d) = &*self.tail.lock() {
                        d.cancel();
                    }
                    self.ops.fetch_add(1, SeqCst);
                }
            }
            4 => {
                for _ in 0..3 {
                    self.fire.pause();
                    self.fire.unpause().expect("paused just before");
                    self.ops.fetch_add(2, SeqCst);
                }
            }
            5 => {
                self.add_plus_one();
                self.add_plus_one();
                let d = self.tail.lock().take().expect("only the consumer keeps the tail");
                let result = block_on(async move { d.await });
                *self.result.lock() = Some(result.map(Counted::into_inner));
                self.ops.fetch_add(1, SeqCst);
            }
            6 => {
                with_tail(&self.tail, |d| {
                    let inner = self.inner.lock().take().expect("taken once");
                    let (step, log) = self.steps.nest(&self.counter, inner);
                    *self.nest.lock() = Some(log);
                    d.add_both(step)
                });
                self.ops.fetch_add(1, SeqCst);
            }
            _ => {
                self.fire_inner.pause();
                let fired = self.fire_inner.callback(self.counter.wrap(INNER)).is_ok();
                self.fire_inner.unpause().expect("paused just before");
                self.inner_fired.store(fired, SeqCst);
                self.ops.fetch_add(3, SeqCst);
            }
        }
    }

    fn check(&self, round: u64) {
        let fired: Vec<bool> = self.fired.iter().map(|f| f.load(SeqCst)).collect();
        assert_eq!(fired.iter().filter(|&&f| f).count(), 1, "round {round}: fires {fired:?}");
        // The inner Deferred has one firer: it wins, or a cancel's grace swallows its fire.
        assert!(self.inner_fired.load(SeqCst), "round {round}");
        let nest_saw_value = self.nest.lock().as_ref().is_some_and(|n| n.saw_value.load(SeqCst));
        let values = self.steps.check(round) - usize::from(nest_saw_value);
        let result = self.result.lock().take().expect("the consumer got the result");
        match result {
            Ok(v) => {
                let winner = (v / BASE) as usize - 1;
                assert!(fired[winner], "round {round}: {v:#x} is not the winner's value");
                assert_eq!((v % BASE) / INNER, u64::from(nest_saw_value), "round {round}");
                assert_eq!(v % INNER, values as u64, "round {round}: {v:#x}");
            }
            Err(f) => assert!(self.cancel && f.check::<CancelledError>(), "round {round}: {f}"),
        }
    }

    fn ops(&self) -> u64 {
        self.ops.load(SeqCst)
    }

    fn counter(&self) -> &DropCounter {
        &self.counter
    }
}

#[test]
fn eight_threads_racing_on_one_chain_lose_and_double_nothing() {
    stress("one shared chain", |round, _| Arc::new(SharedChain::new(round)));
}

// ---------------------------------------------------------------------------------------------
// A tower: each level's step waits on the level below. Levels fire in every order.

struct Tower {
    counter: DropCounter,
    cancel: bool,
    round: u64,
    depth: usize,
    top: Mutex<Option<Deferred<V>>>,
    /// Level 0 is the top, `depth` the leaf.
    fires: Vec<Resolver<V>>,
    fired: Vec<AtomicBool>,
    steps: Steps,
    /// Steps added to the top while the round runs.
    top_steps: Steps,
    result: Mutex<Option<Result<u64, Failure>>>,
    ops: AtomicU64,
}

impl Tower {
    fn new(round: u64, rng: &mut Rng) -> Tower {
        let counter = DropCounter::new();
        let depth = 4 + rng.below(60);
        let steps = Steps::default();
        let (leaf, fire_leaf) = Deferred::<V>::new();
        let mut below = leaf.add_both(steps.plus_one(&counter));
        let mut fires = vec![fire_leaf];
        for _ in 0..depth {
            let (d, fire) = Deferred::new();
            below = d.add_both(steps.nest(&counter, below).0);
            fires.push(fire);
        }
        fires.reverse();
        Tower {
            counter,
            cancel: round % 3 == 1,
            round,
            depth,
            top: Mutex::new(Some(below)),
            fired: (0..=depth).map(|_| AtomicBool::new(false)).collect(),
            fires,
            steps,
            top_steps: Steps::default(),
            result: Mutex::new(None),
            ops: AtomicU64::new(0),
        }
    }

    fn add_to_top(&self) {
        with_tail(&self.top, |d| d.add_both(self.top_steps.plus_one(&self.counter)));
        self.ops.fetch_add(1, SeqCst);
    }
}

impl Scenario for Tower {
    fn act(&self, t: usize) {
        match t {
            0..=3 => {
                // Even threads fire their levels top-down, odd ones bottom-up.
                let mut levels: Vec<usize> = (t..=self.depth).step_by(4).collect();
                if t % 2 == 1 {
                    levels.reverse();
                }
                for k in levels {
                    let fired = self.fires[k].callback(self.counter.wrap(1)).is_ok();
                    self.fired[k].store(fired, SeqCst);
                    self.ops.fetch_add(1, SeqCst);
                }
            }
            4 => {
                let mut rng = Rng::new(self.round * 31 + 4);
                for _ in 0..8 {
                    let k = rng.below(self.depth + 1);
                    self.fires[k].pause();
                    self.fires[k].unpause().expect("paused just before");
                    self.ops.fetch_add(2, SeqCst);
                }
            }
            5 => {
                self.add_to_top();
                self.add_to_top();
                let d = self.top.lock().take().expect("only the consumer keeps the tail");
                let result = block_on(async move { d.await });
                *self.result.lock() = Some(result.map(Counted::into_inner));
                self.ops.fetch_add(1, SeqCst);
            }
            6 => {
                for _ in 0..4 {
                    self.add_to_top();
                }
                if self.cancel {
                    if let Some(d) = &*self.top.lock() {
                        d.cancel();
                    }
                    self.ops.fetch_add(1, SeqCst);
                }
            }
            _ => {
                for _ in 0..3 {
                    self.fires[0].pause();
                    self.add_to_top();
                    self.fires[0].unpause().expect("paused just before");
                    self.ops.fetch_add(2, SeqCst);
                }
            }
        }
    }

    fn check(&self, round: u64) {
        for (k, fired) in self.fired.iter().enumerate() {
            // One firer per level: it wins, or the grace of a cancel swallows its fire.
            assert!(fired.load(SeqCst), "round {round}: level {k} refused its only fire");
        }
        self.steps.check(round);
        let values = self.top_steps.check(round) as u64;
        match self.result.lock().take().expect("the consumer got the result") {
            // Every level adds its own 1 to what the level below gave, the leaf's step 1 more.
            Ok(v) => assert_eq!(v, self.depth as u64 + 2 + values, "round {round}"),
            Err(f) => assert!(self.cancel && f.check::<CancelledError>(), "round {round}: {f}"),
        }
    }

    fn ops(&self) -> u64 {
        self.ops.load(SeqCst)
    }

    fn counter(&self) -> &DropCounter {
        &self.counter
    }
}

#[test]
fn eight_threads_racing_on_nested_towers_lose_and_double_nothing() {
    stress("nested towers", |round, rng| Arc::new(Tower::new(round, rng)));
}

// ---------------------------------------------------------------------------------------------
// `ensure_deferred` tasks awaiting Deferreds that other threads fire, pause and cancel.

struct Tasks {
    counter: DropCounter,
    cancel: bool,
    round: u64,
    inputs: Vec<Resolver<V>>,
    fired: Vec<AtomicBool>,
    tasks: Vec<Mutex<Option<Deferred<V>>>>,
    bodies_done: Vec<Arc<AtomicUsize>>,
    steps: Steps,
    results: Vec<Mutex<Option<Result<u64, Failure>>>>,
    ops: AtomicU64,
}

/// Input `i` fires with a value of its own, so that sums show which inputs they add.
fn input_value(i: usize) -> u64 {
    1 << (4 * i)
}

impl Tasks {
    fn new(round: u64) -> Tasks {
        let counter = DropCounter::new();
        let (mut inputs, mut tasks, mut bodies_done) = (Vec::new(), Vec::new(), Vec::new());
        for j in 0..4 {
            let (a, fire_a) = Deferred::<V>::new();
            let (b, fire_b) = Deferred::<V>::new();
            inputs.extend([fire_a, fire_b]);
            let done = Arc::new(AtomicUsize::new(0));
            let (c, d) = (counter.clone(), done.clone());
            let task = if j == 3 {
                // A task awaiting a task.
                let first = ensure_deferred(async move { a.await });
                ensure_deferred(async move {
                    let x = first.await?;
                    let y = b.await?;
                    d.fetch_add(1, SeqCst);
                    Ok(c.wrap(*x + *y))
                })
            } else {
                ensure_deferred(async move {
                    let x = a.await?;
                    let y = b.await?;
                    d.fetch_add(1, SeqCst);
                    Ok(c.wrap(*x + *y))
                })
            };
            tasks.push(Mutex::new(Some(task)));
            bodies_done.push(done);
        }
        Tasks {
            counter,
            cancel: round % 3 == 2,
            round,
            fired: (0..8).map(|_| AtomicBool::new(false)).collect(),
            inputs,
            tasks,
            bodies_done,
            steps: Steps::default(),
            results: (0..4).map(|_| Mutex::new(None)).collect(),
            ops: AtomicU64::new(0),
        }
    }

    fn consume(&self, j: usize) {
        let d = self.tasks[j].lock().take().expect("only the consumer keeps the tail");
        let result = block_on(async move { d.await });
        *self.results[j].lock() = Some(result.map(Counted::into_inner));
        self.ops.fetch_add(1, SeqCst);
    }
}

impl Scenario for Tasks {
    fn act(&self, t: usize) {
        match t {
            0..=3 => {
                for i in [t, 7 - t] {
                    let fired = self.inputs[i].callback(self.counter.wrap(input_value(i))).is_ok();
                    self.fired[i].store(fired, SeqCst);
                    self.ops.fetch_add(1, SeqCst);
                }
            }
            4 => {
                let mut rng = Rng::new(self.round * 17 + 4);
                for _ in 0..6 {
                    let i = rng.below(8);
                    self.inputs[i].pause();
                    self.inputs[i].unpause().expect("paused just before");
                    self.ops.fetch_add(2, SeqCst);
                }
            }
            5 => {
                self.consume(0);
                self.consume(1);
            }
            6 => {
                self.consume(2);
                self.consume(3);
            }
            _ => {
                for task in &self.tasks {
                    with_tail(task, |d| d.add_both(self.steps.plus_one(&self.counter)));
                    self.ops.fetch_add(1, SeqCst);
                }
                if self.cancel {
                    for task in &self.tasks {
                        if let Some(d) = &*task.lock() {
                            d.cancel();
                        }
                        self.ops.fetch_add(1, SeqCst);
                    }
                }
            }
        }
    }

    fn check(&self, round: u64) {
        for (i, fired) in self.fired.iter().enumerate() {
            assert!(fired.load(SeqCst), "round {round}: input {i} refused its only fire");
        }
        let values = self.steps.check(round) as u64;
        let mut seen = 0;
        for j in 0..4 {
            let done = self.bodies_done[j].load(SeqCst);
            assert!(done <= 1, "round {round}: task {j}'s body finished {done} times");
            match self.results[j].lock().take().expect("the consumer got the result") {
                Ok(v) => {
                    assert_eq!(done, 1, "round {round}: task {j}");
                    let sum = input_value(2 * j) + input_value(2 * j + 1);
                    assert!(v == sum || v == sum + 1, "round {round}: task {j} gave {v:#x}");
                    seen += v - sum;
                }
                Err(f) => {
                    assert!(self.cancel && f.check::<CancelledError>(), "round {round}: {f}")
                }
            }
        }
        assert_eq!(seen, values, "round {round}: the steps added to the tasks");
    }

    fn ops(&self) -> u64 {
        self.ops.load(SeqCst)
    }

    fn counter(&self) -> &DropCounter {
        &self.counter
    }
}

#[test]
fn eight_threads_racing_on_async_tasks_lose_and_double_nothing() {
    stress("async tasks", |round, _| Arc::new(Tasks::new(round)));
}

// ---------------------------------------------------------------------------------------------
// A gather of eight inputs, a lock, a semaphore and a queue, all used from every thread.

struct Shared {
    counter: DropCounter,
    cancel: bool,
    inputs: Vec<Resolver<V>>,
    fired: Vec<AtomicBool>,
    gather: Mutex<Option<Deferred<Vec<V>>>>,
    gathered: Mutex<Option<Result<Vec<u64>, Failure>>>,
    lock: DeferredLock,
    locked: Arc<AtomicBool>,
    lock_runs: Arc<AtomicUsize>,
    semaphore: DeferredSemaphore,
    /// Runs inside the semaphore now, the most at once, and in all.
    inside: Arc<[AtomicUsize; 3]>,
    queue: DeferredQueue<V>,
    got: Mutex<Vec<u64>>,
    ops: AtomicU64,
}

const PER_THREAD: u64 = 4;

impl Shared {
    fn new(round: u64) -> Shared {
        let (ds, inputs): (Vec<_>, Vec<_>) = (0..THREADS).map(|_| Deferred::<V>::new()).unzip();
        Shared {
            counter: DropCounter::new(),
            cancel: round % 3 == 0,
            inputs,
            fired: (0..THREADS).map(|_| AtomicBool::new(false)).collect(),
            gather: Mutex::new(Some(gather_results(ds))),
            gathered: Mutex::new(None),
            lock: DeferredLock::new(),
            locked: Arc::default(),
            lock_runs: Arc::default(),
            semaphore: DeferredSemaphore::new(3).unwrap(),
            inside: Arc::default(),
            queue: DeferredQueue::new(),
            got: Mutex::new(Vec::new()),
            ops: AtomicU64::new(0),
        }
    }
}

impl Scenario for Shared {
    fn act(&self, t: usize) {
        if t == 7 && self.cancel {
            if let Some(d) = &*self.gather.lock() {
                d.cancel();
            }
            self.ops.fetch_add(1, SeqCst);
        }
        let fired = self.inputs[t].callback(self.counter.wrap(t as u64)).is_ok();
        self.fired[t].store(fired, SeqCst);

        let (locked, runs) = (self.locked.clone(), self.lock_runs.clone());
        let ran = self.lock.run(move || {
            assert!(!locked.swap(true, SeqCst), "two holders of the lock");
            std::thread::yield_now();
            locked.store(false, SeqCst);
            runs.fetch_add(1, SeqCst);
        });
        block_on(async move { ran.await }).expect("the lock's run succeeds");

        let inside = self.inside.clone();
        let ran = self.semaphore.run(move || {
            let now = inside[0].fetch_add(1, SeqCst) + 1;
            inside[1].fetch_max(now, SeqCst);
            std::thread::yield_now();
            inside[0].fetch_sub(1, SeqCst);
            inside[2].fetch_add(1, SeqCst);
        });
        block_on(async move { ran.await }).expect("the semaphore's run succeeds");

        if t < THREADS / 2 {
            for k in 0..PER_THREAD {
                self.queue.put(self.counter.wrap(t as u64 * PER_THREAD + k)).expect("unbounded");
            }
        } else {
            for _ in 0..PER_THREAD {
                let get = self.queue.get().expect("no backlog limit");
                let v = block_on(async move { get.await }).expect("a get is served");
                self.got.lock().push(v.into_inner());
            }
        }
        self.ops.fetch_add(3 + PER_THREAD, SeqCst);

        if t == 0 {
            let d = self.gather.lock().take().expect("only the consumer keeps the tail");
            let result = block_on(async move { d.await });
            *self.gathered.lock() =
                Some(result.map(|vs| vs.into_iter().map(Counted::into_inner).collect()));
            self.ops.fetch_add(1, SeqCst);
        }
    }

    fn check(&self, round: u64) {
        for (i, fired) in self.fired.iter().enumerate() {
            assert!(fired.load(SeqCst), "round {round}: input {i} refused its only fire");
        }
        match self.gathered.lock().take().expect("the consumer got the result") {
            Ok(values) => assert_eq!(values, (0..THREADS as u64).collect::<Vec<_>>()),
            Err(f) => assert!(self.cancel && is_cancellation(&f), "round {round}: {f}"),
        }
        assert_eq!(self.lock_runs.load(SeqCst), THREADS, "round {round}");
        assert_eq!(self.inside[2].load(SeqCst), THREADS, "round {round}");
        assert!(self.inside[1].load(SeqCst) <= 3, "round {round}");
        assert!(!self.lock.is_locked() && self.semaphore.tokens() == 3, "round {round}");
        let mut got = std::mem::take(&mut *self.got.lock());
        got.sort_unstable();
        let all: Vec<u64> = (0..(THREADS as u64 / 2) * PER_THREAD).collect();
        assert_eq!(got, all, "round {round}: every value put was got exactly once");
        assert_eq!((self.queue.pending(), self.queue.waiting()), (0, 0), "round {round}");
    }

    fn ops(&self) -> u64 {
        self.ops.load(SeqCst)
    }

    fn counter(&self) -> &DropCounter {
        &self.counter
    }
}

#[test]
fn eight_threads_racing_on_combinators_and_primitives_lose_and_double_nothing() {
    stress("combinators and primitives", |round, _| Arc::new(Shared::new(round)));
}
