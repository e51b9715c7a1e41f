//! What queueing the steps of a pending chain costs, by the kind of queue: the question behind
//! scenario (a)'s remaining gap (`docs/performance.md`).
//!
//! A pending Deferred's steps are added by its tail while a resolver, on any thread, may fire
//! it at any moment and must then find them. Each variant here queues ten boxed `x + k`
//! closures from one handle and takes them out from the other to run them, in one thread (as
//! in scenario (a)); the queue is created each time, as a chain's is.
//!
//! - `unsynchronized`: a `Vec` with one owner, the baseline of the other benches (no second
//!   handle could fire it);
//! - `parking_lot`: the engine's queue, an `Arc<parking_lot::Mutex<Vec<_>>>` shared by both
//!   handles, one lock round trip per step and one to take them;
//! - `std_mutex`: the same with `std::sync::Mutex`;
//! - `std_mpsc`: std's channel, a safe queue that takes no lock (`Sender` for the tail,
//!   `Receiver` for the resolver): the safe way to queue without a lock that std offers.
//!
//! Run with `cargo bench --bench step_queue`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};

type Step = Box<dyn FnOnce(u64) -> u64 + Send>;

fn step() -> Step {
    let k = black_box(1u64);
    Box::new(move |x| x + k)
}

fn unsynchronized() -> u64 {
    let mut steps: Vec<Step> = Vec::new();
    for _ in 0..10 {
        steps.push(step());
    }
    steps.into_iter().fold(black_box(0), |x, f| f(x))
}

fn parking_lot() -> u64 {
    let tail = Arc::new(parking_lot::Mutex::new(Vec::<Step>::new()));
    let resolver = tail.clone();
    for _ in 0..10 {
        tail.lock().push(step());
    }
    let steps = std::mem::take(&mut *resolver.lock());
    steps.into_iter().fold(black_box(0), |x, f| f(x))
}

fn std_mutex() -> u64 {
    let tail = Arc::new(std::sync::Mutex::new(Vec::<Step>::new()));
    let resolver = tail.clone();
    for _ in 0..10 {
        tail.lock().unwrap().push(step());
    }
    let steps = std::mem::take(&mut *resolver.lock().unwrap());
    steps.into_iter().fold(black_box(0), |x, f| f(x))
}

fn std_mpsc() -> u64 {
    let (tail, resolver) = std::sync::mpsc::channel::<Step>();
    for _ in 0..10 {
        tail.send(step()).unwrap();
    }
    resolver.try_iter().fold(black_box(0), |x, f| f(x))
}

fn queues(c: &mut Criterion) {
    for f in [unsynchronized, parking_lot, std_mutex, std_mpsc] {
        assert_eq!(f(), 10);
    }
    let mut g = c.benchmark_group("queue_ten_steps_then_run");
    g.bench_function("unsynchronized", |b| b.iter(unsynchronized));
    g.bench_function("parking_lot", |b| b.iter(parking_lot));
    g.bench_function("std_mutex", |b| b.iter(std_mutex));
    g.bench_function("std_mpsc", |b| b.iter(std_mpsc));
    g.finish();
}

criterion_group!(benches, queues);
criterion_main!(benches);
