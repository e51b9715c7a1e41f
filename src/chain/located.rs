//! Steps that carry where they were added.
//!
//! A step added through `add_callback` and its siblings takes the engine's plain path, unless
//! its chain was made in debug mode, or (with the `tracing` feature) a subscriber wants step
//! spans as it is added. Then the step is boxed together with its [`Site`] in a [`Located`],
//! which the queue holds like any other step: a picture of the chain reads the sites of its
//! pending steps through [`RunStep::site`], and the step runs inside a `step` span. The plain
//! path pays one look at the chain's debug mark.
//!
//! Part of the engine: it knows nothing of the typed Deferred, the combinators, the primitives,
//! the async bridge or the reactor.

use std::panic::Location;

use super::{Outcome, RunStep, Tail};
use crate::failure::Failure;
use crate::foundation::trace::{self, Site, StepKind};
use crate::foundation::value::Value;

/// A step and where it was added.
struct Located<F> {
    step: F,
    site: Site,
    /// The address of the chain it was added to, for the step's span.
    chain: usize,
}

impl<F: FnOnce(Result<Value, Failure>) -> Outcome + Send> RunStep for Located<F> {
    fn run(self: Box<Self>, input: Result<Value, Failure>) -> Outcome {
        let Located { step, site, chain } = *self;
        trace::step(site, chain, input, step)
    }

    fn site(&self) -> Option<Site> {
        Some(self.site)
    }
}

impl Tail {
    /// [`push`](Tail::push) for a step a user added with `kind`, at the caller's location: the
    /// step keeps its site where anyone may ask for it (see the module docs).
    #[inline(always)]
    #[track_caller]
    pub(crate) fn push_at<F>(self, kind: StepKind, step: F) -> Tail
    where
        F: FnOnce(Result<Value, Failure>) -> Outcome + Send + 'static,
    {
        let site = Site { at: Location::caller(), kind };
        if trace::wants_steps() || matches!(&self, Tail::Chain(chain) if chain.is_debug()) {
            return self.push_located(site, step);
        }
        self.push(step)
    }

    /// On a chain made in debug mode, or with a subscriber that wants step spans: every step
    /// carries its site, also one that runs at once.
    #[cold]
    #[inline(never)]
    fn push_located<F>(self, site: Site, step: F) -> Tail
    where
        F: FnOnce(Result<Value, Failure>) -> Outcome + Send + 'static,
    {
        match self {
            Tail::Chain(chain) => {
                chain.push(Box::new(Located { step, site, chain: chain.addr() }));
                Tail::Chain(chain)
            }
            ready => {
                ready.push(move |input: Result<Value, Failure>| trace::step(site, 0, input, step))
            }
        }
    }
}
