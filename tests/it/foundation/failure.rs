//! Failure as seen through chains.

use std::fmt;
use std::io;

use deferreds::testing::{failure_result_of, success_result_of};
use deferreds::{Failure, PanicError, fail, succeed};

#[derive(Debug, thiserror::Error)]
#[error("connection refused by {0}")]
struct Refused(&'static str);

#[test]
fn trap_in_an_errback_handles_one_type_and_re_raises_the_rest() {
    let handle = |f: Failure| {
        f.trap::<Refused>()?;
        Ok("fallback poem")
    };
    let d = fail::<&str>(Failure::new(Refused("localhost"))).add_errback(handle);
    assert_eq!(success_result_of(d), "fallback poem");
    let d = fail::<&str>(Failure::new(io::Error::other("disk"))).add_errback(handle);
    let f = failure_result_of(d);
    assert!(f.check::<io::Error>(), "the original failure goes on");
}

#[test]
fn trap_any_and_check_any_take_several_types() {
    let d = fail::<usize>(Failure::new(fmt::Error)).add_errback(|f| {
        let which = f.trap_any::<(Refused, fmt::Error)>()?;
        Ok(which.index())
    });
    assert_eq!(success_result_of(d), 1);
}

#[test]
fn a_failures_identity_survives_re_raising() {
    let original = Failure::msg("same");
    let d = fail::<u8>(original.clone()).add_errback(Err).add_errback(Err);
    assert!(failure_result_of(d).ptr_eq(&original));
}

#[test]
fn a_panic_failure_reports_the_panic_type_and_message_in_its_traceback() {
    let d = succeed(()).map(|()| -> u8 { panic!("divide by zero") });
    let f = failure_result_of(d);
    assert!(f.check::<PanicError>());
    assert!(f.traceback().ends_with("deferreds::failure::PanicError: divide by zero\n"));
}

#[test]
fn failures_are_send_and_sync() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Failure>();
}
