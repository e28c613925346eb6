"""A station's chain at the office: the contiguous head, its advance, gaps and problems.

Per station the office keeps the *contiguous* head — the highest seq such that 1..seq
are all stored and chained — which is what its signed receipt covers; missing ranges
above it are open ``gap`` problems, resolved when a later batch (MQTT or flash drive, in
any order) fills them. Both ingests (``ingest`` for MQTT batches, ``ingest_bulk`` for
flash bundles) call :func:`finish` after storing rows, in the same transaction.
"""

from __future__ import annotations

from typing import Any

from core.formats.journal import GENESIS
from office.store import OfficeConnection


def read_head(conn: OfficeConnection, station_id: str) -> tuple[int, str]:
    """The station's contiguous head (seq, hash of that sale); (0, genesis) for none."""
    row = conn.execute("SELECT contiguous_seq, contiguous_hash FROM station_chain "
                       "WHERE station_id = ?", (station_id,)).fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def finish(conn: OfficeConnection, station_id: str, status: dict[str, Any], at: str,
           *, fresh: bool = True, chained: tuple[int, int, str] | None = None
           ) -> tuple[tuple[int, str], list[tuple[int, int]], int | None]:
    """After storing rows: advance the contiguous head, settle the priced sales it passed,
    reconcile gaps, keep the status; (head, gaps, the card-master version settling
    recorded or None).

    A batch that brought no new sale (``fresh`` false: a replay, or a resend whose
    receipt was lost) only marks the station seen: its status may be older than the
    one held, and an old status must not roll back the office's view of the station.
    ``chained`` (first, last, hash of last): seqs first..last were just checked stored
    and chained, linked to the stored first - 1 (see :func:`_advance`).
    """
    before = read_head(conn, station_id)[0]
    head = _advance(conn, station_id, at, chained)
    version = None
    if head[0] > before:
        from office.pricing.settle import settle_range

        version = settle_range(conn, station_id, before, head[0]).version
    gaps = _reconcile_gaps(conn, station_id, head[0], at)
    if not fresh:
        conn.execute("UPDATE station_chain SET last_seen_at = ? WHERE station_id = ?",
                     (at, station_id))
        return head, gaps, version
    conn.execute(
        "UPDATE station_chain SET last_seen_at = ?, outbox_depth = ?, "
        "oldest_undelivered_at = ?, card_store_version = ?, receipted_seq = ? "
        "WHERE station_id = ?",
        (at, status["outbox_depth"], status["oldest_undelivered_at"],
         status["card_store_version"], status.get("last_receipt_seq"), station_id))
    return head, gaps, version


def problem(conn: OfficeConnection, station_id: str, kind: str, first: int, last: int, *,
            detail: str, at: str) -> None:
    """Record an open chain problem unless the same one is already open."""
    if conn.execute("SELECT 1 FROM chain_problems WHERE station_id = ? AND kind = ? AND "
                    "first_seq = ? AND last_seq = ? AND resolved_at IS NULL",
                    (station_id, kind, first, last)).fetchone() is None:
        conn.execute("INSERT INTO chain_problems (station_id, kind, first_seq, last_seq, detail, "
                     "found_at) VALUES (?, ?, ?, ?, ?, ?)",
                     (station_id, kind, first, last, detail, at))


def _advance(conn: OfficeConnection, station_id: str, at: str,
             chained: tuple[int, int, str] | None = None) -> tuple[int, str]:
    """Move the contiguous head over stored rows that follow it and link to it.

    ``chained`` (first, last, hash of last): a range the caller has just checked is
    stored whole and chained, linked to the stored seq first - 1 (a bundle after its
    fork checks). A head inside it or just before it jumps to its end at once instead
    of reading a million rows back: each of those rows links to the one before.
    """
    seq, head = read_head(conn, station_id)
    start = seq
    if chained is not None and chained[0] - 1 <= seq < chained[1]:
        seq, head = chained[1], chained[2]
    cur = conn.execute("SELECT seq, prev_hash, hash FROM sales WHERE station_id = ? AND "
                       "seq > ? ORDER BY seq", (station_id, seq))
    for row_seq, prev_hash, row_hash in cur:
        if row_seq != seq + 1:
            break
        if prev_hash != head:
            problem(conn, station_id, "fork", seq + 1, seq + 1, at=at,
                    detail=f"the stored seq {seq + 1} does not link to the stored seq {seq}")
            break
        seq, head = int(row_seq), str(row_hash)
    cur.close()
    if seq != start:
        conn.execute("UPDATE station_chain SET contiguous_seq = ?, contiguous_hash = ? "
                     "WHERE station_id = ?", (seq, head, station_id))
    return seq, head


def _missing(conn: OfficeConnection, station_id: str, contiguous: int) -> list[tuple[int, int]]:
    """Ranges of seqs above the contiguous head that are not stored but something after is."""
    out: list[tuple[int, int]] = []
    expected = contiguous + 1
    for (seq,) in conn.execute("SELECT seq FROM sales WHERE station_id = ? AND seq > ? "
                               "ORDER BY seq", (station_id, contiguous)):
        if seq > expected:
            out.append((expected, seq - 1))
        expected = seq + 1
    return out


def _gap_detail(first: int, last: int) -> str:
    return f"seq {first} is missing" if first == last else f"seqs {first}-{last} are missing"


def _reconcile_gaps(conn: OfficeConnection, station_id: str, contiguous: int, at: str
                    ) -> list[tuple[int, int]]:
    """Open, shrink, split and resolve the station's ``gap`` problems; the open gaps returned."""
    missing = _missing(conn, station_id, contiguous)
    covered: set[tuple[int, int]] = set()
    for pid, g_first, g_last in conn.execute(
            "SELECT id, first_seq, last_seq FROM chain_problems WHERE station_id = ? AND "
            "kind = 'gap' AND resolved_at IS NULL ORDER BY first_seq", (station_id,)).fetchall():
        inside = [(max(a, g_first), min(b, g_last)) for a, b in missing
                  if a <= g_last and b >= g_first]
        if not inside:
            conn.execute("UPDATE chain_problems SET resolved_at = ? WHERE id = ?", (at, pid))
            continue
        a, b = inside[0]  # a partly filled gap keeps its first piece; the rest are new rows
        if (a, b) != (g_first, g_last):
            conn.execute("UPDATE chain_problems SET first_seq = ?, last_seq = ?, detail = ? "
                         "WHERE id = ?", (a, b, _gap_detail(a, b), pid))
        covered.add((a, b))
    for a, b in missing:
        for p_first, p_last in _uncovered(a, b, covered):
            conn.execute(
                "INSERT INTO chain_problems (station_id, kind, first_seq, last_seq, detail, "
                "found_at) VALUES (?, 'gap', ?, ?, ?, ?)",
                (station_id, p_first, p_last, _gap_detail(p_first, p_last), at))
    return missing


def _uncovered(first: int, last: int, covered: set[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    pos = first
    for a, b in sorted(covered):
        if b < pos or a > last:
            continue
        if a > pos:
            out.append((pos, a - 1))
        pos = max(pos, b + 1)
    if pos <= last:
        out.append((pos, last))
    return out


def open_gaps(conn: OfficeConnection, station_id: str) -> list[tuple[int, int]]:
    """The station's open ``gap`` problems (first, last), in seq order."""
    return [(int(a), int(b)) for a, b in conn.execute(
        "SELECT first_seq, last_seq FROM chain_problems WHERE station_id = ? AND kind = 'gap' "
        "AND resolved_at IS NULL ORDER BY first_seq", (station_id,))]
