//! Twisted's tests of `await`, `ensureDeferred`, `Deferred.fromFuture`/`asFuture` and
//! `inlineCallbacks`, ported.
//!
//! Provenance: twisted/twisted at commit 64661601a1e492a9448ac1011deb9cd9467a9e30
//! (2024-10-18), files
//! - `src/twisted/internet/test/test_defer_await.py` (`AwaitTests`),
//! - `src/twisted/test/test_defer.py` (`EnsureDeferredTests`, `DeferredFutureAdapterTests`,
//!   `InlineCallbackTests`),
//! - `src/twisted/internet/test/test_inlinecb.py` (`BasicTests`,
//!   `StackedInlineCallbacksTests`, `ForwardTraceBackTests`, `CancellationTests`).
//!
//! Each test keeps its original name (module and method). How the Python maps to Rust:
//! - an `async def` run by `Deferred.fromCoroutine`/`ensureDeferred`, and an `inlineCallbacks`
//!   generator, are `ensure_deferred(async move { .. })`; `yield d` and `await d` are `d.await?`
//!   (or a `match` where the test catches the exception); a plain `async def` awaited directly
//!   is a plain `async fn`;
//! - `reactor.callLater(0, d.callback, v)` and `Clock.callLater` are a [`Later`] queue that the
//!   test runs explicitly, as trial's reactor or `Clock.advance` would;
//! - a generator's `yield` of a plain value suspends it with nothing to wait for; where that
//!   suspension is what a test is about (`testStackUsage2`), it is a future that wakes its own
//!   task and returns `Pending` once (`yield_value`);
//! - an asyncio `Future` is a `futures::channel::oneshot` receiver, `asFuture` is `into_future`
//!   (or `.await`), and cancelling the asyncio future is dropping it.
//!
//! Not ported, because the Rust types rule the situation out: `test_awaitReturnsIterable`
//! (Python's await protocol), `test_willNotAllowNonDeferredOrCoroutine`,
//! `test_fromCoroutineRequiresCoroutine`, `test_ensureDeferredGenerator`,
//! `testYieldNonDeferred`, `test_nonGeneratorReturn` and `test_nonGeneratorReturnValue` (only
//! futures can be passed or awaited: handing `ensure_deferred` what a plain function returns
//! does not compile), `testReturnValueDeprecated` and `NonLocalExitTests` (`returnValue`),
//! `StopIterationReturnTests`, `test_internal*DoesntLeak` (Python internals),
//! `test_fromFutureFutureCancelled` (a Rust future cannot be cancelled from outside; it is
//! dropped) and `CoroutineContextVarsTests` (no contextvars). The traceback tests are ported to
//! what a `Failure` carries here: the place the error was raised, kept unchanged however many
//! awaits it crosses.

use std::collections::VecDeque;
use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Poll, Waker};

use parking_lot::Mutex;

use deferreds::testing::{Recorder, assert_no_result, failure_result_of, success_result_of};
use deferreds::{
    CancelledError, Deferred, Failure, Resolver, Step, ensure_deferred, fail, succeed,
};

/// Fires queued for "later": trial's reactor turn, or a `Clock`.
type Call = Box<dyn FnOnce() + Send>;

#[derive(Clone, Default)]
struct Later {
    queue: Arc<Mutex<VecDeque<Call>>>,
}

impl Later {
    fn call_later(&self, f: impl FnOnce() + Send + 'static) {
        self.queue.lock().push_back(Box::new(f));
    }

    /// `getValueViaDeferred`: a Deferred fired with `value` on the next turn.
    fn value_via_deferred<T: Send + 'static>(&self, value: T) -> Deferred<T> {
        let (d, r) = Deferred::new();
        self.call_later(move || r.callback(value).unwrap());
        d
    }

    /// Runs what is due, including what that schedules, like a reactor turning until idle.
    fn run(&self) {
        loop {
            let next = self.queue.lock().pop_front();
            let Some(f) = next else { break };
            f();
        }
    }

    /// Runs only what is due now (one `Clock.advance` step).
    fn advance(&self) {
        let due: Vec<_> = self.queue.lock().drain(..).collect();
        for f in due {
            f();
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ZeroDivisionError(&'static str);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ValueError(&'static str);

#[derive(Debug, thiserror::Error)]
#[error("terminal: {0}")]
struct TerminalException(&'static str);

// ---------------------------------------------------------------------------------------------
// test_defer_await.py: AwaitTests

#[test]
fn await_tests_test_deferred_from_coroutine() {
    async fn run2() -> Result<&'static str, Failure> {
        let d = succeed("foo");
        d.await
    }
    let d = ensure_deferred(async {
        succeed("bar").await?;
        run2().await
    });
    assert_eq!(success_result_of(d), "foo");
}

#[test]
fn await_tests_test_basic() {
    let d = ensure_deferred(async { succeed("foo").await });
    assert_eq!(success_result_of(d), "foo");
}

#[test]
fn await_tests_test_basic_ensure_deferred() {
    let d = ensure_deferred(async {
        let res = succeed("foo").await?;
        Ok::<_, Failure>(res)
    });
    assert_eq!(success_result_of(d), "foo");
}

#[test]
fn await_tests_test_exception() {
    let d = ensure_deferred(async {
        succeed("foo").await?;
        Err::<(), _>(Failure::new(ValueError("Oh no!")))
    });
    let res = failure_result_of(d);
    assert!(res.check::<ValueError>());
    assert_eq!(res.error_message(), "Oh no!");
}

#[test]
fn await_tests_test_synchronous_deferred_failure_traceback() {
    let raised = Failure::new(ValueError("sample"));
    let it = fail::<()>(raised.clone());
    let failure = failure_result_of(ensure_deferred(async move { it.await }));
    assert!(failure.ptr_eq(&raised));
    assert_eq!(failure.location(), raised.location(), "where it was raised");
}

#[test]
fn await_tests_test_async_deferred_failure_traceback() {
    let (it, fire) = Deferred::<()>::new();
    let started = ensure_deferred(async move { it.await });
    assert_no_result(&started);
    let raised = Failure::new(ValueError("sample"));
    fire.errback(raised.clone()).unwrap();
    let failure = failure_result_of(started);
    assert!(failure.ptr_eq(&raised));
    assert_eq!(failure.location(), raised.location());
}

#[test]
fn await_tests_test_two_deep() {
    let reactor = Later::default();
    let sections = Recorder::new();

    let (s, r) = (sections.clone(), reactor.clone());
    let runone = async move {
        s.record("2");
        let (d, fire) = Deferred::<u32>::new();
        r.call_later(move || fire.callback(2).unwrap());
        d.await?;
        s.record("3");
        Ok::<_, Failure>("Yay!")
    };
    let (s, r) = (sections.clone(), reactor.clone());
    let d = ensure_deferred(async move {
        s.record("1");
        let result = runone.await?;
        s.record("4");
        let (d, fire) = Deferred::<u32>::new();
        r.call_later(move || fire.callback(1).unwrap());
        d.await?;
        s.record("5");
        Ok::<_, Failure>(result)
    });

    assert_eq!(sections.events(), ["1", "2"]);
    reactor.advance();
    assert_eq!(sections.events(), ["1", "2", "3", "4"]);
    reactor.advance();
    assert_eq!(sections.events(), ["1", "2", "3", "4", "5"]);
    assert_eq!(success_result_of(d), "Yay!");
}

#[test]
fn await_tests_test_reraise() {
    let d = ensure_deferred(async {
        match fail::<()>(Failure::new(ValueError("Boom"))).await {
            Err(e) => {
                assert_eq!(e.error_message(), "Boom");
                Ok::<_, Failure>(1)
            }
            Ok(()) => Ok(0),
        }
    });
    assert_eq!(success_result_of(d), 1);
}

#[test]
fn await_tests_test_chained() {
    let reactor = Later::default();
    let r = reactor.clone();
    let d = ensure_deferred(async move {
        let (d, fire_d) = Deferred::<()>::new();
        let (d2, fire_d2) = Deferred::<&str>::new();
        let d = d.add_callback(move |()| d2);
        fire_d.callback(()).unwrap();
        r.call_later(move || fire_d2.callback("bye").unwrap());
        d.await
    });
    reactor.advance();
    assert_eq!(success_result_of(d), "bye");
}

// ---------------------------------------------------------------------------------------------
// test_defer.py: EnsureDeferredTests, DeferredFutureAdapterTests, InlineCallbackTests

#[test]
fn ensure_deferred_tests_test_passes_through_deferreds() {
    // Twisted returns the same object; here a Deferred awaited by a block ends up with the
    // same result, whatever it is.
    let (d1, fire) = Deferred::<&str>::new();
    let d2 = ensure_deferred(async move { d1.await });
    fire.callback("same").unwrap();
    assert_eq!(success_result_of(d2), "same");
}

#[test]
fn ensure_deferred_tests_test_ensure_deferred_coroutine() {
    let r = async {
        let d = succeed("foo");
        d.await
    };
    let d: Deferred<&str> = ensure_deferred(r);
    assert_eq!(success_result_of(d), "foo");
}

#[test]
fn deferred_future_adapter_tests_test_as_future() {
    let (d, r) = Deferred::<i32>::new();
    let mut a_future = d.into_future();
    let mut cx = std::task::Context::from_waker(Waker::noop());
    assert!(std::pin::Pin::new(&mut a_future).poll(&mut cx).is_pending());
    r.callback(13).unwrap();
    assert!(matches!(std::pin::Pin::new(&mut a_future).poll(&mut cx), Poll::Ready(Ok(13))));
}

#[test]
fn deferred_future_adapter_tests_test_as_future_cancel_future() {
    let called = Arc::new(Mutex::new(false));
    let c = called.clone();
    let (d, r) = Deferred::<()>::with_canceller(move |_: &Resolver<()>| *c.lock() = true);
    let a_future = d.into_future();
    drop(a_future); // `aFuture.cancel()`
    assert!(*called.lock());
    assert!(r.called(), "failed with CancelledError, which nobody is left to see");
}

#[test]
fn deferred_future_adapter_tests_test_as_future_success_cancel() {
    // A canceller that succeeds instead: the future is gone, so the value is just dropped.
    let (value, reports) = deferreds::testing::capture_unhandled(|| {
        let (d, r) = Deferred::<u32>::with_canceller(|r: &Resolver<u32>| r.callback(9).unwrap());
        drop(d.into_future());
        r.called()
    });
    assert!(value);
    assert!(reports.is_empty());
}

#[test]
fn deferred_future_adapter_tests_test_as_future_failure() {
    let (d, r) = Deferred::<()>::new();
    let future = d.into_future();
    r.errback(Failure::new(ZeroDivisionError("zero"))).unwrap();
    let result = futures::executor::block_on(future);
    assert!(result.unwrap_err().check::<ZeroDivisionError>());
}

#[test]
fn deferred_future_adapter_tests_test_from_future() {
    let (tx, a_future) = futures::channel::oneshot::channel::<i32>();
    let d = Deferred::from_future(a_future);
    assert_no_result(&d);
    tx.send(7).unwrap();
    assert_eq!(success_result_of(d).unwrap(), 7);
}

#[test]
fn deferred_future_adapter_tests_test_from_future_deferred_cancelled() {
    let (tx, cancelled) = futures::channel::oneshot::channel::<()>();
    let d = Deferred::from_future(cancelled);
    d.cancel();
    assert!(tx.is_canceled(), "the future was dropped: `cancelled.cancelled() == True`");
    assert!(failure_result_of(d).check::<CancelledError>());
}

#[test]
fn inline_callback_tests_test_coroutine_no_circular_reference() {
    let obj = Arc::new(());
    let obj_weak = Arc::downgrade(&obj);
    let func_d = ensure_deferred(async move { Ok::<_, Failure>(obj) });
    let obj = success_result_of(func_d);
    drop(obj);
    assert!(obj_weak.upgrade().is_none());
}

// ---------------------------------------------------------------------------------------------
// test_inlinecb.py: BasicTests

#[test]
fn basic_tests_test_basics() {
    let reactor = Later::default();
    let r = reactor.clone();
    let d = ensure_deferred(async move {
        let x = r.value_via_deferred("hi").await?;
        assert_eq!(x, "hi");
        match fail::<()>(Failure::new(ZeroDivisionError("OMG"))).await {
            Err(e) if e.check::<ZeroDivisionError>() => assert_eq!(e.error_message(), "OMG"),
            other => panic!("expected ZeroDivisionError, got {other:?}"),
        }
        Ok::<_, Failure>("WOOSH")
    });
    reactor.run();
    assert_eq!(success_result_of(d), "WOOSH");
}

#[test]
fn basic_tests_test_basics_async() {
    let reactor = Later::default();
    let r = reactor.clone();
    let d = ensure_deferred(async move {
        let via_coro = async { r.value_via_deferred("hi").await };
        assert_eq!(via_coro.await?, "hi");
        let division_failure_coro = async {
            r.value_via_deferred("value").await?;
            Err::<(), _>(Failure::new(ZeroDivisionError("OMG")))
        };
        match division_failure_coro.await {
            Err(e) if e.check::<ZeroDivisionError>() => Ok::<_, Failure>("WOOSH"),
            other => panic!("expected ZeroDivisionError, got {other:?}"),
        }
    });
    reactor.run();
    assert_eq!(success_result_of(d), "WOOSH");
}

#[test]
fn basic_tests_test_produces_exception() {
    let reactor = Later::default();
    let r = reactor.clone();
    let d = ensure_deferred(async move {
        r.value_via_deferred("hi").await?;
        Err::<(), _>(Failure::new(ZeroDivisionError("division by zero")))
    });
    reactor.run();
    assert!(failure_result_of(d).check::<ZeroDivisionError>());
}

#[test]
fn basic_tests_test_nothing() {
    let d = ensure_deferred(async { Ok::<(), Failure>(()) });
    success_result_of(d);
}

#[test]
fn basic_tests_test_handled_terminal_failure() {
    let d = ensure_deferred(async {
        if let Err(e) =
            fail::<()>(Failure::new(TerminalException("Handled Terminal Failure"))).await
        {
            e.trap::<TerminalException>()?;
        }
        Ok::<(), Failure>(())
    });
    success_result_of(d);
}

#[test]
fn basic_tests_test_handled_terminal_async_failure() {
    let (d, r) = Deferred::<()>::new();
    let result = ensure_deferred(async move {
        if let Err(e) = d.await {
            e.trap::<TerminalException>()?;
        }
        Ok::<(), Failure>(())
    });
    r.errback(Failure::new(TerminalException("Handled Terminal Failure"))).unwrap();
    success_result_of(result);
}

#[test]
fn basic_tests_test_handled_coro_async_failure() {
    let (d, r) = Deferred::<()>::new();
    let coro = async move { d.await };
    let result = ensure_deferred(async move {
        if let Err(e) = coro.await {
            e.trap::<TerminalException>()?;
        }
        Ok::<(), Failure>(())
    });
    r.errback(Failure::new(TerminalException("Handled Terminal Failure"))).unwrap();
    success_result_of(result);
}

#[test]
fn basic_tests_test_stack_usage() {
    let d = ensure_deferred(async {
        for _ in 0..5000 {
            succeed(1).await?;
        }
        Ok::<_, Failure>(0)
    });
    assert_eq!(success_result_of(d), 0);
}

/// `yield value` of a plain value in an `inlineCallbacks` generator: the generator suspends and
/// its driver sends `value` straight back. As a future: it wakes its own task and returns
/// `Pending` once (counted in `suspensions`), then is ready with `value`.
fn yield_value<T>(value: T, suspensions: &Arc<AtomicUsize>) -> impl Future<Output = T> {
    let (mut value, suspensions) = (Some(value), suspensions.clone());
    let mut suspended = false;
    std::future::poll_fn(move |cx| {
        if suspended {
            Poll::Ready(value.take().expect("polled after it was ready"))
        } else {
            suspended = true;
            suspensions.fetch_add(1, Ordering::SeqCst);
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
}

#[test]
fn basic_tests_test_stack_usage2() {
    // Each `yield 1` suspends the block with nothing to wait for: the task is woken from inside
    // its own poll and polled again at once, 5,000 times, all before `ensure_deferred` returns.
    let suspensions = Arc::new(AtomicUsize::new(0));
    let s = suspensions.clone();
    let d = ensure_deferred(async move {
        for _ in 0..5000 {
            yield_value(1, &s).await;
        }
        Ok::<_, Failure>(0)
    });
    assert_eq!(success_result_of(d), 0);
    assert_eq!(suspensions.load(Ordering::SeqCst), 5000, "every yield suspended the block");
}

#[test]
fn basic_tests_test_return_no_value() {
    let d = ensure_deferred(async {
        succeed(5).await?;
        Ok::<(), Failure>(())
    });
    success_result_of(d);
}

#[test]
fn basic_tests_test_inline_callbacks_no_circular_reference() {
    let obj = Arc::new(());
    let obj_weak = Arc::downgrade(&obj);
    let func_d = ensure_deferred(async move { succeed(obj).await });
    drop(success_result_of(func_d));
    assert!(obj_weak.upgrade().is_none());
}

// ---------------------------------------------------------------------------------------------
// test_inlinecb.py: StackedInlineCallbacksTests

#[derive(Debug, thiserror::Error)]
#[error("my exception")]
struct MyException;

/// `deferredList`: Deferreds to fire and what with, in the order they were made.
#[derive(Clone, Default)]
struct DeferredList(Arc<Mutex<Vec<ToFire>>>);

/// A resolver, and its value, or `None` to fail it.
type ToFire = (Resolver<u32>, Option<u32>);

impl DeferredList {
    /// A Deferred the test will fire with `x`, or fail with `MyException` if `x` is `None`.
    fn push(&self, x: Option<u32>) -> Deferred<u32> {
        let (d, r) = Deferred::new();
        self.0.lock().push((r, x));
        d
    }

    /// `runCallbacksOnDeferreds`: fires each in turn, including those added meanwhile.
    fn run_callbacks(&self) {
        for i in 0.. {
            let next = self.0.lock().get(i).cloned();
            let Some((r, x)) = next else { break };
            match x {
                Some(x) => r.callback(x).unwrap(),
                None => r.errback(Failure::new(MyException)).unwrap(),
            }
        }
    }
}

/// An `@inlineCallbacks` `f1` that waits on a Deferred from `list` and returns `x + 1`.
fn f1(log: &Recorder, list: &DeferredList, x: u32) -> Deferred<u32> {
    let (log, list) = (log.clone(), list.clone());
    ensure_deferred(async move {
        log.record(format!("f1 enter {x}"));
        let d = list.push(Some(x));
        let x = d.await? + 1;
        log.record(format!("f1 exit {x}"));
        Ok::<_, Failure>(x)
    })
}

/// `f3`, which awaits `f2(x)`.
fn stacked_f3_of<F>(
    log: &Recorder,
    x: u32,
    f2: impl FnOnce(u32) -> F + Send + 'static,
) -> Deferred<u32>
where
    F: IntoFuture<Output = Result<u32, Failure>, IntoFuture: Send> + Send + 'static,
{
    let log = log.clone();
    ensure_deferred(async move {
        log.record(format!("f3 enter {x}"));
        let x = f2(x).await? + 4;
        log.record(format!("f3 exit {x}"));
        Ok::<_, Failure>(x)
    })
}

const SINGLE_YIELD: [&str; 6] =
    ["f3 enter 1", "f2 enter 1", "f1 enter 1", "f1 exit 2", "f2 exit 4", "f3 exit 8"];

#[test]
fn stacked_inline_callbacks_tests_test_non_called_deferred_single_yield() {
    let (log, list) = (Recorder::new(), DeferredList::default());
    let (l, li) = (log.clone(), list.clone());
    let f2 = move |x: u32| {
        ensure_deferred(async move {
            l.record(format!("f2 enter {x}"));
            let x = f1(&l, &li, x).await? + 2;
            l.record(format!("f2 exit {x}"));
            Ok::<_, Failure>(x)
        })
    };
    let res = stacked_f3_of(&log, 1, f2);
    list.run_callbacks();
    assert_eq!(success_result_of(res), 8);
    assert_eq!(log.take(), SINGLE_YIELD);
}

#[test]
fn stacked_inline_callbacks_tests_test_non_called_deferred_single_yield_coro() {
    let (log, list) = (Recorder::new(), DeferredList::default());
    // `f2` is a plain `async def`, awaited directly.
    async fn f2(log: Recorder, list: DeferredList, x: u32) -> Result<u32, Failure> {
        log.record(format!("f2 enter {x}"));
        let x = f1(&log, &list, x).await? + 2;
        log.record(format!("f2 exit {x}"));
        Ok(x)
    }
    let (l, li) = (log.clone(), list.clone());
    let res = stacked_f3_of(&log, 1, move |x| f2(l, li, x));
    list.run_callbacks();
    assert_eq!(success_result_of(res), 8);
    assert_eq!(log.take(), SINGLE_YIELD);
}

/// The log of the `MultipleYields` tests: `f3` awaits `f2` three times, each `f2` awaits `f1`
/// three times.
const MULTIPLE_YIELDS: [&str; 26] = [
    "f3 enter 1",
    "f2 enter 1",
    "f1 enter 1",
    "f1 exit 2",
    "f1 enter 2",
    "f1 exit 3",
    "f1 enter 3",
    "f1 exit 4",
    "f2 exit 6",
    "f2 enter 6",
    "f1 enter 6",
    "f1 exit 7",
    "f1 enter 7",
    "f1 exit 8",
    "f1 enter 8",
    "f1 exit 9",
    "f2 exit 11",
    "f2 enter 11",
    "f1 enter 11",
    "f1 exit 12",
    "f1 enter 12",
    "f1 exit 13",
    "f1 enter 13",
    "f1 exit 14",
    "f2 exit 16",
    "f3 exit 20",
];

#[test]
fn stacked_inline_callbacks_tests_test_non_called_deferred_multiple_yields() {
    let (log, list) = (Recorder::new(), DeferredList::default());
    let f2 = {
        let (log, list) = (log.clone(), list.clone());
        move |x: u32| {
            let (log, list) = (log.clone(), list.clone());
            ensure_deferred(async move {
                log.record(format!("f2 enter {x}"));
                let x = f1(&log, &list, x).await?;
                let x = f1(&log, &list, x).await?;
                let x = f1(&log, &list, x).await? + 2;
                log.record(format!("f2 exit {x}"));
                Ok::<_, Failure>(x)
            })
        }
    };
    let l = log.clone();
    let res = ensure_deferred(async move {
        l.record("f3 enter 1");
        let x = f2(1).await?;
        let x = f2(x).await?;
        let x = f2(x).await? + 4;
        l.record(format!("f3 exit {x}"));
        Ok::<_, Failure>(x)
    });
    list.run_callbacks();
    assert_eq!(success_result_of(res), 20);
    assert_eq!(log.take(), MULTIPLE_YIELDS);
}

#[test]
fn stacked_inline_callbacks_tests_test_non_called_deferred_multiple_yields_coro() {
    let (log, list) = (Recorder::new(), DeferredList::default());
    // `f2` is a plain `async def`, awaited directly.
    async fn f2(log: Recorder, list: DeferredList, x: u32) -> Result<u32, Failure> {
        log.record(format!("f2 enter {x}"));
        let x = f1(&log, &list, x).await?;
        let x = f1(&log, &list, x).await?;
        let x = f1(&log, &list, x).await? + 2;
        log.record(format!("f2 exit {x}"));
        Ok(x)
    }
    let (l, li) = (log.clone(), list.clone());
    let res = ensure_deferred(async move {
        l.record("f3 enter 1");
        let x = f2(l.clone(), li.clone(), 1).await?;
        let x = f2(l.clone(), li.clone(), x).await?;
        let x = f2(l.clone(), li.clone(), x).await? + 4;
        l.record(format!("f3 exit {x}"));
        Ok::<_, Failure>(x)
    });
    list.run_callbacks();
    assert_eq!(success_result_of(res), 20);
    assert_eq!(log.take(), MULTIPLE_YIELDS);
}

/// `f2` of the `intermediateAddCallbacks` tests: a plain callback.
fn f2_callback(log: &Recorder) -> impl FnOnce(u32) -> u32 + Send + 'static {
    let log = log.clone();
    move |x| {
        log.record(format!("f2 enter {x}"));
        let x = x + 2;
        log.record(format!("f2 exit {x}"));
        x
    }
}

const ADD_CALLBACKS: [&str; 6] =
    ["f3 enter 1", "f1 enter 1", "f1 exit 2", "f2 enter 2", "f2 exit 4", "f3 exit 8"];

#[test]
fn stacked_inline_callbacks_tests_test_intermediate_add_callbacks_and_no_waiting() {
    let log = Recorder::new();
    let l = log.clone();
    let f1 = move |x: u32| {
        let l = l.clone();
        ensure_deferred(async move {
            l.record(format!("f1 enter {x}"));
            let x = succeed(x).await? + 1;
            l.record(format!("f1 exit {x}"));
            Ok::<_, Failure>(x)
        })
    };
    let (l, f2) = (log.clone(), f2_callback(&log));
    let res = ensure_deferred(async move {
        l.record("f3 enter 1");
        let d = f1(1).map(f2);
        let x = d.await? + 4;
        l.record(format!("f3 exit {x}"));
        Ok::<_, Failure>(x)
    });
    assert_eq!(success_result_of(res), 8);
    assert_eq!(log.take(), ADD_CALLBACKS);
}

#[test]
fn stacked_inline_callbacks_tests_test_intermediate_add_callbacks_and_with_waiting_first_yield() {
    let (log, list) = (Recorder::new(), DeferredList::default());
    let (l, li, f2) = (log.clone(), list.clone(), f2_callback(&log));
    let res = ensure_deferred(async move {
        l.record("f3 enter 1");
        let d = f1(&l, &li, 1).map(f2);
        let x = d.await? + 4;
        l.record(format!("f3 exit {x}"));
        Ok::<_, Failure>(x)
    });
    list.run_callbacks();
    assert_eq!(success_result_of(res), 8);
    assert_eq!(log.take(), ADD_CALLBACKS);
}

#[test]
fn stacked_inline_callbacks_tests_test_intermediate_add_callbacks_and_with_waiting_second_yield() {
    let (log, list) = (Recorder::new(), DeferredList::default());
    let (l, li, f2) = (log.clone(), list.clone(), f2_callback(&log));
    let res = ensure_deferred(async move {
        l.record("f3 enter 1");
        let x = f1(&l, &li, 1).await?;
        let d = f1(&l, &li, x).map(f2);
        let x = d.await? + 4;
        l.record(format!("f3 exit {x}"));
        Ok::<_, Failure>(x)
    });
    list.run_callbacks();
    assert_eq!(success_result_of(res), 9);
    let expected = [
        "f3 enter 1",
        "f1 enter 1",
        "f1 exit 2",
        "f1 enter 2",
        "f1 exit 3",
        "f2 enter 3",
        "f2 exit 5",
        "f3 exit 9",
    ];
    assert_eq!(log.take(), expected);
}

/// `f2` of the `raisesException` tests: waits on a Deferred that fails with `MyException`.
fn f2_raising(log: &Recorder, list: &DeferredList, x: u32) -> Deferred<u32> {
    let (log, list) = (log.clone(), list.clone());
    ensure_deferred(async move {
        log.record(format!("f2 enter {x}"));
        let x = list.push(None).await?;
        log.record(format!("f2 exit {x}"));
        Ok::<_, Failure>(x)
    })
}

#[test]
fn stacked_inline_callbacks_tests_test_raises_exception_from_deferred_with_waiting_first_callback()
{
    let (log, list) = (Recorder::new(), DeferredList::default());
    let (l, li) = (log.clone(), list.clone());
    let res = ensure_deferred(async move {
        l.record("f3 enter 1");
        let x = 1;
        let raised = f2_raising(&l, &li, x).await;
        assert!(raised.unwrap_err().check::<MyException>());
        let x = x + 4;
        l.record(format!("f3 exit {x}"));
        Ok::<_, Failure>(x)
    });
    list.run_callbacks();
    assert_eq!(success_result_of(res), 5);
    assert_eq!(log.take(), ["f3 enter 1", "f2 enter 1", "f3 exit 5"]);
}

#[test]
fn stacked_inline_callbacks_tests_test_raises_exception_from_deferred_with_waiting_second_callback()
{
    let (log, list) = (Recorder::new(), DeferredList::default());
    let (l, li) = (log.clone(), list.clone());
    let res = ensure_deferred(async move {
        l.record("f3 enter 1");
        let x = f1(&l, &li, 1).await?;
        let raised = f2_raising(&l, &li, x).await;
        assert!(raised.unwrap_err().check::<MyException>());
        let x = x + 4;
        l.record(format!("f3 exit {x}"));
        Ok::<_, Failure>(x)
    });
    list.run_callbacks();
    assert_eq!(success_result_of(res), 6);
    assert_eq!(log.take(), ["f3 enter 1", "f1 enter 1", "f1 exit 2", "f2 enter 2", "f3 exit 6"]);
}

// ---------------------------------------------------------------------------------------------
// test_inlinecb.py: ForwardTraceBackTests

fn erroring() -> Deferred<()> {
    ensure_deferred(async {
        succeed("forcing generator").await?;
        Err(Failure::msg("Error Marker"))
    })
}

#[test]
fn forward_trace_back_tests_test_forward_tracebacks() {
    let calling = ensure_deferred(async { erroring().await });
    let f = failure_result_of(calling);
    assert_eq!(f.error_message(), "Error Marker");
    assert!(f.traceback().contains("Error Marker"));
    assert_eq!(f.location().file(), file!(), "raised in `erroring`, in this file");
}

#[test]
fn forward_trace_back_tests_test_forward_lots_of_tracebacks() {
    let calling3 = || ensure_deferred(async { erroring().await });
    let calling2 = move || ensure_deferred(async move { calling3().await });
    let calling = ensure_deferred(async move { calling2().await });
    let f = failure_result_of(calling);
    assert_eq!(f.error_message(), "Error Marker");
    assert_eq!(f.location().file(), file!());
}

/// What an `erroring` raised, kept so that a test can compare it with what arrives at the top.
#[derive(Clone, Default)]
struct Raised(Arc<Mutex<Option<Failure>>>);

impl Raised {
    /// `raise Exception("Error Marker")`: a failure created where this is called, and kept.
    #[track_caller]
    fn error_marker(&self) -> Failure {
        let failure = Failure::msg("Error Marker");
        *self.0.lock() = Some(failure.clone());
        failure
    }

    fn failure(&self) -> Failure {
        self.0.lock().clone().expect("`erroring` raised")
    }
}

#[test]
fn forward_trace_back_tests_test_forward_tracebacks_coro() {
    async fn erroring(reactor: Later, raised: Raised) -> Result<(), Failure> {
        reactor.value_via_deferred("value").await?;
        Err(raised.error_marker())
    }
    let (reactor, raised) = (Later::default(), Raised::default());
    let (r, e) = (reactor.clone(), raised.clone());
    let calling = ensure_deferred(async move { erroring(r, e).await });
    assert_no_result(&calling);
    reactor.run();
    let f = failure_result_of(calling);
    let raised = raised.failure();
    assert_eq!(f.error_message(), "Error Marker");
    assert!(f.traceback().contains("Error Marker"));
    assert!(f.ptr_eq(&raised), "the failure `erroring` raised, passed on unchanged");
    assert_eq!(f.location(), raised.location(), "raised in `erroring`");
}

#[test]
fn forward_trace_back_tests_test_forward_lots_of_tracebacks_coro() {
    fn erroring(raised: Raised) -> Deferred<()> {
        ensure_deferred(async move {
            succeed("forcing generator").await?;
            Err(raised.error_marker())
        })
    }
    async fn calling3(raised: Raised) -> Result<(), Failure> {
        erroring(raised).await
    }
    let calling2 = |raised: Raised| ensure_deferred(async move { calling3(raised).await });
    let raised = Raised::default();
    let r = raised.clone();
    let calling = ensure_deferred(async move { calling2(r).await });
    let f = failure_result_of(calling);
    let raised = raised.failure();
    assert_eq!(f.error_message(), "Error Marker");
    assert!(f.traceback().contains("Error Marker"));
    assert!(f.ptr_eq(&raised), "the failure `erroring` raised, passed on unchanged");
    assert_eq!(f.location(), raised.location(), "raised in `erroring`");
}

/// `getDivisionFailure`: a failure of a divide-by-zero error, raised here.
fn get_division_failure(msg: &'static str) -> Failure {
    Failure::new(ZeroDivisionError(msg))
}

#[test]
fn forward_trace_back_tests_test_reraise_tracebacks_from_deferred() {
    let f = get_division_failure("msg");
    let (d, r) = Deferred::<()>::new();
    // try:
    //     f.raiseException()
    // except BaseException:
    //     d.errback()
    let attempt = move || -> Result<(), Failure> {
        Err::<(), _>(f)?;
        Ok(())
    };
    if let Err(caught) = attempt() {
        r.errback(caught).unwrap();
    }
    // `inlineCallbacks(ic)`: a block that would await `d`, written and never run.
    let _ic = |d: Deferred<()>| ensure_deferred(async move { d.await });
    let new_failure = failure_result_of(d);
    assert!(new_failure.check::<ZeroDivisionError>());
    assert_eq!(new_failure.error_message(), "msg");
    let raise_site = get_division_failure("elsewhere").location();
    assert_eq!(new_failure.location(), raise_site, "raised in `get_division_failure`");
}

// ---------------------------------------------------------------------------------------------
// test_inlinecb.py: CancellationTests
//
// `G` is `sample_inline_cb`, `D` the Deferred it returns, `C` the Deferred it awaits. In the
// stacked variants `G` awaits `C` through one more level: a nested `ensure_deferred`
// (`StackedInlineCb`) or a plain `async fn` (`StackedCoro`). (Twisted's own
// `sampleInlineCB` swaps the two helpers relative to their names; here each does what its
// name says, and both are covered.)

#[derive(Debug, thiserror::Error)]
#[error("untranslated")]
struct UntranslatedError;

#[derive(Debug, thiserror::Error)]
#[error("translated")]
struct TranslatedError;

#[derive(Debug, thiserror::Error)]
#[error("don't fail: {0}")]
struct DontFail(u32);

#[derive(Clone, Copy)]
enum Stacking {
    NotStacked,
    StackedInlineCb,
    StackedCoro,
}

type GetChild = Box<dyn FnOnce() -> Deferred<u32> + Send>;

fn stacked_inline_cb(get_child: GetChild) -> Deferred<u32> {
    ensure_deferred(async move { get_child().await })
}

async fn stacked_coro(get_child: GetChild) -> Result<u32, Failure> {
    get_child().await
}

fn sample_inline_cb(
    stack: Stacking,
    get_child: GetChild,
    first_deferred: Option<Deferred<u32>>,
) -> Deferred<u32> {
    ensure_deferred(async move {
        let awaited = async {
            match stack {
                Stacking::NotStacked => get_child().await,
                Stacking::StackedInlineCb | Stacking::StackedCoro => {
                    if let Some(first) = first_deferred {
                        first.await?;
                    }
                    match stack {
                        Stacking::StackedInlineCb => stacked_inline_cb(get_child).await,
                        _ => stacked_coro(get_child).await,
                    }
                }
            }
        };
        let x = match awaited.await {
            Ok(x) => x,
            Err(f) if f.check::<UntranslatedError>() => return Err(Failure::new(TranslatedError)),
            Err(f) => match f.downcast_ref::<DontFail>() {
                Some(df) => df.0 - 2,
                None => return Err(f),
            },
        };
        Ok(x + 1)
    })
}

/// `firstDeferred`, if the cancel is to happen on the second await.
fn first_deferred(on_second: bool) -> (Option<Deferred<u32>>, Option<Resolver<u32>>) {
    if on_second {
        let (d, r) = Deferred::new();
        (Some(d), Some(r))
    } else {
        (None, None)
    }
}

fn fire_first(first: Option<Resolver<u32>>) {
    if let Some(r) = first {
        r.callback(1).unwrap();
    }
}

fn do_cascade_cancelling_on_cancel(stack: Stacking, on_second: bool) {
    let child_result: Arc<Mutex<Option<bool>>> = Arc::default();
    let holder = child_result.clone();
    let get_child: GetChild = Box::new(move || {
        let (d, _never_fired) = Deferred::<u32>::new();
        d.add_errback(move |f| {
            *holder.lock() = Some(f.check::<CancelledError>());
            Err(f)
        })
    });
    let (first, fire) = first_deferred(on_second);
    let d = sample_inline_cb(stack, get_child, first).add_errback(|_| Ok(0));
    fire_first(fire);
    d.cancel();
    assert_eq!(*child_result.lock(), Some(true), "no cascade cancelling occurs");
    success_result_of(d);
}

#[test]
fn cancellation_tests_test_cascade_cancelling_on_cancel_not_stacked() {
    do_cascade_cancelling_on_cancel(Stacking::NotStacked, false);
}

#[test]
fn cancellation_tests_test_cascade_cancelling_on_cancel_stacked_inline_cb() {
    do_cascade_cancelling_on_cancel(Stacking::StackedInlineCb, false);
}

#[test]
fn cancellation_tests_test_cascade_cancelling_on_cancel_stacked_inline_cb_on_second_deferred() {
    do_cascade_cancelling_on_cancel(Stacking::StackedInlineCb, true);
}

#[test]
fn cancellation_tests_test_cascade_cancelling_on_cancel_stacked_coro() {
    do_cascade_cancelling_on_cancel(Stacking::StackedCoro, false);
}

#[test]
fn cancellation_tests_test_cascade_cancelling_on_cancel_stacked_coro_on_second_deferred() {
    do_cascade_cancelling_on_cancel(Stacking::StackedCoro, true);
}

fn do_errback_cancelled_error_on_cancel(stack: Stacking, on_second: bool) {
    let outstanding: Arc<Mutex<Vec<Resolver<u32>>>> = Arc::default();
    let o = outstanding.clone();
    let get_deferred: GetChild = Box::new(move || {
        let (d, r) = Deferred::new();
        o.lock().push(r);
        d
    });
    let (first, fire) = first_deferred(on_second);
    let d = sample_inline_cb(stack, get_deferred, first);
    fire_first(fire);
    d.cancel();
    assert!(failure_result_of(d).check::<CancelledError>());
}

#[test]
fn cancellation_tests_test_errback_cancelled_error_on_cancel() {
    do_errback_cancelled_error_on_cancel(Stacking::NotStacked, false);
}

#[test]
fn cancellation_tests_test_errback_cancelled_error_on_cancel_stacked_inline_cb() {
    do_errback_cancelled_error_on_cancel(Stacking::StackedInlineCb, false);
}

#[test]
fn cancellation_tests_test_errback_cancelled_error_on_cancel_stacked_inline_cb_on_second_deferred()
{
    do_errback_cancelled_error_on_cancel(Stacking::StackedInlineCb, true);
}

#[test]
fn cancellation_tests_test_errback_cancelled_error_on_cancel_stacked_coro() {
    do_errback_cancelled_error_on_cancel(Stacking::StackedCoro, false);
}

#[test]
fn cancellation_tests_test_errback_cancelled_error_on_cancel_stacked_coro_on_second_deferred() {
    do_errback_cancelled_error_on_cancel(Stacking::StackedCoro, true);
}

/// A child whose canceller fails it with `error` instead of `CancelledError`.
fn child_failing_on_cancel<E>(error: impl FnOnce() -> E + Send + 'static) -> GetChild
where
    E: std::error::Error + Send + Sync + 'static,
{
    let (a, _r) = Deferred::with_canceller(move |it: &Resolver<u32>| {
        it.errback(Failure::new(error())).unwrap()
    });
    Box::new(move || a)
}

fn do_error_to_error_translation(stack: Stacking, on_second: bool) {
    let (first, fire) = first_deferred(on_second);
    let d = sample_inline_cb(stack, child_failing_on_cancel(|| UntranslatedError), first);
    fire_first(fire);
    d.cancel();
    assert!(failure_result_of(d).check::<TranslatedError>());
}

#[test]
fn cancellation_tests_test_error_to_error_translation() {
    do_error_to_error_translation(Stacking::NotStacked, false);
}

#[test]
fn cancellation_tests_test_error_to_error_translation_stacked_inline_cb() {
    do_error_to_error_translation(Stacking::StackedInlineCb, false);
}

#[test]
fn cancellation_tests_test_error_to_error_translation_stacked_inline_cb_on_second_deferred() {
    do_error_to_error_translation(Stacking::StackedInlineCb, true);
}

#[test]
fn cancellation_tests_test_error_to_error_translation_stacked_coro() {
    do_error_to_error_translation(Stacking::StackedCoro, false);
}

#[test]
fn cancellation_tests_test_error_to_error_translation_stacked_coro_on_second_deferred() {
    do_error_to_error_translation(Stacking::StackedCoro, true);
}

fn do_error_to_success_translation(stack: Stacking, on_second: bool) {
    let (first, fire) = first_deferred(on_second);
    let results = Recorder::new();
    let r = results.clone();
    let d = sample_inline_cb(stack, child_failing_on_cancel(|| DontFail(4321)), first)
        .map(move |x| r.record(x.to_string()));
    fire_first(fire);
    d.cancel();
    assert_eq!(results.take(), ["4320"]);
}

#[test]
fn cancellation_tests_test_error_to_success_translation() {
    do_error_to_success_translation(Stacking::NotStacked, false);
}

#[test]
fn cancellation_tests_test_error_to_success_translation_stacked_inline_cb() {
    do_error_to_success_translation(Stacking::StackedInlineCb, false);
}

#[test]
fn cancellation_tests_test_error_to_success_translation_stacked_inline_cb_on_second_deferred() {
    do_error_to_success_translation(Stacking::StackedInlineCb, true);
}

#[test]
fn cancellation_tests_test_error_to_success_translation_stacked_coro() {
    do_error_to_success_translation(Stacking::StackedCoro, false);
}

#[test]
fn cancellation_tests_test_error_to_success_translation_stacked_coro_on_second_deferred() {
    do_error_to_success_translation(Stacking::StackedCoro, true);
}

fn do_asynchronous_cancellation(stack: Stacking, on_second: bool) {
    let (more_deferred, fire_more) = Deferred::<u32>::new();
    let defer_me: GetChild = Box::new(move || {
        let (d, _never_fired) = Deferred::<u32>::new();
        d.add_errback(move |result| {
            Step::from(result.trap::<CancelledError>().map(|_| more_deferred))
        })
    });
    let (first, fire) = first_deferred(on_second);
    let d = sample_inline_cb(stack, defer_me, first);
    fire_first(fire);
    d.cancel();
    assert_no_result(&d);
    fire_more.callback(6543).unwrap();
    assert_eq!(success_result_of(d), 6544);
}

#[test]
fn cancellation_tests_test_asynchronous_cancellation() {
    do_asynchronous_cancellation(Stacking::NotStacked, false);
}

#[test]
fn cancellation_tests_test_asynchronous_cancellation_stacked_inline_cb() {
    do_asynchronous_cancellation(Stacking::StackedInlineCb, false);
}

#[test]
fn cancellation_tests_test_asynchronous_cancellation_stacked_inline_cb_on_second_deferred() {
    do_asynchronous_cancellation(Stacking::StackedInlineCb, true);
}

#[test]
fn cancellation_tests_test_asynchronous_cancellation_stacked_coro() {
    do_asynchronous_cancellation(Stacking::StackedCoro, false);
}

#[test]
fn cancellation_tests_test_asynchronous_cancellation_stacked_coro_on_second_deferred() {
    do_asynchronous_cancellation(Stacking::StackedCoro, true);
}

#[test]
fn cancellation_tests_test_inline_callbacks_cancel_captured() {
    let canceller1_calls = Recorder::new();
    let canceller2_calls = Recorder::new();
    let (c1, c2) = (canceller1_calls.clone(), canceller2_calls.clone());
    let (d1, r1) = Deferred::<u32>::with_canceller(move |_: &Resolver<u32>| c1.record("d1"));
    let (d2, r2) = Deferred::<u32>::with_canceller(move |_: &Resolver<u32>| c2.record("d2"));

    let func_d = ensure_deferred(async move {
        let _ = d1.await; // `except Exception: pass`
        d2.await
    });

    assert!(!r1.called() && !r2.called());
    assert_no_result(&func_d);
    assert!(canceller1_calls.events().is_empty());
    assert!(canceller2_calls.events().is_empty());

    func_d.cancel();
    assert_eq!(canceller1_calls.events(), ["d1"]);
    assert!(canceller2_calls.events().is_empty());
    assert_no_result(&func_d);

    func_d.cancel();
    let failure = failure_result_of(func_d);
    assert!(failure.check::<CancelledError>());
    assert_eq!(canceller2_calls.events(), ["d2"]);
}
