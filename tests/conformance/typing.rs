//! The rules that make a program one Rust can express, which both generators keep (`Shape` and
//! `conformance/generate.py`), checked independently of either.

use deferreds::proptest::{Canceller, Op, Program, StepFn};

/// The first rule `program` breaks, and where: nothing is added to, cancelled or chained from a
/// Deferred once a step that nests it was added; nothing is nested twice or in itself; an
/// `add_to` adds no nest and no `add_to`; no Deferred is chained into itself; no canceller
/// fires its own Deferred; an unpause follows a pause.
pub(crate) fn broken_rule(program: &Program) -> Option<String> {
    for (d, canceller) in program.deferreds.iter().enumerate() {
        if let Canceller::FireOther(k, _) = canceller {
            if *k == d {
                return Some(format!("the canceller of Deferred {d} fires it"));
            }
        }
    }
    let n = program.deferreds.len();
    let mut nested = vec![false; n];
    let mut pauses = vec![0u32; n];
    for (i, op) in program.ops.iter().enumerate() {
        let broken = |rule: &str| Some(format!("operation {i} ({op}) {rule}"));
        match op {
            Op::Add(d, attach) => {
                if nested[*d] {
                    return broken("adds to a nested Deferred");
                }
                for f in attach.fns() {
                    if let StepFn::Nest(j) = f {
                        if j == d || nested[*j] {
                            return broken(&format!("nests {j} again or itself"));
                        }
                    }
                    if let StepFn::AddTo(_, inner) = f {
                        if inner.fns().any(|f| matches!(f, StepFn::Nest(_) | StepFn::AddTo(..))) {
                            return broken("has an add_to that adds a nest or an add_to");
                        }
                    }
                }
                for f in attach.fns() {
                    if let StepFn::Nest(j) = f {
                        nested[*j] = true;
                    }
                }
            }
            Op::ChainDeferred(d, e) if nested[*d] || d == e => {
                return broken(&format!("chains from {d} to {e}"));
            }
            Op::Cancel(d) if nested[*d] => return broken("cancels a nested Deferred"),
            Op::Pause(d) => pauses[*d] += 1,
            Op::Unpause(d) if pauses[*d] == 0 => return broken("unpauses an unpaused Deferred"),
            Op::Unpause(d) => pauses[*d] -= 1,
            Op::ChainDeferred(..) | Op::Cancel(_) | Op::Callback(..) | Op::Errback(..) => {}
        }
    }
    None
}
