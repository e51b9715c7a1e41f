//! [`SharedDeferred`]: one Deferred's result, handed to any number of observers.
//!
//! # How the result reaches the observers
//!
//! [`Deferred::share`] adds one step to the source chain, the *relay*. When the source fires,
//! the relay stores the result, takes every waiting observer out of the line at once, and
//! fires them one after another, in the order they were made, each with its own clone.
//!
//! Firing an observer runs its callbacks, and one of them may be another share's relay (an
//! observer of one share being the source of the next). Fired in place, a line of shares would
//! nest one fire per share. Instead, the observers a relay hands out go to a queue kept by the
//! thread: the outermost relay on the thread fires everything queued, including what nested
//! relays queue meanwhile, in a loop, so any number of observers and any line of shares fire at
//! constant stack depth. (The primitives' `hand_over` does the same for their waiters.)
//!
//! The share holds the source chain weakly and the relay holds the share strongly: while the
//! source can still fire, the share lives; once it cannot, nothing keeps the share but its
//! handles. Observers' cancellers hold the share weakly for the same reason.
//!
//! The same line, cancelled from its far end, would nest one cancel per share: an observer's
//! canceller that leaves nobody wanting the result cancels the source, an observer of the share
//! before. So it hands the source to the engine's cancellation loop instead
//! ([`Cancelled::Cascade`]), as the combinators do with their inputs.
//!
//! `T::clone`, run once per observer, is user code: a panic in it fails that observer alone.
//!
//! Part of the combinators, on the typed Deferred and the engine: it knows nothing of the
//! primitives, the async bridge or the reactor.

use std::any::Any;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::chain::{Cancelled, Cascade, Chain, Outcome, Tail};
use crate::deferred::Deferred;
use crate::deferred::waiters::{Waiters, left};
use crate::failure::Failure;
use crate::foundation::contain;
use crate::foundation::unhandled::shared;
use crate::foundation::value::Value;

/// One Deferred's result, shared with any number of observers: Twisted's several holders of
/// one Deferred, futures' `Shared`, a promise handed to several awaiters.
///
/// [`Deferred::share`] turns a Deferred into a `SharedDeferred`, a cheap, clonable handle.
/// Each call to [`observe`](SharedDeferred::observe) gives a new `Deferred<T>` of its own that
/// fires with a clone of the source's result, value or [`Failure`]:
///
/// - an observer made before the result arrives fires when it arrives; the waiting observers
///   fire in the order they were made, each one's callbacks running to the end (or to a wait)
///   before the next observer fires;
/// - an observer made once the result is in has it at once: callbacks added to it run inside
///   `add_callback`, as on any fired Deferred;
/// - each observer's chain is its own: what one observer's callbacks do to the value (or
///   whether an errback recovers from the failure) changes nothing for the others.
///
/// ```
/// use deferreds::Deferred;
/// use deferreds::testing::success_result_of;
///
/// let (poem, resolver) = Deferred::<String>::new();
/// let shared = poem.share();
/// let lines = shared.observe().map(|p| p.lines().count());
/// let title = shared.observe().map(|p| p.lines().next().unwrap_or_default().to_owned());
/// resolver.callback("Ozymandias\nI met a traveller".into()).unwrap();
/// assert_eq!(success_result_of(lines), 2);
/// assert_eq!(success_result_of(title), "Ozymandias");
/// assert_eq!(success_result_of(shared.observe()), "Ozymandias\nI met a traveller");
/// ```
///
/// # Cancellation
///
/// Cancelling an observer that is still waiting fails that observer alone with
/// [`CancelledError`](crate::CancelledError); the others go on waiting. When the last
/// waiting observer is cancelled and no `SharedDeferred` handle is left (so no observer can
/// ever be made again), nobody wants the result any more, and the source is cancelled too:
/// futures' `Shared` drops its future when the last handle goes. While a handle exists, the
/// source goes on, so that a later observer (the next request for a cached key) still gets
/// the result.
///
/// [`SharedDeferred::cancel`] cancels the source itself, which is what cancelling a Deferred
/// with several holders does in Twisted: every waiting observer then gets what the
/// cancellation left, a `CancelledError` or whatever the source's canceller fired.
///
/// ```
/// use deferreds::{CancelledError, Deferred};
/// use deferreds::testing::{assert_no_result, failure_result_of, success_result_of};
///
/// let (source, resolver) = Deferred::<u8>::new();
/// let shared = source.share();
/// let (first, second) = (shared.observe(), shared.observe());
/// first.cancel();
/// assert!(failure_result_of(first).check::<CancelledError>());
/// assert_no_result(&second); // still waiting
/// resolver.callback(7).unwrap();
/// assert_eq!(success_result_of(second), 7);
/// ```
///
/// # Unhandled failures
///
/// A failure shared by several observers is one failure, and it is reported once at most:
/// when the share and every observer that got it are gone, and not one of those observers
/// handled it (each chain ended on it, or was dropped with it). An observer whose errback
/// consumed it, or that awaited it, handled it, and then it is not reported at all, as a
/// Twisted Deferred's failure is not once any holder's errback has consumed it. A failure
/// nobody ever observed is reported when the share goes.
///
/// ```
/// use deferreds::Failure;
/// use deferreds::testing::capture_unhandled;
///
/// let ((), reports) = capture_unhandled(|| {
///     let shared = deferreds::fail::<u8>(Failure::msg("disk on fire")).share();
///     let (a, b) = (shared.observe(), shared.observe());
///     drop((shared, a, b)); // nobody handled it
/// });
/// assert_eq!(reports.len(), 1, "one report, not one per observer");
///
/// let ((), reports) = capture_unhandled(|| {
///     let shared = deferreds::fail::<u8>(Failure::msg("disk on fire")).share();
///     let ignored = shared.observe();
///     let handled = shared.observe().add_errback(|_| Ok(0));
///     drop((shared, ignored, handled));
/// });
/// assert!(reports.is_empty(), "one observer handled it");
/// ```
///
/// # Threads
///
/// `T` must be `Clone`, and `Sync` as well as `Send`: observers on several threads may clone
/// the one result at once (futures' `Shared` asks the same). A `SharedDeferred` is then `Send`
/// and `Sync`; observers may be made, cancelled and fired from any thread. The observers fire on the thread that fires the source (or, once
/// the result is in, inside `observe` on the caller's thread).
pub struct SharedDeferred<T> {
    share: Arc<Share<T>>,
}

struct Share<T> {
    state: Mutex<State<T>>,
    /// The source chain, for `cancel`. `None` when the source had its result already, with
    /// no chain at all.
    source: Option<Weak<Chain>>,
}

struct State<T> {
    /// The source's result, once it has arrived. In an `Arc` so that it is cloned for an
    /// observer outside the lock: `T::clone` is user code.
    result: Option<Arc<Result<T, Failure>>>,
    /// Observers waiting for the result: their chains, by ticket.
    waiting: Waiters<Arc<Chain>>,
    /// `SharedDeferred` handles alive: while there is one, an observer may still be made.
    handles: usize,
    /// The share cancelled the source because nobody wanted its result any more: that
    /// cancellation is not reported as unhandled.
    dropped_source: bool,
}

impl<T: Clone + Send + Sync + 'static> Deferred<T> {
    /// Shares this Deferred's result with any number of observers (see [`SharedDeferred`]).
    ///
    /// The source's own chain ends here: its steps so far run first, and their result is
    /// what every observer gets.
    ///
    /// ```
    /// let (d, resolver) = deferreds::Deferred::<u32>::new();
    /// let shared = d.map(|n| n * 2).share();
    /// let observers: Vec<_> = (0..3).map(|_| shared.observe()).collect();
    /// resolver.callback(21).unwrap();
    /// for observer in observers {
    ///     assert_eq!(deferreds::testing::success_result_of(observer), 42);
    /// }
    /// ```
    pub fn share(self) -> SharedDeferred<T> {
        let tail = self.into_tail();
        let source = tail.downgrade();
        let share = Arc::new(Share {
            state: Mutex::new(State {
                result: None,
                waiting: Waiters::new(),
                handles: 1,
                dropped_source: false,
            }),
            source,
        });
        let relay_share = share.clone();
        // Runs at once if the result is already in, and stores it; nobody observes yet.
        let tail = tail.push(move |input: Result<Value, Failure>| {
            relay(relay_share, input.map(Value::take::<T>))
        });
        // The source chain is held by whoever can fire it; the share only needs to reach it.
        drop(tail);
        SharedDeferred { share }
    }
}

/// The relay: stores the result, then fires every observer waiting for it, in order.
fn relay<T: Clone + Send + Sync + 'static>(
    share: Arc<Share<T>>,
    result: Result<T, Failure>,
) -> Outcome {
    let mut st = share.state.lock();
    if let Err(failure) = &result {
        if !st.dropped_source {
            shared::opened(failure);
        }
    }
    let result = Arc::new(result);
    st.result = Some(result.clone());
    let mut observers = Vec::with_capacity(st.waiting.len());
    while let Some(observer) = st.waiting.pop() {
        observers.push(observer);
    }
    drop(st);
    if !observers.is_empty() {
        hand_out(Box::new(Batch { observers: observers.into_iter(), result }));
    }
    Outcome::Value(Value::UNIT)
}

/// Observers taken out of a share's line, to be fired in order with clones of one result.
struct Batch<T> {
    observers: std::vec::IntoIter<Arc<Chain>>,
    result: Arc<Result<T, Failure>>,
}

/// A [`Batch`] whatever its type.
trait Fire {
    /// Fires the next observer; `false` once none is left.
    fn fire_next(&mut self) -> bool;
}

impl<T: Clone + Send + Sync + 'static> Fire for Batch<T> {
    fn fire_next(&mut self) -> bool {
        let Some(observer) = self.observers.next() else { return false };
        let result = clone_for_observer(&self.result);
        // Nobody else can fire an observer: it has no resolver outside the share, and a cancel
        // that finds it out of the line leaves it pending for this fire.
        let _ = observer.fire(result.map(Value::new), Location::caller());
        // This may be the observer's last handle (its Deferred was dropped): what its chain
        // owns is user code, and has no chain left to fail.
        contain::drop_reporting(observer);
        !self.observers.as_slice().is_empty()
    }
}

thread_local! {
    /// `Some` while this thread fires observers; batches handed out meanwhile queue here.
    static HANDING_OUT: RefCell<Option<VecDeque<Box<dyn Fire>>>> = const { RefCell::new(None) };
}

/// Fires `batch`, or queues it if this thread is already firing observers (see the module
/// docs). The outermost call fires every batch queued, one observer at a time, oldest batch
/// first; a panic that escapes a fire (from a waker) is passed on once all are fired, so that
/// no observer is stranded.
fn hand_out(batch: Box<dyn Fire>) {
    let mut batch = Some(batch);
    let nested = HANDING_OUT.try_with(|queue| {
        let mut queue = queue.borrow_mut();
        match queue.as_mut() {
            Some(queue) => {
                queue.extend(batch.take());
                true
            }
            None => {
                *queue = Some(VecDeque::new());
                false
            }
        }
    });
    let Some(batch) = batch else { return };
    let mut panic = None;
    if nested.is_err() {
        // The thread is exiting and its storage is gone: fire in place.
        fire_all(batch, &mut panic);
    } else {
        let mut next = Some(batch);
        while let Some(batch) = next {
            fire_all(batch, &mut panic);
            next = HANDING_OUT.with(|queue| {
                let mut queue = queue.borrow_mut();
                let next = queue.as_mut().and_then(VecDeque::pop_front);
                if next.is_none() {
                    *queue = None;
                }
                next
            });
        }
    }
    if let Some(payload) = panic {
        resume_unwind(payload);
    }
}

/// Fires every observer of `batch`, even if a fire unwinds (keeping the first panic in
/// `panic`), then drops the batch. Nothing unwinds out of it: the caller's loop must go on to
/// the next batch, and end.
fn fire_all(mut batch: Box<dyn Fire>, panic: &mut Option<Box<dyn Any + Send>>) {
    loop {
        match catch_unwind(AssertUnwindSafe(|| batch.fire_next())) {
            Ok(true) => {}
            Ok(false) => break,
            Err(payload) => contain::keep_first(panic, payload),
        }
    }
    // The batch holds the last reference to the result once the share is gone, and `T`'s
    // destructor (or the error's) is user code.
    contain::drop_reporting(batch);
}

/// A clone of the shared result for one observer. `T::clone` is user code: a panic in it is
/// that observer's failure.
fn clone_for_observer<T: Clone>(result: &Result<T, Failure>) -> Result<T, Failure> {
    match result {
        Ok(value) => catch_unwind(AssertUnwindSafe(|| value.clone())).map_err(Failure::from_panic),
        Err(failure) => {
            shared::delivered(failure);
            Err(failure.clone())
        }
    }
}

impl<T: Clone + Send + Sync + 'static> SharedDeferred<T> {
    /// A new observer: a Deferred of its own that fires with a clone of the source's result,
    /// at once if it is in already.
    ///
    /// ```
    /// let shared = deferreds::succeed(vec![1, 2, 3]).share();
    /// let total = shared.observe().map(|v| v.iter().sum::<i32>());
    /// assert_eq!(deferreds::testing::success_result_of(total), 6);
    /// ```
    #[track_caller]
    pub fn observe(&self) -> Deferred<T> {
        let at = Location::caller();
        let mut st = self.share.state.lock();
        if let Some(result) = st.result.clone() {
            drop(st);
            let result = clone_for_observer(&result);
            return Deferred::from_tail(Tail::ready(result.map(Value::new), at));
        }
        let ticket = st.waiting.next_ticket();
        let weak = Arc::downgrade(&self.share);
        let (observer, resolver) = Deferred::with_raw_canceller(move || match weak.upgrade() {
            Some(share) => share.leave(ticket),
            None => Cancelled::Fail,
        });
        st.waiting.push(resolver.chain.clone());
        drop(st);
        observer
    }

    /// Cancels the source Deferred: every observer still waiting gets what the cancellation
    /// leaves (Twisted's `cancel` on a Deferred with several holders). Nothing happens if the
    /// result is in already.
    ///
    /// ```
    /// use deferreds::{CancelledError, Deferred};
    /// use deferreds::testing::failure_result_of;
    ///
    /// let (source, _resolver) = Deferred::<u8>::new();
    /// let shared = source.share();
    /// let (a, b) = (shared.observe(), shared.observe());
    /// shared.cancel();
    /// assert!(failure_result_of(a).check::<CancelledError>());
    /// assert!(failure_result_of(b).check::<CancelledError>());
    /// ```
    #[track_caller]
    pub fn cancel(&self) {
        if let Some(source) = self.share.source.as_ref().and_then(Weak::upgrade) {
            source.cancel(Location::caller());
        }
    }
}

impl<T> SharedDeferred<T> {
    /// Whether the source's result has arrived (observers made now have it at once).
    ///
    /// ```
    /// let (d, r) = deferreds::Deferred::<u8>::new();
    /// let shared = d.share();
    /// assert!(!shared.called());
    /// r.callback(1).unwrap();
    /// assert!(shared.called());
    /// ```
    pub fn called(&self) -> bool {
        self.share.state.lock().result.is_some()
    }

    /// How many observers are waiting for the result.
    ///
    /// ```
    /// let (d, _r) = deferreds::Deferred::<u8>::new();
    /// let shared = d.share();
    /// let (a, _b) = (shared.observe(), shared.observe());
    /// a.cancel();
    /// assert_eq!(shared.waiting(), 1);
    /// ```
    pub fn waiting(&self) -> usize {
        self.share.state.lock().waiting.len()
    }
}

impl<T> Share<T> {
    /// The canceller of the observer with `ticket`: leave the line, and cancel the source if
    /// that left nobody who could still want the result.
    ///
    /// The source is handed to the engine to cancel ([`Cancelled::Cascade`]) rather than
    /// cancelled here: it may be an observer of another share, whose canceller may do the same,
    /// and a line of shares cancelled from its far end would recurse once per share.
    fn leave(&self, ticket: u64) -> Cancelled {
        let mut st = self.state.lock();
        let removed = st.waiting.remove(ticket);
        let abandon = removed.is_some() && st.waiting.len() == 0 && st.handles == 0;
        if abandon {
            st.dropped_source = true;
        }
        drop(st);
        let answer = left(removed);
        match (abandon, &self.source) {
            (true, Some(source)) => {
                Cancelled::Cascade(Box::new(Abandon { source: Some(source.clone()), answer }))
            }
            _ => answer,
        }
    }
}

/// An observer's canceller that found nobody left who wants the result, under way: the engine
/// cancels the source, then the canceller answers as it would have.
struct Abandon {
    source: Option<Weak<Chain>>,
    answer: Cancelled,
}

impl Cascade for Abandon {
    fn members(&mut self) -> Vec<Option<Weak<Chain>>> {
        vec![self.source.take()]
    }

    fn then(self: Box<Self>) -> Cancelled {
        self.answer
    }
}

impl<T> Clone for SharedDeferred<T> {
    fn clone(&self) -> Self {
        self.share.state.lock().handles += 1;
        SharedDeferred { share: self.share.clone() }
    }
}

impl<T> Drop for SharedDeferred<T> {
    fn drop(&mut self) {
        self.share.state.lock().handles -= 1;
    }
}

impl<T> Drop for Share<T> {
    fn drop(&mut self) {
        let st = self.state.get_mut();
        if let (Some(Err(failure)), false) = (st.result.as_deref(), st.dropped_source) {
            shared::closed(failure);
        }
    }
}

impl<T> fmt::Debug for SharedDeferred<T> {
    /// `SharedDeferred<u8> { called: false, waiting: 2 }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.share.state.lock();
        let name = format!("SharedDeferred<{}>", std::any::type_name::<T>());
        f.debug_struct(&name)
            .field("called", &st.result.is_some())
            .field("waiting", &st.waiting.len())
            .finish()
    }
}
