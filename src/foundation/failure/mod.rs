//! [`Failure`]: an error travelling down a chain, with where it was raised.

use std::any::{Any, TypeId};
use std::error::Error;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use self::nested::BoxedError;

#[cfg(feature = "anyhow")]
pub(crate) mod anyhow;
pub(crate) mod nested;

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
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The error behind [`Failure::msg`]: a plain message with no other type.
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

    /// Wraps an already boxed error. Its type name is reported as `dyn Error`, since the box
    /// has forgotten it; [`downcast_ref`](Failure::downcast_ref) still finds the concrete type.
    ///
    /// ```
    /// let boxed: Box<dyn std::error::Error + Send + Sync> = "bad input".into();
    /// let f = deferreds::Failure::from_boxed(boxed);
    /// assert_eq!(f.error_message(), "bad input");
    /// ```
    ///
    /// A box made from a `Failure` (`Box::<dyn Error + Send + Sync>::from(failure)`, or `?`)
    /// turns back into that same failure, with its location and backtrace:
    ///
    /// ```
    /// use std::error::Error;
    /// let failure = deferreds::Failure::msg("refused");
    /// let boxed: Box<dyn Error + Send + Sync> = failure.clone().into();
    /// assert!(deferreds::Failure::from_boxed(boxed).ptr_eq(&failure));
    /// ```
    #[track_caller]
    pub fn from_boxed(error: Box<dyn Error + Send + Sync + 'static>) -> Failure {
        Failure::from_boxed_at(error, "dyn Error", Location::caller())
    }

    /// [`from_boxed`](Failure::from_boxed) with the error's type name when it is known.
    pub(crate) fn from_boxed_at(
        error: Box<dyn Error + Send + Sync + 'static>,
        type_name: &'static str,
        location: &'static Location<'static>,
    ) -> Failure {
        match error.downcast::<Boxed>() {
            Ok(boxed) => boxed.0,
            Err(error) => Failure::build(error, type_name, location),
        }
    }

    /// The wrapped error by value, if it is an `E` and this is the last handle to it; otherwise
    /// the failure back, unchanged.
    ///
    /// Clones of a failure share one error, which can only be moved out of the last of them.
    /// A failure an errback receives, or an `.await` returns, is usually the only one, unless
    /// the program kept a clone (a [`FirstError`](crate::FirstError) keeps one, for example).
    ///
    /// ```
    /// use std::num::ParseIntError;
    /// use deferreds::{Failure, IntoFailure};
    ///
    /// let failure = "x".parse::<u8>().into_failure().unwrap_err();
    /// let failure = failure.downcast::<std::io::Error>().unwrap_err(); // not an io::Error
    /// let error: ParseIntError = failure.downcast().unwrap();
    /// assert_eq!(error.to_string(), "invalid digit found in string");
    ///
    /// let shared = Failure::new(std::fmt::Error);
    /// let clone = shared.clone();
    /// let shared = shared.downcast::<std::fmt::Error>().unwrap_err(); // `clone` shares it
    /// drop(clone);
    /// assert_eq!(shared.downcast::<std::fmt::Error>().unwrap(), std::fmt::Error);
    /// ```
    pub fn downcast<E: Error + Send + Sync + 'static>(self) -> Result<E, Failure> {
        #[cfg(feature = "anyhow")]
        if self.inner.error().is::<self::anyhow::FromAnyhow>() {
            return self::anyhow::downcast(self);
        }
        if !self.inner.error().is::<E>() {
            return Err(self);
        }
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => match inner.take_error().downcast::<E>() {
                Ok(error) => Ok(*error),
                Err(_) => unreachable!("the error was checked to be an E"),
            },
            Err(inner) => Err(Failure { inner }),
        }
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
    pub fn backtrace_capture() -> bool {
        capture_enabled()
    }

    /// `true` if the wrapped error is an `E` (Twisted's `check` with one type).
    ///
    /// Rust has no subclassing, so this matches the exact type only; an enum of error kinds
    /// plays the part of a Python exception hierarchy.
    pub fn check<E: Error + 'static>(&self) -> bool {
        self.downcast_ref::<E>().is_some()
    }

    /// The first of several error types that matches, if any: Twisted's `check(A, B, ...)`.
    ///
    /// ```
    /// use deferreds::Failure;
    /// use std::fmt;
    ///
    /// let f = Failure::new(fmt::Error);
    /// let matched = f.check_any::<(std::io::Error, fmt::Error)>().unwrap();
    /// assert!(matched.is::<fmt::Error>());
    /// assert_eq!(matched.index(), 1);
    /// assert!(f.check_any::<(std::io::Error,)>().is_none());
    /// ```
    pub fn check_any<S: ErrorTypes>(&self) -> Option<ErrorType> {
        #[cfg(feature = "anyhow")]
        if let Some(from) = self.inner.error().downcast_ref::<self::anyhow::FromAnyhow>() {
            return from.0.chain().find_map(S::first_match);
        }
        S::first_match(self.inner.error())
    }

    /// Handles the failure if it wraps an `E`; otherwise hands it back to be re-raised.
    ///
    /// This is Twisted's `trap` in Rust form: inside an errback, `failure.trap::<E>()?` lets
    /// every other error continue down the errback track unchanged.
    ///
    /// ```
    /// use deferreds::Failure;
    /// use std::fmt;
    ///
    /// let d = deferreds::fail::<u32>(Failure::new(fmt::Error))
    ///     .add_errback(|f| {
    ///         f.trap::<std::io::Error>()?; // not an io::Error: re-raised
    ///         Ok(0)
    ///     })
    ///     .add_errback(|f| {
    ///         f.trap::<fmt::Error>()?; // handled here
    ///         Ok(1)
    ///     });
    /// assert_eq!(deferreds::testing::success_result_of(d), 1);
    /// ```
    pub fn trap<E: Error + 'static>(&self) -> Result<&E, Failure> {
        self.downcast_ref::<E>().ok_or_else(|| self.clone())
    }

    /// [`trap`](Failure::trap) with several types: the first that matches, or the failure back.
    pub fn trap_any<S: ErrorTypes>(&self) -> Result<ErrorType, Failure> {
        self.check_any::<S>().ok_or_else(|| self.clone())
    }

    /// The wrapped error as an `E`, if that is its type.
    pub fn downcast_ref<E: Error + 'static>(&self) -> Option<&E> {
        #[cfg(feature = "anyhow")]
        if let Some(from) = self.inner.error().downcast_ref::<self::anyhow::FromAnyhow>() {
            return from.0.chain().find_map(|e| e.downcast_ref::<E>());
        }
        self.inner.error().downcast_ref::<E>()
    }

    /// The wrapped error.
    pub fn as_error(&self) -> &(dyn Error + Send + Sync + 'static) {
        self.inner.error()
    }

    /// The error's message (Twisted's `getErrorMessage`): its `Display` output, which is also
    /// the failure's.
    pub fn error_message(&self) -> String {
        self.to_string()
    }

    /// The wrapped error's type name, as `std::any::type_name` spells it.
    pub fn type_name(&self) -> &'static str {
        self.inner.type_name
    }

    /// Where the failure was created.
    pub fn location(&self) -> &'static Location<'static> {
        self.inner.location
    }

    /// Whether a backtrace was captured when the failure was created.
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

    /// The captured frames, outermost first (empty when capture was off).
    ///
    /// Frames inside the backtrace machinery and this module are left out, as are the
    /// runtime's start-up frames, so the list begins at the program's own code.
    pub fn frames(&self) -> Vec<Frame> {
        match &self.inner.backtrace {
            Some(bt) => resolve_frames(&mut bt.lock()),
            None => Vec::new(),
        }
    }

    /// A Twisted-style traceback: the frames where the failure was raised (when captured),
    /// the creation site, the error chain, and a final `type: message` line.
    ///
    /// ```text
    /// Traceback (most recent call last):
    ///   File "src/main.rs", line 12, in poetry::main
    ///   File "src/main.rs", line 30, in poetry::get_poetry
    /// Failure created at src/main.rs:30:17
    /// std::io::error::Error: connection refused
    /// ```
    pub fn traceback(&self) -> String {
        use fmt::Write as _;
        let mut out = String::new();
        let frames = self.frames();
        if self.has_backtrace() {
            out.push_str("Traceback (most recent call last):\n");
            for f in &frames {
                match (&f.file, f.line) {
                    (Some(file), Some(line)) => {
                        let _ = writeln!(out, "  File \"{file}\", line {line}, in {}", f.function);
                    }
                    _ => {
                        let _ = writeln!(out, "  in {}", f.function);
                    }
                }
            }
        } else {
            out.push_str("Traceback (no frames captured; set RUST_BACKTRACE=1 to capture them):\n");
        }
        let loc = self.inner.location;
        let _ = writeln!(out, "Failure created at {}:{}:{}", loc.file(), loc.line(), loc.column());
        nested::write_causes(&mut out, self.as_error());
        let _ = writeln!(out, "{}: {self}", self.inner.type_name);
        out
    }

    /// A one-line-per-frame traceback (Twisted's `getBriefTraceback`).
    ///
    /// ```
    /// let f = deferreds::Failure::msg("short");
    /// assert!(f.brief_traceback().starts_with("Traceback: deferreds::failure::MessageError: short\n"));
    /// ```
    pub fn brief_traceback(&self) -> String {
        use fmt::Write as _;
        let mut out = format!("Traceback: {}: {self}\n", self.inner.type_name);
        for f in self.frames() {
            match (&f.file, f.line) {
                (Some(file), Some(line)) => {
                    let _ = writeln!(out, "{file}:{line}:{}", f.function);
                }
                _ => {
                    let _ = writeln!(out, "?:?:{}", f.function);
                }
            }
        }
        let loc = self.inner.location;
        let _ = writeln!(out, "{}:{}:<created here>", loc.file(), loc.line());
        out
    }
}

/// How much a [`Failure`]'s traceback tells: the `detail` argument of Twisted's
/// `Failure.getTraceback`, for [`Failure::traceback_with`].
///
/// ```
/// use deferreds::{Failure, TracebackDetail};
///
/// let f = Failure::msg("no poem");
/// assert_eq!(f.traceback_with(TracebackDetail::Default), f.traceback());
/// assert_eq!(f.traceback_with(TracebackDetail::Brief), f.brief_traceback());
/// assert!(f.traceback_with(TracebackDetail::Verbose).starts_with("*--- Failure: "));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TracebackDetail {
    /// One line per frame, after a `Traceback: type: message` line
    /// ([`Failure::brief_traceback`]).
    Brief,
    /// The program's own frames, each run of the engine's frames folded into one marker line,
    /// then the creation site, the causes and the error ([`Failure::traceback`]).
    #[default]
    Default,
    /// Every captured frame, the standard library's and the engine's too, each followed by
    /// its source line where the file can be read (paths relative to the working directory,
    /// as `file!()` records them, or absolute); the creation site with its source line; the
    /// causes and the error; framed by `*--- Failure ---` lines as in Twisted.
    Verbose,
}

impl Failure {
    /// The traceback at the given level of detail (Twisted's `getTraceback(detail=...)`).
    ///
    /// ```
    /// use deferreds::{Failure, TracebackDetail};
    ///
    /// let f = Failure::msg("the kettle boiled dry");
    /// let verbose = f.traceback_with(TracebackDetail::Verbose);
    /// assert!(verbose.starts_with("*--- Failure: deferreds::failure::MessageError: the kettle"));
    /// assert!(verbose.contains("\nFailure created at "));
    /// assert!(verbose.ends_with("*--- End of Failure ---\n"));
    /// ```
    pub fn traceback_with(&self, detail: TracebackDetail) -> String {
        match detail {
            TracebackDetail::Brief => self.brief_traceback(),
            TracebackDetail::Default => self.traceback(),
            TracebackDetail::Verbose => self.verbose_traceback(),
        }
    }

    fn verbose_traceback(&self) -> String {
        use fmt::Write as _;
        let mut sources = SourceLines::default();
        let mut out = format!("*--- Failure: {}: {self} ---\n", self.inner.type_name);
        match &self.inner.backtrace {
            Some(bt) => {
                out.push_str("Traceback (most recent call last, every frame):\n");
                for f in every_frame(&mut bt.lock()) {
                    match (&f.file, f.line) {
                        (Some(file), Some(line)) => {
                            let _ =
                                writeln!(out, "  File \"{file}\", line {line}, in {}", f.function);
                            if let Some(text) = sources.line(file, line) {
                                let _ = writeln!(out, "    {text}");
                            }
                        }
                        _ => {
                            let _ = writeln!(out, "  in {}", f.function);
                        }
                    }
                }
            }
            None => out.push_str(
                "Traceback (no frames captured; set RUST_BACKTRACE=1 to capture them):\n",
            ),
        }
        let loc = self.inner.location;
        let _ = writeln!(out, "Failure created at {}:{}:{}", loc.file(), loc.line(), loc.column());
        if let Some(text) = sources.line(loc.file(), loc.line()) {
            let _ = writeln!(out, "    {text}");
        }
        nested::write_causes(&mut out, self.as_error());
        let _ = writeln!(out, "{}: {self}", self.inner.type_name);
        out.push_str("*--- End of Failure ---\n");
        out
    }
}

/// Every frame of `bt`, outermost first, less only the capture itself (the backtrace crate's
/// frames and `Failure`'s constructors) on top.
fn every_frame(bt: &mut backtrace::Backtrace) -> Vec<Frame> {
    bt.resolve();
    let mut frames: Vec<Frame> = bt
        .frames()
        .iter()
        .flat_map(|frame| frame.symbols())
        .map(|sym| Frame {
            function: sym.name().map(|n| format!("{n:#}")).unwrap_or_else(|| "<unknown>".into()),
            file: sym.filename().map(|p| p.display().to_string()),
            line: sym.lineno(),
        })
        .collect();
    let capture = |f: &Frame| {
        let name = f.function.trim_start_matches('<');
        name.starts_with("backtrace::") || name.starts_with("deferreds::failure::Failure")
    };
    let first = frames.iter().position(|f| !capture(f)).unwrap_or(frames.len());
    frames.drain(..first);
    frames.reverse();
    frames
}

/// Source files read for one traceback, each once.
#[derive(Default)]
struct SourceLines {
    files: std::collections::HashMap<String, Option<Vec<String>>>,
}

impl SourceLines {
    /// Line `line` (from 1) of `file`, trimmed, if the file can be read and has it.
    fn line(&mut self, file: &str, line: u32) -> Option<&str> {
        let lines = self.files.entry(file.to_owned()).or_insert_with(|| {
            let text = std::fs::read_to_string(file).ok()?;
            Some(text.lines().map(str::to_owned).collect())
        });
        let text = lines.as_ref()?.get(usize::try_from(line).ok()?.checked_sub(1)?)?.trim();
        (!text.is_empty()).then_some(text)
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

/// Resolves `bt` and returns its frames outermost first, without the capture machinery on
/// top or the runtime's start-up frames at the bottom.
pub(crate) fn resolve_frames(bt: &mut backtrace::Backtrace) -> Vec<Frame> {
    bt.resolve();
    let mut frames: Vec<Frame> = bt
        .frames()
        .iter()
        .flat_map(|frame| frame.symbols())
        .map(|sym| Frame {
            function: sym.name().map(|n| format!("{n:#}")).unwrap_or_else(|| "<unknown>".into()),
            file: sym.filename().map(|p| p.display().to_string()),
            line: sym.lineno(),
        })
        .collect();
    // Innermost first as captured: skip the capture machinery and the library frames around it.
    let first_own = frames
        .iter()
        .position(|f| !is_machinery(&f.function) && !is_library(&f.function))
        .unwrap_or(frames.len());
    frames.drain(..first_own);
    if let Some(start) = frames.iter().position(|f| is_runtime_start(&f.function)) {
        frames.truncate(start);
    }
    frames.reverse();
    // Keep the program's own frames; the standard library's go, and each run of the engine's
    // frames becomes one marker line, which is where a step was called from a chain.
    let mut kept: Vec<Frame> = Vec::with_capacity(frames.len());
    for frame in frames {
        if is_library(&frame.function) || frame.function == "__rust_try" {
            continue;
        }
        if is_engine(&frame.function) {
            if kept.last().is_none_or(|f| f.function != ENGINE_MARKER) {
                kept.push(Frame { function: ENGINE_MARKER.to_owned(), file: None, line: None });
            }
            continue;
        }
        kept.push(frame);
    }
    kept
}

/// Stands for the frames of this crate's engine in a traceback.
const ENGINE_MARKER: &str = "<deferreds: running the chain>";

fn is_engine(function: &str) -> bool {
    let path = function.strip_prefix('<').unwrap_or(function);
    (path.starts_with("deferreds::chain::") || path.starts_with("deferreds::deferred::"))
        && !NOT_THE_ENGINE.iter().any(|p| path.starts_with(p))
}

/// Modules in the engine's and the typed Deferred's folders whose frames are the program's
/// way through the crate, kept in a traceback as they are: the combinators' join, and the
/// helpers beside the Deferred that run user code or hand results on.
const NOT_THE_ENGINE: &[&str] = &[
    "deferreds::chain::join::",
    "deferreds::deferred::execute::",
    "deferreds::deferred::passthru::",
    "deferreds::deferred::picture::",
    "deferreds::deferred::waiters::",
];

fn is_machinery(function: &str) -> bool {
    function.starts_with("backtrace::")
        || function.starts_with("deferreds::failure::Failure")
        || function.starts_with("<deferreds::failure::Failure")
        || function.starts_with("<T as core::convert::From")
        || function.starts_with("core::ops::function")
        || function.starts_with("deferreds::foundation::debug::")
        || function.starts_with("deferreds::chain::")
        || function.starts_with("<deferreds::chain::")
        || function.starts_with("std::panicking")
        || function.starts_with("std::panic::catch_unwind")
        || function.starts_with("__rust_try")
}

fn is_library(function: &str) -> bool {
    // Both symbol manglings: `<core::..>` / `core::..`, and impls on primitive types, which the
    // v0 mangling prints as `<bool>::then` or `<[T]>::iter`.
    let path = function.trim_start_matches('<');
    if ["core::", "alloc::", "std::"].iter().any(|p| path.starts_with(p)) {
        return true;
    }
    let head = path.split(['>', ':', ' ']).next().unwrap_or("");
    const PRIMITIVES: &[&str] = &[
        "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32",
        "i64", "i128", "isize", "f32", "f64",
    ];
    PRIMITIVES.contains(&head) || path.starts_with(['[', '&', '(', '*'])
}

fn is_runtime_start(function: &str) -> bool {
    function.starts_with("std::rt::lang_start")
        || function.starts_with("std::sys::backtrace::__rust_begin_short_backtrace")
        || function.starts_with("std::sys_common::backtrace::__rust_begin_short_backtrace")
        || function == "main"
        || function.starts_with("__libc_start")
}

/// One frame of a [`Failure`]'s backtrace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    function: String,
    file: Option<String>,
    line: Option<u32>,
}

impl Frame {
    /// The function's name, without its hash suffix.
    pub fn function(&self) -> &str {
        &self.function
    }
    /// The source file, when debug info has it.
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }
    /// The line, when debug info has it.
    pub fn line(&self) -> Option<u32> {
        self.line
    }
}

impl<E: Error + Send + Sync + 'static> From<E> for Failure {
    #[track_caller]
    fn from(error: E) -> Failure {
        Failure::new(error)
    }
}

impl From<Failure> for Box<dyn Error + Send + Sync + 'static> {
    /// Boxes the failure as an error whose message is the failure's and whose
    /// [`source`](Error::source) is the original error, so that `?` takes a failure out of the
    /// crate. [`Failure::from_boxed`] gives the failure back.
    ///
    /// ```
    /// use std::error::Error;
    /// let boxed: Box<dyn Error + Send + Sync> = deferreds::Failure::new(std::fmt::Error).into();
    /// assert!(boxed.source().unwrap().is::<std::fmt::Error>());
    /// ```
    fn from(failure: Failure) -> Self {
        Box::new(Boxed(failure))
    }
}

impl From<Failure> for Box<dyn Error + 'static> {
    /// As for `Box<dyn Error + Send + Sync>`, for code whose errors need not cross threads.
    ///
    /// ```
    /// fn run() -> Result<(), Box<dyn std::error::Error>> {
    ///     Err(deferreds::Failure::msg("no"))?
    /// }
    /// assert_eq!(run().unwrap_err().to_string(), "no");
    /// ```
    fn from(failure: Failure) -> Self {
        Box::new(Boxed(failure))
    }
}

/// A failure boxed as a `dyn Error`: the failure's message, the original error as its source.
pub(crate) struct Boxed(pub(crate) Failure);

impl fmt::Display for Boxed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Boxed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Error for Boxed {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(self.0.as_error())
    }
}

/// Turns a `Result`'s error into a [`Failure`] that records the caller's line.
///
/// `result.map_err(Failure::new)` records a line inside the standard library, since
/// `Failure::new` is then called from there; `result.into_failure()` records the line it is
/// written on, as `?` does. It takes any error that converts into a
/// `Box<dyn Error + Send + Sync>`: every `E: Error + Send + Sync + 'static`, such a box itself
/// (which `?` cannot convert, see [`Failure`]), a `String` or `&str` message, and an
/// `anyhow::Error` (whose chain and backtrace the failure keeps, with the `anyhow` feature).
///
/// ```
/// use deferreds::{Deferred, IntoFailure};
///
/// let (d, resolver) = Deferred::<&str>::new();
/// let d = d.add_callback(|text| text.parse::<u32>().into_failure());
/// resolver.callback("forty-two").unwrap();
/// let failure = deferreds::testing::failure_result_of(d);
/// assert!(failure.check::<std::num::ParseIntError>());
/// assert_eq!(failure.location().file(), file!()); // this file, not the standard library
///
/// let boxed: Result<u8, Box<dyn std::error::Error + Send + Sync>> = Err("bad input".into());
/// let d = deferreds::succeed(()).add_callback(move |()| Ok(boxed.into_failure()? + 1));
/// assert_eq!(deferreds::testing::failure_result_of(d).error_message(), "bad input");
/// ```
pub trait IntoFailure<T> {
    /// The result, with its error as a [`Failure`] created on the caller's line.
    fn into_failure(self) -> Result<T, Failure>;
}

impl<T, E> IntoFailure<T> for Result<T, E>
where
    E: Into<Box<dyn Error + Send + Sync + 'static>> + 'static,
{
    #[track_caller]
    #[inline]
    fn into_failure(self) -> Result<T, Failure> {
        match self {
            Ok(value) => Ok(value),
            Err(error) => Err(Failure::from_any_error(error, Location::caller())),
        }
    }
}

impl Failure {
    #[cold]
    fn from_any_error<E>(error: E, location: &'static Location<'static>) -> Failure
    where
        E: Into<Box<dyn Error + Send + Sync + 'static>> + 'static,
    {
        #[cfg(feature = "anyhow")]
        let error = match self::anyhow::take(error) {
            Ok(error) => return self::anyhow::into_failure(error, location),
            Err(error) => error,
        };
        let name = std::any::type_name::<E>();
        let boxed = TypeId::of::<E>() == TypeId::of::<Box<dyn Error + Send + Sync + 'static>>();
        Failure::from_boxed_at(error.into(), if boxed { "dyn Error" } else { name }, location)
    }

    /// A failure around an error already boxed, with the type name to report.
    #[cfg(feature = "anyhow")]
    pub(crate) fn from_parts(
        error: Box<dyn Error + Send + Sync + 'static>,
        type_name: &'static str,
        location: &'static Location<'static>,
    ) -> Failure {
        Failure::build(error, type_name, location)
    }

    /// The error itself if this is the last handle to it, or else the failure back.
    #[cfg(feature = "anyhow")]
    pub(crate) fn into_inner_error(self) -> Result<Box<dyn Error + Send + Sync>, Failure> {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => Ok(inner.take_error()),
            Err(inner) => Err(Failure { inner }),
        }
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

impl AsRef<dyn Error + Send + Sync + 'static> for Failure {
    fn as_ref(&self) -> &(dyn Error + Send + Sync + 'static) {
        self.as_error()
    }
}

/// Which of several error types matched, as [`Failure::check_any`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorType {
    index: usize,
    id: TypeId,
    name: &'static str,
}

impl ErrorType {
    /// The position of the matching type in the tuple that was asked about.
    pub fn index(&self) -> usize {
        self.index
    }
    /// The matching type's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
    /// `true` if the matching type is `E`.
    pub fn is<E: 'static>(&self) -> bool {
        self.id == TypeId::of::<E>()
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// A tuple of error types for [`Failure::check_any`] and [`Failure::trap_any`]: `(A,)`,
/// `(A, B)`, up to eight types.
pub trait ErrorTypes {
    /// The first type in the tuple that `error` is, with its position.
    fn first_match(error: &(dyn Error + 'static)) -> Option<ErrorType>;
}

macro_rules! error_types {
    ($($name:ident),+) => {
        impl<$($name: Error + 'static),+> ErrorTypes for ($($name,)+) {
            fn first_match(error: &(dyn Error + 'static)) -> Option<ErrorType> {
                let candidates = [$((TypeId::of::<$name>(), std::any::type_name::<$name>(), error.is::<$name>())),+];
                candidates
                    .iter()
                    .enumerate()
                    .find(|(_, c)| c.2)
                    .map(|(index, c)| ErrorType { index, id: c.0, name: c.1 })
            }
        }
    };
}

error_types!(A);
error_types!(A, B);
error_types!(A, B, C);
error_types!(A, B, C, D);
error_types!(A, B, C, D, E);
error_types!(A, B, C, D, E, F);
error_types!(A, B, C, D, E, F, G);
error_types!(A, B, C, D, E, F, G, H);

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] io::Error);

    #[test]
    fn check_matches_the_exact_type_only() {
        let f = Failure::new(io::Error::other("x"));
        assert!(f.check::<io::Error>());
        assert!(!f.check::<fmt::Error>());
    }

    #[test]
    fn check_any_returns_the_first_match_in_order() {
        let f = Failure::new(fmt::Error);
        let m = f.check_any::<(io::Error, fmt::Error, fmt::Error)>().unwrap();
        assert_eq!(m.index(), 1);
        assert_eq!(m.name(), "core::fmt::Error");
        assert!(f.check_any::<(io::Error, PanicError)>().is_none());
    }

    #[test]
    fn trap_hands_back_the_same_failure_when_nothing_matches() {
        let f = Failure::new(fmt::Error);
        let back = f.trap::<io::Error>().unwrap_err();
        assert!(back.ptr_eq(&f));
        assert!(f.trap::<fmt::Error>().is_ok());
        assert!(f.trap_any::<(io::Error,)>().unwrap_err().ptr_eq(&f));
        assert!(f.trap_any::<(io::Error, fmt::Error)>().unwrap().is::<fmt::Error>());
    }

    #[test]
    fn question_mark_records_the_location_of_the_conversion() {
        fn inner() -> Result<(), Failure> {
            Err(fmt::Error)?;
            Ok(())
        }
        let f = inner().unwrap_err();
        assert_eq!(f.location().file(), file!());
    }

    #[test]
    fn traceback_names_type_message_location_and_causes() {
        let f = Failure::new(Outer(io::Error::other("disk on fire")));
        let tb = f.traceback();
        assert!(tb.contains(&format!("Failure created at {}:", file!())), "{tb}");
        assert!(tb.contains("Caused by: disk on fire"), "{tb}");
        assert!(tb.ends_with("deferreds::failure::tests::Outer: outer\n"), "{tb}");
    }

    #[test]
    fn captured_frames_start_in_the_callers_code() {
        let f = Failure::build(Box::new(fmt::Error), "core::fmt::Error", Location::caller());
        // Capture depends on the environment; force it for this one failure.
        let f = if f.has_backtrace() {
            f
        } else {
            Failure {
                inner: Arc::new(Inner {
                    error: Some(Box::new(fmt::Error)),
                    type_name: "core::fmt::Error",
                    location: Location::caller(),
                    backtrace: Some(Box::new(Mutex::new(backtrace::Backtrace::new_unresolved()))),
                }),
            }
        };
        let frames = f.frames();
        let innermost = frames.last().expect("frames were captured");
        assert!(
            innermost.function().contains("captured_frames_start_in_the_callers_code"),
            "{frames:#?}"
        );
        assert!(f.traceback().starts_with("Traceback (most recent call last):\n"));
    }

    #[test]
    fn a_verbose_traceback_shows_every_frame_and_the_source_lines() {
        let f = Failure {
            inner: Arc::new(Inner {
                error: Some(Box::new(Outer(io::Error::other("disk on fire")))),
                type_name: "deferreds::failure::tests::Outer",
                location: Location::caller(),
                backtrace: Some(Box::new(Mutex::new(backtrace::Backtrace::new_unresolved()))),
            }),
        };
        let verbose = f.traceback_with(TracebackDetail::Verbose);
        let default = f.traceback();
        // The test's own frame, with its source line read from this file.
        assert!(verbose.contains("a_verbose_traceback_shows_every_frame_and_the_source_lines"));
        assert!(
            verbose.contains(
                "backtrace: Some(Box::new(Mutex::new(backtrace::Backtrace::new_unresolved()))),"
            ),
            "{verbose}"
        );
        // Frames the default traceback leaves out: the standard library's (the test harness
        // runs every test through them).
        let std_frame =
            |text: &str| text.lines().any(|l| l.contains(" in std::") || l.contains(" in core::"));
        assert!(std_frame(&verbose), "{verbose}");
        assert!(!std_frame(&default), "{default}");
        assert!(verbose.contains("Caused by: disk on fire\n"));
        assert!(
            verbose.ends_with("deferreds::failure::tests::Outer: outer\n*--- End of Failure ---\n")
        );
        assert!(!verbose.contains(" in backtrace::"), "the capture itself is left out");
    }

    #[test]
    fn a_verbose_traceback_without_frames_still_shows_the_creation_line() {
        let f = Failure::msg("plain"); // the creation line
        let verbose = f.traceback_with(TracebackDetail::Verbose);
        assert!(
            verbose.contains("\n    let f = Failure::msg(\"plain\"); // the creation line\n"),
            "{verbose}"
        );
        assert_eq!(f.traceback_with(TracebackDetail::Brief), f.brief_traceback());
        assert_eq!(f.traceback_with(TracebackDetail::default()), f.traceback());
    }

    #[test]
    fn panic_payloads_become_messages() {
        let f = Failure::from_panic(Box::new(String::from("owned")));
        assert_eq!(f.downcast_ref::<PanicError>().unwrap().message(), "owned");
        let f = Failure::from_panic(Box::new(17u8));
        assert!(f.error_message().contains("not a string"));
    }

    #[test]
    fn debug_and_display() {
        let f = Failure::msg("m");
        assert_eq!(f.to_string(), "m");
        assert_eq!(format!("{f:?}"), "<Failure deferreds::failure::MessageError: m>");
    }

    #[test]
    fn is_send_sync_and_small() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Failure>();
        assert_eq!(std::mem::size_of::<Failure>(), std::mem::size_of::<usize>());
    }
}
