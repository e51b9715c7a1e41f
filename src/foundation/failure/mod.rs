//! [`Failure`]: an error travelling down a chain, with where it was raised.
//!
//! Part of the foundation: it knows nothing of chains, Deferreds or anything built on them.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use self::nested::BoxedError;

#[cfg(doc)]
use self::convert::IntoFailure;

#[cfg(feature = "anyhow")]
pub(crate) mod anyhow;
pub(crate) mod convert;
pub(crate) mod nested;
pub(crate) mod traceback;
pub(crate) mod types;

/// The error half of a chain: any error, a panic, or a message, with the place it was raised.
///
/// A `Failure` is what Twisted's `Failure` is to an exception: it wraps the error that stopped a
/// callback and keeps the context needed to explain it later. Errbacks receive one, and
/// [`Deferred::add_errback`](crate::Deferred::add_errback) steps use [`check`](Failure::check)
/// and [`trap`](Failure::trap) to decide whether to handle it.
///
/// Every failure records the source location where it was created (through `#[track_caller]`,
/// which costs nothing measurable). A full backtrace is captured only when capture is on: by
/// default when `RUST_LIB_BACKTRACE` or `RUST_BACKTRACE` is set to anything but `0` (the rule
/// `std::backtrace` and `anyhow` follow), or when a program calls
/// [`Failure::set_backtrace_capture`]. Capture takes about two microseconds and stores the
/// frames unresolved; symbol names are looked up only when a traceback is printed.
///
/// Cloning a `Failure` is cheap: clones share the same error.
///
/// # In Rust's error ecosystem
///
/// `Failure` does not implement [`std::error::Error`]: if it did, the blanket
/// `impl<E: Error> From<E> for Failure` that makes `?` work on any error would overlap with the
/// standard library's `impl<T> From<T> for T`. `anyhow::Error` makes the same choice for the same
/// reason. The same rule forbids a `From<Box<dyn Error + Send + Sync>>`: the standard library
/// may one day make that box an `Error`. So the conversions are these:
///
/// - into a `Failure`: `?` on any `E: Error + Send + Sync + 'static`;
///   [`into_failure()`](IntoFailure::into_failure) on a `Result` whose error is such an `E`, a
///   `Box<dyn Error + Send + Sync>`, a `String` or (with the `anyhow` feature) an
///   `anyhow::Error`, which records the caller's line as `?` does; [`Failure::from_boxed`];
/// - out of a `Failure`: `?` into `Box<dyn Error + Send + Sync>` or `Box<dyn Error>` (the box's
///   [`source`](Error::source) is the original error, and [`Failure::from_boxed`] turns the box
///   back into this very failure), `anyhow::Error` with the `anyhow` feature, and
///   [`downcast`](Failure::downcast) for the error itself by value;
/// - [`Failure::as_error`] reaches the wrapped error as a `dyn Error`.
///
/// ```
/// use std::error::Error;
/// use deferreds::{Deferred, Failure};
///
/// fn count_lines(poem: Deferred<String>) -> Result<usize, Box<dyn Error + Send + Sync>> {
///     let poem = futures::executor::block_on(async { poem.await })?; // a `Result<_, Failure>`
///     Ok(poem.lines().count())
/// }
///
/// let err = count_lines(deferreds::fail(Failure::msg("the poem server went away"))).unwrap_err();
/// assert_eq!(err.to_string(), "the poem server went away");
/// assert!(err.source().unwrap().is::<deferreds::MessageError>());
/// ```
///
/// # Nested failures
///
/// A failure's error may hold other failures: a combinator's does
/// ([`FirstError`](crate::FirstError), [`FailureGroup`](crate::FailureGroup)), and so may an
/// error type of the program's own. A tower of combinators that fails level by level makes a
/// failure nested once per level, as deep as the tower. Such a failure is dropped at constant
/// stack depth however deep it is, and formatting it shows the first 16 levels: below them,
/// a failure that has others nested in it is written as `... and N more levels`, N counting
/// it and every level under it (along the deepest nesting). This holds for every way the
/// crate formats a failure (its `Display` and `Debug`, [`error_message`](Failure::error_message),
/// the tracebacks, the unhandled-failure report, the `Debug` of a Deferred holding it), and
/// for any error type that formats the failures it holds with their own `Display` or `Debug`.
/// A traceback's `Caused by:` lines stop after 16 in the same way.
///
/// ```
/// use deferreds::{Failure, FirstError};
///
/// let mut failure = Failure::msg("connection refused");
/// for _ in 0..100_000 {
///     failure = Failure::new(FirstError { index: 0, failure });
/// }
/// let text = failure.to_string();
/// assert!(text.starts_with("input 0 failed first: input 0 failed first: "));
/// assert!(text.ends_with("input 0 failed first: ... and 99985 more levels"));
/// drop(failure); // no recursion
/// ```
///
/// # Examples
///
/// ```
/// use deferreds::Failure;
/// use std::num::ParseIntError;
///
/// fn parse(s: &str) -> Result<u32, Failure> {
///     Ok(s.parse::<u32>()?)
/// }
///
/// let failure = parse("x").unwrap_err();
/// assert!(failure.check::<ParseIntError>());
/// assert_eq!(failure.error_message(), "invalid digit found in string");
/// assert!(failure.traceback().ends_with("core::num::error::ParseIntError: invalid digit found in string\n"));
/// ```
#[derive(Clone)]
pub struct Failure {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` only once it was taken out, as the failure is unwrapped or dropped.
    error: Option<BoxedError>,
    type_name: &'static str,
    location: &'static Location<'static>,
    /// Unresolved until a traceback asks for it; resolving needs `&mut`, hence the lock. Boxed:
    /// most failures have none, and then it costs one word.
    backtrace: Option<Box<Mutex<backtrace::Backtrace>>>,
}

impl Drop for Inner {
    /// The error may hold failures nested to any depth: it goes through the iterative drop
    /// (see `nested.rs`). Both fields are emptied here, so that the drop a plain failure pays
    /// for stays small enough to be inlined.
    #[inline]
    fn drop(&mut self) {
        if let Some(backtrace) = self.backtrace.take() {
            drop_backtrace(backtrace);
        }
        match self.error.take() {
            // A value of size zero owns nothing, and so no failure: the usual drop will do
            // (`CancelledError` is one).
            Some(error) if std::mem::size_of_val(&*error) == 0 => drop(error),
            Some(error) => nested::drop_error(error),
            None => {}
        }
    }
}

#[cold]
#[inline(never)]
fn drop_backtrace(backtrace: Box<Mutex<backtrace::Backtrace>>) {
    drop(backtrace);
}

impl Inner {
    fn error(&self) -> &(dyn Error + Send + Sync + 'static) {
        match &self.error {
            Some(error) => error.as_ref(),
            None => unreachable!("a failure's error is taken out only as it goes"),
        }
    }

    /// The error, as the failure is unwrapped.
    fn take_error(&mut self) -> BoxedError {
        self.error.take().expect("taken once")
    }
}

/// The error a panicking callback, errback, canceller or future turns into.
///
/// Its [`Display`](fmt::Display) output is the panic message. Errbacks can
/// [`check`](Failure::check) for it like any other error type.
///
/// ```
/// use deferreds::PanicError;
///
/// let d = deferreds::succeed(1).add_callback(|_: i32| -> Result<i32, deferreds::Failure> {
///     panic!("boom")
/// });
/// let failure = deferreds::testing::failure_result_of(d);
/// assert!(failure.check::<PanicError>());
/// assert_eq!(failure.error_message(), "boom");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PanicError {
    message: String,
}

impl PanicError {
    /// The panic message, or a placeholder when the payload was not a string.
    ///
    /// ```
    /// let payload = std::panic::catch_unwind(|| panic!("boom")).unwrap_err();
    /// let failure = deferreds::Failure::from_panic(payload);
    /// let error = failure.downcast_ref::<deferreds::PanicError>().unwrap();
    /// assert_eq!(error.message(), "boom");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The error behind [`Failure::msg`]: a plain message with no other type.
///
/// ```
/// use deferreds::{Failure, MessageError};
///
/// let failure = Failure::msg("no poem");
/// assert_eq!(failure.downcast_ref::<MessageError>(), Some(&MessageError("no poem".into())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MessageError(pub String);

/// 0: not decided yet (read the environment), 1: off, 2: on.
static CAPTURE: AtomicU8 = AtomicU8::new(0);

fn capture_enabled() -> bool {
    match CAPTURE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let on = capture_from_env();
            // A programmatic choice made meanwhile wins over the environment.
            let _ = CAPTURE.compare_exchange(
                0,
                if on { 2 } else { 1 },
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            CAPTURE.load(Ordering::Relaxed) == 2
        }
    }
}

fn capture_from_env() -> bool {
    let var = std::env::var_os("RUST_LIB_BACKTRACE").or_else(|| std::env::var_os("RUST_BACKTRACE"));
    matches!(var, Some(v) if v != "0")
}

impl Failure {
    fn build(
        error: Box<dyn Error + Send + Sync + 'static>,
        type_name: &'static str,
        location: &'static Location<'static>,
    ) -> Failure {
        let backtrace =
            capture_enabled().then(|| Box::new(Mutex::new(backtrace::Backtrace::new_unresolved())));
        Failure { inner: Arc::new(Inner { error: Some(error), type_name, location, backtrace }) }
    }

    /// Wraps an error, recording where this call was made.
    ///
    /// `?` does the same through `From`, so `Err(e)?` in a callback is the usual spelling.
    ///
    /// ```
    /// use deferreds::Failure;
    /// let f = Failure::new(std::fmt::Error);
    /// assert!(f.check::<std::fmt::Error>());
    /// assert!(f.location().file().ends_with(".rs"));
    /// ```
    ///
    /// The location is that of the call. Passed as a function value, as in
    /// `result.map_err(Failure::new)`, it is called from inside the standard library, and
    /// records a place there; where the location matters, write the call in a closure, or use
    /// `?`:
    ///
    /// ```
    /// use deferreds::Failure;
    /// let parsed = "x".parse::<u8>();
    /// let failure = parsed.map_err(|error| Failure::new(error)).unwrap_err();
    /// assert_eq!(failure.location().file(), file!());
    /// ```
    #[track_caller]
    pub fn new<E: Error + Send + Sync + 'static>(error: E) -> Failure {
        Failure::build(Box::new(error), std::any::type_name::<E>(), Location::caller())
    }

    /// A failure carrying only a message (its error type is [`MessageError`]).
    ///
    /// ```
    /// let f = deferreds::Failure::msg("the poem server went away");
    /// assert_eq!(f.to_string(), "the poem server went away");
    /// ```
    #[track_caller]
    pub fn msg(message: impl fmt::Display) -> Failure {
        Failure::new(MessageError(message.to_string()))
    }

    /// Turns a panic payload (as `std::panic::catch_unwind` returns it) into a failure whose
    /// error is a [`PanicError`] carrying the panic message.
    ///
    /// The payload is dropped here. A payload whose own destructor panics (a value passed to
    /// `std::panic::panic_any`) does not unwind out of this call: that second panic is caught
    /// and its payload dropped the same way.
    ///
    /// ```
    /// let payload = std::panic::catch_unwind(|| panic!("bad {}", 42)).unwrap_err();
    /// let f = deferreds::Failure::from_panic(payload);
    /// assert_eq!(f.error_message(), "bad 42");
    /// ```
    #[track_caller]
    pub fn from_panic(payload: Box<dyn Any + Send>) -> Failure {
        let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "Box<dyn Any> (a panic payload that is not a string)".to_owned()
        };
        crate::foundation::contain::drop_payload(payload);
        Failure::new(PanicError { message })
    }

    /// Turns backtrace capture on or off for failures created from now on, overriding
    /// `RUST_LIB_BACKTRACE` and `RUST_BACKTRACE`.
    ///
    /// ```
    /// deferreds::Failure::set_backtrace_capture(false);
    /// assert!(!deferreds::Failure::backtrace_capture());
    /// assert!(!deferreds::Failure::msg("cheap").has_backtrace());
    /// ```
    pub fn set_backtrace_capture(on: bool) {
        CAPTURE.store(if on { 2 } else { 1 }, Ordering::Relaxed);
    }

    /// Whether failures created now capture a backtrace.
    ///
    /// ```
    /// deferreds::Failure::set_backtrace_capture(true);
    /// assert!(deferreds::Failure::backtrace_capture());
    /// ```
    pub fn backtrace_capture() -> bool {
        capture_enabled()
    }

    /// The wrapped error as an `E`, if that is its type.
    ///
    /// ```
    /// let f = deferreds::Failure::new(std::io::Error::other("disk on fire"));
    /// assert_eq!(f.downcast_ref::<std::io::Error>().unwrap().to_string(), "disk on fire");
    /// assert!(f.downcast_ref::<std::fmt::Error>().is_none());
    /// ```
    pub fn downcast_ref<E: Error + 'static>(&self) -> Option<&E> {
        #[cfg(feature = "anyhow")]
        if let Some(from) = self.inner.error().downcast_ref::<self::anyhow::FromAnyhow>() {
            return from.0.chain().find_map(|e| e.downcast_ref::<E>());
        }
        self.inner.error().downcast_ref::<E>()
    }

    /// The wrapped error.
    ///
    /// ```
    /// let f = deferreds::Failure::new(std::fmt::Error);
    /// assert!(f.as_error().is::<std::fmt::Error>());
    /// ```
    pub fn as_error(&self) -> &(dyn Error + Send + Sync + 'static) {
        self.inner.error()
    }

    /// The error's message (Twisted's `getErrorMessage`): its `Display` output, which is also
    /// the failure's.
    ///
    /// ```
    /// let f = deferreds::Failure::new(std::io::Error::other("disk on fire"));
    /// assert_eq!(f.error_message(), "disk on fire");
    /// ```
    pub fn error_message(&self) -> String {
        self.to_string()
    }

    /// The wrapped error's type name, as `std::any::type_name` spells it.
    ///
    /// ```
    /// let f = deferreds::Failure::new(std::fmt::Error);
    /// assert_eq!(f.type_name(), "core::fmt::Error");
    /// ```
    pub fn type_name(&self) -> &'static str {
        self.inner.type_name
    }

    /// Where the failure was created.
    ///
    /// ```
    /// let f = deferreds::Failure::msg("here");
    /// assert_eq!((f.location().file(), f.location().line()), (file!(), line!() - 1));
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.inner.location
    }

    /// Whether a backtrace was captured when the failure was created.
    ///
    /// ```
    /// use deferreds::Failure;
    ///
    /// Failure::set_backtrace_capture(true);
    /// assert!(Failure::msg("traced").has_backtrace());
    /// Failure::set_backtrace_capture(false);
    /// assert!(!Failure::msg("cheap").has_backtrace());
    /// ```
    pub fn has_backtrace(&self) -> bool {
        self.inner.backtrace.is_some()
    }

    /// Where the shared error lives: the same for a failure and its clones.
    pub(crate) fn addr(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    /// `true` if both failures share one error (one is a clone of the other).
    ///
    /// ```
    /// let f = deferreds::Failure::msg("x");
    /// assert!(f.ptr_eq(&f.clone()));
    /// assert!(!f.ptr_eq(&deferreds::Failure::msg("x")));
    /// ```
    pub fn ptr_eq(&self, other: &Failure) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// A [`Failure`] that does not keep it alive, for bookkeeping keyed on a failure's identity.
pub(crate) struct WeakFailure(Weak<Inner>);

impl Failure {
    pub(crate) fn downgrade(&self) -> WeakFailure {
        WeakFailure(Arc::downgrade(&self.inner))
    }
}

impl WeakFailure {
    /// Whether `failure` is this one (or a clone of it).
    pub(crate) fn is(&self, failure: &Failure) -> bool {
        std::ptr::eq(self.0.as_ptr(), Arc::as_ptr(&failure.inner))
    }

    /// Whether any clone of the failure is left.
    pub(crate) fn is_alive(&self) -> bool {
        self.0.strong_count() > 0
    }
}

impl fmt::Display for Failure {
    /// The error's message; below the first 16 levels of nested failures, a count of the
    /// levels left out (see [`Failure`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        nested::show(self, f, |f| fmt::Display::fmt(self.inner.error(), f))
    }
}

impl fmt::Debug for Failure {
    /// `<Failure type: message>`, the message as [`Display`](fmt::Display) shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        nested::show(self, f, |f| {
            write!(f, "<Failure {}: {}>", self.inner.type_name, self.inner.error())
        })
    }
}

#[cfg(test)]
mod tests;
