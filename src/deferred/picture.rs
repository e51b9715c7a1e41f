//! [`Picture`]: what a Deferred is doing, and the tower of Deferreds it belongs to.
//!
//! Part of the typed Deferred: it knows nothing of the combinators, the primitives, the async
//! bridge or the reactor.

use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use self::dot::Graph;
use crate::chain::look::{Look, StepLook, let_go};
use crate::chain::{Chain, Peek};
use crate::failure::Failure;
use crate::foundation::contain;

mod dot;

/// How many chains a picture shows at each end of each side of its chain: the nearest and the
/// farthest. A longer side is shown as its two ends and a count of the chains between.
const ENDS: usize = 8;

/// How many pending steps a picture lists for one chain; the rest are counted.
const STEPS: usize = 8;

/// A snapshot of a Deferred's chain and of the tower of chains it belongs to, for reading.
///
/// A chain whose step returned a Deferred waits on that Deferred's chain, which may wait on
/// another: a tower. The picture shows the whole tower, outermost chain first, and for each
/// chain:
///
/// - its state: pending (with or without a canceller), its result, waiting on the chain below
///   it, running its steps, or its result handed on; whether it is paused (and how many
///   times), was cancelled, or is awaited by a task or by a combinator it is an input of;
/// - how many steps are pending, and in [debug mode](crate::set_debugging), what each one is
///   (a callback, an errback, a `both` or a `callbacks` pair) and where it was added, with where
///   the chain was created and first fired.
///
/// It is Twisted's `Deferred.__repr__` for the whole tower, with what Twisted's debug mode
/// records. [`Deferred::describe`](crate::Deferred::describe) and
/// [`Resolver::describe`](crate::Resolver::describe) take one; `{:#?}` on a Deferred prints
/// one, with the value shown through `T`'s `Debug`. [`to_dot`](Picture::to_dot) and
/// [`Picture::dot`] draw pictures as a Graphviz graph.
///
/// ```
/// use deferreds::Deferred;
///
/// let (inner, fire_inner) = Deferred::<u32>::new();
/// let outer = deferreds::succeed(()).add_callback(move |()| inner).map(|n| n * 2);
/// assert_eq!(
///     outer.describe().to_string(),
///     "Deferred<u32>: a tower of 2 chains, outermost first\n\
///      => #0 waiting on #1, 1 step pending\n   \
///         #1 pending"
/// );
/// fire_inner.callback(21).unwrap();
/// assert_eq!(outer.describe().to_string(), "Deferred<u32>: has its result: 42");
/// ```
///
/// # What it costs, and its limits
///
/// Taking a picture locks each chain of the tower once, one at a time, and runs no user code
/// while it holds a lock; the walk is a loop, so a tower of any height is pictured at constant
/// stack depth. The chains keep running meanwhile, so a picture of a tower that other threads
/// are firing may show the levels at slightly different moments.
///
/// Of a tower taller than 17 chains on either side of the pictured one, a picture keeps the 8
/// nearest and the 8 farthest on that side and counts the rest (a picture of a million-level
/// tower takes one lock per level and shows at most 33 chains); of a chain with more than 8
/// pending steps, it lists the first 8 and counts the rest. The failure and the value a picture
/// shows are the chain's own (a clone of the failure; the value as the engine sees it, or
/// through `T`'s `Debug` for the pictured chain of a `{:#?}`), taken when the picture was.
pub struct Picture {
    /// `Deferred<T>` or `Resolver<T>`.
    name: String,
    /// The pictured chain's value, shown through `T`'s `Debug`.
    value: Option<String>,
    /// The chains that wait on the pictured one, nearest first.
    above: Side,
    this: Level,
    /// The chains it waits on, nearest first.
    below: Side,
    /// The links led back to the pictured chain: a circle of waits, which the engine refuses
    /// as soon as it sees one (it can show only while being undone).
    circle: bool,
}

/// One chain of a picture.
struct Level {
    look: Look,
    /// It waits on a chain that is gone: a cancel lands on it instead.
    inner_gone: bool,
}

/// The chains on one side of the pictured one, nearest first: the nearest [`ENDS`] and the
/// farthest [`ENDS`], and how many between them were left out.
#[derive(Default)]
struct Side {
    near: Vec<Level>,
    far: VecDeque<Level>,
    skipped: usize,
}

impl Side {
    fn push(&mut self, level: Level) {
        if self.near.len() < ENDS {
            self.near.push(level);
            return;
        }
        if self.far.len() == ENDS {
            self.far.pop_front();
            self.skipped += 1;
        }
        self.far.push_back(level);
    }

    fn len(&self) -> usize {
        self.near.len() + self.skipped + self.far.len()
    }

    /// The levels in order, with `None` where the skipped ones were.
    fn iter(&self) -> impl DoubleEndedIterator<Item = Option<&Level>> {
        let gap = (self.skipped > 0).then_some(None);
        self.near.iter().map(Some).chain(gap).chain(self.far.iter().map(Some))
    }
}

/// Walks from `next` away from `chain`, one lock at a time: down the chains they wait on, or
/// up the chains that wait on them. `true` beside the side if the walk came back to `chain`.
fn walk(chain: &Arc<Chain>, mut next: Option<Arc<Chain>>, down: bool) -> (Side, bool) {
    let mut side = Side::default();
    while let Some(current) = next.take() {
        if Arc::ptr_eq(&current, chain) {
            let_go(current);
            return (side, true);
        }
        let (look, links) = current.look(STEPS, down, !down);
        let_go(current);
        // Going up, each chain waits on the one the walk came from, which is there.
        side.push(Level::new(look, down && links.inner.is_none()));
        next = if down { links.inner } else { links.outer };
    }
    (side, false)
}

/// One row of a picture: a chain, or a count of chains left out.
enum Row<'a> {
    Chain { level: &'a Level, this: bool, index: usize },
    Gap { skipped: usize },
}

impl Picture {
    /// Walks the tower around `chain`, one lock at a time.
    pub(crate) fn of_chain(chain: &Arc<Chain>, name: String, value: Option<String>) -> Picture {
        let (look, links) = chain.look(STEPS, true, true);
        let this = Level::new(look, links.inner.is_none());
        let (below, circle_below) = walk(chain, links.inner, true);
        let (above, circle_above) = walk(chain, links.outer, false);
        Picture { name, value, above, this, below, circle: circle_below || circle_above }
    }

    /// A Deferred with no chain: one that has its result and nothing else.
    pub(crate) fn of_result(name: String, peek: Peek, value: Option<String>) -> Picture {
        let look = Look {
            id: 0,
            peek,
            canceller: false,
            paused: 0,
            cancelled: false,
            awaited: false,
            gathered: false,
            steps: Vec::new(),
            pending: 0,
            created: None,
            fired: None,
        };
        let this = Level { look, inner_gone: false };
        Picture { name, value, above: Side::default(), this, below: Side::default(), circle: false }
    }

    /// How many chains the tower has, the pictured one included, whether shown or counted.
    ///
    /// ```
    /// let (inner, _fire) = deferreds::Deferred::<u8>::new();
    /// let outer = deferreds::succeed(()).add_callback(move |()| inner);
    /// assert_eq!(outer.describe().chains(), 2);
    /// assert_eq!(deferreds::succeed(1).describe().chains(), 1);
    /// ```
    pub fn chains(&self) -> usize {
        self.above.len() + 1 + self.below.len()
    }

    /// The pictured chain's place in the tower, counted from the outermost chain, which is 0.
    ///
    /// ```
    /// let (inner, fire_inner) = deferreds::Deferred::<u8>::new();
    /// let outer = deferreds::succeed(()).add_callback(move |()| inner);
    /// assert_eq!(fire_inner.describe().position(), 1);
    /// assert_eq!(outer.describe().position(), 0);
    /// ```
    pub fn position(&self) -> usize {
        self.above.len()
    }

    /// The rows of the tower, outermost first.
    fn rows(&self) -> Vec<Row<'_>> {
        let mut rows = Vec::new();
        let mut index = 0;
        let above = self.above.iter().rev().map(|level| (level, self.above.skipped, false));
        let this = std::iter::once((Some(&self.this), 0, true));
        let below = self.below.iter().map(|level| (level, self.below.skipped, false));
        for (level, skipped, this) in above.chain(this).chain(below) {
            match level {
                Some(level) => {
                    rows.push(Row::Chain { level, this, index });
                    index += 1;
                }
                None => {
                    rows.push(Row::Gap { skipped });
                    index += skipped;
                }
            }
        }
        rows
    }

    /// The picture as a Graphviz graph (DOT): a box per chain, an arrow from each waiting
    /// chain to the chain it waits on.
    ///
    /// ```
    /// let (inner, _fire) = deferreds::Deferred::<u8>::new();
    /// let outer = deferreds::succeed(()).add_callback(move |()| inner);
    /// let dot = outer.describe().to_dot();
    /// assert!(dot.starts_with("digraph deferreds {"));
    /// assert!(dot.contains("c0 -> c1 [label=\"waits on\"];"));
    /// ```
    pub fn to_dot(&self) -> String {
        Picture::dot([self])
    }

    /// Several pictures as one Graphviz graph (DOT): a chain that appears in more than one
    /// (two Deferreds of one tower) is drawn once, so the graph shows how they nest.
    ///
    /// Render it with `dot -Tsvg`. Each box shows a chain's state and its pending steps; the
    /// box of each pictured chain is headed with its Deferred's type, and chains a picture
    /// left out are drawn as one box that counts them.
    ///
    /// ```
    /// use deferreds::{Deferred, Picture};
    ///
    /// let (a, _fire_a) = Deferred::<u8>::new();
    /// let (b, _fire_b) = Deferred::<u8>::new();
    /// let waits_on_a = deferreds::succeed(()).add_callback(move |()| a);
    /// let graph = Picture::dot(&[waits_on_a.describe(), b.describe()]);
    /// assert_eq!(graph.matches("[label=").count(), 3 + 1, "three chains, one arrow");
    /// ```
    pub fn dot<'a>(pictures: impl IntoIterator<Item = &'a Picture>) -> String {
        let mut graph = Graph::default();
        for picture in pictures {
            graph.add(picture);
        }
        graph.finish()
    }
}

impl Level {
    fn new(look: Look, no_inner: bool) -> Level {
        let inner_gone = matches!(look.peek, Peek::Waiting) && no_inner;
        Level { look, inner_gone }
    }

    /// The state, as the line of this chain says it. `below` names the chain it waits on, if
    /// the line is to name it.
    fn state(&self, value: Option<&str>, below: Option<&str>, out: &mut String) {
        let look = &self.look;
        match &look.peek {
            Peek::Pending if look.canceller => out.push_str("pending, with a canceller"),
            Peek::Pending => out.push_str("pending"),
            Peek::Ok(described) => {
                let _ = write!(out, "has its result: {}", value.unwrap_or(described));
            }
            Peek::Err(failure) => {
                let _ = write!(out, "has failed: {}", show_failure(failure));
            }
            Peek::Waiting if self.inner_gone => out.push_str("waiting on a Deferred that is gone"),
            Peek::Waiting => match below {
                Some(below) => {
                    let _ = write!(out, "waiting on {below}");
                }
                None => out.push_str("waiting"),
            },
            Peek::Running => out.push_str("running its steps"),
            Peek::Consumed => out.push_str("result handed on"),
        }
        if look.paused > 0 {
            let _ = write!(out, ", paused ({})", look.paused);
        }
        if look.cancelled {
            out.push_str(", cancelled");
        }
        match look.pending {
            0 => {}
            1 => out.push_str(", 1 step pending"),
            n => {
                let _ = write!(out, ", {n} steps pending");
            }
        }
        if look.awaited {
            out.push_str(", awaited by a task");
        }
        if look.gathered {
            out.push_str(", an input of a combinator");
        }
    }

    /// The lines under the state: where the chain was made and fired, and its pending steps,
    /// as far as anything recorded them.
    fn details(&self) -> Vec<String> {
        let look = &self.look;
        let mut lines = Vec::new();
        match (look.created, look.fired) {
            (Some(created), Some(fired)) => {
                lines.push(format!("created at {created}, fired at {fired}"))
            }
            (Some(created), None) => lines.push(format!("created at {created}")),
            _ => {}
        }
        let seen = look.steps.iter().any(|step| !matches!(step, StepLook::Unseen));
        if seen || look.created.is_some() {
            for step in &look.steps {
                lines.push(match step {
                    StepLook::Added(site) => {
                        format!("{} added at {}", site.kind.name(), site.at)
                    }
                    StepLook::Fires => "chain_deferred: fires another Deferred".to_owned(),
                    StepLook::Unseen => {
                        "a step added by the crate, or before debug mode was on".to_owned()
                    }
                });
            }
            let more = look.pending - look.steps.len();
            if more > 0 {
                lines.push(format!("... and {more} more {}", plural(more, "step", "steps")));
            }
        }
        lines
    }
}

impl fmt::Display for Picture {
    /// The tower as text, outermost chain first, the pictured chain marked `=>`; a chain alone
    /// on one line (and the lines under it). See [`Picture`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.value.as_deref();
        if self.chains() == 1 && !self.circle {
            let mut line = String::new();
            self.this.state(value, Some("another Deferred"), &mut line);
            write!(f, "{}: {line}", self.name)?;
            for detail in self.this.details() {
                write!(f, "\n    {detail}")?;
            }
            return Ok(());
        }
        write!(f, "{}: a tower of {} chains, outermost first", self.name, group(self.chains()))?;
        for row in self.rows() {
            match row {
                Row::Gap { skipped } => {
                    let chains = plural(skipped, "chain", "chains");
                    write!(f, "\n   ... {} more {chains} ...", group(skipped))?;
                }
                Row::Chain { level, this, index } => {
                    let mut line = String::new();
                    let below = format!("#{}", group(index + 1));
                    level.state(if this { value } else { None }, Some(&below), &mut line);
                    let mark = if this { "=>" } else { "  " };
                    write!(f, "\n{mark} #{} {line}", group(index))?;
                    for detail in level.details() {
                        write!(f, "\n      {detail}")?;
                    }
                }
            }
        }
        if self.circle {
            f.write_str("\n   ... and back to the marked chain: the waits form a circle")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Picture {
    /// The same text as [`Display`](fmt::Display).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A failure as a picture shows it: its type and message; if its `Display` panics, what
/// [`contain::unprintable`] says instead.
fn show_failure(failure: &Failure) -> String {
    match contain::format_contained(failure) {
        Ok(message) => format!("{}: {message}", failure.type_name()),
        Err(panic) => {
            format!("{}: <formatting this error panicked: {panic}>", failure.type_name())
        }
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// `1234567` as `1,234,567`.
fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
