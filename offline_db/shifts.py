"""Shifts and totalizer readings in the station database (migration 0014).

A shift runs from the previous shift's close (the first: from the station's first
decision) to its own close. Closing it records who closed it, when, and a snapshot of
every pump-line pump's totalizers at that moment: the closing shift's end readings
and the next shift's start readings. The scheduled day report records snapshots too
(cause ``day_report``), so a day's report has readings near its boundaries.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from core.errors import StoreError
from offline_db.connection import atomic
from offline_db.state import audit


@dataclass(frozen=True)
class PumpTotals:
    """One pump's totalizers: nozzle -> (product, volume ml, amount minor units), or why
    they could not be read (``unavailable``)."""

    unavailable: str | None = None
    nozzles: dict[int, tuple[str | None, int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Readings:
    """The totalizers of the pumps at ``taken_at`` (stored UTC text, core.timefmt.iso).

    ``source`` says where they come from (``live``, ``shift 3 close``, ``day report``);
    ``unavailable`` why no pump was read at all (``daemon not running``).
    """

    taken_at: str
    source: str
    unavailable: str | None = None
    pumps: dict[int, PumpTotals] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The form the daemon sends over its control socket (and :func:`readings_of` reads)."""
        return {"taken_at": self.taken_at, "source": self.source,
                "unavailable": self.unavailable,
                "pumps": [{"pump": number, "unavailable": p.unavailable,
                           "nozzles": [{"nozzle": n, "product": prod, "volume_ml": vol,
                                        "amount": amount}
                                       for n, (prod, vol, amount) in sorted(p.nozzles.items())]}
                          for number, p in sorted(self.pumps.items())]}


def readings_of(data: dict[str, Any]) -> Readings:
    """:meth:`Readings.as_json` read back (from the daemon's answer)."""
    pumps = {int(p["pump"]): PumpTotals(p.get("unavailable"), {
        int(n["nozzle"]): (n.get("product"), int(n["volume_ml"]), int(n["amount"]))
        for n in p.get("nozzles", [])}) for p in data.get("pumps", [])}
    return Readings(str(data["taken_at"]), str(data.get("source", "live")),
                    data.get("unavailable"), pumps)


def record_snapshot(conn: sqlite3.Connection, readings: Readings, *, cause: str,
                    actor: str) -> int:
    """Store ``readings`` (in the caller's transaction); return the snapshot id."""
    cur = conn.execute("INSERT INTO totalizer_snapshots (taken_at, cause, actor, unavailable) "
                       "VALUES (?, ?, ?, ?)",
                       (readings.taken_at, cause, actor, readings.unavailable))
    snapshot_id = int(cur.lastrowid or 0)
    rows: list[tuple[Any, ...]] = []
    for number, pump in sorted(readings.pumps.items()):
        if pump.unavailable is not None:
            rows.append((snapshot_id, number, 0, None, None, None, pump.unavailable))
            continue
        rows += [(snapshot_id, number, nozzle, product, volume, amount, None)
                 for nozzle, (product, volume, amount) in sorted(pump.nozzles.items())]
    conn.executemany("INSERT INTO totalizer_readings (snapshot_id, pump, nozzle, product, "
                     "volume_ml, amount, unavailable) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    return snapshot_id


def snapshot(conn: sqlite3.Connection, snapshot_id: int, source: str) -> Readings:
    head = conn.execute("SELECT taken_at, unavailable FROM totalizer_snapshots "
                        "WHERE snapshot_id = ?", (snapshot_id,)).fetchone()
    pumps: dict[int, PumpTotals] = {}
    for r in conn.execute("SELECT pump, nozzle, product, volume_ml, amount, unavailable "
                          "FROM totalizer_readings WHERE snapshot_id = ? ORDER BY pump, nozzle",
                          (snapshot_id,)):
        if r["unavailable"] is not None:
            pumps[r["pump"]] = PumpTotals(r["unavailable"])
        else:
            pumps.setdefault(r["pump"], PumpTotals()).nozzles[r["nozzle"]] = (
                r["product"], r["volume_ml"], r["amount"])
    return Readings(head["taken_at"], source, head["unavailable"], pumps)


def snapshot_near(conn: sqlite3.Connection, at: str, *, before: bool) -> Readings | None:
    """The last snapshot taken at or before ``at`` (``before``), else the first at or after."""
    sql = ("SELECT snapshot_id, cause FROM totalizer_snapshots WHERE taken_at <= ? "
           "ORDER BY taken_at DESC, snapshot_id DESC LIMIT 1") if before else (
           "SELECT snapshot_id, cause FROM totalizer_snapshots WHERE taken_at >= ? "
           "ORDER BY taken_at, snapshot_id LIMIT 1")
    row = conn.execute(sql, (at,)).fetchone()
    if row is None:
        return None
    return snapshot(conn, row["snapshot_id"], _source(conn, row["snapshot_id"], row["cause"]))


def _source(conn: sqlite3.Connection, snapshot_id: int, cause: str) -> str:
    if cause == "day_report":
        return "day report"
    row = conn.execute("SELECT shift_no FROM shifts WHERE snapshot_id = ?",
                       (snapshot_id,)).fetchone()
    return f"shift {row['shift_no']} close" if row else "shift close"


def shift(conn: sqlite3.Connection, number: int) -> dict[str, Any] | None:
    """A closed shift: number, opened_at (None: the first), closed_at, closed_by, snapshot."""
    row = conn.execute("SELECT shift_no, opened_at, closed_at, closed_by, snapshot_id "
                       "FROM shifts WHERE shift_no = ?", (number,)).fetchone()
    return dict(row) if row else None


def last_shift(conn: sqlite3.Connection) -> dict[str, Any] | None:
    row = conn.execute("SELECT MAX(shift_no) AS n FROM shifts").fetchone()
    return shift(conn, row["n"]) if row["n"] is not None else None


def first_activity(conn: sqlite3.Connection) -> str | None:
    """When the station first decided anything (the first shift's start), or None.

    Retention keeps it in ``sync_state`` before it deletes the first authorizations.
    """
    kept = conn.execute("SELECT value FROM sync_state WHERE key = 'first_activity'"
                        ).fetchone()
    if kept is not None:
        return str(kept[0])
    row = conn.execute("SELECT MIN(created_at) AS at FROM authorizations").fetchone()
    return str(row["at"]) if row["at"] is not None else None


def close_shift(conn: sqlite3.Connection, readings: Readings, *, actor: str) -> dict[str, Any]:
    """Close the open shift at ``readings.taken_at`` with those readings; audited.

    One transaction: the snapshot, the shift row and the audit-log line. A close time
    before the last one (the clock went back) is refused: shifts never overlap.
    """
    with atomic(conn):
        last = last_shift(conn)
        if last is not None and readings.taken_at < last["closed_at"]:
            raise StoreError(f"the clock ({readings.taken_at}) is before the close of shift "
                             f"{last['shift_no']} ({last['closed_at']}); nothing was closed")
        snapshot_id = record_snapshot(conn, readings, cause="shift_close", actor=actor)
        number = 1 if last is None else last["shift_no"] + 1
        opened = None if last is None else last["closed_at"]
        conn.execute("INSERT INTO shifts (shift_no, opened_at, closed_at, closed_by, "
                     "snapshot_id) VALUES (?, ?, ?, ?, ?)",
                     (number, opened, readings.taken_at, actor, snapshot_id))
        audit(conn, actor, "shift.close", shift_no=number, opened_at=opened,
              closed_at=readings.taken_at, totalizers=readings.unavailable or "read")
    return {"shift_no": number, "opened_at": opened, "closed_at": readings.taken_at,
            "closed_by": actor}
