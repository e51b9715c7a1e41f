//! `DeferredLock`, `DeferredSemaphore` and `DeferredQueue`: FIFO waiters, cancellation, `run`,
//! and thread safety.
//!
//! The `test_*` functions port Twisted's `OtherPrimitivesTests` (twisted/test/test_defer.py,
//! Twisted 26.10); each names the original. Twisted releases with `lock.release()`; here the
//! guard or permit an acquire fired with is dropped instead, so the ports keep them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use parking_lot::Mutex;

use crate::hardening::support::on_small_stack;
use deferreds::testing::{
    Recorder, assert_no_result, capture_unhandled, failure_result_of, success_result_of,
};
use deferreds::{
    CancelledError, Deferred, DeferredLock, DeferredQueue, DeferredSemaphore, Failure, LockGuard,
    PanicError, QueueOverflow, QueueUnderflow, SemaphorePermit, TryResult, ZeroTokensError,
};

/// What Twisted's tests do with `self._incr`, keeping the permits so the test can release
/// them in order.
struct Held<P> {
    permits: Arc<Mutex<VecDeque<P>>>,
    counter: Arc<AtomicUsize>,
}

impl<P: Send + 'static> Held<P> {
    fn new() -> Held<P> {
        Held { permits: Arc::default(), counter: Arc::default() }
    }

    fn incr(&self) -> impl FnOnce(P) + Send + 'static {
        let (permits, counter) = (self.permits.clone(), self.counter.clone());
        move |p| {
            permits.lock().push_back(p);
            counter.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter(&self) -> usize {
        self.counter.load(Ordering::SeqCst)
    }

    /// Twisted's `release()`: gives back the oldest permit.
    fn release(&self) {
        let permit = self.permits.lock().pop_front().expect("a permit is held");
        drop(permit);
    }
}

/// Ported from `OtherPrimitivesTests.testLock`.
#[test]
fn test_lock() {
    let lock = DeferredLock::new();
    let held = Held::<LockGuard>::new();
    let _ = lock.acquire().map(held.incr());
    assert!(lock.is_locked());
    assert_eq!(held.counter(), 1);

    let _ = lock.acquire().map(held.incr());
    assert!(lock.is_locked());
    assert_eq!(held.counter(), 1);

    held.release();
    assert!(lock.is_locked());
    assert_eq!(held.counter(), 2);

    held.release();
    assert!(!lock.is_locked());
    assert_eq!(held.counter(), 2);

    let result = Arc::new(Mutex::new(String::new()));
    let (control, fire_control) = Deferred::<&str>::new();
    let r = result.clone();
    let result_deferred = lock.run(move || {
        *r.lock() = "firstUnique".to_owned();
        control
    });
    assert!(lock.is_locked());
    assert_eq!(*result.lock(), "firstUnique");

    let r = result.clone();
    let result_deferred = result_deferred.map(move |v| *r.lock() = v.to_owned());
    let _ = lock.acquire().map(held.incr());
    assert!(lock.is_locked());
    assert_eq!(held.counter(), 2);

    fire_control.callback("secondUnique").unwrap();
    assert_eq!(*result.lock(), "secondUnique");
    assert!(lock.is_locked());
    assert_eq!(held.counter(), 3);
    success_result_of(result_deferred);

    let r = result.clone();
    let d = lock.acquire().add_both(move |res| {
        *r.lock() = match res {
            Ok(_guard) => "acquired".to_owned(),
            Err(f) => f.type_name().to_owned(),
        };
    });
    d.cancel();
    assert_eq!(*result.lock(), "deferreds::error::CancelledError");

    held.release();
    assert!(!lock.is_locked());
}

/// Ported from `OtherPrimitivesTests.test_cancelLockAfterAcquired`.
#[test]
fn test_cancel_lock_after_acquired() {
    let lock = DeferredLock::new();
    let d = lock
        .acquire()
        .add_errback(|_| -> Result<LockGuard, Failure> { panic!("Unexpected errback call!") });
    d.cancel();
    let _guard = success_result_of(d);
    assert!(lock.is_locked());
}

/// Ported from `OtherPrimitivesTests.test_cancelLockBeforeAcquired`.
#[test]
fn test_cancel_lock_before_acquired() {
    let lock = DeferredLock::new();
    let _first = lock.acquire();
    let d = lock.acquire();
    d.cancel();
    assert!(failure_result_of(d).check::<CancelledError>());
}

/// Ported from `OtherPrimitivesTests.testSemaphore`.
#[test]
fn test_semaphore() {
    const N: usize = 13;
    let sem = DeferredSemaphore::new(N).unwrap();

    let (control, fire_control) = Deferred::<()>::new();
    let helper_arg = Arc::new(Mutex::new(None));
    let h = helper_arg.clone();
    let results = Recorder::new();
    let res = results.clone();
    let result_deferred = sem.run(move || {
        *h.lock() = Some("uniqueObject");
        control
    });
    let result_deferred = result_deferred.map(move |()| res.record("None"));
    assert!(results.events().is_empty());
    assert_eq!(*helper_arg.lock(), Some("uniqueObject"));
    fire_control.callback(()).unwrap();
    assert_eq!(results.take(), ["None"]);
    success_result_of(result_deferred);

    let held = Held::<SemaphorePermit>::new();
    for i in 1..=N {
        let _ = sem.acquire().map(held.incr());
        assert_eq!(held.counter(), i);
    }

    let success = Recorder::new();
    let (s1, s2) = (success.clone(), success.clone());
    let d = sem.acquire().add_callbacks(
        move |_permit| s1.record("False"),
        move |_| {
            s2.record("True");
            Ok(())
        },
    );
    d.cancel();
    assert_eq!(success.take(), ["True"]);

    let _ = sem.acquire().map(held.incr());
    assert_eq!(held.counter(), N);

    held.release();
    assert_eq!(held.counter(), N + 1);

    for _ in 1..=N {
        held.release();
        assert_eq!(held.counter(), N + 1);
    }
    assert_eq!(sem.tokens(), N, "every permit is back");
}

/// Ported from `OtherPrimitivesTests.test_semaphoreInvalidTokens`: a typed error instead of
/// `ValueError` (and `usize` rules out negative counts).
#[test]
fn test_semaphore_invalid_tokens() {
    assert_eq!(DeferredSemaphore::new(0).unwrap_err(), ZeroTokensError);
}

/// Ported from `OtherPrimitivesTests.test_cancelSemaphoreAfterAcquired`.
#[test]
fn test_cancel_semaphore_after_acquired() {
    let sem = DeferredSemaphore::new(1).unwrap();
    let d = sem.acquire().add_errback(|_| -> Result<SemaphorePermit, Failure> {
        panic!("Unexpected errback call!")
    });
    d.cancel();
    let _permit = success_result_of(d);
    assert_eq!(sem.tokens(), 0);
}

/// Ported from `OtherPrimitivesTests.test_cancelSemaphoreBeforeAcquired`.
#[test]
fn test_cancel_semaphore_before_acquired() {
    let sem = DeferredSemaphore::new(1).unwrap();
    let _first = sem.acquire();
    let d = sem.acquire();
    d.cancel();
    assert!(failure_result_of(d).check::<CancelledError>());
}

/// Ported from `OtherPrimitivesTests.testQueue`.
#[test]
fn test_queue() {
    const N: usize = 2;
    const M: usize = 2;
    let queue = DeferredQueue::with_limits(Some(N), Some(M));
    let gotten = Recorder::new();
    let mut gets = Vec::new();
    for _ in 0..M {
        let g = gotten.clone();
        gets.push(queue.get().unwrap().map(move |i: usize| g.record(i.to_string())));
    }
    assert_eq!(queue.get().unwrap_err(), QueueUnderflow);

    for i in 0..M {
        queue.put(i).unwrap();
        assert_eq!(gotten.events(), (0..=i).map(|i| i.to_string()).collect::<Vec<_>>());
    }
    for i in 0..N {
        queue.put(N + i).unwrap();
        assert_eq!(gotten.events(), ["0", "1"]);
    }
    let overflow: QueueOverflow<usize> = queue.put(99).unwrap_err();
    assert_eq!(overflow.into_inner(), 99);

    gotten.take();
    for i in 0..N {
        let g = gotten.clone();
        gets.push(queue.get().unwrap().map(move |v| g.record(v.to_string())));
        assert_eq!(gotten.events(), (N..=N + i).map(|i| i.to_string()).collect::<Vec<_>>());
    }

    let queue = DeferredQueue::new();
    let gotten = Recorder::new();
    for _ in 0..N {
        let g = gotten.clone();
        gets.push(queue.get().unwrap().map(move |i: usize| g.record(i.to_string())));
    }
    for i in 0..N {
        queue.put(i).unwrap();
    }
    assert_eq!(gotten.events(), ["0", "1"]);

    let queue = DeferredQueue::<()>::with_limits(Some(0), None);
    assert!(queue.put(()).is_err());

    let queue = DeferredQueue::<()>::with_limits(None, Some(0));
    assert_eq!(queue.get().unwrap_err(), QueueUnderflow);
    for g in gets {
        success_result_of(g);
    }
}

/// Ported from `OtherPrimitivesTests.test_cancelQueueAfterSynchronousGet`.
#[test]
fn test_cancel_queue_after_synchronous_get() {
    let queue = DeferredQueue::<()>::new();
    let d = queue
        .get()
        .unwrap()
        .add_errback(|_| -> Result<(), Failure> { panic!("Unexpected errback call!") });
    queue.put(()).unwrap();
    d.cancel();
    success_result_of(d);
}

/// Ported from `OtherPrimitivesTests.test_cancelQueueAfterGet`: the cancelled get leaves the
/// queue, so a later value is not offered to it.
#[test]
fn test_cancel_queue_after_get() {
    let queue = DeferredQueue::<Option<u8>>::new();
    let d = queue.get().unwrap();
    d.cancel();
    let q = queue.clone();
    let d = d
        .add_errback(|f| {
            f.trap::<CancelledError>()?;
            Ok(None)
        })
        .add_callback(move |_| {
            q.put(None).unwrap();
            q.get().unwrap().map(|v| assert_eq!(v, None))
        });
    success_result_of(d);
}

#[test]
fn lock_waiters_get_the_lock_in_the_order_they_asked_for_it() {
    let lock = DeferredLock::new();
    let order = Recorder::new();
    let first = success_result_of(lock.acquire());
    let mut waiting = Vec::new();
    for i in 0..6 {
        let o = order.clone();
        waiting.push(lock.acquire().map(move |guard| {
            o.record(i.to_string());
            guard // released when the chain's result is dropped below
        }));
    }
    // Cancelling one in the middle keeps the others' places.
    waiting[2].cancel();
    assert_eq!(lock.waiting(), 5);
    drop(first);
    for d in waiting {
        match d.try_result() {
            TryResult::Value(guard) => drop(guard),
            TryResult::Failure(f) => assert!(f.check::<CancelledError>()),
            TryResult::Pending(d) => panic!("every waiter has been served in turn: {d:?}"),
        }
    }
    assert_eq!(order.take(), ["0", "1", "3", "4", "5"]);
    assert!(!lock.is_locked());
}

#[test]
fn semaphore_waiters_are_served_first_come_first_served() {
    let sem = DeferredSemaphore::new(2).unwrap();
    let order = Recorder::new();
    let a = success_result_of(sem.acquire());
    let b = success_result_of(sem.acquire());
    let mut waiting = Vec::new();
    for i in 0..4 {
        let o = order.clone();
        waiting.push(sem.acquire().map(move |permit| {
            o.record(i.to_string());
            permit
        }));
    }
    drop(b);
    assert_eq!(order.events(), ["0"]);
    let late = sem.acquire(); // queues behind the others, even though a token comes back next
    drop(a);
    assert_eq!(order.events(), ["0", "1"]);
    let mut rest = waiting.into_iter().map(|d| success_result_of(d));
    drop(rest.next()); // 0
    assert_eq!(order.events(), ["0", "1", "2"]);
    drop(rest.next()); // 1
    assert_eq!(order.take(), ["0", "1", "2", "3"]);
    assert_no_result(&late);
    let rest: Vec<SemaphorePermit> = rest.collect();
    drop(rest);
    let _late = success_result_of(late);
}

#[test]
fn queue_gets_are_served_in_the_order_they_were_made() {
    let queue = DeferredQueue::new();
    let gets: Vec<Deferred<u32>> = (0..5).map(|_| queue.get().unwrap()).collect();
    for v in 10..15 {
        queue.put(v).unwrap();
    }
    let got: Vec<u32> = gets.into_iter().map(success_result_of).collect();
    assert_eq!(got, [10, 11, 12, 13, 14]);
}

#[test]
fn run_releases_on_success_failure_panic_and_a_failed_deferred() {
    let lock = DeferredLock::new();
    let d = lock.run(|| Ok::<_, Failure>(1));
    assert_eq!(success_result_of(d), 1);
    assert!(!lock.is_locked());

    let d = lock.run(|| Err::<u8, _>(Failure::msg("refused")));
    assert_eq!(failure_result_of(d).error_message(), "refused");
    assert!(!lock.is_locked());

    let d = lock.run(|| -> Result<u8, Failure> { panic!("in the critical section") });
    assert!(failure_result_of(d).check::<PanicError>());
    assert!(!lock.is_locked());

    let (work, fire_work) = Deferred::<u8>::new();
    let d = lock.run(move || work);
    assert!(lock.is_locked());
    fire_work.errback(Failure::msg("later")).unwrap();
    assert_eq!(failure_result_of(d).error_message(), "later");
    assert!(!lock.is_locked());
}

#[test]
fn cancelling_run_cancels_the_work_and_releases() {
    let sem = DeferredSemaphore::new(1).unwrap();
    let (work, _fire_work) = Deferred::<u8>::new();
    let d = sem.run(move || work);
    assert_eq!(sem.tokens(), 0);
    d.cancel();
    assert!(failure_result_of(d).check::<CancelledError>());
    assert_eq!(sem.tokens(), 1);
}

#[test]
fn a_waiting_run_that_is_cancelled_never_calls_its_function() {
    let lock = DeferredLock::new();
    let guard = success_result_of(lock.acquire());
    let called = Arc::new(AtomicBool::new(false));
    let c = called.clone();
    let d = lock.run(move || c.store(true, Ordering::SeqCst));
    d.cancel();
    assert!(failure_result_of(d).check::<CancelledError>());
    drop(guard);
    assert!(!called.load(Ordering::SeqCst));
    assert!(!lock.is_locked());
}

#[test]
fn an_acquire_nobody_waits_for_any_more_does_not_wedge_the_lock() {
    let lock = DeferredLock::new();
    let guard = success_result_of(lock.acquire());
    drop(lock.acquire()); // queued, then forgotten
    let next = lock.acquire();
    drop(guard);
    // The forgotten waiter got the lock and dropped it at once: the next one has it now.
    let _guard = success_result_of(next);
    assert_eq!(lock.waiting(), 0);
}

#[test]
fn a_release_inside_a_waiters_callback_hands_over_once_that_callback_returns() {
    let lock = DeferredLock::new();
    let log = Recorder::new();
    let guard = success_result_of(lock.acquire());
    let l = log.clone();
    let first = lock.acquire().map(move |guard| {
        drop(guard);
        l.record("first released");
    });
    let l = log.clone();
    let second = lock.acquire().map(move |_guard| l.record("second acquired"));
    drop(guard);
    assert_eq!(log.take(), ["first released", "second acquired"]);
    success_result_of(first);
    success_result_of(second);
}

#[test]
fn a_hundred_thousand_waiters_releasing_in_their_callbacks_run_without_recursion() {
    const WAITERS: usize = 100_000;
    on_small_stack(|| {
        let lock = DeferredLock::new();
        let ran = Arc::new(AtomicUsize::new(0));
        let guard = success_result_of(lock.acquire());
        let runs: Vec<Deferred<()>> = (0..WAITERS)
            .map(|_| {
                let r = ran.clone();
                lock.run(move || {
                    r.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        drop(guard);
        assert_eq!(ran.load(Ordering::SeqCst), WAITERS);
        assert!(!lock.is_locked());
        drop(runs);
    });
}

#[test]
fn cancelling_a_get_that_a_put_has_already_served_keeps_the_value() {
    // Inside a hand-over, a put serves the next get but fires it only once the current
    // callback returns. Cancelling that get in between is too late, as it would be in Twisted
    // (where the put fires it at once): it must get the value, not lose it.
    let queue = DeferredQueue::<u32>::new();
    let first = queue.get().unwrap();
    let second: Arc<Deferred<u32>> = Arc::new(queue.get().unwrap());
    let (q, s) = (queue.clone(), second.clone());
    let first = first.map(move |v| {
        q.put(2).unwrap();
        s.cancel();
        v
    });
    queue.put(1).unwrap();
    assert_eq!(success_result_of(first), 1);
    let second = Arc::try_unwrap(second).unwrap();
    assert_eq!(success_result_of(second), 2);
    assert_eq!(queue.pending(), 0);
}

#[test]
fn cancelling_an_acquire_that_a_release_has_already_served_keeps_the_guard() {
    let lock = DeferredLock::new();
    let guard = success_result_of(lock.acquire());
    let first = lock.acquire();
    let second: Arc<Deferred<LockGuard>> = Arc::new(lock.acquire());
    let s = second.clone();
    let first = first.map(move |guard| {
        drop(guard); // serves `second`, which fires once this callback returns
        s.cancel();
    });
    drop(guard);
    success_result_of(first);
    let second = Arc::try_unwrap(second).unwrap();
    let _guard = success_result_of(second);
    assert!(lock.is_locked());
}

#[test]
fn a_put_racing_the_cancel_of_the_get_it_serves_loses_nothing() {
    // Either the get has the value, or it was cancelled and the value waits in the queue.
    for _ in 0..300 {
        let queue = DeferredQueue::<u32>::new();
        let get = queue.get().unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let (b, q) = (barrier.clone(), queue.clone());
        let putter = std::thread::spawn(move || {
            b.wait();
            q.put(7).unwrap();
        });
        barrier.wait();
        get.cancel();
        putter.join().unwrap();
        match get.try_result() {
            TryResult::Value(v) => assert_eq!((v, queue.pending()), (7, 0)),
            TryResult::Failure(f) => {
                assert!(f.check::<CancelledError>());
                assert_eq!(queue.pending(), 1, "the value was not lost");
            }
            TryResult::Pending(d) => panic!("the get has a result: {d:?}"),
        }
    }
}

#[test]
fn a_release_racing_the_cancel_of_the_acquire_it_serves_leaves_the_lock_consistent() {
    for _ in 0..300 {
        let lock = DeferredLock::new();
        let guard = success_result_of(lock.acquire());
        let acquire = lock.acquire();
        let barrier = Arc::new(Barrier::new(2));
        let b = barrier.clone();
        let releaser = std::thread::spawn(move || {
            b.wait();
            drop(guard);
        });
        barrier.wait();
        acquire.cancel();
        releaser.join().unwrap();
        match acquire.try_result() {
            TryResult::Value(guard) => {
                assert!(lock.is_locked());
                drop(guard);
            }
            TryResult::Failure(f) => assert!(f.check::<CancelledError>()),
            TryResult::Pending(d) => panic!("the acquire has a result: {d:?}"),
        }
        assert!(!lock.is_locked(), "the lock is not wedged");
    }
}

#[test]
fn the_lock_excludes_across_threads_and_the_semaphore_bounds_them() {
    const THREADS: usize = 4;
    const RUNS: usize = 500;
    for limit in [1usize, 3] {
        let sem = DeferredSemaphore::new(limit).unwrap();
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (sem, inside, most, done) =
                    (sem.clone(), inside.clone(), most.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut runs = Vec::new();
                    for _ in 0..RUNS {
                        let (inside, most, done) = (inside.clone(), most.clone(), done.clone());
                        runs.push(sem.run(move || {
                            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::hint::spin_loop();
                            inside.fetch_sub(1, Ordering::SeqCst);
                            done.fetch_add(1, Ordering::SeqCst);
                        }));
                    }
                    runs
                })
            })
            .collect();
        // Every thread first: a thread's queued runs are served by the others' releases.
        let runs: Vec<Deferred<()>> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
        for d in runs {
            success_result_of(d);
        }
        assert_eq!(done.load(Ordering::SeqCst), THREADS * RUNS);
        assert!(most.load(Ordering::SeqCst) <= limit);
        assert_eq!(sem.tokens(), limit);
    }
}

#[test]
fn values_put_from_several_threads_are_each_got_exactly_once() {
    const PRODUCERS: u32 = 4;
    const PER_PRODUCER: u32 = 1_000;
    let queue = DeferredQueue::<u32>::new();
    let got = Arc::new(Mutex::new(Vec::new()));
    // Half the gets wait before anything is put, the rest come after.
    let mut gets = Vec::new();
    for _ in 0..PRODUCERS * PER_PRODUCER / 2 {
        let g = got.clone();
        gets.push(queue.get().unwrap().map(move |v| g.lock().push(v)));
    }
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = queue.clone();
            std::thread::spawn(move || {
                for i in 0..PER_PRODUCER {
                    q.put(p * PER_PRODUCER + i).unwrap();
                }
            })
        })
        .collect();
    for _ in 0..PRODUCERS * PER_PRODUCER / 2 {
        let g = got.clone();
        gets.push(queue.get().unwrap().map(move |v| g.lock().push(v)));
    }
    for p in producers {
        p.join().unwrap();
    }
    for g in gets {
        success_result_of(g);
    }
    let mut got = got.lock().clone();
    got.sort_unstable();
    assert_eq!(got, (0..PRODUCERS * PER_PRODUCER).collect::<Vec<_>>());
    assert_eq!((queue.pending(), queue.waiting()), (0, 0));
}

#[test]
fn no_failure_is_reported_by_primitives_used_normally() {
    let ((), reports) = capture_unhandled(|| {
        let lock = DeferredLock::new();
        let held = success_result_of(lock.acquire());
        let waiting = lock.acquire();
        waiting.cancel();
        let _ = failure_result_of(waiting);
        drop(held);
        let queue = DeferredQueue::<u8>::new();
        let get = queue.get().unwrap();
        get.cancel();
        let _ = failure_result_of(get);
        queue.put(1).unwrap();
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn primitives_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<DeferredLock>();
    assert_send_sync::<LockGuard>();
    assert_send_sync::<DeferredSemaphore>();
    assert_send_sync::<SemaphorePermit>();
    assert_send_sync::<DeferredQueue<String>>();
    assert_send_sync::<DeferredQueue<std::cell::Cell<u8>>>();
    assert_send_sync::<QueueOverflow<String>>();
}

/// How much room a line of `live` waiters may take, in waiters: holes are compacted once they
/// outnumber the live waiters (and are more than a few dozen), the line grows by doubling, and
/// it gives room back once it uses less than a quarter.
fn line_bound(live: usize) -> usize {
    8 * (live + 64)
}

/// What repeated timeouts do: each new waiter is cancelled while the one at the front waits on.
const CANCELLED: usize = 200_000;

#[test]
fn cancelled_acquires_behind_a_stuck_waiter_keep_the_lock_line_small() {
    let lock = DeferredLock::new();
    let held = success_result_of(lock.acquire());
    let stuck = lock.acquire();
    for _ in 0..CANCELLED {
        let waiter = lock.acquire();
        waiter.cancel();
        assert!(failure_result_of(waiter).check::<CancelledError>());
    }
    assert_eq!(lock.waiting(), 1);
    assert!(lock.waiter_slots() <= line_bound(1), "{} slots", lock.waiter_slots());
    drop(held);
    drop(success_result_of(stuck));
    assert!(!lock.is_locked());
}

#[test]
fn cancelled_acquires_behind_a_stuck_waiter_keep_the_semaphore_line_small() {
    let sem = DeferredSemaphore::new(1).unwrap();
    let held = success_result_of(sem.acquire());
    let stuck = sem.acquire();
    for _ in 0..CANCELLED {
        let waiter = sem.acquire();
        waiter.cancel();
        assert!(failure_result_of(waiter).check::<CancelledError>());
    }
    assert_eq!(sem.waiting(), 1);
    assert!(sem.waiter_slots() <= line_bound(1), "{} slots", sem.waiter_slots());
    drop(held);
    drop(success_result_of(stuck));
    assert_eq!(sem.tokens(), 1);
}

#[test]
fn cancelled_gets_behind_a_stuck_get_keep_the_queue_line_small() {
    let queue = DeferredQueue::new();
    let stuck = queue.get().unwrap();
    for _ in 0..CANCELLED {
        let get = queue.get().unwrap();
        get.cancel();
        assert!(failure_result_of(get).check::<CancelledError>());
    }
    assert_eq!(queue.waiting(), 1);
    assert!(queue.waiter_slots() <= line_bound(1), "{} slots", queue.waiter_slots());
    queue.put(7).unwrap();
    assert_eq!(success_result_of(stuck), 7);
}

#[test]
fn a_burst_of_waiters_gives_its_room_back_as_it_drains() {
    let lock = DeferredLock::new();
    let held = success_result_of(lock.acquire());
    let burst: Vec<_> = (0..100_000).map(|_| lock.acquire()).collect();
    assert!(lock.waiter_slots() >= 100_000);
    drop(held);
    for waiter in burst {
        drop(success_result_of(waiter)); // each guard released in turn serves the next
    }
    assert_eq!(lock.waiting(), 0);
    assert!(lock.waiter_slots() <= line_bound(0), "{} slots", lock.waiter_slots());
}

#[test]
fn waiters_leaving_from_the_middle_keep_the_line_small_and_in_order() {
    // A stuck waiter at the front, then a window of live waiters that slides: each newcomer
    // stays and the oldest of the window is cancelled, so holes pile up between live waiters.
    const WINDOW: usize = 10;
    let queue = DeferredQueue::new();
    let stuck = queue.get().unwrap();
    let mut window = VecDeque::new();
    for i in 0..CANCELLED {
        window.push_back((i, queue.get().unwrap()));
        if window.len() > WINDOW {
            let (_, oldest) = window.pop_front().unwrap();
            oldest.cancel();
            assert!(failure_result_of(oldest).check::<CancelledError>());
        }
        let live = queue.waiting();
        assert!(queue.waiter_slots() <= line_bound(live), "{} slots", queue.waiter_slots());
    }
    assert_eq!(queue.waiting(), WINDOW + 1);
    for i in 0..=WINDOW {
        queue.put(i).unwrap();
    }
    assert_eq!(success_result_of(stuck), 0);
    for (k, (_, get)) in window.into_iter().enumerate() {
        assert_eq!(success_result_of(get), k + 1, "served in the order they asked");
    }
}
