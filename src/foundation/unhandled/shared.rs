//! One report for a shared failure, however many observers got it.
//!
//! Every observer of a failed share holds the same [`Failure`], and each chain that ends on it
//! unhandled would report it. The engine's reports pass through [`intercept`], which holds
//! back those of shared failures and counts them. A shared failure is reported once, when no
//! share that holds it is left (so no observer can be added) and every observer that got it
//! ended on it unhandled; an observer that handled it makes no report, so the count never gets
//! there and nothing is reported.
//!
//! Entries hold their failure weakly: a failure some observer handled leaves its entry
//! behind until the failure itself is gone, and the next look-up sweeps it away.
//!
//! Part of the foundation: it knows nothing of chains, Deferreds or anything built on them.

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::failure::{Failure, WeakFailure};
use crate::foundation::unhandled::{self, UnhandledFailure};

struct Entry {
    failure: WeakFailure,
    /// Observers that got the failure.
    delivered: usize,
    /// Reports held back: observers (and shares passing it on) that did not handle it.
    unhandled: usize,
    /// Shares holding the failure, each of which may still hand it to new observers.
    open: usize,
    /// The debug lines of the first report held back, for the report made if the count
    /// completes. (Not the report itself: it holds the failure, which would then never go.)
    debug: Option<String>,
}

static ENTRIES: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
/// `ENTRIES.len()`, read without the lock on every report: usually zero.
static LIVE: AtomicUsize = AtomicUsize::new(0);

fn with_entries<R>(f: impl FnOnce(&mut Vec<Entry>) -> R) -> R {
    let mut entries = ENTRIES.lock();
    entries.retain(|e| e.failure.is_alive());
    let r = f(&mut entries);
    LIVE.store(entries.len(), Ordering::Release);
    r
}

fn position(entries: &[Entry], failure: &Failure) -> Option<usize> {
    entries.iter().position(|e| e.failure.is(failure))
}

/// The report to make for the entry at `i` (whose failure is `failure`), if its count is
/// complete; the entry is removed.
fn settle(entries: &mut Vec<Entry>, i: usize, failure: &Failure) -> Option<UnhandledFailure> {
    let e = &entries[i];
    if e.open > 0 || e.unhandled < e.delivered {
        return None;
    }
    let entry = entries.swap_remove(i);
    Some(UnhandledFailure::new(failure.clone(), entry.debug))
}

/// A share stored `failure` as its result. A failure that another share's observer passed
/// on into this share counts as not handled by that observer: the decision moves here.
pub(crate) fn opened(failure: &Failure) {
    with_entries(|entries| match position(entries, failure) {
        Some(i) => {
            entries[i].open += 1;
            entries[i].unhandled += 1;
        }
        None => entries.push(Entry {
            failure: failure.downgrade(),
            delivered: 0,
            unhandled: 0,
            open: 1,
            debug: None,
        }),
    });
}

/// A share handed `failure` to one more observer.
pub(crate) fn delivered(failure: &Failure) {
    with_entries(|entries| {
        if let Some(i) = position(entries, failure) {
            entries[i].delivered += 1;
        }
    });
}

/// A share holding `failure` is gone: no more observers can get it from there.
pub(crate) fn closed(failure: &Failure) {
    let report = with_entries(|entries| {
        let i = position(entries, failure)?;
        entries[i].open -= 1;
        settle(entries, i, failure)
    });
    if let Some(report) = report {
        unhandled::report(report);
    }
}

/// Passes `report` on unless its failure is shared, in which case it is counted and held
/// back, and the one report for that failure is returned once the count is complete.
pub(crate) fn intercept(report: UnhandledFailure) -> Option<UnhandledFailure> {
    if LIVE.load(Ordering::Acquire) == 0 {
        return Some(report);
    }
    with_entries(|entries| {
        let Some(i) = position(entries, report.failure()) else { return Some(report) };
        let entry = &mut entries[i];
        entry.unhandled += 1;
        if entry.unhandled == 1 {
            entry.debug = report.debug_info().map(str::to_owned);
        }
        settle(entries, i, report.failure())
    })
}
