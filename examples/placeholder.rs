//! A placeholder made by hand, its three flaws, and the `Deferred` that deals with them.
//!
//! A placeholder stands for a result you don't have yet: you tell it what to do when the
//! result arrives, and whoever produces the result fires it. This one is about as small as it
//! can be, and it shows three things that go wrong: `fire` does not return until every
//! callback has run, a failing callback has nowhere to go but back into whoever fired, and a
//! callback that returns another placeholder hands the next callback the placeholder instead
//! of its result. Then the same story runs on a `Deferred`.
//!
//! Run it with `cargo run --example placeholder`. The guide's chapter is
//! `docs/guide/01-placeholder.md`.

mod support;

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use deferreds::{Deferred, Failure};
pub use support::Out;

fn main() {
    placeholder_story(&Out::stdout());
}

/// Any value at all: like a placeholder written in Python, this one does not know the types of
/// the values its callbacks pass along.
pub type Value = Box<dyn Any + Send>;

type Callback = Box<dyn FnOnce(Value) -> Value + Send>;

/// A result you don't have yet, the hand-made way.
///
/// Each callback gets the previous one's return value (the first gets the result), and its
/// own return value goes to the next one.
#[derive(Default)]
pub struct Placeholder {
    callbacks: VecDeque<Callback>,
    fired: bool,
    result: Option<Value>,
}

impl fmt::Debug for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Placeholder")
            .field("fired", &self.fired)
            .field("callbacks", &self.callbacks.len())
            .finish_non_exhaustive()
    }
}

/// The error [`Placeholder::fire`] returns the second time.
#[derive(Debug)]
pub struct AlreadyFired;

impl Placeholder {
    /// A placeholder with no result and no callbacks.
    pub fn new() -> Placeholder {
        Placeholder::default()
    }

    /// Adds a callback; if the result is already there, the callbacks run now.
    pub fn when_ready(
        &mut self,
        callback: impl FnOnce(Value) -> Value + Send + 'static,
    ) -> &mut Placeholder {
        self.callbacks.push_back(Box::new(callback));
        if self.fired {
            self.run_callbacks();
        }
        self
    }

    /// Gives the placeholder its result and runs the callbacks, first added first.
    pub fn fire(&mut self, value: impl Any + Send) -> Result<(), AlreadyFired> {
        if self.fired {
            return Err(AlreadyFired);
        }
        self.fired = true;
        self.result = Some(Box::new(value));
        self.run_callbacks();
        Ok(())
    }

    fn run_callbacks(&mut self) {
        while let Some(callback) = self.callbacks.pop_front() {
            let value = self.result.take().expect("a result is there while callbacks run");
            self.result = Some(callback(value));
        }
    }
}

/// What the kitchen sends out.
#[derive(Debug, Clone)]
pub struct Meal {
    /// The dish's name.
    pub dish: &'static str,
    /// Whether it went off while waiting at the pass.
    pub spoiled: bool,
}

/// A meal that could not be eaten: the error a callback of the `Deferred` version returns.
#[derive(Debug)]
pub struct Spoiled(&'static str);

impl fmt::Display for Spoiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the {} has gone off", self.0)
    }
}

impl std::error::Error for Spoiled {}

/// The whole story, from the hand-made placeholder to the `Deferred`.
pub fn placeholder_story(out: &Out) {
    when_all_goes_well(out);
    flaw_one_fire_waits(out);
    flaw_two_no_error_track(out);
    flaw_three_nested_placeholder(out);
    deferred_errors(out);
    deferred_nesting(out);
    deferred_still_waits(out);
}

/// The diner's first callback: eats the meal and says whether it was good. A meal that went
/// off makes it panic: the placeholder gives it no other way to fail.
fn eat_meal(out: &Out) -> impl FnOnce(Value) -> Value + Send + 'static {
    let out = out.clone();
    move |meal| {
        let meal = meal.downcast::<Meal>().expect("the kitchen sends a Meal");
        if meal.spoiled {
            panic!("the {} has gone off", meal.dish);
        }
        out.line(format!("  diner: eating the {}", meal.dish));
        Box::new(true)
    }
}

/// The diner's second callback: gets what `eat_meal` returned, which should be a verdict.
fn compliment_chef(out: &Out) -> impl FnOnce(Value) -> Value + Send + 'static {
    let out = out.clone();
    move |verdict| {
        match verdict.downcast::<bool>() {
            Ok(good) if *good => out.line("  diner: my compliments to the chef!"),
            Ok(_) => out.line("  diner: I will not be coming back."),
            Err(other) if other.is::<Placeholder>() => out.line(
                "  diner: compliment_chef was handed a Placeholder instead of a verdict, \
                 and has no way to wait for it",
            ),
            Err(_) => out.line("  diner: compliment_chef was handed something unexpected"),
        }
        Box::new(())
    }
}

fn when_all_goes_well(out: &Out) {
    out.line("== A placeholder, when all goes well");
    let mut order = Placeholder::new();
    order.when_ready(eat_meal(out)).when_ready(compliment_chef(out));
    out.line("  diner: ordered; the callbacks wait for the meal");
    out.line("  kitchen: the eggs are ready, firing the placeholder");
    order.fire(Meal { dish: "eggs benedict", spoiled: false }).expect("the first fire");
    out.line("  kitchen: fire() returned");
    let again = order.fire(Meal { dish: "eggs benedict", spoiled: false });
    out.line(format!("  kitchen: a second fire() is refused: {again:?}"));
}

/// Flaw 1: the callbacks run inside `fire`, so a slow callback holds up whoever fired.
fn flaw_one_fire_waits(out: &Out) {
    out.line("");
    out.line("== Flaw 1: fire() does not return until every callback has run");
    let mut order = Placeholder::new();
    let o = out.clone();
    order.when_ready(move |meal| {
        for bite in 1..=3 {
            o.line(format!("  diner: a slow bite, {bite} of 3"));
        }
        meal
    });
    out.line("  kitchen: firing");
    order.fire(Meal { dish: "risotto", spoiled: false }).expect("the first fire");
    out.line("  kitchen: fire() returned; only now can the kitchen cook the next order");
}

/// Flaw 2: no error track. A failing callback can only panic, which unwinds into the kitchen
/// (who did not ask for the meal) and abandons the rest of the chain.
fn flaw_two_no_error_track(out: &Out) {
    out.line("");
    out.line("== Flaw 2: a failing callback has nowhere to go but back into fire()");
    let mut order = Placeholder::new();
    order.when_ready(eat_meal(out)).when_ready(compliment_chef(out));
    out.line("  kitchen: firing with a meal that went off");
    out.line("  (Rust prints the panic's message on standard error: that is part of the story)");
    let fired = catch_unwind(AssertUnwindSafe(|| {
        let _ = order.fire(Meal { dish: "fish pie", spoiled: true });
    }));
    match fired {
        Ok(()) => out.line("  kitchen: fire() returned"),
        Err(panic) => {
            let reason = Failure::from_panic(panic).error_message();
            out.line(format!("  kitchen: fire() panicked with {reason:?}"));
            out.line("  kitchen: ...and the kitchen has no idea what to do about it");
            out.line("  (the diner's second callback never ran, and the diner never heard)");
        }
    }
}

/// Flaw 3: a callback that returns a placeholder hands the *placeholder* to the next callback,
/// which cannot wait for it.
fn flaw_three_nested_placeholder(out: &Out) {
    out.line("");
    out.line("== Flaw 3: a callback that returns a placeholder");
    let mut order = Placeholder::new();
    let o = out.clone();
    order
        .when_ready(move |meal| {
            let meal = meal.downcast::<Meal>().expect("the kitchen sends a Meal");
            o.line(format!("  diner: eating the {}, then ordering dessert", meal.dish));
            // Whether it was good depends on the dessert, which is not here yet.
            Box::new(Placeholder::new())
        })
        .when_ready(compliment_chef(out));
    order.fire(Meal { dish: "roast", spoiled: false }).expect("the first fire");
}

/// The `Deferred` version of the diner: the callbacks return `Result`s, so a failure has a track
/// of its own.
fn deferred_errors(out: &Out) {
    out.line("");
    out.line("== The Deferred: a failure goes down the errback track, to the diner");
    let (order, kitchen) = Deferred::<Meal>::new();
    let (o1, o2, o3) = (out.clone(), out.clone(), out.clone());
    let _dinner = order
        .add_callback(move |meal| {
            if meal.spoiled {
                return Err(Failure::new(Spoiled(meal.dish)));
            }
            o1.line(format!("  diner: eating the {}", meal.dish));
            Ok(true)
        })
        .map(move |_good| o2.line("  diner: my compliments to the chef!"))
        .add_errback(move |failure| {
            o3.line(format!("  diner's errback: {failure}; asking for the bill"));
        });
    out.line("  kitchen: firing with a meal that went off");
    let fired = kitchen.callback(Meal { dish: "fish pie", spoiled: true });
    out.line(format!(
        "  kitchen: callback() returned {fired:?}: the failure stayed with the diner"
    ));
}

/// A callback that returns a Deferred: the chain waits for it and goes on with its result.
fn deferred_nesting(out: &Out) {
    out.line("");
    out.line("== The Deferred: a callback that returns a Deferred makes the chain wait for it");
    let (order, kitchen) = Deferred::<Meal>::new();
    let (dessert, pastry_chef) = Deferred::<&str>::new();
    let (o1, o2) = (out.clone(), out.clone());
    let dinner = order
        .add_callback(move |meal| {
            o1.line(format!("  diner: eating the {}, then ordering dessert", meal.dish));
            dessert.map(|pudding| pudding != "burnt custard")
        })
        .map(move |good| {
            let verdict = if good { "my compliments to the chef!" } else { "never again." };
            o2.line(format!("  diner: {verdict}"));
        });
    kitchen.callback(Meal { dish: "roast", spoiled: false }).expect("the first fire");
    out.line(format!(
        "  the chain is waiting for the dessert: is_waiting() = {}",
        dinner.is_waiting()
    ));
    out.line("  dinner.describe() pictures the chains, the one that waits first:");
    for line in dinner.describe().to_string().lines() {
        out.line(format!("    {line}"));
    }
    out.line("  pastry chef: the treacle tart is ready");
    pastry_chef.callback("treacle tart").expect("the first fire");
    deferreds::testing::success_result_of(dinner);
}

/// Flaw 1 is kept on purpose: `callback()` runs the chain before it returns, as `fire` did.
fn deferred_still_waits(out: &Out) {
    out.line("");
    out.line("== The Deferred keeps flaw 1 on purpose: callbacks run inside callback()");
    let (order, kitchen) = Deferred::<Meal>::new();
    let o = out.clone();
    let dinner = order.map(move |meal| o.line(format!("  diner: eating the {}", meal.dish)));
    out.line("  kitchen: firing");
    kitchen.callback(Meal { dish: "risotto", spoiled: false }).expect("the first fire");
    out.line("  kitchen: callback() returned, after the diner ate");
    deferreds::testing::success_result_of(dinner);
}
