#!/usr/bin/env python3
"""Twisted's side of the comparison: the scenarios of README.md on twisted.internet.defer.

Usage: python twisted_bench.py [--quick] [--only a,b,...]   (needs `twisted` importable)

Prints one JSON object per line, in the format of the Rust harness (src/main.rs), with
"impl" set to "twisted-cpython" or "twisted-pypy". Exits 0 with a message on stderr, and no
lines, when Twisted is not installed, so run.sh can go on without it.

Method, as in the Rust harness: each batch repeats the scenario until it takes about
BATCH_TARGET; the figure is the median over the rounds of the batch time divided by the
work in it. The interpreter's garbage collector stays on, as in a program. On PyPy every
scenario is first run for WARMUP seconds so that the JIT has compiled it.
"""
import json
import platform
import sys
import time

try:
    import twisted
    from twisted.internet.defer import (
        Deferred,
        DeferredList,
        ensureDeferred,
        gatherResults,
        succeed,
    )
except ImportError:
    print(
        f"twisted_bench.py: Twisted is not importable by {sys.executable}; skipping "
        "(install it with `pip install twisted`)",
        file=sys.stderr,
    )
    sys.exit(0)

PYPY = platform.python_implementation() == "PyPy"
IMPL = "twisted-pypy" if PYPY else "twisted-cpython"
RUNTIME = f"{platform.python_implementation()} {platform.python_version()}, Twisted {twisted.__version__}"
BATCH_TARGET = 0.01
WARMUP = 2.0 if PYPY else 0.2


def emit(scenario, size, unit, times, variant="twisted", **extra):
    times = sorted(times)
    line = {
        "impl": IMPL,
        "scenario": scenario,
        "size": size,
        "variant": variant,
        "unit": unit,
        "median_ns": round(times[len(times) // 2], 2),
        "min_ns": round(times[0], 2),
        "rounds": len(times),
        "runtime": RUNTIME,
    }
    line.update(extra)
    print(json.dumps(line), flush=True)


def measure(scenario, size, unit, units, rounds, batch, setup=None):
    """`batch(iters, inputs)` runs the scenario `iters` times and returns the elapsed seconds
    of the timed part; `setup()` makes one iteration's inputs, outside the timing."""
    print(f"{IMPL} {scenario} (size {size}): {rounds} rounds", file=sys.stderr, flush=True)

    def run(iters):
        inputs = [setup() for _ in range(iters)] if setup else None
        return batch(iters, inputs)

    iters = 1
    deadline = time.perf_counter() + WARMUP
    while True:
        t = run(iters)
        if t < BATCH_TARGET and iters < 1 << 20:
            iters *= 2
        elif time.perf_counter() >= deadline:
            break
    times = [run(iters) * 1e9 / (iters * units) for _ in range(rounds)]
    emit(scenario, size, unit, times)


# (a), (b): ten `x + 1` steps. One function object for every step, as the Rust closures
# allocate nothing either.
def inc(x):
    return x + 1


def batch_a(iters, _):
    start = time.perf_counter()
    for _ in range(iters):
        d = Deferred()
        for _ in range(10):
            d.addCallback(inc)
        d.callback(0)
        assert d.result == 10
    return time.perf_counter() - start


def batch_b(iters, _):
    start = time.perf_counter()
    for _ in range(iters):
        d = succeed(0)
        for _ in range(10):
            d.addCallback(inc)
        assert d.result == 10
    return time.perf_counter() - start


# (c): four callbacks, one that raises, an errback that traps the error and recovers, three
# more. Twisted has no backtrace switch: every Failure keeps the exception's traceback.
class Oops(Exception):
    pass


def raise_oops(_):
    raise Oops("oops")


def trap_oops(failure):
    failure.trap(Oops)
    return 100


def batch_c(iters, _):
    start = time.perf_counter()
    for _ in range(iters):
        d = Deferred()
        for _ in range(4):
            d.addCallback(inc)
        d.addCallback(raise_oops)
        d.addErrback(trap_oops)
        for _ in range(3):
            d.addCallback(inc)
        d.callback(0)
        assert d.result == 103
    return time.perf_counter() - start


# (d): a tower of N Deferreds, each waiting on the next, fired from the leaf.
def tower(levels):
    leaf = Deferred()
    top = leaf
    for _ in range(levels):
        inner = top
        top = succeed(None).addCallback(lambda _, inner=inner: inner).addCallback(inc)
    leaf.callback(0)
    return top.result


def batch_d(levels):
    def batch(iters, _):
        start = time.perf_counter()
        for _ in range(iters):
            assert tower(levels) == levels
        return time.perf_counter() - start

    return batch


# (e): gatherResults / DeferredList over N inputs made beforehand, fired in input order.
def batch_gather(iters, inputs):
    start = time.perf_counter()
    for ds in inputs:
        joined = gatherResults(ds)
        for i, d in enumerate(ds):
            d.callback(i)
        assert len(joined.result) == len(ds)
    return time.perf_counter() - start


def batch_list(iters, inputs):
    start = time.perf_counter()
    for ds in inputs:
        joined = DeferredList(ds)
        for i, d in enumerate(ds):
            d.callback(i)
        assert len(joined.result) == len(ds)
    return time.perf_counter() - start


# (f): N timers with shuffled deadlines, all fired by one step of time. Twisted's `task.Clock`
# re-sorts its whole list on every `callLater` (quadratic: hours at 100,000 timers), so this
# is the reactor's own timer heap (`ReactorBase.callLater` and `runUntilCurrent`, heapq) on a
# reactor that is never run, with `seconds` replaced by a manual time.
def shuffled_deadlines(n):
    """The same permutation as the Rust harness: xorshift Fisher-Yates with a fixed seed."""
    deadlines = [i * 1e-3 for i in range(n)]
    state = 0x9E3779B97F4A7C15
    mask = (1 << 64) - 1
    for i in range(n - 1, 0, -1):
        state ^= (state << 13) & mask
        state ^= state >> 7
        state ^= (state << 17) & mask
        j = state % (i + 1)
        deadlines[i], deadlines[j] = deadlines[j], deadlines[i]
    return deadlines


def make_reactor():
    from twisted.internet.selectreactor import SelectReactor

    reactor = SelectReactor()
    now = [0.0]
    reactor.seconds = lambda: now[0]
    return reactor, now


def noop(seq):
    pass


def batch_f(deadlines, reactor, now):
    def batch(iters, _):
        start = time.perf_counter()
        for _ in range(iters):
            now[0] = 0.0
            call_later = reactor.callLater
            for seq, deadline in enumerate(deadlines):
                call_later(deadline, noop, seq)
            now[0] = float(len(deadlines))
            reactor.runUntilCurrent()
            assert not reactor.getDelayedCalls()
        return time.perf_counter() - start

    return batch


# Awaiting: a coroutine run by ensureDeferred awaits a pending Deferred, which is then fired.
async def waiter(d):
    return await d


def batch_await(iters, _):
    start = time.perf_counter()
    for _ in range(iters):
        d = Deferred()
        task = ensureDeferred(waiter(d))
        d.callback(7)
        assert task.result == 7
    return time.perf_counter() - start


def report_memory():
    if PYPY:
        print("twisted_bench.py: tracemalloc does not work on PyPy; no memory figure", file=sys.stderr)
        return
    import gc
    import tracemalloc

    n = 100_000
    keep = [None] * n
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        d = Deferred()
        d.addCallback(inc)
        keep[i] = d
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    line = {
        "impl": IMPL,
        "scenario": "memory",
        "size": 1,
        "variant": "twisted",
        "unit": "bytes",
        "bytes": round((after - before) / n),
        "runtime": RUNTIME,
    }
    print(json.dumps(line), flush=True)


def main():
    quick = "--quick" in sys.argv
    only = None
    if "--only" in sys.argv:
        only = sys.argv[sys.argv.index("--only") + 1].split(",")

    def wants(s):
        return only is None or s in only

    def r(full):
        return max(3, -(-full // 4)) if quick else full

    if wants("a"):
        measure("a", 10, "chain", 1, r(21), batch_a)
    if wants("b"):
        measure("b", 10, "chain", 1, r(21), batch_b)
    if wants("c_off"):
        measure("c_off", 10, "chain", 1, r(21), batch_c)
    if wants("c_on"):
        measure("c_on", 10, "chain", 1, r(21), batch_c)
    if wants("d"):
        for levels in (10_000, 100_000, 1_000_000):
            measure("d", levels, "level", levels, r(11 if levels < 1_000_000 else 5), batch_d(levels))
    if wants("e"):
        n = 10_000
        measure("e_gather", n, "input", n, r(21), batch_gather, setup=lambda: [Deferred() for _ in range(n)])
        measure("e_list", n, "input", n, r(21), batch_list, setup=lambda: [Deferred() for _ in range(n)])
    if wants("f"):
        reactor, now = make_reactor()
        for timers in (100_000, 1_000_000):
            measure("f", timers, "timer", timers, r(7 if timers < 1_000_000 else 3),
                    batch_f(shuffled_deadlines(timers), reactor, now))
    if wants("await"):
        measure("await", 1, "await", 1, r(21), batch_await)
    if wants("memory"):
        report_memory()


if __name__ == "__main__":
    main()
