//! The four shapes of synchronous error handling, each beside the errback chain that does the
//! same thing to a result that has not arrived yet.
//!
//! 1. Handle the error, then carry on anyway (`except` followed by more code):
//!    `add_errback(handle)` then `add_callback(act)`.
//! 2. Handle the error, and act only if there was none (`except` ... `else`):
//!    `add_callbacks(act, handle)`.
//! 3. Handle an error from anywhere in the operation (a `try` around all of it):
//!    `add_callback(act)` then `add_errback(handle)`.
//! 4. Clean up whatever happens (`finally`): `add_both(clean_up)`.
//!
//! Each shape is a pair of functions, one synchronous and one with a Deferred, and both print
//! the same lines for the same order. Three orders try every path: one that goes well, one
//! the kitchen cannot make, and one that the diner cannot eat.
//!
//! Run it with `cargo run --example try_except`. The guide's chapter is
//! `docs/guide/03-errbacks.md`.

mod support;

use std::error::Error;
use std::fmt;

use deferreds::{Deferred, Failure, TryResult};
pub use support::Out;

fn main() {
    try_except_story(&Out::stdout());
}

/// Every shape on every dish, the synchronous way and then with a Deferred.
pub fn try_except_story(out: &Out) {
    for (i, shape) in SHAPES.into_iter().enumerate() {
        if i > 0 {
            out.line("");
        }
        out.line(format!("== {}", shape.title()));
        for dish in DISHES {
            out.line(format!("{dish}, synchronously:"));
            run_synchronously(out, shape, dish);
            out.line(format!("{dish}, with a Deferred:"));
            run_with_deferred(out, shape, dish);
        }
    }
}

/// The three orders: one fine, one the kitchen cannot make, one too hot to eat.
pub const DISHES: [&str; 3] = ["omelette", "lobster", "vindaloo"];

/// What can go wrong.
#[derive(Debug)]
pub enum Problem {
    /// The kitchen has none left: `order_food` fails.
    SoldOut(&'static str),
    /// The diner cannot eat it: the action on the meal fails.
    TooHot(&'static str),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::SoldOut(dish) => write!(f, "the {dish} is sold out"),
            Problem::TooHot(dish) => write!(f, "the {dish} is far too hot"),
        }
    }
}

impl Error for Problem {}

/// A dish, as served.
#[derive(Debug, Clone, Copy)]
pub struct Meal(pub &'static str);

/// The synchronous order: the meal, or the kitchen's reason for not making it.
pub fn order_food(dish: &'static str) -> Result<Meal, Problem> {
    if dish == "lobster" { Err(Problem::SoldOut(dish)) } else { Ok(Meal(dish)) }
}

/// The action on the meal; it can fail too.
pub fn eat(out: &Out, meal: Meal) -> Result<String, Problem> {
    if meal.0 == "vindaloo" {
        return Err(Problem::TooHot(meal.0));
    }
    out.line(format!("    eating the {}", meal.0));
    Ok(format!("ate the {}", meal.0))
}

/// Shape 1's handler: something to eat instead.
pub fn make_do(out: &Out, error: &dyn Error) -> Meal {
    out.line(format!("    handled: {error}; toast instead"));
    Meal("toast")
}

/// Shapes 2 and 3's handler: a complaint, which ends the matter.
pub fn complain(out: &Out, error: &dyn Error) -> String {
    out.line(format!("    handled: {error}"));
    format!("complained that {error}")
}

/// Shape 4's cleanup, which must run on every path.
pub fn clear_table(out: &Out) {
    out.line("    clearing the table");
}

/// The four shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Handle the error, then carry on anyway.
    HandleThenContinue,
    /// Handle the error; act only if there was none.
    HandleElseAct,
    /// Handle an error from anywhere in the operation.
    HandleAll,
    /// Clean up whatever happens.
    Finally,
}

impl Shape {
    /// The shape's name and its two spellings.
    pub fn title(self) -> &'static str {
        match self {
            Shape::HandleThenContinue => {
                "1. Handle the error, then carry on: add_errback, then add_callback"
            }
            Shape::HandleElseAct => "2. Act only if there was no error: add_callbacks",
            Shape::HandleAll => "3. Handle an error from anywhere: add_callback, then add_errback",
            Shape::Finally => "4. Clean up whatever happens: add_both",
        }
    }
}

/// Every shape, in the order the guide explains them.
pub const SHAPES: [Shape; 4] =
    [Shape::HandleThenContinue, Shape::HandleElseAct, Shape::HandleAll, Shape::Finally];

// ---- Shape 1: handle the error, then carry on anyway ----

/// `let meal = match order_food() { .., Err(e) => handle(e) }; act(meal)`
pub fn handle_then_continue_sync(out: &Out, dish: &'static str) -> Result<String, Problem> {
    let meal = match order_food(dish) {
        Ok(meal) => meal,
        Err(problem) => make_do(out, &problem),
    };
    eat(out, meal)
}

/// An errback, then a callback: the callback gets the meal or the errback's stand-in.
pub fn handle_then_continue(out: &Out, order: Deferred<Meal>) -> Deferred<String> {
    let (o1, o2) = (out.clone(), out.clone());
    order
        .add_errback(move |failure| Ok(make_do(&o1, failure.as_error())))
        .add_callback(move |meal| Ok(eat(&o2, meal)?))
}

// ---- Shape 2: handle the error; act only if there was none ----

/// `match order_food() { Ok(meal) => act(meal), Err(e) => handle(e) }`: an error from the
/// action itself is not handled here.
pub fn handle_else_act_sync(out: &Out, dish: &'static str) -> Result<String, Problem> {
    match order_food(dish) {
        Ok(meal) => eat(out, meal),
        Err(problem) => Ok(complain(out, &problem)),
    }
}

/// `add_callbacks`: one step with two branches, so the errback never sees a failure of the
/// callback beside it.
pub fn handle_else_act(out: &Out, order: Deferred<Meal>) -> Deferred<String> {
    let (o1, o2) = (out.clone(), out.clone());
    order.add_callbacks(
        move |meal| Ok(eat(&o1, meal)?),
        move |failure| Ok(complain(&o2, failure.as_error())),
    )
}

// ---- Shape 3: handle an error from anywhere in the operation ----

/// A `try` around the order and the action: either one's error is handled.
pub fn handle_all_sync(out: &Out, dish: &'static str) -> Result<String, Problem> {
    let attempt = order_food(dish).and_then(|meal| eat(out, meal));
    match attempt {
        Ok(done) => Ok(done),
        Err(problem) => Ok(complain(out, &problem)),
    }
}

/// A callback, then an errback: the errback sees failures of the order and of the callback.
pub fn handle_all(out: &Out, order: Deferred<Meal>) -> Deferred<String> {
    let (o1, o2) = (out.clone(), out.clone());
    order
        .add_callback(move |meal| Ok(eat(&o1, meal)?))
        .add_errback(move |failure| Ok(complain(&o2, failure.as_error())))
}

// ---- Shape 4: clean up whatever happens ----

/// `finally`: the cleanup runs on success and on error, and the outcome goes on unchanged.
pub fn finally_sync(out: &Out, dish: &'static str) -> Result<String, Problem> {
    let outcome = order_food(dish).and_then(|meal| eat(out, meal));
    clear_table(out);
    outcome
}

/// `add_both`: one step for either track, which hands the result on as it found it.
pub fn finally(out: &Out, order: Deferred<Meal>) -> Deferred<String> {
    let (o1, o2) = (out.clone(), out.clone());
    order.add_callback(move |meal| Ok(eat(&o1, meal)?)).add_both(move |outcome| {
        clear_table(&o2);
        outcome
    })
}

// ---- Running them ----

/// Runs the synchronous version of `shape` on `dish` and prints what came out of it.
pub fn run_synchronously(out: &Out, shape: Shape, dish: &'static str) {
    let outcome = match shape {
        Shape::HandleThenContinue => handle_then_continue_sync(out, dish),
        Shape::HandleElseAct => handle_else_act_sync(out, dish),
        Shape::HandleAll => handle_all_sync(out, dish),
        Shape::Finally => finally_sync(out, dish),
    };
    match outcome {
        Ok(done) => out.line(format!("    -> {done}")),
        Err(problem) => out.line(format!("    -> not handled: {problem}")),
    }
}

/// Builds the Deferred version of `shape` on an order that has not arrived, then has the
/// kitchen answer it, and prints what came out of the chain.
pub fn run_with_deferred(out: &Out, shape: Shape, dish: &'static str) {
    let (order, kitchen) = Deferred::<Meal>::new();
    let chain = match shape {
        Shape::HandleThenContinue => handle_then_continue(out, order),
        Shape::HandleElseAct => handle_else_act(out, order),
        Shape::HandleAll => handle_all(out, order),
        Shape::Finally => finally(out, order),
    };
    // The chain is built; now the kitchen answers, and the steps run.
    kitchen
        .resolve(order_food(dish).map_err(|problem| Failure::new(problem)))
        .expect("the order is answered once");
    match chain.try_result() {
        TryResult::Value(done) => out.line(format!("    -> {done}")),
        TryResult::Failure(failure) => out.line(format!("    -> not handled: {failure}")),
        TryResult::Pending(_) => out.line("    -> (still waiting)"),
    }
}
