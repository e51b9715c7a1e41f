//! The `reactor` feature: the `Clock`, the real-time `Reactor`, time for Deferreds, and Twisted's
//! tests of them, ported.

mod awaiting;
mod clock;
mod deferreds;
mod event_loop;
mod looping;
mod react;
mod threads;
mod time;
mod twisted_add_timeout;
mod twisted_task;
