//! `Failure::trap` beside a `match` on the error, and `Failure::check` to ask which error a
//! failure wraps.
//!
//! Synchronous code handles the errors it knows in a `match` and passes the others up with
//! `Err(other)`. An errback does the same with `failure.trap::<E>()?`: it handles an `E` and
//! sends anything else on down the errback track, so another errback must come after it to deal
//! with the rest. `check::<E>()` only asks (`true` or `false`), and `downcast_ref::<E>()` reaches
//! the error inside: a `Failure` is not the error itself, but carries it.
//!
//! Run it with `cargo run --example trap_and_check`. The guide's chapter is
//! `docs/guide/09-trap-and-check.md`.

mod support;

use std::error::Error;
use std::fmt;
use std::io;

use deferreds::{Deferred, Failure, TryResult};
pub use support::Out;

fn main() {
    trap_and_check_story(&Out::stdout());
}

/// The server took too long.
#[derive(Debug)]
pub struct PoemTimeout;

impl fmt::Display for PoemTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the poem took too long")
    }
}

impl Error for PoemTimeout {}

/// The poem arrived, but it does not scan.
#[derive(Debug)]
pub struct BadRhyme;

impl fmt::Display for BadRhyme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("'orange' rhymes with nothing")
    }
}

impl Error for BadRhyme {}

/// Every error a synchronous download can end with, as one type to `match` on.
#[derive(Debug)]
pub enum PoetryError {
    /// See [`PoemTimeout`].
    Timeout(PoemTimeout),
    /// The connection was refused.
    Refused(io::Error),
    /// See [`BadRhyme`].
    BadRhyme(BadRhyme),
}

impl fmt::Display for PoetryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoetryError::Timeout(e) => e.fmt(f),
            PoetryError::Refused(e) => e.fmt(f),
            PoetryError::BadRhyme(e) => e.fmt(f),
        }
    }
}

/// The servers we ask, each failing its own way.
pub const SERVERS: [&str; 4] = ["good", "slow", "closed", "clumsy"];

/// The poem a good server sends, and the one we fall back on when a server is too slow.
const POEM: &str = "Here is the poem you asked for.";
const BACKUP: &str = "A shorter poem, from the cache.";

fn refused() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused")
}

/// The synchronous download.
pub fn fetch_sync(server: &str) -> Result<String, PoetryError> {
    match server {
        "slow" => Err(PoetryError::Timeout(PoemTimeout)),
        "closed" => Err(PoetryError::Refused(refused())),
        "clumsy" => Err(PoetryError::BadRhyme(BadRhyme)),
        _ => Ok(POEM.to_string()),
    }
}

/// The same download, as a Deferred. Each error keeps its own type inside the `Failure`.
pub fn fetch(server: &str) -> Deferred<String> {
    match server {
        "slow" => deferreds::fail(Failure::new(PoemTimeout)),
        "closed" => deferreds::fail(Failure::new(refused())),
        "clumsy" => deferreds::fail(Failure::new(BadRhyme)),
        _ => deferreds::succeed(POEM.to_string()),
    }
}

/// `except PoemTimeout:` in Rust: a `match` arm for the error we handle, and every other
/// error passed up unchanged.
pub fn recite_sync(out: &Out, server: &str) -> Result<String, PoetryError> {
    match fetch_sync(server) {
        Ok(poem) => Ok(poem),
        Err(PoetryError::Timeout(timeout)) => {
            out.line(format!("    handled: {timeout}; using the backup"));
            Ok(BACKUP.to_string())
        }
        Err(other) => Err(other),
    }
}

/// The same with an errback: `trap` hands back the `PoemTimeout` if that is what the failure
/// wraps, and the failure itself otherwise, which `?` sends on down the errback track.
pub fn recite(out: &Out, server: &str) -> Deferred<String> {
    let out = out.clone();
    fetch(server).add_errback(move |failure| {
        let timeout = failure.trap::<PoemTimeout>()?;
        out.line(format!("    handled: {timeout}; using the backup"));
        Ok(BACKUP.to_string())
    })
}

/// The errback that must follow a `trap`: it sees what the trap let through. It only looks
/// (`check`, `downcast_ref`) and passes the failure on.
pub fn describe(out: &Out, failure: Failure) -> Result<String, Failure> {
    out.line(format!("    the next errback got: {failure}"));
    out.line(format!("      check::<PoemTimeout>() = {}", failure.check::<PoemTimeout>()));
    out.line(format!("      check::<io::Error>()   = {}", failure.check::<io::Error>()));
    if let Some(matched) = failure.check_any::<(PoemTimeout, io::Error, BadRhyme)>() {
        let names = ["PoemTimeout", "io::Error", "BadRhyme"];
        out.line(format!(
            "      check_any::<(PoemTimeout, io::Error, BadRhyme)>() = {}",
            names[matched.index()]
        ));
    }
    if let Some(error) = failure.downcast_ref::<io::Error>() {
        out.line(format!("      the io::Error inside: kind {:?}", error.kind()));
    }
    Err(failure)
}

/// Every server, the synchronous way and with errbacks.
pub fn trap_and_check_story(out: &Out) {
    out.line("== match versus trap");
    for server in SERVERS {
        out.line(format!("{server} server, synchronously:"));
        match recite_sync(out, server) {
            Ok(poem) => out.line(format!("    -> {poem}")),
            Err(error) => out.line(format!("    -> passed up: {error}")),
        }
        out.line(format!("{server} server, with trap:"));
        match recite(out, server).try_result() {
            TryResult::Value(poem) => out.line(format!("    -> {poem}")),
            TryResult::Failure(failure) => out.line(format!("    -> passed on: {failure}")),
            TryResult::Pending(_) => out.line("    -> (no result yet)"),
        }
    }

    out.line("");
    out.line("== check: which error is it?");
    for server in ["closed", "clumsy"] {
        out.line(format!("{server} server, trap then another errback:"));
        let o = out.clone();
        let chain = recite(out, server).add_errback(move |failure| describe(&o, failure));
        if let TryResult::Failure(failure) = chain.try_result() {
            out.line(format!("    -> still failing at the end of the chain: {failure}"));
        }
    }
}
