//! A tour of deferreds: callbacks, errbacks, nesting, and a failure's traceback.
//!
//! Run it with `cargo run --example tour`. Each section prints what happens as it happens, so
//! the order of the lines is part of the lesson. The guide in `docs/guide/` tells the same
//! story at length, following the Twisted tutorials.

use deferreds::{Deferred, Failure};

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
    callbacks();
    errbacks();
    nesting();
    tracebacks();
}

/// A Deferred is a placeholder: steps are added now and run when the result arrives.
fn callbacks() {
    println!("== 1. Callbacks run when the result arrives");
    let (order, kitchen) = Deferred::<&str>::new();
    let meal = order
        .map(|food| {
            println!("   eating {food}");
            food.len()
        })
        .map(|bites| {
            println!("   that took {bites} bites; compliments to the chef");
        });
    println!("   order placed; nothing has run yet");
    kitchen.callback("pizza").unwrap();
    println!("   the kitchen fired the Deferred, and the chain ran inside that call");
    println!("   adding a step now runs it at once:");
    let _done = meal.map(|()| println!("   (late step ran inside add_callback)"));
}

/// Failing moves the chain to the errback track; an errback that returns a value moves it back.
fn errbacks() {
    println!("\n== 2. Errbacks: the failure track");
    let (order, kitchen) = Deferred::<&str>::new();
    let meal = order
        .add_callback(|food| -> Result<String, Failure> {
            println!("   cooking {food}...");
            Err(Failure::new(KitchenClosed))
        })
        .map(|dish| {
            println!("   (skipped: there is no dish) {dish}");
            dish
        })
        .add_errback(|failure| {
            // Handle only the error we expect; anything else continues down the errback track.
            failure.trap::<KitchenClosed>()?;
            println!("   errback: {failure}; ordering takeaway instead");
            Ok(String::from("takeaway noodles"))
        })
        .map(|dish| println!("   back on the callback track with {dish}"));
    kitchen.callback("soup").unwrap();
    deferreds::testing::success_result_of(meal);
}

/// A step that returns another Deferred pauses its chain until that one fires.
fn nesting() {
    println!("\n== 3. Nesting: a callback that returns a Deferred");
    let (delivery, courier) = Deferred::<u32>::new();
    let (order, kitchen) = Deferred::<&str>::new();
    let order = order
        .add_callback(move |food| {
            println!("   {food} is ready; waiting for the courier");
            delivery
        })
        .map(|minutes| println!("   delivered after {minutes} minutes"));
    kitchen.callback("curry").unwrap();
    println!("   the outer chain waits: is_waiting() = {}", order.is_waiting());
    courier.callback(25).unwrap();
    deferreds::testing::success_result_of(order);
}

/// A failure keeps where it came from; `traceback()` prints it the way Twisted does.
fn tracebacks() {
    println!("\n== 4. A failure's traceback");
    let d = deferreds::succeed("42x").add_callback(|text| Ok(text.parse::<u32>()?));
    let failure = deferreds::testing::failure_result_of(d);
    println!("   check::<ParseIntError>() = {}", failure.check::<std::num::ParseIntError>());
    println!("   error_message() = {:?}", failure.error_message());
    println!("   traceback():");
    for line in failure.traceback().lines() {
        println!("   | {line}");
    }
    println!("\nMore in docs/guide/README.md.");
}
