#!/bin/sh
# The test command, as the README gives it and as CI runs it: one script, so the two cannot
# drift. From a fresh clone with only Python it creates .venv (or reuses it), installs s1uvm
# with its development tools, then lints, type-checks and runs both test tiers — the fast
# tier first, so a plain mistake fails in seconds, then the system suites. Arguments go to
# both pytest runs (e.g. `sh tools/test.sh -x`). Any failure, including a pytest run that
# collects no tests (its exit code 5), stops the script with a non-zero exit code.
set -eu
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv
fi
bin=.venv/bin
"$bin/python" -m pip install -q -e '.[dev]'
"$bin/ruff" check src tests bench
"$bin/ruff" format --check src tests bench
"$bin/mypy"
"$bin/pytest" -q "$@"
"$bin/pytest" -q -m system "$@"
