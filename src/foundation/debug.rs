//! Debug mode: where each Deferred was created and first fired.
//!
//! Off by default, and then it costs one relaxed atomic load per Deferred created and nothing
//! else: the records live in a table beside the chains, not in them. On, each new Deferred
//! records its creation site (and, when
//! [`Failure::backtrace_capture`](crate::Failure::backtrace_capture) is on, the creating
//! backtrace), and each fire records its call site. The records appear in the Deferred's `Debug`
//! output, in [`AlreadyCalledError`](crate::AlreadyCalledError) messages and in unhandled-failure
//! reports, which is Twisted's `setDebugging(True)`.
//!
//! Part of the foundation: it knows nothing of chains, Deferreds or anything built on them.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

static DEBUG: AtomicBool = AtomicBool::new(false);

/// Records of chains created in debug mode, keyed by the chain's address. An entry is removed
/// when its chain is dropped, so an address is never reused while its entry exists.
static TABLE: Mutex<Option<HashMap<usize, DebugInfo>>> = Mutex::new(None);

/// Turns debug mode on or off for Deferreds created from now on (Twisted's `setDebugging`).
///
/// ```
/// deferreds::set_debugging(true);
/// let (d, r) = deferreds::Deferred::<u8>::new();
/// r.callback(1).unwrap();
/// let err = r.callback(2).unwrap_err().to_string();
/// assert!(err.contains("C: Deferred was created at"), "{err}");
/// assert!(err.contains("I: First fired at"), "{err}");
/// deferreds::set_debugging(false);
/// # drop(d);
/// ```
pub fn set_debugging(on: bool) {
    DEBUG.store(on, Ordering::Relaxed);
}

/// Whether debug mode is on (Twisted's `getDebugging`).
///
/// ```
/// deferreds::set_debugging(true);
/// assert!(deferreds::debugging());
/// deferreds::set_debugging(false);
/// assert!(!deferreds::debugging());
/// ```
pub fn debugging() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

/// What debug mode records for one chain.
struct DebugInfo {
    created: &'static Location<'static>,
    created_backtrace: Option<backtrace::Backtrace>,
    fired: Option<&'static Location<'static>>,
}

/// Records a chain created at `created`.
pub(crate) fn register(chain: usize, created: &'static Location<'static>) {
    let created_backtrace =
        crate::failure::Failure::backtrace_capture().then(backtrace::Backtrace::new_unresolved);
    TABLE
        .lock()
        .get_or_insert_with(HashMap::new)
        .insert(chain, DebugInfo { created, created_backtrace, fired: None });
}

/// Records the first fire; later ones are what `AlreadyCalledError` complains about.
pub(crate) fn fired_at(chain: usize, at: &'static Location<'static>) {
    if let Some(info) = TABLE.lock().as_mut().and_then(|t| t.get_mut(&chain)) {
        info.fired.get_or_insert(at);
    }
}

/// Twisted's "C:"/"I:" lines for a chain.
pub(crate) fn describe(chain: usize) -> Option<String> {
    TABLE.lock().as_mut().and_then(|t| t.get_mut(&chain)).map(DebugInfo::describe)
}

/// Where a chain was created and first fired, for a picture of it.
#[allow(clippy::type_complexity)]
pub(crate) fn sites(
    chain: usize,
) -> Option<(&'static Location<'static>, Option<&'static Location<'static>>)> {
    TABLE.lock().as_ref().and_then(|t| t.get(&chain)).map(|info| (info.created, info.fired))
}

/// Removes a dropped chain's record, describing it one last time.
pub(crate) fn forget(chain: usize) -> Option<String> {
    let info = TABLE.lock().as_mut().and_then(|t| t.remove(&chain));
    info.map(|mut info| info.describe())
}

impl DebugInfo {
    fn describe(&mut self) -> String {
        let mut out = String::new();
        let c = self.created;
        let _ = write!(out, "\n C: Deferred was created at {c}");
        if let Some(bt) = &mut self.created_backtrace {
            for frame in crate::failure::traceback::resolve_frames(bt) {
                let _ = write!(out, "\n C:   in {}", frame.function());
                if let (Some(file), Some(line)) = (frame.file(), frame.line()) {
                    let _ = write!(out, " ({file}:{line})");
                }
            }
        }
        match self.fired {
            Some(i) => {
                let _ = write!(out, "\n I: First fired at {i}");
            }
            None => out.push_str("\n I: not fired yet"),
        }
        out
    }
}
