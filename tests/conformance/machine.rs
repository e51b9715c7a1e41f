//! Runs a [`Program`] on this crate and records the event trace that
//! `conformance/twisted_trace.py` records on Twisted.
//!
//! Every Deferred is a `Deferred<Option<i64>>`. Its tail sits in a table while nobody uses it;
//! an operation that needs it (an add, chain or cancel, from the top level or from inside a
//! step) takes it out for the length of the call and puts the new tail back. A step that
//! needs a tail that is out, because an operation on it is still in progress further up the
//! stack or because a nest step owns it, records `["unavailable", k]` and passes its input on:
//! that program is one Rust's unique tail forbids.

use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use serde_json::{Value as Json, json};

use deferreds::testing::capture_unhandled;
use deferreds::{
    AlreadyCalledError, CancelledError, Deferred, Failure, PanicError, Resolver, Step, fail,
    succeed,
};

use crate::program::{Canceller, Kind, Op, Program, StepFn, Tag, V};

macro_rules! tagged_errors {
    ($($name:ident),*) => {$(
        /// One of the program's exception types (Python: a plain `Exception` subclass).
        #[derive(Debug, thiserror::Error)]
        #[error("{}", stringify!($name))]
        pub(crate) struct $name;
    )*};
}
tagged_errors!(E0, E1, E2);

/// What Python raises for `None + n` or `Failure + n`.
#[derive(Debug, thiserror::Error)]
#[error("unsupported operand type(s) for +")]
pub(crate) struct TypeError;

fn raise(tag: Tag) -> Failure {
    match tag {
        Tag::E0 => Failure::new(E0),
        Tag::E1 => Failure::new(E1),
        Tag::E2 => Failure::new(E2),
    }
}

/// `failure.trap(E)`: `Ok` if it is exactly that tag, else the failure back to re-raise.
fn trap(failure: &Failure, tag: Tag) -> Result<(), Failure> {
    match tag {
        Tag::E0 => failure.trap::<E0>().map(drop),
        Tag::E1 => failure.trap::<E1>().map(drop),
        Tag::E2 => failure.trap::<E2>().map(drop),
    }
}

fn show_failure(f: &Failure) -> String {
    let name = if f.check::<E0>() {
        "E0"
    } else if f.check::<E1>() {
        "E1"
    } else if f.check::<E2>() {
        "E2"
    } else if f.check::<CancelledError>() {
        "Cancelled"
    } else if f.check::<AlreadyCalledError>() {
        "AlreadyCalled"
    } else if f.check::<TypeError>() {
        "TypeError"
    } else if let Some(panic) = f.downcast_ref::<PanicError>() {
        return format!("F:Panic:{}", panic.message());
    } else {
        return format!("F:Other:{}", f.type_name());
    };
    format!("F:{name}")
}

/// The trace's spelling of a result: `V:5`, `V:None`, `F:E1`, `F:Cancelled`, ...
pub(crate) fn show(result: &Result<V, Failure>) -> String {
    match result {
        Ok(Some(n)) => format!("V:{n}"),
        Ok(None) => "V:None".to_owned(),
        Err(f) => show_failure(f),
    }
}

/// Which step an event is about: the index of the top-level `add` that added it, or
/// `"<index>+"` for the step an `add_to` inside that step added.
#[derive(Clone, Copy, Debug)]
enum Sid {
    Top(usize),
    Added(usize),
}

impl Sid {
    fn json(self) -> Json {
        match self {
            Sid::Top(i) => json!(i),
            Sid::Added(i) => json!(format!("{i}+")),
        }
    }

    fn added(self) -> Sid {
        match self {
            Sid::Top(i) | Sid::Added(i) => Sid::Added(i),
        }
    }
}

/// The tail a nest step returns. Shared by both halves of a `callbacks` step that nest the
/// same Deferred; whichever half runs takes it.
type Cell = Arc<Mutex<Option<Deferred<V>>>>;

struct State {
    /// The tails not in use; `None` while an operation has one or once a nest step owns it.
    tails: Vec<Option<Deferred<V>>>,
    /// Kept only for the Deferreds the program fires, pauses, chains into or nests; the others
    /// are left with their tail as the chain's only handle (the engine's lock-free path).
    resolvers: Vec<Option<Resolver<V>>>,
    /// A nest step owning the tail was added (whether or not it ran).
    nested: Vec<bool>,
    /// The program's own pause count: Rust has no pause counter to read.
    pauses: Vec<u32>,
    trace: Vec<Json>,
}

/// One program's run. Steps hold it through an `Arc`; [`run`] breaks that cycle at the end.
///
/// The lock is never held while the engine runs: steps take it for their own bookkeeping.
pub(crate) struct Machine {
    state: Mutex<State>,
}

/// Whether the program needs Deferred `d`'s resolver after creating it.
fn needs_resolver(program: &Program, d: usize) -> bool {
    fn in_fn(f: &StepFn, d: usize) -> bool {
        match f {
            StepFn::Nest(j) | StepFn::Fire(j, _) => *j == d,
            StepFn::AddTo(_, _, fns) => fns.iter().any(|f| in_fn(f, d)),
            _ => false,
        }
    }
    let fired_by_a_canceller =
        program.cancellers.iter().any(|c| matches!(*c, Canceller::FireOther(k, _) if k == d));
    fired_by_a_canceller
        || program.ops.iter().any(|op| match op {
            Op::Callback(k, _) | Op::Errback(k, _) | Op::Pause(k) | Op::Unpause(k) => *k == d,
            Op::Chain(_, e) => *e == d,
            Op::Add(_, _, fns) => fns.iter().any(|f| in_fn(f, d)),
            Op::Cancel(_) => false,
        })
}

/// Runs `program` and returns its trace.
pub(crate) fn run(program: &Program) -> Vec<Json> {
    // Chains left failed at the end are reported when dropped; those reports are not part of
    // the trace, so they are captured and dropped.
    let (trace, _reports) = capture_unhandled(|| {
        let machine = Machine::new(program);
        for (i, op) in program.ops.iter().enumerate() {
            machine.op(i, op);
        }
        let trace = machine.finish();
        machine.clear();
        trace
    });
    trace
}

impl Machine {
    fn new(program: &Program) -> Arc<Machine> {
        Arc::new_cyclic(|machine| Machine::with_cancellers(program, machine))
    }

    /// The machine's initial state; `machine` is what a `fire_other` canceller reaches the
    /// other Deferred's resolver through (weak: the chains must not keep the machine alive).
    fn with_cancellers(program: &Program, machine: &Weak<Machine>) -> Machine {
        let n = program.cancellers.len();
        let mut tails = Vec::with_capacity(n);
        let mut resolvers = Vec::with_capacity(n);
        for (d, canceller) in program.cancellers.iter().enumerate() {
            let (tail, resolver) = match *canceller {
                Canceller::None => Deferred::new(),
                Canceller::Noop => Deferred::with_canceller(|_: &Resolver<V>| {}),
                Canceller::Fire(v) => Deferred::with_canceller(move |r: &Resolver<V>| {
                    r.callback(v).expect("a canceller runs only on an unfired Deferred");
                }),
                Canceller::Fail(tag) => Deferred::with_canceller(move |r: &Resolver<V>| {
                    r.errback(raise(tag)).expect("a canceller runs only on an unfired Deferred");
                }),
                Canceller::FireOther(k, v) => {
                    let machine = machine.clone();
                    Deferred::with_canceller(move |_: &Resolver<V>| {
                        let machine = machine.upgrade().expect("the machine outlives its programs");
                        // Twisted's canceller ignores the AlreadyCalledError too.
                        let _ = machine.resolver(k).callback(v);
                    })
                }
            };
            tails.push(Some(tail));
            resolvers.push(needs_resolver(program, d).then_some(resolver));
        }
        Machine {
            state: Mutex::new(State {
                tails,
                resolvers,
                nested: vec![false; n],
                pauses: vec![0; n],
                trace: Vec::new(),
            }),
        }
    }

    fn record(&self, event: Json) {
        self.state.lock().trace.push(event);
    }

    /// Takes Deferred k's tail for an operation, or records that Rust cannot reach it.
    fn take(&self, k: usize) -> Option<Deferred<V>> {
        let mut st = self.state.lock();
        let tail = st.tails[k].take();
        if tail.is_none() {
            st.trace.push(json!(["unavailable", k]));
        }
        tail
    }

    fn put(&self, k: usize, tail: Deferred<V>) {
        let old = self.state.lock().tails[k].replace(tail);
        assert!(old.is_none(), "Deferred {k} got a second tail");
    }

    fn resolver(&self, k: usize) -> Resolver<V> {
        self.state.lock().resolvers[k].clone().expect("needs_resolver kept every resolver used")
    }

    fn op(self: &Arc<Self>, i: usize, op: &Op) {
        match *op {
            Op::Add(d, kind, ref fns) => {
                if let Some(tail) = self.take(d) {
                    let tail = self.add(tail, d, Sid::Top(i), kind, fns);
                    self.put(d, tail);
                }
            }
            Op::Callback(d, v) => {
                let fired = self.resolver(d).callback(v);
                self.record_fire(d, fired);
            }
            Op::Errback(d, tag) => {
                let fired = self.resolver(d).errback(raise(tag));
                self.record_fire(d, fired);
            }
            Op::Pause(d) => {
                // Through the tail while the program still has it, else through the resolver.
                let tail = self.state.lock().tails[d].take();
                match tail {
                    Some(mut tail) => {
                        tail.pause();
                        self.put(d, tail);
                    }
                    None => self.resolver(d).pause(),
                }
                self.state.lock().pauses[d] += 1;
            }
            Op::Unpause(d) => match self.resolver(d).unpause() {
                Ok(()) => self.state.lock().pauses[d] -= 1,
                // Twisted lets the counter go negative; this crate refuses (a listed difference).
                Err(deferreds::NotPausedError) => self.record(json!(["unpause_refused", d])),
            },
            Op::Cancel(d) => {
                if let Some(tail) = self.take(d) {
                    tail.cancel();
                    self.put(d, tail);
                }
            }
            Op::Chain(d, e) => {
                if let Some(tail) = self.take(d) {
                    let target = self.resolver(e);
                    // Twisted's chain goes on with None, what `e.callback` returned.
                    let tail = tail.chain_deferred(&target).map(|()| None);
                    self.put(d, tail);
                }
            }
        }
    }

    fn record_fire(&self, d: usize, fired: Result<(), AlreadyCalledError>) {
        let outcome = if fired.is_ok() { "ok" } else { "AlreadyCalled" };
        self.record(json!(["fire", d, outcome]));
    }

    /// Adds one step of `kind` to Deferred d's `tail` and returns the new tail.
    fn add(
        self: &Arc<Self>,
        tail: Deferred<V>,
        d: usize,
        sid: Sid,
        kind: Kind,
        fns: &[StepFn],
    ) -> Deferred<V> {
        // A nest step owns its Deferred's tail from the moment it is added.
        let mut cells: Vec<(usize, Cell)> = Vec::new();
        let mut cell_of = |f: &StepFn| -> Option<Cell> {
            let StepFn::Nest(j) = *f else { return None };
            if let Some((_, cell)) = cells.iter().find(|(k, _)| *k == j) {
                return Some(cell.clone());
            }
            let cell = Arc::new(Mutex::new(self.take(j)));
            cells.push((j, cell.clone()));
            Some(cell)
        };
        let halves: Vec<(StepFn, Option<Cell>)> =
            fns.iter().map(|f| (f.clone(), cell_of(f))).collect();
        {
            let mut st = self.state.lock();
            for (j, _) in &cells {
                st.nested[*j] = true;
            }
        }
        let step = |(f, cell): (StepFn, Option<Cell>)| {
            let machine = self.clone();
            move |input: Result<V, Failure>| machine.step(d, sid, &f, cell, input)
        };
        let mut halves = halves.into_iter();
        let first = halves.next().expect("a step has a function");
        match kind {
            Kind::Callback => {
                let step = step(first);
                tail.add_callback(move |v| step(Ok(v)))
            }
            Kind::Errback => {
                let step = step(first);
                tail.add_errback(move |f| step(Err(f)))
            }
            Kind::Both => tail.add_both(step(first)),
            Kind::Callbacks => {
                let (cb, eb) = (step(first), step(halves.next().expect("callbacks has two")));
                tail.add_callbacks(move |v| cb(Ok(v)), move |f| eb(Err(f)))
            }
        }
    }

    /// One step running: record it, then do what its function says.
    fn step(
        self: &Arc<Self>,
        d: usize,
        sid: Sid,
        f: &StepFn,
        cell: Option<Cell>,
        input: Result<V, Failure>,
    ) -> Step<V> {
        let half = if input.is_ok() { "cb" } else { "eb" };
        self.record(json!(["step", d, sid.json(), half, show(&input)]));
        let pass = |input: Result<V, Failure>| match input {
            Ok(v) => Step::Value(v),
            Err(f) => Step::Fail(f),
        };
        match *f {
            StepFn::Add(n) => match input {
                Ok(Some(x)) => Step::Value(Some(x.checked_add(n).expect("short programs"))),
                _ => Step::Fail(Failure::new(TypeError)),
            },
            StepFn::Fail(tag) => Step::Fail(raise(tag)),
            StepFn::Recover(v) => Step::Value(v),
            StepFn::Pass => pass(input),
            StepFn::Trap(tag, v) => match input {
                Ok(x) => Step::Value(x),
                Err(f) => match trap(&f, tag) {
                    Ok(()) => Step::Value(v),
                    Err(f) => Step::Fail(f),
                },
            },
            StepFn::Nest(_) => match cell.and_then(|cell| cell.lock().take()) {
                Some(inner) => Step::Wait(inner),
                // The tail was unavailable when the step was added (recorded then).
                None => pass(input),
            },
            StepFn::NestFired(v) => Step::Wait(succeed(v)),
            StepFn::NestFailed(tag) => Step::Wait(fail(raise(tag))),
            StepFn::Fire(k, v) => {
                let resolver = self.resolver(k);
                let fire = || -> Result<(), Failure> {
                    resolver.callback(v)?; // Twisted's raise: the step's failure
                    Ok(())
                };
                match fire() {
                    Ok(()) => pass(input),
                    Err(f) => Step::Fail(f),
                }
            }
            StepFn::Cancel(k) => {
                if let Some(tail) = self.take(k) {
                    tail.cancel();
                    self.put(k, tail);
                }
                pass(input)
            }
            StepFn::AddTo(k, kind, ref fns) => {
                if let Some(tail) = self.take(k) {
                    let tail = self.add(tail, k, sid.added(), kind, fns);
                    self.put(k, tail);
                }
                pass(input)
            }
        }
    }

    /// The `final` events, read through the public API only.
    fn finish(&self) -> Vec<Json> {
        let n = self.state.lock().tails.len();
        for d in 0..n {
            let (tail, resolver, nested, paused) = {
                let mut st = self.state.lock();
                (st.tails[d].take(), st.resolvers[d].clone(), st.nested[d], st.pauses[d])
            };
            let called = match (&resolver, &tail) {
                (Some(r), _) => r.called(),
                (None, Some(t)) => t.called(),
                (None, None) => unreachable!("a nested Deferred keeps its resolver"),
            };
            if let Some(t) = &tail {
                assert_eq!(t.called(), called, "Deferred {d}: tail and resolver disagree");
                assert_eq!(t.is_paused(), paused > 0, "Deferred {d}: is_paused disagrees");
            }
            let state = if nested {
                "nested".to_owned()
            } else {
                let tail = tail.expect("a tail that is not nested is back in the table");
                if !called {
                    "pending".to_owned()
                } else if paused > 0 {
                    "paused".to_owned()
                } else if tail.is_waiting() {
                    "waiting".to_owned()
                } else {
                    match tail.try_result() {
                        deferreds::TryResult::Value(value) => show(&Ok(value)),
                        deferreds::TryResult::Failure(failure) => show(&Err(failure)),
                        deferreds::TryResult::Pending(tail) => format!("unsettled {tail:?}"),
                    }
                }
            };
            self.record(json!(["final", d, called, paused, state]));
        }
        std::mem::take(&mut self.state.lock().trace)
    }

    /// Drops every handle the machine holds, outside the lock: the steps that hold the
    /// machine go with the chains.
    /// Frees the run once its trace is taken.
    ///
    /// A program may leave Deferreds unfired whose steps hold each other's resolvers (a `fire`
    /// step, a nest step owning another tail). In Rust that is a reference cycle, which
    /// Twisted's garbage collector would have collected; firing every Deferred runs or drops
    /// those steps and breaks it. Whatever the steps record now is not part of the trace.
    fn clear(&self) {
        let held: Vec<(Resolver<V>, u32)> = {
            let st = self.state.lock();
            st.resolvers
                .iter()
                .zip(&st.pauses)
                .filter_map(|(r, &pauses)| r.clone().map(|r| (r, pauses)))
                .collect()
        };
        for (resolver, pauses) in &held {
            for _ in 0..*pauses {
                let _ = resolver.unpause();
            }
        }
        for (resolver, _) in &held {
            let _ = resolver.callback(None);
        }
        drop(held);
        let (mut tails, resolvers) = {
            let mut st = self.state.lock();
            (std::mem::take(&mut st.tails), std::mem::take(&mut st.resolvers))
        };
        for tail in tails.iter_mut().flatten() {
            while tail.unpause().is_ok() {}
        }
        for resolver in resolvers.iter().flatten() {
            while resolver.unpause().is_ok() {}
            let _ = resolver.errback(Failure::msg("end of program"));
        }
        drop(tails);
        drop(resolvers);
    }
}
