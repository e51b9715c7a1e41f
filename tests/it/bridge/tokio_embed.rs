//! Deferreds inside tokio: `TokioTime` on tokio's clock (paused and real), and futures spawned
//! on the runtime as Deferreds whose cancel aborts the task.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use deferreds::reactor::{LoopingCall, Time, TimeoutError, defer_later};
use deferreds::testing::{Recorder, assert_no_result, capture_unhandled};
use deferreds::tokio::{TokioTime, spawn, spawn_on};
use deferreds::{CancelledError, Deferred, Failure, PanicError};

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test(start_paused = true)]
async fn tokio_time_follows_the_paused_clock_and_runs_calls_when_it_advances() {
    let time = TokioTime::new();
    let log = Recorder::new();
    let l = log.clone();
    time.call_later(HOUR, move || l.record("an hour")).unwrap();
    let later = defer_later(&time, 10.0, || Ok("ten seconds"));
    assert_eq!(time.seconds(), 0.0);
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(time.seconds(), 10.0);
    assert_eq!(later.await.unwrap(), "ten seconds");
    assert!(log.events().is_empty());
    tokio::time::sleep(HOUR).await; // paused: jumps
    assert_eq!(log.take(), ["an hour"]);
    assert!(time.pending_calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn add_timeout_and_looping_call_run_on_tokio_time() {
    let time = TokioTime::new();
    let (poem, _server) = Deferred::<String>::new();
    let poem = poem.add_timeout(Duration::from_secs(5), &time);
    let failure = poem.await.unwrap_err();
    assert_eq!(failure.downcast_ref::<TimeoutError>().unwrap().timeout(), 5.0);
    assert_eq!(time.seconds(), 5.0, "the paused runtime moved straight to the timeout");

    let log = Recorder::new();
    let (l, t) = (log.clone(), time.clone());
    let lc = LoopingCall::new(time.clone(), move || l.record(format!("{}", t.seconds() - 5.0)));
    let done = lc.start(Duration::from_secs(2), true).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    lc.stop().unwrap();
    assert_eq!(done.await.unwrap(), lc);
    assert_eq!(log.take(), ["0", "2", "4"]);
}

#[tokio::test(start_paused = true)]
async fn a_call_scheduled_earlier_than_the_one_slept_for_runs_on_time() {
    let time = TokioTime::new();
    time.call_later(HOUR, || ()).unwrap();
    tokio::task::yield_now().await; // the driver now sleeps until the hour
    let early = defer_later(&time, 1.0, || Ok(()));
    early.await.unwrap();
    assert_eq!(time.seconds(), 1.0);
}

#[test]
fn tokio_time_is_driven_from_other_threads_on_a_real_clock() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    let time = TokioTime::with_handle(runtime.handle());
    let t = time.clone();
    let d = std::thread::spawn(move || {
        defer_later(&t, 0.01, || Ok(std::thread::current().name().map(str::to_owned)))
    })
    .join()
    .unwrap();
    let ran_on = futures::executor::block_on(async { d.await }).unwrap();
    assert_ne!(ran_on, std::thread::current().name().map(str::to_owned));
    assert!(time.seconds() >= 0.01);
}

#[test]
fn a_panicking_call_is_reported_and_the_next_calls_still_run() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    // A current-thread runtime runs its tasks inside `block_on`, on this thread: the capture
    // sees the report.
    let (outcome, reports) = capture_unhandled(|| {
        runtime.block_on(async {
            let time = TokioTime::new();
            time.call_later(1.0, || panic!("timer went off badly")).unwrap();
            let after = defer_later(&time, 1.0, || Ok("still running"));
            after.await
        })
    });
    assert_eq!(outcome.unwrap(), "still running");
    assert_eq!(reports.len(), 1);
    assert!(reports[0].failure().check::<PanicError>());
    assert_eq!(reports[0].failure().error_message(), "timer went off badly");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_handle_discards_pending_calls() {
    let time = TokioTime::new();
    let call = time.call_later(1.0, || unreachable!("discarded")).unwrap();
    let weak = time.downgrade().unwrap();
    drop(time);
    assert!(call.cancelled());
    assert!(weak.upgrade().is_none());
    tokio::time::sleep(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn spawn_fires_the_deferred_with_the_tasks_output_and_a_panic_as_a_failure() {
    let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
    let d = spawn(async move { rx.await.unwrap() + 1 }).map(|n| n * 2);
    tx.send(20).unwrap();
    assert_eq!(d.await.unwrap(), 42);

    let d = spawn(async {
        tokio::task::yield_now().await;
        panic!("task blew up")
    });
    let failure: Failure = d.await.unwrap_err();
    assert!(failure.check::<PanicError>());
    assert_eq!(failure.error_message(), "task blew up");
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_deferred_aborts_the_task_so_its_work_stops() {
    let finished = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let (f, guard) = (finished.clone(), Flag(dropped.clone()));
    let d = spawn(async move {
        let _guard = guard;
        tokio::time::sleep(HOUR).await;
        f.store(true, Ordering::SeqCst);
    });
    tokio::task::yield_now().await;
    d.cancel();
    let failure = d.await.unwrap_err();
    assert!(failure.check::<CancelledError>());
    tokio::time::sleep(2 * HOUR).await;
    assert!(dropped.load(Ordering::SeqCst), "the task's future was dropped");
    assert!(!finished.load(Ordering::SeqCst), "the work after the cancel never ran");
}

#[tokio::test(start_paused = true)]
async fn a_timeout_on_tokio_time_aborts_a_spawned_task() {
    let time = TokioTime::new();
    let polls = Arc::new(AtomicUsize::new(0));
    let p = polls.clone();
    let d = spawn(async move {
        loop {
            p.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
    .add_timeout(Duration::from_millis(2500), &time);
    let failure: Failure = d.await.map(|_: ()| ()).unwrap_err();
    assert!(failure.check::<TimeoutError>());
    let at_timeout = polls.load(Ordering::SeqCst);
    assert_eq!(at_timeout, 3);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(polls.load(Ordering::SeqCst), at_timeout, "aborted");
}

#[tokio::test]
async fn dropping_the_await_of_a_spawned_deferred_aborts_the_task() {
    let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (dropped_tx, dropped_rx) = tokio::sync::oneshot::channel::<()>();
    struct OnDrop(Option<tokio::sync::oneshot::Sender<()>>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            let _ = self.0.take().unwrap().send(());
        }
    }
    let guard = OnDrop(Some(dropped_tx));
    let d = spawn(async move {
        let _guard = guard;
        rx.await
    });
    let awaited = tokio::time::timeout(Duration::from_millis(1), async { d.await }).await;
    assert!(awaited.is_err(), "timed out, and the await was dropped");
    let dropped = tokio::time::timeout(Duration::from_secs(10), dropped_rx).await;
    dropped.expect("the task was aborted").expect("its future was dropped");
}

#[test]
fn a_runtime_shutting_down_fails_the_deferred_of_an_unfinished_task() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let d = spawn_on(runtime.handle(), std::future::pending::<()>());
    assert_no_result(&d);
    let ((), reports) = capture_unhandled(|| drop(runtime));
    assert!(reports.is_empty());
    let failure = deferreds::testing::failure_result_of(d);
    assert!(failure.check::<CancelledError>());
}

#[test]
fn spawn_on_polls_a_tokio_future_on_the_runtime_while_a_plain_thread_awaits_it() {
    // A tokio timer needs its runtime: `from_future` would poll this future on the thread that
    // wakes it; `spawn_on` keeps it on the runtime, wherever the Deferred is awaited.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    let d = spawn_on(runtime.handle(), async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        7
    });
    assert_eq!(futures::executor::block_on(async { d.await }).unwrap(), 7);
}
