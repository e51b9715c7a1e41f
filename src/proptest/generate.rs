//! What a [`Shape`](super::Shape)'s strategies are built from: weighted choices of steps,
//! and the repair that makes every generated program valid (targets that exist, operations in
//! an order the semantics allow).
//!
//! Part of `proptest`, on the public API and `testing`: it knows nothing of the engine, the
//! combinators' insides, the primitives, the async bridge or the reactor.

use ::proptest::strategy::Strategy;

use super::kinds::StepKind;
use super::outcome::{Tag, Value};
use super::program::{Attach, Canceller, CustomStep, Op, Program, StepFn};
/// The step kinds from the simplest, which is where a shrinking pick goes.
pub(super) const SHRINK_ORDER: [StepKind; 11] = [
    StepKind::Pass,
    StepKind::Add,
    StepKind::Recover,
    StepKind::Fail,
    StepKind::Trap,
    StepKind::NestFired,
    StepKind::NestFailed,
    StepKind::Fire,
    StepKind::Cancel,
    StepKind::Nest,
    StepKind::AddTo,
];

#[derive(Clone, Copy)]
pub(super) enum Choice {
    Builtin(StepKind),
    Custom(usize),
}

/// The step functions one position may have, with their weights.
#[derive(Clone)]
pub(super) struct FnChoices {
    pub(super) weights: Vec<(Choice, u32)>,
    pub(super) custom: Vec<CustomStep>,
}

impl FnChoices {
    pub(super) fn total(&self) -> u32 {
        self.weights.iter().map(|(_, w)| w).sum()
    }

    /// The function a pick falls on, made from the drawn fields (`inner` for an `add_to`).
    pub(super) fn build(
        &self,
        (pick, k, v, t, n): (u32, usize, Value, Tag, i64),
        inner: Option<Attach>,
    ) -> StepFn {
        if self.weights.is_empty() {
            return StepFn::Pass;
        }
        match weighted(&self.weights, pick) {
            Choice::Builtin(kind) => match kind {
                StepKind::Add => StepFn::Add(n),
                StepKind::Fail => StepFn::Fail(t),
                StepKind::Recover => StepFn::Recover(v),
                StepKind::Pass => StepFn::Pass,
                StepKind::Trap => StepFn::Trap(t, v),
                StepKind::Nest => StepFn::Nest(k),
                StepKind::NestFired => StepFn::NestFired(v),
                StepKind::NestFailed => StepFn::NestFailed(t),
                StepKind::Fire => StepFn::Fire(k, v),
                StepKind::Cancel => StepFn::Cancel(k),
                // Inside an `add_to` there is none; with no kind left for its step, a pass.
                StepKind::AddTo => {
                    StepFn::AddTo(k, Box::new(inner.unwrap_or(Attach::Callback(StepFn::Pass))))
                }
            },
            Choice::Custom(i) => StepFn::Custom(self.custom[i].clone()),
        }
    }
}

/// A step of the kind a pick in `0..100` falls on: the weights of `conformance/generate.py`.
pub(super) fn attach(kind: u32, f: StepFn, g: StepFn) -> Attach {
    match kind {
        0..35 => Attach::Callback(f),
        35..55 => Attach::Errback(f),
        55..75 => Attach::Both(f),
        _ => Attach::Callbacks(f, g),
    }
}

/// The choice that a pick in `0..total weight` falls on.
pub(super) fn weighted<T: Copy>(weights: &[(T, u32)], pick: u32) -> T {
    let mut below = 0;
    for &(choice, weight) in weights {
        below += weight;
        if pick < below {
            return choice;
        }
    }
    unreachable!("a pick is below the total weight")
}

#[derive(Clone, Copy)]
pub(super) enum Depth {
    /// A step added by an operation.
    Top,
    /// A step added by an `add_to` step function.
    Inner,
    /// A step for a chain of the caller's own.
    Own,
}

pub(super) fn tag() -> impl Strategy<Value = Tag> + Clone {
    (0usize..3).prop_map(|i| Tag::ALL[i])
}

pub(super) fn index_of<T: PartialEq>(all: &[T], kind: T) -> usize {
    all.iter().position(|k| *k == kind).expect("ALL lists every kind")
}

/// Sets to 0 the weights (one per kind of `all`) of the kinds not in `kinds`.
pub(super) fn keep_only<T: PartialEq>(weights: &mut [u32], all: &[T], kinds: &[T]) {
    for (weight, kind) in weights.iter_mut().zip(all) {
        if !kinds.contains(kind) {
            *weight = 0;
        }
    }
}

/// The kinds of `all` with a weight above 0, with their weights, and the total weight.
pub(super) fn drawn<T: Copy>(all: &[T], weights: &[u32]) -> (Vec<(T, u32)>, u32) {
    let drawn: Vec<(T, u32)> =
        all.iter().copied().zip(weights.iter().copied()).filter(|(_, w)| *w > 0).collect();
    let total = drawn.iter().map(|(_, w)| w).sum();
    (drawn, total)
}

/// Picks one of `options` by a raw index.
fn pick(options: &[usize], raw: usize) -> Option<usize> {
    (!options.is_empty()).then(|| options[raw % options.len()])
}

/// Turns drawn operations into a program Rust can express: each raw index becomes one of the
/// Deferreds the choice may take, and a choice with none to take is left out. Returns the
/// program and its outstanding pauses.
pub(super) fn repair(n: usize, ops: Vec<Op>, cancellers: Vec<Canceller>) -> (Program, Vec<u32>) {
    let mut program = Program::new(n);
    for (d, canceller) in cancellers.into_iter().take(n).enumerate() {
        program.deferreds[d] = match canceller {
            Canceller::FireOther(raw, v) => {
                let others: Vec<usize> = (0..n).filter(|&k| k != d).collect();
                match pick(&others, raw) {
                    Some(k) => Canceller::FireOther(k, v),
                    None => Canceller::None,
                }
            }
            other => other,
        };
    }
    let mut nested = vec![false; n];
    let mut pauses = vec![0u32; n];
    let all: Vec<usize> = (0..n).collect();
    for op in ops {
        let free: Vec<usize> = all.iter().copied().filter(|&k| !nested[k]).collect();
        let op = match op {
            Op::Add(raw, attach) => {
                let Some(d) = pick(&free, raw) else { continue };
                let targets: Vec<usize> = free.iter().copied().filter(|&k| k != d).collect();
                let Some(attach) = repair_attach(attach, n, Some(&targets)) else { continue };
                for f in attach.fns() {
                    if let StepFn::Nest(j) = f {
                        nested[*j] = true;
                    }
                }
                Op::Add(d, attach)
            }
            Op::Callback(raw, v) => Op::Callback(raw % n, v),
            Op::Errback(raw, tag) => Op::Errback(raw % n, tag),
            Op::Pause(raw) => {
                pauses[raw % n] += 1;
                Op::Pause(raw % n)
            }
            Op::Unpause(raw) => {
                let paused: Vec<usize> = all.iter().copied().filter(|&k| pauses[k] > 0).collect();
                let Some(d) = pick(&paused, raw) else { continue };
                pauses[d] -= 1;
                Op::Unpause(d)
            }
            Op::Cancel(raw) => {
                let Some(d) = pick(&free, raw) else { continue };
                Op::Cancel(d)
            }
            Op::ChainDeferred(raw_d, raw_e) => {
                let Some(d) = pick(&free, raw_d) else { continue };
                let others: Vec<usize> = all.iter().copied().filter(|&k| k != d).collect();
                let Some(e) = pick(&others, raw_e) else { continue };
                Op::ChainDeferred(d, e)
            }
        };
        program.ops.push(op);
    }
    (program, pauses)
}

/// The functions of one step, with their indices resolved; `targets` are the Deferreds a
/// nest may take (`None` inside an `add_to`, where there is no nesting).
fn repair_attach(attach: Attach, n: usize, targets: Option<&[usize]>) -> Option<Attach> {
    let f = |f: StepFn| repair_fn(f, n, targets);
    Some(match attach {
        Attach::Callback(a) => Attach::Callback(f(a)?),
        Attach::Errback(a) => Attach::Errback(f(a)?),
        Attach::Both(a) => Attach::Both(f(a)?),
        Attach::Callbacks(a, b) => Attach::Callbacks(f(a)?, f(b)?),
    })
}

fn repair_fn(f: StepFn, n: usize, targets: Option<&[usize]>) -> Option<StepFn> {
    Some(match f {
        StepFn::Nest(raw) => StepFn::Nest(pick(targets?, raw)?),
        StepFn::Fire(raw, v) => StepFn::Fire(raw % n, v),
        StepFn::Cancel(raw) => StepFn::Cancel(raw % n),
        StepFn::AddTo(raw, attach) => {
            StepFn::AddTo(raw % n, Box::new(repair_attach(*attach, n, None)?))
        }
        other => other,
    })
}

/// Appends the end that settles a program: every outstanding pause undone, then every
/// Deferred fired, in `order`. The unpauses whose flag in `kept` shrank to false are left out,
/// and so are the fires of the Deferreds whose flag (counted from the end of `kept`, so that
/// the fires of the last Deferreds go first) did.
pub(super) fn settle_at_end(
    program: &mut Program,
    pauses: Vec<u32>,
    order: &[usize],
    values: &[Value],
    kept: &[bool],
) {
    let n = program.deferreds.len();
    let kept_at = |i: usize| kept.get(i).copied().unwrap_or(true);
    let unpauses = pauses.into_iter().enumerate().flat_map(|(d, count)| (0..count).map(move |_| d));
    for (i, d) in unpauses.enumerate() {
        if kept_at(i) {
            program.ops.push(Op::Unpause(d));
        }
    }
    for &d in order.iter().filter(|&&d| d < n) {
        if kept_at(kept.len().saturating_sub(1 + d)) {
            program.ops.push(Op::Callback(d, values[d]));
        }
    }
}
