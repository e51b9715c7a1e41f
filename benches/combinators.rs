//! `gather_results` and `DeferredList` over 10,000 inputs fired one by one, against a baseline
//! doing the same bookkeeping with one boxed callback per input, in one run.
//!
//! Run with `cargo bench --bench combinators`; `scripts/bench-table.py` turns criterion's
//! output into the table in `docs/performance.md`.
//!
//! On a shared machine, load from other processes moves criterion's medians by tens of percent
//! between variants measured a minute apart. `COMBINATORS_INTERLEAVED=300 cargo bench --bench
//! combinators` runs the same routines round-robin instead, 300 rounds of each, and prints the
//! minimum and median per input: every variant sees the same load, and the minimum is the
//! round least disturbed by it. `COMBINATORS_INPUTS` changes the number of inputs (10,000 by
//! default).
//!
//! Every variant gets its inputs ready-made, outside the timing: the Deferred variants get
//! 10,000 unfired Deferreds and their resolvers, as a caller of `gather_results` has them. The
//! timed part is the join: attaching to every input, firing the inputs one by one in order,
//! and taking the joined result. What a routine returns is dropped outside the timing.
//!
//! - `baseline`: one boxed `FnOnce(u64) + Send` per input, writing into its slot of a shared,
//!   locked `Vec<Option<u64>>` and counting down; the last one takes the vector out. This is
//!   the least a thread-safe join can do per input: a box, a call, a lock, a slot.
//! - `deferred_one_step`: no join at all, the engine's own work per input: one step added to
//!   each input (a callback that captures a value and drops the input's) and each input fired.
//! - `deferred_hand_rolled`: the join written by hand over the Deferreds, one `add_callback`
//!   per input writing into the shared slots like the baseline. The difference between it and
//!   the combinator is what the combinator itself costs.
//! - `deferred_gather_results` / `deferred_list`: the combinators.

use std::hint::black_box;
use std::sync::{Arc, OnceLock};

use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, BenchmarkId, Criterion, criterion_group};
use deferreds::{Deferred, DeferredList, Resolver, gather_results};
use parking_lot::Mutex;

/// 10,000, or `COMBINATORS_INPUTS` (to check that the cost per input does not grow with it).
fn inputs_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        std::env::var("COMBINATORS_INPUTS").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000)
    })
}

type Inputs = (Vec<Deferred<u64>>, Vec<Resolver<u64>>);

fn inputs() -> Inputs {
    (0..inputs_count()).map(|_| Deferred::<u64>::new()).unzip()
}

struct Slots {
    values: Vec<Option<u64>>,
    remaining: usize,
    done: Option<Vec<u64>>,
}

impl Slots {
    fn shared() -> Arc<Mutex<Slots>> {
        Arc::new(Mutex::new(Slots {
            values: vec![None; inputs_count()],
            remaining: inputs_count(),
            done: None,
        }))
    }

    fn store(&mut self, index: usize, value: u64) {
        self.values[index] = Some(value);
        self.remaining -= 1;
        if self.remaining == 0 {
            let values = std::mem::take(&mut self.values);
            self.done = Some(values.into_iter().map(Option::unwrap).collect());
        }
    }
}

fn baseline() -> Vec<u64> {
    let slots = Slots::shared();
    let callbacks: Vec<Box<dyn FnOnce(u64) + Send>> = (0..inputs_count())
        .map(|i| {
            let slots = slots.clone();
            Box::new(move |v: u64| slots.lock().store(i, v)) as Box<dyn FnOnce(u64) + Send>
        })
        .collect();
    for (i, callback) in callbacks.into_iter().enumerate() {
        callback(black_box(i as u64));
    }
    slots.lock().done.take().unwrap()
}

fn one_step((ds, rs): Inputs) -> Vec<Resolver<u64>> {
    for d in ds {
        // A step that captures a value, as the baseline's closures do.
        let k = black_box(1u64);
        let _ = d.map(move |v| {
            black_box(v + k);
        });
    }
    for (i, r) in rs.iter().enumerate() {
        r.callback(black_box(i as u64)).unwrap();
    }
    rs
}

fn hand_rolled((ds, rs): Inputs) -> (Vec<u64>, Vec<Resolver<u64>>) {
    let slots = Slots::shared();
    for (i, d) in ds.into_iter().enumerate() {
        let slots = slots.clone();
        let _ = d.map(move |v| slots.lock().store(i, v));
    }
    for (i, r) in rs.iter().enumerate() {
        r.callback(black_box(i as u64)).unwrap();
    }
    let values = slots.lock().done.take().unwrap();
    (values, rs)
}

fn gather((ds, rs): Inputs) -> (Vec<u64>, Vec<Resolver<u64>>) {
    let d = gather_results(ds);
    for (i, r) in rs.iter().enumerate() {
        r.callback(black_box(i as u64)).unwrap();
    }
    (d.try_result().into_result().unwrap().unwrap(), rs)
}

fn list((ds, rs): Inputs) -> (Vec<Result<u64, deferreds::Failure>>, Vec<Resolver<u64>>) {
    let d = DeferredList::new(ds).into_deferred();
    for (i, r) in rs.iter().enumerate() {
        r.callback(black_box(i as u64)).unwrap();
    }
    (d.try_result().into_result().unwrap().unwrap(), rs)
}

fn scenarios(c: &mut Criterion) {
    assert_eq!(baseline(), (0..inputs_count() as u64).collect::<Vec<_>>());
    assert_eq!(hand_rolled(inputs()).0, baseline());
    assert_eq!(gather(inputs()).0, baseline());
    assert_eq!(list(inputs()).0.into_iter().map(Result::unwrap).collect::<Vec<_>>(), baseline());

    let mut g = c.benchmark_group("gather_results");
    references(&mut g);
    g.bench_function(BenchmarkId::new("deferred_gather_results", inputs_count()), |b| {
        b.iter_batched(inputs, gather, BatchSize::LargeInput)
    });
    g.finish();

    let mut g = c.benchmark_group("deferred_list");
    references(&mut g);
    g.bench_function(BenchmarkId::new("deferred_list", inputs_count()), |b| {
        b.iter_batched(inputs, list, BatchSize::LargeInput)
    });
    g.finish();
}

/// The baseline and the two Deferred references, repeated in each group so that every ratio
/// compares runs made minutes apart at most.
fn references(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    g.bench_function(BenchmarkId::new("baseline", inputs_count()), |b| {
        b.iter_batched(|| (), |()| baseline(), BatchSize::LargeInput)
    });
    g.bench_function(BenchmarkId::new("deferred_one_step", inputs_count()), |b| {
        b.iter_batched(inputs, one_step, BatchSize::LargeInput)
    });
    g.bench_function(BenchmarkId::new("deferred_hand_rolled", inputs_count()), |b| {
        b.iter_batched(inputs, hand_rolled, BatchSize::LargeInput)
    });
}

/// The routines run round-robin, `rounds` times each; prints nanoseconds per input.
fn interleaved(rounds: usize) {
    fn timed<I, O>(setup: impl FnOnce() -> I, routine: impl FnOnce(I) -> O) -> f64 {
        let input = setup();
        let start = Instant::now();
        let output = routine(input);
        let elapsed = start.elapsed();
        drop(output);
        elapsed.as_nanos() as f64 / inputs_count() as f64
    }
    type Variant = (&'static str, fn() -> f64);
    let variants: [Variant; 5] = [
        ("baseline", || timed(|| (), |()| baseline())),
        ("deferred_one_step", || timed(inputs, one_step)),
        ("deferred_hand_rolled", || timed(inputs, hand_rolled)),
        ("deferred_gather_results", || timed(inputs, gather)),
        ("deferred_list", || timed(inputs, list)),
    ];
    let mut times = vec![Vec::with_capacity(rounds); variants.len()];
    for _ in 0..rounds {
        for (k, (_, run)) in variants.iter().enumerate() {
            times[k].push(run());
        }
    }
    println!("| variant | min per input | median per input | min ratio to baseline |");
    println!("|---|---|---|---|");
    let mut base = 0.0;
    for ((name, _), t) in variants.iter().zip(&mut times) {
        t.sort_by(f64::total_cmp);
        let (min, median) = (t[0], t[t.len() / 2]);
        if *name == "baseline" {
            base = min;
        }
        println!("| {name} | {min:.1} ns | {median:.1} ns | {:.2}× |", min / base);
    }
}

criterion_group!(benches, scenarios);

fn main() {
    if let Some(rounds) = std::env::var("COMBINATORS_INTERLEAVED").ok().and_then(|r| r.parse().ok())
    {
        interleaved(rounds);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
