//! What a [`Runner`](super::Runner) runs a program in: the program's Deferreds and resolvers,
//! its operations done on this crate, and the trace of what happened.
//!
//! Part of `proptest`, on the public API and `testing`: it knows nothing of the engine, the
//! combinators' insides, the primitives, the async bridge or the reactor.

use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::{Cell, Hands, State, World, needs_resolver};
use crate::deferred::resolver::Resolver;
use crate::deferred::step::{Step, TryResult};
use crate::deferred::{Deferred, fail, succeed};
use crate::failure::Failure;
use crate::proptest::event::{Event, FinalState, StepId};
use crate::proptest::outcome::{Value, outcome_of};
use crate::proptest::program::{Attach, Canceller, Op, Program, StepFn};
impl World {
    pub(super) fn new(program: &Program, world: &Weak<World>) -> World {
        let n = program.deferreds.len();
        let mut tails = Vec::with_capacity(n);
        let mut resolvers = Vec::with_capacity(n);
        for canceller in &program.deferreds {
            let (tail, resolver) = match *canceller {
                Canceller::None => Deferred::new(),
                Canceller::Noop => Deferred::with_canceller(|_: &Resolver<Value>| {}),
                Canceller::Fire(v) => Deferred::with_canceller(move |r: &Resolver<Value>| {
                    let _ = r.callback(v);
                }),
                Canceller::Fail(tag) => Deferred::with_canceller(move |r: &Resolver<Value>| {
                    let _ = r.errback(Failure::new(tag));
                }),
                Canceller::FireOther(k, v) => {
                    let world = world.clone();
                    Deferred::with_canceller(move |_: &Resolver<Value>| {
                        if let Some(world) = world.upgrade() {
                            if let Some(other) = world.resolver(k) {
                                // Twisted's canceller lets the AlreadyCalledError out of
                                // `cancel()`; here it is ignored.
                                let _ = other.callback(v);
                            }
                        }
                    })
                }
            };
            tails.push(Some(tail));
            resolvers.push(Some(resolver));
        }
        World {
            state: Mutex::new(State {
                tails,
                resolvers,
                hands: vec![Hands::Program; n],
                nested: vec![false; n],
                pauses: vec![0; n],
                events: Vec::new(),
            }),
        }
    }

    /// Lets go of the resolvers the program will not use, so that those tails are their
    /// chains' only handles.
    pub(super) fn drop_unused_resolvers(&self, program: &Program) {
        let unused: Vec<Resolver<Value>> = {
            let mut st = self.state.lock();
            let unused: Vec<usize> = (0..st.resolvers.len())
                .filter(|&d| st.hands[d] == Hands::Program && !needs_resolver(program, d))
                .collect();
            unused.into_iter().filter_map(|d| st.resolvers[d].take()).collect()
        };
        drop(unused);
    }

    fn record(&self, event: Event) {
        self.state.lock().events.push(event);
    }

    /// What `get` finds of Deferred k's, or the record that the program cannot reach it.
    fn reach<T>(&self, k: usize, get: impl FnOnce(&mut State) -> Option<T>) -> Option<T> {
        let mut st = self.state.lock();
        let found = get(&mut st);
        if found.is_none() {
            st.events.push(Event::Unavailable(k));
        }
        found
    }

    /// Takes Deferred k's tail for an operation, or records that it is out of reach.
    fn take(&self, k: usize) -> Option<Deferred<Value>> {
        self.reach(k, |st| st.tails[k].take())
    }

    fn put(&self, k: usize, tail: Deferred<Value>) {
        let old = self.state.lock().tails[k].replace(tail);
        debug_assert!(old.is_none(), "Deferred {k} got a second tail");
    }

    /// Lends Deferred k's tail to `f`, which hands back the tail to keep, or records that it
    /// is out of reach.
    fn with_tail(&self, k: usize, f: impl FnOnce(Deferred<Value>) -> Deferred<Value>) {
        if let Some(tail) = self.take(k) {
            let tail = f(tail);
            self.put(k, tail);
        }
    }

    fn resolver(&self, k: usize) -> Option<Resolver<Value>> {
        self.state.lock().resolvers[k].clone()
    }

    /// Deferred k's resolver, or the record that the program cannot reach it.
    fn resolver_or_unavailable(&self, k: usize) -> Option<Resolver<Value>> {
        self.reach(k, |st| st.resolvers[k].clone())
    }

    pub(super) fn op(self: &Arc<Self>, i: usize, op: &Op) {
        match *op {
            Op::Add(d, ref attach) => {
                self.with_tail(d, |tail| self.add(tail, d, StepId::Op(i), attach))
            }
            Op::Callback(d, v) => {
                if let Some(resolver) = self.resolver_or_unavailable(d) {
                    let accepted = resolver.callback(v).is_ok();
                    self.record(Event::Fired { d, accepted });
                }
            }
            Op::Errback(d, tag) => {
                if let Some(resolver) = self.resolver_or_unavailable(d) {
                    let accepted = resolver.errback(Failure::new(tag)).is_ok();
                    self.record(Event::Fired { d, accepted });
                }
            }
            Op::Pause(d) => {
                // Through the tail while the program has it, else through the resolver.
                let tail = self.state.lock().tails[d].take();
                match tail {
                    Some(mut tail) => {
                        tail.pause();
                        self.put(d, tail);
                    }
                    None => match self.resolver_or_unavailable(d) {
                        Some(resolver) => resolver.pause(),
                        None => return,
                    },
                }
                self.state.lock().pauses[d] += 1;
            }
            Op::Unpause(d) => {
                let unpaused = match self.resolver(d) {
                    Some(resolver) => resolver.unpause(),
                    None => match self.take(d) {
                        Some(mut tail) => {
                            let unpaused = tail.unpause();
                            self.put(d, tail);
                            unpaused
                        }
                        None => return,
                    },
                };
                match unpaused {
                    Ok(()) => self.state.lock().pauses[d] -= 1,
                    // Twisted lets the counter go negative; this crate refuses.
                    Err(crate::error::NotPausedError) => self.record(Event::UnpauseRefused(d)),
                }
            }
            Op::Cancel(d) => self.with_tail(d, |tail| {
                tail.cancel();
                tail
            }),
            Op::ChainDeferred(d, e) => self.with_tail(d, |tail| {
                match self.resolver_or_unavailable(e) {
                    // Twisted's chain goes on with None, what `e.callback` returned.
                    Some(target) => tail.chain_deferred(&target).map(|()| None),
                    None => tail,
                }
            }),
        }
    }

    /// Adds one step to Deferred d's `tail` and returns the new tail. A nest function owns
    /// its Deferred's tail from the moment the step is added.
    fn add(
        self: &Arc<Self>,
        tail: Deferred<Value>,
        d: usize,
        id: StepId,
        attach: &Attach,
    ) -> Deferred<Value> {
        // Both halves of a `callbacks` pair that nest the same Deferred share its tail; the
        // half that runs takes it.
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
            attach.fns().map(|f| (f.clone(), cell_of(f))).collect();
        {
            let mut st = self.state.lock();
            for (j, _) in &cells {
                st.nested[*j] = true;
            }
        }
        let step = |(f, cell): (StepFn, Option<Cell>)| {
            let world = Arc::downgrade(self);
            move |input: Result<Value, Failure>| run_step(&world, d, id, &f, cell, input)
        };
        let mut halves = halves.into_iter();
        let first = step(halves.next().expect("a step has a function"));
        match attach {
            Attach::Callback(_) => tail.add_callback(move |v| first(Ok(v))),
            Attach::Errback(_) => tail.add_errback(move |f| first(Err(f))),
            Attach::Both(_) => tail.add_both(first),
            Attach::Callbacks(..) => {
                let second = step(halves.next().expect("a callbacks pair has two functions"));
                tail.add_callbacks(move |v| first(Ok(v)), move |f| second(Err(f)))
            }
        }
    }

    /// The final events, read through the public API only.
    pub(super) fn finish(&self) -> Vec<Event> {
        let n = self.state.lock().tails.len();
        // The tails read here stay alive until `release`, so that no chain goes away while
        // the others are read.
        let mut read = Vec::with_capacity(n);
        for d in 0..n {
            let (tail, resolver, hands, nested, paused) = {
                let mut st = self.state.lock();
                let tail = st.tails[d].take();
                (tail, st.resolvers[d].clone(), st.hands[d], st.nested[d], st.pauses[d])
            };
            let called = match (&resolver, &tail) {
                (Some(r), _) => r.called(),
                (None, Some(t)) => t.called(),
                // An adopted Deferred that a nest step took: neither end is the program's.
                (None, None) => false,
            };
            if let (Some(r), Some(t)) = (&resolver, &tail) {
                if t.called() != r.called() {
                    let detail = format!(
                        "the tail says called: {}, the resolver {}",
                        t.called(),
                        r.called()
                    );
                    self.record(Event::Inconsistent { d, detail });
                }
            }
            if let (Some(t), Hands::Program) = (&tail, hands) {
                if t.is_paused() != (paused > 0) {
                    let detail = format!("is_paused() is {} with {paused} pauses", t.is_paused());
                    self.record(Event::Inconsistent { d, detail });
                }
            }
            let state = if nested {
                FinalState::Nested
            } else if hands == Hands::Taken {
                FinalState::Held
            } else {
                match tail {
                    None => FinalState::Unsettled("no tail in the program's hands".to_owned()),
                    Some(t) if !called || paused > 0 || t.is_waiting() => {
                        read.push(t);
                        if !called {
                            FinalState::Pending
                        } else if paused > 0 {
                            FinalState::Paused
                        } else {
                            FinalState::Waiting
                        }
                    }
                    Some(t) => match t.try_result() {
                        TryResult::Value(value) => FinalState::Result(outcome_of(&Ok(value))),
                        TryResult::Failure(failure) => {
                            FinalState::Result(outcome_of(&Err(failure)))
                        }
                        TryResult::Pending(t) => {
                            let state = FinalState::Unsettled(format!("{t:?}"));
                            read.push(t);
                            state
                        }
                    },
                }
            };
            self.record(Event::Final { d, called, paused, state });
        }
        self.state.lock().tails.extend(read.into_iter().map(Some));
        std::mem::take(&mut self.state.lock().events)
    }

    /// Lets go of everything the run holds, the program's outstanding pauses undone first.
    /// The resolvers of the program's own Deferreds that were never fired are returned, to be
    /// fired by [`free`] once the failures reported here have been counted.
    pub(super) fn release(self: Arc<Self>) -> Vec<Resolver<Value>> {
        let (mut tails, resolvers, hands, pauses) = {
            let mut st = self.state.lock();
            (
                std::mem::take(&mut st.tails),
                std::mem::take(&mut st.resolvers),
                std::mem::take(&mut st.hands),
                std::mem::take(&mut st.pauses),
            )
        };
        // From here on the steps only compute.
        drop(self);
        for (d, &count) in pauses.iter().enumerate() {
            for _ in 0..count {
                let unpaused = match (&resolvers[d], &mut tails[d]) {
                    (Some(r), _) => r.unpause(),
                    (None, Some(t)) => t.unpause(),
                    (None, None) => Ok(()),
                };
                debug_assert!(unpaused.is_ok(), "the program's own pauses are outstanding");
            }
        }
        drop(tails);
        let mut leftovers = Vec::new();
        let mut others = Vec::new();
        for (d, resolver) in resolvers.into_iter().enumerate() {
            let Some(resolver) = resolver else { continue };
            if hands[d] == Hands::Program && !resolver.called() {
                leftovers.push(resolver);
            } else {
                others.push(resolver);
            }
        }
        drop(others);
        leftovers
    }
}

/// One step running: record it, then do what its function says. Once the run is over (the
/// world is gone), a step only computes.
fn run_step(
    world: &Weak<World>,
    d: usize,
    id: StepId,
    f: &StepFn,
    cell: Option<Cell>,
    input: Result<Value, Failure>,
) -> Step<Value> {
    let world = world.upgrade();
    let seen = outcome_of(&input);
    if let Some(world) = &world {
        world.record(Event::Step { d, step: id, input: seen.clone() });
    }
    let pass = |input: Result<Value, Failure>| match input {
        Ok(v) => Step::Value(v),
        Err(f) => Step::Fail(f),
    };
    match *f {
        StepFn::Nest(_) => match cell.and_then(|cell| cell.lock().take()) {
            Some(inner) => Step::Wait(inner),
            // The tail was out of reach when the step was added (recorded then).
            None => pass(input),
        },
        StepFn::NestFired(v) => Step::Wait(succeed(v)),
        StepFn::NestFailed(tag) => Step::Wait(fail(Failure::new(tag))),
        StepFn::Fire(k, v) => {
            let Some(resolver) = world.and_then(|w| w.resolver_or_unavailable(k)) else {
                return pass(input);
            };
            let fire = || -> Result<(), Failure> {
                resolver.callback(v)?; // Twisted's raise: the step's failure
                Ok(())
            };
            match fire() {
                Ok(()) => pass(input),
                Err(failure) => Step::Fail(failure),
            }
        }
        StepFn::Cancel(k) => {
            if let Some(world) = world {
                world.with_tail(k, |tail| {
                    tail.cancel();
                    tail
                });
            }
            pass(input)
        }
        StepFn::AddTo(k, ref attach) => {
            if let Some(world) = world {
                world.with_tail(k, |tail| world.add(tail, k, id.added(), attach));
            }
            pass(input)
        }
        _ => {
            drop(world);
            let output = f.apply(seen.clone()).expect("the other step functions compute");
            match (output, input) {
                (Ok(v), _) => Step::Value(v),
                // A failure that goes on unchanged is the same failure, not a copy.
                (Err(fault), Err(failure)) if seen.as_ref().err() == Some(&fault) => {
                    Step::Fail(failure)
                }
                (Err(fault), _) => Step::Fail(fault.to_failure()),
            }
        }
    }
}
