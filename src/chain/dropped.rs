//! What dropping a chain does: nothing more for a chain that owns nothing and is listed nowhere;
//! otherwise the forgetting, reporting and queueing that [`dispose`](super::dispose) and the
//! circle walk need.
//!
//! Part of the engine: it knows nothing of the typed Deferred, the combinators, the primitives,
//! the async bridge or the reactor.

use super::cycles::{self, dropping};
use super::dispose::{Garbage, dispose};
use super::steps::Steps;
use super::{Chain, DEBUG, STALLED, Slot, Waiter, awaiters};
use crate::foundation::debug;
use crate::foundation::unhandled::{self, UnhandledFailure};

impl Drop for Chain {
    fn drop(&mut self) {
        let marks = self.marks();
        let st = self.state.get_mut();
        let trivial = match &st.slot {
            Slot::Empty | Slot::Lent => true,
            Slot::Ok(v) => v.is_inline(),
            _ => false,
        } && matches!(st.steps, Steps::Empty)
            && st.waiter.is_none();
        if trivial && marks == 0 {
            // Nothing here can own another chain or be reported, and no table lists it.
            return;
        }
        self.drop_slow(marks, trivial);
    }
}

impl Chain {
    #[cold]
    fn drop_slow(&mut self, marks: u8, trivial: bool) {
        let debug = if marks & DEBUG != 0 { debug::forget(self.addr()) } else { None };
        if marks & STALLED != 0 {
            awaiters::forget(self.addr());
        }
        let st = self.state.get_mut();
        if let Slot::Err(failure) = &st.slot {
            unhandled::report(UnhandledFailure::new(failure.clone(), debug));
        }
        if trivial {
            // Nothing here can own another chain: no need for the iterative drop.
            return;
        }
        let garbage = Garbage {
            _slot: std::mem::replace(&mut st.slot, Slot::Empty),
            _steps: std::mem::replace(&mut st.steps, Steps::Empty),
            _waiter: st.waiter.take(),
        };
        cycles::deferring(|| {
            if let Some(Waiter::Chain(outer)) = &garbage._waiter {
                // The chain that waited on this one loses its way to a result.
                dropping(outer);
            }
            // And the chains its `chain_deferred` links would have fired lose a firer.
            for target in garbage._steps.fire_targets() {
                dropping(target);
            }
            dispose(garbage);
        });
    }
}
