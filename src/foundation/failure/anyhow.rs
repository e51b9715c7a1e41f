//! Conversions between [`Failure`] and `anyhow::Error` (cargo feature `anyhow`).
//!
//! `From<anyhow::Error> for Failure` cannot exist for the reason `From<Box<dyn Error>>` cannot
//! (see [`Failure`]), so the way in is [`IntoFailure::into_failure`](crate::IntoFailure), which
//! keeps the `anyhow::Error` whole inside the failure. The way out is `?`.
//!
//! Part of the foundation: it knows nothing of chains, Deferreds or anything built on them.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::panic::Location;

use crate::failure::Failure;

/// An `anyhow::Error` inside a [`Failure`]: its message, its chain and its backtrace, as they
/// were. [`Failure::check`] and [`Failure::downcast_ref`] look through its whole chain.
pub(crate) struct FromAnyhow(pub(crate) anyhow::Error);

impl fmt::Display for FromAnyhow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for FromAnyhow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Error for FromAnyhow {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

/// `error` as an `anyhow::Error`, if that is its type; otherwise `error` back.
pub(crate) fn take<E: 'static>(error: E) -> Result<anyhow::Error, E> {
    let mut slot = Some(error);
    match (&mut slot as &mut dyn Any).downcast_mut::<Option<anyhow::Error>>() {
        Some(anyhow) => Ok(anyhow.take().expect("just filled")),
        None => Err(slot.expect("not taken")),
    }
}

/// The failure an `anyhow::Error` becomes: the failure it was made from, if it was made from
/// one, or else a failure that holds it whole.
pub(crate) fn into_failure(error: anyhow::Error, location: &'static Location<'static>) -> Failure {
    match error.downcast::<crate::failure::convert::Boxed>() {
        Ok(boxed) => boxed.0,
        Err(error) => Failure::from_parts(Box::new(FromAnyhow(error)), "anyhow::Error", location),
    }
}

/// [`Failure::downcast`] for a failure that holds an `anyhow::Error`.
pub(crate) fn downcast<E: Error + Send + Sync + 'static>(failure: Failure) -> Result<E, Failure> {
    if failure.downcast_ref::<E>().is_none() {
        return Err(failure);
    }
    let location = failure.location();
    match failure.into_inner_error() {
        Ok(inner) => {
            let Ok(from) = inner.downcast::<FromAnyhow>() else {
                unreachable!("checked by the caller")
            };
            from.0.downcast::<E>().map_err(|error| into_failure(error, location))
        }
        Err(failure) => Err(failure),
    }
}

impl From<Failure> for anyhow::Error {
    /// Takes a failure into `anyhow` with `?`.
    ///
    /// A failure made from an `anyhow::Error`, and not shared with clones, gives that error
    /// back, with its chain and backtrace. Any other failure becomes an error with the
    /// failure's message whose source is the original error, as for
    /// `Box<dyn Error + Send + Sync>`: `chain()` finds the original error's type, and
    /// `into_failure()` turns it back into the same failure, with its location and backtrace.
    ///
    /// ```
    /// use deferreds::{Deferred, Failure};
    ///
    /// async fn service(reply: Deferred<u32>) -> anyhow::Result<u32> {
    ///     let n = reply.await?; // Result<u32, Failure>
    ///     anyhow::ensure!(n < 100, "too big: {n}");
    ///     Ok(n)
    /// }
    ///
    /// let failed = deferreds::fail(Failure::new(std::fmt::Error));
    /// let err = futures::executor::block_on(service(failed)).unwrap_err();
    /// assert!(err.chain().any(|e| e.is::<std::fmt::Error>()));
    /// assert_eq!(futures::executor::block_on(service(deferreds::succeed(7))).unwrap(), 7);
    /// ```
    fn from(failure: Failure) -> anyhow::Error {
        if failure.as_error().is::<FromAnyhow>() {
            match failure.into_inner_error() {
                Ok(inner) => match inner.downcast::<FromAnyhow>() {
                    Ok(from) => return from.0,
                    Err(_) => unreachable!("checked above"),
                },
                Err(failure) => {
                    return anyhow::Error::new(crate::failure::convert::Boxed(failure));
                }
            }
        }
        anyhow::Error::new(crate::failure::convert::Boxed(failure))
    }
}

#[cfg(test)]
mod tests {
    use crate::failure::convert::IntoFailure;

    #[derive(Debug, thiserror::Error)]
    #[error("disk on fire")]
    struct Disk;

    #[test]
    fn an_anyhow_error_keeps_its_chain_and_comes_back_whole() {
        let original = anyhow::Error::new(Disk).context("saving the poem");
        let failure = Err::<(), _>(original).into_failure().unwrap_err();
        assert_eq!(failure.error_message(), "saving the poem");
        assert!(failure.check::<Disk>(), "check looks through the context");
        assert_eq!(failure.type_name(), "anyhow::Error");
        assert_eq!(failure.location().file(), file!());
        let back: anyhow::Error = failure.into();
        let chain: Vec<String> = back.chain().map(ToString::to_string).collect();
        assert_eq!(chain, ["saving the poem", "disk on fire"]);
        assert!(back.downcast_ref::<Disk>().is_some());
    }
}
