//! Matching a failure's error by type: [`Failure::check`], [`Failure::trap`] and their
//! forms over several types at once ([`ErrorTypes`]).
//!
//! Part of the foundation: it knows nothing of chains, Deferreds or anything built on them.

use std::any::TypeId;
use std::error::Error;
use std::fmt;

use super::Failure;

impl Failure {
    /// `true` if the wrapped error is an `E` (Twisted's `check` with one type).
    ///
    /// Rust has no subclassing, so this matches the exact type only; an enum of error kinds
    /// plays the part of a Python exception hierarchy.
    ///
    /// ```
    /// let f = deferreds::Failure::new(std::fmt::Error);
    /// assert!(f.check::<std::fmt::Error>());
    /// assert!(!f.check::<std::io::Error>());
    /// ```
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
        if let Some(from) = self.inner.error().downcast_ref::<super::anyhow::FromAnyhow>() {
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
    ///
    /// ```
    /// use deferreds::Failure;
    /// use std::{fmt, io};
    ///
    /// let f = Failure::new(fmt::Error);
    /// assert_eq!(f.trap_any::<(io::Error, fmt::Error)>().unwrap().index(), 1);
    /// assert!(f.trap_any::<(io::Error,)>().unwrap_err().ptr_eq(&f));
    /// ```
    pub fn trap_any<S: ErrorTypes>(&self) -> Result<ErrorType, Failure> {
        self.check_any::<S>().ok_or_else(|| self.clone())
    }
}

/// Which of several error types matched, as [`Failure::check_any`] reports it.
///
/// ```
/// let f = deferreds::Failure::new(std::fmt::Error);
/// let matched = f.check_any::<(std::io::Error, std::fmt::Error)>().unwrap();
/// assert_eq!(matched.to_string(), "core::fmt::Error");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorType {
    index: usize,
    id: TypeId,
    name: &'static str,
}

impl ErrorType {
    /// The position of the matching type in the tuple that was asked about.
    ///
    /// ```
    /// let f = deferreds::Failure::new(std::fmt::Error);
    /// let matched = f.check_any::<(std::io::Error, std::fmt::Error)>().unwrap();
    /// assert_eq!(matched.index(), 1);
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// The matching type's name, as `std::any::type_name` spells it.
    ///
    /// ```
    /// let f = deferreds::Failure::new(std::fmt::Error);
    /// assert_eq!(f.check_any::<(std::fmt::Error,)>().unwrap().name(), "core::fmt::Error");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// `true` if the matching type is `E`.
    ///
    /// ```
    /// let f = deferreds::Failure::new(std::fmt::Error);
    /// let matched = f.check_any::<(std::io::Error, std::fmt::Error)>().unwrap();
    /// assert!(matched.is::<std::fmt::Error>());
    /// assert!(!matched.is::<std::io::Error>());
    /// ```
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
///
/// ```
/// use deferreds::ErrorTypes;
/// use std::{fmt, io};
///
/// let error = fmt::Error;
/// let matched = <(io::Error, fmt::Error)>::first_match(&error).unwrap();
/// assert_eq!(matched.index(), 1);
/// assert!(<(io::Error,)>::first_match(&error).is_none());
/// ```
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
