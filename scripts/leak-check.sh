#!/usr/bin/env bash
# Runs the test suite under AddressSanitizer/LeakSanitizer, which catches leaked allocations
# (an Arc cycle between chains, a step never dropped) and memory errors.
#
# Needs a nightly toolchain (`-Zsanitizer` is unstable). Without one it says so and exits 0, so
# CI on a stable-only machine skips it visibly instead of failing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "leak-check: SKIPPED (no nightly toolchain; install one to run LeakSanitizer)"
    exit 0
fi

target="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Zsanitizer=address"
export RUSTDOCFLAGS="-Zsanitizer=address"
# Locals stay on the real stack (no fake stacks for use-after-return checks): a ported Twisted
# test compares the stack addresses at which callbacks run to prove the depth is bounded.
export ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=0"
# A separate target directory: sanitized and plain builds cannot share artefacts.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/sanitizer"

echo "leak-check: running the suite under LeakSanitizer ($target)"
cargo +nightly test --all-features --target "$target" --tests "$@"
echo "leak-check: no leaks reported"
