#!/usr/bin/env python3
"""Hand-written Deferred programs, one or more per quirk of Twisted's Deferred.

The sections refer to ../shared/notes/twisted-semantics.md §0 and §2 (the verified quirk list);
docs/conformance.md maps every quirk to its programs or says why it is out of scope here.
Writes JSON lines for twisted_trace.py. Needs only the standard library.

A program Rust runs differently on purpose has "expect": "differs", the reason, and the trace
Rust produces ("rust_trace"), which the replay test pins.
"""

from __future__ import annotations

import json
import sys

NONE = {"canceller": None}
NOOP = {"canceller": "noop"}


def fires(n):
    return {"canceller": ["fire", n]}


def fails(tag):
    return {"canceller": ["fail", tag]}


def fires_other(k, n):
    return {"canceller": ["fire_other", k, n]}


def plain(n):
    return [dict(NONE) for _ in range(n)]


QUIRKS = [
    # §0 / §2.1: a callback returning an unfired Deferred pauses the outer chain.
    dict(
        id="q2.1a-unfired-inner-holds-the-outer",
        section="2.1",
        doc="A callback returning an unfired Deferred leaves the outer chain waiting; the step "
        "after it does not run.",
        program={
            "deferreds": plain(2),
            "ops": [
                ["add", 0, "callback", ["nest", 1]],
                ["add", 0, "callback", ["pass"]],
                ["callback", 0, 1],
            ],
        },
    ),
    dict(
        id="q2.1b-inner-result-goes-to-the-outer",
        section="2.1",
        doc="When the inner Deferred fires, the outer chain continues with its result.",
        program={
            "deferreds": plain(2),
            "ops": [
                ["add", 0, "callback", ["nest", 1]],
                ["add", 0, "callback", ["add", 1]],
                ["callback", 0, 1],
                ["callback", 1, 40],
            ],
        },
    ),
    dict(
        id="q2.1c-inner-failure-goes-to-the-outer-errbacks",
        section="2.1",
        doc="An inner failure continues on the outer errback track.",
        program={
            "deferreds": plain(2),
            "ops": [
                ["add", 0, "callback", ["nest", 1]],
                ["add", 0, "callback", ["add", 1]],
                ["add", 0, "errback", ["trap", "E2", 7]],
                ["callback", 0, 1],
                ["errback", 1, "E2"],
            ],
        },
    ),
    # §2.2: an already-fired inner is taken synchronously.
    dict(
        id="q2.2a-fired-inner-is-taken-at-once",
        section="2.2",
        doc="Returning an already-fired Deferred: the outer chain takes its value synchronously; "
        "the inner's steps added before it was returned shape that value (e23).",
        program={
            "deferreds": plain(2),
            "ops": [
                ["callback", 1, 7],
                ["add", 1, "callback", ["add", 1]],
                ["add", 0, "callback", ["nest", 1]],
                ["add", 0, "callback", ["pass"]],
                ["callback", 0, 0],
            ],
        },
    ),
    dict(
        id="q2.2b-nest-fired-and-nest-failed",
        section="2.2",
        doc="succeed(n) and fail(E) returned from steps are taken at once.",
        program={
            "deferreds": plain(1),
            "ops": [
                ["add", 0, "callback", ["nest_fired", 5]],
                ["add", 0, "callback", ["nest_failed", "E0"]],
                ["add", 0, "callback", ["recover", 99]],
                ["add", 0, "errback", ["pass"]],
                ["add", 0, "both", ["trap", "E0", 3]],
                ["callback", 0, 1],
            ],
        },
    ),
    dict(
        id="q2.2c-step-added-to-a-consumed-inner",
        section="2.2",
        doc="e23: a callback added to the inner Deferred after it was returned runs after the "
        "outer chain took the value and sees None. Rust's unique tail forbids it: the outer "
        "chain owns the inner's tail.",
        program={
            "deferreds": plain(2),
            "ops": [
                ["add", 0, "callback", ["nest", 1]],
                ["callback", 0, 0],
                ["add", 1, "callback", ["pass"]],
                ["add", 0, "callback", ["pass"]],
                ["callback", 1, 5],
            ],
        },
    ),
    # §2.3: the two tracks.
    dict(
        id="q2.3-two-track-switching",
        section="2.3",
        doc="Raising goes to the errbacks; an errback's value goes back to the callbacks; "
        "returning a failure (a failed Deferred, or an errback passing its Failure on) stays "
        "on the errback track.",
        program={
            "deferreds": plain(1),
            "ops": [
                ["add", 0, "callback", ["fail", "E1"]],
                ["add", 0, "callback", ["add", 1]],
                ["add", 0, "errback", ["recover", 5]],
                ["add", 0, "errback", ["recover", 6]],
                ["add", 0, "callback", ["nest_failed", "E2"]],
                ["add", 0, "callback", ["add", 1]],
                ["add", 0, "errback", ["pass"]],
                ["add", 0, "errback", ["trap", "E1", 0]],
                ["add", 0, "errback", ["trap", "E2", 9]],
                ["add", 0, "both", ["add", 1]],
                ["callback", 0, 1],
            ],
        },
    ),
    # §2.4: addCallbacks(cb, eb) is one step.
    dict(
        id="q2.4-addCallbacks-is-one-step",
        section="2.4",
        doc="With addCallbacks(cb, eb) the errback never sees its sibling callback's failure; "
        "with addCallback(cb).addErrback(eb) it does.",
        program={
            "deferreds": plain(2),
            "ops": [
                ["add", 0, "callbacks", ["fail", "E1"], ["recover", 9]],
                ["add", 1, "callback", ["fail", "E1"]],
                ["add", 1, "errback", ["recover", 9]],
                ["callback", 0, 1],
                ["callback", 1, 1],
            ],
        },
    ),
    # §2.5: adding to a fired Deferred runs the step at once, unless paused or waiting.
    dict(
        id="q2.5-steps-added-after-the-fire-run-at-once",
        section="2.5",
        doc="A step added to a fired Deferred runs inside the add; not while it is paused or "
        "waiting on an inner Deferred. (Fires of Deferred 2 mark the order in the trace.)",
        program={
            "deferreds": plain(3),
            "ops": [
                ["callback", 0, 1],
                ["add", 0, "callback", ["add", 1]],
                ["pause", 0],
                ["add", 0, "callback", ["add", 10]],
                ["callback", 2, 0],
                ["unpause", 0],
                ["add", 0, "callback", ["nest", 1]],
                ["add", 0, "callback", ["add", 100]],
                ["callback", 1, 50],
            ],
        },
    ),
    # §2.6: steps added from inside a running step go to the end.
    dict(
        id="q2.6-steps-added-from-a-running-step-go-last",
        section="2.6",
        doc="cb1 adds cb3 to its own Deferred: cb3 runs after cb2, once cb1 has returned.",
        program={
            "deferreds": plain(1),
            "ops": [
                ["add", 0, "callback", ["add_to", 0, "callback", ["add", 100]]],
                ["add", 0, "callback", ["add", 10]],
                ["callback", 0, 1],
            ],
        },
    ),
    dict(
        id="q2.6b-add-from-a-step-running-inside-the-add",
        section="2.6",
        doc="The same, but the Deferred was already fired, so cb1 runs inside the add call "
        "itself, which holds the tail in Rust: the unique tail forbids it.",
        program={
            "deferreds": plain(1),
            "ops": [
                ["callback", 0, 1],
                ["add", 0, "callback", ["add_to", 0, "callback", ["add", 100]]],
                ["add", 0, "callback", ["add", 10]],
            ],
        },
    ),
    # §2.7: firing a Deferred from its own callback.
    dict(
        id="q2.7-reentrant-fire-is-the-chain-failure",
        section="2.7",
        doc="A callback that fires its own Deferred gets AlreadyCalledError as the chain's "
        "failure; it does not escape from callback().",
        program={
            "deferreds": plain(1),
            "ops": [
                ["add", 0, "callback", ["fire", 0, 5]],
                ["add", 0, "callback", ["add", 1]],
                ["add", 0, "errback", ["pass"]],
                ["callback", 0, 1],
            ],
        },
    ),
    # §2.8: depth.
    dict(
        id="q2.8a-implicit-chain-300-deep",
        section="2.8",
        doc="300 Deferreds, each callback returning the next; the innermost fired last. "
        "Iterative in both.",
        program={
            "deferreds": plain(300),
            "ops": [["add", i, "callback", ["nest", i + 1]] for i in reversed(range(299))]
            + [["add", 0, "callback", ["add", 1]]]
            + [["callback", i, 0] for i in range(299)]
            + [["callback", 299, 41]],
        },
    ),
    dict(
        id="q2.8b-chainDeferred-400-deep",
        section="2.8",
        doc="400 Deferreds linked with chainDeferred. Twisted recurses once per link and fails "
        "with RecursionError part of the way down (at the default recursion limit of 1000); "
        "this crate's chain_deferred is trampolined and the value reaches the end.",
        expect="differs",
        reason="chain_deferred runs without recursion at any length (Twisted #3229 keeps the "
        "recursion)",
        program={
            "deferreds": plain(400),
            "ops": [["chain", i, i + 1] for i in range(399)]
            + [["add", 399, "callback", ["add", 1]], ["callback", 0, 1]],
        },
        rust_trace=[["step", 399, 399, "cb", "V:1"], ["fire", 0, "ok"]]
        + [["final", i, True, 0, "V:None"] for i in range(399)]
        + [["final", 399, True, 0, "V:2"]],
    ),
    # §2.9: pause is a counter.
    dict(
        id="q2.9a-pause-is-a-counter",
        section="2.9",
        doc="Two pauses need two unpauses; steps added while paused wait too. (The fire of "
        "Deferred 1 marks the first unpause in the trace.)",
        program={
            "deferreds": plain(2),
            "ops": [
                ["add", 0, "callback", ["add", 1]],
                ["pause", 0],
                ["pause", 0],
                ["callback", 0, 1],
                ["add", 0, "callback", ["add", 10]],
                ["unpause", 0],
                ["callback", 1, 0],
                ["unpause", 0],
            ],
        },
    ),
    dict(
        id="q2.9b-unpause-when-not-paused",
        section="2.9",
        doc="Twisted lets the pause counter go to -1, after which the chain never runs; this "
        "crate refuses the unpause (NotPausedError) and the chain runs normally.",
        expect="differs",
        reason="unpause on a Deferred that is not paused returns NotPausedError and leaves the "
        "counter at 0",
        program={
            "deferreds": plain(1),
            "ops": [
                ["unpause", 0],
                ["add", 0, "callback", ["add", 1]],
                ["callback", 0, 1],
            ],
        },
        rust_trace=[
            ["unpause_refused", 0],
            ["step", 0, 1, "cb", "V:1"],
            ["fire", 0, "ok"],
            ["final", 0, True, 0, "V:2"],
        ],
    ),
    # §2.11: chainDeferred.
    dict(
        id="q2.11a-chainDeferred-fires-the-target",
        section="2.11",
        doc="d1.chainDeferred(d2): d2's steps see d1's value; d1 continues with None.",
        program={
            "deferreds": plain(2),
            "ops": [
                ["chain", 0, 1],
                ["add", 1, "callback", ["add", 1]],
                ["add", 0, "callback", ["pass"]],
                ["callback", 0, 5],
            ],
        },
    ),
    dict(
        id="q2.11b-chainDeferred-into-a-fired-target",
        section="2.11",
        doc="Firing d1 after the chained d2 was fired puts AlreadyCalledError on d1's chain.",
        program={
            "deferreds": plain(2),
            "ops": [
                ["chain", 0, 1],
                ["callback", 1, 1],
                ["callback", 0, 2],
            ],
        },
    ),
    dict(
        id="q2.11c-chainDeferred-carries-failures",
        section="2.11",
        doc="A failure goes across too, and d1 goes on with None.",
        program={
            "deferreds": plain(2),
            "ops": [
                ["chain", 0, 1],
                ["add", 1, "errback", ["trap", "E0", 3]],
                ["errback", 0, "E0"],
            ],
        },
    ),
    dict(
        id="q2.11d-chainDeferred-into-itself",
        section="2.11",
        doc="d.chainDeferred(d): the step fires its own Deferred, which is AlreadyCalledError "
        "on the chain. The generator never writes it; this crate behaves the same.",
        program={
            "deferreds": plain(1),
            "ops": [["chain", 0, 0], ["add", 0, "errback", ["pass"]], ["callback", 0, 1]],
        },
    ),
    # §2.12: cancellation.
    dict(
        id="q2.12a-cancel-without-canceller-forgives-one-fire",
        section="2.12",
        doc="No canceller: CancelledError at once, the next callback is silently swallowed, "
        "the one after is AlreadyCalledError.",
        program={
            "deferreds": plain(1),
            "ops": [
                ["add", 0, "errback", ["pass"]],
                ["cancel", 0],
                ["callback", 0, 1],
                ["callback", 0, 2],
            ],
        },
    ),
    dict(
        id="q2.12b-canceller-that-fires",
        section="2.12",
        doc="A canceller that fires the Deferred: its result stands.",
        program={
            "deferreds": [fires(7), fails("E2")],
            "ops": [
                ["add", 0, "callback", ["add", 1]],
                ["add", 1, "errback", ["pass"]],
                ["cancel", 0],
                ["cancel", 1],
                ["callback", 0, 1],
            ],
        },
    ),
    dict(
        id="q2.12c-canceller-that-does-not-fire",
        section="2.12",
        doc="A canceller that does not fire: CancelledError is injected, and there is no grace: "
        "the late callback is AlreadyCalledError.",
        program={
            "deferreds": [NOOP],
            "ops": [["add", 0, "errback", ["pass"]], ["cancel", 0], ["callback", 0, 1]],
        },
    ),
    dict(
        id="q2.12d-cancel-after-fire-is-a-no-op",
        section="2.12",
        doc="Cancelling a fired Deferred does nothing (its canceller is not called).",
        program={
            "deferreds": [fires(99)],
            "ops": [["callback", 0, 1], ["cancel", 0], ["add", 0, "callback", ["pass"]]],
        },
    ),
    dict(
        id="q2.12e-cancel-goes-to-the-inner",
        section="2.12",
        doc="Cancelling an outer Deferred waiting on an inner one cancels the inner (the outer's "
        "canceller is not called); the inner's CancelledError flows back out.",
        program={
            "deferreds": [fires(99), NOOP],
            "ops": [
                ["add", 0, "callback", ["nest", 1]],
                ["callback", 0, 0],
                ["add", 0, "errback", ["pass"]],
                ["cancel", 0],
                ["callback", 1, 5],
            ],
        },
    ),
    dict(
        id="q2.12f-cancel-reaches-the-innermost",
        section="2.12",
        doc="Three deep: the cancellation reaches the innermost Deferred, whose canceller fires "
        "it with a value that flows back up.",
        program={
            "deferreds": [NONE, NONE, fires(8)],
            "ops": [
                ["add", 1, "callback", ["nest", 2]],
                ["add", 0, "callback", ["nest", 1]],
                ["add", 0, "both", ["add", 1]],
                ["callback", 1, 0],
                ["callback", 0, 0],
                ["cancel", 0],
            ],
        },
    ),
    dict(
        id="q2.12g-cancel-a-paused-fired-deferred",
        section="2.12",
        doc="A paused Deferred that has its result: cancel does nothing.",
        program={
            "deferreds": [fires(3)],
            "ops": [
                ["pause", 0],
                ["callback", 0, 1],
                ["cancel", 0],
                ["add", 0, "callback", ["add", 1]],
                ["unpause", 0],
            ],
        },
    ),
    dict(
        id="q2.12h-grace-swallows-a-fire-from-a-step",
        section="2.12",
        doc="The grace after a cancel without canceller also swallows a fire from inside a step.",
        program={
            "deferreds": plain(2),
            "ops": [
                ["cancel", 0],
                ["add", 1, "callback", ["fire", 0, 4]],
                ["add", 1, "callback", ["fire", 0, 5]],
                ["add", 1, "errback", ["pass"]],
                ["callback", 1, 1],
            ],
        },
    ),
    dict(
        id="q2.12i-fired-by-another-deferred-during-its-canceller",
        section="2.12",
        doc="The canceller fires another Deferred, whose step fires the one being cancelled: "
        "that result stands (no CancelledError), and a later fire is AlreadyCalledError.",
        program={
            "deferreds": [fires_other(1, 3), NONE],
            "ops": [
                ["add", 0, "errback", ["pass"]],
                ["add", 0, "callback", ["add", 10]],
                ["add", 1, "callback", ["fire", 0, 4]],
                ["add", 1, "callback", ["add", 1]],
                ["cancel", 0],
                ["callback", 0, 5],
            ],
        },
    ),
    dict(
        id="q2.12j-cancelled-again-while-its-canceller-runs",
        section="2.12",
        doc="The canceller fires another Deferred, whose step cancels the first one again. "
        "Twisted runs the canceller a second time (its fire is AlreadyCalledError, ignored) and "
        "the inner cancel fails the Deferred; in Rust the cancel in progress holds the tail, so "
        "the step cannot reach it.",
        program={
            "deferreds": [fires_other(1, 3), NONE],
            "ops": [
                ["add", 1, "callback", ["cancel", 0]],
                ["add", 0, "errback", ["pass"]],
                ["cancel", 0],
            ],
        },
    ),
    # §0: the steal-if-fired fast path needs the inner unpaused.
    dict(
        id="q0a-paused-fired-inner-is-waited-for",
        section="0",
        doc="A fired but paused inner Deferred is not taken: the outer waits until it is "
        "unpaused (test_chainedPausedDeferredWithResult).",
        program={
            "deferreds": plain(3),
            "ops": [
                ["callback", 1, 5],
                ["pause", 1],
                ["add", 0, "callback", ["nest", 1]],
                ["add", 0, "callback", ["add", 1]],
                ["callback", 0, 0],
                ["callback", 2, 0],
                ["unpause", 1],
            ],
        },
    ),
    dict(
        id="q0b-paused-outer-takes-the-inner-result-later",
        section="0",
        doc="The inner fires while the outer waiting on it is paused: the inner's steps run, "
        "the outer's wait for the unpause (test_pausedDeferredChained).",
        program={
            "deferreds": plain(3),
            "ops": [
                ["add", 1, "callback", ["add", 1]],
                ["add", 0, "callback", ["nest", 1]],
                ["add", 0, "callback", ["add", 10]],
                ["callback", 0, 0],
                ["pause", 0],
                ["callback", 1, 1],
                ["callback", 2, 0],
                ["unpause", 0],
            ],
        },
    ),
    dict(
        id="q0c-running-inner",
        section="0",
        doc="A step returns a Deferred whose own step is running (it fired the outer). Twisted "
        "takes that Deferred's current result, the input of its running step, and the outer "
        "continues before the inner's remaining steps run; Rust waits for the end of the "
        "inner's chain, whose value may have another type than the intermediate one.",
        program={
            "deferreds": plain(2),
            "ops": [
                ["add", 0, "callback", ["fire", 1, 0]],
                ["add", 0, "callback", ["add", 5]],
                ["add", 1, "callback", ["nest", 0]],
                ["add", 1, "callback", ["add", 100]],
                ["callback", 0, 1],
            ],
        },
    ),
]


def main() -> int:
    for quirk in QUIRKS:
        sys.stdout.write(json.dumps(quirk, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
