//! The walk behind [`dropping`](super::cycles::dropping): the chains and tasks reachable from
//! a chain through the engine's links, which of them something outside holds, and the freeing
//! of those nothing outside holds (see `cycles.rs` for the whole of it).
//!
//! Part of the engine: it knows nothing of the typed Deferred, the combinators or the reactor.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::MutexGuard;

use super::awaiters::Awaiting;
use super::cycles::{ByAddress, contained, deferring, dropping};
use super::dispose::Garbage;
use super::steps::Steps;
use super::{COLLECTED, Chain, Slot, State, Waiter, awaiters};
/// What the walk reaches: chains, and the tasks of this crate that await them.
enum Item {
    Chain(Arc<Chain>),
    /// Held by the wakers it left in the chains it awaits; holds its own Deferred, and (through
    /// its future) the tails of the chains it awaits.
    Task(Arc<dyn Awaiting>),
}

impl Item {
    fn chain(&self) -> &Arc<Chain> {
        match self {
            Item::Chain(chain) => chain,
            Item::Task(_) => unreachable!("the walk starts from a chain"),
        }
    }

    fn addr(&self) -> usize {
        match self {
            Item::Chain(chain) => chain.addr(),
            Item::Task(task) => Arc::as_ptr(task) as *const () as usize,
        }
    }
}

/// A chain or task the walk reached.
struct Node {
    item: Item,
    /// Its reference count when the walk read it, less the walk's own reference.
    count: usize,
    /// Links into it from what the walk read.
    links_in: usize,
    /// The nodes it links to.
    out: Vec<usize>,
    /// References not counted in `count`: the caller's, or a poll's under way.
    discount: usize,
    held: bool,
    /// Its references do not matter: see [`FOR_NOTHING`].
    settled_only_by_cancel: bool,
}

/// The count of a task whose first poll has not made its Deferred yet: held, whatever links in.
const HELD: usize = usize::MAX;

/// The count of a chain that nothing but a cancellation from the task awaiting it can settle.
const FOR_NOTHING: usize = usize::MAX - 1;

/// The nodes of a walk, by address.
#[derive(Default)]
pub(super) struct Nodes {
    nodes: Vec<Node>,
    /// By address, once there are too many to search.
    index: HashMap<usize, usize, ByAddress>,
}

impl Nodes {
    /// The node of `item`, added if new.
    fn node(&mut self, item: Item) -> usize {
        const SEARCHED: usize = 16;
        let addr = item.addr();
        let found = if self.nodes.len() <= SEARCHED {
            self.nodes.iter().position(|n| n.item.addr() == addr)
        } else {
            if self.index.is_empty() {
                self.index.extend(self.nodes.iter().enumerate().map(|(j, n)| (n.item.addr(), j)));
            }
            self.index.get(&addr).copied()
        };
        if let Some(j) = found {
            return j;
        }
        let j = self.nodes.len();
        if !self.index.is_empty() {
            self.index.insert(addr, j);
        }
        self.nodes.push(Node {
            item,
            count: 0,
            links_in: 0,
            out: Vec::new(),
            discount: 0,
            held: false,
            settled_only_by_cancel: false,
        });
        j
    }

    fn link(&mut self, from: usize, to: usize) {
        self.nodes[to].links_in += 1;
        self.nodes[from].out.push(to);
    }
}

/// The nodes from which `to` can be reached, `to` included.
fn reaching(nodes: &[Node], to: usize) -> Vec<usize> {
    let mut into: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        for &j in &node.out {
            into[j].push(i);
        }
    }
    let mut seen = vec![false; nodes.len()];
    seen[to] = true;
    let mut stack = vec![to];
    while let Some(j) = stack.pop() {
        for &i in &into[j] {
            if !seen[i] {
                seen[i] = true;
                stack.push(i);
            }
        }
    }
    (0..nodes.len()).filter(|&i| seen[i]).collect()
}

/// What a walk took out of the chains it freed.
pub(super) struct Freed {
    taken: Vec<Garbage>,
    /// The outer chains they had as waiters, which may live on: dropped once the freed chains
    /// are gone, so that the outer ones see it.
    waiters: Vec<Arc<Chain>>,
    chains: Vec<Arc<Chain>>,
}

impl Freed {
    pub(super) fn drop_all(self) {
        for garbage in self.taken {
            deferring(|| {
                for target in garbage._steps.fire_targets() {
                    dropping(target);
                }
                contained(garbage);
            });
        }
        drop(self.chains);
        for outer in self.waiters {
            dropping(&outer);
            contained(Garbage {
                _slot: Slot::Empty,
                _steps: Steps::Empty,
                _waiter: Some(Waiter::Chain(outer)),
            });
        }
    }
}

/// Frees what nothing outside reaches among the chains `root` links to; `None` if `root` is
/// reached from outside or something is changing under the walk. `extra`: references to `root`
/// the caller holds beside the walk's own.
///
/// A chain awaited by a task of this crate links to the task (its waker), and the task links
/// to its own Deferred and back to the chain: the `DeferredFuture` that awaits the chain is
/// taken to be the task's, as it is for an `.await` in the task's future.
pub(super) fn sweep(
    root: Arc<Chain>,
    extra: usize,
    going: Option<&Arc<Chain>>,
    graph: &mut Nodes,
) -> Option<Freed> {
    let is_going = |chain: &Arc<Chain>| going.is_some_and(|g| Arc::ptr_eq(g, chain));
    graph.node(Item::Chain(root));
    let mut i = 0;
    while i < graph.nodes.len() {
        // Less the walk's two references (in `nodes`, and the one taken here), and the
        // `discount` the caller accounts for.
        let (count, discount, out) = match &graph.nodes[i].item {
            Item::Chain(chain) => {
                let chain = chain.clone();
                let st = chain.state.lock();
                if chain.is_running() {
                    // Someone is running it: looked at again when they let go of it.
                    drop(st);
                    let root = Arc::downgrade(graph.nodes[0].item.chain());
                    awaiters::stall(&chain, vec![root]);
                    return None;
                }
                let discount = usize::from(is_going(&chain)) + if i == 0 { extra } else { 0 };
                let mut count = (Arc::strong_count(&chain) - 2).checked_sub(discount)?;
                let mut out = Vec::new();
                // A chain it waits on can be cancelled through it: not a reference, but a way
                // in from outside.
                let reaches = match &st.slot {
                    Slot::Waiting(inner) => inner.upgrade().map(Item::Chain),
                    // A task's Deferred: its canceller hands cancellations to the task.
                    Slot::Pending(Some(canceller)) => {
                        canceller.task().and_then(|t| t.upgrade()).map(Item::Task)
                    }
                    _ => None,
                };
                let mut awaited_by = None;
                match &st.waiter {
                    Some(Waiter::Chain(outer)) => out.push(Item::Chain(outer.clone())),
                    Some(Waiter::Task(awaiter)) => awaited_by = awaiter.task(),
                    // A combinator's: opaque, as a step is.
                    Some(Waiter::Join(..)) | None => {}
                }
                if awaited_by.is_some() && awaiters::waits_on_nothing(&st) {
                    // Awaited, and waiting on a chain freed unfired: only a cancellation from
                    // the task can settle it, whatever else holds it (a fired chain's
                    // resolvers cannot).
                    count = FOR_NOTHING;
                }
                out.extend(st.steps.fire_targets().cloned().map(Item::Chain));
                drop(st);
                if let Some(task) = awaited_by {
                    // The waker links to the task, and the task's future to this chain.
                    let t = graph.node(Item::Task(task));
                    graph.link(i, t);
                    graph.link(t, i);
                }
                if let Some(reached) = reaches {
                    let j = graph.node(reached);
                    graph.nodes[i].out.push(j);
                }
                (count, discount, out)
            }
            Item::Task(task) => {
                let task = task.clone();
                // A poll under way on this thread holds two more (its caller's, and its waker).
                let polled_here = awaiters::polled_here(&task);
                let discount = if polled_here { 2 } else { 0 };
                let count = (Arc::strong_count(&task) - 2).saturating_sub(discount);
                // What it awaits links back to it (found from there).
                for chain in task.awaited() {
                    graph.node(Item::Chain(chain));
                }
                match task.deferred() {
                    Some(deferred) => {
                        // The task holds its Deferred, and a cancellation of the Deferred
                        // reaches the task.
                        let d = graph.node(Item::Chain(deferred));
                        graph.link(i, d);
                        graph.nodes[d].out.push(i);
                        (count, discount, Vec::new())
                    }
                    None => {
                        // Its first poll is under way: the Deferred it is about to make will be
                        // the caller's. Looked at again when the caller lets go of it.
                        if polled_here {
                            awaiters::kept_in_poll(graph.nodes[0].item.chain());
                        }
                        (HELD, discount, Vec::new())
                    }
                }
            }
        };
        graph.nodes[i].count = count;
        graph.nodes[i].discount = discount;
        for item in out {
            // A second reference to a node already there goes here, before its count is read.
            let j = graph.node(item);
            graph.link(i, j);
        }
        i += 1;
    }
    let nodes = &mut graph.nodes;

    // Held from outside: more references than links in. Everything they link to is held too.
    let mut stack = Vec::new();
    for (i, node) in nodes.iter_mut().enumerate() {
        if node.count == FOR_NOTHING {
            // See above: held by nothing that counts.
            node.count = node.links_in;
            node.settled_only_by_cancel = true;
            continue;
        }
        if node.count < node.links_in {
            // A link the walk counted has gone meanwhile.
            return None;
        }
        if node.count > node.links_in {
            node.held = true;
            stack.push(i);
        }
    }
    while let Some(i) = stack.pop() {
        for k in 0..nodes[i].out.len() {
            let j = nodes[i].out[k];
            if !nodes[j].held {
                nodes[j].held = true;
                stack.push(j);
            }
        }
    }
    if nodes[0].held {
        // Looked at again when a handle of a chain that holds it from outside goes (its own
        // handles going are looked at anyway).
        let root = Arc::downgrade(nodes[0].item.chain());
        for k in reaching(nodes, 0).into_iter().filter(|&k| k != 0) {
            if let Item::Chain(chain) = &nodes[k].item {
                if nodes[k].count > nodes[k].links_in {
                    awaiters::stall(chain, vec![root.clone()]);
                }
            }
        }
        return None;
    }

    // Free the chains among the rest, all at once: under all their locks, nothing has changed
    // since. The tasks among them go when the wakers taken from those chains do.
    let free: Vec<(usize, &Arc<Chain>)> = nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.held)
        .filter_map(|(k, n)| match &n.item {
            Item::Chain(chain) => Some((k, chain)),
            Item::Task(_) => None,
        })
        .collect();
    let mut guards: Vec<MutexGuard<'_, State>> = Vec::with_capacity(free.len());
    for &(k, chain) in &free {
        guards.push(chain.state.lock());
        let expected = nodes[k].count + 1 + nodes[k].discount;
        let changed = if nodes[k].settled_only_by_cancel {
            !awaiters::waits_on_nothing(guards.last().expect("just pushed"))
        } else {
            Arc::strong_count(chain) != expected
        };
        if chain.is_running() || changed {
            return None;
        }
    }
    for node in nodes.iter().filter(|n| !n.held) {
        if let Item::Task(task) = &node.item {
            if Arc::strong_count(task) != node.count + 1 + node.discount {
                return None;
            }
        }
    }
    let mut freed = Freed { taken: Vec::new(), waiters: Vec::new(), chains: Vec::new() };
    for (&(_, chain), mut st) in free.iter().zip(guards) {
        chain.marks.fetch_or(COLLECTED, Ordering::Relaxed);
        let canceller = match &mut st.slot {
            Slot::Pending(canceller) => canceller.take(),
            _ => None,
        };
        let steps = std::mem::replace(&mut st.steps, Steps::Empty);
        match st.waiter.take() {
            Some(Waiter::Chain(outer)) => freed.waiters.push(outer),
            other => freed.taken.push(Garbage {
                _slot: Slot::Empty,
                _steps: Steps::Empty,
                _waiter: other,
            }),
        }
        freed.taken.push(Garbage { _slot: Slot::Pending(canceller), _steps: steps, _waiter: None });
        drop(st);
        freed.chains.push(chain.clone());
    }
    Some(freed)
}
