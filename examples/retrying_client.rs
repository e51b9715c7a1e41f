//! A client that asks a server and, when no reply comes in time, asks again: property-tested
//! with `deferreds::proptest`.
//!
//! The client sends a request and starts a timer. If the timer goes off first, it sends
//! another request, up to a number of attempts, and keeps listening to the earlier ones: the
//! first reply to arrive, from any attempt, is the caller's result, a value or a failure. If
//! every attempt times out, the caller gets `TimedOut`. If the caller cancels, everything
//! still open is cancelled. Once the call is over, the attempts still open are cancelled, and
//! whatever they bring later is consumed.
//!
//! The property: after any interleaving of replies, failed replies, the caller's cancel and
//! timeouts, and once every timer has gone off, the caller has exactly one result, the right
//! kind of one (a reply, `TimedOut`, or `CancelledError` if it cancelled), and no failure was
//! left unhandled: every reply is consumed. A generated program plays the network; the client
//! takes part through a `Runner`.
//!
//! The same client with one planted bug (the winning reply cancels the other attempts before
//! it claims the caller, and cancelling runs their steps at once) breaks the property, and
//! proptest shrinks the failing case to two operations.
//!
//! Run it with `cargo run --example retrying_client --features proptest`. The guide's chapter
//! is `docs/guide/13-property-testing.md`.

use std::sync::{Arc, Weak};

use deferreds::proptest::runner::Runner;
use deferreds::proptest::{Fault, FinalState, Op, OpKind, Program, Shape, Value};
use deferreds::{CancelledError, Deferred, Failure, Resolver};
use parking_lot::Mutex;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

fn main() {
    match check_many(Client::Fixed, 1000) {
        Ok(()) => println!("the client: 1000 interleavings, every one fine"),
        Err(shrunk) => println!("the client fails:\n{shrunk}"),
    }
    match check_many(Client::PlantedBug, 1000) {
        Ok(()) => println!("the client with the planted bug: no failing case found"),
        Err(shrunk) => println!("the client with the planted bug fails; shrunk to:\n{shrunk}"),
    }
}

// ---- The client.

/// What the client needs from the world: a way to send attempt number `attempt` of the
/// request, whose Deferred fires with the reply, and a timer for that attempt.
pub trait Network: Send + Sync + 'static {
    /// What a reply is.
    type Reply: Send + 'static;
    /// Sends the request again; the Deferred fires with the reply, or fails.
    fn send(&self, attempt: usize) -> Deferred<Self::Reply>;
    /// A Deferred that fires when attempt `attempt` has waited long enough.
    fn timer(&self, attempt: usize) -> Deferred<()>;
}

/// The caller's failure when every attempt timed out.
#[derive(Debug, thiserror::Error)]
#[error("no reply after {attempts} attempts")]
pub struct TimedOut {
    /// How many requests were sent.
    pub attempts: usize,
}

/// Which client: the right one, or the one with the planted bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// The winning reply claims the caller, then cancels the other attempts.
    Fixed,
    /// The winning reply cancels the other attempts first.
    PlantedBug,
}

/// Calls the server through `network`, with up to `attempts` requests. The Deferred fires with
/// the first reply to arrive, or fails with `TimedOut`; cancelling it cancels every attempt
/// still open.
pub fn call<N: Network>(network: Arc<N>, attempts: usize, client: Client) -> Deferred<N::Reply> {
    let call = Arc::new(Call {
        network,
        attempts,
        client,
        state: Mutex::new(State { caller: None, open: Vec::new(), sent: 0 }),
    });
    // The canceller reaches the call weakly: the call holds the caller's resolver.
    let weak: Weak<Call<N>> = Arc::downgrade(&call);
    let (result, caller) = Deferred::with_canceller(move |_: &Resolver<N::Reply>| {
        if let Some(call) = weak.upgrade() {
            // Nothing fires the result here, so it fails with `CancelledError`.
            if call.state.lock().caller.take().is_some() {
                call.cancel_open_attempts();
            }
        }
    });
    call.state.lock().caller = Some(caller);
    call.send();
    result
}

struct Call<N: Network> {
    network: Arc<N>,
    attempts: usize,
    client: Client,
    state: Mutex<State<N::Reply>>,
}

struct State<R> {
    /// The caller's resolver, until the caller has its result: whoever takes it delivers.
    caller: Option<Resolver<R>>,
    /// The reply chains and timers of the attempts still open.
    open: Vec<(Deferred<()>, Deferred<()>)>,
    /// Requests sent so far.
    sent: usize,
}

impl<N: Network> Call<N> {
    /// Sends one more request and starts its timer.
    fn send(self: &Arc<Self>) {
        let attempt = {
            let mut st = self.state.lock();
            st.sent += 1;
            st.sent - 1
        };
        // Either step may run right here, if its Deferred has fired already: no lock held.
        let call = self.clone();
        let reply = self.network.send(attempt).add_both(move |reply| call.on_reply(reply));
        let call = self.clone();
        let timer = self.network.timer(attempt).add_both(move |fired| call.on_timer(fired));
        let mut st = self.state.lock();
        if st.caller.is_some() {
            st.open.push((reply, timer));
            return;
        }
        // The call ended while this attempt was being set up.
        drop(st);
        reply.cancel();
        timer.cancel();
    }

    /// A reply, a failed reply, or the `CancelledError` of an attempt that was cancelled.
    fn on_reply(self: &Arc<Self>, reply: Result<N::Reply, Failure>) -> Result<(), Failure> {
        if self.client == Client::PlantedBug {
            // Tidy up first... but cancelling runs the other attempts' steps right here.
            self.cancel_open_attempts();
        }
        let caller = self.state.lock().caller.take();
        match caller {
            Some(caller) => {
                caller.resolve(reply)?;
                self.cancel_open_attempts();
                Ok(())
            }
            // Late: the caller has its result already. Consumed.
            None => Ok(()),
        }
    }

    /// A timer went off, or failed (time is up all the same), or was cancelled by the call.
    fn on_timer(self: &Arc<Self>, fired: Result<(), Failure>) -> Result<(), Failure> {
        if fired.is_err_and(|f| f.check::<CancelledError>()) {
            return Ok(()); // only the call holds its timers: the call is over
        }
        let mut st = self.state.lock();
        if st.caller.is_none() {
            return Ok(());
        }
        if st.sent < self.attempts {
            drop(st);
            self.send();
            return Ok(());
        }
        let caller = st.caller.take().expect("checked above");
        drop(st);
        caller.errback(Failure::new(TimedOut { attempts: self.attempts }))?;
        self.cancel_open_attempts();
        Ok(())
    }

    /// Cancels every attempt still open: their reply steps get a `CancelledError`.
    fn cancel_open_attempts(&self) {
        let open = std::mem::take(&mut self.state.lock().open);
        for (reply, timer) in &open {
            reply.cancel();
            timer.cancel();
        }
    }
}

// ---- The property.

/// Requests the client may send.
pub const ATTEMPTS: usize = 2;

/// The program's Deferreds: the replies and timers of each attempt, then the caller's result.
pub fn names() -> Vec<String> {
    let replies = (0..ATTEMPTS).map(|i| format!("reply{i}"));
    let timers = (0..ATTEMPTS).map(|i| format!("timer{i}"));
    replies.chain(timers).chain(["caller".to_owned()]).collect()
}

const CALLER: usize = 2 * ATTEMPTS;

/// The world the client lives in, as programs: replies arrive (`replyN.callback`) or fail
/// (`replyN.errback`), timers go off (`timerN.callback`), the caller cancels
/// (`caller.cancel()`). The other operations these draw (a cancel of a reply, which only the
/// client holds) record `Unavailable` and do nothing.
pub fn interleavings() -> Shape {
    Shape::new()
        .deferreds(CALLER + 1)
        .names(names())
        .only(&[OpKind::Callback, OpKind::Errback, OpKind::Cancel])
        .length(0..=8)
        .settle(0.0)
}

/// The network of a run: the program's Deferreds for the replies and the timers.
struct TestNetwork {
    replies: Mutex<Vec<Option<Deferred<Value>>>>,
    timers: Mutex<Vec<Option<Deferred<Value>>>>,
}

impl Drop for TestNetwork {
    /// A reply to a request the client never sent (the program may fire one) is nobody's to
    /// consume: the network drops it, failure or not.
    fn drop(&mut self) {
        let unsent = self.replies.get_mut().drain(..).chain(self.timers.get_mut().drain(..));
        for d in unsent.flatten() {
            drop(d.add_errback(|_| Ok(None)));
        }
    }
}

impl Network for TestNetwork {
    type Reply = Value;

    fn send(&self, attempt: usize) -> Deferred<Value> {
        self.replies.lock()[attempt].take().expect("one request per attempt")
    }

    fn timer(&self, attempt: usize) -> Deferred<()> {
        self.timers.lock()[attempt].take().expect("one timer per attempt").map(drop)
    }
}

/// Runs `program` with the client, then lets every timer go off, and checks the property.
pub fn check(program: &Program, client: Client) -> Result<(), TestCaseError> {
    let mut program = program.clone();
    // Time passes: every timer goes off in the end (those the client cancelled refuse).
    program.ops.extend((0..ATTEMPTS).map(|i| Op::Callback(ATTEMPTS + i, None)));
    let mut runner = Runner::new(&program)?;
    let mut take = |d: usize| runner.take(d).map(Some);
    let network = TestNetwork {
        replies: Mutex::new((0..ATTEMPTS).map(&mut take).collect::<Result<_, _>>()?),
        timers: Mutex::new((ATTEMPTS..CALLER).map(&mut take).collect::<Result<_, _>>()?),
    };
    runner.adopt(CALLER, call(Arc::new(network), ATTEMPTS, client))?;
    let run = runner.run();
    let timed_out = Fault::Other(TimedOut { attempts: ATTEMPTS }.to_string());
    let cancelled = program.ops.contains(&Op::Cancel(CALLER));
    let why = match run.trace.final_state(CALLER) {
        Some(FinalState::Result(Ok(_) | Err(Fault::Raised(_)))) => None, // a reply
        Some(FinalState::Result(Err(fault))) if *fault == timed_out => None,
        Some(FinalState::Result(Err(Fault::Cancelled))) if cancelled => None,
        Some(FinalState::Result(wrong)) => Some(format!("the caller got {wrong:?}")),
        other => Some(format!("the caller has no result: {other:?}")),
    };
    let why = why.or_else(|| {
        let lost = &run.unhandled;
        (!lost.is_empty()).then(|| format!("failures nobody handled: {lost:?}"))
    });
    match why {
        None => Ok(()),
        Some(why) => Err(TestCaseError::fail(format!("{why}\n{program}{}", run.trace))),
    }
}

/// Checks the property on `cases` generated programs; on a failure, the shrunk program and
/// why it fails.
pub fn check_many(client: Client, cases: u32) -> Result<(), String> {
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(
        config,
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    match runner.run(&interleavings(), |program| check(&program, client)) {
        Ok(()) => Ok(()),
        Err(TestError::Fail(why, program)) => Err(format!("{program}why: {why}")),
        Err(TestError::Abort(why)) => Err(format!("aborted: {why}")),
    }
}
