//! Integration tests, one binary (linking one binary per file is slow on small machines).
//! Each module pins one area of behaviour; test names say what they pin.

mod callbacks;
mod failure;
mod nesting;
mod pause;
#[cfg(feature = "reactor")]
mod reactor_clock;
#[cfg(feature = "reactor")]
mod reactor_deferreds;
#[cfg(feature = "reactor")]
mod reactor_loop;
#[cfg(feature = "reactor")]
mod reactor_looping;
mod reentrancy;
mod testing_helpers;
mod threads;
#[cfg(feature = "reactor")]
mod twisted_add_timeout;
#[cfg(feature = "reactor")]
mod twisted_task;
mod unhandled;
