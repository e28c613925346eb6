#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite, then lint and type checks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
