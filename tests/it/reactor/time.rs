//! Delays as `Duration` or `f64` seconds everywhere, and `Time` implemented outside the crate on
//! a `TimerQueue`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use deferreds::Deferred;
use deferreds::reactor::{
    Clock, DelayedCall, InvalidDelayError, LoopingCall, Seconds, Time, TimeoutError, TimerQueue,
    defer_later,
};
use deferreds::testing::{Recorder, assert_no_result, failure_result_of, success_result_of};

#[test]
fn every_delay_interval_and_timeout_takes_a_duration_or_seconds_alike() {
    let clock = Clock::new();
    let ms = Duration::from_millis;
    let a = clock.call_later(ms(1500), || ()).unwrap();
    let b = clock.call_later(1.5, || ()).unwrap();
    assert_eq!(a.get_time(), b.get_time());
    a.reset(ms(2000)).unwrap();
    a.delay(ms(500)).unwrap();
    assert_eq!(a.get_time(), 2.5);
    a.delay(-0.5).unwrap();
    assert_eq!(a.get_time(), 2.0);

    let later = defer_later(&clock, ms(3000), || Ok(3));
    let (slow, _r) = Deferred::<u8>::new();
    let slow = slow.add_timeout(Duration::from_secs(4), &clock);
    let ticks = Arc::new(AtomicUsize::new(0));
    let t = ticks.clone();
    let lc = LoopingCall::new(clock.clone(), move || {
        t.fetch_add(1, Ordering::SeqCst);
    });
    let _done = lc.start(ms(1000), false).unwrap();
    lc.set_interval(Duration::from_secs(1)).unwrap();
    assert_eq!(lc.interval(), Some(1.0));

    clock.advance(ms(2500));
    assert_no_result(&later);
    clock.pump([ms(500), ms(1000)]);
    assert_eq!(success_result_of(later), 3);
    assert_eq!(failure_result_of(slow).downcast_ref::<TimeoutError>().unwrap().timeout(), 4.0);
    assert_eq!(ticks.load(Ordering::SeqCst), 3, "at 2.5 (one interval skipped), 3 and 4");
    assert_eq!(clock.seconds(), 4.0);
    lc.stop().unwrap();
}

#[test]
fn seconds_convert_from_both_units_and_bad_f64_is_still_refused() {
    assert_eq!(Seconds::from(Duration::from_micros(1)).as_secs_f64(), 1e-6);
    assert_eq!(Seconds::from(2.0), Seconds::new(2.0));
    let clock = Clock::new();
    let err: InvalidDelayError = clock.call_later(-1.0, || ()).unwrap_err();
    assert_eq!(err.delay(), -1.0);
    assert!(clock.call_later(Duration::MAX, || ()).is_ok(), "huge but finite");
}

#[test]
fn the_reactor_takes_durations_too() {
    let reactor = deferreds::reactor::Reactor::new();
    let start = reactor.seconds();
    let ran_at = Arc::new(parking_lot::Mutex::new(None));
    let (r, ran) = (reactor.clone(), ran_at.clone());
    let call = reactor
        .call_later(Duration::from_millis(1), move || {
            *ran.lock() = Some(r.seconds());
            r.stop().unwrap();
        })
        .unwrap();
    assert!(call.get_time() >= start + 0.001, "due a millisecond on: {}", call.get_time());
    reactor.run().unwrap();
    let ran_at = ran_at.lock().expect("the call ran");
    assert!(ran_at >= call.get_time(), "ran at {ran_at}, due at {}", call.get_time());
}

/// A time source outside the crate: whole milliseconds, moved by hand, on a `TimerQueue`.
#[derive(Clone)]
struct Ticks {
    millis: Arc<AtomicU64>,
    queue: TimerQueue,
}

impl Ticks {
    fn new(wakes: Arc<AtomicUsize>) -> Ticks {
        let millis = Arc::new(AtomicU64::new(0));
        let m = millis.clone();
        let queue = TimerQueue::new(
            move || m.load(Ordering::SeqCst) as f64 / 1000.0,
            move || {
                wakes.fetch_add(1, Ordering::SeqCst);
            },
        );
        Ticks { millis, queue }
    }

    fn tick(&self, millis: u64) -> usize {
        self.millis.fetch_add(millis, Ordering::SeqCst);
        self.queue.run_due()
    }
}

impl Time for Ticks {
    fn seconds(&self) -> f64 {
        self.queue.now()
    }

    fn call_later_boxed(
        &self,
        delay: Seconds,
        f: Box<dyn FnOnce() + Send + 'static>,
    ) -> Result<DelayedCall, InvalidDelayError> {
        self.queue.call_later_boxed(delay, f)
    }
}

#[test]
fn a_time_implemented_outside_the_crate_drives_defer_later_timeouts_and_loops() {
    let ticks = Ticks::new(Arc::default());
    let later = defer_later(&ticks, Duration::from_millis(20), || Ok("twenty"));
    let (poem, _server) = Deferred::<String>::new();
    let poem = poem.add_timeout(0.05, &ticks);
    let log = Recorder::new();
    let (l, t) = (log.clone(), ticks.clone());
    let lc = LoopingCall::new(ticks.clone(), move || l.record(format!("{}", t.seconds())));
    let done = lc.start(0.03, true).unwrap();

    assert_eq!(ticks.tick(10), 0);
    assert_no_result(&later);
    ticks.tick(10);
    assert_eq!(success_result_of(later), "twenty");
    ticks.tick(10);
    ticks.tick(20);
    assert!(failure_result_of(poem).check::<TimeoutError>());
    lc.stop().unwrap();
    assert_eq!(success_result_of(done), lc);
    assert_eq!(log.take(), ["0", "0.03"]);
    assert!(ticks.queue.pending_calls().is_empty());
}

#[test]
fn a_looping_call_holds_a_time_without_a_weak_handle_strongly() {
    let ticks = Ticks::new(Arc::default());
    assert!(ticks.downgrade().is_none());
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let lc = LoopingCall::new(ticks.clone(), move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    let _done = lc.start(0.01, false).unwrap();
    let queue = ticks.queue.clone();
    let millis = ticks.millis.clone();
    drop(ticks); // the loop still has it
    millis.fetch_add(10, Ordering::SeqCst);
    queue.run_due();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    lc.reset().unwrap();
    lc.stop().unwrap();
}

#[test]
fn the_queue_wakes_its_loop_only_for_a_new_earliest_call() {
    let wakes = Arc::new(AtomicUsize::new(0));
    let ticks = Ticks::new(wakes.clone());
    let first = ticks.call_later(1.0, || ()).unwrap();
    assert_eq!(wakes.load(Ordering::SeqCst), 1);
    ticks.call_later(2.0, || ()).unwrap();
    assert_eq!(wakes.load(Ordering::SeqCst), 1, "not earlier than the first");
    let third = ticks.call_later(3.0, || ()).unwrap();
    third.reset(0.5).unwrap();
    assert_eq!(wakes.load(Ordering::SeqCst), 2, "moved ahead of every other call");
    first.reset(5.0).unwrap();
    assert_eq!(wakes.load(Ordering::SeqCst), 2, "moving a call later needs no wake");
    assert_eq!(ticks.queue.next_due(), Some(0.5));
}

#[test]
fn run_due_leaves_calls_a_running_call_schedules_for_now_to_the_next_run() {
    let ticks = Ticks::new(Arc::default());
    let runs = Arc::new(AtomicUsize::new(0));
    fn again(time: Ticks, runs: Arc<AtomicUsize>) {
        runs.fetch_add(1, Ordering::SeqCst);
        let t = time.clone();
        time.call_later(0.0, move || again(t, runs)).unwrap();
    }
    let (t, r) = (ticks.clone(), runs.clone());
    ticks.call_later(0.0, move || again(t, r)).unwrap();
    assert_eq!(ticks.tick(0), 1);
    assert_eq!(ticks.tick(0), 1);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    // The pending call owns a handle to its own queue: cancel it, or the two keep each other.
    for call in ticks.queue.pending_calls() {
        call.cancel().unwrap();
    }
}
