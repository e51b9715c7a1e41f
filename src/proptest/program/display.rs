//! How programs print: each Deferred by its name, each step function, operation and canceller
//! as the call that would make it.
//!
//! Part of `proptest`, on the public API and `testing`: it knows nothing of the engine, the
//! combinators' insides, the primitives, the async bridge or the reactor.

use std::fmt;

use super::{Attach, Canceller, Op, Program, StepFn};
use crate::proptest::outcome::ShowValue;
/// Names Deferreds while printing: the program's names, or `d0`, `d1`, ...
#[derive(Clone, Copy)]
pub(crate) struct Names<'a>(pub(crate) &'a [String]);

impl Names<'_> {
    pub(crate) fn write(&self, f: &mut fmt::Formatter<'_>, d: usize) -> fmt::Result {
        match self.0.get(d) {
            Some(name) => f.write_str(name),
            None => write!(f, "d{d}"),
        }
    }
}

/// Something printed with the program's names for its Deferreds.
pub(crate) struct Named<'a, T>(pub(crate) &'a T, pub(crate) Names<'a>);

impl fmt::Display for Named<'_, StepFn> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.1;
        match self.0 {
            StepFn::Add(n) => write!(f, "add({n})"),
            StepFn::Fail(tag) => write!(f, "fail({tag})"),
            StepFn::Recover(v) => write!(f, "recover({})", ShowValue(*v)),
            StepFn::Pass => f.write_str("pass"),
            StepFn::Trap(tag, v) => write!(f, "trap({tag}, {})", ShowValue(*v)),
            StepFn::Nest(j) => {
                f.write_str("nest(")?;
                names.write(f, *j)?;
                f.write_str(")")
            }
            StepFn::NestFired(v) => write!(f, "nest_fired({})", ShowValue(*v)),
            StepFn::NestFailed(tag) => write!(f, "nest_failed({tag})"),
            StepFn::Fire(k, v) => {
                f.write_str("fire(")?;
                names.write(f, *k)?;
                write!(f, ", {})", ShowValue(*v))
            }
            StepFn::Cancel(k) => {
                f.write_str("cancel(")?;
                names.write(f, *k)?;
                f.write_str(")")
            }
            StepFn::AddTo(k, attach) => {
                f.write_str("add_to(")?;
                names.write(f, *k)?;
                write!(f, ", {})", Named(&**attach, names))
            }
            StepFn::Custom(step) => f.write_str(step.name()),
        }
    }
}

impl fmt::Display for Named<'_, Attach> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.0.method())?;
        for (i, step) in self.0.fns().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", Named(step, self.1))?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for Named<'_, Op> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.1;
        names.write(f, self.0.deferred())?;
        match self.0 {
            Op::Add(_, attach) => write!(f, ".{}", Named(attach, names)),
            Op::Callback(_, v) => write!(f, ".callback({})", ShowValue(*v)),
            Op::Errback(_, tag) => write!(f, ".errback({tag})"),
            Op::Pause(_) => f.write_str(".pause()"),
            Op::Unpause(_) => f.write_str(".unpause()"),
            Op::Cancel(_) => f.write_str(".cancel()"),
            Op::ChainDeferred(_, e) => {
                f.write_str(".chain_deferred(")?;
                names.write(f, *e)?;
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for Named<'_, Canceller> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Canceller::None => Ok(()),
            Canceller::Noop => f.write_str("noop"),
            Canceller::Fire(v) => write!(f, "fire({})", ShowValue(*v)),
            Canceller::Fail(tag) => write!(f, "fail({tag})"),
            Canceller::FireOther(k, v) => {
                f.write_str("fire_other(")?;
                self.1.write(f, *k)?;
                write!(f, ", {})", ShowValue(*v))
            }
        }
    }
}

impl fmt::Display for StepFn {
    /// `add(1)`, `trap(E1, Some(0))`, `nest(d1)`, `add_to(d2, add_errback(pass))`, or a custom
    /// step's name.
    ///
    /// ```
    /// use deferreds::proptest::StepFn;
    /// assert_eq!(StepFn::Fire(1, Some(2)).to_string(), "fire(d1, Some(2))");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Named(self, Names(&[])).fmt(f)
    }
}

impl fmt::Display for Attach {
    /// `add_callback(add(1))`, `add_callbacks(pass, recover(None))`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Named(self, Names(&[])).fmt(f)
    }
}

impl fmt::Display for Op {
    /// `d0.add_both(pass)`, `d1.callback(Some(3))`, `d0.chain_deferred(d1)`, ...
    ///
    /// ```
    /// use deferreds::proptest::{Op, Tag};
    /// assert_eq!(Op::Errback(2, Tag::E0).to_string(), "d2.errback(E0)");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Named(self, Names(&[])).fmt(f)
    }
}

impl fmt::Display for Program {
    /// A header naming the Deferreds (with their cancellers), then one numbered line per
    /// operation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = Names(&self.names);
        f.write_str("Deferreds: ")?;
        for (d, canceller) in self.deferreds.iter().enumerate() {
            if d > 0 {
                f.write_str(", ")?;
            }
            names.write(f, d)?;
            if *canceller != Canceller::None {
                write!(f, " (canceller: {})", Named(canceller, names))?;
            }
        }
        if self.deferreds.is_empty() {
            f.write_str("none")?;
        }
        f.write_str("\n")?;
        for (i, op) in self.ops.iter().enumerate() {
            writeln!(f, "{i}. {}", Named(op, names))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Program {
    /// The same as `Display`, so that a failing case reads as a program in proptest's report.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\n{self}")
    }
}
