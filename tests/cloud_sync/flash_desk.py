"""A station and a head office on one desk, in process, for flash-bundle tests.

Real parts throughout: a real station store with sales made by ``Station.authorize`` /
``complete``, a real office store (``init_office``), real Ed25519 keys on both sides,
and the real export / import functions the CLI calls.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.config import Config, OfficeConfig
from core.keys import OFFICE_KEY, create_keypair, load_private_key, public_text
from core.timefmt import iso
from edge.flash import export_sales, import_reply
from edge.lifecycle import Station
from office.store import init_office, open_office
from office.sync.flash import export_reply, import_sales_bundle
from offline_db.store import StationStore

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "card-store.json"
STATION_ID = "S-001"
WALLET_CARD = "7800001234567890"  # a money wallet: its sales carry wallet debits
CARD = "FLEET-UNLIMITED"
LIMITED = "FLEET-50L-DAY"  # 50 litres a day, network-wide
LIMITED_CARD = {"card_id": LIMITED, "kind": "rfid", "status": "active",
                "limits": [{"period": "day", "unit": "volume", "value": 50000}]}


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) - timedelta(days=2)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=7)
        return self.now


def card_store(directory: Path, version: int = 17, extra: list[dict[str, Any]] | None = None
               ) -> Path:
    doc = json.loads(SAMPLE.read_text())
    doc["version"] = version
    doc["cards"].append({"card_id": CARD, "kind": "rfid", "status": "active"})
    doc["cards"].extend(extra or [])
    path = directory / f"card-store-{version}.json"
    path.write_text(json.dumps(doc))
    return path


class Desk:
    """Station ``S-001`` (enrolled) and the head office, with a stick folder."""

    config: Config

    def __init__(self, root: Path, station_id: str = STATION_ID, *,
                 office_of: Desk | None = None, database: str = "") -> None:
        """``office_of``: share that desk's head office (a second station of the network);
        ``database``: the office's ``[office] database`` ("" is SQLite in its folder)."""
        self.root = root
        self.shared_office = office_of is not None
        self.office_dir: Path = office_of.office_dir if office_of else root / "office"
        office: OfficeConfig = office_of.config.office if office_of else OfficeConfig(
            data_dir=self.office_dir, database=database)
        if office_of is None:
            init_office(office)
        self.office_key = load_private_key(self.office_dir, OFFICE_KEY)
        self.station_dir = root / station_id
        base = Config()
        self.config = dataclasses.replace(base, office=office, station=dataclasses.replace(
            base.station, id=station_id, data_dir=self.station_dir,
            office_public_key=public_text(self.office_key)))
        store, _ = StationStore.create(self.station_dir)
        create_keypair(self.station_dir)
        # One time for the whole network: a second station's own clock fell behind the
        # office's by 7 s a reading of the first, and after 43 readings refused the
        # office's replies as made in the future ([offline] max_clock_skew).
        self.clock: Clock = office_of.clock if office_of else Clock()
        self.station = Station(store, self.config, clock=self.clock)
        self.station.import_cards(card_store(root, extra=[LIMITED_CARD]), actor="test")
        self.station_key = load_private_key(self.station_dir)
        self.office = open_office(self.config)
        self.enrol(station_id, public_text(self.station_key))
        self.stick = root / "stick"
        self.stick.mkdir()

    def enrol(self, station_id: str, key_text: str) -> None:
        self.office.execute("INSERT INTO stations VALUES (?, ?, ?)",
                            (station_id, key_text, iso(datetime.now(UTC))))

    def close(self) -> None:
        self.station.store.close()
        self.office.close()

    # -- the station ----------------------------------------------------------------------
    def sell(self, n: int, card: str = CARD, *, vehicle: str | None = None,
             odometer_km: int | None = None) -> None:
        for _ in range(n):
            auth = self.station.authorize(card=card, pump=1, product="AI95", volume_ml=5000,
                                          vehicle=vehicle, odometer_km=odometer_km,
                                          actor="test")
            assert auth["approved"], auth
            self.station.complete(auth["sale_id"], volume_ml=4000 + len(self.journal()),
                                  actor="test")

    def journal(self) -> list[dict[str, Any]]:
        rows = self.station.conn.execute("SELECT * FROM journal ORDER BY seq").fetchall()
        return [dict(r) for r in rows]

    def export(self, directory: Path | None = None) -> Path:
        reader = StationStore.open_reader(self.station_dir)
        try:
            summary = export_sales(self.config, reader.conn, directory or self.stick,
                                   now=self.clock())
        finally:
            reader.close()
        return Path(summary.path)

    def station_import(self, path: Path) -> dict[str, Any]:
        return import_reply(self.station, path, actor="test")

    def station_state(self) -> dict[str, Any]:
        """Everything a reply may change: outbox, receipt mark, card store."""
        conn = self.station.conn
        return {
            "outbox": [r[0] for r in conn.execute("SELECT seq FROM outbox ORDER BY seq")],
            "state": dict(conn.execute("SELECT key, value FROM sync_state "
                                       "WHERE key != 'usage_as_of_seq'").fetchall()),
            "cards": [tuple(r) for r in conn.execute("SELECT * FROM cards ORDER BY card_id")],
            "stop_list": [tuple(r) for r in conn.execute("SELECT * FROM stop_list")],
        }

    # -- the office -----------------------------------------------------------------------
    def office_import(self, path: Path) -> dict[str, Any]:
        return import_sales_bundle(self.office, path, now=self.clock())

    def office_export(self, directory: Path | None = None, station_id: str = STATION_ID
                      ) -> Path:
        result = export_reply(self.office, station_id, directory or self.stick,
                              now=self.clock(), config=self.config)
        return Path(result["file"])

    def office_sales(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.office.execute(
            "SELECT * FROM sales WHERE station_id = ? ORDER BY seq", (STATION_ID,))]

    def office_state(self) -> dict[str, Any]:
        conn = self.office
        tables = ("sales", "wallet_debits", "station_chain", "chain_problems", "quarantine",
                  "cm_versions")
        return {t: [tuple(r) for r in conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2")]
                for t in tables}
