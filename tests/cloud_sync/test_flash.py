"""Flash-drive transfer, station <-> office, in process over real stores and keys.

Round trip, idempotence (the same bundle twice), every way a bundle can be wrong
(another station, an unknown key, a flipped byte anywhere, a cut anywhere, an older
reply) leaving both stores exactly as they were, and the bulk ingest judging rows as
the MQTT ingest does.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud_sync.bundle import BundleError, open_bundle
from cloud_sync.envelope import OFFICE
from core.keys import public_text
from edge.flash import export_sales
from office.cards import master as card_master
from offline_db.journal import verify
from offline_db.store import StationStore
from tests.cloud_sync.flash_desk import (
    LIMITED,
    LIMITED_CARD,
    STATION_ID,
    WALLET_CARD,
    Desk,
    card_store,
)


def plaintext_lines(desk: Desk, path: Path) -> list[bytes]:
    with open_bundle(path, me=OFFICE, my_key=desk.office_key, kind="sales",
                     key_for=lambda s: desk.station_key.public_key()) as bundle:
        return list(bundle.lines())


def test_round_trip_station_office_station(desk: Desk) -> None:
    desk.sell(12)
    desk.sell(3, card=WALLET_CARD)  # wallet debits travel too
    journal = desk.journal()
    assert any(r["wallet_debits"] != "{}" for r in journal)
    bundle = desk.export()
    assert bundle.name == "forecourt-S-001-sales.fcb"
    result = desk.office_import(bundle)
    assert (result["stored"], result["duplicates"], result["contiguous_seq"]) == (15, 0, 15)
    assert result["volume_ml"] == sum(r["volume_ml"] for r in journal)
    assert result["amount"] == sum(r["amount"] for r in journal)
    office = desk.office_sales()
    fields = ("seq", "sale_id", "card_id", "pump", "product", "volume_ml", "unit_price",
              "amount", "authorized_at", "completed_at", "wallet_debits", "prev_hash", "hash")
    assert [{k: r[k] for k in fields} for r in office] == \
        [{k: r[k] for k in fields} for r in journal]
    assert {r["via"] for r in office} == {"flash"}
    # The head office changes a card; the reply carries it with the receipt.
    extra = [{"card_id": "FLASH-NEW", "kind": "rfid", "status": "active"}]
    card_master.import_file(desk.office, card_store(desk.root, 18, extra).read_bytes(),
                            actor="test")
    reply = desk.office_export()
    assert reply.name == "forecourt-S-001-reply.fcb"
    applied = desk.station_import(reply)
    assert applied["delivered"] == 15 and applied["last_receipt_seq"] == 15
    assert (applied["cards"], applied["card_store_version"]) == ("applied", 18)
    state = desk.station_state()
    assert state["outbox"] == []
    assert any(c[0] == "FLASH-NEW" for c in state["cards"])
    # Nothing left to carry: the next export holds the status only.
    again = desk.office_import(desk.export())
    assert (again["sales"], again["stored"]) == (0, 0)
    assert verify(desk.station.conn).ok


def test_exporting_twice_writes_the_same_sales_and_the_office_stores_them_once(
        desk: Desk, tmp_path: Path) -> None:
    desk.sell(5)
    first = desk.export(tmp_path / "stick")
    copy = tmp_path / "first.fcb"
    shutil.copy(first, copy)
    second = desk.export()
    assert second == first  # the same name: the later export replaces the earlier
    one, two = plaintext_lines(desk, copy), plaintext_lines(desk, second)
    assert one[1:] == two[1:] and len(one) == 6
    meta_one, meta_two = json.loads(one[0]), json.loads(two[0])
    assert (meta_one["first_seq"], meta_one["last_seq"]) == (meta_two["first_seq"],
                                                              meta_two["last_seq"]) == (1, 5)
    assert desk.office_import(copy)["stored"] == 5
    r = desk.office_import(second)
    assert (r["stored"], r["duplicates"]) == (0, 5)
    assert [s["seq"] for s in desk.office_sales()] == [1, 2, 3, 4, 5]


def test_receipted_sales_are_not_exported_again(desk: Desk) -> None:
    desk.sell(4)
    desk.office_import(desk.export())
    desk.station_import(desk.office_export())
    desk.sell(2)
    result = desk.office_import(desk.export())
    assert (result["first_seq"], result["last_seq"], result["stored"]) == (5, 6, 2)


# -- refusals: one sentence, a reason, and nothing changes -----------------------------------

def refused(call: Any, *args: Any) -> BundleError:
    with pytest.raises(BundleError) as info:
        call(*args)
    message = str(info.value)
    assert message and "\n" not in message and "Traceback" not in message
    return info.value


def test_reply_for_another_station_is_refused(desk: Desk, tmp_path: Path) -> None:
    other = Ed25519PrivateKey.generate()
    desk.enrol("S-002", public_text(other))
    desk.sell(2)
    before = desk.station_state()
    reply = desk.office_export(station_id="S-002")
    err = refused(desk.station_import, reply)
    assert err.reason == "wrong_recipient" and "S-002" in str(err)
    assert desk.station_state() == before


def test_sales_bundle_from_an_unknown_station_or_key_is_refused(
        desk: Desk, tmp_path: Path, office_databases: Callable[[], str]) -> None:
    desk.sell(3)
    stranger = Desk(tmp_path / "elsewhere", station_id="S-009", database=office_databases())
    try:  # a station of another network that trusts our office key
        stranger.config = dataclasses.replace(stranger.config, station=dataclasses.replace(
            stranger.config.station, office_public_key=public_text(desk.office_key)))
        stranger.sell(2)
        foreign = stranger.export(tmp_path)
    finally:
        stranger.close()
    before = desk.office_state()
    err = refused(desk.office_import, foreign)
    assert err.reason == "unknown_sender" and "S-009" in str(err)
    # S-001's id with a key the office never enrolled for it.
    desk.office.execute("UPDATE stations SET public_key = ? WHERE station_id = ?",
                        (public_text(Ed25519PrivateKey.generate()), STATION_ID))
    err = refused(desk.office_import, desk.export())
    assert err.reason == "unknown_key"
    desk.office.execute("UPDATE stations SET public_key = ? WHERE station_id = ?",
                        (public_text(desk.station_key), STATION_ID))
    assert desk.office_state() == before


def test_reply_signed_by_another_office_key_is_refused(
        desk: Desk, tmp_path: Path, office_databases: Callable[[], str]) -> None:
    impostor = Desk(tmp_path / "impostor", database=office_databases())
    try:  # another office that knows our station's key: its reply is readable, not trusted
        impostor.office.execute("UPDATE stations SET public_key = ? WHERE station_id = ?",
                                (public_text(desk.station_key), STATION_ID))
        reply = impostor.office_export(tmp_path)
    finally:
        impostor.close()
    before = desk.station_state()
    err = refused(desk.station_import, reply)
    assert err.reason == "unknown_key"
    assert desk.station_state() == before


def small_bundles(desk: Desk) -> tuple[Path, Path]:
    desk.sell(2)
    sales = desk.export()
    reply = desk.office_export(desk.root)
    return sales, reply


def test_a_flipped_bit_anywhere_is_refused(desk: Desk, tmp_path: Path) -> None:
    sales, reply = small_bundles(desk)
    office_before, station_before = desk.office_state(), desk.station_state()
    for original, apply in ((sales, desk.office_import), (reply, desk.station_import)):
        data = original.read_bytes()
        assert len(data) < 4096
        bad = tmp_path / "bad.fcb"
        for pos in range(len(data)):
            for bit in (0x01, 0x80):
                bad.write_bytes(data[:pos] + bytes([data[pos] ^ bit]) + data[pos + 1:])
                with pytest.raises(BundleError):
                    apply(bad)
    assert desk.office_state() == office_before
    assert desk.station_state() == station_before
    # The unaltered files are still good.
    assert desk.office_import(sales)["stored"] == 2


def test_a_truncated_bundle_is_refused_at_every_length(desk: Desk, tmp_path: Path) -> None:
    sales, reply = small_bundles(desk)
    office_before, station_before = desk.office_state(), desk.station_state()
    for original, apply in ((sales, desk.office_import), (reply, desk.station_import)):
        data = original.read_bytes()
        cut = tmp_path / "cut.fcb"
        for length in range(len(data)):
            cut.write_bytes(data[:length])
            err = refused(apply, cut)
            assert err.reason in ("not_a_bundle", "truncated", "damaged", "tampered")
        cut.write_bytes(data + b"\0")
        refused(apply, cut)
    assert desk.office_state() == office_before
    assert desk.station_state() == station_before


def test_an_older_reply_is_refused_and_changes_nothing(desk: Desk, tmp_path: Path) -> None:
    desk.sell(3)
    desk.office_import(desk.export())
    old_reply = desk.office_export(tmp_path)
    kept = tmp_path / "old.fcb"
    shutil.copy(old_reply, kept)
    desk.station_import(old_reply)
    desk.sell(2)
    desk.office_import(desk.export())
    card_master.import_file(desk.office, card_store(desk.root, 19).read_bytes(), actor="t")
    desk.station_import(desk.office_export())
    before = desk.station_state()
    err = refused(desk.station_import, kept)
    assert err.reason == "stale" and "older" in str(err)
    assert desk.station_state() == before


def test_a_reply_whose_changes_skip_a_version_changes_nothing(desk: Desk,
                                                              tmp_path: Path) -> None:
    desk.sell(2)
    desk.office_import(desk.export())
    # The office believes the station is at version 30 (it is at 17): the delta starts there.
    card_master.import_file(desk.office, card_store(desk.root, 31).read_bytes(), actor="t")
    desk.office.execute("UPDATE station_chain SET card_store_version = 30")
    before = desk.station_state()
    err = refused(desk.station_import, desk.office_export())
    assert err.reason == "version_gap"
    assert desk.station_state() == before  # the receipt in it was not applied either


def test_a_forged_reply_receipt_moves_nothing(desk: Desk) -> None:
    desk.sell(3)
    desk.office_import(desk.export())
    desk.office.execute("UPDATE station_chain SET contiguous_hash = ?", ("ab" * 32,))
    before = desk.station_state()
    err = refused(desk.station_import, desk.office_export())
    assert err.reason == "receipt_mismatch"
    assert desk.station_state() == before


def test_export_refuses_a_broken_journal(desk: Desk) -> None:
    desk.sell(3)
    desk.station.conn.execute("UPDATE journal SET volume_ml = volume_ml + 1 WHERE seq = 2")
    reader = StationStore.open_reader(desk.station_dir)
    try:
        with pytest.raises(Exception, match="journal broken at seq 2"):
            export_sales(desk.config, reader.conn, desk.stick, now=desk.clock())
    finally:
        reader.close()
    assert list(desk.stick.iterdir()) == []


def test_the_station_s_alarms_reach_the_head_office(desk: Desk) -> None:
    desk.sell(1)
    desk.clock.now += timedelta(days=30)  # a month without news from the office
    result = desk.office_import(desk.export())
    assert result["alarms"] == ["card data is stale: offline policy in force"]
    stored = desk.office.one("SELECT alarms FROM station_chain")[0]
    assert json.loads(stored) == result["alarms"]
    transfer = desk.office.one("SELECT direction, stored, outcome FROM flash_transfers"
                                   )
    assert tuple(transfer) == ("in", 1, "stored")


def test_sales_encrypted_for_another_office_key_are_refused(desk: Desk, tmp_path: Path) -> None:
    """A station still configured with an old office key: the office cannot read it."""
    old_office = Ed25519PrivateKey.generate()
    desk.config = dataclasses.replace(desk.config, station=dataclasses.replace(
        desk.config.station, office_public_key=public_text(old_office)))
    desk.sell(2)
    before = desk.office_state()
    err = refused(desk.office_import, desk.export())
    assert err.reason == "wrong_recipient" and "another key" in str(err)
    assert desk.office_state() == before


def test_an_expired_reply_is_refused_and_changes_nothing(desk: Desk) -> None:
    desk.sell(2)
    desk.office_import(desk.export())
    reply = desk.office_export()  # valid for 14 days: a technician may be slow, not that slow
    desk.clock.now += timedelta(days=15)
    before = desk.station_state()
    err = refused(desk.station_import, reply)
    assert err.reason == "cards_refused" and "expired" in str(err)
    assert desk.station_state() == before


def test_card_data_from_a_reply_is_only_as_fresh_as_the_reply(desk: Desk) -> None:
    """Bounded offline risk: a week-old reply does not make week-old data look new."""
    card_master.import_file(desk.office, card_store(desk.root).read_bytes(), actor="t")
    desk.sell(1)
    desk.office_import(desk.export())
    reply = desk.office_export()
    made = desk.clock.now
    desk.clock.now += timedelta(days=7)
    assert desk.station_import(reply)["cards"] == "confirmed"
    confirmed = desk.station.conn.execute(
        "SELECT value FROM sync_state WHERE key = 'card_store_confirmed_at'").fetchone()[0]
    assert confirmed <= made.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_network_use_reaches_a_station_synced_only_by_flash(desk: Desk, tmp_path: Path) -> None:
    """50 litres a day across the network: 40 at S-002 leave 10 at S-001, by stick alone."""
    card_master.import_file(desk.office, card_store(desk.root, extra=[LIMITED_CARD])
                            .read_bytes(), actor="test")  # the office knows the limit
    other = Desk(tmp_path / "second", "S-002", office_of=desk)
    # The first 09:00 ahead, so both fills fall in one day: a clock set back behind the
    # card data's freshness mark would make the data stale (issue 10 #2), and so would a
    # morning more than [offline] max_data_age (24 h) after the import; neither is what
    # this test is about. (A fixed "next day at 09:00" was 33 h ahead at 00:40 UTC.)
    morning = desk.clock.now.replace(hour=9, minute=0, second=0, microsecond=0)
    if morning <= desk.clock.now:
        morning += timedelta(days=1)
    desk.clock.now = other.clock.now = morning
    try:
        auth = other.station.authorize(card=LIMITED, pump=1, product="AI95", volume_ml=40000,
                                       actor="test")
        other.station.complete(auth["sale_id"], volume_ml=40000, actor="test")
        assert desk.office_import(other.export())["stored"] == 1
    finally:
        other.close()
    before = desk.station.authorize(card=LIMITED, pump=2, product="AI95", actor="test")
    assert before["max_volume_ml"] == 50000  # S-001 knows nothing of S-002's fill yet
    desk.station.cancel(before["sale_id"], actor="test")
    result = desk.station_import(desk.office_export())
    assert result["usage_cards"] == 1
    after = desk.station.authorize(card=LIMITED, pump=2, product="AI95", actor="test")
    assert after["approved"] and after["max_volume_ml"] == 10000


# -- a sale's vehicle and odometer travel on the stick (issue 10 #16) ----------------------

def test_vehicle_and_odometer_travel_on_the_stick(desk: Desk) -> None:
    from core.formats.journal import canonical

    desk.sell(2)
    desk.sell(1, vehicle="V-17", odometer_km=120_400)
    desk.sell(1, vehicle="V-17", odometer_km=90_000)  # flagged (below the last reading)
    desk.sell(1, vehicle="V-\u00e9t\u00e9")  # non-ASCII: Python's canonical form, not SQLite's
    bundle = desk.export()
    lines = plaintext_lines(desk, bundle)[1:]
    # Each line is exactly the journal's canonical form, vehicle fields only when present.
    assert lines == [canonical(r) for r in desk.journal()]
    assert b"vehicle_id" not in lines[0] and b"null" not in b"".join(lines)
    result = desk.office_import(bundle)
    assert (result["quarantined"], result["stored"]) == (None, 5)
    got = [(r["vehicle_id"], r["odometer_km"], r["odometer_flag"]) for r in desk.office_sales()]
    assert got == [(None, None, None), (None, None, None), ("V-17", 120_400, None),
                   ("V-17", 90_000, "odometer_unreasonable"), ("V-\u00e9t\u00e9", None, None)]


def test_sqlite_makes_the_canonical_form_of_vehicle_rows(desk: Desk) -> None:
    """The export's SQL gives the same bytes as Python for ASCII rows (no slow fallback)."""
    from cloud_sync.flash_station import CANONICAL_SQL
    from core.formats.journal import canonical

    desk.sell(1)
    desk.sell(1, vehicle="V-17", odometer_km=120_400)
    desk.sell(1, vehicle="V-17", odometer_km=1)
    made = [r[0].encode() for r in desk.station.conn.execute(CANONICAL_SQL, (1,))]
    assert made == [canonical(r) for r in desk.journal()]


# -- a wallet spent at two stations is netted across the network (issue 12 #4) -----------

def _available(desk: Desk, wallet_id: str) -> int:
    from edge.views import card_show

    shown = card_show(desk.station.conn, desk.config, WALLET_CARD, desk.clock.now)
    assert shown is not None
    return next(int(w["available"]) for w in shown["wallets"] if w["wallet_id"] == wallet_id)


def test_a_wallet_spent_at_two_stations_is_netted_by_stick(desk: Desk, tmp_path: Path
                                                            ) -> None:
    from office.cards.wallets import office_balances

    card_master.import_file(desk.office, card_store(desk.root, extra=[LIMITED_CARD])
                            .read_bytes(), actor="test")  # W-1 opens with 1,000.00
    other = Desk(tmp_path / "second", "S-002", office_of=desk)
    try:
        auth = other.station.authorize(card=WALLET_CARD, pump=1, product="AI95",
                                       volume_ml=10000, actor="test")
        other.station.complete(auth["sale_id"], volume_ml=10000, actor="test")  # 529.90
        assert desk.office_import(other.export())["stored"] == 1
    finally:
        other.close()
    assert office_balances(["W-1"]) == {"W-1": 100000 - 52990}
    assert _available(desk, "W-1") == 100000  # S-001 has not heard of it yet
    desk.station_import(desk.office_export())
    assert _available(desk, "W-1") == 100000 - 52990  # now it has, by stick alone
    # S-001 spends some more; its own debit is counted once, by itself, then by the office.
    auth = desk.station.authorize(card=WALLET_CARD, pump=2, product="AI95", volume_ml=2000,
                                  actor="test")
    assert auth["approved"]
    desk.station.complete(auth["sale_id"], volume_ml=2000, actor="test")  # 105.98
    assert _available(desk, "W-1") == 100000 - 52990 - 10598
    desk.office_import(desk.export())
    assert office_balances(["W-1"]) == {"W-1": 100000 - 52990 - 10598}
    desk.station_import(desk.office_export())
    assert _available(desk, "W-1") == 100000 - 52990 - 10598  # not subtracted twice
