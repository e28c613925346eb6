"""The trigram index over customers' search keys, and the SQL that asks it, per database.

``customers.search_key`` (office.customers.search) is already folded in Python, so the
databases only have to find keys that contain a text, or that share many trigrams with
it; rapidfuzz then scores the candidates (office.customers.find).

- **PostgreSQL**: the ``pg_trgm`` extension and a GIN trigram index on
  ``customers.search_key``. ``LIKE '%text%'`` and ``text <% search_key`` (word similarity)
  are answered from the index.
- **SQLite**: an FTS5 table with the ``trigram`` tokenizer (SQLite 3.34 or newer).
  FTS5 needs stable integer row ids, and a table without an INTEGER PRIMARY KEY (as
  ``customers``, keyed by text) may have its rowids renumbered by ``VACUUM``; so the keys
  are copied into ``customer_search_rows`` (an INTEGER PRIMARY KEY of its own, and the
  customer id, unique) whose rows the FTS5 table indexes (an external-content table).
  Triggers keep both in step with ``customers`` on every write, whoever makes it.
- **Both**: an index on the first 32 characters of the key (the folded name comes first),
  for queries too short for trigrams (a prefix match).

Django rebuilds a SQLite table to alter it (a later migration that changes ``customers``
drops its triggers with the old table). :func:`ensure` notices that once per process
and database, and installs the index again from the customers' keys.
"""

from __future__ import annotations

from django.db import connection

from office import db

#: The database objects :func:`ensure` looks for on SQLite (all of them, or it reinstalls).
SQLITE_OBJECTS = ("customer_search_rows", "customer_search", "customers_search_ai",
                  "customers_search_au", "customers_search_ad", "customer_search_rows_ai",
                  "customer_search_rows_au", "customer_search_rows_ad",
                  "customers_search_prefix")

#: Installs the SQLite index (and fills it from the keys already stored).
SQLITE_INSTALL = (
    "CREATE TABLE customer_search_rows (rid INTEGER PRIMARY KEY, "
    "customer_id TEXT NOT NULL UNIQUE, search_key TEXT NOT NULL)",
    "CREATE VIRTUAL TABLE customer_search USING fts5(search_key, "
    "content='customer_search_rows', content_rowid='rid', tokenize='trigram')",
    # customers -> customer_search_rows
    "CREATE TRIGGER customers_search_ai AFTER INSERT ON customers BEGIN "
    "INSERT INTO customer_search_rows (customer_id, search_key) "
    "VALUES (new.customer_id, new.search_key); END",
    "CREATE TRIGGER customers_search_au AFTER UPDATE OF customer_id, search_key ON customers "
    "WHEN old.customer_id IS NOT new.customer_id OR old.search_key IS NOT new.search_key "
    "BEGIN UPDATE customer_search_rows SET customer_id = new.customer_id, "
    "search_key = new.search_key WHERE customer_id = old.customer_id; END",
    "CREATE TRIGGER customers_search_ad AFTER DELETE ON customers BEGIN "
    "DELETE FROM customer_search_rows WHERE customer_id = old.customer_id; END",
    # customer_search_rows -> the FTS5 index (the documented external-content triggers)
    "CREATE TRIGGER customer_search_rows_ai AFTER INSERT ON customer_search_rows BEGIN "
    "INSERT INTO customer_search (rowid, search_key) VALUES (new.rid, new.search_key); END",
    "CREATE TRIGGER customer_search_rows_ad AFTER DELETE ON customer_search_rows BEGIN "
    "INSERT INTO customer_search (customer_search, rowid, search_key) "
    "VALUES ('delete', old.rid, old.search_key); END",
    "CREATE TRIGGER customer_search_rows_au AFTER UPDATE ON customer_search_rows BEGIN "
    "INSERT INTO customer_search (customer_search, rowid, search_key) "
    "VALUES ('delete', old.rid, old.search_key); "
    "INSERT INTO customer_search (rowid, search_key) VALUES (new.rid, new.search_key); END",
    "CREATE INDEX customers_search_prefix ON customers (substr(search_key, 1, 32))",
    "INSERT INTO customer_search_rows (customer_id, search_key) "
    "SELECT customer_id, search_key FROM customers ORDER BY customer_id",
)

#: Removes the SQLite index (the migration's reverse; :func:`ensure` before reinstalling).
SQLITE_REMOVE = (
    *(f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_OBJECTS[2:8]),
    "DROP INDEX IF EXISTS customers_search_prefix",
    "DROP TABLE IF EXISTS customer_search",
    "DROP TABLE IF EXISTS customer_search_rows",
)

#: Installs the PostgreSQL index (pg_trgm is a trusted extension: the database's owner
#: may create it).
POSTGRESQL_INSTALL = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS customers_search_trgm ON customers "
    "USING gin (search_key gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS customers_search_prefix ON customers "
    "(substr(search_key, 1, 32))",
)

POSTGRESQL_REMOVE = (
    "DROP INDEX IF EXISTS customers_search_prefix",
    "DROP INDEX IF EXISTS customers_search_trgm",
)

#: Length of the indexed prefix of the key (short queries compare this much).
PREFIX_CHARS = 32
#: The highest code point: ``prefix + TOP`` is above every key that starts with ``prefix``.
TOP = "\U0010ffff"
#: Word similarity (0-1) a PostgreSQL candidate needs; rapidfuzz decides afterwards.
PG_WORD_SIMILARITY = 0.45

_checked: set[str] = set()


def sqlite_supports_trigram() -> bool:
    """Whether this SQLite has FTS5's trigram tokenizer (3.34 or newer)."""
    import sqlite3

    return sqlite3.sqlite_version_info >= (3, 34, 0)


def ensure() -> None:
    """Make sure the SQLite index is complete (once per process and database file); a
    no-op on PostgreSQL, whose index no table rebuild drops."""
    if db.vendor() != "sqlite":
        return
    name = str(connection.settings_dict["NAME"])
    if name in _checked:
        return
    marks = ",".join("?" * len(SQLITE_OBJECTS))
    found = db.fetchone(f"SELECT COUNT(*) FROM sqlite_master WHERE name IN ({marks})",
                        SQLITE_OBJECTS)
    if found is None or int(found[0]) != len(SQLITE_OBJECTS):
        with db.atomic():
            for sql in (*SQLITE_REMOVE, *SQLITE_INSTALL):
                db.execute(sql)
    _checked.add(name)


def _phrase(text: str) -> str:
    """``text`` as one FTS5 phrase (a substring for the trigram tokenizer)."""
    return '"' + text.replace('"', '""') + '"'


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def containing(tokens: list[str], limit: int) -> list[str]:
    """Customer ids whose key contains every one of ``tokens`` (each 3+ characters)."""
    if not tokens:
        return []
    ensure()
    if db.vendor() == "postgresql":
        where = " AND ".join("search_key LIKE ? ESCAPE '\\'" for _ in tokens)
        rows = db.fetchall(f"SELECT customer_id FROM customers WHERE {where} LIMIT ?",
                           (*(_like(t) for t in tokens), limit))
    else:
        rows = db.fetchall(
            "SELECT r.customer_id FROM customer_search f "
            "JOIN customer_search_rows r ON r.rid = f.rowid "
            "WHERE customer_search MATCH ? LIMIT ?",
            (" AND ".join(_phrase(t) for t in tokens), limit))
    return [str(r[0]) for r in rows]


def trigrams(tokens: list[str]) -> list[str]:
    """The distinct trigrams of ``tokens`` (each 3+ characters), in order."""
    out: dict[str, None] = {}
    for token in tokens:
        for i in range(len(token) - 2):
            out[token[i:i + 3]] = None
    return list(out)


def similar(text: str, tokens: list[str], limit: int) -> list[str]:
    """Customer ids whose key shares many trigrams with ``text``, the most alike first
    (typos: "yilmas" finds "yilmaz"): pg_trgm's word similarity, or on SQLite the FTS5
    rank of keys holding any of the query's trigrams."""
    grams = trigrams(tokens)
    if not grams:
        return []
    ensure()
    if db.vendor() == "postgresql":
        # The planner prices word_similarity() low and may scan every key instead of the
        # index (0.8 s against 0.05 s for 100,000 customers): not for this query. Both
        # settings are the transaction's own and put back afterwards, so a caller's
        # larger transaction is planned as before.
        settings = {"pg_trgm.word_similarity_threshold": str(PG_WORD_SIMILARITY),
                    "enable_seqscan": "off"}
        with db.atomic():
            before = {name: db.fetchall("SELECT current_setting(?)", (name,))[0][0]
                      for name in settings}
            for name, value in settings.items():
                db.execute("SELECT set_config(?, ?, true)", (name, value))
            rows = db.fetchall(
                "SELECT customer_id FROM customers WHERE ? <% search_key "
                "ORDER BY word_similarity(?, search_key) DESC, customer_id LIMIT ?",
                (text, text, limit))
            # (An error rolls the settings back with the transaction or savepoint.)
            for name, value in before.items():
                db.execute("SELECT set_config(?, ?, true)", (name, value))
    else:
        rows = db.fetchall(
            "SELECT r.customer_id FROM customer_search f "
            "JOIN customer_search_rows r ON r.rid = f.rowid "
            "WHERE customer_search MATCH ? ORDER BY f.rank LIMIT ?",
            (" OR ".join(_phrase(g) for g in grams), limit))
    return [str(r[0]) for r in rows]


def starting(prefix: str, limit: int) -> list[str]:
    """Customer ids whose key starts with ``prefix`` (short queries), in key order."""
    if not prefix:
        return []
    ensure()
    head = prefix[:PREFIX_CHARS]
    rows = db.fetchall(
        f"SELECT customer_id FROM customers WHERE substr(search_key, 1, {PREFIX_CHARS}) >= ? "
        f"AND substr(search_key, 1, {PREFIX_CHARS}) < ? "
        f"ORDER BY substr(search_key, 1, {PREFIX_CHARS}), customer_id LIMIT ?",
        (head, head + TOP, limit))
    return [str(r[0]) for r in rows]
