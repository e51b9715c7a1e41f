//! Unhandled-failure reports: once, at the last drop, never for a handled failure.

use deferreds::testing::{capture_unhandled, failure_result_of};
use deferreds::{Deferred, Failure, fail, succeed};

#[test]
fn a_chain_ending_on_a_failure_reports_it_once_when_its_last_handle_drops() {
    let ((), reports) = capture_unhandled(|| {
        let (d, r) = Deferred::<u8>::new();
        let d = d.map(|_| -> u8 { panic!("1 / 0") });
        r.callback(1).unwrap();
        drop(d);
        // The resolver still holds the chain: no report yet.
        let ((), early) = capture_unhandled(|| {});
        assert!(early.is_empty());
        drop(r);
    });
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].failure().error_message(), "1 / 0");
    let text = reports[0].to_string();
    assert!(text.starts_with("Unhandled error in Deferred:\n"), "{text}");
    assert!(text.contains("deferreds::failure::PanicError: 1 / 0"), "{text}");
}

#[test]
fn a_failure_consumed_by_an_errback_is_not_reported() {
    let ((), reports) = capture_unhandled(|| {
        drop(fail::<u8>(Failure::msg("x")).add_errback(|_| Ok(0)));
    });
    assert!(reports.is_empty());
}

#[test]
fn a_failure_taken_by_failure_result_of_is_not_reported() {
    let ((), reports) = capture_unhandled(|| {
        let _ = failure_result_of(fail::<u8>(Failure::msg("taken")));
    });
    assert!(reports.is_empty());
}

#[test]
fn a_failure_handed_to_an_outer_chain_is_reported_only_by_the_outer_one() {
    let ((), reports) = capture_unhandled(|| {
        let inner = fail::<u8>(Failure::msg("k"));
        let outer = succeed(()).add_callback(move |()| inner);
        drop(outer);
    });
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].failure().error_message(), "k");

    let ((), reports) = capture_unhandled(|| {
        let inner = fail::<u8>(Failure::msg("k"));
        let outer = succeed(()).add_callback(move |()| inner).add_errback(|_| Ok(1));
        drop(outer);
    });
    assert!(reports.is_empty(), "handled by the outer chain");
}

#[test]
fn a_pending_or_successful_chain_reports_nothing() {
    let ((), reports) = capture_unhandled(|| {
        drop(Deferred::<u8>::new());
        drop(succeed(1));
    });
    assert!(reports.is_empty());
}

#[test]
fn the_hook_receives_reports_and_a_panicking_hook_is_contained() {
    let _hook = crate::hardening::support::HOOK.lock();
    // Run on a fresh thread so no capture is active and the hook is used.
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    // Only count reports from this test's own failures: other tests run in parallel and use
    // thread-local capture, which the hook never sees.
    deferreds::set_unhandled_hook(move |report| {
        if report.failure().error_message() == "hook-test" {
            s.fetch_add(1, Ordering::SeqCst);
        }
        if report.failure().error_message() == "hook-panics" {
            panic!("the hook itself failed");
        }
    });
    std::thread::spawn(|| {
        drop(fail::<u8>(Failure::msg("hook-test")));
        drop(fail::<u8>(Failure::msg("hook-panics"))); // must not unwind out of drop
    })
    .join()
    .unwrap();
    deferreds::reset_unhandled_hook();
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}
