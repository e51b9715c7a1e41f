//! What one observer of a `SharedDeferred` costs, against the engine's floor for one step, in
//! one run.
//!
//! Run with `cargo bench --bench share`; `scripts/bench-table.py` turns criterion's output
//! into the table in `docs/performance.md`.
//!
//! Every variant handles 1,000 items, and reports its cost per item (criterion's throughput in
//! elements). The timed part makes the Deferreds, fires, and reads every result; what a
//! routine returns is dropped outside the timing.
//!
//! - `baseline`: the engine's floor for one step: a pending Deferred (`Deferred::new`), one
//!   `map` added, fired, read. Per item, one chain and one step, which is what an observer is.
//! - `observers_before`: one shared Deferred, 1,000 observers made while it is pending (each
//!   with one `map`), the source fired once, every observer read.
//! - `observers_after`: the same with the source fired first: each observer has the result at
//!   once, and its `map` runs inside the call.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use deferreds::Deferred;
use deferreds::testing::success_result_of;

const ITEMS: usize = 1_000;

fn one_step_each() -> u64 {
    let mut total = 0;
    for i in 0..ITEMS as u64 {
        let (d, r) = Deferred::<u64>::new();
        let d = d.map(|n| n + 1);
        r.callback(i).unwrap();
        total += success_result_of(d);
    }
    total
}

fn observers_before() -> u64 {
    let (d, r) = Deferred::<u64>::new();
    let shared = d.share();
    let observers: Vec<_> = (0..ITEMS).map(|_| shared.observe().map(|n| n + 1)).collect();
    r.callback(1).unwrap();
    observers.into_iter().map(success_result_of).sum()
}

fn observers_after() -> u64 {
    let shared = deferreds::succeed(1u64).share();
    (0..ITEMS).map(|_| success_result_of(shared.observe().map(|n| n + 1))).sum()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("share_per_observer");
    group.throughput(Throughput::Elements(ITEMS as u64));
    group.bench_function("baseline", |b| {
        b.iter_batched(|| (), |()| black_box(one_step_each()), BatchSize::SmallInput)
    });
    group.bench_function("observers_before", |b| {
        b.iter_batched(|| (), |()| black_box(observers_before()), BatchSize::SmallInput)
    });
    group.bench_function("observers_after", |b| {
        b.iter_batched(|| (), |()| black_box(observers_after()), BatchSize::SmallInput)
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
