//! A cache of work in flight: the second request for a poem waits on the first request's fetch.
//!
//! In Twisted, a cache keeps the Deferred of a fetch in flight, and a second request for the
//! same key adds its callbacks to that Deferred. Here the cache keeps the fetch's
//! `SharedDeferred`, and every request gets an observer of its own: readers who ask while the
//! fetch is on its way wait on it, readers who ask later have the poem at once, and a failed
//! fetch leaves the cache so that the next request tries again. One reader giving up (cancelling
//! its observer) does not stop the fetch for the others.
//!
//! The "server" is simulated on the time source (a fetch takes 1 s), so the story runs on the
//! real reactor with `cargo run` and on a `Clock` in its test.
//!
//! Run it with `cargo run --example inflight_cache --features reactor`. The guide's chapter is
//! `docs/guide/12-many-observers.md`.

mod support;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use deferreds::reactor::{Time, defer_later, exit_code, react};
use deferreds::{CancelledError, Deferred, Failure, SharedDeferred, gather_results};
pub use support::Out;

fn main() -> ExitCode {
    exit_code(react(|reactor| cache_story(reactor, &Out::stdout())))
}

/// Fetches `title` from the (simulated) poetry server: 1 s later, the poem or a failure.
fn fetch_poem(time: &impl Time, title: &str) -> Deferred<Arc<str>> {
    let title = title.to_owned();
    defer_later(time, 1.0, move || match title.as_str() {
        "Ozymandias" => Ok(Arc::from("I met a traveller from an antique land,\nwho said...")),
        "The Tyger" => Ok(Arc::from("Tyger Tyger, burning bright,\nin the forests of the night")),
        _ => Err(Failure::msg(format!("no poem called {title:?}"))),
    })
}

/// Poems by title: fetched once, shared with every reader who asks.
#[derive(Clone, Debug)]
pub struct PoemCache<T> {
    time: T,
    out: Out,
    /// A fetch in flight, or done, per title. The lock is held only to look up or insert:
    /// no callback runs under it.
    entries: Arc<Mutex<HashMap<String, SharedDeferred<Arc<str>>>>>,
    fetches: Arc<AtomicUsize>,
}

impl<T: Time + Clone + 'static> PoemCache<T> {
    /// An empty cache whose fetches run on `time`.
    pub fn new(time: &T, out: &Out) -> PoemCache<T> {
        PoemCache {
            time: time.clone(),
            out: out.clone(),
            entries: Arc::default(),
            fetches: Arc::default(),
        }
    }

    /// The poem called `title`: a Deferred of the caller's own, whoever started the fetch.
    pub fn get(&self, title: &str) -> Deferred<Arc<str>> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(fetch) = entries.get(title) {
            let state =
                if fetch.called() { "have it" } else { "a fetch is in flight; waiting on it" };
            self.out.line(format!("         (cache: {state})"));
            return fetch.observe();
        }
        let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
        self.out.line(format!("         (cache: nothing yet; fetch #{n} starts)"));
        let (cache, key) = (self.entries.clone(), title.to_owned());
        let fetch = fetch_poem(&self.time, title)
            .add_errback(move |failure| {
                // A failed fetch leaves the cache, so that the next request tries again. (It
                // runs from the server's timer, never inside `get`, which holds the lock.)
                cache.lock().unwrap_or_else(PoisonError::into_inner).remove(&key);
                Err(failure)
            })
            .share();
        let mine = fetch.observe();
        entries.insert(title.to_owned(), fetch);
        mine
    }

    /// How many fetches were started.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// One reader: asks for `title` after `delay` seconds and says what came back.
fn reader<T: Time + Clone + 'static>(
    cache: &PoemCache<T>,
    delay: f64,
    who: &'static str,
    title: &'static str,
) -> Deferred<()> {
    let (c, t) = (cache.clone(), cache.time.clone());
    defer_later(&cache.time, delay, move || {
        c.out.at(&t, format!("{who} asks for {title:?}"));
        let (o1, o2, t1, t2) = (c.out.clone(), c.out.clone(), t.clone(), t.clone());
        c.get(title).add_callbacks(
            move |poem| o1.at(&t1, format!("{who} got {title:?}: {:?}", first_line(&poem))),
            move |failure| o2.at(&t2, format!("{who} got a failure: {failure}")),
        )
    })
}

fn first_line(poem: &str) -> &str {
    poem.lines().next().unwrap_or_default()
}

/// Three readers of one poem (one fetch), a poem that does not exist (a failed fetch, tried
/// again), and a reader who gives up while the others still wait.
pub fn cache_story<T: Time + Clone + 'static>(time: &T, out: &Out) -> Deferred<()> {
    let cache = PoemCache::new(time, out);
    let mut readers = vec![
        reader(&cache, 0.0, "reader 1", "Ozymandias"),
        reader(&cache, 0.2, "reader 2", "Ozymandias"),
        reader(&cache, 1.5, "reader 3", "Ozymandias"),
        reader(&cache, 2.0, "reader 4", "Kubla Khan"),
        reader(&cache, 3.5, "reader 5", "Kubla Khan"),
    ];

    // Reader 6 gives up half a second in; reader 7, on the same fetch, still gets the poem.
    let (c, t, o) = (cache.clone(), time.clone(), out.clone());
    readers.push(defer_later(time, 5.0, move || {
        o.at(&t, "reader 6 asks for \"The Tyger\", and gives up after 0.5 s");
        let impatient = c.get("The Tyger");
        let (o2, t2) = (o.clone(), t.clone());
        let gave_up = impatient.map(|_poem| ()).add_errback(move |failure| {
            failure.trap::<CancelledError>()?;
            o2.at(&t2, "reader 6 gave up (only that reader's Deferred was cancelled)");
            Ok(())
        });
        let (t3, out3) = (t.clone(), o.clone());
        defer_later(&t, 0.5, move || gave_up.cancel()).add_callback(move |()| {
            out3.at(&t3, "reader 6 is gone");
            Ok::<_, Failure>(())
        })
    }));
    readers.push(reader(&cache, 5.2, "reader 7", "The Tyger"));

    let (o, c) = (out.clone(), cache.clone());
    gather_results(readers).map(move |_| {
        o.line(format!("fetches made: {} for 7 readers", c.fetches()));
    })
}
