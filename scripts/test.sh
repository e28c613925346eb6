#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite, then lint and type checks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy
# The layer contract (cli -> edge | office -> cloud_sync -> offline_db | drivers -> core)
# and no office extras below office/ (pyproject.toml, [tool.importlinter]).
.venv/bin/lint-imports --no-cache
# Six workers, a test file each at a time (a file's tests share their fixtures): most
# tests wait on daemons, brokers and databases, so six fit two cores (four took over
# 20 minutes). Every office test
# runs on SQLite and on PostgreSQL. Arguments are pytest's (e.g. -n 0 for one process).
.venv/bin/python -m pytest -n 6 --dist loadfile "$@"
