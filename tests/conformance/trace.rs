//! The event trace of `conformance/twisted_trace.py`, written from a
//! [`Trace`](deferreds::proptest::Trace) of the runner or the model: the same events, in the
//! golden files' JSON spelling.

use deferreds::proptest::{
    Event, Fault, FinalState, Outcome, Program, StepId, Trace, model, runner,
};
use serde_json::{Value as Json, json};

/// The trace's spelling of a result: `V:5`, `V:None`, `F:E1`, `F:Cancelled`, ...
fn show(outcome: &Outcome) -> String {
    match outcome {
        Ok(Some(n)) => format!("V:{n}"),
        Ok(None) => "V:None".to_owned(),
        Err(Fault::Raised(tag)) => format!("F:{tag}"),
        Err(Fault::TypeError) => "F:TypeError".to_owned(),
        Err(Fault::Cancelled) => "F:Cancelled".to_owned(),
        Err(Fault::AlreadyCalled) => "F:AlreadyCalled".to_owned(),
        Err(Fault::CircularChain) => "F:CircularChain".to_owned(),
        Err(Fault::Panic(message)) => format!("F:Panic:{message}"),
        Err(Fault::Other(message)) => format!("F:Other:{message}"),
    }
}

/// Which step: the index of the top-level `add`, or `"<index>+"` for a step an `add_to` added.
fn step_id(step: StepId) -> Json {
    match step {
        StepId::Op(i) => json!(i),
        StepId::AddedBy(i) => json!(format!("{i}+")),
    }
}

fn final_state(state: &FinalState) -> String {
    match state {
        FinalState::Pending => "pending".to_owned(),
        FinalState::Paused => "paused".to_owned(),
        FinalState::Waiting => "waiting".to_owned(),
        FinalState::Nested => "nested".to_owned(),
        FinalState::Held => "held".to_owned(),
        FinalState::Result(outcome) => show(outcome),
        FinalState::Unsettled(tail) => format!("unsettled {tail}"),
    }
}

fn event(event: &Event) -> Json {
    match event {
        Event::Step { d, step, input } => {
            let half = if input.is_ok() { "cb" } else { "eb" };
            json!(["step", d, step_id(*step), half, show(input)])
        }
        Event::Fired { d, accepted } => {
            json!(["fire", d, if *accepted { "ok" } else { "AlreadyCalled" }])
        }
        Event::Unavailable(k) => json!(["unavailable", k]),
        Event::UnpauseRefused(d) => json!(["unpause_refused", d]),
        Event::Final { d, called, paused, state } => {
            json!(["final", d, called, paused, final_state(state)])
        }
        Event::Inconsistent { d, detail } => json!(["inconsistent", d, detail]),
    }
}

pub(crate) fn to_json(trace: &Trace) -> Vec<Json> {
    trace.events.iter().map(event).collect()
}

/// The program run on this crate.
pub(crate) fn rust(program: &Program) -> Vec<Json> {
    to_json(&runner::run(program).expect("a golden program is valid").trace)
}

/// What the reference model predicts for the program.
pub(crate) fn model(program: &Program) -> Vec<Json> {
    to_json(&model::run(program).expect("a golden program is valid"))
}
