//! The Rust side of the comparison: every scenario of `README.md` on the baseline, futures-rs
//! and deferreds, timed round-robin in one process so that every variant sees the same load.
//!
//! ```sh
//! cargo run --release -- [--quick] [--only a,b,...] [--scaling] > results.jsonl
//! cargo run --release -- --profile a 1000000   # one scenario, untimed, for perf or callgrind
//! ```
//!
//! Prints one JSON object per line (scenario, size, variant, unit, median and minimum per
//! unit, rounds) on stdout; `table.py` turns the lines of every implementation into the tables
//! of `docs/performance.md`. Progress goes to stderr.
//!
//! Method: a scenario's variants are measured in rounds; each round times one batch of every
//! variant, in an order that rotates from round to round. A batch repeats the scenario often
//! enough to take about `BATCH_TARGET` (once for the big ones). The figure is the median over
//! the rounds of the batch time divided by the work in it; the minimum is printed beside it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use deferreds::reactor::Clock;
use deferreds::{Deferred, DeferredList, Failure, Resolver, ensure_deferred, gather_results, succeed};
use futures::channel::oneshot;
use futures::future::{self, BoxFuture, FutureExt, TryFutureExt};
use join::Slots;

// ---------------------------------------------------------------------------------------------
// Allocation counting, for the memory figure only (off while timing: one relaxed load).

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        // SAFETY: the caller's layout, passed through.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: allocated by `System` with this layout, through `alloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

// ---------------------------------------------------------------------------------------------
// Measurement.

/// About how long one timed batch of a small scenario takes.
const BATCH_TARGET: Duration = Duration::from_millis(2);

/// A variant: runs the scenario `iters` times and returns the time the timed part took.
type Variant<'a> = (&'static str, Box<dyn FnMut(u64) -> Duration + 'a>);

struct Options {
    quick: bool,
    only: Option<Vec<String>>,
    scaling: bool,
}

impl Options {
    fn wants(&self, scenario: &str) -> bool {
        self.only.as_ref().is_none_or(|only| only.iter().any(|s| s == scenario))
    }
}

/// Times `variants` round-robin and prints one line per variant. `units` is the work in one
/// iteration (levels, inputs, timers; 1 for the chain scenarios).
fn measure(scenario: &str, size: u64, unit: &str, units: u64, rounds: usize, mut variants: Vec<Variant<'_>>) {
    eprintln!("{scenario} (size {size}): {} variants, {rounds} rounds", variants.len());
    // Warm up and calibrate: double the batch until it takes BATCH_TARGET.
    let mut iters = Vec::new();
    for (_, run) in variants.iter_mut() {
        let mut n = 1u64;
        loop {
            let t = run(n);
            if t >= BATCH_TARGET || n >= 1 << 20 {
                break;
            }
            n *= 2;
        }
        iters.push(n);
    }
    let mut per_unit: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); variants.len()];
    for round in 0..rounds {
        for k in 0..variants.len() {
            let k = (k + round) % variants.len();
            let t = (variants[k].1)(iters[k]);
            per_unit[k].push(t.as_nanos() as f64 / (iters[k] * units) as f64);
        }
    }
    for ((name, _), mut t) in variants.iter().zip(per_unit) {
        t.sort_by(f64::total_cmp);
        let median = t[t.len() / 2];
        println!(
            "{{\"impl\": \"rust\", \"scenario\": \"{scenario}\", \"size\": {size}, \"variant\": \"{name}\", \
             \"unit\": \"{unit}\", \"median_ns\": {median:.2}, \"min_ns\": {:.2}, \"rounds\": {rounds}}}",
            t[0]
        );
    }
}

/// Times `iters` runs of `f`, all of it.
fn timed<R>(iters: u64, mut f: impl FnMut() -> R) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(f());
    }
    start.elapsed()
}

/// Times `iters` runs of `f` on inputs made by `setup` beforehand; outputs are dropped after.
fn timed_with<I, R>(iters: u64, mut setup: impl FnMut() -> I, mut f: impl FnMut(I) -> R) -> Duration {
    let inputs: Vec<I> = (0..iters).map(|_| setup()).collect();
    let mut outputs = Vec::with_capacity(iters as usize);
    let start = Instant::now();
    for input in inputs {
        outputs.push(f(input));
    }
    let elapsed = start.elapsed();
    drop(black_box(outputs));
    elapsed
}

fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

/// Polls `future` once; it must be ready by now.
fn poll_ready<F: Future + Unpin>(future: &mut F) -> F::Output {
    match poll_once(future) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!(),
    }
}

// ---------------------------------------------------------------------------------------------
// (a), (b): ten `x + 1` steps.

type Boxed = Box<dyn FnOnce(u64) -> u64>;

fn inc(x: u64) -> u64 {
    x + 1
}

/// The baseline of (a) and (b), and of (a) at N steps: boxed closures in a vector, run in order.
fn baseline_steps(n: usize) -> u64 {
    let mut steps: Vec<Boxed> = Vec::new();
    for _ in 0..n {
        steps.push(Box::new(|x| x + 1));
    }
    steps.into_iter().fold(black_box(0), |x, f| f(x))
}

fn deferred_a(n: usize) -> u64 {
    let (mut d, r) = Deferred::<u64>::new();
    for _ in 0..n {
        d = d.add_callback(|x| Ok(x + 1));
    }
    r.callback(black_box(0)).unwrap();
    drop(r);
    d.try_result().into_result().unwrap().unwrap()
}

fn deferred_b() -> u64 {
    let mut d = succeed(black_box(0u64));
    for _ in 0..10 {
        d = d.add_callback(|x| Ok(x + 1));
    }
    d.try_result().into_result().unwrap().unwrap()
}

/// Ten `map`s composed at compile time on the channel's receiver, as one would write them.
fn ten_maps(rx: oneshot::Receiver<u64>) -> impl Future<Output = u64> + Unpin {
    rx.map(Result::unwrap)
        .map(inc)
        .map(inc)
        .map(inc)
        .map(inc)
        .map(inc)
        .map(inc)
        .map(inc)
        .map(inc)
        .map(inc)
        .map(inc)
}

/// `n` `map`s added in a loop, as a Deferred's callbacks are: the type changes at every step,
/// so each one is boxed.
fn boxed_maps(rx: oneshot::Receiver<u64>, n: usize) -> BoxFuture<'static, u64> {
    let mut f: BoxFuture<'static, u64> = rx.map(Result::unwrap).boxed();
    for _ in 0..n {
        f = f.map(inc).boxed();
    }
    f
}

/// futures-rs, written as one would: ten `map`s composed at compile time, no allocation but
/// the channel's.
fn futures_a() -> u64 {
    let (tx, rx) = oneshot::channel::<u64>();
    let mut f = ten_maps(rx);
    tx.send(black_box(0)).unwrap();
    poll_ready(&mut f)
}

/// futures-rs with the steps added in a loop, as a Deferred's are: the type changes at every
/// step, so each one is boxed.
fn futures_boxed_a(n: usize) -> u64 {
    let (tx, rx) = oneshot::channel::<u64>();
    let mut f = boxed_maps(rx, n);
    tx.send(black_box(0)).unwrap();
    poll_ready(&mut f)
}

fn futures_b() -> u64 {
    let (tx, rx) = oneshot::channel::<u64>();
    tx.send(black_box(0)).unwrap();
    let mut f = ten_maps(rx);
    poll_ready(&mut f)
}

fn futures_boxed_b() -> u64 {
    let (tx, rx) = oneshot::channel::<u64>();
    tx.send(black_box(0)).unwrap();
    let mut f = boxed_maps(rx, 10);
    poll_ready(&mut f)
}

// ---------------------------------------------------------------------------------------------
// (c): four callbacks, one that fails, an errback that traps the error and recovers, three more.

#[derive(Debug)]
struct Oops;
impl fmt::Display for Oops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oops")
    }
}
impl Error for Oops {}

/// The same error carrying a backtrace, for futures-rs with capture on.
#[derive(Debug)]
struct OopsTrace(#[allow(dead_code)] std::backtrace::Backtrace);
impl fmt::Display for OopsTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oops")
    }
}
impl Error for OopsTrace {}

type BoxError = Box<dyn Error + Send + Sync>;
type BoxedTry = Box<dyn FnOnce(Result<u64, BoxError>) -> Result<u64, BoxError>>;

fn baseline_c() -> u64 {
    let mut steps: Vec<BoxedTry> = Vec::new();
    for _ in 0..4 {
        steps.push(Box::new(|r| r.map(|x| x + 1)));
    }
    steps.push(Box::new(|r| r.and_then(|_| Err(Box::new(Oops) as BoxError))));
    steps.push(Box::new(|r| match r {
        Err(e) if e.is::<Oops>() => Ok(100),
        other => other,
    }));
    for _ in 0..3 {
        steps.push(Box::new(|r| r.map(|x| x + 1)));
    }
    let mut r: Result<u64, BoxError> = Ok(black_box(0));
    for step in steps {
        r = step(r);
    }
    r.unwrap()
}

fn deferred_c() -> u64 {
    let (mut d, r) = Deferred::<u64>::new();
    for _ in 0..4 {
        d = d.add_callback(|x| Ok(x + 1));
    }
    let mut d =
        d.add_callback(|_| -> Result<u64, Failure> { Err(Failure::new(Oops)) }).add_errback(|f| {
            f.trap::<Oops>()?;
            Ok(100)
        });
    for _ in 0..3 {
        d = d.add_callback(|x| Ok(x + 1));
    }
    r.callback(black_box(0)).unwrap();
    drop(r);
    d.try_result().into_result().unwrap().unwrap()
}

fn futures_c(capture: bool) -> u64 {
    let (tx, rx) = oneshot::channel::<u64>();
    let mut f = rx
        .map(|r| Ok::<u64, BoxError>(r.unwrap()))
        .map_ok(inc)
        .map_ok(inc)
        .map_ok(inc)
        .map_ok(inc)
        .and_then(move |_| {
            let e: BoxError = if capture {
                Box::new(OopsTrace(std::backtrace::Backtrace::force_capture()))
            } else {
                Box::new(Oops)
            };
            future::ready(Err::<u64, BoxError>(e))
        })
        .or_else(|e| {
            future::ready(if e.is::<Oops>() || e.is::<OopsTrace>() { Ok(100) } else { Err(e) })
        })
        .map_ok(inc)
        .map_ok(inc)
        .map_ok(inc);
    tx.send(black_box(0)).unwrap();
    poll_ready(&mut f).unwrap()
}

// ---------------------------------------------------------------------------------------------
// (d): a tower of N Deferreds, each waiting on the next, fired from the leaf.

fn baseline_tower(levels: u64) -> u64 {
    let mut steps: Vec<Boxed> = Vec::with_capacity(levels as usize);
    for i in 0..levels {
        steps.push(Box::new(move |x| x + 1 + (i >> 63)));
    }
    steps.into_iter().fold(black_box(0), |x, f| f(x))
}

fn deferred_tower(levels: u64) -> u64 {
    let (leaf, fire) = Deferred::<u64>::new();
    let mut top = leaf;
    for _ in 0..levels {
        let inner = top;
        top = succeed(()).add_callback(move |()| inner).map(|n| n + 1);
    }
    fire.callback(black_box(0)).unwrap();
    top.try_result().into_result().unwrap().unwrap()
}

/// futures-rs: each level an `async` block awaiting the one below. Polling and dropping recurse
/// once per level, so this runs on the harness's big stack (see `main`).
fn futures_tower(levels: u64) -> u64 {
    let (tx, rx) = oneshot::channel::<u64>();
    let mut top: BoxFuture<'static, u64> = async move { rx.await.unwrap() }.boxed();
    for _ in 0..levels {
        let inner = top;
        top = async move { inner.await + 1 }.boxed();
    }
    assert!(poll_once(&mut top).is_pending());
    tx.send(black_box(0)).unwrap();
    poll_ready(&mut top)
}

// ---------------------------------------------------------------------------------------------
// (e): gather_results and DeferredList over N inputs, fired one by one in input order.

mod join {
    //! The baseline's join state, under a `std` mutex (an uncontended lock round trip costs
    //! the same two atomic operations as `parking_lot`'s, which `benches/combinators.rs` uses).
    use std::sync::Mutex;

    pub(crate) struct Slots {
        pub(crate) values: Vec<Option<u64>>,
        pub(crate) remaining: usize,
        pub(crate) done: Option<Vec<u64>>,
    }

    impl Slots {
        pub(crate) fn shared(n: usize) -> std::sync::Arc<Mutex<Slots>> {
            std::sync::Arc::new(Mutex::new(Slots { values: vec![None; n], remaining: n, done: None }))
        }

        pub(crate) fn store(&mut self, index: usize, value: u64) {
            self.values[index] = Some(value);
            self.remaining -= 1;
            if self.remaining == 0 {
                let values = std::mem::take(&mut self.values);
                self.done = Some(values.into_iter().map(Option::unwrap).collect());
            }
        }
    }
}

fn baseline_join(n: usize) -> Vec<u64> {
    let slots = Slots::shared(n);
    let callbacks: Vec<Box<dyn FnOnce(u64) + Send>> = (0..n)
        .map(|i| {
            let slots = slots.clone();
            Box::new(move |v: u64| slots.lock().unwrap().store(i, v)) as Box<dyn FnOnce(u64) + Send>
        })
        .collect();
    for (i, callback) in callbacks.into_iter().enumerate() {
        callback(black_box(i as u64));
    }
    slots.lock().unwrap().done.take().unwrap()
}

type Inputs = (Vec<Deferred<u64>>, Vec<Resolver<u64>>);

fn deferred_inputs(n: usize) -> Inputs {
    (0..n).map(|_| Deferred::<u64>::new()).unzip()
}

fn deferred_gather((ds, rs): Inputs) -> (Vec<u64>, Vec<Resolver<u64>>) {
    let d = gather_results(ds);
    for (i, r) in rs.iter().enumerate() {
        r.callback(black_box(i as u64)).unwrap();
    }
    (d.try_result().into_result().unwrap().unwrap(), rs)
}

fn deferred_list((ds, rs): Inputs) -> (Vec<Result<u64, Failure>>, Vec<Resolver<u64>>) {
    let d = DeferredList::new(ds).into_deferred();
    for (i, r) in rs.iter().enumerate() {
        r.callback(black_box(i as u64)).unwrap();
    }
    (d.try_result().into_result().unwrap().unwrap(), rs)
}

type Channels = (Vec<oneshot::Sender<u64>>, Vec<oneshot::Receiver<u64>>);

fn channels(n: usize) -> Channels {
    (0..n).map(|_| oneshot::channel::<u64>()).unzip()
}

fn futures_try_join_all((txs, rxs): Channels) -> Vec<u64> {
    let mut all = future::try_join_all(rxs);
    assert!(poll_once(&mut all).is_pending());
    for (i, tx) in txs.into_iter().enumerate() {
        tx.send(black_box(i as u64)).unwrap();
    }
    poll_ready(&mut all).unwrap()
}

fn futures_join_all((txs, rxs): Channels) -> Vec<Result<u64, oneshot::Canceled>> {
    let mut all = future::join_all(rxs);
    assert!(poll_once(&mut all).is_pending());
    for (i, tx) in txs.into_iter().enumerate() {
        tx.send(black_box(i as u64)).unwrap();
    }
    poll_ready(&mut all)
}

// ---------------------------------------------------------------------------------------------
// (f): N timers with shuffled deadlines, all fired by one advance.

/// A shuffled permutation of `0..n` milliseconds, in seconds (xorshift Fisher-Yates, fixed
/// seed; the same permutation as `benches/clock.rs` and the Twisted script).
fn shuffled_deadlines(n: usize) -> Vec<f64> {
    let mut deadlines: Vec<f64> = (0..n).map(|i| i as f64 * 1e-3).collect();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..n).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        deadlines.swap(i, (state % (i as u64 + 1)) as usize);
    }
    deadlines
}

struct Entry {
    deadline: f64,
    seq: u64,
    f: Box<dyn FnOnce()>,
}

impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> CmpOrdering {
        other.deadline.total_cmp(&self.deadline).then_with(|| other.seq.cmp(&self.seq))
    }
}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}
impl Eq for Entry {}

fn baseline_timers(deadlines: &[f64]) {
    let mut heap = BinaryHeap::new();
    for (seq, &deadline) in deadlines.iter().enumerate() {
        let f: Box<dyn FnOnce()> = Box::new(move || {
            black_box(seq);
        });
        heap.push(Entry { deadline, seq: seq as u64, f });
    }
    let now = deadlines.len() as f64;
    while heap.peek().is_some_and(|e| e.deadline <= now) {
        let entry = heap.pop().unwrap();
        (entry.f)();
    }
}

fn clock_timers(deadlines: &[f64]) {
    let clock = Clock::new();
    for (seq, &deadline) in deadlines.iter().enumerate() {
        clock
            .call_later(deadline, move || {
                black_box(seq);
            })
            .unwrap();
    }
    clock.advance(deadlines.len() as f64);
}

// ---------------------------------------------------------------------------------------------
// Awaiting: a future awaits a pending Deferred (channel), which is then fired.

/// The baseline: the continuation boxed into a slot, then called by the fire.
fn baseline_await() -> u64 {
    let value = black_box(7u64);
    let offset = black_box(0u64);
    let mut slot: Option<Box<dyn FnOnce(u64) -> u64>> = Some(Box::new(move |v| v + offset));
    black_box(&mut slot).take().unwrap()(value)
}

fn futures_await() -> u64 {
    let (tx, rx) = oneshot::channel::<u64>();
    let mut f = async move { rx.await.unwrap() }.boxed();
    assert!(poll_once(&mut f).is_pending());
    tx.send(black_box(7)).unwrap();
    poll_ready(&mut f)
}

fn deferred_await() -> u64 {
    let (d, r) = Deferred::<u64>::new();
    let mut f = async move { d.await.unwrap() }.boxed();
    assert!(poll_once(&mut f).is_pending());
    r.callback(black_box(7)).unwrap();
    drop(r);
    poll_ready(&mut f)
}

/// The same inside an `ensure_deferred` task (Twisted's `ensureDeferred`, a Node `async`
/// function): no executor, the fire's wake re-polls the task.
fn deferred_await_task() -> u64 {
    let (inner, r) = Deferred::<u64>::new();
    let d = ensure_deferred(async move { inner.await });
    r.callback(black_box(7)).unwrap();
    drop(r);
    d.try_result().into_result().unwrap().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Memory: heap bytes per pending item holding one callback, with its firing handle kept.

fn report_memory() {
    const N: usize = 100_000;
    fn per_item<T>(make: impl Fn() -> T) -> usize {
        let mut keep = Vec::with_capacity(N);
        ALLOCATED.store(0, Ordering::Relaxed);
        COUNTING.store(true, Ordering::Relaxed);
        for _ in 0..N {
            keep.push(make());
        }
        COUNTING.store(false, Ordering::Relaxed);
        let bytes = ALLOCATED.load(Ordering::Relaxed);
        drop(keep);
        bytes / N
    }
    let deferred = per_item(|| {
        let (d, r) = Deferred::<u64>::new();
        (d.add_callback(|x| Ok(x + 1)), r)
    });
    let futures = per_item(|| {
        let (tx, rx) = oneshot::channel::<u64>();
        (rx.map(|r| r.map(inc)), tx)
    });
    let futures_boxed = per_item(|| {
        let (tx, rx) = oneshot::channel::<u64>();
        (rx.map(|r| r.map(inc)).boxed(), tx)
    });
    for (variant, bytes, inline) in [
        ("deferreds", deferred, size_of::<(Deferred<u64>, Resolver<u64>)>()),
        ("futures", futures, size_of::<(future::Map<oneshot::Receiver<u64>, fn(Result<u64, oneshot::Canceled>) -> Result<u64, oneshot::Canceled>>, oneshot::Sender<u64>)>()),
        ("futures_boxed", futures_boxed, size_of::<(BoxFuture<'static, u64>, oneshot::Sender<u64>)>()),
    ] {
        println!(
            "{{\"impl\": \"rust\", \"scenario\": \"memory\", \"size\": 1, \"variant\": \"{variant}\", \
             \"unit\": \"bytes\", \"bytes\": {bytes}, \"handles_bytes\": {inline}}}"
        );
    }
}

// ---------------------------------------------------------------------------------------------

/// The costs that the lower bounds in `docs/performance.md` are made of, measured in the same
/// run: an uncontended `parking_lot` lock round trip, one atomic read-modify-write, and a
/// 16-byte allocation and free.
fn unit_costs(opts: &Options) {
    let lock = parking_lot::Mutex::new(0u64);
    let counter = AtomicUsize::new(0);
    let rounds = if opts.quick { 11 } else { 41 };
    measure("unit", 1, "op", 1, rounds, vec![
        ("lock_round_trip", Box::new(|n| timed(n, || *black_box(&lock).lock() += 1))),
        ("atomic_rmw", Box::new(|n| timed(n, || black_box(&counter).fetch_add(1, Ordering::AcqRel)))),
        ("alloc_free_16", Box::new(|n| timed(n, || drop(black_box(Box::new([0u64; 2])))))),
    ]);
}

/// Runs one scenario `iters` times untimed, for `perf record` and `valgrind --tool=callgrind`.
fn profile(scenario: &str, iters: u64) {
    Failure::set_backtrace_capture(false);
    let deadlines = if scenario.starts_with('f') { shuffled_deadlines(100_000) } else { Vec::new() };
    let mut sum = 0u64;
    for _ in 0..iters {
        sum += match scenario {
            "a" => deferred_a(10),
            "a_baseline" => baseline_steps(10),
            "b" => deferred_b(),
            "c_off" => deferred_c(),
            "c_baseline" => baseline_c(),
            "d" => deferred_tower(10_000),
            "d_baseline" => baseline_tower(10_000),
            "e_gather" => deferred_gather(deferred_inputs(10_000)).0.len() as u64,
            "e_list" => deferred_list(deferred_inputs(10_000)).0.len() as u64,
            "e_baseline" => baseline_join(10_000).len() as u64,
            "f" => {
                clock_timers(&deadlines);
                0
            }
            "f_baseline" => {
                baseline_timers(&deadlines);
                0
            }
            "await" => deferred_await(),
            "await_task" => deferred_await_task(),
            other => panic!("no scenario {other} to profile"),
        };
    }
    println!("{sum}");
}

fn run(opts: &Options) {
    Failure::set_backtrace_capture(false);
    if opts.wants("unit") {
        unit_costs(opts);
    }
    let r = |full: usize| if opts.quick { full.div_ceil(4).max(3) } else { full };
    // Rounds for the scenarios whose size is a count of levels, inputs or steps.
    let sized = |size: u64| r(if size >= 1_000_000 { 7 } else if size >= 100_000 { 15 } else { 31 });

    // Check that every variant computes the same thing before timing any.
    assert_eq!(baseline_steps(10), 10);
    assert_eq!(deferred_a(10), 10);
    assert_eq!(futures_a(), 10);
    assert_eq!(futures_boxed_a(10), 10);
    assert_eq!(deferred_b() + futures_b() + futures_boxed_b(), 30);
    assert_eq!(baseline_c(), 103);
    assert_eq!(deferred_c(), 103);
    assert_eq!(futures_c(false) + futures_c(true), 206);
    assert_eq!(baseline_tower(100) + deferred_tower(100) + futures_tower(100), 300);
    assert_eq!(baseline_join(100), deferred_gather(deferred_inputs(100)).0);
    assert_eq!(futures_try_join_all(channels(100)), baseline_join(100));
    assert_eq!(deferred_list(deferred_inputs(100)).0.len(), futures_join_all(channels(100)).len());
    assert_eq!(baseline_await() + futures_await() + deferred_await() + deferred_await_task(), 28);

    if opts.wants("a") {
        measure("a", 10, "chain", 1, r(41), vec![
            ("baseline", Box::new(|n| timed(n, || baseline_steps(10)))),
            ("futures", Box::new(|n| timed(n, futures_a))),
            ("futures_boxed", Box::new(|n| timed(n, || futures_boxed_a(10)))),
            ("deferreds", Box::new(|n| timed(n, || deferred_a(10)))),
        ]);
    }
    if opts.wants("b") {
        measure("b", 10, "chain", 1, r(41), vec![
            ("baseline", Box::new(|n| timed(n, || baseline_steps(10)))),
            ("futures", Box::new(|n| timed(n, futures_b))),
            ("futures_boxed", Box::new(|n| timed(n, futures_boxed_b))),
            ("deferreds", Box::new(|n| timed(n, deferred_b))),
        ]);
    }
    if opts.wants("c_off") {
        measure("c_off", 10, "chain", 1, r(41), vec![
            ("baseline", Box::new(|n| timed(n, baseline_c))),
            ("futures", Box::new(|n| timed(n, || futures_c(false)))),
            ("deferreds", Box::new(|n| timed(n, deferred_c))),
        ]);
    }
    if opts.wants("c_on") {
        measure("c_on", 10, "chain", 1, r(21), vec![
            ("baseline", Box::new(|n| timed(n, baseline_c))),
            ("futures", Box::new(|n| timed(n, || futures_c(true)))),
            (
                "deferreds",
                Box::new(|n| {
                    Failure::set_backtrace_capture(true);
                    let t = timed(n, deferred_c);
                    Failure::set_backtrace_capture(false);
                    t
                }),
            ),
        ]);
    }
    let sizes: &[u64] = if opts.scaling { &[1_000, 10_000, 100_000, 1_000_000] } else { &[10_000, 100_000, 1_000_000] };
    if opts.wants("d") {
        for &levels in sizes {
            let rounds = sized(levels);
            measure("d", levels, "level", levels, rounds, vec![
                ("baseline", Box::new(move |n| timed(n, || baseline_tower(levels)))),
                ("futures", Box::new(move |n| timed(n, || futures_tower(levels)))),
                ("deferreds", Box::new(move |n| timed(n, || deferred_tower(levels)))),
            ]);
        }
    }
    let e_sizes: &[u64] = if opts.scaling { &[1_000, 10_000, 100_000, 1_000_000] } else { &[10_000] };
    if opts.wants("e") {
        for &inputs in e_sizes {
            let n = inputs as usize;
            let rounds = sized(inputs);
            measure("e_gather", inputs, "input", inputs, rounds, vec![
                ("baseline", Box::new(move |k| timed(k, || baseline_join(n)))),
                ("futures", Box::new(move |k| timed_with(k, || channels(n), futures_try_join_all))),
                ("deferreds", Box::new(move |k| timed_with(k, || deferred_inputs(n), deferred_gather))),
            ]);
            measure("e_list", inputs, "input", inputs, rounds, vec![
                ("baseline", Box::new(move |k| timed(k, || baseline_join(n)))),
                ("futures", Box::new(move |k| timed_with(k, || channels(n), futures_join_all))),
                ("deferreds", Box::new(move |k| timed_with(k, || deferred_inputs(n), deferred_list))),
            ]);
        }
    }
    let f_sizes: &[u64] = if opts.scaling { &[1_000, 10_000, 100_000, 1_000_000] } else { &[100_000, 1_000_000] };
    if opts.wants("f") {
        for &timers in f_sizes {
            let deadlines = Arc::new(shuffled_deadlines(timers as usize));
            let (d1, d2) = (deadlines.clone(), deadlines.clone());
            let rounds = r(if timers >= 1_000_000 { 5 } else if timers >= 100_000 { 11 } else { 31 });
            measure("f", timers, "timer", timers, rounds, vec![
                ("baseline", Box::new(move |n| timed(n, || baseline_timers(&d1)))),
                ("deferreds", Box::new(move |n| timed(n, || clock_timers(&d2)))),
            ]);
        }
    }
    if opts.scaling && opts.wants("a") {
        for steps in [1_000usize, 10_000, 100_000, 1_000_000] {
            let rounds = sized(steps as u64);
            measure("a_steps", steps as u64, "step", steps as u64, rounds, vec![
                ("baseline", Box::new(move |n| timed(n, || baseline_steps(steps)))),
                ("deferreds", Box::new(move |n| timed(n, || deferred_a(steps)))),
            ]);
        }
    }
    if opts.wants("await") {
        measure("await", 1, "await", 1, r(41), vec![
            ("baseline", Box::new(|n| timed(n, baseline_await))),
            ("futures", Box::new(|n| timed(n, futures_await))),
            ("deferreds", Box::new(|n| timed(n, deferred_await))),
            ("deferreds_task", Box::new(|n| timed(n, deferred_await_task))),
        ]);
    }
    if opts.wants("memory") {
        report_memory();
    }
}

fn main() {
    let mut opts = Options { quick: false, only: None, scaling: false };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--profile" => {
                let scenario = args.next().expect("--profile SCENARIO ITERS");
                let iters = args.next().and_then(|n| n.parse().ok()).expect("--profile SCENARIO ITERS");
                return profile(&scenario, iters);
            }
            "--quick" => opts.quick = true,
            "--scaling" => opts.scaling = true,
            "--only" => {
                opts.only = args.next().map(|s| s.split(',').map(str::to_owned).collect());
            }
            other => {
                eprintln!("unknown argument {other}; usage: deferreds-compare [--quick] [--scaling] [--only unit,a,b,c_off,c_on,d,e,f,await,memory] | --profile SCENARIO ITERS");
                std::process::exit(2);
            }
        }
    }
    // futures-rs polls and drops a tower recursively, once per level: a million levels need
    // far more than the main thread's 8 MiB. Deferreds need no such stack (their tests run a
    // million levels on 256 KiB); everything runs on this thread so that every variant gets
    // the same.
    std::thread::Builder::new()
        .stack_size(4 << 30)
        .spawn(move || run(&opts))
        .expect("spawn the harness thread")
        .join()
        .expect("the harness panicked");
}
