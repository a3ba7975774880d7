#!/usr/bin/env sh
# The test command: lint, type-check, then the test suite. Run from the repository root
# inside the virtual environment that the README's install step creates.
set -eu
ruff check src tests bench
ruff format --check src tests bench
mypy
pytest "$@"
