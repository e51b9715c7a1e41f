//! Read-only looks at a chain, for [`Picture`](crate::Picture): what one chain holds, taken
//! under its lock, and the links to its neighbours in a tower.
//!
//! A look changes nothing and runs no user code under the lock: the value is described by the
//! engine ([`Value::describe`](crate::foundation::value::Value::describe)), a failure is cloned (a
//! reference count) to be formatted later, and the steps are asked only where they were added.
//!
//! Part of the engine: it knows nothing of the typed Deferred, the combinators, the primitives,
//! the async bridge or the reactor.

use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::run::release;
use super::{CANCELLED, Chain, Peek, Slot, Waiter};
use crate::foundation::debug;
use crate::foundation::trace::Site;

/// One chain, as a look found it.
pub(crate) struct Look {
    /// The chain's address: the same chain seen from two pictures is one node of a graph.
    pub(crate) id: usize,
    pub(crate) peek: Peek,
    /// Pending, with a canceller.
    pub(crate) canceller: bool,
    pub(crate) paused: u32,
    /// A cancel reached it while it was pending.
    pub(crate) cancelled: bool,
    /// A task (an `.await`) waits for its result.
    pub(crate) awaited: bool,
    /// A combinator (`gather_results`, `DeferredList`, `race`) waits for its result.
    pub(crate) gathered: bool,
    /// The first pending steps, up to the number asked for.
    pub(crate) steps: Vec<StepLook>,
    /// How many steps are pending in all.
    pub(crate) pending: usize,
    /// Where it was made and first fired, for a chain made in debug mode.
    pub(crate) created: Option<&'static Location<'static>>,
    pub(crate) fired: Option<&'static Location<'static>>,
}

/// A pending step, as a look sees it.
#[derive(Clone, Copy)]
pub(crate) enum StepLook {
    /// Added by a user where it can be seen (see `located`).
    Added(Site),
    /// A `chain_deferred` link.
    Fires,
    /// Added while nobody was looking (debug mode off), or by the crate itself.
    Unseen,
}

/// The neighbours of a chain in its tower that a look took along.
#[derive(Default)]
pub(crate) struct Links {
    /// The chain it waits on.
    pub(crate) inner: Option<Arc<Chain>>,
    /// The chain that waits on it.
    pub(crate) outer: Option<Arc<Chain>>,
}

impl Chain {
    /// Looks at the chain, with up to `steps` of its pending steps, and takes along its
    /// neighbours that are asked for (`inner`, `outer`), if it has them. One lock, for the
    /// snapshot and the links together.
    pub(crate) fn look(&self, steps: usize, inner: bool, outer: bool) -> (Look, Links) {
        let sites = if self.is_debug() { debug::sites(self.addr()) } else { None };
        let st = self.state.lock();
        let peek = self.peek_locked(&st);
        let queued = st.steps.as_slice();
        let pending = queued.len();
        let shown = queued
            .iter()
            .take(steps)
            .map(|step| match (step.site(), step.fires()) {
                (Some(site), _) => StepLook::Added(site),
                (None, Some(_)) => StepLook::Fires,
                (None, None) => StepLook::Unseen,
            })
            .collect();
        let links = Links {
            inner: match &st.slot {
                Slot::Waiting(next) if inner => next.upgrade(),
                _ => None,
            },
            outer: match &st.waiter {
                Some(Waiter::Chain(next)) if outer => Some(next.clone()),
                _ => None,
            },
        };
        let look = Look {
            id: self.addr(),
            canceller: matches!(st.slot, Slot::Pending(Some(_))),
            peek,
            paused: self.paused.load(Ordering::Acquire),
            cancelled: self.cancelling.load(Ordering::Relaxed) & CANCELLED != 0,
            awaited: matches!(st.waiter, Some(Waiter::Task(_))),
            gathered: matches!(st.waiter, Some(Waiter::Join(..))),
            steps: shown,
            pending,
            created: sites.map(|(created, _)| created),
            fired: sites.and_then(|(_, fired)| fired),
        };
        drop(st);
        (look, links)
    }
}

/// Lets go of a neighbour a look took along, which may have become its last handle: as the
/// trampoline lets go of a chain.
pub(crate) fn let_go(chain: Arc<Chain>) {
    release(chain);
}
