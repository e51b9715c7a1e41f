//! What every layer stands on: the values and failures a chain carries, the crate's error
//! types, the reports of failures nobody handled, the containment of panics in user code, and
//! the hooks of debug mode and tracing.
//!
//! The foundation knows nothing of chains, Deferreds or anything built on them: it imports no
//! other layer of the crate.
//!
//! `error.rs` and `failure/` are declared at the crate root (`crate::error`, `crate::failure`):
//! a failure's traceback and `Debug` print its error's type name, whose path is the module's.

pub(crate) mod contain;
pub(crate) mod debug;
pub(crate) mod spill;
pub(crate) mod trace;
pub(crate) mod unhandled;
pub(crate) mod value;
