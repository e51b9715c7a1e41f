//! Pictures of a tower of Deferreds: what `describe()` shows in debug mode, from the top of
//! the tower and from its bottom, and the same tower as a Graphviz graph.
//!
//! A dinner waits on its dessert, and the dessert on the oven. Run it with
//! `cargo run --example seeing_chains`; `dot -Tsvg` draws the graph it prints. The guide's
//! chapter is `docs/guide/15-seeing-chains.md`.

mod support;

use deferreds::{Deferred, Picture};

pub use support::Out;

fn main() {
    // Where each Deferred was made and fired, and where each step was added, is recorded only
    // in debug mode, for the Deferreds made while it is on.
    deferreds::set_debugging(true);
    seeing_chains(&Out::stdout());
}

/// The story.
pub fn seeing_chains(out: &Out) {
    let (order, kitchen) = Deferred::<&str>::new();
    let (dessert, pastry_chef) = Deferred::<&str>::new();
    let (oven, timer) = Deferred::<u32>::new();
    let dessert =
        dessert.add_callback(move |tart| oven.map(move |minutes| format!("{tart}, {minutes} min")));
    let dinner = order
        .add_callback(move |_main_course| dessert)
        .map(|pudding| format!("compliments for the {pudding}"));
    kitchen.callback("roast").expect("the first order");
    pastry_chef.callback("treacle tart").expect("the first tart");

    out.line("== dinner.describe(), while the tart bakes");
    lines(out, &dinner.describe().to_string());
    out.line("");
    out.line("== timer.describe(): the same tower, seen from the oven");
    lines(out, &timer.describe().to_string());
    out.line("");
    out.line("== Picture::dot: the tower as a Graphviz graph");
    lines(out, &Picture::dot([&dinner.describe()]));

    timer.callback(40).expect("the oven's first ring");
    out.line("");
    out.line("== {dinner:#?}, once the oven rang: the value shown with its Debug");
    lines(out, &format!("{dinner:#?}"));
}

fn lines(out: &Out, text: &str) {
    for line in text.lines() {
        out.line(format!("  {line}"));
    }
}
