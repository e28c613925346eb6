#!/usr/bin/env bash
# Set up (scripts/setup.sh), then `forecourt demo`: the whole system on this machine in
# one command. A head office with its web console, a station with two simulated DART
# pumps and four card readers (a magstripe swipe, an NFC tag, QR tokens), sales over a
# private mosquitto (or on a flash drive without one), a live view of every sale, and
# a summary proving each reached the office exactly once. Leaves nothing running.
# Options go to `forecourt demo` (docs/demo.md): --sales N, --keep, --no-mqtt, --dir DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/forecourt demo "$@"
