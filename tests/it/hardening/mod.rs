//! What holds across the layers: panics and destructors in user code, drops, races between
//! threads, stress and generated misuse, and what these tests share (`support`).

mod boundaries;
mod drops;
mod misuse;
mod panics;
mod races;
mod stress;
pub(crate) mod support;
