//! How a Deferred and a Resolver show themselves: their `Debug` output, and the
//! [`Picture`] of the tower of chains they belong to.
//!
//! Part of the typed Deferred: it knows nothing of the combinators, the coordination
//! primitives, the async bridge or the reactor.

use std::fmt;

use crate::chain::{Peek, Tail};
use crate::deferred::Deferred;
use crate::deferred::picture::Picture;
use crate::deferred::resolver::Resolver;

/// The Twisted-style `Debug` line of a chain named `name`: `<name current result: ...>`, with
/// ` (paused)` if `paused` and the debug-mode lines, if any, on the same line.
pub(crate) fn fmt_state(
    name: &str,
    peek: Peek,
    paused: bool,
    debug: Option<String>,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    write!(f, "<{name}")?;
    match peek {
        Peek::Pending => {}
        Peek::Ok(value) => write!(f, " current result: {value}")?,
        Peek::Err(failure) => write!(f, " current result: {failure:?}")?,
        Peek::Waiting => write!(f, " waiting on another Deferred")?,
        Peek::Running => write!(f, " running callbacks")?,
        Peek::Consumed => write!(f, " result handed on")?,
    }
    if paused {
        f.write_str(" (paused)")?;
    }
    if let Some(debug) = debug {
        write!(f, "{}", debug.replace('\n', " "))?;
    }
    write!(f, ">")
}

impl<T> Deferred<T> {
    /// Whether [`try_result`](Deferred::try_result) would return the result now.
    pub(crate) fn has_result(&self) -> bool {
        self.tail.has_result()
    }
}

impl<T> Deferred<T> {
    /// [`fmt_state`] for this Deferred, whatever `T` is: for messages that cannot ask for
    /// `T: Debug` (the testing helpers' panics).
    pub(crate) fn describe_state(&self) -> String {
        struct State<'a, T>(&'a Deferred<T>);
        impl<T> fmt::Display for State<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let name = format!("Deferred<{}>", std::any::type_name::<T>());
                let paused = self.0.tail.is_paused();
                self.0.tail.peek(|peek, debug| fmt_state(&name, peek, paused, debug, f))
            }
        }
        State(self).to_string()
    }
}

impl<T> Deferred<T> {
    /// A [`Picture`] of the chain and of the tower of chains it belongs to: its state, its
    /// pause count, its pending steps, what it waits on and what waits on it, down the whole
    /// tower; in [debug mode](crate::set_debugging), where each chain was created and fired
    /// and where each pending step was added.
    ///
    /// The value is shown as the engine sees it (small values, such as integers, as
    /// themselves); `{:#?}` shows the picture with the value through `T`'s `Debug`.
    ///
    /// ```
    /// let (d, _resolver) = deferreds::Deferred::<u8>::new();
    /// let mut d = d.map(|n| n + 1);
    /// d.pause();
    /// assert_eq!(d.describe().to_string(), "Deferred<u8>: pending, paused (1), 1 step pending");
    /// ```
    pub fn describe(&self) -> Picture {
        self.picture(None)
    }

    fn picture(&self, value: Option<String>) -> Picture {
        let name = format!("Deferred<{}>", std::any::type_name::<T>());
        match &self.tail {
            Tail::Chain(chain) => Picture::of_chain(chain, name, value),
            ready => ready.peek(|peek, _| Picture::of_result(name, peek, value)),
        }
    }
}

impl<T: fmt::Debug + 'static> fmt::Debug for Deferred<T> {
    /// Twisted-style: `<Deferred<alloc::string::String> current result: "poem">`, with
    /// `(paused)` while it is paused, plus creation and fire sites in debug mode.
    ///
    /// The value is shown with `T`'s `Debug`; a paused chain may still hold the value of an
    /// earlier step, of another type, which is shown as the engine sees it.
    ///
    /// `{:#?}` prints the Deferred's [`describe`](Deferred::describe) picture instead, the
    /// value shown the same way:
    ///
    /// ```
    /// let (inner, _fire) = deferreds::Deferred::<u8>::new();
    /// let outer = deferreds::succeed(String::from("key")).add_callback(move |_| inner);
    /// assert_eq!(
    ///     format!("{outer:#?}"),
    ///     "Deferred<u8>: a tower of 2 chains, outermost first\n\
    ///      => #0 waiting on #1\n   \
    ///         #1 pending"
    /// );
    /// let done = deferreds::succeed(String::from("poem"));
    /// assert_eq!(format!("{done:#?}"), r#"Deferred<alloc::string::String>: has its result: "poem""#);
    /// ```
    ///
    /// ```
    /// let mut d = deferreds::succeed(String::from("poem"));
    /// assert_eq!(format!("{d:?}"), r#"<Deferred<alloc::string::String> current result: "poem">"#);
    /// d.pause();
    /// assert_eq!(
    ///     format!("{d:?}"),
    ///     r#"<Deferred<alloc::string::String> current result: "poem" (paused)>"#
    /// );
    /// let (pending, _r) = deferreds::Deferred::<u8>::new();
    /// assert_eq!(format!("{pending:?}"), "<Deferred<u8>>");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = format!("Deferred<{}>", std::any::type_name::<T>());
        let paused = self.tail.is_paused();
        // `T`'s `Debug` is user code: it runs on the value lent out of the chain, not under
        // the chain's lock, and before the snapshot the rest of the output comes from.
        let shown = self.tail.lend_value(|v| v.debug_as::<T>()).flatten();
        if f.alternate() {
            return fmt::Display::fmt(&self.picture(shown), f);
        }
        self.tail.peek(|peek, debug| {
            let peek = match (peek, shown) {
                (Peek::Ok(_), Some(shown)) => Peek::Ok(shown),
                (peek, _) => peek,
            };
            fmt_state(&name, peek, paused, debug, f)
        })
    }
}

impl<T> Resolver<T> {
    /// A [`Picture`] of the chain this resolver fires and of the tower it belongs to, as
    /// [`Deferred::describe`] takes one: useful once the Deferred was handed on, for example
    /// returned from a step, so that another chain waits on it.
    ///
    /// ```
    /// let (inner, fire_inner) = deferreds::Deferred::<u8>::new();
    /// let outer = deferreds::succeed(()).add_callback(move |()| inner);
    /// assert_eq!(
    ///     fire_inner.describe().to_string(),
    ///     "Resolver<u8>: a tower of 2 chains, outermost first\n   \
    ///         #0 waiting on #1\n\
    ///      => #1 pending"
    /// );
    /// # drop(outer);
    /// ```
    pub fn describe(&self) -> Picture {
        let name = format!("Resolver<{}>", std::any::type_name::<T>());
        Picture::of_chain(&self.chain, name, None)
    }
}

impl<T> fmt::Debug for Resolver<T> {
    /// The chain's state, as `Deferred`'s `Debug` shows it, with `(paused)` while it is paused;
    /// the value as the engine sees it (the chain's value need not be a `T` any more). `{:#?}`
    /// prints its [`describe`](Resolver::describe) picture.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return fmt::Display::fmt(&self.describe(), f);
        }
        let name = format!("Resolver<{}>", std::any::type_name::<T>());
        let paused = self.chain.paused();
        self.chain.peek(|peek, debug| fmt_state(&name, peek, paused, debug, f))
    }
}
