//! Integration tests, one binary (linking one binary per file is slow on small machines).
//! Each module pins one area of behaviour; test names say what they pin.

mod asyncio;
mod boundaries;
mod callbacks;
mod cancel;
mod combinator_laws;
mod cycles;
mod depth;
mod drops;
mod ensure;
mod execute;
mod failure;
mod gather;
mod interop;
mod list;
mod misuse;
mod nesting;
mod panics;
mod pause;
mod picture;
mod primitives;
mod race;
mod races;
#[cfg(feature = "reactor")]
mod reactor_await;
#[cfg(feature = "reactor")]
mod reactor_clock;
#[cfg(feature = "reactor")]
mod reactor_deferreds;
#[cfg(feature = "reactor")]
mod reactor_loop;
#[cfg(feature = "reactor")]
mod reactor_looping;
#[cfg(feature = "reactor")]
mod reactor_react;
#[cfg(feature = "reactor")]
mod reactor_threads;
#[cfg(feature = "reactor")]
mod reactor_time;
mod reentrancy;
mod share;
mod stress;
mod support;
mod testing_helpers;
mod threads;
#[cfg(feature = "tokio")]
mod tokio_embed;
#[cfg(feature = "reactor")]
mod twisted_add_timeout;
mod twisted_async;
#[cfg(feature = "reactor")]
mod twisted_task;
mod unhandled;
mod unreachable;
