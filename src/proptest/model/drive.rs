//! How the model runs a chain: firing, claiming a run, the steps and what they return, nesting,
//! and cancellation, as a small interpreter of the semantics over plain data.
//!
//! Part of `proptest`, on the public API and `testing`: it knows nothing of the engine, the
//! combinators' insides, the primitives, the async bridge or the reactor.

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::{Fired, Model, Out, Queued, Settled, Slot, Work};
use crate::failure::Failure;
use crate::proptest::event::{Event, StepId};
use crate::proptest::outcome::{Fault, Outcome};
use crate::proptest::program::{Canceller, StepFn};
impl Model {
    /// Fires chain c; whether the fire was accepted.
    pub(super) fn fire(&mut self, c: usize, result: Outcome) -> bool {
        match self.fire_inner(c, result) {
            Some(Fired::Run(work)) => {
                self.drive(c, work);
                true
            }
            Some(_) => true,
            None => false,
        }
    }

    /// Stores a result in a pending chain; `None` if it had one (`AlreadyCalledError`).
    pub(super) fn fire_inner(&mut self, c: usize, result: Outcome) -> Option<Fired> {
        let chain = &mut self.chains[c];
        if let Slot::Pending(_) = chain.slot {
            chain.slot = Slot::Ready(result);
            Some(match self.claim(c) {
                Some(work) => Fired::Run(work),
                None => Fired::Stored,
            })
        } else if chain.grace {
            chain.grace = false;
            Some(Fired::Swallowed)
        } else {
            None
        }
    }

    /// Takes over the run of chain c if nobody runs it and nothing holds it back.
    pub(super) fn claim(&mut self, c: usize) -> Option<Work> {
        let chain = &self.chains[c];
        if chain.running || chain.paused > 0 || !self.is_ready(c) {
            return None;
        }
        self.chains[c].running = true;
        Some(self.next_work(c))
    }

    /// What the owner of chain c's run does next; it lets the run go unless it is more steps.
    pub(super) fn next_work(&mut self, c: usize) -> Work {
        if self.chains[c].paused > 0 || !self.is_ready(c) {
            self.chains[c].running = false;
            return Work::Idle;
        }
        if !self.chains[c].steps.is_empty() {
            let batch = std::mem::take(&mut self.chains[c].steps);
            return Work::Run(batch, self.take_ready(c));
        }
        self.chains[c].running = false;
        match self.chains[c].waiter.take() {
            Some(outer) => Work::Deliver(outer, self.take_ready(c)),
            None => Work::Idle,
        }
    }

    /// Runs chains until there is nothing left to do: the steps of `c`, then whatever its
    /// result reaches. Chains fired through `chain_deferred` run before their firer resumes.
    pub(super) fn drive(&mut self, c: usize, work: Work) {
        let mut current = c;
        let mut work = work;
        let mut parents = Vec::new();
        loop {
            work = match work {
                Work::Run(mut batch, mut input) => loop {
                    let step = batch.pop_front().expect("a batch is never empty");
                    match self.call(step, input) {
                        Out::Ready(r) if !batch.is_empty() && self.chains[current].paused == 0 => {
                            input = r;
                        }
                        out => break Work::Settle(out, Some(batch)),
                    }
                },
                Work::Settle(out, rest) => {
                    let settled = match out {
                        Out::Ready(r) => Settled::Store(r),
                        Out::Wait(j) if j == current => Settled::Store(Err(Fault::CircularChain)),
                        Out::Wait(j) => {
                            if self.settled(j) {
                                Settled::Store(self.take_ready(j))
                            } else {
                                self.chains[j].waiter = Some(current);
                                Settled::Wait(j)
                            }
                        }
                        Out::Fire(target, r) => match self.fire_inner(target, r) {
                            Some(Fired::Run(target_work)) => Settled::Switch(target, target_work),
                            Some(_) => Settled::Store(Ok(None)),
                            None => Settled::Store(Err(Fault::AlreadyCalled)),
                        },
                    };
                    if let Some(rest) = rest {
                        let steps = &mut self.chains[current].steps;
                        for step in rest.into_iter().rev() {
                            steps.push_front(step);
                        }
                    }
                    match settled {
                        Settled::Store(r) => self.chains[current].slot = Slot::Ready(r),
                        Settled::Wait(j) => {
                            self.chains[current].slot = Slot::Waiting(j);
                            if self.chains[current].waiter.is_some() && self.waits_on(j, current) {
                                self.chains[j].waiter = None;
                                self.chains[current].slot = Slot::Ready(Err(Fault::CircularChain));
                            }
                        }
                        Settled::Switch(target, target_work) => {
                            // The firer goes on with `()` (here `None`) once the target's run ends.
                            self.chains[current].slot = Slot::Ready(Ok(None));
                            parents.push(current);
                            current = target;
                            work = target_work;
                            continue;
                        }
                    }
                    self.next_work(current)
                }
                Work::Deliver(outer, r) => {
                    self.chains[outer].slot = Slot::Ready(r);
                    match self.claim(outer) {
                        Some(next) => {
                            current = outer;
                            next
                        }
                        None => Work::Idle,
                    }
                }
                Work::Idle => match parents.pop() {
                    Some(parent) => {
                        current = parent;
                        self.next_work(parent)
                    }
                    None => return,
                },
            };
        }
    }

    /// Whether chain j waits, through the chains its steps returned, on chain c.
    pub(super) fn waits_on(&self, j: usize, c: usize) -> bool {
        let mut k = j;
        for _ in 0..self.chains.len() {
            match self.chains[k].slot {
                Slot::Waiting(next) if next == c => return true,
                Slot::Waiting(next) => k = next,
                _ => return false,
            }
        }
        false
    }

    /// Runs one queued step.
    pub(super) fn call(&mut self, step: Queued, input: Outcome) -> Out {
        match step {
            Queued::ToNone => Out::Ready(input),
            Queued::ChainTo(e) => Out::Fire(e, input),
            Queued::Program { d, id, attach, owned } => match attach.fn_for(&input) {
                None => Out::Ready(input),
                Some(f) => {
                    self.events.push(Event::Step { d, step: id, input: input.clone() });
                    self.step_fn(id, f, &owned, input)
                }
            },
        }
    }

    /// What a step function does.
    pub(super) fn step_fn(
        &mut self,
        id: StepId,
        f: &StepFn,
        owned: &[usize],
        input: Outcome,
    ) -> Out {
        match *f {
            StepFn::Nest(j) if owned.contains(&j) => Out::Wait(j),
            // Its tail was out of reach when the step was added (recorded then).
            StepFn::Nest(_) => Out::Ready(input),
            StepFn::NestFired(v) => Out::Ready(Ok(v)),
            StepFn::NestFailed(tag) => Out::Ready(Err(Fault::Raised(tag))),
            StepFn::Fire(k, v) => {
                if self.fire(k, Ok(v)) {
                    Out::Ready(input)
                } else {
                    Out::Ready(Err(Fault::AlreadyCalled))
                }
            }
            StepFn::Cancel(k) => {
                self.with_tail(k, |model| model.cancel(k));
                Out::Ready(input)
            }
            StepFn::AddTo(k, ref attach) => {
                self.with_tail(k, |model| model.add(k, id.added(), attach));
                Out::Ready(input)
            }
            _ => {
                let output = catch_unwind(AssertUnwindSafe(|| f.apply(input)));
                match output {
                    Ok(output) => Out::Ready(output.expect("the other step functions compute")),
                    Err(payload) => Out::Ready(Err(Fault::of(&Failure::from_panic(payload)))),
                }
            }
        }
    }

    /// Cancels chain c, or the innermost chain it waits on.
    pub(super) fn cancel(&mut self, c: usize) {
        let mut current = c;
        loop {
            let chain = &mut self.chains[current];
            match chain.slot {
                Slot::Pending(_) if chain.cancelling => return,
                Slot::Pending(None) => {
                    chain.grace = true;
                    self.fire(current, Err(Fault::Cancelled));
                    return;
                }
                Slot::Pending(Some(canceller)) => {
                    chain.slot = Slot::Pending(None);
                    chain.cancelling = true;
                    self.run_canceller(current, canceller);
                    self.chains[current].cancelling = false;
                    // Unless the canceller fired it, it fails now.
                    self.fire(current, Err(Fault::Cancelled));
                    return;
                }
                Slot::Waiting(inner) => current = inner,
                _ => return,
            }
        }
    }

    pub(super) fn run_canceller(&mut self, c: usize, canceller: Canceller) {
        match canceller {
            Canceller::None | Canceller::Noop => {}
            Canceller::Fire(v) => {
                self.fire(c, Ok(v));
            }
            Canceller::Fail(tag) => {
                self.fire(c, Err(Fault::Raised(tag)));
            }
            Canceller::FireOther(k, v) => {
                self.fire(k, Ok(v));
            }
        }
    }
}
