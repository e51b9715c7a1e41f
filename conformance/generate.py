#!/usr/bin/env python3
"""Seeded generator of random Deferred programs for the differential tests.

Writes one JSON object per line: {"id": "r00042", "program": {...}}. The operation language is
documented in docs/conformance.md. Needs only the standard library.

Every program respects the restrictions that Rust's unique tail imposes (docs/conformance.md,
"Programs that typing forbids"):

* once a step that nests Deferred j has been *added* (whether or not it ran), nothing is added
  to j, j is not chained from, cancelled from the top level, or nested again;
* a step never nests the Deferred it is attached to, and no Deferred is chained into itself;
* `unpause` only follows a matching `pause` (Twisted lets the counter go negative; we refuse).

Whether a step's `add_to`/`cancel` can reach its target's tail depends on what is running when
it runs, so the generator does not try to avoid those cases; both interpreters classify them.

Each program is drawn from its own generator seeded with "<seed>:<index>", so one program can
be regenerated alone and adding programs does not change the earlier ones.

`--profile cancel` draws programs about cancellation: more cancels, from the top level and from
steps, and cancellers that fire another Deferred (`["fire_other", k, n]`), whose steps then run
inside the canceller. The default profile never draws those and is unchanged by them.
"""

from __future__ import annotations

import argparse
import json
import random
import sys

TAGS = ["E0", "E1", "E2"]
KINDS = ["callback", "errback", "both", "callbacks"]


def weighted(rng: random.Random, options: list[tuple[str, float]]) -> str:
    names = [name for name, weight in options if weight > 0]
    weights = [weight for _, weight in options if weight > 0]
    return rng.choices(names, weights)[0]


def value(rng: random.Random, none_share: float = 0.1) -> int | None:
    return None if rng.random() < none_share else rng.randint(0, 9)


class ProgramGenerator:
    def __init__(self, rng: random.Random, profile: str = "default") -> None:
        self.rng = rng
        self.cancel = profile == "cancel"
        self.n = rng.choice([1, 2, 2, 3, 3, 3, 4, 4])
        self.nested: set[int] = set()
        self.pauses = [0] * self.n

    def canceller(self, d: int):
        rng = self.rng
        other = self.cancel and self.n > 1
        pick = weighted(
            rng,
            [
                ("none", 30 if self.cancel else 55),
                ("noop", 15),
                ("fire", 15),
                ("fail", 15),
                ("fire_other", 35 if other else 0),
            ],
        )
        if pick == "none":
            return None
        if pick == "noop":
            return "noop"
        if pick == "fire":
            return ["fire", value(rng)]
        if pick == "fire_other":
            return ["fire_other", rng.choice([k for k in range(self.n) if k != d]), value(rng)]
        return ["fail", rng.choice(TAGS)]

    def free(self) -> list[int]:
        """Deferreds whose tail has not been handed to a nest step."""
        return [d for d in range(self.n) if d not in self.nested]

    def target(self, d: int) -> int:
        """A Deferred for a step on d to cancel or add to. Rust cannot reach a tail that a nest
        step owns, nor d's own tail while the step runs inside the add call on d, so those are
        picked less often (but still picked: both sides classify such programs)."""
        rng = self.rng
        free = [k for k in self.free() if k != d]
        if free and rng.random() < 0.75:
            return rng.choice(free)
        return d if rng.random() < 0.6 else rng.randrange(self.n)

    def step_fn(self, d: int, depth: int, nest_targets: list[int]):
        rng = self.rng
        can_nest = depth == 0 and bool(nest_targets)
        pick = weighted(
            rng,
            [
                ("add", 18),
                ("fail", 10),
                ("recover", 8),
                ("pass", 8),
                ("trap", 9),
                ("nest", 11 if can_nest else 0),
                ("nest_fired", 5),
                ("nest_failed", 4),
                ("fire", 8),
                ("cancel", 12 if self.cancel else 5),
                ("add_to", 7 if depth == 0 else 0),
            ],
        )
        if pick == "add":
            return ["add", rng.randint(-2, 9)]
        if pick == "fail":
            return ["fail", rng.choice(TAGS)]
        if pick == "recover":
            return ["recover", value(rng, 0.15)]
        if pick == "pass":
            return ["pass"]
        if pick == "trap":
            return ["trap", rng.choice(TAGS), value(rng, 0.1)]
        if pick == "nest":
            return ["nest", rng.choice(nest_targets)]
        if pick == "nest_fired":
            return ["nest_fired", value(rng)]
        if pick == "nest_failed":
            return ["nest_failed", rng.choice(TAGS)]
        if pick == "fire":
            return ["fire", rng.randrange(self.n), value(rng)]
        if pick == "cancel":
            return ["cancel", self.target(d)]
        k = self.target(d)
        kind = weighted(rng, [("callback", 35), ("errback", 25), ("both", 20), ("callbacks", 20)])
        fns = [self.step_fn(k, depth + 1, []) for _ in range(2 if kind == "callbacks" else 1)]
        return ["add_to", k, kind, *fns]

    def op(self):
        rng = self.rng
        free = self.free()
        paused = [d for d in range(self.n) if self.pauses[d] > 0]
        chainable = [d for d in free if self.n > 1]
        pick = weighted(
            rng,
            [
                ("add", 42 if free else 0),
                ("callback", 12),
                ("errback", 5),
                ("pause", 5),
                ("unpause", 8 if paused else 0),
                ("cancel", (14 if self.cancel else 6) if free else 0),
                ("chain", 5 if chainable else 0),
            ],
        )
        if pick == "add":
            d = rng.choice(free)
            kind = weighted(rng, [("callback", 35), ("errback", 20), ("both", 20), ("callbacks", 25)])
            # Chosen before the op: both halves of one `callbacks` step may nest the same j.
            targets = [j for j in free if j != d]
            fns = [self.step_fn(d, 0, targets) for _ in range(2 if kind == "callbacks" else 1)]
            for fn in fns:
                if fn[0] == "nest":
                    self.nested.add(fn[1])
            return ["add", d, kind, *fns]
        if pick == "callback":
            return ["callback", rng.randrange(self.n), value(rng)]
        if pick == "errback":
            return ["errback", rng.randrange(self.n), rng.choice(TAGS)]
        if pick == "pause":
            d = rng.randrange(self.n)
            self.pauses[d] += 1
            return ["pause", d]
        if pick == "unpause":
            d = rng.choice(paused)
            self.pauses[d] -= 1
            return ["unpause", d]
        if pick == "cancel":
            return ["cancel", rng.choice(free)]
        d = rng.choice(chainable)
        e = rng.choice([e for e in range(self.n) if e != d])
        return ["chain", d, e]

    def program(self):
        rng = self.rng
        deferreds = [{"canceller": self.canceller(d)} for d in range(self.n)]
        ops = [self.op() for _ in range(rng.randint(3, 14))]
        # Most programs end by releasing their pauses and firing every Deferred, so that
        # results flow to the end of the chains instead of stopping at "paused"/"pending".
        if rng.random() < 0.6:
            for d in range(self.n):
                while self.pauses[d] > 0:
                    self.pauses[d] -= 1
                    ops.append(["unpause", d])
        if rng.random() < 0.7:
            order = list(range(self.n))
            rng.shuffle(order)
            for d in order:
                ops.append(["callback", d, value(rng)])
        return {"deferreds": deferreds, "ops": ops}


def generate(seed: int, index: int, profile: str = "default"):
    return ProgramGenerator(random.Random(f"{seed}:{index}"), profile).program()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=8, help="base seed (default 8)")
    parser.add_argument("--count", type=int, default=3000, help="number of programs")
    parser.add_argument("--out", default="-", help="output file (default: stdout)")
    parser.add_argument(
        "--profile",
        choices=["default", "cancel"],
        default="default",
        help="default: the general mix; cancel: programs about cancellation (ids cNNNNN)",
    )
    args = parser.parse_args()
    prefix = "c" if args.profile == "cancel" else "r"
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")
    with out:
        for i in range(args.count):
            program = generate(args.seed, i, args.profile)
            record = {"id": f"{prefix}{i:05d}", "seed": f"{args.seed}:{i}", "program": program}
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
