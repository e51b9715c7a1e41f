//! A tour of deferreds: callbacks, errbacks, nesting, and a failure's traceback.
//!
//! Run it with `cargo run --example tour`. Each section prints what happens as it happens, so
//! the order of the lines is part of the lesson. The guide in `docs/guide/README.md` tells the
//! same story at length, following the Twisted tutorials, each chapter with its own examples.

mod support;

use deferreds::{Deferred, Failure};
pub use support::Out;

/// An error of our own, to show that errbacks can tell errors apart by type.
#[derive(Debug)]
struct KitchenClosed;

impl std::fmt::Display for KitchenClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the kitchen is closed")
    }
}

impl std::error::Error for KitchenClosed {}

fn main() {
    tour(&Out::stdout());
}

/// The four sections, in order.
pub fn tour(out: &Out) {
    callbacks(out);
    errbacks(out);
    nesting(out);
    tracebacks(out);
}

/// A Deferred is a placeholder: steps are added now and run when the result arrives.
fn callbacks(out: &Out) {
    out.line("== 1. Callbacks run when the result arrives");
    let (order, kitchen) = Deferred::<&str>::new();
    let (o1, o2) = (out.clone(), out.clone());
    let meal = order
        .map(move |food| {
            o1.line(format!("   eating {food}"));
            food.len()
        })
        .map(move |bites| {
            o2.line(format!("   that took {bites} bites; compliments to the chef"));
        });
    out.line("   order placed; nothing has run yet");
    kitchen.callback("pizza").unwrap();
    out.line("   the kitchen fired the Deferred, and the chain ran inside that call");
    out.line("   adding a step now runs it at once:");
    let o = out.clone();
    let _done = meal.map(move |()| o.line("   (late step ran inside add_callback)"));
}

/// Failing moves the chain to the errback track; an errback that returns a value moves it back.
fn errbacks(out: &Out) {
    out.line("");
    out.line("== 2. Errbacks: the failure track");
    let (order, kitchen) = Deferred::<&str>::new();
    let (o1, o2, o3, o4) = (out.clone(), out.clone(), out.clone(), out.clone());
    let meal = order
        .add_callback(move |food| -> Result<String, Failure> {
            o1.line(format!("   cooking {food}..."));
            Err(Failure::new(KitchenClosed))
        })
        .map(move |dish| {
            o2.line(format!("   (skipped: there is no dish) {dish}"));
            dish
        })
        .add_errback(move |failure| {
            // Handle only the error we expect; anything else continues down the errback track.
            failure.trap::<KitchenClosed>()?;
            o3.line(format!("   errback: {failure}; ordering takeaway instead"));
            Ok(String::from("takeaway noodles"))
        })
        .map(move |dish| o4.line(format!("   back on the callback track with {dish}")));
    kitchen.callback("soup").unwrap();
    deferreds::testing::success_result_of(meal);
}

/// A step that returns another Deferred pauses its chain until that one fires.
fn nesting(out: &Out) {
    out.line("");
    out.line("== 3. Nesting: a callback that returns a Deferred");
    let (delivery, courier) = Deferred::<u32>::new();
    let (order, kitchen) = Deferred::<&str>::new();
    let (o1, o2) = (out.clone(), out.clone());
    let order = order
        .add_callback(move |food| {
            o1.line(format!("   {food} is ready; waiting for the courier"));
            delivery
        })
        .map(move |minutes| o2.line(format!("   delivered after {minutes} minutes")));
    kitchen.callback("curry").unwrap();
    out.line(format!("   the outer chain waits: is_waiting() = {}", order.is_waiting()));
    courier.callback(25).unwrap();
    deferreds::testing::success_result_of(order);
}

/// A failure keeps where it came from; `traceback()` prints it the way Twisted does.
fn tracebacks(out: &Out) {
    out.line("");
    out.line("== 4. A failure's traceback");
    let d = deferreds::succeed("42x").add_callback(|text| Ok(text.parse::<u32>()?));
    let failure = deferreds::testing::failure_result_of(d);
    out.line(format!(
        "   check::<ParseIntError>() = {}",
        failure.check::<std::num::ParseIntError>()
    ));
    out.line(format!("   error_message() = {:?}", failure.error_message()));
    out.line("   traceback():");
    for line in failure.traceback().lines() {
        out.line(format!("   | {line}"));
    }
    out.line("");
    out.line("More in docs/guide/README.md.");
}
