#!/usr/bin/env bash
# A guided tour of the commands, for those who want to see each one at work after
# `forecourt demo` (scripts/demo.sh) has shown the whole system: set up
# (scripts/setup.sh), then the station on embedded defaults (a fresh data directory,
# `forecourt init`, the sample card store, two simulated DART pumps on a
# pseudo-terminal, the daemon) and sales through it by hand, refusals (limits, PINs,
# the stop list, a replayed QR token), the office's customers, pricing, loyalty and
# vouchers, a flash-drive round trip, reports and the web console, printing each
# command and what it answered. Leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ROOT=$(pwd)
FC="$ROOT/.venv/bin/forecourt"
WORK=$(mktemp -d /tmp/forecourt-tour.XXXXXX)

# The embedded defaults with the station's and the office's data directories in a
# fresh temporary folder (each its own, as on two machines), plus
# one pump line with two simulated DART pumps (pumps 1 and 2). Pumps 3 and 4 are on
# no line: manual pumps, completed by the attendant.
sed -e "s|^data_dir = \"var/station\"|data_dir = \"$WORK/station\"|" \
    -e "s|^data_dir = \"var/office\"|data_dir = \"$WORK/office\"|" config.toml > "$WORK/config.toml"
cat >> "$WORK/config.toml" <<CONFIG

[[pump_lines]]
name = "island-1"
port = "$WORK/pumps.tty"
parity = "none"   # a pty ignores parity

[[pump_lines.pumps]]
number = 1
address = 80
nozzles = ["AI92", "AI95", "DT"]

[[pump_lines.pumps]]
number = 2
address = 81
nozzles = ["AI92", "AI95", "DT"]
CONFIG
export FORECOURT_CONFIG="$WORK/config.toml"
fc() { echo "\$ forecourt $*"; "$FC" "$@"; echo; }
say() { echo "# $*"; }
sale_id() { "$ROOT/.venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["sale_id"])'; }

fc init
fc cards import "$ROOT/tests/data/card-store.json"
say "a head office on the same desk, for the flash-drive round trip at the end"
fc office init
sed -i "s|^office_public_key = .*|office_public_key = \"$("$FC" office keys show)\"|" "$WORK/config.toml"
fc office station add S-001 --public-key "$("$FC" keys show)"
fc office cards import "$ROOT/tests/data/card-store.json"

say "starting two simulated DART pumps on a pty (forecourt sim pumps)"
mkfifo "$WORK/sim.in"
"$FC" sim pumps --pumps 2 --link "$WORK/pumps.tty" --flow 4000 \
    < "$WORK/sim.in" > "$WORK/sim.log" 2>&1 &
SIM=$!
exec 3> "$WORK/sim.in"   # the simulator's stdin: forecourt commands go to fd 3
for _ in $(seq 50); do [ -e "$WORK/pumps.tty" ] && break; sleep 0.1; done
say "starting the station daemon (forecourt run) in the background"
"$FC" run > "$WORK/daemon.log" 2>&1 &
DAEMON=$!
trap 'kill -TERM $DAEMON $SIM 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -S "$WORK/station/control.sock" ] && break; sleep 0.1; done
for _ in $(seq 50); do
    "$FC" pump status | grep -q "pump  1 .*online FILLING_COMPLETED" && break
    sleep 0.2
done
echo
fc pump status

say "pump 1 is on the line: the card decision drives the pump (prices, RESET, preset, AUTHORIZE)"
fc sale authorize --card 7800001234567893 --pump 1 --product DT --volume 25000
say "the customer lifts the diesel nozzle (3), fills for a while, and hangs up"
echo "lift 1 3" >&3
sleep 2
fc pump status
echo "hang 1" >&3
for _ in $(seq 50); do "$FC" sale list --open --json | grep -q sale_id || break; sleep 0.1; done
say "the sale completed from the pump's own final volume and totalizers:"
fc journal list

say "a nozzle lifted without a card decision is never authorized"
echo "lift 2 1" >&3
sleep 1
fc pump status
echo "hang 2" >&3

say "pumps 3 and 4 are manual pumps: the attendant enters the volume"
say "magstripe card 7800001234567890: AI-95 paid from its money wallet W-1"
SALE1=$("$FC" sale authorize --card 7800001234567890 --pump 3 --product AI95 --json | sale_id)
say "authorized as $SALE1; the whole wallet is now reserved for pump 3, so pump 4 is refused:"
fc sale authorize --card 7800001234567890 --pump 4 --product AI95
say "pump 3 delivered 15.2 litres; the rest of the reservation is released"
fc sale complete "$SALE1" --volume 15200
fc sale authorize --card 7800001234567890 --pump 4 --product AI95
say "smart card 7800001234567892 with PIN 1234: diesel from its litre wallet"
SALE2=$("$FC" sale authorize --card 7800001234567892 --pump 3 --pin 1234 --product DT --json | sale_id)
fc sale complete "$SALE2" --volume 42350
say "pump 4 now has an open sale: one authorization per pump, so another card is pump_busy"
fc sale authorize --card 7800001234567893 --pump 4
fc sale authorize --card 7800001234567894 --pump 5
fc sale authorize --card 7800009999999999 --pump 5
fc sale authorize --card 7800001234567892 --pump 5 --pin 0000
say "wrong PINs lock a card at pin_max_tries; an administrator can forget them (audited)"
fc cards pin-reset 7800001234567892
say "digital card 7800001234567897: its number alone is refused (token_required);"
say "the QR token the head office signs for it is accepted, once"
fc sale authorize --card 7800001234567897 --pump 5
TOKEN=$("$FC" office cards token 7800001234567897 --valid 10m)
fc sale authorize --token "$TOKEN" --pump 5 --product AI92 --volume 20000
fc sale authorize --token "$TOKEN" --pump 6
fc sale list --open
say "cancel what is still open"
for id in $("$FC" sale list --open --json | "$ROOT/.venv/bin/python" -c 'import json,sys; print(" ".join(r["sale_id"] for r in json.load(sys.stdin)))'); do
    fc sale cancel "$id"
done
fc cards show 7800001234567892
fc journal list
fc journal verify

say "the head office signs up a customer (found again however the name is typed),"
say "issues a card with a 30 l day limit and opens a wallet of 1,000.00 on it"
fc office customers add --name "Şükrü Yılmaz" --phone "+90 532 123 45 67" --customer-id C-DEMO
fc office customers list --search "sukru yilmas"
fc office cards issue --customer C-DEMO --kind smart --card-id K-DEMO
fc office cards limit K-DEMO --period day --unit volume --value 30000
fc office wallets add K-DEMO --unit money --balance 100000 --wallet-id W-DEMO
say "pricing and loyalty: 5 % off diesel, a point a litre, and a batch of ten 20 l"
say "diesel vouchers (talons) with their CSV and a printable PDF sheet of QR codes"
fc office loyalty settings --point-value 100 --expiry-days 365
fc office discounts add --kind product --percent 5 --product DT --name "Diesel 5 %"
fc office loyalty earn --basis volume --points 1 --per 1000
fc office vouchers issue --product DT --volume 20000 --count 10 --valid 30d --out "$WORK/talons.csv"

say "no network: a technician carries the sales to the head office on a USB stick"
mkdir -p "$WORK/stick"
fc flash export "$WORK/stick"
fc office flash import "$WORK/stick/forecourt-S-001-sales.fcb"
fc office flash import "$WORK/stick/forecourt-S-001-sales.fcb"
fc office flash export --station S-001 "$WORK/stick"
say "back at the station: the receipt delivers the sales"
fc flash import "$WORK/stick/forecourt-S-001-reply.fcb"
say "the reply also brought the new card: the station knows its limit and its wallet"
fc cards show K-DEMO
say "and the office's rules: K-DEMO's diesel is 5 % off, and earns points"
SALE3=$("$FC" sale authorize --card K-DEMO --pump 3 --product DT --json | sale_id)
fc sale complete "$SALE3" --volume 10000
say "a talon alone buys its 20 l of diesel, once; the second try is refused"
CODE=$("$ROOT/.venv/bin/python" -c 'import csv,sys; print(next(csv.DictReader(open(sys.argv[1], encoding="utf-8-sig")))["code"].strip())' "$WORK/talons.csv")
TALON=$("$FC" sale authorize --voucher "$CODE" --pump 3 --json | sale_id)
fc sale complete "$TALON" --volume 20000
fc sale authorize --voucher "$CODE" --pump 4
say "a stick with a flipped byte is refused, and nothing changes"
cp "$WORK/stick/forecourt-S-001-sales.fcb" "$WORK/tampered.fcb"
printf '\x00' | dd of="$WORK/tampered.fcb" bs=1 conv=notrunc status=none \
    seek=$(( $(stat -c %s "$WORK/tampered.fcb") - 100 ))
fc office flash import "$WORK/tampered.fcb" || true
fc status

say "the operator's shift report at hand-over (totalizers read from the pumps),"
say "and the head office's reports: consumption per day and station, top customers,"
say "station turnover as a spreadsheet with a native chart, and its chart as SVG"
fc report shift --close
fc office report consumption --by day --per station
fc office report top-customers
fc office report stations --format xlsx --out "$WORK/stations.xlsx" --chart "$WORK/stations.svg"

say "the head office's web console: a first administrator (no default password), then"
say "forecourt office web (gunicorn) serving its login page"
echo "demo-console-$(date +%s)-pass" | "$FC" office users add admin --admin --password-stdin
WEB_PORT=$("$ROOT/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$FC" office web --bind "127.0.0.1:$WEB_PORT" > "$WORK/web.log" 2>&1 &
WEB=$!
trap 'kill -TERM $DAEMON $SIM $WEB 2>/dev/null || true' EXIT
"$ROOT/.venv/bin/python" - "$WEB_PORT" <<'PY'
import re, sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/login/"
deadline = time.monotonic() + 90  # gunicorn and Django take a while on a busy machine
while time.monotonic() < deadline:
    try:
        page = urllib.request.urlopen(url, timeout=5).read().decode()
        break
    except OSError:
        time.sleep(0.2)
else:
    sys.exit(f"the console did not answer at {url}")
title = re.search(r"<title>(.*?)</title>", page, re.S)
print(f"GET {url} -> 200, {title.group(1).strip() if title else 'a page'}")
PY
kill -TERM $WEB
wait $WEB || true
echo

kill -TERM $DAEMON
wait $DAEMON || true
echo quit >&3
exec 3>&-
wait $SIM || true
trap - EXIT
say "daemon stopped; its log:"
cat "$WORK/daemon.log"
echo
echo "tour data left in $WORK"
