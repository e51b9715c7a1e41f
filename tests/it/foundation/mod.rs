//! Failures, their conversions to and from other errors, and unhandled-failure reports.

mod failure;
mod interop;
mod unhandled;
