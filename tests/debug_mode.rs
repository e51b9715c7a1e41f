//! Debug mode is process-wide, so its tests live in their own binary and run one at a time
//! (each takes the lock below), away from tests that assert exact messages.

use parking_lot::Mutex;

use deferreds::testing::{capture_unhandled, success_result_of};
use deferreds::{Deferred, Failure, fail, set_debugging, succeed};

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `f` with debug mode on, restoring it afterwards even if `f` panics.
fn with_debugging(f: impl FnOnce()) {
    struct Off;
    impl Drop for Off {
        fn drop(&mut self) {
            set_debugging(false);
        }
    }
    let _serial = SERIAL.lock();
    set_debugging(true);
    let _off = Off;
    f();
}

#[test]
fn debug_mode_is_off_by_default_and_adds_nothing() {
    let _serial = SERIAL.lock();
    assert!(!deferreds::debugging());
    let (d, r) = Deferred::<u8>::new();
    r.callback(1).unwrap();
    assert_eq!(r.callback(2).unwrap_err().to_string(), "the Deferred has already been called");
    assert_eq!(format!("{d:?}"), "<Deferred<u8> current result: 1>");
    let ((), reports) = capture_unhandled(|| drop(fail::<u8>(Failure::msg("x"))));
    assert_eq!(reports[0].debug_info(), None);
}

#[test]
fn already_called_names_the_creation_and_first_fire_sites() {
    with_debugging(|| {
        let ((d, r), created_line) = (Deferred::<u8>::new(), line!());
        let (fired, fired_line) = (r.callback(1), line!());
        fired.unwrap();
        let message = r.callback(2).unwrap_err().to_string();
        assert!(message.starts_with("the Deferred has already been called"), "{message}");
        assert!(
            message.contains(&format!("C: Deferred was created at {}:{created_line}:", file!())),
            "{message}"
        );
        assert!(
            message.contains(&format!("I: First fired at {}:{fired_line}:", file!())),
            "{message}"
        );
        success_result_of(d);
    });
}

#[test]
fn debug_output_shows_where_the_deferred_was_created() {
    with_debugging(|| {
        let ((d, _r), line) = (Deferred::<u8>::new(), line!());
        let shown = format!("{d:?}");
        assert!(
            shown.contains(&format!("C: Deferred was created at {}:{line}:", file!())),
            "{shown}"
        );
        assert!(shown.contains("I: not fired yet"), "{shown}");
    });
}

#[test]
fn unhandled_reports_carry_the_debug_lines() {
    with_debugging(|| {
        let ((), reports) = capture_unhandled(|| {
            let (d, r) = Deferred::<u8>::new();
            r.errback(Failure::msg("lost")).unwrap();
            drop((d, r));
        });
        assert_eq!(reports.len(), 1);
        let debug = reports[0].debug_info().expect("debug lines recorded");
        assert!(debug.contains("C: Deferred was created at"), "{debug}");
        assert!(debug.contains("I: First fired at"), "{debug}");
        assert!(reports[0].to_string().contains("(debug:"), "{}", reports[0]);
    });
}

#[test]
fn succeed_in_debug_mode_records_its_creation_site() {
    with_debugging(|| {
        let (d, line) = (succeed(5), line!());
        let shown = format!("{d:?}");
        assert!(shown.contains(&format!("{}:{line}:", file!())), "{shown}");
        assert_eq!(success_result_of(d), 5);
    });
}

#[test]
fn deferreds_made_before_debug_mode_was_turned_on_have_no_record() {
    let _serial = SERIAL.lock();
    let (d, r) = Deferred::<u8>::new();
    set_debugging(true);
    r.callback(1).unwrap();
    let message = r.callback(2).unwrap_err().to_string();
    set_debugging(false);
    assert_eq!(message, "the Deferred has already been called");
    success_result_of(d);
}

#[test]
fn a_step_whose_value_is_a_deferred_is_reported_in_debug_mode_and_the_chain_goes_on() {
    with_debugging(|| {
        let (d, reports) = capture_unhandled(|| {
            let inner = succeed(42u32);
            succeed("41").add_callback(move |s| {
                s.parse::<u32>()?;
                Ok(inner) // the mistake: `Ok(deferred)` is a value, not a wait
            })
        });
        assert_eq!(reports.len(), 1);
        let error = reports[0].failure().downcast_ref::<deferreds::DeferredValueError>().unwrap();
        assert_eq!(error.type_name(), "deferreds::deferred::Deferred<u32>");
        assert!(reports[0].failure().error_message().contains("and_then"));
        // Reported, not changed: the chain carries the Deferred as its value.
        assert_eq!(success_result_of(success_result_of(d)), 42);

        let (d, reports) = capture_unhandled(|| succeed(1u8).map(|n| succeed(n)));
        assert_eq!(reports.len(), 1, "map is checked too");
        drop(d);
    });
}

#[test]
fn a_hook_that_panics_on_a_deferred_value_report_leaves_the_chain_with_its_value() {
    with_debugging(|| {
        deferreds::set_unhandled_hook(|report| {
            if report.failure().check::<deferreds::DeferredValueError>() {
                panic!("the hook panicked");
            }
        });
        let d = succeed(1u8).map(|n| succeed(n + 1));
        deferreds::reset_unhandled_hook();
        assert_eq!(success_result_of(success_result_of(d)), 2);
    });
}

#[test]
fn a_deferred_value_is_not_reported_outside_debug_mode_nor_when_the_step_waits() {
    let _serial = SERIAL.lock();
    let (d, reports) = capture_unhandled(|| succeed(1u8).add_callback(|n| Ok(succeed(n))));
    assert!(reports.is_empty());
    drop(d);
    drop(_serial);
    with_debugging(|| {
        let (d, reports) = capture_unhandled(|| {
            succeed("7").and_then(|s| Ok(succeed(s.parse::<u32>()?))).add_callback(|n| Ok(n + 1))
        });
        assert!(reports.is_empty());
        assert_eq!(success_result_of(d), 8);
    });
}
