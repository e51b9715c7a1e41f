#!/usr/bin/env bash
# Makes the virtual environments run.sh looks for: .venv/cpython with Twisted 26.10.0, and
# .venv/pypy with the newest Twisted that the PyPy here supports (26.10.0 needs Python 3.10;
# Debian 12's PyPy is 3.9, which gets Twisted 25.5.0). Skips whichever interpreter is missing.
# PyPy itself: `apt-get install pypy3 pypy3-venv` on Debian.
set -euo pipefail
cd "$(dirname "$0")"
if command -v python3 > /dev/null 2>&1; then
  python3 -m venv .venv/cpython
  .venv/cpython/bin/pip install --quiet 'twisted==26.10.0'
else
  echo "no python3; skipping CPython" >&2
fi
if command -v pypy3 > /dev/null 2>&1; then
  pypy3 -m venv .venv/pypy
  .venv/pypy/bin/pip install --quiet 'twisted==26.10.0' 2> /dev/null \
    || .venv/pypy/bin/pip install --quiet twisted
else
  echo "no pypy3; skipping PyPy (Debian: apt-get install pypy3 pypy3-venv)" >&2
fi
