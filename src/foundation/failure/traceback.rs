//! A failure's tracebacks, in Twisted's three levels of detail, and the frames behind them.
//!
//! Part of the foundation: it knows nothing of chains, Deferreds or anything built on them.

use std::fmt::Write as _;

use super::{Failure, nested};

impl Failure {
    /// The captured frames, outermost first (empty when capture was off).
    ///
    /// Frames inside the backtrace machinery and this module are left out, as are the
    /// runtime's start-up frames, so the list begins at the program's own code.
    ///
    /// ```
    /// use deferreds::Failure;
    ///
    /// fn parse() -> Failure {
    ///     Failure::msg("bad digit")
    /// }
    ///
    /// Failure::set_backtrace_capture(true);
    /// let frames = parse().frames();
    /// // The innermost frame is the code that made the failure, not the capture.
    /// assert!(frames.last().unwrap().function().ends_with("parse"), "{frames:#?}");
    ///
    /// Failure::set_backtrace_capture(false);
    /// assert!(parse().frames().is_empty());
    /// ```
    pub fn frames(&self) -> Vec<Frame> {
        match &self.inner.backtrace {
            Some(bt) => resolve_frames(&mut bt.lock()),
            None => Vec::new(),
        }
    }

    /// A Twisted-style traceback: the frames where the failure was raised (when captured),
    /// the creation site, the error chain, and a final `type: message` line.
    ///
    /// ```text
    /// Traceback (most recent call last):
    ///   File "src/main.rs", line 12, in poetry::main
    ///   File "src/main.rs", line 30, in poetry::get_poetry
    /// Failure created at src/main.rs:30:17
    /// std::io::error::Error: connection refused
    /// ```
    ///
    /// ```
    /// let f = deferreds::Failure::msg("connection refused");
    /// let tb = f.traceback();
    /// assert!(tb.starts_with("Traceback "));
    /// assert!(tb.contains(&format!("\nFailure created at {}:", file!())));
    /// assert!(tb.ends_with("\ndeferreds::failure::MessageError: connection refused\n"));
    /// ```
    pub fn traceback(&self) -> String {
        let mut out = String::new();
        if self.has_backtrace() {
            out.push_str("Traceback (most recent call last):\n");
            for f in self.frames() {
                f.write_line(&mut out);
            }
        } else {
            out.push_str(NO_FRAMES);
        }
        let loc = self.inner.location;
        let _ = writeln!(out, "Failure created at {loc}");
        self.write_end(&mut out);
        out
    }

    /// The last lines of the default and the verbose traceback: the causes, then the error.
    fn write_end(&self, out: &mut String) {
        nested::write_causes(out, self.as_error());
        let _ = writeln!(out, "{}: {self}", self.inner.type_name);
    }

    /// A one-line-per-frame traceback (Twisted's `getBriefTraceback`).
    ///
    /// ```
    /// let f = deferreds::Failure::msg("short");
    /// assert!(f.brief_traceback().starts_with("Traceback: deferreds::failure::MessageError: short\n"));
    /// ```
    pub fn brief_traceback(&self) -> String {
        let mut out = format!("Traceback: {}: {self}\n", self.inner.type_name);
        for f in self.frames() {
            match (&f.file, f.line) {
                (Some(file), Some(line)) => {
                    let _ = writeln!(out, "{file}:{line}:{}", f.function);
                }
                _ => {
                    let _ = writeln!(out, "?:?:{}", f.function);
                }
            }
        }
        let loc = self.inner.location;
        let _ = writeln!(out, "{}:{}:<created here>", loc.file(), loc.line());
        out
    }
}

/// How much a [`Failure`]'s traceback tells: the `detail` argument of Twisted's
/// `Failure.getTraceback`, for [`Failure::traceback_with`].
///
/// ```
/// use deferreds::{Failure, TracebackDetail};
///
/// let f = Failure::msg("no poem");
/// assert_eq!(f.traceback_with(TracebackDetail::Default), f.traceback());
/// assert_eq!(f.traceback_with(TracebackDetail::Brief), f.brief_traceback());
/// assert!(f.traceback_with(TracebackDetail::Verbose).starts_with("*--- Failure: "));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TracebackDetail {
    /// One line per frame, after a `Traceback: type: message` line
    /// ([`Failure::brief_traceback`]).
    Brief,
    /// The program's own frames, each run of the engine's frames folded into one marker line,
    /// then the creation site, the causes and the error ([`Failure::traceback`]).
    #[default]
    Default,
    /// Every captured frame, the standard library's and the engine's too, each followed by
    /// its source line where the file can be read (paths relative to the working directory,
    /// as `file!()` records them, or absolute); the creation site with its source line; the
    /// causes and the error; framed by `*--- Failure ---` lines as in Twisted.
    Verbose,
}

impl Failure {
    /// The traceback at the given level of detail (Twisted's `getTraceback(detail=...)`).
    ///
    /// ```
    /// use deferreds::{Failure, TracebackDetail};
    ///
    /// let f = Failure::msg("the kettle boiled dry");
    /// let verbose = f.traceback_with(TracebackDetail::Verbose);
    /// assert!(verbose.starts_with("*--- Failure: deferreds::failure::MessageError: the kettle"));
    /// assert!(verbose.contains("\nFailure created at "));
    /// assert!(verbose.ends_with("*--- End of Failure ---\n"));
    /// ```
    pub fn traceback_with(&self, detail: TracebackDetail) -> String {
        match detail {
            TracebackDetail::Brief => self.brief_traceback(),
            TracebackDetail::Default => self.traceback(),
            TracebackDetail::Verbose => self.verbose_traceback(),
        }
    }

    fn verbose_traceback(&self) -> String {
        let mut sources = SourceLines::default();
        let mut out = format!("*--- Failure: {}: {self} ---\n", self.inner.type_name);
        match &self.inner.backtrace {
            Some(bt) => {
                out.push_str("Traceback (most recent call last, every frame):\n");
                for f in every_frame(&mut bt.lock()) {
                    f.write_line(&mut out);
                    if let (Some(file), Some(line)) = (&f.file, f.line) {
                        if let Some(text) = sources.line(file, line) {
                            let _ = writeln!(out, "    {text}");
                        }
                    }
                }
            }
            None => out.push_str(NO_FRAMES),
        }
        let loc = self.inner.location;
        let _ = writeln!(out, "Failure created at {loc}");
        if let Some(text) = sources.line(loc.file(), loc.line()) {
            let _ = writeln!(out, "    {text}");
        }
        self.write_end(&mut out);
        out.push_str("*--- End of Failure ---\n");
        out
    }
}

/// Resolves `bt` and returns one frame per symbol, innermost first, as captured.
fn symbols(bt: &mut backtrace::Backtrace) -> Vec<Frame> {
    bt.resolve();
    bt.frames()
        .iter()
        .flat_map(|frame| frame.symbols())
        .map(|sym| Frame {
            function: sym.name().map(|n| format!("{n:#}")).unwrap_or_else(|| "<unknown>".into()),
            file: sym.filename().map(|p| p.display().to_string()),
            line: sym.lineno(),
        })
        .collect()
}

/// Every frame of `bt`, outermost first, less only the capture itself (the backtrace crate's
/// frames and `Failure`'s constructors) on top.
fn every_frame(bt: &mut backtrace::Backtrace) -> Vec<Frame> {
    let mut frames = symbols(bt);
    let first = frames.iter().position(|f| !is_capture(&f.function)).unwrap_or(frames.len());
    frames.drain(..first);
    frames.reverse();
    frames
}

/// Source files read for one traceback, each once.
#[derive(Default)]
struct SourceLines {
    files: std::collections::HashMap<String, Option<Vec<String>>>,
}

impl SourceLines {
    /// Line `line` (from 1) of `file`, trimmed, if the file can be read and has it.
    fn line(&mut self, file: &str, line: u32) -> Option<&str> {
        let lines = self.files.entry(file.to_owned()).or_insert_with(|| {
            let text = std::fs::read_to_string(file).ok()?;
            Some(text.lines().map(str::to_owned).collect())
        });
        let text = lines.as_ref()?.get(usize::try_from(line).ok()?.checked_sub(1)?)?.trim();
        (!text.is_empty()).then_some(text)
    }
}

/// Resolves `bt` and returns its frames outermost first, without the capture machinery on
/// top or the runtime's start-up frames at the bottom.
pub(crate) fn resolve_frames(bt: &mut backtrace::Backtrace) -> Vec<Frame> {
    let mut frames = symbols(bt);
    // Innermost first as captured: skip the capture machinery and the library frames around it.
    let first_own = frames
        .iter()
        .position(|f| !is_machinery(&f.function) && !is_library(&f.function))
        .unwrap_or(frames.len());
    frames.drain(..first_own);
    if let Some(start) = frames.iter().position(|f| is_runtime_start(&f.function)) {
        frames.truncate(start);
    }
    frames.reverse();
    // Keep the program's own frames; the standard library's go, and each run of the engine's
    // frames becomes one marker line, which is where a step was called from a chain.
    let mut kept: Vec<Frame> = Vec::with_capacity(frames.len());
    for frame in frames {
        if is_library(&frame.function) || frame.function == "__rust_try" {
            continue;
        }
        if is_engine(&frame.function) {
            if kept.last().is_none_or(|f| f.function != ENGINE_MARKER) {
                kept.push(Frame { function: ENGINE_MARKER.to_owned(), file: None, line: None });
            }
            continue;
        }
        kept.push(frame);
    }
    kept
}

/// The header of a traceback without frames.
const NO_FRAMES: &str = "Traceback (no frames captured; set RUST_BACKTRACE=1 to capture them):\n";

/// Stands for the frames of this crate's engine in a traceback.
const ENGINE_MARKER: &str = "<deferreds: running the chain>";

fn is_engine(function: &str) -> bool {
    let path = function.strip_prefix('<').unwrap_or(function);
    (path.starts_with("deferreds::chain::") || path.starts_with("deferreds::deferred::"))
        && !NOT_THE_ENGINE.iter().any(|p| path.starts_with(p))
}

/// Modules in the engine's and the typed Deferred's folders whose frames are the program's
/// way through the crate, kept in a traceback as they are: the combinators' join, and the
/// helpers beside the Deferred that run user code or hand results on.
const NOT_THE_ENGINE: &[&str] = &[
    "deferreds::chain::join::",
    "deferreds::deferred::execute::",
    "deferreds::deferred::passthru::",
    "deferreds::deferred::picture::",
    "deferreds::deferred::waiters::",
];

/// The capture itself: the backtrace crate's frames and the failure module's (its
/// constructors, the conversion behind `?`), under any of the names a backtrace gives them;
/// not the failure module's unit tests, which stand for a user's code.
fn is_capture(function: &str) -> bool {
    let path = function.trim_start_matches('<');
    path.starts_with("backtrace::")
        || (path.starts_with("deferreds::failure::")
            && !path.starts_with("deferreds::failure::tests::"))
}

/// What is skipped on top of the default traceback besides the library's frames
/// ([`is_library`] covers `core::ops::function`, `std::panicking` and the like): the capture,
/// the conversion behind `?` under its generic name, debug mode's recording, the engine.
fn is_machinery(function: &str) -> bool {
    is_capture(function)
        || function.starts_with("<T as core::convert::From")
        || function.starts_with("deferreds::foundation::debug::")
        || function.trim_start_matches('<').starts_with("deferreds::chain::")
        || function.starts_with("__rust_try")
}

fn is_library(function: &str) -> bool {
    // Both symbol manglings: `<core::..>` / `core::..`, and impls on primitive types, which the
    // v0 mangling prints as `<bool>::then` or `<[T]>::iter`.
    let path = function.trim_start_matches('<');
    if ["core::", "alloc::", "std::"].iter().any(|p| path.starts_with(p)) {
        return true;
    }
    let head = path.split(['>', ':', ' ']).next().unwrap_or("");
    const PRIMITIVES: &[&str] = &[
        "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32",
        "i64", "i128", "isize", "f32", "f64",
    ];
    PRIMITIVES.contains(&head) || path.starts_with(['[', '&', '(', '*'])
}

fn is_runtime_start(function: &str) -> bool {
    function.starts_with("std::rt::lang_start")
        || function.starts_with("std::sys::backtrace::__rust_begin_short_backtrace")
        || function.starts_with("std::sys_common::backtrace::__rust_begin_short_backtrace")
        || function == "main"
        || function.starts_with("__libc_start")
}

/// One frame of a [`Failure`]'s backtrace.
///
/// ```
/// use deferreds::Failure;
///
/// fn fetch() -> Failure {
///     Failure::msg("no poem")
/// }
///
/// Failure::set_backtrace_capture(true);
/// let frame = fetch().frames().pop().unwrap();
/// assert!(frame.function().ends_with("fetch"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    function: String,
    file: Option<String>,
    line: Option<u32>,
}

impl Frame {
    /// Writes the frame as a line of a Python-style traceback.
    fn write_line(&self, out: &mut String) {
        let _ = match (&self.file, self.line) {
            (Some(file), Some(line)) => {
                writeln!(out, "  File \"{file}\", line {line}, in {}", self.function)
            }
            _ => writeln!(out, "  in {}", self.function),
        };
    }

    /// The function's name, without its hash suffix.
    ///
    /// ```
    /// deferreds::Failure::set_backtrace_capture(true);
    /// let frames = deferreds::Failure::msg("x").frames();
    /// assert!(frames.iter().all(|f| !f.function().starts_with("backtrace::")));
    /// ```
    pub fn function(&self) -> &str {
        &self.function
    }

    /// The source file, when debug info has it.
    ///
    /// ```
    /// deferreds::Failure::set_backtrace_capture(true);
    /// let frames = deferreds::Failure::msg("x").frames();
    /// // Frames the engine stands for with one marker line have no file.
    /// assert!(frames.iter().all(|f| f.file().is_none_or(|file| !file.is_empty())));
    /// ```
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    /// The line, when debug info has it.
    ///
    /// ```
    /// deferreds::Failure::set_backtrace_capture(true);
    /// let frames = deferreds::Failure::msg("x").frames();
    /// // A line is a line of a file.
    /// assert!(frames.iter().all(|f| f.line().is_none() || f.file().is_some()));
    /// ```
    pub fn line(&self) -> Option<u32> {
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::is_machinery;

    #[test]
    fn the_failure_modules_own_frames_are_capture_machinery_wherever_they_sit() {
        // What a backtrace names the conversion behind `?` and the constructors, from the
        // symbol table or the debug info: none of them is where the error was raised.
        for frame in [
            "deferreds::failure::convert::<impl core::convert::From<E> for deferreds::failure::Failure>::from",
            "<deferreds::failure::Failure as core::convert::From<E>>::from",
            "deferreds::failure::Failure::build",
            "backtrace::backtrace::trace_unsynchronized",
        ] {
            assert!(is_machinery(frame), "{frame}");
        }
        assert!(!is_machinery("my_app::parse"));
        assert!(!is_machinery("deferreds::foundation::contain::drop_reporting"));
    }
}
