#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the station on embedded defaults: a fresh data
# directory, `forecourt init`, the sample card store, the daemon, and a few sales
# through it, printing what happened. Leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ROOT=$(pwd)
WORK=$(mktemp -d /tmp/forecourt-demo.XXXXXX)
# The embedded defaults, with the data directory in a fresh temporary folder.
sed "s|^data_dir = .*|data_dir = \"$WORK/station\"|" config.toml > "$WORK/config.toml"
export FORECOURT_CONFIG="$WORK/config.toml"
fc() { echo "\$ forecourt $*"; "$ROOT/.venv/bin/forecourt" "$@"; echo; }

fc init
fc cards import "$ROOT/tests/data/card-store.json"

echo "# starting the station daemon (forecourt run) in the background"
"$ROOT/.venv/bin/forecourt" --config "$WORK/config.toml" run > "$WORK/daemon.log" 2>&1 &
DAEMON=$!
trap 'kill -TERM $DAEMON 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -S "$WORK/station/control.sock" ] && break; sleep 0.1; done
echo

sale_id() { "$ROOT/.venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["sale_id"])'; }
say() { echo "# $*"; }

say "magstripe card 7800001234567890: AI-95 paid from its money wallet W-1"
SALE1=$("$ROOT/.venv/bin/forecourt" sale authorize --card 7800001234567890 --pump 1 --product AI95 --json | sale_id)
say "authorized as $SALE1; the whole wallet is now reserved for pump 1, so pump 2 is refused:"
fc sale authorize --card 7800001234567890 --pump 2 --product AI95
say "pump 1 delivered 15.2 litres; the rest of the reservation is released"
fc sale complete "$SALE1" --volume 15200
fc sale authorize --card 7800001234567890 --pump 2 --product AI95
say "smart card 7800001234567892 with PIN 1234: diesel from its litre wallet"
SALE2=$("$ROOT/.venv/bin/forecourt" sale authorize --card 7800001234567892 --pump 3 --pin 1234 --product DT --json | sale_id)
fc sale complete "$SALE2" --volume 42350
fc sale authorize --card 7800001234567894 --pump 4
fc sale authorize --card 7800009999999999 --pump 4
fc sale authorize --card 7800001234567892 --pump 4 --pin 0000
fc sale list --open
say "cancel what is still open"
for id in $("$ROOT/.venv/bin/forecourt" sale list --open --json | "$ROOT/.venv/bin/python" -c 'import json,sys; print(" ".join(r["sale_id"] for r in json.load(sys.stdin)))'); do
    fc sale cancel "$id"
done
fc cards show 7800001234567892
fc journal list
fc journal verify
fc status

kill -TERM $DAEMON
wait $DAEMON || true
trap - EXIT
echo "# daemon stopped; its log:"
cat "$WORK/daemon.log"
echo
echo "demo data left in $WORK"
