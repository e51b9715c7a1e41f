#!/usr/bin/env bash
# Regenerates the golden traces in conformance/golden/ from real Twisted.
#
#   conformance/regenerate.sh            # the committed seed and counts
#   SEED=9 COUNT=5000 CANCEL_COUNT=2000 conformance/regenerate.sh
#
# Needs python3 with venv and pip, and access to PyPI the first time (twisted_trace.py installs
# the pinned Twisted in conformance/.venv). Replaying the golden files (cargo test) needs none
# of this. Then run `cargo test --test conformance` and update docs/conformance.md's counts.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v python3 >/dev/null 2>&1; then
    echo "regenerate.sh: python3 is needed to regenerate the golden files (replaying them is not)" >&2
    exit 1
fi

SEED="${SEED:-8}"
COUNT="${COUNT:-3000}"
CANCEL_COUNT="${CANCEL_COUNT:-1000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 generate.py --seed "$SEED" --count "$COUNT" --out "$work/random.jsonl"
python3 generate.py --seed "$SEED" --count "$CANCEL_COUNT" --profile cancel --out "$work/cancel.jsonl"
python3 quirks.py > "$work/quirks.jsonl"
mkdir -p golden
python3 twisted_trace.py "$@" "$work/random.jsonl" golden/random.jsonl
python3 twisted_trace.py "$@" "$work/cancel.jsonl" golden/cancel.jsonl
python3 twisted_trace.py "$@" "$work/quirks.jsonl" golden/quirks.jsonl
