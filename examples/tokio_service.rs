//! `tokio_service`: Deferreds inside a tokio program.
//!
//! A small poetry service. Its downloads are tokio futures (tokio's `sleep` stands in for the
//! network), run on the runtime as Deferreds with `deferreds::tokio::spawn`; the service awaits
//! them, chains one on another with `and_then`, and gives up on a slow one with a timeout on
//! tokio's clock, which aborts its task. Every line is stamped with `TokioTime`'s seconds.
//!
//! `cargo run` runs it on the real clock (about five seconds); `tests/examples.rs` runs the same
//! story on a paused tokio clock, where it takes no time at all.
//!
//! Run it with `cargo run --example tokio_service --features tokio`. The guide's chapter is
//! `docs/guide/14-tokio.md`.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deferreds::reactor::TimeoutError;
use deferreds::tokio::{TokioTime, spawn};
use deferreds::{Deferred, Failure, IntoFailure};
pub use support::Out;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let time = TokioTime::new();
    poetry_service(&time, &Out::stdout()).await?; // a `Failure` leaves with `?`
    Ok(())
}

/// Downloads a poem: a tokio future, which must be polled on the runtime. `dropped` is set
/// when the future is dropped, finished or not: how the story shows that a task was aborted.
async fn fetch(
    name: &'static str,
    seconds: u64,
    dropped: Arc<AtomicBool>,
) -> std::io::Result<String> {
    struct OnDrop(Arc<AtomicBool>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let _on_drop = OnDrop(dropped);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let poem = match name {
        "ode" => "Thou still unravish'd bride of quietness,\nThou foster-child of silence",
        _ => "Shall I compare thee to a summer's day?",
    };
    Ok(poem.to_owned())
}

/// A download run on the runtime as a Deferred of the poem; an I/O error becomes its failure.
fn download(
    time: &TokioTime,
    out: &Out,
    name: &'static str,
    seconds: u64,
    dropped: Arc<AtomicBool>,
) -> Deferred<String> {
    out.at(time, format!("{name}: download started"));
    spawn(fetch(name, seconds, dropped)).add_callback(|result| result.into_failure())
}

/// The service: await one poem, chain a second on the first, and time out a third.
pub async fn poetry_service(time: &TokioTime, out: &Out) -> Result<(), Failure> {
    // 1. A Deferred awaited like any future; its callbacks ran on the runtime's thread.
    let (t, o) = (time.clone(), out.clone());
    let lines = download(time, out, "ode", 2, Arc::default()).map(move |poem| {
        o.at(&t, format!("ode: {} lines", poem.lines().count()));
        poem.lines().count()
    });
    let count = lines.await?;

    // 2. A step that may fail, then waits on another Deferred: `and_then`, not `Ok(deferred)`
    //    from `add_callback`, which would carry the Deferred as a value.
    let (t, o, time2) = (time.clone(), out.clone(), time.clone());
    let second = deferreds::succeed(count).and_then(move |count| {
        if count == 0 {
            return Err(Failure::msg("an empty ode: no sonnet today"));
        }
        Ok(download(&time2, &o, "sonnet", 1, Arc::default()).map(move |poem| {
            o.at(&t, format!("sonnet: {poem}"));
        }))
    });
    second.await?;

    // 3. A timeout on tokio's clock: it cancels the Deferred, which aborts the download's task.
    let dropped = Arc::new(AtomicBool::new(false));
    let epic = download(time, out, "epic", 3600, dropped.clone())
        .add_timeout(Duration::from_secs(2), time);
    match epic.await {
        Err(failure) if failure.check::<TimeoutError>() => {
            out.at(time, format!("epic: {failure}"));
        }
        other => return other.map(drop),
    }
    // The aborted task drops its future at its next turn on the runtime.
    while !dropped.load(Ordering::SeqCst) {
        tokio::task::yield_now().await;
    }
    out.at(time, "epic: its task was aborted, and its future dropped");
    Ok(())
}
