//! The core engine against a `Vec<Box<dyn FnOnce>>` baseline doing the same work, in one run.
//!
//! Run with `cargo bench --bench core`; `scripts/bench-table.py` turns criterion's output into
//! the ratio table in `docs/performance.md`. Each scenario's baseline is named beside it.
//!
//! The same scenarios, against futures-rs, Twisted and Node as well and timed round-robin, are
//! in `bench/compare` (see its README).

use std::alloc::{GlobalAlloc, Layout, System};
use std::error::Error;
use std::fmt;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use deferreds::{Deferred, Failure, Resolver, gather_results, succeed};

/// Counts bytes requested, for the memory figure.
struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the layout is passed through unchanged from the caller's contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with this layout, through `alloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

type Boxed = Box<dyn FnOnce(u64) -> u64>;

// Every closure here, on both sides, captures a value (`black_box(1)`), as a callback that
// uses state does: a closure that captures nothing is a zero-sized type, whose `Box` does not
// allocate, which would flatter the baseline (and the Deferreds too).

/// The baseline for (a): ten boxed `x + k` closures in a vector, then run in order.
fn baseline_ten() -> u64 {
    let mut steps: Vec<Boxed> = Vec::new();
    for _ in 0..10 {
        let k = black_box(1u64);
        steps.push(Box::new(move |x| x + k));
    }
    steps.into_iter().fold(black_box(0), |x, f| f(x))
}

fn a_new_add_fire_read() -> u64 {
    let (d, r) = Deferred::<u64>::new();
    let mut d = d;
    for _ in 0..10 {
        let k = black_box(1u64);
        d = d.add_callback(move |x| Ok(x + k));
    }
    r.callback(black_box(0)).unwrap();
    drop(r);
    d.try_result().into_result().unwrap().unwrap()
}

/// The baseline for (b): the value is there, and each boxed closure is called as it is added.
fn baseline_call_ten() -> u64 {
    let mut x = black_box(0u64);
    for _ in 0..10 {
        let k = black_box(1u64);
        let f: Boxed = Box::new(move |x| x + k);
        x = black_box(f)(x);
    }
    x
}

/// (b) as its target states it: fired, its resolver kept while the steps are added.
fn b_fire_then_add() -> u64 {
    let (d, r) = Deferred::<u64>::new();
    r.callback(black_box(0)).unwrap();
    let mut d = d;
    for _ in 0..10 {
        let k = black_box(1u64);
        d = d.add_callback(move |x| Ok(x + k));
    }
    let n = d.try_result().into_result().unwrap().unwrap();
    drop(r);
    n
}

/// (b) from `succeed`: no chain at all.
fn b_succeed_then_add() -> u64 {
    let mut d = succeed(black_box(0u64));
    for _ in 0..10 {
        let k = black_box(1u64);
        d = d.add_callback(move |x| Ok(x + k));
    }
    d.try_result().into_result().unwrap().unwrap()
}

#[derive(Debug)]
struct Oops;
impl fmt::Display for Oops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oops")
    }
}
impl Error for Oops {}

type BoxedTry = Box<dyn FnOnce(Result<u64, Box<dyn Error>>) -> Result<u64, Box<dyn Error>>>;

/// The baseline for (c): the same nine steps on `Result`, with a boxed error.
fn baseline_errback() -> u64 {
    let mut steps: Vec<BoxedTry> = Vec::new();
    for _ in 0..4 {
        let k = black_box(1u64);
        steps.push(Box::new(move |r| r.map(|x| x + k)));
    }
    let k = black_box(1u64);
    steps.push(Box::new(move |r| {
        black_box(k);
        r.and_then(|_| Err(Box::new(Oops) as Box<dyn Error>))
    }));
    let k = black_box(100u64);
    steps.push(Box::new(move |r| match r {
        Err(e) if e.is::<Oops>() => Ok(k),
        other => other,
    }));
    for _ in 0..3 {
        let k = black_box(1u64);
        steps.push(Box::new(move |r| r.map(|x| x + k)));
    }
    let mut r: Result<u64, Box<dyn Error>> = Ok(black_box(0));
    for step in steps {
        r = step(r);
    }
    r.unwrap()
}

fn c_errback_path() -> u64 {
    let (d, r) = Deferred::<u64>::new();
    let mut d = d;
    for _ in 0..4 {
        let k = black_box(1u64);
        d = d.add_callback(move |x| Ok(x + k));
    }
    let k = black_box(1u64);
    let fails = move |_| -> Result<u64, Failure> {
        black_box(k);
        Err(Failure::new(Oops))
    };
    let k = black_box(100u64);
    let mut d = d.add_callback(fails).add_errback(move |f| {
        f.trap::<Oops>()?;
        Ok(k)
    });
    for _ in 0..3 {
        let k = black_box(1u64);
        d = d.add_callback(move |x| Ok(x + k));
    }
    r.callback(black_box(0)).unwrap();
    drop(r);
    d.try_result().into_result().unwrap().unwrap()
}

/// The baseline for (d): one boxed closure per level, each owning its level's state, run in
/// order. A level of the tower is a Deferred of its own, so the baseline pays one allocation
/// per level too.
fn baseline_tower(levels: u64) -> u64 {
    let mut steps: Vec<Boxed> = Vec::with_capacity(levels as usize);
    for i in 0..levels {
        steps.push(Box::new(move |x| x + 1 + (i >> 63)));
    }
    steps.into_iter().fold(black_box(0), |x, f| f(x))
}

fn d_tower(levels: u64) -> u64 {
    let (leaf, fire) = Deferred::<u64>::new();
    let mut top = leaf;
    for _ in 0..levels {
        let inner = top;
        top = succeed(()).add_callback(move |()| inner).map(|n| n + 1);
    }
    fire.callback(black_box(0)).unwrap();
    top.try_result().into_result().unwrap().unwrap()
}

/// The baseline for (e): one boxed closure, dropped without being run.
fn baseline_drop_one() {
    let k = black_box(1u64);
    let step: Boxed = Box::new(move |x| x + k);
    drop(black_box(step));
}

/// A pending Deferred with one callback, dropped with its resolver: the chain owns a step, so
/// its drop goes through the iterative drop.
fn e_drop_pending_one_step() {
    let (d, r) = Deferred::<u64>::new();
    let k = black_box(1u64);
    let d = d.add_callback(move |x| Ok(x + k));
    drop(black_box(d));
    drop(r);
}

/// Cancelling a pending Deferred without a canceller, and taking its failure.
fn e_cancel_no_canceller() -> bool {
    let (d, _r) = Deferred::<u64>::new();
    d.cancel();
    matches!(d.try_result(), deferreds::TryResult::Failure(_))
}

/// Cancelling a pending Deferred whose canceller does nothing, and taking its failure.
fn e_cancel_with_canceller() -> bool {
    let (d, _r) = Deferred::<u64>::with_canceller(|_: &Resolver<u64>| {});
    d.cancel();
    matches!(d.try_result(), deferreds::TryResult::Failure(_))
}

/// Cancelling `gather_results` over ten pending Deferreds, and taking its failure.
fn e_cancel_gather10() -> bool {
    let inputs = (0..10).map(|_| Deferred::<u64>::new().0);
    let d = gather_results(inputs);
    d.cancel();
    matches!(d.try_result(), deferreds::TryResult::Failure(_))
}

/// Creating a plain failure and dropping it: the cost every errback path pays.
fn f_failure_new_drop() {
    drop(black_box(Failure::new(black_box(Oops))));
}

/// The same with a message, whose error owns a `String`.
fn f_failure_msg_drop() {
    drop(black_box(Failure::msg(black_box("oops"))));
}

/// A failure wrapping another, as a combinator's `FirstError` does, dropped.
fn f_failure_nested_drop() {
    let inner = Failure::new(black_box(Oops));
    drop(black_box(Failure::new(deferreds::FirstError { index: 0, failure: inner })));
}

fn scenarios(c: &mut Criterion) {
    Failure::set_backtrace_capture(false);
    assert_eq!(a_new_add_fire_read(), 10);
    assert_eq!(b_fire_then_add(), 10);
    assert_eq!(b_succeed_then_add(), 10);
    assert_eq!(baseline_call_ten(), 10);
    assert_eq!(c_errback_path(), 103);
    assert_eq!(baseline_errback(), 103);
    assert!(e_cancel_no_canceller() && e_cancel_with_canceller() && e_cancel_gather10());

    // One group per scenario, with the baseline beside each variant.
    let mut g = c.benchmark_group("a_new_add10_fire_read");
    g.bench_function("baseline", |b| b.iter(baseline_ten));
    g.bench_function("deferred", |b| b.iter(a_new_add_fire_read));
    g.finish();
    let mut g = c.benchmark_group("b_fire_then_add10_read");
    g.bench_function("baseline", |b| b.iter(baseline_call_ten));
    g.bench_function("deferred", |b| b.iter(b_fire_then_add));
    g.bench_function("deferred_succeed", |b| b.iter(b_succeed_then_add));
    g.finish();
    let mut g = c.benchmark_group("c_errback_path");
    g.bench_function("baseline", |b| b.iter(baseline_errback));
    g.bench_function("deferred_capture_off", |b| b.iter(c_errback_path));
    Failure::set_backtrace_capture(true);
    g.bench_function("deferred_capture_on", |b| b.iter(c_errback_path));
    Failure::set_backtrace_capture(false);
    g.finish();

    let mut g = c.benchmark_group("e_cancel_and_drop");
    g.bench_function("baseline", |b| b.iter(baseline_drop_one));
    g.bench_function("drop_pending_one_step", |b| b.iter(e_drop_pending_one_step));
    g.bench_function("cancel_no_canceller", |b| b.iter(e_cancel_no_canceller));
    g.bench_function("cancel_with_canceller", |b| b.iter(e_cancel_with_canceller));
    g.bench_function("cancel_gather10", |b| b.iter(e_cancel_gather10));
    g.finish();

    let mut g = c.benchmark_group("f_failure");
    g.bench_function("new_drop", |b| b.iter(f_failure_new_drop));
    g.bench_function("msg_drop", |b| b.iter(f_failure_msg_drop));
    g.bench_function("nested_drop", |b| b.iter(f_failure_nested_drop));
    g.finish();

    // Throughput in levels, so that criterion also prints the cost per level.
    let mut g = c.benchmark_group("d_tower");
    for levels in [10_000u64, 100_000, 1_000_000] {
        // A million levels take about a second per iteration on the reference machine.
        let big = levels >= 1_000_000;
        g.sample_size(if big { 10 } else { 20 });
        g.measurement_time(Duration::from_secs(if big { 30 } else { 5 }));
        g.throughput(Throughput::Elements(levels));
        g.bench_with_input(BenchmarkId::new("baseline", levels), &levels, |b, &n| {
            b.iter(|| baseline_tower(n))
        });
        g.bench_with_input(BenchmarkId::new("deferred", levels), &levels, |b, &n| {
            b.iter(|| d_tower(n))
        });
    }
    g.finish();

    report_memory();
}

/// Bytes per pending `Deferred<u64>` holding one callback, with its resolver: the heap it
/// allocates, and what its holder keeps inline (the `Deferred` and the `Resolver`).
fn report_memory() {
    const N: usize = 100_000;
    let mut keep = Vec::with_capacity(N);
    let before = ALLOCATED.load(Ordering::Relaxed);
    for _ in 0..N {
        let (d, r) = Deferred::<u64>::new();
        let k = black_box(1u64);
        keep.push((d.add_callback(move |x| Ok(x + k)), r));
    }
    let heap = (ALLOCATED.load(Ordering::Relaxed) - before) / N;
    let inline = std::mem::size_of::<(Deferred<u64>, Resolver<u64>)>();
    println!(
        "memory/pending_deferred_u64_one_callback: {} bytes ({heap} heap + {inline} inline)",
        heap + inline
    );
    drop(keep);
}

criterion_group!(benches, scenarios);
criterion_main!(benches);
