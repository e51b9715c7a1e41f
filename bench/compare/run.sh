#!/usr/bin/env bash
# The performance comparison in one command: the same scenarios on a Vec<Box<dyn FnOnce>>
# baseline, futures-rs and deferreds (Rust, one process, round-robin), on Twisted under
# CPython and PyPy, and on Node's native Promise; then the tables of docs/performance.md.
#
#   bench/compare/run.sh            # everything, ~15 minutes on 2 cores
#   bench/compare/run.sh --quick    # a quarter of the rounds, for a look
#
# Twisted is looked for in bench/compare/.venv/{cpython,pypy} (setup-python.sh makes them),
# then as $TWISTED_PYTHON / $TWISTED_PYPY, then python3 / pypy3 on the PATH. Whatever is
# missing (Python, PyPy, Twisted, Node) is reported and skipped; the Rust part always runs.
# Results land in bench/compare/results/<date>/ (one .jsonl per implementation, the
# machine's description, and tables.md).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

args=()
scaling=(--scaling)
for a in "$@"; do
  case "$a" in
    --quick) args+=(--quick) ;;
    --no-scaling) scaling=() ;;
    *) echo "usage: run.sh [--quick] [--no-scaling]" >&2; exit 2 ;;
  esac
done

out="results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit: $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$here" diff --quiet HEAD -- ../.. 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') × $(nproc)"
  echo "kernel: $(uname -sr)"
  echo "rustc: $(rustc --version)"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/machine.txt"

echo "== Rust (baseline, futures-rs, deferreds)" >&2
cargo build --release --quiet
target="${CARGO_TARGET_DIR:-$here/target}"
"$target/release/deferreds-compare" "${args[@]}" "${scaling[@]}" > "$out/rust.jsonl"

twisted() { # interpreter, label
  local py="$1" label="$2"
  if ! command -v "$py" > /dev/null 2>&1; then
    echo "== $label: no $py here; skipped" >&2
    return
  fi
  if ! "$py" -c 'import twisted' > /dev/null 2>&1; then
    echo "== $label: Twisted is not importable by $py; skipped (bench/compare/setup-python.sh installs it)" >&2
    return
  fi
  echo "== $label ($py)" >&2
  "$py" twisted_bench.py "${args[@]}" > "$out/$label.jsonl"
}
cpython="${TWISTED_PYTHON:-}"
[ -z "$cpython" ] && [ -x .venv/cpython/bin/python ] && cpython=.venv/cpython/bin/python
twisted "${cpython:-python3}" twisted-cpython
pypy="${TWISTED_PYPY:-}"
[ -z "$pypy" ] && [ -x .venv/pypy/bin/python ] && pypy=.venv/pypy/bin/python
twisted "${pypy:-pypy3}" twisted-pypy

if command -v node > /dev/null 2>&1; then
  echo "== Node ($(node --version))" >&2
  node --expose-gc node_bench.mjs "${args[@]}" > "$out/node.jsonl"
else
  echo "== Node: not installed; skipped" >&2
fi

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"
if command -v python3 > /dev/null 2>&1; then
  python3 table.py "$out"/*.jsonl > "$out/tables.md"
  cat "$out/machine.txt" "$out/tables.md"
else
  echo "python3 is needed for the tables; the raw results are in $out" >&2
fi
