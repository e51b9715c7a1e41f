//! Integration tests, one binary (linking one binary per file is slow on small machines).
//! Each module pins one area of behaviour; test names say what they pin.

mod asyncio;
mod callbacks;
mod cancel;
mod combinator_laws;
mod ensure;
mod execute;
mod failure;
mod gather;
mod list;
mod nesting;
mod pause;
mod primitives;
mod race;
mod reentrancy;
mod testing_helpers;
mod threads;
mod twisted_async;
mod unhandled;
