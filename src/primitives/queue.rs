//! [`DeferredQueue`]: a queue whose `get` returns a Deferred.
//!
//! Part of the coordination primitives, on the typed Deferred and the engine: it knows nothing of
//! the combinators, the async bridge or the reactor.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use super::line;
use crate::deferred::resolver::Resolver;
use crate::deferred::waiters::{Waiters, hand_over};
use crate::deferred::{Deferred, succeed};
use crate::error::{QueueOverflow, QueueUnderflow};

/// A FIFO queue for callback code: [`put`](DeferredQueue::put) adds a value,
/// [`get`](DeferredQueue::get) returns a Deferred that fires with the next one (Twisted's
/// `DeferredQueue`).
///
/// A value put while gets are waiting goes straight to the oldest of them; otherwise it waits
/// in the queue for the next get. Two optional limits bound the queue: `size`, the number of
/// values it holds ([`QueueOverflow`] beyond it), and `backlog`, the number of gets that may
/// wait ([`QueueUnderflow`] beyond it). Cancelling a waiting get takes it out of the line.
/// Clones share the same queue.
///
/// ```
/// use deferreds::DeferredQueue;
///
/// let queue = DeferredQueue::new();
/// let first = queue.get().unwrap(); // nothing queued yet: waits
/// queue.put("a").unwrap(); // goes to the waiting get
/// queue.put("b").unwrap(); // waits in the queue
/// assert_eq!(deferreds::testing::success_result_of(first), "a");
/// assert_eq!(deferreds::testing::success_result_of(queue.get().unwrap()), "b");
/// ```
///
/// Gets still waiting when the last handle to the queue is dropped never fire, like a
/// Deferred whose resolver was dropped; cancelling them fails them with
/// [`CancelledError`](crate::CancelledError).
pub struct DeferredQueue<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    state: Mutex<State<T>>,
    size: Option<usize>,
    backlog: Option<usize>,
}

struct State<T> {
    /// Values put and not yet got. Empty whenever a get waits.
    pending: VecDeque<T>,
    /// Gets waiting for a value. Empty whenever a value is pending.
    waiting: Waiters<Resolver<T>>,
}

impl<T: Send + 'static> DeferredQueue<T> {
    /// An unbounded queue.
    ///
    /// ```
    /// let queue = deferreds::DeferredQueue::<u8>::new();
    /// assert_eq!((queue.size(), queue.backlog()), (None, None));
    /// ```
    pub fn new() -> DeferredQueue<T> {
        DeferredQueue::with_limits(None, None)
    }

    /// A queue holding at most `size` values, with at most `backlog` gets waiting; `None`
    /// means no limit (Twisted's `DeferredQueue(size, backlog)`).
    ///
    /// ```
    /// use deferreds::{DeferredQueue, QueueUnderflow};
    ///
    /// let queue = DeferredQueue::<u8>::with_limits(None, Some(1));
    /// let _waiting = queue.get().unwrap();
    /// assert_eq!(queue.get().unwrap_err(), QueueUnderflow);
    /// ```
    pub fn with_limits(size: Option<usize>, backlog: Option<usize>) -> DeferredQueue<T> {
        let state = State { pending: VecDeque::new(), waiting: Waiters::new() };
        DeferredQueue { inner: Arc::new(Inner { state: Mutex::new(state), size, backlog }) }
    }

    /// Adds `value`: to the oldest waiting get, which fires now, or else to the queue.
    ///
    /// A full queue refuses it with [`QueueOverflow`], which hands the value back. A queue of
    /// size zero only ever passes values to waiting gets.
    ///
    /// ```
    /// let queue = deferreds::DeferredQueue::with_limits(Some(0), None);
    /// assert_eq!(queue.put(1).unwrap_err().into_inner(), 1);
    /// let get = queue.get().unwrap();
    /// queue.put(2).unwrap();
    /// assert_eq!(deferreds::testing::success_result_of(get), 2);
    /// ```
    pub fn put(&self, value: T) -> Result<(), QueueOverflow<T>> {
        let mut st = self.inner.state.lock();
        if let Some(get) = st.waiting.pop() {
            drop(st);
            hand_over(get, value);
            return Ok(());
        }
        if self.inner.size.is_some_and(|size| st.pending.len() >= size) {
            return Err(QueueOverflow(value));
        }
        st.pending.push_back(value);
        Ok(())
    }

    /// A Deferred for the next value: already fired if one is queued, otherwise pending until
    /// a [`put`](DeferredQueue::put), after every get that was waiting before it.
    ///
    /// Refused with [`QueueUnderflow`] when the backlog of waiting gets is full. Cancelling a
    /// waiting get takes it out of the line, so the next value goes to the next get.
    ///
    /// ```
    /// use deferreds::CancelledError;
    ///
    /// let queue = deferreds::DeferredQueue::new();
    /// let cancelled = queue.get().unwrap();
    /// let next = queue.get().unwrap();
    /// cancelled.cancel();
    /// queue.put("v").unwrap();
    /// assert!(deferreds::testing::failure_result_of(cancelled).check::<CancelledError>());
    /// assert_eq!(deferreds::testing::success_result_of(next), "v");
    /// ```
    #[track_caller]
    pub fn get(&self) -> Result<Deferred<T>, QueueUnderflow> {
        let mut st = self.inner.state.lock();
        if let Some(value) = st.pending.pop_front() {
            drop(st);
            return Ok(succeed(value));
        }
        if self.inner.backlog.is_some_and(|backlog| st.waiting.len() >= backlog) {
            return Err(QueueUnderflow);
        }
        Ok(line::join(&self.inner, &mut st.waiting, |inner, ticket| {
            inner.state.lock().waiting.remove(ticket)
        }))
    }

    /// How many values are queued (Twisted's `len(pending)`).
    ///
    /// ```
    /// let queue = deferreds::DeferredQueue::new();
    /// queue.put('x').unwrap();
    /// assert_eq!((queue.pending(), queue.waiting()), (1, 0));
    /// ```
    pub fn pending(&self) -> usize {
        self.inner.state.lock().pending.len()
    }

    /// How many gets are waiting (Twisted's `len(waiting)`).
    ///
    /// ```
    /// let queue = deferreds::DeferredQueue::<char>::new();
    /// let get = queue.get().unwrap();
    /// assert_eq!((queue.pending(), queue.waiting()), (0, 1));
    /// # drop(get);
    /// ```
    pub fn waiting(&self) -> usize {
        self.inner.state.lock().waiting.len()
    }

    /// How many gets the line of waiting gets has room for: its memory, in gets. It stays
    /// within a small multiple of [`waiting`](DeferredQueue::waiting), plus a few hundred,
    /// however many gets were cancelled. For tests of that bound; not part of the stable API.
    ///
    /// ```
    /// let queue = deferreds::DeferredQueue::<u8>::new();
    /// for _ in 0..1000 {
    ///     let waiter = queue.get().unwrap();
    ///     waiter.cancel();
    ///     deferreds::testing::failure_result_of(waiter);
    /// }
    /// assert!(queue.waiter_slots() < 100);
    /// ```
    #[doc(hidden)]
    pub fn waiter_slots(&self) -> usize {
        self.inner.state.lock().waiting.capacity()
    }

    /// The most values the queue holds, if limited.
    ///
    /// ```
    /// let queue = deferreds::DeferredQueue::<u8>::with_limits(Some(8), Some(2));
    /// assert_eq!((queue.size(), queue.backlog()), (Some(8), Some(2)));
    /// ```
    pub fn size(&self) -> Option<usize> {
        self.inner.size
    }

    /// The most gets that may wait, if limited (see [`size`](DeferredQueue::size)).
    pub fn backlog(&self) -> Option<usize> {
        self.inner.backlog
    }
}

impl<T: Send + 'static> Default for DeferredQueue<T> {
    fn default() -> DeferredQueue<T> {
        DeferredQueue::new()
    }
}

impl<T> Clone for DeferredQueue<T> {
    fn clone(&self) -> DeferredQueue<T> {
        DeferredQueue { inner: self.inner.clone() }
    }
}

impl<T> fmt::Debug for DeferredQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.state.lock();
        f.debug_struct("DeferredQueue")
            .field("pending", &st.pending.len())
            .field("waiting", &st.waiting.len())
            .field("size", &self.inner.size)
            .field("backlog", &self.inner.backlog)
            .finish()
    }
}
