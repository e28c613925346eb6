#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite, then lint and type checks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy
# The layer contract (cli -> edge | office -> cloud_sync -> offline_db | drivers -> core),
# once pyproject.toml carries it.
if grep -q '^\[tool\.importlinter\]' pyproject.toml; then
    .venv/bin/lint-imports --no-cache
fi
.venv/bin/python -m pytest "$@"
