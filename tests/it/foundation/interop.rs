//! A `Failure` in Rust's error ecosystem: `?` out into `Box<dyn Error>` (and `anyhow`), back in
//! with `into_failure()`, and the error taken back out by value.

use std::error::Error;
use std::future::IntoFuture;
use std::io;

use deferreds::testing::failure_result_of;
use deferreds::{Deferred, Failure, IntoFailure, ensure_deferred};

#[derive(Debug, thiserror::Error)]
#[error("no route to the poem server")]
struct NoRoute(#[source] io::Error);

fn no_route() -> NoRoute {
    NoRoute(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"))
}

#[test]
fn question_mark_takes_a_failure_into_a_boxed_error_with_the_original_as_source() {
    fn run(d: Deferred<u8>) -> Result<u8, Box<dyn Error + Send + Sync>> {
        Ok(futures::executor::block_on(d.into_future())?)
    }
    let err = run(deferreds::fail(Failure::new(no_route()))).unwrap_err();
    assert_eq!(err.to_string(), "no route to the poem server");
    let source = err.source().expect("the original error is the source");
    assert!(source.is::<NoRoute>());
    let cause = source.source().expect("the original's own source is kept");
    assert_eq!(cause.to_string(), "refused");
}

#[test]
fn question_mark_takes_a_failure_into_a_non_send_boxed_error() {
    fn run() -> Result<(), Box<dyn Error>> {
        Err(Failure::msg("down"))?
    }
    assert_eq!(run().unwrap_err().to_string(), "down");
}

#[test]
fn a_boxed_failure_turns_back_into_the_same_failure() {
    let failure = Failure::new(no_route());
    let boxed: Box<dyn Error + Send + Sync> = failure.clone().into();
    assert!(Failure::from_boxed(boxed).ptr_eq(&failure));
    let boxed: Box<dyn Error + Send + Sync> = failure.clone().into();
    let back = Err::<(), _>(boxed).into_failure().unwrap_err();
    assert!(back.ptr_eq(&failure));
}

#[test]
fn into_failure_records_the_callers_line_where_map_err_failure_new_does_not() {
    let line = line!() + 1;
    let ours = "x".parse::<u8>().into_failure().unwrap_err();
    assert_eq!((ours.location().file(), ours.location().line()), (file!(), line));
    let theirs = "x".parse::<u8>().map_err(Failure::new).unwrap_err();
    assert_ne!(theirs.location().file(), file!());
    assert_eq!(ours.type_name(), "core::num::error::ParseIntError");
}

#[test]
fn into_failure_takes_boxed_errors_and_messages_in_a_step() {
    let boxed: Result<u8, Box<dyn Error + Send + Sync>> = Err(Box::new(no_route()));
    let d = deferreds::succeed(1u8).add_callback(move |n| Ok(boxed.into_failure()? + n));
    let failure = failure_result_of(d);
    assert!(failure.check::<NoRoute>(), "the concrete type is found through the box");
    assert_eq!(failure.type_name(), "dyn Error");

    let message: Result<u8, String> = Err("bad poem".to_owned());
    let failure = message.into_failure().unwrap_err();
    assert_eq!(failure.error_message(), "bad poem");
    assert_eq!(Ok::<u8, io::Error>(3).into_failure().unwrap(), 3);
}

#[test]
fn downcast_moves_the_error_out_of_the_last_handle_only() {
    let failure = Failure::new(no_route());
    let failure = failure.downcast::<io::Error>().unwrap_err();
    let clone = failure.clone();
    let failure = failure.downcast::<NoRoute>().unwrap_err();
    assert!(failure.ptr_eq(&clone), "handed back unchanged while a clone shares it");
    drop(clone);
    let NoRoute(io) = failure.downcast::<NoRoute>().unwrap();
    assert_eq!(io.kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn into_failure_works_inside_an_ensure_deferred_block() {
    let (reply, resolver) = Deferred::<String>::new();
    let d = ensure_deferred(async move {
        let text = reply.await?;
        let n: u32 = text.trim().parse().into_failure()?;
        Ok::<_, Failure>(n * 2)
    });
    resolver.callback("twenty".to_owned()).unwrap();
    assert!(failure_result_of(d).check::<std::num::ParseIntError>());
}

#[cfg(feature = "anyhow")]
mod with_anyhow {
    use super::*;

    #[test]
    fn question_mark_takes_a_failure_into_anyhow_and_downcast_finds_the_error() {
        async fn service(d: Deferred<u8>) -> anyhow::Result<u8> {
            Ok(d.await?)
        }
        let err = futures::executor::block_on(service(deferreds::fail(Failure::new(no_route()))))
            .unwrap_err();
        assert!(err.chain().any(|e| e.is::<NoRoute>()));
        assert_eq!(err.root_cause().to_string(), "refused");
        let back = Err::<(), _>(err).into_failure().unwrap_err();
        assert!(back.check::<NoRoute>());
    }

    #[test]
    fn a_shared_failure_goes_into_anyhow_and_comes_back_the_same() {
        let failure = Failure::new(no_route());
        let keep = failure.clone();
        let err: anyhow::Error = failure.into();
        assert_eq!(err.to_string(), "no route to the poem server");
        let back = Err::<(), _>(err).into_failure().unwrap_err();
        assert!(back.ptr_eq(&keep));
    }

    #[test]
    fn an_anyhow_error_goes_into_a_failure_with_its_chain_and_backtrace() {
        let original = anyhow::Error::new(no_route()).context("fetching the poem");
        let backtrace = original.backtrace().to_string();
        let d = ensure_deferred(async move {
            Err::<u8, _>(original).into_failure()?;
            Ok::<_, Failure>(0)
        });
        let failure = failure_result_of(d);
        assert_eq!(failure.error_message(), "fetching the poem");
        assert!(failure.check::<NoRoute>());
        assert!(failure.trap_any::<(io::Error, NoRoute)>().is_ok());
        let back: anyhow::Error = failure.into();
        assert_eq!(back.backtrace().to_string(), backtrace);
        assert_eq!(back.chain().count(), 3);
        let NoRoute(io) = back
            .downcast::<anyhow::Error>()
            .map_or_else(|err| err.downcast::<NoRoute>().unwrap(), |_| unreachable!("not nested"));
        assert_eq!(io.kind(), io::ErrorKind::ConnectionRefused);
    }
}
