//! `order_food` → `eat_meal` → `compliment_chef`: a callback chain, next to the synchronous
//! code it stands for.
//!
//! Each callback gets what the previous one returned: the meal, then whether it was good. The
//! synchronous version does the same three things in a row; the Deferred version places every
//! order first and lets each chain run when the kitchen serves that order.
//!
//! Run it with `cargo run --example restaurant`. The guide's chapter is
//! `docs/guide/02-callback-chains.md`.

mod support;

use std::collections::VecDeque;

use deferreds::{Deferred, Resolver};
pub use support::Out;

fn main() {
    restaurant_story(&Out::stdout());
}

/// A dish as it leaves the kitchen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meal {
    /// What was ordered.
    pub dish: String,
    /// Whether the cook got it right.
    pub well_made: bool,
}

/// A kitchen that cooks the dishes it knows well, and the others badly.
#[derive(Debug)]
pub struct Kitchen {
    specialities: Vec<&'static str>,
    /// Orders placed and not served yet, oldest first, each with the resolver that serves it.
    tickets: VecDeque<(String, Resolver<Meal>)>,
}

impl Kitchen {
    /// A kitchen that is good at `specialities`.
    pub fn new(specialities: Vec<&'static str>) -> Kitchen {
        Kitchen { specialities, tickets: VecDeque::new() }
    }

    /// Cooks `dish` at once: the synchronous way, which makes the caller wait.
    pub fn cook(&self, dish: &str) -> Meal {
        Meal { dish: dish.to_string(), well_made: self.specialities.contains(&dish) }
    }

    /// Takes an order and returns at once, with a Deferred for the meal to come.
    pub fn order_food(&mut self, dish: &str) -> Deferred<Meal> {
        let (meal, resolver) = Deferred::new();
        self.tickets.push_back((dish.to_string(), resolver));
        meal
    }

    /// Cooks the oldest order and sends it out, which runs that diner's callbacks; `false` when
    /// there was no order left.
    pub fn serve_next(&mut self, out: &Out) -> bool {
        let Some((dish, resolver)) = self.tickets.pop_front() else {
            return false;
        };
        out.line(format!("kitchen: the {dish} is ready"));
        let meal = self.cook(&dish);
        resolver.callback(meal).expect("each ticket is served once");
        true
    }
}

/// Eats the meal and says whether it was any good.
pub fn eat_meal(out: &Out, meal: Meal) -> bool {
    out.line(format!("  eating the {}", meal.dish));
    meal.well_made
}

/// Tells the chef what the diner thought.
pub fn compliment_chef(out: &Out, praiseworthy: bool) {
    if praiseworthy {
        out.line("  \"My compliments to the chef!\"");
    } else {
        out.line("  \"Was this cooked in the dark?\"");
    }
}

/// One diner, the synchronous way: each call waits for its result before the next starts.
pub fn dine_synchronously(out: &Out, kitchen: &Kitchen, dish: &str) {
    out.line(format!("ordering {dish}, and waiting at the counter"));
    let meal = kitchen.cook(dish);
    let was_it_good = eat_meal(out, meal);
    compliment_chef(out, was_it_good);
}

/// One diner, with a Deferred: the order returns at once, and the rest is a chain of callbacks
/// that runs when the meal arrives. Each callback's return value is the next one's argument.
pub fn dine_with_deferred(out: &Out, kitchen: &mut Kitchen, dish: &str) -> Deferred<()> {
    out.line(format!("ordering {dish}, and sitting down"));
    let (o1, o2) = (out.clone(), out.clone());
    kitchen
        .order_food(dish)
        .map(move |meal| eat_meal(&o1, meal))
        .map(move |was_it_good| compliment_chef(&o2, was_it_good))
}

/// Both versions, one after the other.
pub fn restaurant_story(out: &Out) {
    let dishes = ["eggs benedict", "porridge"];

    out.line("== Synchronous: one diner at a time");
    let kitchen = Kitchen::new(vec!["eggs benedict"]);
    for dish in dishes {
        dine_synchronously(out, &kitchen, dish);
    }

    out.line("");
    out.line("== With Deferreds: every order placed first, each chain runs when its meal comes");
    let mut kitchen = Kitchen::new(vec!["eggs benedict"]);
    let dinners: Vec<Deferred<()>> =
        dishes.iter().map(|dish| dine_with_deferred(out, &mut kitchen, dish)).collect();
    out.line("(every order is placed, and no callback has run yet)");
    while kitchen.serve_next(out) {}
    for dinner in dinners {
        // Every chain has run to its end: this takes each one's (empty) result.
        deferreds::testing::success_result_of(dinner);
    }
}
