//! The `Clock`'s timer heap against a plain `BinaryHeap` of boxed closures, in one run.
//!
//! Each scenario schedules N timers whose deadlines are a shuffled permutation, then advances
//! time once so that all of them fire, in deadline order. The baseline does the same with a
//! `BinaryHeap` of `(deadline, seq, Box<dyn FnOnce()>)` ordered by `(deadline, seq)`: no
//! handles, no cancellation, no locks. Per-timer cost is the median divided by N.
//!
//! Run with `cargo bench --features reactor --bench clock`; `scripts/bench-table.py` turns the
//! results into the table in `docs/performance.md`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use deferreds::reactor::Clock;

/// A shuffled permutation of `0..n`, as deadlines in seconds (xorshift Fisher-Yates, fixed
/// seed, so every run schedules the same order).
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

/// The baseline's entry: ordered by `(deadline, seq)`, earliest first out of the max-heap.
struct Entry {
    deadline: f64,
    seq: u64,
    f: Box<dyn FnOnce()>,
}

impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> Ordering {
        other.deadline.total_cmp(&self.deadline).then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

fn baseline(deadlines: &[f64]) {
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

fn clock(deadlines: &[f64]) {
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

fn timers(c: &mut Criterion) {
    for n in [100_000usize, 1_000_000] {
        let deadlines = shuffled_deadlines(n);
        let mut group = c.benchmark_group("timers");
        // One iteration takes ~50 ms at 100k and ~1.5 s at 1M on the reference machine.
        group.sample_size(if n > 100_000 { 10 } else { 30 });
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(if n > 100_000 { 20 } else { 10 }));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("baseline", n), &deadlines, |b, d| {
            b.iter(|| baseline(d))
        });
        group
            .bench_with_input(BenchmarkId::new("clock", n), &deadlines, |b, d| b.iter(|| clock(d)));
        group.finish();
    }
}

criterion_group!(benches, timers);
criterion_main!(benches);
