//! The two-track chain: callbacks, errbacks, both, pairs, and firing order.

use deferreds::testing::{Recorder, failure_result_of, success_result_of};
use deferreds::{Deferred, Failure, PanicError, Step, fail, succeed};

#[test]
fn callback_results_feed_the_next_callback_and_change_its_type() {
    let (d, r) = Deferred::<u32>::new();
    let d = d.add_callback(|n| Ok(n + 1)).add_callback(|n| Ok(n.to_string())).map(|s| vec![s; 2]);
    r.callback(41).unwrap();
    assert_eq!(success_result_of(d), vec!["42".to_owned(), "42".to_owned()]);
}

#[test]
fn an_error_switches_to_the_errback_track_and_skips_callbacks() {
    let log = Recorder::new();
    let (l1, l2) = (log.clone(), log.clone());
    let d = succeed(1u8)
        .add_callback(|_| -> Result<u8, Failure> { Err(Failure::msg("bad"))? })
        .map(move |n| {
            l1.record("skipped callback");
            n
        })
        .add_errback(move |f| {
            l2.record(format!("errback saw {}", f.error_message()));
            Err(f)
        });
    assert_eq!(log.take(), ["errback saw bad"]);
    assert_eq!(failure_result_of(d).error_message(), "bad");
}

#[test]
fn an_errback_value_switches_back_to_the_callback_track() {
    let d = fail::<u8>(Failure::msg("x"))
        .add_errback(|_| Ok(7))
        .add_callback(|n| Ok(n * 2))
        .add_errback(|_| -> Result<u8, Failure> { unreachable!("no failure left") });
    assert_eq!(success_result_of(d), 14);
}

#[test]
fn a_returned_failure_switches_to_the_errback_track() {
    // Twisted: a callback that *returns* a Failure behaves like one that raises.
    let d = succeed(()).add_callback(|()| Step::<u8>::Fail(Failure::msg("returned")));
    assert_eq!(failure_result_of(d).error_message(), "returned");
}

#[test]
fn errbacks_pass_values_through_and_callbacks_pass_failures_through() {
    let d = succeed(3).add_errback(|_| Ok(0));
    assert_eq!(success_result_of(d), 3);
    let d = fail::<u8>(Failure::msg("f")).add_callback(|n| Ok(n + 1)).map(|n| n + 1);
    assert_eq!(failure_result_of(d).error_message(), "f");
}

#[test]
fn add_callbacks_is_one_step_so_its_errback_never_sees_its_callbacks_error() {
    let seen = Recorder::new();
    let s = seen.clone();
    let d = succeed(1).add_callbacks(
        |_| -> Result<u8, Failure> { Err(Failure::msg("from cb")) },
        move |f| {
            s.record(f.error_message());
            Ok(0)
        },
    );
    assert!(seen.take().is_empty());
    assert_eq!(failure_result_of(d).error_message(), "from cb");

    // The two-step form is different: the errback sees the callback's error.
    let seen2 = Recorder::new();
    let s = seen2.clone();
    let d = succeed(1)
        .add_callback(|_| -> Result<u8, Failure> { Err(Failure::msg("from cb")) })
        .add_errback(move |f| {
            s.record(f.error_message());
            Ok(0)
        });
    assert_eq!(seen2.take(), ["from cb"]);
    assert_eq!(success_result_of(d), 0);
}

#[test]
fn add_callbacks_runs_the_errback_half_on_a_failure() {
    let d = fail::<u8>(Failure::msg("in")).add_callbacks(Ok, |f| Ok(f.error_message().len() as u8));
    assert_eq!(success_result_of(d), 2);
}

#[test]
fn add_both_sees_either_track() {
    let d = succeed(5).add_both(|r| Ok(format!("{r:?}")));
    assert_eq!(success_result_of(d), "Ok(5)");
    let d = fail::<u8>(Failure::msg("e")).add_both(|r| Ok(r.is_err()));
    assert!(success_result_of(d));
    let d = succeed(5).add_both(|_| -> Result<u8, Failure> { Err(Failure::msg("both failed")) });
    assert_eq!(failure_result_of(d).error_message(), "both failed");
}

#[test]
fn unit_returning_steps_continue_with_unit() {
    let log = Recorder::new();
    let l = log.clone();
    let d = succeed("poem").add_callback(move |p| l.record(p));
    success_result_of(d);
    assert_eq!(log.take(), ["poem"]);
}

#[test]
fn question_mark_converts_any_error_into_a_failure() {
    let d = succeed("12x").add_callback(|s| Ok(s.parse::<u32>()?));
    let f = failure_result_of(d);
    assert!(f.check::<std::num::ParseIntError>());
    assert_eq!(f.location().file(), file!());
}

fn chain(d: Deferred<u32>, log: &Recorder) -> Deferred<u32> {
    let (a, b, c) = (log.clone(), log.clone(), log.clone());
    d.add_callback(move |n| {
        a.record(format!("cb1 {n}"));
        if n == 0 { Err(Failure::msg("zero")) } else { Ok(n + 1) }
    })
    .add_errback(move |f| {
        b.record(format!("eb {}", f.error_message()));
        Ok(100)
    })
    .map(move |n| {
        c.record(format!("cb2 {n}"));
        n
    })
}

#[test]
fn firing_before_or_after_adding_steps_gives_the_same_results() {
    for input in [0u32, 5] {
        let before = Recorder::new();
        let (d, r) = Deferred::new();
        r.callback(input).unwrap();
        let d1 = chain(d, &before);

        let after = Recorder::new();
        let (d, r) = Deferred::new();
        let d2 = chain(d, &after);
        assert!(after.events().is_empty(), "nothing runs before the fire");
        r.callback(input).unwrap();

        assert_eq!(before.take(), after.take());
        assert_eq!(success_result_of(d1), success_result_of(d2));
    }
}

#[test]
fn steps_added_after_the_fire_run_at_once_inside_the_add_call() {
    let log = Recorder::new();
    let (d, r) = Deferred::<u8>::new();
    r.callback(1).unwrap();
    log.record("before add");
    let l = log.clone();
    let d = d.map(move |n| {
        l.record(format!("callback ran with {n}"));
        n + 1
    });
    log.record("after add");
    assert_eq!(log.take(), ["before add", "callback ran with 1", "after add"]);
    assert_eq!(success_result_of(d), 2);
}

#[test]
fn steps_run_on_fire_in_the_order_they_were_added() {
    let log = Recorder::new();
    let (d, r) = Deferred::<u8>::new();
    let mut d = d;
    for i in 0..20 {
        let l = log.clone();
        d = d.map(move |n| {
            l.record(i.to_string());
            n
        });
    }
    r.callback(0).unwrap();
    assert_eq!(log.take(), (0..20).map(|i| i.to_string()).collect::<Vec<_>>());
    success_result_of(d);
}

#[test]
fn called_reports_whether_the_deferred_was_fired() {
    let (d, r) = Deferred::<u8>::new();
    assert!(!d.called() && !r.called());
    r.callback(1).unwrap();
    assert!(d.called() && r.called());
}

#[test]
fn firing_twice_from_outside_is_a_typed_error_and_keeps_the_first_result() {
    let (d, r) = Deferred::<u8>::new();
    r.callback(1).unwrap();
    let err = r.callback(2).unwrap_err();
    assert_eq!(err.to_string(), "the Deferred has already been called");
    assert!(r.errback(Failure::msg("late")).is_err());
    assert!(r.resolve(Ok(3)).is_err());
    assert_eq!(success_result_of(d), 1);
}

#[test]
fn resolve_fires_either_track() {
    let (d, r) = Deferred::<u8>::new();
    r.resolve(Err(Failure::msg("via resolve"))).unwrap();
    assert_eq!(failure_result_of(d).error_message(), "via resolve");
}

#[test]
fn a_panicking_callback_becomes_a_panic_failure_and_later_steps_still_run() {
    let log = Recorder::new();
    let l = log.clone();
    let d = succeed(1u8).map(|_| -> u8 { panic!("callback exploded") }).add_errback(move |f| {
        let panic = f.downcast_ref::<PanicError>().expect("a PanicError");
        l.record(panic.message());
        Ok(9)
    });
    assert_eq!(log.take(), ["callback exploded"]);
    assert_eq!(success_result_of(d), 9);
}

#[test]
fn a_panicking_errback_is_a_failure_too_and_the_chain_stays_usable() {
    let (d, r) = Deferred::<u8>::new();
    let d = d.add_errback(|_| -> Result<u8, Failure> { panic!("errback exploded") });
    r.errback(Failure::msg("first")).unwrap();
    // The chain is not poisoned: more steps can be added and they run.
    let d = d.add_errback(|f| Ok(if f.check::<PanicError>() { 1 } else { 2 })).map(|n| n * 10);
    assert_eq!(success_result_of(d), 10);
}

#[test]
fn a_panic_with_a_non_string_payload_is_still_a_failure() {
    let d = succeed(()).map(|()| std::panic::panic_any(42u32));
    let f = failure_result_of(d);
    assert!(f.check::<PanicError>());
}

#[test]
fn debug_output_shows_the_state() {
    let (d, r) = Deferred::<u32>::new();
    assert_eq!(format!("{d:?}"), "<Deferred<u32>>");
    r.callback(5).unwrap();
    assert_eq!(format!("{d:?}"), "<Deferred<u32> current result: 5>");
    let f = fail::<u8>(Failure::msg("m"));
    assert!(
        format!("{f:?}").contains("current result: <Failure deferreds::failure::MessageError: m>")
    );
    let _ = failure_result_of(f);
    let (inner, fire) = Deferred::<u8>::new();
    let outer = succeed(()).add_callback(move |()| inner);
    assert_eq!(format!("{outer:?}"), "<Deferred<u8> waiting on another Deferred>");
    fire.callback(1).unwrap();
    assert_eq!(success_result_of(outer), 1);
}

#[test]
fn passthru_leaves_the_value_or_the_failure_as_it_was_on_either_track() {
    use deferreds::passthru;
    let (d, r) = Deferred::<String>::new();
    let d = d.map(passthru).add_both(passthru).map(|s| s + "!");
    r.callback("poem".into()).unwrap();
    assert_eq!(deferreds::testing::success_result_of(d), "poem!");

    let failure = Failure::msg("refused");
    let d = deferreds::fail::<u8>(failure.clone())
        .map(passthru)
        .add_both(passthru)
        .add_callbacks(|v| Ok(passthru(v)), |f| -> Result<u8, Failure> { Err(passthru(f)) });
    assert!(deferreds::testing::failure_result_of(d).ptr_eq(&failure));
}

#[test]
fn and_then_waits_on_the_deferred_a_fallible_callback_returns() {
    let (inner, fire_inner) = deferreds::Deferred::<u32>::new();
    let d = deferreds::succeed("41").and_then(move |s| {
        let n: u32 = s.parse()?;
        Ok(inner.map(move |m| m + n))
    });
    deferreds::testing::assert_no_result(&d);
    fire_inner.callback(1).unwrap();
    assert_eq!(deferreds::testing::success_result_of(d), 42);

    let d = deferreds::succeed("x").and_then(|s| Ok(deferreds::succeed(s.parse::<u32>()?)));
    let failure = deferreds::testing::failure_result_of(d);
    assert!(failure.check::<std::num::ParseIntError>());
}

#[test]
fn ok_of_a_deferred_from_add_callback_is_a_value_not_a_wait() {
    // Pinned on purpose: stable Rust cannot tell `Result<Deferred<U>, _>` from `Result<U, _>`,
    // so the waiting form has its own name, `and_then`.
    let (inner, _fire) = deferreds::Deferred::<u32>::new();
    let d = deferreds::succeed(()).add_callback(move |()| Ok(inner));
    let carried = deferreds::testing::success_result_of(d);
    deferreds::testing::assert_no_result(&carried);
}

#[test]
fn debug_output_shows_a_boxed_value_with_its_own_debug_and_the_pause() {
    let (d, r) = Deferred::<String>::new();
    r.callback("a poem".to_owned()).unwrap();
    assert_eq!(format!("{d:?}"), r#"<Deferred<alloc::string::String> current result: "a poem">"#);
    let mut d = d.map(|s| vec![s.len()]);
    assert_eq!(format!("{d:?}"), "<Deferred<alloc::vec::Vec<usize>> current result: [6]>");
    d.pause();
    assert_eq!(format!("{d:?}"), "<Deferred<alloc::vec::Vec<usize>> current result: [6] (paused)>");
    assert_eq!(
        format!("{r:?}"),
        "<Resolver<alloc::string::String> current result: a boxed value (paused)>",
        "the resolver's type is the head's, not the value's"
    );
    // Steps added while paused wait, and the chain still holds the earlier step's value, of
    // another type: shown as the engine sees it.
    let mut d = d.map(|v| v.len() as u8);
    assert_eq!(format!("{d:?}"), "<Deferred<u8> current result: a boxed value (paused)>");
    d.unpause().unwrap();
    assert_eq!(format!("{d:?}"), "<Deferred<u8> current result: 1>");
}

#[test]
fn testing_helpers_describe_a_pending_deferred_of_a_type_without_debug() {
    struct Opaque;
    let (d, _r) = Deferred::<Opaque>::new();
    let message = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = success_result_of(d);
    }))
    .unwrap_err();
    let message = message.downcast_ref::<String>().unwrap();
    assert!(message.ends_with("found no result: <Deferred<it::engine::callbacks::testing_helpers_describe_a_pending_deferred_of_a_type_without_debug::Opaque>>"), "{message}");
}

// Steps added to a fired Deferred whose resolver is kept run at once, as plain calls; the chain
// the resolver holds sees everything it saw before.

#[test]
fn a_fired_deferred_whose_resolver_is_kept_still_pauses_from_the_resolver() {
    let log = Recorder::new();
    let (d, r) = Deferred::<u32>::new();
    r.callback(1).unwrap();
    let l = log.clone();
    let d = d.map(move |n| {
        l.record(format!("first {n}"));
        n + 1
    });
    r.pause();
    let l = log.clone();
    let mut d = d.map(move |n| {
        l.record(format!("second {n}"));
        n + 1
    });
    assert_eq!(log.take(), ["first 1"], "the step added after the pause waits");
    assert!(d.is_paused());
    deferreds::testing::assert_no_result(&d);
    r.unpause().unwrap();
    assert_eq!(log.take(), ["second 2"]);
    assert!(!d.is_paused());
    d.pause();
    assert!(r.unpause().is_ok(), "the tail's pause is the chain's");
    assert_eq!(success_result_of(d), 3);
}

#[test]
fn a_failure_left_on_a_fired_deferred_whose_resolver_is_kept_is_reported_with_the_resolver() {
    let (d, r) = Deferred::<u32>::new();
    r.errback(Failure::msg("lost")).unwrap();
    let d = d.map(|n| n + 1);
    let ((), reports) = deferreds::testing::capture_unhandled(|| drop(d));
    assert!(reports.is_empty(), "the resolver still holds the chain");
    assert!(format!("{r:?}").contains("current result: <Failure"), "{r:?}");
    let ((), reports) = deferreds::testing::capture_unhandled(|| drop(r));
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].failure().error_message(), "lost");
}

#[test]
fn a_value_left_on_a_fired_deferred_whose_resolver_is_kept_is_dropped_with_the_resolver() {
    let counter = deferreds::testing::DropCounter::new();
    let (d, r) = Deferred::new();
    r.callback(counter.wrap(1u8)).unwrap();
    let d = d.map(|n| n);
    drop(d);
    assert_eq!(counter.alive(), 1, "the resolver still holds the chain, and the value in it");
    assert!(r.callback(counter.wrap(2)).is_err(), "fired already");
    drop(r);
    assert_eq!(counter.alive(), 0);
    assert_eq!(counter.made(), counter.dropped());
}

#[test]
fn steps_on_a_fired_deferred_whose_resolver_is_kept_may_wait_fire_and_be_awaited() {
    // A step that waits on a pending Deferred.
    let (d, r) = Deferred::<u32>::new();
    r.callback(1).unwrap();
    let d = d.map(|n| n + 1);
    let (inner, fire_inner) = Deferred::<u32>::new();
    let d = d.add_callback(move |n| inner.map(move |m| n + m));
    assert!(d.is_waiting());
    fire_inner.callback(10).unwrap();
    assert_eq!(success_result_of(d), 12);

    // A `chain_deferred` into another Deferred.
    let (d, r) = Deferred::<u32>::new();
    r.callback(5).unwrap();
    let (target, fire_target) = Deferred::<u32>::new();
    let d = d.map(|n| n * 2).chain_deferred(&fire_target);
    assert_eq!(success_result_of(target), 10);
    success_result_of(d);
    drop(r);

    // Awaited.
    let (d, r) = Deferred::<u32>::new();
    r.callback(7).unwrap();
    let d = d.map(|n| n + 1);
    r.pause();
    let mut future = std::pin::pin!(std::future::IntoFuture::into_future(d));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(future.as_mut().poll(&mut cx).is_pending(), "paused from the resolver");
    r.unpause().unwrap();
    assert_eq!(future.as_mut().poll(&mut cx).map(Result::unwrap), std::task::Poll::Ready(8));
}
