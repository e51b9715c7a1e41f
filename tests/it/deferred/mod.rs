//! The typed Deferred's own face: pictures of chains, and the `testing` helpers.

mod picture;
mod testing_helpers;
