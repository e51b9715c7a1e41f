//! What the hardening tests share: a watchdog that turns a hang into a failure, the soak
//! switch, a small deterministic random number generator, a thread with a small stack, and
//! user code that panics where the crate calls or drops it.

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::task::{Context, Poll, Wake};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use deferreds::{Failure, PanicError};

/// Held by every test that sets the process-wide unhandled-failure hook.
pub(crate) static HOOK: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// Whether the long runs were asked for: `DEFERREDS_SOAK=1` (any value but `0`). See
/// `docs/reliability.md`; meant for `cargo test --release`.
pub(crate) fn soak() -> bool {
    std::env::var_os("DEFERREDS_SOAK").is_some_and(|v| v != "0")
}

/// `DEFERREDS_SOAK_OPS`, if set: how many operations a stress scenario runs.
pub(crate) fn soak_ops() -> Option<u64> {
    std::env::var("DEFERREDS_SOAK_OPS").ok().and_then(|v| v.parse().ok())
}

/// `DEFERREDS_SOAK_ROUNDS`, if set: how many rounds a race in `races.rs` runs.
pub(crate) fn soak_rounds() -> Option<u64> {
    std::env::var("DEFERREDS_SOAK_ROUNDS").ok().and_then(|v| v.parse().ok())
}

/// Aborts the process, naming `what`, if [`pet`](Watchdog::pet) is not called for `limit`:
/// a thread that waits forever fails the run instead of hanging it. (A hung thread cannot be
/// made to fail any other way.) Dropping the watchdog stops it.
pub(crate) struct Watchdog {
    progress: Arc<AtomicU64>,
    note: Arc<parking_lot::Mutex<String>>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    pub(crate) fn new(what: impl Into<String>, limit: Duration) -> Watchdog {
        let what = what.into();
        let progress = Arc::new(AtomicU64::new(0));
        let note = Arc::new(parking_lot::Mutex::new(String::new()));
        let (stop, stopped) = mpsc::channel::<()>();
        let (seen, noted) = (progress.clone(), note.clone());
        let thread = std::thread::spawn(move || {
            let mut last = (seen.load(Ordering::SeqCst), Instant::now());
            loop {
                match stopped.recv_timeout(Duration::from_millis(200)) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let now = seen.load(Ordering::SeqCst);
                if now != last.0 {
                    last = (now, Instant::now());
                } else if last.1.elapsed() > limit {
                    // Straight to the process's stderr: the test harness's capture of
                    // `eprintln!` would be lost with the process.
                    let _ = writeln!(
                        std::io::stderr(),
                        "watchdog: {what} made no progress for {limit:?} (at step {now}): \
                         something waits forever; aborting. Doing: {}",
                        noted.lock()
                    );
                    std::process::abort();
                }
            }
        });
        Watchdog { progress, note, stop: Some(stop), thread: Some(thread) }
    }

    /// Records progress.
    pub(crate) fn pet(&self) {
        self.progress.fetch_add(1, Ordering::SeqCst);
    }

    /// Records progress, and what is being done now: printed if it hangs.
    pub(crate) fn pet_doing(&self, doing: String) {
        *self.note.lock() = doing;
        self.pet();
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs `f` on a thread with a 256 KiB stack, so recursion would overflow it, and passes on
/// its panic.
pub(crate) fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(256 * 1024).spawn(f).unwrap().join().unwrap();
}

/// SplitMix64: small, fast, and the same sequence for the same seed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// An error whose `Display` panics, with the message "Display panicked".
#[derive(Debug)]
pub(crate) struct BadDisplay;

impl std::fmt::Display for BadDisplay {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("Display panicked")
    }
}

impl std::error::Error for BadDisplay {}

/// Whether `f` is a panic with this message.
pub(crate) fn is_panic(f: &Failure, message: &str) -> bool {
    f.downcast_ref::<PanicError>().is_some_and(|p| p.message() == message)
}

/// A value whose destructor panics with "in a destructor".
pub(crate) struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("in a destructor");
    }
}

/// A future that owns a guard beside the future it runs: the guard outlives the completion
/// and goes only when the future is dropped.
pub(crate) struct Guarded<F>(pub(crate) F, pub(crate) PanicsOnDrop);

impl<F: Future + Unpin> Future for Guarded<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// A waker that panics with "a waker panicked" when woken (a foreign executor's bug).
pub(crate) struct PanickingWaker;

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("a waker panicked");
    }
}

/// A waker that counts its wakes; its `Arc`'s strong count says how many clones are alive.
#[derive(Default)]
pub(crate) struct CountingWaker(AtomicUsize);

impl CountingWaker {
    /// How many times it was woken.
    pub(crate) fn wakes(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
