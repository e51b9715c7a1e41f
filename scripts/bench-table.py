#!/usr/bin/env python3
"""Print criterion results as a Markdown table with ratios to each scenario's baseline.

Usage: scripts/bench-table.py [target/criterion]

Criterion stores one directory per benchmark, `<scenario>/<variant>/new/estimates.json`
(or `<scenario>/<variant>/<parameter>/...` for parameterised ones). Within a scenario, the variant
named `baseline` is the reference; every other variant is shown with its ratio to it. Benchmarks
that declare a throughput in elements (levels, timers) also get the median per element.
"""
import json
import os
import sys


def median_ns(path):
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]


def elements(path):
    """The benchmark's throughput in elements, if it declared one (per-level, per-timer costs)."""
    try:
        with open(path) as f:
            throughput = json.load(f).get("throughput") or {}
    except OSError:
        return None
    return throughput.get("Elements")


def fmt(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
    rows = {}
    for dirpath, _dirs, files in os.walk(root):
        if "estimates.json" in files and os.path.basename(dirpath) == "new":
            parts = os.path.relpath(os.path.dirname(dirpath), root).split(os.sep)
            if len(parts) == 2:  # `scenario/variant`
                scenario, variant = parts
            elif len(parts) == 3:  # `scenario/variant/parameter`
                scenario, variant = f"{parts[0]}/{parts[2]}", parts[1]
            else:
                continue
            ns = median_ns(os.path.join(dirpath, "estimates.json"))
            n = elements(os.path.join(dirpath, "benchmark.json"))
            rows.setdefault(scenario, {})[variant] = (ns, n)
    print("| scenario | variant | median | per element | ratio to baseline |")
    print("|---|---|---|---|---|")
    for scenario in sorted(rows):
        variants = rows[scenario]
        base = variants.get("baseline", (None, None))[0]
        for variant in sorted(variants, key=lambda v: (v != "baseline", v)):
            ns, n = variants[variant]
            ratio = f"{ns / base:.2f}×" if base else "–"
            each = fmt(ns / n) if n else "–"
            print(f"| {scenario} | {variant} | {fmt(ns)} | {each} | {ratio} |")


if __name__ == "__main__":
    main()
