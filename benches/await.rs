//! Awaiting a Deferred against awaiting a `futures::channel::oneshot` doing the same, in one run.
//!
//! Run with `cargo bench --bench await`; `scripts/bench-table.py` turns criterion's output into
//! the table in `docs/performance.md`. Each iteration is one whole await: make the channel (or
//! Deferred), fire it, and poll the receiving future to completion, with the same `Arc` waker
//! for both, polled by hand so that no executor's cost is in the figures.
//!
//! - `await_fired`: fired first, then awaited (ready at the first poll).
//! - `await_later`: awaited first (pending, registering the waker), then fired (waking it), then
//!   polled again.
//! - `ensure_deferred_later`: the same inside an `ensure_deferred` task, the task woken and
//!   re-polled by the fire, against a oneshot awaited inside the same kind of task.

use std::future::{Future, IntoFuture};
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use criterion::{Criterion, criterion_group, criterion_main};
use deferreds::{Deferred, Failure, ensure_deferred};
use futures::channel::oneshot;

/// A waker that counts its wakes, like an executor's that flags a task.
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn poll<F: Future + Unpin>(future: &mut F, cx: &mut Context<'_>) -> Poll<F::Output> {
    Pin::new(future).poll(cx)
}

fn oneshot_fired(cx: &mut Context<'_>) -> u64 {
    let (tx, rx) = oneshot::channel::<u64>();
    tx.send(black_box(7)).unwrap();
    let mut rx = rx;
    match poll(&mut rx, cx) {
        Poll::Ready(v) => v.unwrap(),
        Poll::Pending => unreachable!(),
    }
}

fn deferred_fired(cx: &mut Context<'_>) -> u64 {
    let (d, r) = Deferred::<u64>::new();
    r.callback(black_box(7)).unwrap();
    drop(r); // as `send` consumes the sender
    let mut future = d.into_future();
    match poll(&mut future, cx) {
        Poll::Ready(v) => v.unwrap(),
        Poll::Pending => unreachable!(),
    }
}

fn oneshot_later(cx: &mut Context<'_>) -> u64 {
    let (tx, rx) = oneshot::channel::<u64>();
    let mut rx = rx;
    assert!(poll(&mut rx, cx).is_pending());
    tx.send(black_box(7)).unwrap();
    match poll(&mut rx, cx) {
        Poll::Ready(v) => v.unwrap(),
        Poll::Pending => unreachable!(),
    }
}

fn deferred_later(cx: &mut Context<'_>) -> u64 {
    let (d, r) = Deferred::<u64>::new();
    let mut future = d.into_future();
    assert!(poll(&mut future, cx).is_pending());
    r.callback(black_box(7)).unwrap();
    drop(r);
    match poll(&mut future, cx) {
        Poll::Ready(v) => v.unwrap(),
        Poll::Pending => unreachable!(),
    }
}

fn task_oneshot_later() -> u64 {
    let (tx, rx) = oneshot::channel::<u64>();
    let d = ensure_deferred(async move { rx.await.map_err(Failure::new) });
    tx.send(black_box(7)).unwrap();
    d.try_result().into_result().unwrap().unwrap()
}

fn task_deferred_later() -> u64 {
    let (inner, r) = Deferred::<u64>::new();
    let d = ensure_deferred(async move { inner.await });
    r.callback(black_box(7)).unwrap();
    drop(r);
    d.try_result().into_result().unwrap().unwrap()
}

fn scenarios(c: &mut Criterion) {
    Failure::set_backtrace_capture(false);
    let counter = Arc::new(Counter(AtomicUsize::new(0)));
    let waker = Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);
    assert_eq!(oneshot_fired(&mut cx) + deferred_fired(&mut cx), 14);
    assert_eq!(oneshot_later(&mut cx) + deferred_later(&mut cx), 14);
    assert_eq!(counter.0.load(Ordering::Relaxed), 2, "each later fire wakes once");
    assert_eq!(task_oneshot_later() + task_deferred_later(), 14);

    let mut g = c.benchmark_group("await_fired");
    g.bench_function("baseline", |b| b.iter(|| oneshot_fired(&mut cx)));
    g.bench_function("deferred", |b| b.iter(|| deferred_fired(&mut cx)));
    g.finish();

    let mut g = c.benchmark_group("await_later");
    g.bench_function("baseline", |b| b.iter(|| oneshot_later(&mut cx)));
    g.bench_function("deferred", |b| b.iter(|| deferred_later(&mut cx)));
    g.finish();

    let mut g = c.benchmark_group("ensure_deferred_later");
    g.bench_function("baseline", |b| b.iter(task_oneshot_later));
    g.bench_function("deferred", |b| b.iter(task_deferred_later));
    g.finish();
}

criterion_group!(benches, scenarios);
criterion_main!(benches);
