//! The [`Reactor`]'s loop: running and iterating, system events and their triggers, and what
//! the reactor's other parts call on it while it runs.
//!
//! Part of the reactor, on the typed Deferred: it knows nothing of the engine's insides, the
//! combinators, the primitives or the async bridge.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread;

use super::{POOL_RESULT, Reactor, State, THREAD_CALL, TIMED_CALL, TRIGGER, WeakReactor};
use crate::failure::Failure;
use crate::foundation::contain;
use crate::reactor::error::ReactorError;
use crate::reactor::events::{Phase, ReactorFailure, SystemEvent, Trigger, TriggerId, Triggers};
use crate::reactor::pool::Pool;
use crate::reactor::queue::Due;
use crate::reactor::queue::call::Call;
impl Reactor {
    /// Runs the loop on this thread until the reactor is stopped and shutdown completes.
    ///
    /// Fires the startup event, then, each iteration: runs the calls handed over by other
    /// threads, then the timed calls that were due when the iteration began; fires the shutdown
    /// event if [`stop`](Reactor::stop) was called; and sleeps until the next timer or a wake.
    ///
    /// Fails with [`ReactorError::AlreadyRunning`] while it runs and
    /// [`ReactorError::NotRestartable`] once it has run.
    ///
    /// ```
    /// use deferreds::reactor::{Reactor, ReactorError};
    /// let reactor = Reactor::new();
    /// let r = reactor.clone();
    /// reactor.call_when_running(move || {
    ///     assert_eq!(r.run(), Err(ReactorError::AlreadyRunning));
    ///     r.stop().unwrap();
    /// });
    /// reactor.run().unwrap();
    /// assert_eq!(reactor.run(), Err(ReactorError::NotRestartable));
    /// ```
    pub fn run(&self) -> Result<(), ReactorError> {
        {
            let mut st = self.shared.state.lock();
            st.can_run()?;
            st.started = true;
            st.stopped = false;
            st.thread = Some(thread::current().id());
        }
        self.fire_event(SystemEvent::Startup);
        while self.iterate() {
            self.shared.timers.sleep();
        }
        self.finish();
        Ok(())
    }

    /// One iteration; returns whether the loop goes on.
    fn iterate(&self) -> bool {
        let calls = std::mem::take(&mut self.shared.state.lock().thread_calls);
        for call in calls {
            self.guarded(THREAD_CALL, call);
        }
        self.deliver_pool_results();

        let timers = &self.shared.timers;
        let due = Due::Reactor { now: timers.now(), before_seq: timers.next_seq() };
        while let Some(call) = timers.pop_due(due) {
            self.guarded(TIMED_CALL, || Call::run(call));
        }

        loop {
            let mut st = self.shared.state.lock();
            let failures = std::mem::take(&mut st.trigger_failures);
            let event = st.continuing.pop_front();
            drop(st);
            for failure in failures {
                self.report(ReactorFailure { context: TRIGGER, failure });
            }
            match event {
                Some(event) => self.continue_event(event),
                None => break,
            }
        }

        let stopping = std::mem::take(&mut self.shared.state.lock().just_stopped);
        if stopping {
            self.fire_event(SystemEvent::Shutdown);
        }
        !self.shared.state.lock().crashed
    }

    /// Runs an event's "before" triggers, then its other phases now or once their Deferreds
    /// have fired.
    fn fire_event(&self, event: SystemEvent) {
        let mut waits = Vec::new();
        loop {
            // Triggers added by a "before" trigger for the same phase run too, as in Twisted.
            let before = std::mem::take(&mut self.shared.state.lock().triggers(event).before);
            if before.is_empty() {
                break;
            }
            for (_, trigger) in before {
                if let Some(Some(d)) = self.guarded(TRIGGER, trigger) {
                    waits.push(d);
                }
            }
        }
        if waits.is_empty() {
            return self.continue_event(event);
        }
        self.shared.state.lock().triggers(event).waiting = waits.len();
        for d in waits {
            // May run on whichever thread fires `d`: it only records, and wakes the loop.
            let shared = self.shared.clone();
            let wait = d.add_both(move |result| {
                let mut st = shared.state.lock();
                if let Err(failure) = result {
                    st.trigger_failures.push(failure);
                }
                let triggers = st.triggers(event);
                triggers.waiting -= 1;
                if triggers.waiting == 0 {
                    st.continuing.push_back(event);
                }
                drop(st);
                shared.timers.wake();
            });
            // Unless something else can fire it, this is the last handle to the trigger's
            // chain, whose steps are user code.
            self.guarded(TRIGGER, move || drop(wait));
        }
    }

    /// The "during" and "after" phases of `event`.
    fn continue_event(&self, event: SystemEvent) {
        {
            let mut st = self.shared.state.lock();
            match event {
                SystemEvent::Startup => st.running = true,
                SystemEvent::Shutdown => {
                    st.running = false;
                    st.crashed = true;
                }
            }
        }
        if event == SystemEvent::Shutdown {
            // Before the "during" triggers, where Twisted stops its pool.
            self.stop_pool();
        }
        for phase in [Phase::During, Phase::After] {
            loop {
                let batch = std::mem::take(self.shared.state.lock().triggers(event).phase(phase));
                if batch.is_empty() {
                    break;
                }
                for (_, trigger) in batch {
                    // A Deferred returned outside the "before" phase is not waited for. It is
                    // dropped inside the guard: it may be the last handle to a chain whose
                    // steps or value panic when dropped.
                    self.guarded(TRIGGER, move || drop(trigger()));
                }
            }
        }
    }

    /// After the loop: the reactor is done, and whatever is still pending can never run.
    fn finish(&self) {
        let leftovers = {
            let mut st = self.shared.state.lock();
            st.done = true;
            st.started = false;
            st.running = false;
            st.stopped = true;
            (
                std::mem::take(&mut st.thread_calls),
                std::mem::take(&mut st.startup),
                std::mem::take(&mut st.shutdown),
            )
        };
        // The closures nobody will run are dropped here, each group inside a guard: a panic
        // in one of their destructors is reported like a panic in a call, and `run` still
        // returns. (The heap drops every closure even if one panics, then passes the panic on.)
        self.guarded(TIMED_CALL, || self.shared.timers.close());
        let (calls, startup, shutdown) = leftovers;
        self.guarded(THREAD_CALL, move || drop(calls));
        self.guarded(TRIGGER, move || drop((startup, shutdown)));
    }

    /// Runs `f`, reporting a panic instead of unwinding.
    fn guarded<R>(&self, context: &'static str, f: impl FnOnce() -> R) -> Option<R> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(r) => Some(r),
            Err(payload) => {
                self.report(ReactorFailure { context, failure: Failure::from_panic(payload) });
                None
            }
        }
    }

    /// Whether [`run`](Reactor::run) would start the loop now.
    pub(in crate::reactor) fn can_run(&self) -> Result<(), ReactorError> {
        self.shared.state.lock().can_run()
    }

    /// Runs what a pool thread's finished work left for the reactor thread.
    pub(in crate::reactor) fn guarded_delivery(&self, delivery: impl FnOnce()) {
        self.guarded(POOL_RESULT, delivery);
    }

    pub(in crate::reactor) fn pool(&self) -> &Pool {
        &self.shared.pool
    }

    /// A handle that does not keep the reactor alive.
    pub(in crate::reactor) fn downgrade_handle(&self) -> WeakReactor {
        WeakReactor(Arc::downgrade(&self.shared))
    }

    /// Hands a report to the failure handler, or to standard error. Never unwinds: it runs
    /// inside the loop, which must go on (and finish) whatever the report does.
    pub(in crate::reactor) fn report(&self, report: ReactorFailure) {
        let handler = self.shared.state.lock().handler.clone();
        let outcome = catch_unwind(AssertUnwindSafe(|| match &handler {
            Some(handler) => handler(&report),
            None => eprint!("{}", report.render()),
        }));
        if let Err(payload) = outcome {
            contain::drop_payload(payload);
            let text = report.render();
            let _ = catch_unwind(|| {
                eprint!(
                    "deferreds: the reactor's failure handler panicked while reporting:\n{text}"
                )
            });
        }
        // The report may hold the last reference to a failure (a "before" trigger's), whose
        // error's destructor is user code; the handler, the last reference to one replaced
        // meanwhile.
        let _ = catch_unwind(AssertUnwindSafe(move || drop((report, handler))));
    }
}

impl State {
    /// Refuses to run a reactor that has run, or is running.
    fn can_run(&self) -> Result<(), ReactorError> {
        if self.done {
            Err(ReactorError::NotRestartable)
        } else if self.started {
            Err(ReactorError::AlreadyRunning)
        } else {
            Ok(())
        }
    }

    pub(super) fn triggers(&mut self, event: SystemEvent) -> &mut Triggers {
        match event {
            SystemEvent::Startup => &mut self.startup,
            SystemEvent::Shutdown => &mut self.shutdown,
        }
    }

    pub(super) fn add_trigger(
        &mut self,
        event: SystemEvent,
        phase: Phase,
        trigger: Trigger,
    ) -> TriggerId {
        let id = self.next_trigger;
        self.next_trigger += 1;
        self.triggers(event).phase(phase).push((id, trigger));
        TriggerId { event, phase, id }
    }
}
