//! The ways into and out of a [`Failure`]: from any error (`?`, [`IntoFailure`]), from a
//! boxed error, back into a box, and down to the error's own type.
//!
//! Part of the foundation: it knows nothing of chains, Deferreds or anything built on them.

use std::any::TypeId;
use std::error::Error;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use super::Failure;

impl Failure {
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
        if self.inner.error().is::<super::anyhow::FromAnyhow>() {
            return super::anyhow::downcast(self);
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
        let error = match super::anyhow::take(error) {
            Ok(error) => return super::anyhow::into_failure(error, location),
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

impl AsRef<dyn Error + Send + Sync + 'static> for Failure {
    fn as_ref(&self) -> &(dyn Error + Send + Sync + 'static) {
        self.as_error()
    }
}
