//! Thread safety: Send/Sync, and no user code under a lock.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use parking_lot::Mutex;

use deferreds::testing::success_result_of;
use deferreds::{Deferred, Failure, Resolver, Step};

#[test]
fn deferred_resolver_and_failure_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Deferred<u64>>();
    assert_send_sync::<Deferred<String>>();
    assert_send_sync::<Resolver<Vec<u8>>>();
    assert_send_sync::<Failure>();
    // T only needs Send: the chain never shares a value between threads.
    assert_send_sync::<Deferred<std::cell::Cell<u8>>>();
}

#[test]
fn a_deferred_fired_on_another_thread_runs_its_callbacks_there() {
    let (d, r) = Deferred::<u8>::new();
    let here = std::thread::current().id();
    let d = d.map(move |n| (n, std::thread::current().id() != here));
    std::thread::spawn(move || r.callback(7).unwrap()).join().unwrap();
    assert_eq!(success_result_of(d), (7, true));
}

/// Callbacks that add to, inspect and fire other Deferreds of the same chain, on several
/// threads at once. The crate's lock is not re-entrant, so any user code run under it would
/// deadlock; the test fails by timeout in that case instead of hanging.
#[test]
fn no_user_code_runs_under_a_lock() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 200;
    let (done_tx, done_rx) = mpsc::channel();
    for t in 0..THREADS {
        let done = done_tx.clone();
        std::thread::spawn(move || {
            for round in 0..ROUNDS {
                let (inner, fire_inner) = Deferred::<usize>::new();
                let (outer, fire_outer) = Deferred::<usize>::new();
                let slot: Arc<Mutex<Option<Deferred<usize>>>> = Arc::new(Mutex::new(None));
                let (s1, fo, fi) = (slot.clone(), fire_outer.clone(), fire_inner.clone());
                let outer = outer
                    .add_callback(move |n| {
                        // Inspect and re-fire our own chain (an error, as in Twisted).
                        assert!(fo.called());
                        assert!(fo.callback(0).is_err());
                        // Add to our own tail from inside the run.
                        let parked = s1.lock().take();
                        if let Some(tail) = parked {
                            *s1.lock() = Some(tail.map(|n| n + 1));
                        }
                        // Fire another chain, whose steps run now, and wait on it.
                        Step::from(fi.callback(n + 1).map(|()| inner).map_err(Failure::new))
                    })
                    .add_errback(|f: Failure| -> Result<usize, Failure> { Err(f) });
                *slot.lock() = Some(outer);
                let fire = fire_outer.clone();
                let other = std::thread::spawn(move || fire.callback(round * THREADS + t));
                let _ = other.join().unwrap();
                let outer = slot.lock().take().unwrap();
                assert_eq!(success_result_of(outer), round * THREADS + t + 2);
            }
            done.send(()).unwrap();
        });
    }
    for _ in 0..THREADS {
        done_rx.recv_timeout(Duration::from_secs(60)).expect("a thread deadlocked");
    }
}

#[test]
fn racing_fires_from_many_threads_let_exactly_one_win() {
    for _ in 0..200 {
        let (d, r) = Deferred::<usize>::new();
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let r = r.clone();
                std::thread::spawn(move || r.callback(i).is_ok())
            })
            .collect();
        let wins = handles.into_iter().map(|h| h.join().unwrap()).filter(|&won| won).count();
        assert_eq!(wins, 1);
        assert!(success_result_of(d) < 4);
    }
}

#[test]
fn adding_steps_while_another_thread_fires_loses_none() {
    for _ in 0..200 {
        let (d, r) = Deferred::<u64>::new();
        let firer = std::thread::spawn(move || r.callback(0).unwrap());
        let mut d = d;
        for _ in 0..50 {
            d = d.map(|n| n + 1);
        }
        firer.join().unwrap();
        assert_eq!(success_result_of(d), 50);
    }
}
