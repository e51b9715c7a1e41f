//! What the examples share: [`Out`], where an example writes the lines it prints. (The
//! examples that run the real reactor use the crate's `react`, which runs it for as long as
//! the story's Deferred takes.)
//!
//! Every example is a function that writes to an `Out`. Under `cargo run --example <name>`,
//! the `Out` prints each line as it comes; `tests/examples.rs` runs the same function with an
//! `Out` that keeps the lines, and compares them with the text the example should print.
//! Timed examples also take their time source as a parameter, so that the test can run them
//! on a `Clock` in no time at all while `cargo run` uses the real reactor.

// Each example uses a different part of this module.
#![allow(dead_code)]

use std::fmt::Display;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

/// Where an example writes its lines: standard output, or a list that a test reads back.
///
/// Clones write to the same place, so a callback can keep one.
#[derive(Clone, Debug, Default)]
pub struct Out {
    kept: Option<Arc<Mutex<Vec<String>>>>,
}

impl Out {
    /// Prints every line on standard output as it is written.
    pub fn stdout() -> Out {
        Out { kept: None }
    }

    /// Keeps the lines instead, for [`lines`](Out::lines).
    pub fn capture() -> Out {
        Out { kept: Some(Arc::default()) }
    }

    /// Writes one line.
    pub fn line(&self, text: impl Display) {
        match &self.kept {
            // A closed pipe (`cargo run --example tour | head`) is not worth a panic.
            None => {
                let _ = writeln!(std::io::stdout(), "{text}");
            }
            Some(lines) => {
                lines.lock().unwrap_or_else(PoisonError::into_inner).push(text.to_string())
            }
        }
    }

    /// Writes one line stamped with the time source's clock, `[ 2.0 s] text`.
    #[cfg(feature = "reactor")]
    pub fn at(&self, time: &impl deferreds::reactor::Time, text: impl Display) {
        self.line(format_args!("[{:4.1} s] {text}", time.seconds()));
    }

    /// The lines kept so far (none for an `Out` that prints).
    pub fn lines(&self) -> Vec<String> {
        match &self.kept {
            None => Vec::new(),
            Some(lines) => lines.lock().unwrap_or_else(PoisonError::into_inner).clone(),
        }
    }
}
