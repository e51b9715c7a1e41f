//! Events and spans for what chains do, with the `tracing` feature.
//!
//! The engine calls the hooks here at a handful of points: a chain made, fired, waiting on the
//! chain a step returned and resumed by it, cancelled, and a failure reported unhandled; a step
//! added where it can be seen (see `chain::located`) runs inside [`step`]. Without the feature
//! every hook is an empty function the compiler removes, and a [`Note`] is a zero-sized type.
//!
//! With it, the hooks emit through the `tracing` crate, target `deferreds`: which events and
//! spans, at which levels and with which fields, is the table of the crate's documentation
//! (`src/lib.rs`, "Seeing what a chain does"), kept there only.
//!
//! A subscriber is user code: no hook runs under a chain's lock, and a panic in a subscriber
//! (or in the `Display` of an error it formats) is caught and dropped here, so that it cannot
//! unwind through the engine.
//!
//! Part of the foundation: it knows nothing of chains, Deferreds or anything built on them.

use std::panic::Location;

use crate::failure::Failure;
use crate::foundation::value::Value;

/// Which kind of step a user added: what the `kind` field of a step's span says, and what a
/// [`Picture`](crate::Picture) shows of a pending step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StepKind {
    /// `add_callback`, `map`, `and_then`: runs on a value.
    Callback,
    /// `add_errback`: runs on a failure.
    Errback,
    /// `add_both`: runs on either.
    Both,
    /// `add_callbacks`: a callback and an errback as one step.
    Callbacks,
}

impl StepKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            StepKind::Callback => "callback",
            StepKind::Errback => "errback",
            StepKind::Both => "both",
            StepKind::Callbacks => "callbacks",
        }
    }
}

/// Where a step was added, and what kind of step it is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Site {
    pub(crate) at: &'static Location<'static>,
    pub(crate) kind: StepKind,
}

pub(crate) use imp::*;

#[cfg(not(feature = "tracing"))]
mod imp {
    use super::*;

    /// What a fire hands to [`fired`]: nothing, without the feature.
    pub(crate) struct Note;

    /// Whether steps should carry their [`Site`] for the sake of tracing: never.
    #[inline(always)]
    pub(crate) fn wants_steps() -> bool {
        false
    }

    /// Runs a step that carries its site: just the step.
    #[inline(always)]
    pub(crate) fn step<R>(
        _site: Site,
        _chain: usize,
        input: Result<Value, Failure>,
        run: impl FnOnce(Result<Value, Failure>) -> R,
    ) -> R {
        run(input)
    }

    #[inline(always)]
    pub(crate) fn created(_chain: usize, _at: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn firing(_result: &Result<Value, Failure>) -> Note {
        Note
    }

    #[inline(always)]
    pub(crate) fn fired(_chain: usize, _at: &'static Location<'static>, _note: Note) {}

    #[inline(always)]
    pub(crate) fn ready(_at: &'static Location<'static>, _result: &Result<Value, Failure>) {}

    #[inline(always)]
    pub(crate) fn waiting(_chain: usize, _on: usize) {}

    #[inline(always)]
    pub(crate) fn resumed(_chain: usize, _from: usize, _result: &Result<Value, Failure>) {}

    #[inline(always)]
    pub(crate) fn cancelling(_chain: usize, _at: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn unhandled(_report: &crate::foundation::unhandled::UnhandledFailure) {}
}

#[cfg(feature = "tracing")]
mod imp {
    use std::fmt;
    use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

    use tracing::{Level, debug, error, span_enabled, trace, trace_span};

    use super::*;
    use crate::foundation::contain;

    /// A chain's name in events: its address, in hexadecimal.
    #[derive(Clone, Copy)]
    struct Id(usize);

    impl fmt::Debug for Id {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{:#x}", self.0)
        }
    }

    /// The track a result is on, as a step's span and a resumption name it.
    fn track(result: &Result<Value, Failure>) -> &'static str {
        if result.is_ok() { "callback" } else { "errback" }
    }

    /// Runs `emit`, which calls the subscriber: a panic there is dropped, not passed on.
    #[inline]
    fn contained<R>(emit: impl FnOnce() -> R) -> Option<R> {
        match catch_unwind(AssertUnwindSafe(emit)) {
            Ok(r) => Some(r),
            Err(payload) => {
                contain::drop_payload(payload);
                None
            }
        }
    }

    /// What a fire hands to [`fired`], taken under the chain's lock before the result goes in:
    /// the value's description (which runs no user code) or the failure (a reference count).
    /// Nothing when no subscriber wants the event.
    pub(crate) struct Note(Option<Result<String, Failure>>);

    /// Whether steps should carry their [`Site`] for the sake of tracing: when a subscriber
    /// wants their spans as the step is added.
    #[inline]
    pub(crate) fn wants_steps() -> bool {
        contained(|| span_enabled!(target: "deferreds", Level::TRACE)).unwrap_or(false)
    }

    /// Runs a step that carries its site inside a `step` span.
    pub(crate) fn step<R>(
        site: Site,
        chain: usize,
        input: Result<Value, Failure>,
        run: impl FnOnce(Result<Value, Failure>) -> R,
    ) -> R {
        let kind = site.kind.name();
        let track = track(&input);
        let chain = (chain != 0).then_some(Id(chain));
        let span = contained(|| {
            trace_span!(
                target: "deferreds", "step", chain = chain.map(tracing::field::debug), kind, track,
                added_at = %site.at
            )
        })
        .unwrap_or_else(tracing::Span::none);
        // The step's panic is caught here and passed on once the span is left and closed, so
        // that the subscriber is never called while a panic unwinds (a second panic there
        // would abort).
        let out = {
            let entered = contained(|| span.enter());
            let out = catch_unwind(AssertUnwindSafe(move || run(input)));
            if let Some(entered) = entered {
                contained(move || drop(entered));
            }
            out
        };
        contained(move || drop(span));
        match out {
            Ok(out) => out,
            Err(payload) => resume_unwind(payload),
        }
    }

    pub(crate) fn created(chain: usize, at: &'static Location<'static>) {
        contained(|| trace!(target: "deferreds", chain = ?Id(chain), at = %at, "deferred created"));
    }

    /// Called under the chain's lock: asks only the level filter, never a subscriber.
    #[inline]
    pub(crate) fn firing(result: &Result<Value, Failure>) -> Note {
        Note(tracing::level_enabled!(Level::DEBUG).then(|| match result {
            Ok(v) => Ok(v.describe()),
            Err(f) => Err(f.clone()),
        }))
    }

    pub(crate) fn fired(chain: usize, at: &'static Location<'static>, note: Note) {
        let Note(Some(result)) = note else { return };
        let chain = (chain != 0).then_some(Id(chain));
        contained(|| match &result {
            Ok(value) => debug!(
                target: "deferreds", chain = chain.map(tracing::field::debug), at = %at,
                value = %value, "deferred fired"
            ),
            Err(failure) => debug!(
                target: "deferreds", chain = chain.map(tracing::field::debug), at = %at,
                failure = %failure, "deferred fired"
            ),
        });
        // The failure's last reference may be this one, and its error's destructor user code.
        contain::drop_reporting(result);
    }

    /// A Deferred made with its result and no chain (`succeed`, `fail`).
    pub(crate) fn ready(at: &'static Location<'static>, result: &Result<Value, Failure>) {
        contained(|| trace!(target: "deferreds", at = %at, "deferred created"));
        fired(0, at, firing(result));
    }

    pub(crate) fn waiting(chain: usize, on: usize) {
        contained(
            || trace!(target: "deferreds", chain = ?Id(chain), on = ?Id(on), "waiting on a nested deferred"),
        );
    }

    pub(crate) fn resumed(chain: usize, from: usize, result: &Result<Value, Failure>) {
        let track = track(result);
        contained(|| {
            trace!(
                target: "deferreds", chain = ?Id(chain), from = ?Id(from), track,
                "resumed by a nested deferred"
            )
        });
    }

    pub(crate) fn cancelling(chain: usize, at: &'static Location<'static>) {
        contained(
            || debug!(target: "deferreds", chain = ?Id(chain), at = %at, "deferred cancelled"),
        );
    }

    pub(crate) fn unhandled(report: &crate::foundation::unhandled::UnhandledFailure) {
        let failure = report.failure();
        let error: &(dyn std::error::Error + 'static) = failure.as_error();
        contained(|| {
            error!(
                target: "deferreds",
                error,
                error_type = failure.type_name(),
                created_at = %failure.location(),
                debug = report.debug_info(),
                "unhandled failure in deferred"
            )
        });
    }
}
