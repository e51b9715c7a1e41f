//! Property testing for Deferreds: generated Deferred programs, a reference model that predicts
//! what a program does, and a runner that does it on this crate (feature `proptest`).
//!
//! A [`Program`] is a few Deferreds and a sequence of operations on them: adding callbacks,
//! errbacks, both, or a callbacks pair; firing and failing; pausing and unpausing;
//! cancelling; `chain_deferred`. What a step does is a [`StepFn`]: compute, fail, recover,
//! return another Deferred (nesting), fire, cancel or add to another Deferred, or call a
//! [`CustomStep`] of your own.
//!
//! - [`Shape`] generates programs (it is a proptest [`Strategy`](::proptest::strategy::Strategy)):
//!   how many Deferreds, which operations with what weights, your own step functions. A failing
//!   case shrinks to a short program, printed as a numbered list of operations.
//! - [`model::run`] predicts what a program does: a small, pure interpreter of the semantics,
//!   with the crate's documented differences from Twisted (`docs/conformance.md`).
//! - [`runner::run`] does it on this crate, through the public API only, and records the same
//!   [`Trace`] of [`Event`]s; a [`Runner`](runner::Runner) lets your own code take part.
//!
//! A property is then "the crate agrees with the model", or an invariant of your own over the
//! events: every step ran at most once, no failure was left unhandled, every Deferred ended
//! with a result.
//!
//! ```
//! use deferreds::proptest::{Shape, model, runner};
//! use proptest::prelude::*;
//!
//! proptest! {
//!     #![proptest_config(ProptestConfig::with_cases(100))]
//!     fn the_crate_does_what_the_model_predicts(program in Shape::new()) {
//!         let run = runner::run(&program)?;
//!         prop_assert_eq!(&run.trace, &model::run(&program)?);
//!         // An invariant of your own: no step ran twice.
//!         let mut ran: Vec<_> = run.trace.steps().map(|(d, step, _)| (d, step)).collect();
//!         let before = ran.len();
//!         ran.sort();
//!         ran.dedup();
//!         prop_assert_eq!(ran.len(), before);
//!     }
//! }
//! # the_crate_does_what_the_model_predicts();
//! ```
//!
//! Proptest reports a failing case, once shrunk, as a program:
//!
//! ```text
//! minimal failing input: program =
//! Deferreds: d0, d1 (canceller: fire(Some(3)))
//! 0. d0.add_callback(nest(d1))
//! 1. d0.callback(Some(1))
//! 2. d0.cancel()
//! ```
//!
//! `docs/guide/13-property-testing.md` walks through testing a retrying client this way, and
//! the crate's own law tests (`tests/laws.rs`) and conformance replay (`tests/conformance/`)
//! are written with this module.

// Part of `proptest`, on the public API and `testing`: it knows nothing of the engine, the
// combinators' insides, the primitives, the async bridge or the reactor.

mod event;
mod generate;
mod kinds;
pub mod model;
mod outcome;
mod program;
pub mod runner;
mod strategy;

pub use self::event::{Event, FinalState, StepId, Trace};
pub use self::kinds::{CancellerKind, OpKind, StepKind};
pub use self::outcome::{Fault, Outcome, Tag, TypeError, Value, outcome_of};
pub use self::program::{Attach, Canceller, CustomStep, InvalidProgram, Op, Program, StepFn};
pub use self::strategy::Shape;
