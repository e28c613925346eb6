"""An office store made before Django is adopted in place by its migrations (SQLite only:
stores of before were SQLite files)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from core.keys import public_text
from office.cards.models import CardMasterVersion
from office.ledger.models import Sale, Station, StationChain
from office.legacy import is_legacy_store, upgrade_legacy_store
from office.settings import OFFICE_DB, use_database
from tests.office.legacy_store import make_legacy_store
from tests.office.test_store import _columns


@pytest.fixture
def legacy_dir(tmp_path: Path, office_django: Path) -> Iterator[Path]:
    """A store made by today's ``init_office`` with a station, two sales and a card-master
    version, as an older forecourt left it: without the last legacy migration."""
    folder = tmp_path / "office"
    make_legacy_store(folder)
    conn = sqlite3.connect(folder / OFFICE_DB)
    with conn:
        conn.execute("INSERT INTO stations VALUES ('S1', 'pub', '2026-01-01T00:00:00.000000Z')")
        for seq in (1, 2):
            conn.execute(
                "INSERT INTO sales (station_id, seq, sale_id, card_id, pump, product, "
                "volume_ml, unit_price, amount, authorized_at, completed_at, wallet_debits, "
                "prev_hash, hash, received_at, via, vehicle_id) VALUES ('S1', ?, ?, 'C1', 2, "
                "'DIESEL', 40000, 1500, 60000, 't1', 't2', '[]', ?, ?, 't3', 'mqtt', 'V1')",
                (seq, f"sale-{seq}", str(seq - 1) * 64, str(seq) * 64))
        conn.execute("INSERT INTO station_chain (station_id, contiguous_seq) VALUES ('S1', 2)")
        conn.execute("INSERT INTO cm_versions VALUES (1, 't', 'admin', '[{\"op\": \"x\"}]')")
        # An older store: office_identity (0009) not made yet.
        conn.execute("DROP TABLE office_identity")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0009_office_identity'")
    conn.close()
    use_database("", folder)
    try:
        yield folder
    finally:
        use_database("", office_django)


def _legacy_names(folder: Path) -> list[str]:
    conn = sqlite3.connect(folder / OFFICE_DB)
    try:
        return [n for (n,) in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY name")]
    finally:
        conn.close()


def test_a_legacy_store_is_adopted_with_its_rows(legacy_dir: Path) -> None:
    assert is_legacy_store(legacy_dir / OFFICE_DB)
    done = upgrade_legacy_store(legacy_dir)
    assert done[0] == "0009_office_identity"
    assert "ledger.0001_initial (adopted)" in done
    assert "cards.0001_initial (adopted)" in done
    assert "ledger.0002_sales_without_rowid" in done
    assert {"access.0001_initial", "auth.0001_initial", "sessions.0001_initial"} <= set(done)
    assert "0009_office_identity" in _legacy_names(legacy_dir)

    station = Station.objects.get(station_id="S1")
    assert (station.public_key, station.enrolled_at) == ("pub", "2026-01-01T00:00:00.000000Z")
    sales = list(Sale.objects.order_by("seq"))
    assert [(s.pk, s.sale_id, s.amount, s.vehicle_id, s.odometer_km) for s in sales] == [
        (("S1", 1), "sale-1", 60000, "V1", None), (("S1", 2), "sale-2", 60000, "V1", None)]
    chain = StationChain.objects.get(station_id="S1")
    assert (chain.contiguous_seq, chain.contiguous_hash) == (2, "0" * 64)
    assert CardMasterVersion.objects.get(version=1).ops == '[{"op": "x"}]'
    # The adopted tables are the legacy ones, untouched: sales is still WITHOUT ROWID.
    with connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE name = 'sales'")
        assert "WITHOUT ROWID" in cursor.fetchone()[0]
    assert [c[0] for c in _columns("audit_entries")][:3] == ["id", "at", "actor"]
    Sale.objects.create(**{**{f.attname: getattr(sales[1], f.attname)
                              for f in Sale._meta.concrete_fields}, "seq": 3})
    assert Sale.objects.count() == 3


def test_upgrading_twice_changes_nothing(legacy_dir: Path) -> None:
    upgrade_legacy_store(legacy_dir)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM django_migrations")
        (recorded,) = cursor.fetchone()
        cursor.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        schema = cursor.fetchall()
    assert upgrade_legacy_store(legacy_dir) == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM django_migrations")
        assert cursor.fetchone()[0] == recorded
        cursor.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        assert cursor.fetchall() == schema
    assert Sale.objects.count() == 2


def test_a_store_django_made_is_no_legacy_store(tmp_path: Path, office_django: Path) -> None:
    from django.core.management import call_command

    use_database("", tmp_path)
    try:
        call_command("migrate", interactive=False, verbosity=0)
        assert not is_legacy_store(tmp_path / OFFICE_DB)
        assert upgrade_legacy_store(tmp_path) == []
    finally:
        use_database("", office_django)


def test_the_upgrade_refuses_another_configured_database(legacy_dir: Path,
                                                        tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    use_database("", other)
    with pytest.raises(ValueError, match="configured for"):
        upgrade_legacy_store(legacy_dir)
    assert "0009_office_identity" not in _legacy_names(legacy_dir)


def test_a_legacy_store_opens_through_open_office_with_its_rows_and_key(
        tmp_path: Path, office_django: Path) -> None:
    """The store and key of an office made before Django: the first command opens it,
    upgrades it in place, and it keeps its sales, chain head, card master and identity."""
    from core.config import OfficeConfig
    from office.store import init_office, load_office_key, open_office

    folder = tmp_path / "office"
    pub = make_legacy_store(folder)
    conn = sqlite3.connect(folder / OFFICE_DB)
    with conn:
        conn.execute("INSERT INTO stations VALUES ('S1', 'pub', '2026-01-01T00:00:00.000000Z')")
        conn.execute(
            "INSERT INTO sales (station_id, seq, sale_id, card_id, pump, product, volume_ml, "
            "unit_price, amount, authorized_at, completed_at, wallet_debits, prev_hash, hash, "
            "received_at, via) VALUES ('S1', 1, 'sale-1', 'C1', 2, 'DIESEL', 40000, 1500, "
            "60000, 't1', 't2', '{}', ?, ?, 't3', 'flash')", ("0" * 64, "1" * 64))
        conn.execute("INSERT INTO station_chain (station_id, contiguous_seq, contiguous_hash) "
                     "VALUES ('S1', 1, ?)", ("1" * 64,))
        conn.execute("INSERT INTO cm_versions VALUES (4, 't', 'admin', '[]')")
    conn.close()
    office = OfficeConfig(data_dir=folder)
    try:
        assert public_text(load_office_key(office)) == pub  # read-only, before the upgrade
        store = open_office(office)
        assert store.one("SELECT COUNT(*) FROM django_migrations WHERE app = 'ledger'")[0] >= 2
        assert [tuple(r) for r in store.execute(
            "SELECT station_id, seq, sale_id, amount, via FROM sales")] == [
            ("S1", 1, "sale-1", 60000, "flash")]
        assert tuple(store.one("SELECT contiguous_seq, contiguous_hash FROM station_chain")) \
            == (1, "1" * 64)
        assert store.one("SELECT MAX(version) FROM cm_versions")[0] == 4
        assert store.one("SELECT public_key FROM office_identity")[0] == pub
        store.close()
        assert init_office(office) == ([], None)  # nothing to do, the key is the same
        assert public_text(load_office_key(office)) == pub
        assert "0009_office_identity" in _legacy_names(folder)
    finally:
        use_database("", office_django)


def test_a_legacy_store_upgrades_through_the_command_line(tmp_path: Path,
                                                          office_django: Path) -> None:
    """``forecourt office stations`` in another process upgrades and lists it."""
    import subprocess

    from tests.conftest import ROOT, forecourt_exe

    folder = tmp_path / "var" / "office"
    pub = make_legacy_store(folder)
    config = tmp_path / "config.toml"
    config.write_text((ROOT / "config.toml").read_text())
    shown = subprocess.run([forecourt_exe(), "--config", str(config), "office", "keys", "show"],
                           capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == pub
    out = subprocess.run([forecourt_exe(), "--config", str(config), "office", "stations"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "no stations enrolled"
    assert not is_legacy_store(folder / OFFICE_DB) or _django_made(folder)


def _django_made(folder: Path) -> bool:
    conn = sqlite3.connect(folder / OFFICE_DB)
    try:
        return bool(conn.execute("SELECT COUNT(*) FROM django_migrations").fetchone()[0])
    finally:
        conn.close()
