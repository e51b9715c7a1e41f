use super::traceback::TracebackDetail;
use super::*;
use std::io;

#[derive(Debug, thiserror::Error)]
#[error("outer")]
struct Outer(#[source] io::Error);

#[test]
fn check_matches_the_exact_type_only() {
    let f = Failure::new(io::Error::other("x"));
    assert!(f.check::<io::Error>());
    assert!(!f.check::<fmt::Error>());
}

#[test]
fn check_any_returns_the_first_match_in_order() {
    let f = Failure::new(fmt::Error);
    let m = f.check_any::<(io::Error, fmt::Error, fmt::Error)>().unwrap();
    assert_eq!(m.index(), 1);
    assert_eq!(m.name(), "core::fmt::Error");
    assert!(f.check_any::<(io::Error, PanicError)>().is_none());
}

#[test]
fn trap_hands_back_the_same_failure_when_nothing_matches() {
    let f = Failure::new(fmt::Error);
    let back = f.trap::<io::Error>().unwrap_err();
    assert!(back.ptr_eq(&f));
    assert!(f.trap::<fmt::Error>().is_ok());
    assert!(f.trap_any::<(io::Error,)>().unwrap_err().ptr_eq(&f));
    assert!(f.trap_any::<(io::Error, fmt::Error)>().unwrap().is::<fmt::Error>());
}

#[test]
fn question_mark_records_the_location_of_the_conversion() {
    fn inner() -> Result<(), Failure> {
        Err(fmt::Error)?;
        Ok(())
    }
    let f = inner().unwrap_err();
    assert_eq!(f.location().file(), file!());
}

#[test]
fn traceback_names_type_message_location_and_causes() {
    let f = Failure::new(Outer(io::Error::other("disk on fire")));
    let tb = f.traceback();
    assert!(tb.contains(&format!("Failure created at {}:", file!())), "{tb}");
    assert!(tb.contains("Caused by: disk on fire"), "{tb}");
    assert!(tb.ends_with("deferreds::failure::tests::Outer: outer\n"), "{tb}");
}

#[test]
fn captured_frames_start_in_the_callers_code() {
    let f = Failure::build(Box::new(fmt::Error), "core::fmt::Error", Location::caller());
    // Capture depends on the environment; force it for this one failure.
    let f = if f.has_backtrace() {
        f
    } else {
        Failure {
            inner: Arc::new(Inner {
                error: Some(Box::new(fmt::Error)),
                type_name: "core::fmt::Error",
                location: Location::caller(),
                backtrace: Some(Box::new(Mutex::new(backtrace::Backtrace::new_unresolved()))),
            }),
        }
    };
    let frames = f.frames();
    let innermost = frames.last().expect("frames were captured");
    assert!(
        innermost.function().contains("captured_frames_start_in_the_callers_code"),
        "{frames:#?}"
    );
    assert!(f.traceback().starts_with("Traceback (most recent call last):\n"));
}

#[test]
fn a_verbose_traceback_shows_every_frame_and_the_source_lines() {
    let f = Failure {
        inner: Arc::new(Inner {
            error: Some(Box::new(Outer(io::Error::other("disk on fire")))),
            type_name: "deferreds::failure::tests::Outer",
            location: Location::caller(),
            backtrace: Some(Box::new(Mutex::new(backtrace::Backtrace::new_unresolved()))),
        }),
    };
    let verbose = f.traceback_with(TracebackDetail::Verbose);
    let default = f.traceback();
    // The test's own frame, with its source line read from this file.
    assert!(verbose.contains("a_verbose_traceback_shows_every_frame_and_the_source_lines"));
    assert!(
        verbose.contains(
            "backtrace: Some(Box::new(Mutex::new(backtrace::Backtrace::new_unresolved()))),"
        ),
        "{verbose}"
    );
    // Frames the default traceback leaves out: the standard library's (the test harness
    // runs every test through them).
    let std_frame =
        |text: &str| text.lines().any(|l| l.contains(" in std::") || l.contains(" in core::"));
    assert!(std_frame(&verbose), "{verbose}");
    assert!(!std_frame(&default), "{default}");
    assert!(verbose.contains("Caused by: disk on fire\n"));
    assert!(
        verbose.ends_with("deferreds::failure::tests::Outer: outer\n*--- End of Failure ---\n")
    );
    assert!(!verbose.contains(" in backtrace::"), "the capture itself is left out");
}

#[test]
fn a_verbose_traceback_without_frames_still_shows_the_creation_line() {
    let f = Failure::msg("plain"); // the creation line
    let verbose = f.traceback_with(TracebackDetail::Verbose);
    assert!(
        verbose.contains("\n    let f = Failure::msg(\"plain\"); // the creation line\n"),
        "{verbose}"
    );
    assert_eq!(f.traceback_with(TracebackDetail::Brief), f.brief_traceback());
    assert_eq!(f.traceback_with(TracebackDetail::default()), f.traceback());
}

#[test]
fn panic_payloads_become_messages() {
    let f = Failure::from_panic(Box::new(String::from("owned")));
    assert_eq!(f.downcast_ref::<PanicError>().unwrap().message(), "owned");
    let f = Failure::from_panic(Box::new(17u8));
    assert!(f.error_message().contains("not a string"));
}

#[test]
fn debug_and_display() {
    let f = Failure::msg("m");
    assert_eq!(f.to_string(), "m");
    assert_eq!(format!("{f:?}"), "<Failure deferreds::failure::MessageError: m>");
}

#[test]
fn is_send_sync_and_small() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Failure>();
    assert_eq!(std::mem::size_of::<Failure>(), std::mem::size_of::<usize>());
}
