#!/usr/bin/env python3
"""Runs Deferred programs on real Twisted and writes their event traces (the golden files).

    python3 conformance/twisted_trace.py PROGRAMS.jsonl GOLDEN.jsonl

PROGRAMS.jsonl holds one {"id", "program", ...} object per line (from generate.py or quirks.py);
GOLDEN.jsonl gets the same objects with "trace" and "class" added, after a first line holding
{"meta": {...}}. The operation language, the trace and the classes are documented in
docs/conformance.md; tests/conformance replays the golden files against the Rust crate.

Twisted comes from PyPI, pinned to TWISTED_VERSION, in a virtual environment this script creates
(conformance/.venv unless --venv says otherwise) and then re-runs itself in. --python runs with
an interpreter that already has that Twisted version, skipping the virtual environment.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

TWISTED_VERSION = "26.10.0"
HERE = Path(__file__).resolve().parent
IN_ENV = "DEFERREDS_TWISTED_TRACE_READY"


def die(message: str):
    print(f"twisted_trace.py: {message}", file=sys.stderr)
    sys.exit(2)


# ---------------------------------------------------------------------------------------------
# Bootstrap: a virtual environment with the pinned Twisted, then run again inside it.


def bootstrap(args: argparse.Namespace) -> None:
    if args.python:
        python = args.python
    else:
        venv = Path(args.venv).resolve()
        python = str(venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))
        if not Path(python).exists():
            print(f"creating a virtual environment in {venv}", file=sys.stderr)
            try:
                subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            except (OSError, subprocess.CalledProcessError):
                die(
                    "could not create a virtual environment with "
                    f"`{sys.executable} -m venv` (on Debian/Ubuntu: apt install python3-venv)"
                )
        if not has_twisted(python):
            print(f"installing Twisted {TWISTED_VERSION} from PyPI", file=sys.stderr)
            try:
                subprocess.run(
                    [python, "-m", "pip", "install", "--quiet", f"twisted=={TWISTED_VERSION}"],
                    check=True,
                )
            except (OSError, subprocess.CalledProcessError):
                die(
                    f"`pip install twisted=={TWISTED_VERSION}` failed: pip and access to PyPI "
                    "are needed to regenerate the golden files (replaying them needs neither)"
                )
    if not has_twisted(python):
        die(f"{python} cannot import Twisted {TWISTED_VERSION}")
    env = dict(os.environ, **{IN_ENV: "1"})
    argv = [python, str(Path(__file__).resolve()), *sys.argv[1:]]
    sys.exit(subprocess.run(argv, env=env).returncode)


def has_twisted(python: str) -> bool:
    probe = "import twisted, sys; sys.exit(twisted.__version__ != sys.argv[1])"
    try:
        return subprocess.run([python, "-c", probe, TWISTED_VERSION], capture_output=True).returncode == 0
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# The interpreter (runs inside the environment that has Twisted).


def interpreter():
    from twisted.internet import defer
    from twisted.internet.defer import AlreadyCalledError, CancelledError, Deferred
    from twisted.python.failure import Failure

    class E0(Exception):
        pass

    class E1(Exception):
        pass

    class E2(Exception):
        pass

    errors = {"E0": E0, "E1": E1, "E2": E2}
    names = {E0: "E0", E1: "E1", E2: "E2", CancelledError: "Cancelled",
             AlreadyCalledError: "AlreadyCalled", TypeError: "TypeError"}

    def show(result) -> str:
        if isinstance(result, Failure):
            return "F:" + names.get(result.type, "Other:" + result.type.__name__)
        if result is None:
            return "V:None"
        if type(result) is int:
            return f"V:{result}"
        return f"V:?{type(result).__name__}"

    class Run:
        """One program. `ds[i]` is Deferred i; the step functions close over this object."""

        def __init__(self, program) -> None:
            self.program = program
            self.trace: list = []
            self.ds = [Deferred(self.canceller(d["canceller"])) for d in program["deferreds"]]
            # Which tails Rust could not reach: handed to a nest step, or borrowed by an operation
            # in progress (an add, chain or cancel on that Deferred). Only annotates the trace.
            self.nested: set[int] = set()
            self.busy = [0] * len(self.ds)

        def canceller(self, spec):
            if spec is None:
                return None
            if spec == "noop":
                return lambda d: None
            if spec[0] == "fire":
                return lambda d: d.callback(spec[1])
            if spec[0] == "fail":
                return lambda d: d.errback(errors[spec[1]]())
            if spec[0] == "fire_other":
                return lambda d: self.fire_quietly(spec[1], spec[2])
            raise ValueError(f"unknown canceller {spec!r}")

        def fire_quietly(self, k: int, n) -> None:
            """`fire_other`: fires Deferred k if it can. An `AlreadyCalledError` is ignored: let
            out of the canceller, it would propagate out of `cancel()` (Rust: `let _ =`)."""
            try:
                self.ds[k].callback(n)
            except AlreadyCalledError:
                pass

        def reachable(self, k: int) -> bool:
            """Whether Rust could reach k's tail now; if not, note where in the trace."""
            if k in self.nested or self.busy[k]:
                self.trace.append(["unavailable", k])
                return False
            return True

        def borrow(self, k: int, action) -> None:
            self.busy[k] += 1
            try:
                action()
            finally:
                self.busy[k] -= 1

        def step(self, d: int, sid, half: str, fn):
            def run(result):
                self.trace.append(["step", d, sid, half, show(result)])
                return self.call(d, sid, fn, result)

            return run

        def add(self, d: int, sid, kind: str, fns) -> None:
            """Adds one step to Deferred d. Its tail is borrowed for the whole call, which runs the
            step at once if d has a result; a nest step owns its Deferred's tail from now on."""
            self.busy[d] += 1
            try:
                # Both halves of a `callbacks` step may nest the same Deferred: one tail.
                nests = list(dict.fromkeys(fn[1] for fn in fns if fn[0] == "nest"))
                for j in nests:
                    self.reachable(j)
                self.nested.update(nests)
                target = self.ds[d]
                if kind == "callback":
                    target.addCallback(self.step(d, sid, "cb", fns[0]))
                elif kind == "errback":
                    target.addErrback(self.step(d, sid, "eb", fns[0]))
                elif kind == "both":
                    cb, eb = self.step(d, sid, "cb", fns[0]), self.step(d, sid, "eb", fns[0])
                    target.addBoth(lambda r: (eb if isinstance(r, Failure) else cb)(r))
                elif kind == "callbacks":
                    target.addCallbacks(self.step(d, sid, "cb", fns[0]), self.step(d, sid, "eb", fns[1]))
                else:
                    raise ValueError(f"unknown kind {kind!r}")
            finally:
                self.busy[d] -= 1

        def call(self, d: int, sid, fn, result):
            op = fn[0]
            if op == "add":
                return result + fn[1]  # None or a Failure: TypeError
            if op == "fail":
                raise errors[fn[1]]()
            if op == "recover":
                return fn[1]
            if op == "pass":
                return result
            if op == "trap":
                if isinstance(result, Failure):
                    result.trap(errors[fn[1]])
                    return fn[2]
                return result
            if op == "nest":
                inner = self.ds[fn[1]]
                if inner._runningCallbacks:
                    # Twisted takes the result a running Deferred has at this moment (the input of
                    # its running step); Rust waits for the end of its chain. Annotation only.
                    self.trace.append(["running_inner", fn[1]])
                return inner
            if op == "nest_fired":
                return defer.succeed(fn[1])
            if op == "nest_failed":
                return defer.fail(errors[fn[1]]())
            if op == "fire":
                self.ds[fn[1]].callback(fn[2])
                return result
            if op == "cancel":
                k = fn[1]
                self.reachable(k)
                self.borrow(k, self.ds[k].cancel)
                return result
            if op == "add_to":
                k = fn[1]
                self.reachable(k)
                self.add(k, f"{sid}+", fn[2], fn[3:])
                return result
            raise ValueError(f"unknown step function {fn!r}")

        def fire(self, d: int, fire) -> None:
            try:
                fire()
                self.trace.append(["fire", d, "ok"])
            except AlreadyCalledError:
                self.trace.append(["fire", d, "AlreadyCalled"])

        def run(self) -> list:
            for i, op in enumerate(self.program["ops"]):
                name, d = op[0], op[1]
                if name == "add":
                    self.reachable(d)
                    self.add(d, i, op[2], op[3:])
                elif name == "callback":
                    self.fire(d, lambda: self.ds[d].callback(op[2]))
                elif name == "errback":
                    self.fire(d, lambda: self.ds[d].errback(errors[op[2]]()))
                elif name == "pause":
                    self.ds[d].pause()
                elif name == "unpause":
                    self.ds[d].unpause()
                elif name == "cancel":
                    self.reachable(d)
                    self.borrow(d, self.ds[d].cancel)
                elif name == "chain":
                    self.reachable(d)
                    self.borrow(d, lambda: self.ds[d].chainDeferred(self.ds[op[2]]))
                else:
                    raise ValueError(f"unknown operation {op!r}")
            for i, d in enumerate(self.ds):
                waiting = d.called and isinstance(d.result, Deferred)
                # Twisted counts a wait on an inner Deferred as one more pause.
                paused = d.paused - (1 if waiting else 0)
                if i in self.nested:
                    state = "nested"
                elif not d.called:
                    state = "pending"
                elif paused != 0:
                    state = "paused"
                elif waiting:
                    state = "waiting"
                else:
                    state = show(d.result)
                self.trace.append(["final", i, d.called, paused, state])
                # Handled here: no "Unhandled error in Deferred" log at garbage collection.
                if d._debugInfo is not None:
                    d._debugInfo.failResult = None
            return self.trace

    return Run


def classify(trace: list, record: dict) -> str:
    """The first annotation decides: `unique-tail`, `running-inner`; else `differs`/`match`."""
    for event in trace:
        if event[0] == "unavailable":
            return "unique-tail"
        if event[0] == "running_inner":
            return "running-inner"
    return "differs" if record.get("expect") == "differs" else "match"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("programs", help="input: JSON lines with id and program")
    parser.add_argument("golden", help="output: JSON lines with the traces")
    parser.add_argument("--venv", default=str(HERE / ".venv"), help="virtual environment to use")
    parser.add_argument("--python", help="an interpreter that already has the pinned Twisted")
    args = parser.parse_args()
    if os.environ.get(IN_ENV) != "1":
        bootstrap(args)

    import twisted

    if twisted.__version__ != TWISTED_VERSION:
        die(f"Twisted {twisted.__version__} found, {TWISTED_VERSION} needed")
    Run = interpreter()
    sys.setrecursionlimit(1000)  # Twisted's behaviour on deep explicit chains depends on it.

    records = []
    with open(args.programs, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                records.append(json.loads(line))
    classes: dict[str, int] = {}
    for record in records:
        try:
            record["trace"] = Run(record["program"]).run()
        except Exception as e:
            die(f"program {record['id']} raised {e!r}: a bug in this interpreter")
        record["class"] = classify(record["trace"], record)
        classes[record["class"]] = classes.get(record["class"], 0) + 1
    meta = {
        "twisted": TWISTED_VERSION,
        "python": platform.python_version(),
        "programs": len(records),
        "classes": dict(sorted(classes.items())),
        "source": os.path.basename(args.programs),
    }
    with open(args.golden, "w", encoding="utf-8") as out:
        out.write(json.dumps({"meta": meta}, separators=(",", ":")) + "\n")
        for record in records:
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
    print(f"{args.golden}: {len(records)} programs, {meta['classes']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
