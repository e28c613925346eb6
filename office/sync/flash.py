"""The head office's side of flash-drive transfer: station bundles in, replies out.

``forecourt office flash import FILE`` verifies a station's bundle (enrolled sender,
signature over the whole file, addressed to the office) and ingests its sales with
the exactly-once ingest that MQTT batches use (``office.ledger.ingest_bulk``), so a sale
that arrived by MQTT too is not stored again. ``forecourt office flash export
--station ID DIR`` writes the reply: a signed receipt for the station's contiguous
head, the card-store changes after the version the station last reported, and the
network-wide use of the cards with limits (as MQTT broadcasts it).
docs/bundles.md.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from cloud_sync import wire
from cloud_sync.bundle import BundleError, BundleWriter, open_bundle
from cloud_sync.envelope import OFFICE, canonical
from cloud_sync.flash_station import reply_name
from core.config import Config
from core.periods import period_start_utc
from core.timefmt import iso
from office.cards import master as card_master
from office.cards.usage import PERIODS, usage_ops
from office.ledger.chain import read_head
from office.ledger.ingest_bulk import ingest_lines
from office.ledger.stations import count_refusal, enrolled_key, lost_receipted
from office.store import OfficeConnection, load_office_key

log = structlog.get_logger(__name__)
#: How long a reply's card-store part may be applied: a technician may take days to
#: get back to the station. The station counts its card data as fresh only as of the
#: reply's creation, so an old reply never hides staleness.
REPLY_VALID = timedelta(days=14)
#: The largest summary line (range, totals, status and alarms) a sales bundle may have.
MAX_SUMMARY = 1024 * 1024


def _log_transfer(conn: OfficeConnection, **row: Any) -> None:
    """One row of ``flash_transfers`` (what ``forecourt office stations`` reports); its
    detail kept printable (it may quote a hostile bundle; PostgreSQL's text holds no NUL)."""
    if isinstance(row.get("detail"), str):
        row["detail"] = wire.printable(row["detail"], max_len=1000)
    conn.execute(f"INSERT INTO flash_transfers ({', '.join(row)}) "
                 f"VALUES ({', '.join('?' * len(row))})", tuple(row.values()))


def import_sales_bundle(conn: OfficeConnection, path: Path, *, now: datetime
                        ) -> dict[str, Any]:
    """Ingest one station bundle; what was new. BundleError if it is refused (counted)."""
    try:
        return _import_sales_bundle(conn, path, now=now)
    except BundleError as exc:
        text = str(exc)
        count_refusal(conn, exc.reason, text if path.name in text else f"{path.name}: {text}",
                      iso(now))
        raise


def _summary(path: Path, station_id: str, line: bytes) -> Any:
    """The bundle's summary line, decoded safely; every station id in it is the sender's."""
    def refuse(reason: str, text: str) -> BundleError:
        return BundleError(reason, f"{path.name}: {text}")

    meta = wire.decode(line, what="its summary line", max_bytes=MAX_SUMMARY, error=refuse)
    try:
        if isinstance(meta, dict):
            wire.same_station("its summary", meta.get("station_id"), station_id)
            status = meta.get("status")
            if isinstance(status, dict) and "station_id" in status:
                wire.same_station("its status", status["station_id"], station_id)
    except wire.WireError as exc:
        raise refuse(exc.reason, str(exc)) from None
    return meta


def _import_sales_bundle(conn: OfficeConnection, path: Path, *, now: datetime
                         ) -> dict[str, Any]:
    key = load_office_key(conn.config)
    try:
        bundle = open_bundle(path, me=OFFICE, my_key=key, kind="sales",
                             key_for=lambda s: enrolled_key(conn, s))
    except OSError as exc:
        raise BundleError("unreadable", f"cannot read {path}: {exc.strerror}") from None
    with bundle:
        header = bundle.header
        station_id = header["from"]
        if header["station_id"] != station_id:
            raise BundleError("wrong_station", f"{path.name} says it is from {station_id!r} "
                              f"but carries station {str(header['station_id'])[:64]!r}")
        lines = bundle.lines()
        meta = _summary(path, station_id, next(lines, b""))
        try:
            result = ingest_lines(conn, station_id, meta, lines, via="flash",
                                  source=path.name, now=now)
        except OSError as exc:
            raise BundleError("unreadable", f"cannot read {path}: {exc.strerror}") from None
    status = meta.get("status") if isinstance(meta, dict) else None
    alarms = status.get("alarms") if isinstance(status, dict) else None
    with conn.atomic():
        if result.quarantined is None and isinstance(alarms, list):  # checked: check_meta
            conn.execute("UPDATE station_chain SET alarms = ? WHERE station_id = ?",
                         (json.dumps(alarms), station_id))
        _log_transfer(conn, at=iso(now), direction="in", station_id=station_id,
                      file=path.name, created_at=str(header["created_at"]),
                      first_seq=meta.get("first_seq"), last_seq=meta.get("last_seq"),
                      sales=meta.get("sales"), stored=result.stored,
                      duplicates=result.duplicates,
                      outcome=result.quarantined or "stored", detail=result.detail)
    log.info("office.flash_imported", station_id=station_id, file=str(path),
             stored=result.stored, duplicates=result.duplicates,
             up_to_seq=result.contiguous_seq, quarantined=result.quarantined)
    return {"file": str(path), "station_id": station_id,
            "created_at": header["created_at"], "first_seq": meta.get("first_seq"),
            "last_seq": meta.get("last_seq"), "sales": meta.get("sales"),
            "volume_ml": meta.get("volume_ml"), "amount": meta.get("amount"),
            "stored": result.stored, "duplicates": result.duplicates,
            "quarantined": result.quarantined, "detail": result.detail,
            "contiguous_seq": result.contiguous_seq,
            "gaps": [list(g) for g in result.gaps], "alarms": alarms or [],
            "card_version": result.card_version}


def network_usage(conn: OfficeConnection, config: Config, now: datetime
                  ) -> dict[str, Any] | None:
    """The network-wide use this period of every card with limits that sold anywhere.

    The same ``usage`` message MQTT broadcasts after each batch (office.cards.usage): a
    station synced only by flash drive then holds a daily limit across the network too.
    """
    earliest = min(period_start_utc(p, now, config.station.tz, config.station.week_start_index)
                   for p in PERIODS)
    cards = [r[0] for r in conn.execute("SELECT DISTINCT card_id FROM sales "
                                        "WHERE completed_at >= ?", (iso(earliest),))]
    ops = usage_ops(conn, cards, config, now)
    if not ops:
        return None
    return {"mode": "usage", "ops": ops, "expires_at": iso(now + REPLY_VALID)}


def export_reply(conn: OfficeConnection, station_id: str, directory: Path, *,
                 now: datetime, config: Config) -> dict[str, Any]:
    """Write the reply bundle for ``station_id``: receipt, card-store changes, usage."""
    station_key = enrolled_key(conn, station_id)
    if station_key is None:
        raise BundleError("unknown_station", f"station {station_id!r} is not enrolled at "
                          "this office")
    key = load_office_key(conn.config)
    seq, digest = read_head(conn, station_id)
    row = conn.execute("SELECT card_store_version FROM station_chain WHERE station_id = ?",
                       (station_id,)).fetchone()
    version = row[0] if row is not None else None
    cards = card_master.message_for(conn, version, now, config)
    cards["expires_at"] = iso(now + REPLY_VALID)
    receipt = {"station_id": station_id, "up_to_seq": seq, "hash": digest}
    usage = network_usage(conn, config, now)
    body = {"station_id": station_id, "receipt": receipt, "cards": cards, "usage": usage}
    lost = lost_receipted(conn, station_id)
    if lost is not None:  # restored from an older backup: ask for them again
        body["resend"] = {"station_id": station_id, "from_seq": lost[0], "to_seq": lost[1]}
        log.warning("office.resend_asked", station_id=station_id, from_seq=lost[0],
                    to_seq=lost[1], via="flash")
    to_version = cards.get("to_version", cards.get("snapshot", {}).get("version"))
    header = {"kind": "reply", "from": OFFICE, "to": station_id, "station_id": station_id,
              "created_at": iso(now),
              "range": {"up_to_seq": seq, "from_version": cards.get("from_version"),
                        "to_version": to_version, "cards": cards["mode"]}}
    with BundleWriter(directory, reply_name(station_id), header, signer=key,
                      recipient=station_key) as writer:
        writer.write(canonical(body))
        written = writer.commit()
    with conn.atomic():
        _log_transfer(conn, at=iso(now), direction="out", station_id=station_id,
                      file=written.path.name, created_at=iso(now), last_seq=seq,
                      outcome="written", detail=f"cards {cards['mode']} to version {to_version}")
    log.info("office.flash_exported", station_id=station_id, file=str(written.path),
             up_to_seq=seq, cards=cards["mode"], to_version=to_version)
    return {"file": str(written.path), "station_id": station_id, "up_to_seq": seq,
            "cards": cards["mode"], "from_version": cards.get("from_version"),
            "to_version": to_version, "usage_cards": len(usage["ops"]) if usage else 0,
            "size": written.size}
