//! The lazy heap's bookkeeping, which the public API does not show.

use super::*;
use crate::reactor::error::DelayedCallError;

fn nop() {}

fn fire_all(timers: &Timers) -> usize {
    let due = Due::Clock { limit: u32::MAX };
    let mut n = 0;
    while let Some(call) = timers.pop_due(due) {
        Call::run(call);
        n += 1;
    }
    n
}

#[test]
fn cancelling_leaves_garbage_until_it_reaches_the_top() {
    let timers = Timers::manual();
    let a = timers.schedule(1.0, nop).unwrap();
    let _b = timers.schedule(2.0, nop).unwrap();
    a.cancel().unwrap();
    assert_eq!(timers.heap_len(), 2, "cancelling is O(1): the entry stays");
    assert_eq!(timers.pending().len(), 1);
    timers.state.lock().now = 1.5;
    assert_eq!(fire_all(&timers), 0);
    assert_eq!(timers.heap_len(), 1, "the garbage entry was skipped and dropped");
    assert_eq!(timers.state.lock().garbage, 0);
}

#[test]
fn garbage_is_compacted_once_it_outnumbers_live_entries() {
    let timers = Timers::manual();
    let calls: Vec<_> = (0..100).map(|i| timers.schedule(i as f64, nop).unwrap()).collect();
    for call in &calls[..50] {
        call.cancel().unwrap();
    }
    // 50 garbage entries: not more than 50, so no compaction yet.
    assert_eq!(timers.heap_len(), 100);
    calls[50].cancel().unwrap();
    // 51 garbage out of 100: compacted in one pass.
    assert_eq!(timers.heap_len(), 49);
    assert_eq!(timers.state.lock().garbage, 0);
    timers.state.lock().now = 1000.0;
    assert_eq!(fire_all(&timers), 49);
}

#[test]
fn reset_later_only_records_the_delay_and_reset_earlier_pushes_once() {
    let timers = Timers::manual();
    let call = timers.schedule(5.0, nop).unwrap();
    for i in 0..1000 {
        call.reset(10.0 + i as f64).unwrap();
    }
    assert_eq!(timers.heap_len(), 1, "pushing a call back does not touch the heap");
    assert_eq!(call.get_time(), 1009.0);
    call.reset(1.0).unwrap();
    assert_eq!(timers.heap_len(), 2, "moving it earlier pushes one entry");
    assert_eq!(call.get_time(), 1.0);
    timers.state.lock().now = 1.0;
    assert_eq!(fire_all(&timers), 1);
    assert_eq!(call.status(), Status::Called);
    assert_eq!(timers.heap_len(), 1, "the superseded entry is still there, as garbage");
    timers.state.lock().now = 2000.0;
    assert_eq!(fire_all(&timers), 0);
    assert_eq!(timers.heap_len(), 0);
}

#[test]
fn a_call_pushed_back_is_pushed_again_when_its_old_entry_comes_up() {
    let timers = Timers::manual();
    let call = timers.schedule(1.0, nop).unwrap();
    call.reset(3.0).unwrap();
    timers.state.lock().now = 1.0;
    assert_eq!(fire_all(&timers), 0);
    assert_eq!(timers.heap_len(), 1);
    assert_eq!(timers.state.lock().queue.peek().unwrap().time, 3.0);
    timers.state.lock().now = 3.0;
    assert_eq!(fire_all(&timers), 1);
}

#[test]
fn dropping_the_heap_discards_pending_calls() {
    let timers = Timers::manual();
    let call = timers.schedule(1.0, nop).unwrap();
    drop(timers);
    assert_eq!(call.status(), Status::Cancelled);
    assert_eq!(call.cancel(), Err(DelayedCallError::AlreadyCancelled));
    assert_eq!(call.reset(1.0), Err(DelayedCallError::AlreadyCancelled));
}
