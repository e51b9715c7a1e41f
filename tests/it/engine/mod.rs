//! The engine's semantics, seen through Deferreds: the two tracks, nesting and `chain_deferred`,
//! cancellation, pausing, re-entrant use, threads, circles, chains nothing can reach, and depth.

mod callbacks;
mod cancel;
mod cycles;
mod depth;
mod nesting;
mod pause;
mod reentrancy;
mod threads;
mod unreachable;
