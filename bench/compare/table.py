#!/usr/bin/env python3
"""Turns the JSON lines of run.sh (Rust, Twisted, Node) into the Markdown tables of
docs/performance.md: the comparison, the scaling table, and the performance targets.

Usage: table.py results/*.jsonl

Every ratio divides a median by the median of the Rust `baseline` variant of the same
scenario and size, measured in the same run of run.sh.
"""
import json
import sys

COLUMNS = [
    ("rust", "baseline", "baseline"),
    ("rust", "futures", "futures-rs"),
    ("rust", "futures_boxed", "futures-rs, boxed steps"),
    ("rust", "deferreds", "**deferreds**"),
    ("rust", "deferreds_task", "deferreds, `ensure_deferred`"),
    ("twisted-cpython", "twisted", "Twisted (CPython)"),
    ("twisted-pypy", "twisted", "Twisted (PyPy)"),
    ("node", "node", "Node Promise"),
]

ROWS = [
    ("a", 10, "(a) new, 10 callbacks, fire, read", "chain"),
    ("b", 10, "(b) fire, then add 10, read", "chain"),
    ("c_off", 10, "(c) errback path, capture off", "chain"),
    ("c_on", 10, "(c) errback path, capture on", "chain"),
    ("d", 10_000, "(d) tower of 10k", "level"),
    ("d", 100_000, "(d) tower of 100k", "level"),
    ("d", 1_000_000, "(d) tower of 1M", "level"),
    ("e_gather", 10_000, "(e) gather_results, 10k inputs", "input"),
    ("e_list", 10_000, "(e) DeferredList, 10k inputs", "input"),
    ("f", 100_000, "(f) 100k timers", "timer"),
    ("f", 1_000_000, "(f) 1M timers", "timer"),
    ("await", 1, "await a pending Deferred", "await"),
]


def fmt(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e4:
        return f"{ns / 1e3:.1f} µs"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def load(paths):
    data = {}
    runtimes = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                rec = json.loads(line)
                data[(rec["impl"], rec["variant"], rec["scenario"], rec["size"])] = rec
                if "runtime" in rec:
                    runtimes[rec["impl"]] = rec["runtime"]
    return data, runtimes


def comparison(data):
    present = [c for c in COLUMNS if any((c[0], c[1]) == k[:2] for k in data)]
    print("| scenario | unit | " + " | ".join(c[2] for c in present) + " |")
    print("|---|---|" + "---|" * len(present))
    for scenario, size, label, unit in ROWS:
        base = data.get(("rust", "baseline", scenario, size))
        cells = []
        for impl, variant, _ in present:
            rec = data.get((impl, variant, scenario, size))
            if rec is None:
                cells.append("–")
                continue
            cell = fmt(rec["median_ns"])
            if base and variant != "baseline":
                cell += f" ({rec['median_ns'] / base['median_ns']:.2f}×)"
            cells.append(cell)
        if any(c != "–" for c in cells):
            print(f"| {label} | per {unit} | " + " | ".join(cells) + " |")
    mem = [(c, data.get((c[0], c[1], "memory", 1))) for c in present]
    if any(m for _, m in mem):
        cells = [f"{m['bytes']} B" if m else "–" for _, m in mem]
        print("| pending item with one callback | bytes | " + " | ".join(cells) + " |")


def scaling(data):
    sizes = [1_000, 10_000, 100_000, 1_000_000]
    rows = [
        ("a_steps", "(a) one Deferred, N callbacks", "step"),
        ("d", "(d) tower of N", "level"),
        ("e_gather", "(e) gather_results over N", "input"),
        ("e_list", "(e) DeferredList over N", "input"),
        ("f", "(f) N timers", "timer"),
    ]
    print("| scenario | variant | " + " | ".join(f"N = {n:,}" for n in sizes) + " | 1M ÷ 1k |")
    print("|---|---|" + "---|" * (len(sizes) + 1))
    for scenario, label, unit in rows:
        for variant in ("baseline", "deferreds"):
            recs = [data.get(("rust", variant, scenario, n)) for n in sizes]
            if not any(recs):
                continue
            cells = [fmt(r["median_ns"]) if r else "–" for r in recs]
            growth = (
                f"{recs[-1]['median_ns'] / recs[0]['median_ns']:.2f}×" if recs[0] and recs[-1] else "–"
            )
            name = "**deferreds**" if variant == "deferreds" else variant
            print(f"| {label}, per {unit} | {name} | " + " | ".join(cells) + f" | {growth} |")


def targets(data):
    def ratio(scenario, size, impl="rust", variant="deferreds", base=("rust", "baseline")):
        a = data.get((impl, variant, scenario, size))
        b = data.get((base[0], base[1], scenario, size))
        return a["median_ns"] / b["median_ns"] if a and b else None

    def line(what, value, limit, unit="×"):
        if value is None:
            print(f"| {what} | – | {limit}{unit} | not measured |")
            return
        ok = "met" if value <= limit else "**missed**"
        print(f"| {what} | {value:.2f}{unit} | ≤ {limit}{unit} | {ok} |")

    print("| target | measured | limit | |")
    print("|---|---|---|---|")
    line("(a) vs baseline", ratio("a", 10), 1.3)
    line("(b) vs baseline", ratio("b", 10), 1.5)
    line("(c), capture off, vs baseline", ratio("c_off", 10), 1.5)
    line("(e) gather_results vs baseline", ratio("e_gather", 10_000), 1.5)
    line("(e) DeferredList vs baseline", ratio("e_list", 10_000), 1.5)
    line("(f) 100k timers vs baseline", ratio("f", 100_000), 1.5)
    line("(f) 1M timers vs baseline", ratio("f", 1_000_000), 1.5)
    for n in (10_000, 100_000, 1_000_000):
        line(f"(d) {n:,} levels, per level vs baseline", ratio("d", n), 2.0)
    mem = data.get(("rust", "deferreds", "memory", 1))
    line("memory, pending Deferred<u64> + 1 callback", mem["bytes"] if mem else None, 96, " B")
    for scenario, size, label, _ in ROWS:
        node = data.get(("node", "node", scenario, size))
        if not node:
            continue
        variants = ["deferreds"] + (["deferreds_task"] if scenario == "await" else [])
        for variant in variants:
            ours = data.get(("rust", variant, scenario, size))
            if ours:
                name = label if variant == "deferreds" else f"{label}, `ensure_deferred`"
                line(f"{name} vs Node", ours["median_ns"] / node["median_ns"], 1.0)


def main():
    data, runtimes = load(sys.argv[1:])
    print("### Comparison (median per unit; ratio to the baseline in brackets)\n")
    comparison(data)
    print()
    for impl, runtime in sorted(runtimes.items()):
        print(f"- {impl}: {runtime}")
    print("\n### Scaling (Rust, median per unit)\n")
    scaling(data)
    print("\n### Targets\n")
    targets(data)


if __name__ == "__main__":
    main()
