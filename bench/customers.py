"""Benchmark: finding people among many customers (issue 12, "Finding people").

What: builds an office store with N customers (names in Turkish, Vietnamese and
Russian, a phone each, some near-duplicates), a card each, M sales over two years and
wallets on a fifth of the cards (rows written straight into the tables in big
transactions), then times the real code: ``office.customers.find.find`` for a few
searches (exact, a typo, a phone typed nationally, a short prefix), the filters of the
example "no sale in 90 days but turnover above 1,000.00" with and without a search, and
``office.customers.duplicates.duplicates`` once.

Why: the search must answer from the trigram index (pg_trgm, FTS5 trigram) and the
filters must aggregate in the database; a scan per query or a loop per customer shows
up here as seconds. The script reports; it does not fail.

Run::

    .venv/bin/python bench/customers.py                          # SQLite, 100,000 / 1,000,000
    .venv/bin/python bench/customers.py --sales 10000000         # the 10M sales of the brief
    .venv/bin/python bench/customers.py --database postgresql://...  # an empty database
                                                                 # (C collation) to fill
    .venv/bin/python bench/customers.py --dir D --reuse          # measure a built store again
"""

from __future__ import annotations

import argparse
import functools
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

FIRST = {"tr": ["Şükrü", "Ayşe", "Mehmet", "Fatma", "Ahmet", "Emine", "Mustafa", "Hatice",
                "Ali", "Zeynep", "Hüseyin", "Elif", "Hasan", "Özlem", "İbrahim", "Gülşen"],
         "vi": ["Nguyễn Văn", "Trần Thị", "Lê Văn", "Phạm Thị", "Hoàng Văn", "Huỳnh Thị",
                "Võ Văn", "Đặng Thị", "Bùi Văn", "Đỗ Thị"],
         "ru": ["Иван", "Анна", "Сергей", "Ольга", "Дмитрий", "Елена", "Алексей", "Мария"]}
LAST = {"tr": ["Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Yıldız", "Yıldırım", "Öztürk",
               "Aydın", "Özdemir", "Arslan", "Doğan", "Kılıç", "Aslan", "Çetin", "Kara"],
        "vi": ["An", "Bình", "Cường", "Dũng", "Giang", "Hải", "Hùng", "Khoa", "Linh", "Minh",
               "Nam", "Phúc", "Quang", "Sơn", "Thảo", "Tuấn"],
        "ru": ["Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов",
               "Михайлов", "Новиков", "Фёдоров", "Морозов", "Волков"]}
PREFIX = {"tr": "+90532", "vi": "+84912", "ru": "+7495"}


def _names(n: int, rng: random.Random) -> Iterator[tuple[str, str]]:
    for i in range(n):
        market = rng.choice(("tr", "vi", "ru"))
        first, last = rng.choice(FIRST[market]), rng.choice(LAST[market])
        name = f"{last} {first}" if market == "ru" else f"{first} {last}"
        if i % 20 == 19:  # a near-duplicate: one letter dropped
            cut = rng.randrange(1, len(name) - 1)
            name = name[:cut] + name[cut + 1:]
        yield name, f"{PREFIX[market]}{rng.randrange(10**6, 10**7)}"


def build(customers: int, sales: int, rng: random.Random) -> None:
    from core.timefmt import iso, utc_now
    from office import db
    from office.customers.search import search_key

    now = utc_now()
    stamp = iso(now)
    rows, cards = [], []
    for i, (name, phone) in enumerate(_names(customers, rng)):
        cid = f"C-{i + 1:07d}"
        rows.append((cid, name, search_key(name, customer_id=cid, phones=[phone]),
                     f'["{phone}"]', stamp, "bench", stamp, "bench"))
        cards.append((f"K-{i + 1:07d}", "digital", cid, stamp, "bench", stamp, "bench"))
    with db.atomic():
        db.executemany("INSERT INTO customers (customer_id, name, search_key, phones, "
                       "created_at, created_by, modified_at, modified_by) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.executemany("INSERT INTO cards (card_id, kind, customer_id, issued_at, issued_by, "
                       "modified_at, modified_by) VALUES (?, ?, ?, ?, ?, ?, ?)", cards)
        wallets = [(f"W-{i:07d}", c[0], "money", stamp, "bench")
                   for i, c in enumerate(cards) if i % 5 == 0]
        db.executemany("INSERT INTO wallets (wallet_id, card_id, unit, created_at, created_by) "
                       "VALUES (?, ?, ?, ?, ?)", wallets)
        db.executemany("INSERT INTO wallet_entries (wallet_id, kind, value, at, actor, via) "
                       "VALUES (?, 'opening', ?, ?, 'bench', 'cli')",
                       [(w[0], rng.randrange(0, 500000), stamp) for w in wallets])
    batch: list[tuple[Any, ...]] = []
    span = 730 * 86400
    for seq in range(1, sales + 1):
        # Most customers buy often; a tenth stopped some months ago.
        card = rng.randrange(customers)
        back = rng.randrange(span) if card % 10 else rng.randrange(100 * 86400, span)
        at = iso(now.fromtimestamp(now.timestamp() - back, now.tzinfo))
        batch.append(("S-1", seq, f"s{seq}", cards[card][0], 1, "AI95", 30000, 5000,
                      rng.randrange(50000, 300000), at, at, "{}", "0" * 64, "0" * 64, at,
                      "mqtt"))
        if len(batch) == 50000 or seq == sales:
            with db.atomic():
                db.executemany(
                    "INSERT INTO sales (station_id, seq, sale_id, card_id, pump, product, "
                    "volume_ml, unit_price, amount, authorized_at, completed_at, "
                    "wallet_debits, prev_hash, hash, received_at, via) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
            batch = []
    db.execute("ANALYZE")


def timed(label: str, func: Callable[[], Any], runs: int = 5) -> None:
    times: list[float] = []
    result: Any = None
    for _ in range(runs):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    count = len(result) if hasattr(result, "__len__") else result
    print(f"  {label:<52} median {statistics.median(times) * 1000:8.1f} ms   "
          f"max {max(times) * 1000:8.1f} ms   ({count} rows)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--sales", type=int, default=1_000_000)
    parser.add_argument("--database", default="", help="'' (SQLite) or a postgresql:// URL")
    parser.add_argument("--dir", type=Path, help="the data directory (default: a temporary)")
    parser.add_argument("--reuse", action="store_true",
                        help="measure the store already built in --dir / --database again")
    args = parser.parse_args()
    from office.settings import configure

    data_dir = args.dir or Path(tempfile.mkdtemp(prefix="forecourt-bench-customers-"))
    configure(data_dir, args.database, secret_key="bench-" + "k" * 50)
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from office import db
    from office.customers import filters
    from office.customers.duplicates import duplicates
    from office.customers.find import find

    started = time.perf_counter()
    if not args.reuse:
        build(args.customers, args.sales, random.Random(12))
    counts = [db.fetchall(f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("customers", "sales")]
    print(f"{db.vendor()}: {counts[0]:,} customers, {counts[1]:,} sales "
          f"(built in {time.perf_counter() - started:.0f} s)")
    from core.config import Config

    tz = Config().station.tz
    example = filters.clean({"last_sale_before": "90d", "turnover_min": 100000}, tz)
    for text in ("sukru yilmaz", "yilmas", "nguyen van an", "иванов сергей",
                 "0532 123 45 67", "ay"):
        timed(f"search {text!r}", functools.partial(find, text))
    timed("no sale in 90 days, turnover >= 1,000.00 (limit 50)",
          lambda: find(None, example))
    timed("... every one of them (no limit)", lambda: filters.matching(example), runs=3)
    timed("... and search 'yilmaz'", lambda: find("yilmaz", example))
    timed("balance >= 4,000.00", lambda: find(None, filters.clean({"balance_min": 400000},
                                                                   tz)))
    timed("duplicates", duplicates, runs=1)


if __name__ == "__main__":
    main()
