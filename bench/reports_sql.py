"""The SQL that generates a year of sales inside the database (bench/reports.py).

Every figure of a sale comes from its global number ``n`` through a keyed hash that
SQLite and PostgreSQL compute alike (64-bit integer arithmetic, modulo the Mersenne
prime 2**31 - 1, squared once so that fields are not linear in ``n``): the same seed
gives the same sales on both databases, and no row passes through Python. One
``INSERT ... SELECT`` per station numbers its sales by time (``ROW_NUMBER``), so every
station's ``seq`` is gap-free and follows ``completed_at``, as a real journal's does.

The shapes (docs/benchmarks.md, "Reports"): 40 % of the sales are fleet cards (at full
size cards 100,000-119,999, bound to vehicles 0-14,999 or driver cards naming vehicles
15,000-19,999), mostly diesel, with odometer readings (a few backwards, a few flagged);
60 % personal cards, skewed towards low card numbers (a few heavy buyers, a long tail);
days spread over the year with fewer sales on Sundays, hours peaking in the afternoon;
30 % priced with a ``pricing`` document (core/formats/pricing_line.py's shape: list
amount, discounts, points earned and burned, a voucher on every 200th sale); a money
wallet debited on a third of the sales of every fifth personal card.
"""

from __future__ import annotations

from dataclasses import dataclass

P = 2147483647  # 2**31 - 1
#: (multiplier, addend) per random field r0..r12.
_KEYS = ((48271, 11), (69621, 97), (16807, 1013), (39373, 7919), (40692, 104729),
         (40014, 1299709), (41160, 15485863), (45742, 32452843), (52774, 49979687),
         (63093, 67867967), (42871, 86028121), (57037, 104395301), (35317, 122949823))
#: Hash words of the journal hash (8 x 8 hex digits): small multipliers, as the key
#: (station * 10**8 + seq) is up to ~3 * 10**10.
_HASH = (2531011, 1103515, 214013, 134775, 22695477 % 99991, 1664525 % 99989, 69069, 1013904)
PRODUCTS = {"AI92": 5200, "AI95": 5600, "AI98": 6400, "DT": 6100}  # minor units per litre
VOUCHER_EVERY = 200
VOUCHER_BATCHES = 20
VOUCHER_VALUE = 10_000
POINT_VALUE = 100  # minor units per point burned


def tank_ml(j: int) -> int:
    """Vehicle ``j``'s tank (Python and :func:`_tank` agree)."""
    return (400_000, 120_000, 70_000, 70_000)[j % 4]


def _tank(j: str) -> str:
    return f"(CASE {j} % 4 WHEN 0 THEN 400000 WHEN 1 THEN 120000 ELSE 70000 END)"


@dataclass(frozen=True)
class Dialect:
    """The few spellings that differ between SQLite and PostgreSQL."""

    vendor: str

    def rows(self, count: int) -> tuple[str, str]:
        """(a WITH clause or '', the FROM item) giving ``i`` = 1..count."""
        if self.vendor == "postgresql":
            return "", f"generate_series(1::bigint, {count}) AS k(i)"
        return (f"k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < {count}), ",
                "k")

    def recursive(self) -> str:
        return "WITH RECURSIVE " if self.vendor == "sqlite" else "WITH "

    def pad(self, expr: str, width: int) -> str:
        if self.vendor == "postgresql":
            return f"lpad(({expr})::text, {width}, '0')"
        return f"printf('%0{width}d', {expr})"

    def hex64(self, words: list[str]) -> str:
        if self.vendor == "postgresql":
            return " || ".join(f"lpad(to_hex({w}), 8, '0')" for w in words)
        return f"printf('{'%08x' * len(words)}', {', '.join(words)})"

    def stamp(self, secs: str, micro: str) -> str:
        """Epoch seconds and microseconds as the store's ISO UTC text."""
        if self.vendor == "postgresql":
            head = (f"to_char(to_timestamp({secs}) AT TIME ZONE 'UTC', "
                    "'YYYY-MM-DD\"T\"HH24:MI:SS')")
        else:
            head = f"strftime('%Y-%m-%dT%H:%M:%S', {secs}, 'unixepoch')"
        return f"{head} || '.' || {self.pad(micro, 6)} || 'Z'"

    def json_int(self, column: str, key: str) -> str:
        if self.vendor == "postgresql":
            return f"(({column})::jsonb ->> '{key}')::bigint"
        return f"json_extract({column}, '$.{key}')"

    def json_text(self, column: str, key: str) -> str:
        if self.vendor == "postgresql":
            return f"(({column})::jsonb ->> '{key}')"
        return f"json_extract({column}, '$.{key}')"

    def plus_days(self, day_text: str, days: int | str) -> str:
        """A ``YYYY-MM-DD`` text ``days`` (a number or an integer expression) later."""
        if self.vendor == "postgresql":
            return f"to_char(({day_text})::date + ({days})::int, 'YYYY-MM-DD')"
        return f"date({day_text}, ({days}) || ' days')"


def station_sales(d: Dialect, *, station_no: int, count: int, n0: int, seed: int,
                  base_epoch: int, personal: int, fleet: int) -> str:
    """The ``INSERT`` of station ``station_no``'s ``count`` sales, global numbers
    ``n0 + 1`` .. ``n0 + count``, over the 365 days from ``base_epoch`` (UTC seconds of
    the first local midnight); card numbers below ``personal`` are personal cards, the
    ``fleet`` after them fleet cards."""
    offset = seed * 1_000_003
    with_rows, source = d.rows(count)
    us = ", ".join(f"(({n0} + i + {offset}) * {a} + {b}) % {P} AS u{k}"
                   for k, (a, b) in enumerate(_KEYS))
    rs = ", ".join(f"(u{k} * u{k}) % {P} AS r{k}" for k in range(len(_KEYS)))
    sunday = f"(({base_epoch // 86400} + r4 % 365 + 3) % 7 = 6)"
    fields = (
        f"n, r0, r1, r2, r3, r11, r12, "
        f"CASE WHEN r1 % 100 < 40 THEN {personal} + r2 % {fleet} "
        f"ELSE (r2 % {personal}) * (r3 % {personal}) / {personal} END AS cardno, "
        f"CASE WHEN {sunday} AND r5 % 2 = 0 THEN (r4 % 365 + 1) % 365 ELSE r4 % 365 END AS day, "
        "CASE WHEN r6 % 10 = 0 THEN r7 % 24 ELSE 6 + (r6 / 10) % 9 + (r7 / 24) % 9 END AS hour, "
        "r8 % 3600 AS sec, r9 % 1000000 AS micro, r5 AS rp, r10 AS rv")
    card = (f"n, r0, r1, r2, r3, r11, r12, cardno, micro, rp, rv, "
            f"{base_epoch} + day * 86400 + hour * 3600 + sec AS secs, day, "
            f"cardno >= {personal} AS fleet, cardno - {personal} AS j")
    product = ("CASE WHEN fleet THEN CASE WHEN rp % 10 < 8 THEN 'DT' ELSE 'AI95' END "
               "ELSE CASE WHEN rp % 20 < 7 THEN 'AI92' WHEN rp % 20 < 14 THEN 'AI95' "
               "WHEN rp % 20 < 16 THEN 'AI98' ELSE 'DT' END END")
    volume = (f"CASE WHEN fleet THEN {_tank('j')} * (300 + rv % 650) / 1000 "
              f"+ CASE WHEN rv % 1000 = 0 THEN {_tank('j')} / 5 ELSE 0 END "
              "ELSE 8000 + rv % 52000 END")
    priced = f"(r11 % 10 < 3 OR n % {VOUCHER_EVERY} = 0)"
    shaped = (f"n, r0, r1, r2, r3, r11, r12, cardno, micro, secs, day, fleet, j, "
              f"{product} AS product, {volume} AS volume_ml, {priced} AS priced")
    price = " ".join(f"WHEN '{p}' THEN {v}" for p, v in PRODUCTS.items())
    valued = (f"*, (CASE product {price} END) + day / 30 * 20 AS unit_price")
    listed = "*, (volume_ml * unit_price + 500) / 1000 AS list_amount"
    discount = ("CASE WHEN NOT priced THEN 0 WHEN r11 % 30 < 9 THEN volume_ml / 10 "
                "WHEN r11 % 30 < 15 THEN list_amount * 3 / 100 ELSE 0 END")
    discounted = (f"*, {discount} AS disc, CASE WHEN priced AND r12 % 20 = 0 THEN 100 "
                  f"ELSE 0 END AS burned, CASE WHEN n % {VOUCHER_EVERY} = 0 THEN "
                  f"{VOUCHER_VALUE} ELSE 0 END AS vvalue")
    ordered = (f"*, ROW_NUMBER() OVER (ORDER BY secs, micro, n) AS seq, "
               f"{station_no * 100_000_000} AS hkey")
    return (
        "INSERT INTO sales (station_id, seq, sale_id, card_id, pump, product, volume_ml, "
        "unit_price, amount, authorized_at, completed_at, wallet_debits, prev_hash, hash, "
        "received_at, via, vehicle_id, odometer_km, odometer_flag, pricing) "
        f"{d.recursive()}{with_rows}"
        f"g AS (SELECT {n0} + i AS n, {us} FROM {source}), "
        f"h AS (SELECT n, {rs} FROM g), "
        f"f AS (SELECT {fields} FROM h), "
        f"c AS (SELECT {card} FROM f), "
        f"s1 AS (SELECT {shaped} FROM c), "
        f"s2 AS (SELECT {valued} FROM s1), "
        f"s3 AS (SELECT {listed} FROM s2), "
        f"s4 AS (SELECT {discounted} FROM s3), "
        f"o AS (SELECT {ordered} FROM s4) "
        f"SELECT {_columns(d, station_no, base_epoch)} FROM o ORDER BY seq")


def _columns(d: Dialect, station_no: int, base_epoch: int) -> str:
    completed = d.stamp("secs", "micro")
    words = [f"((hkey + seq) * {m} + {k * 7907}) % {P}" for k, m in enumerate(_HASH)]
    prev = [f"((hkey + seq - 1) * {m} + {k * 7907}) % {P}" for k, m in enumerate(_HASH)]
    amount = "list_amount - disc"
    wallet = (f"CASE WHEN NOT fleet AND cardno % 5 = 0 AND r3 % 3 = 0 THEN "
              f"'{{\"W' || {d.pad('cardno', 7)} || '\":' || ({amount}) || '}}' ELSE '{{}}' END")
    vehicle = f"CASE WHEN fleet THEN 'V' || {d.pad('j', 6)} END"
    rate = "(80 + j % 200)"
    odometer = (f"CASE WHEN fleet AND r12 % 10 <> 0 THEN 5000 + (j % 97) * 1000 "
                f"+ (secs - {base_epoch}) * {rate} / 86400 "
                "- CASE WHEN r12 % 2000 = 1 THEN 3000 ELSE 0 END END")
    flag = "CASE WHEN fleet AND r12 % 4000 = 1 THEN 'odometer_unreasonable' END"
    serial = f"{d.pad(f'1 + (n / {VOUCHER_EVERY}) % {VOUCHER_BATCHES}', 6)} || " \
             f"{d.pad(f'(n / {VOUCHER_EVERY}) / {VOUCHER_BATCHES} + 1', 6)}"
    kind = "CASE WHEN fleet THEN 'rfid' WHEN cardno % 3 = 0 THEN 'digital' ELSE 'magstripe' END"
    doc = (
        "'{\"revision\":3,\"discounts\":' || CASE WHEN disc > 0 THEN '[[\"' || "
        "CASE WHEN r11 % 30 < 9 THEN 'R-LITRE' ELSE 'R-PERCENT' END || '\",' || disc || ']]' "
        "ELSE '[]' END || ',\"earn_rules\":[\"E-LITRE\"],\"basis\":{\"local\":\"' || "
        f"substr({completed}, 1, 26) || '+00:00\",\"card_kind\":\"' || {kind} || "
        "'\",\"station_groups\":[],\"groups\":[],\"points_earned\":{},\"month_volume_ml\":0,"
        "\"month_amount\":0,\"last_month_volume_ml\":0,\"last_month_amount\":0,"
        "\"fills_this_month\":0,\"points_available\":0,\"wallet_ml\":0},\"points_asked\":' "
        "|| burned || ',\"list_amount\":' || list_amount || ',\"voucher_ml\":0,"
        "\"voucher_value\":' || vvalue || ',\"wallet_ml\":0,\"wallet_value\":0,"
        "\"points_burned\":' || burned || ',\"points_value\":' || "
        f"(burned * {POINT_VALUE}) || ',\"money_due\":' || "
        f"({amount} - burned * {POINT_VALUE} - vvalue) || ',\"points_earned\":' || "
        f"(volume_ml / 1000) || CASE WHEN vvalue > 0 THEN ',\"voucher\":\"' || {serial} || "
        "'\"' ELSE '' END || '}'")
    return ", ".join((
        f"'S-{station_no:03d}'", "seq", f"'A' || {d.pad('n', 9)}",
        f"'K' || {d.pad('cardno', 7)}", "1 + r0 % 8", "product", "volume_ml", "unit_price",
        amount, d.stamp("secs - 60 - r1 % 120", "micro"), completed, wallet,
        f"CASE WHEN seq = 1 THEN '{'0' * 64}' ELSE {d.hex64(prev)} END", d.hex64(words),
        d.stamp("secs + 3 + r2 % 60", "micro"),
        "CASE WHEN r0 % 50 = 0 THEN 'flash' ELSE 'mqtt' END", vehicle, odometer, flag,
        f"CASE WHEN priced THEN {doc} END"))


def derived(d: Dialect, stamp: str, end: str) -> list[tuple[str, str]]:
    """(what, SQL) of the rows that follow from the sales: wallet debits and top-ups
    (every 500th wallet overdrawn), settled priced sales, the points ledger (a lot per
    earning, expiring after 180 days, a third of them spent), voucher redemptions and
    a double redemption of every 50th voucher, a few repricing differences, and the
    credit customers' payments and adjustments (:func:`account_entries`; ``end``: the
    last day, ``YYYY-MM-DD``)."""
    earned = d.json_int("pricing", "points_earned")
    burned = d.json_int("pricing", "points_burned")
    serial = d.json_text("s.pricing", "voucher")
    return [
        ("wallet debits",
         "INSERT INTO wallet_debits (station_id, seq, wallet_id, value) "
         "SELECT station_id, seq, 'W' || substr(card_id, 2), amount FROM sales "
         "WHERE wallet_debits <> '{}'"),
        ("wallet top-ups",
         "INSERT INTO wallet_entries (kind, value, at, actor, via, reason, wallet_id) "
         "SELECT 'topup', SUM(value) - CASE WHEN CAST(substr(wallet_id, 2) AS BIGINT) % 2500 "
         f"= 5 THEN 5000 ELSE 0 END, '{stamp}', 'bench', 'cli', '', wallet_id "
         "FROM wallet_debits GROUP BY wallet_id ORDER BY wallet_id"),
        ("priced sales",
         "INSERT INTO priced_sales (station_id, seq, sale_id, card_id, revision, settled_at) "
         "SELECT station_id, seq, sale_id, card_id, 3, received_at FROM sales "
         "WHERE pricing IS NOT NULL"),
        ("points entries",
         "INSERT INTO points_entries (card_id, kind, points, lots, short, station_id, seq, "
         "sale_id, at, actor, reason) SELECT card_id, kind, points, '[]', 0, station_id, seq, "
         "sale_id, completed_at, 'settle', '' FROM ("
         f"SELECT card_id, 'earn' AS kind, {earned} AS points, station_id, seq, sale_id, "
         "completed_at FROM sales WHERE pricing IS NOT NULL UNION ALL "
         f"SELECT card_id, 'burn', -{burned}, station_id, seq, sale_id, completed_at "
         f"FROM sales WHERE pricing IS NOT NULL AND {burned} > 0) t "
         "ORDER BY completed_at, station_id, seq, kind DESC"),
        ("points lots",
         "INSERT INTO points_lots (card_id, earned_on, expires, points, remaining, "
         "station_id, sale_id, created_at) SELECT card_id, substr(at, 1, 10), "
         f"{d.plus_days('substr(at, 1, 10)', 180)}, points, "
         "CASE WHEN seq % 3 = 0 THEN 0 ELSE points END, station_id, sale_id, at "
         "FROM points_entries WHERE kind = 'earn' AND points > 0 ORDER BY id"),
        ("voucher redemptions",
         "INSERT INTO voucher_redemptions (serial, station_id, sale_id, seq, card_id, "
         f"redeemed_at, value, volume_ml, recorded_at, batch_id) SELECT {serial}, "
         f"s.station_id, s.sale_id, s.seq, s.card_id, s.completed_at, {VOUCHER_VALUE}, 0, "
         f"s.received_at, 'VB' || substr({serial}, 1, 6) FROM sales s "
         f"WHERE s.pricing IS NOT NULL AND {serial} IS NOT NULL "
         "ORDER BY s.completed_at"),
        ("voucher exceptions",
         "INSERT INTO voucher_exceptions (serial, station_id, sale_id, seq, card_id, "
         "customer_id, redeemed_at, value, volume_ml, status, settled_by, settled_at, note, "
         "created_at, batch_id) SELECT serial, station_id, sale_id || 'X', seq, card_id, NULL, "
         "redeemed_at, value, 0, CASE WHEN id % 100 = 0 THEN 'written_off' ELSE 'open' END, "
         "NULL, NULL, '', recorded_at, batch_id FROM voucher_redemptions WHERE id % 50 = 0"),
        ("pricing differences",
         "INSERT INTO pricing_differences (station_id, seq, sale_id, field, station_value, "
         f"office_value, found_at) SELECT station_id, seq, sale_id, 'amount', '1', '2', "
         f"'{stamp}' FROM priced_sales WHERE seq % 20000 = 7"),
        ("account entries", account_entries(d, stamp, end)),
    ]


def account_entries(d: Dialect, stamp: str, end: str) -> str:
    """Payments and adjustments of the customers on credit terms, value-dated up to
    ``end``: per customer and (UTC) month of sales, a bank payment 5-49 days after the
    month's end of the month's whole amount (customer number % 10 of 0-6), of 85 % of
    it (7, 8: a debt that grows), or none (9: everything goes overdue); a credit note
    of 100.00 twenty days before the end for every 7th customer, a debit note of 250.00
    forty days before it for every 11th."""
    number = "CAST(substr(c.customer_id, 2) AS BIGINT)"
    month = "substr(s.completed_at, 1, 7)"
    first = month + " || '-01'"
    share = f"(CASE WHEN {number} % 10 < 7 THEN 100 WHEN {number} % 10 < 9 THEN 85 ELSE 0 END)"
    offset = f"31 + 4 + ({number} * 7 + CAST(substr({month}, 6, 2) AS BIGINT)) % 45"
    credit = ("FROM customers c WHERE c.payment_terms = 'credit' AND "
              f"{number} % {{n}} = {{r}}")
    cols = "customer_id, kind, amount, method, reference, value_date, reason, at, actor, via"
    return (
        f"INSERT INTO account_entries ({cols}) SELECT {cols} FROM ("
        f"SELECT c.customer_id, 'payment' AS kind, -(CAST(SUM(s.amount) AS BIGINT) * {share} "
        f"/ 100) AS amount, 'bank' AS method, 'BANK-' || {month} AS reference, "
        f"{d.plus_days(first, offset)} AS value_date, '' AS reason, "
        f"'{stamp}' AS at, 'bench' AS actor, 'cli' AS via FROM sales s JOIN cards k "
        "ON k.card_id = s.card_id JOIN customers c ON c.customer_id = k.customer_id "
        f"WHERE c.payment_terms = 'credit' AND {number} % 10 < 9 "
        f"GROUP BY c.customer_id, {month} "
        "UNION ALL SELECT c.customer_id, 'adjustment', -10000, '', '', "
        f"{d.plus_days(repr(end), -20)}, 'bench credit note', '{stamp}', 'bench', 'cli' "
        f"{credit.format(n=7, r=3)} "
        "UNION ALL SELECT c.customer_id, 'adjustment', 25000, '', '', "
        f"{d.plus_days(repr(end), -40)}, 'bench debit note', '{stamp}', 'bench', 'cli' "
        f"{credit.format(n=11, r=4)}) t WHERE value_date <= '{end}' AND amount <> 0 "
        "ORDER BY value_date, customer_id, kind, amount")
