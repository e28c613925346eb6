"""Fuel vouchers at the office (issue 13), on SQLite and PostgreSQL: batches issued
through the real CLI (the CSV and the PDF sheet), codes that verify as a station checks
them against the batch documents the office publishes, and the redemption ledger —
earliest station time wins, exactly once, under concurrent ingest — with its exceptions
charged or written off, audited."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli import main
from core.config import load_config_file
from core.formats.vouchers import parse_batch
from core.reasons import Reason
from core.timefmt import iso
from core.vouchers import VoucherError, check, code_for, read_code
from office.customers.errors import RecordRefused
from office.customers.service import Who
from office.store import OfficeConnection, open_office
from office.vouchers import ledger, service
from office.vouchers.models import VoucherBatch, VoucherException, VoucherRedemption
from tests.office.test_concurrency import run_all

HEADER = ["code", "printed", "qr", "serial", "batch_id", "product", "volume_ml", "amount",
          "valid_from", "valid_until"]
ANNA = Who("anna", "console")


def run(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def out(*args: str) -> Any:
    return json.loads(run(*args, "--json").stdout)


@pytest.fixture
def office(office_env: Path, sample_store_file: Path) -> Path:
    """An office with the sample card store's products (AI92, AI95, DT), customers and
    cards."""
    run("office", "init")
    run("office", "cards", "import", str(sample_store_file))
    return office_env


def conn_of(config_file: Path) -> OfficeConnection:
    return open_office(load_config_file(config_file))


def audit_rows(action: str) -> list[dict[str, Any]]:
    from office.access.models import AuditEntry

    return [{"actor": e.actor, "via": e.via, "object_id": e.object_id, "old": e.old,
             "new": e.new, "detail": e.detail}
            for e in AuditEntry.objects.filter(action=action).order_by("id")]


def pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", data))


# -- issuing through the CLI -----------------------------------------------------------------

def test_issue_writes_the_csv_and_the_pdf_and_the_codes_verify(office: Path,
                                                               tmp_path: Path) -> None:
    target = tmp_path / "december.csv"
    before = datetime.now(UTC)
    made = out("office", "vouchers", "issue", "--product", "AI95", "--volume", "20000",
               "--count", "40", "--valid", "30d", "--delay", "2d", "--note", "for Volga",
               "--out", str(target))
    assert made["batch_id"] == "VB000001" and made["count"] == 40
    assert made["pages"] == 3 and made["state"] == "not yet valid"
    assert "key" not in made and "key" not in json.dumps(made)
    # The CSV: one row per voucher, the code kept as text (a leading tab).
    text = target.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == HEADER and len(rows) == 40
    assert all(r["code"].startswith("\t") and len(r["code"]) == 21 for r in rows)
    codes = [read_code(r["code"]) for r in rows]
    assert len(set(codes)) == 40 and codes[0].startswith("000001000001")
    assert {r["batch_id"] for r in rows} == {"VB000001"}
    assert {(r["product"], r["volume_ml"], r["amount"]) for r in rows} == {("AI95", "20000", "")}
    # The PDF sheet: 15 vouchers a page.
    pdf = target.with_suffix(".pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf_pages(pdf) == 3
    # What a station receives: the batch documents, parsed back; every code verifies, and
    # the printed and QR forms the same way.
    conn_of(office)
    docs = service.active_batch_docs()
    batches = {b.number: b for b in (parse_batch(json.loads(json.dumps(d)),
                                                 f"pricing.vouchers[{i}]")
                                     for i, d in enumerate(docs))}
    batch = batches[1]
    assert batch.valid_from >= (before + timedelta(days=2)).replace(microsecond=0)
    assert batch.valid_until - batch.valid_from == timedelta(days=30)
    later = batch.valid_from + timedelta(hours=1)
    for row in rows:
        for form in ("code", "printed", "qr"):
            assert check(batches, row[form], later) == (batch, row["serial"])
    with pytest.raises(VoucherError) as caught:
        check(batches, rows[0]["code"], batch.valid_from - timedelta(hours=1))
    assert caught.value.reason == Reason.VOUCHER_NOT_YET_VALID
    # Audited with the person; the key is in neither the audit trail nor the list.
    [entry] = audit_rows("vouchers.issue")
    assert entry["via"] == "cli" and entry["actor"] and entry["object_id"] == "VB000001"
    stored_key = VoucherBatch.objects.get(batch_id="VB000001").key
    assert stored_key not in (entry["new"] or "")
    assert stored_key not in run("office", "vouchers", "list", "--json").stdout
    assert stored_key not in run("office", "vouchers", "show", "VB000001", "--json").stdout


def test_an_amount_batch_for_any_product(office: Path, tmp_path: Path) -> None:
    made = out("office", "vouchers", "issue", "--amount", "50000", "--count", "1",
               "--valid", "2w", "--out", str(tmp_path / "one.csv"))
    assert (made["product"], made["amount"], made["volume_ml"]) == (None, 50000, None)
    assert made["pages"] == 1
    assert pdf_pages((tmp_path / "one.pdf").read_bytes()) == 1
    assert "500.00 RUB of any fuel" in run("office", "vouchers", "list").stdout
    shown = out("office", "vouchers", "show",
                next(csv.DictReader(io.StringIO((tmp_path / "one.csv").read_text(
                    encoding="utf-8-sig"))))["printed"])
    assert shown["genuine"] is True and shown["redemption"] is None


@pytest.mark.parametrize(("args", "sentence"), [
    (["--product", "AI95", "--volume", "20000", "--count", "0", "--valid", "30d"],
     "count must be at least 1 (vouchers), got 0; nothing changed"),
    (["--product", "AI95", "--volume", "20000", "--count", "1000000", "--valid", "30d"],
     "count must be at most 999999"),
    (["--product", "AI95", "--volume", "20000", "--count", "5", "--valid", "0d"],
     "the validity must be longer than zero, e.g. 30d; nothing changed"),
    (["--product", "AI95", "--volume", "20000", "--count", "5", "--valid", "30 days"],
     "--valid must be a number of hours, days or weeks like 12h, 30d or 2w, got '30 days'"),
    (["--product", "AI95", "--volume", "20000", "--count", "5", "--valid", "30d",
      "--delay", "-1d"], "--delay must be a number of hours, days or weeks"),
    (["--product", "AI98", "--volume", "20000", "--count", "5", "--valid", "30d"],
     "product 'AI98' is not in the card master (known: AI92, AI95, DT); nothing changed"),
    (["--product", "AI95", "--volume", "20000", "--amount", "100", "--count", "5",
      "--valid", "30d"], "a voucher buys either a volume (ml) or an amount (minor units)"),
    (["--product", "AI95", "--count", "5", "--valid", "30d"],
     "a voucher buys either a volume (ml) or an amount (minor units)"),
    (["--volume", "20000", "--count", "5", "--valid", "30d"],
     "a volume voucher needs a product"),
    (["--product", "AI95", "--volume", "0", "--count", "5", "--valid", "30d"],
     "volume must be at least 1"),
])
def test_bad_inputs_are_one_sentence_and_nothing_is_created(office: Path, tmp_path: Path,
                                                            args: list[str],
                                                            sentence: str) -> None:
    target = tmp_path / "bad.csv"
    result = run("office", "vouchers", "issue", *args, "--out", str(target), ok=False)
    assert result.exit_code == 1
    assert sentence in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not target.exists() and not target.with_suffix(".pdf").exists()
    assert out("office", "vouchers", "list") == []
    conn_of(office)
    assert audit_rows("vouchers.issue") == []


def test_an_existing_output_file_is_refused_before_anything_is_issued(
        office: Path, tmp_path: Path) -> None:
    target = tmp_path / "taken.csv"
    target.with_suffix(".pdf").write_bytes(b"old")
    result = run("office", "vouchers", "issue", "--product", "AI95", "--volume", "1000",
                 "--count", "1", "--valid", "1d", "--out", str(target), ok=False)
    assert "exists already" in result.stderr and out("office", "vouchers", "list") == []


def test_codes_written_again_are_the_same_and_the_reprint_is_audited(
        office: Path, tmp_path: Path) -> None:
    run("office", "vouchers", "issue", "--product", "DT", "--volume", "50000", "--count",
        "16", "--valid", "12h", "--out", str(tmp_path / "a.csv"))
    run("office", "vouchers", "codes", "VB000001", "--out", str(tmp_path / "again.csv"))
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "again.csv").read_bytes()
    assert pdf_pages((tmp_path / "again.pdf").read_bytes()) == 2
    conn_of(office)
    [entry] = audit_rows("vouchers.codes")
    assert entry["via"] == "cli" and entry["object_id"] == "VB000001"


# -- the ledger ------------------------------------------------------------------------------

@pytest.fixture
def shop(office_conn: OfficeConnection) -> OfficeConnection:
    """An office store with a product, a customer and a card of theirs."""
    from office.cards.models import Card
    from office.customers.models import Customer

    office_conn.execute("INSERT INTO cm_products VALUES ('AI95', ?)", (json.dumps(
        {"code": "AI95", "name": "AI-95", "unit_price": 5000}),))
    stamp = iso(datetime(2026, 11, 1, tzinfo=UTC))
    Customer.objects.create(customer_id="C-1", name="Volga", created_at=stamp,
                            created_by="t", modified_at=stamp, modified_by="t")
    Card.objects.create(card_id="K-1", kind="rfid", rfid_uid="04AABBCCDD", customer_id="C-1",
                        issued_at=stamp, issued_by="t", modified_at=stamp, modified_by="t")
    return office_conn


NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def issue(conn: OfficeConnection, count: int = 5) -> tuple[VoucherBatch, list[str]]:
    return service.issue_batch(conn, ANNA, product="AI95", volume_ml=20_000, count=count,
                               valid=timedelta(days=30), now=NOW)


def at(minute: int) -> str:
    return f"2026-12-01T10:{minute:02d}:00.000000Z"


def redeem(serial: str, station: str, sale: str, minute: int, card: str | None = "K-1"
           ) -> str:
    return ledger.record_redemption(serial=serial, station_id=station, sale_id=sale,
                                     seq=int(sale.rsplit("-", 1)[-1]), card_id=card,
                                     redeemed_at=at(minute), value=100_000, volume_ml=20_000)


def winner(serial: str) -> tuple[str, str]:
    row = VoucherRedemption.objects.get(serial=serial)
    return row.station_id, row.sale_id


def excepted(serial: str) -> list[tuple[str, str, str]]:
    return sorted((e.station_id, e.sale_id, e.status)
                  for e in VoucherException.objects.filter(serial=serial))


def test_issue_numbers_batches_and_the_documents_carry_only_unexpired_ones(
        shop: OfficeConnection) -> None:
    first, codes = issue(shop)
    second, _ = service.issue_batch(shop, ANNA, product=None, amount=5000, count=2,
                                    valid=timedelta(hours=12), delay=timedelta(days=1),
                                    now=NOW)
    assert (first.batch_id, first.number, second.batch_id, second.number) == (
        "VB000001", 1, "VB000002", 2)
    assert codes == [code_for(service.core_batch(first), s) for s in range(1, 6)]
    assert first.valid_from == "2026-12-01T09:00:00.000000Z"
    assert second.valid_from == "2026-12-02T09:00:00.000000Z"
    assert [d["batch_id"] for d in service.active_batch_docs(NOW)] == ["VB000001", "VB000002"]
    # The amount batch expired 12 hours after its delay; the volume one lives on.
    assert [d["batch_id"] for d in service.active_batch_docs(
        NOW + timedelta(days=1, hours=12))] == ["VB000001"]
    assert service.active_batch_docs(NOW + timedelta(days=30)) == []
    assert first.key != second.key and len(bytes.fromhex(first.key)) == 32


def test_double_redemption_the_earliest_station_time_wins(shop: OfficeConnection) -> None:
    _batch, codes = issue(shop)
    serial = codes[0][:12]
    # S-002's sale at 10:05 arrives first and holds the voucher ...
    assert redeem(serial, "S-002", "s2-7", 5) == "won"
    # ... until S-001's sale, made offline at 10:00, arrives: it takes the voucher over.
    assert redeem(serial, "S-001", "s1-3", 0) == "won"
    assert winner(serial) == ("S-001", "s1-3")
    assert excepted(serial) == [("S-002", "s2-7", "open")]
    # A third, later redemption is an exception at once.
    assert redeem(serial, "S-003", "s3-1", 9) == "exception"
    # The same sales ingested again (MQTT and the flash drive): nothing changes.
    assert redeem(serial, "S-002", "s2-7", 5) == "exception"
    assert redeem(serial, "S-001", "s1-3", 0) == "won"
    assert redeem(serial, "S-003", "s3-1", 9) == "exception"
    assert VoucherRedemption.objects.count() == 1
    assert excepted(serial) == [("S-002", "s2-7", "open"), ("S-003", "s3-1", "open")]
    # Ties on the station time: the lower station id, then the lower sale id.
    other = codes[1][:12]
    assert redeem(other, "S-009", "s9-1", 30) == "won"
    assert redeem(other, "S-004", "s4-2", 30) == "won"
    assert redeem(other, "S-004", "s4-1", 30) == "won"
    assert winner(other) == ("S-004", "s4-1")
    record = service.batch_record("VB000001")
    assert (record["redeemed"], record["redeemed_value"]) == (2, 200_000)
    assert record["exceptions"]["open"] == 4


def test_a_redemption_of_a_voucher_the_office_never_issued_is_refused(
        shop: OfficeConnection) -> None:
    issue(shop, count=5)
    for serial, problem in (("000001000006", "is not in any batch"),
                            ("000002000001", "is not in any batch"),
                            ("00000100000", "a voucher serial is 12 digits")):
        with pytest.raises(RecordRefused, match=problem):
            redeem(serial, "S-001", "s1-1", 0)
    with pytest.raises(RecordRefused, match="redeemed_at must be a UTC time"):
        ledger.record_redemption(serial="000001000001", station_id="S-001", sale_id="x",
                                  seq=1, card_id=None, redeemed_at="2026-12-01 10:00",
                                  value=1, volume_ml=1)
    with pytest.raises(RecordRefused, match="station_id must be one line of printable text"):
        ledger.record_redemption(serial="000001000001", station_id="S-1\n", sale_id="x",
                                  seq=1, card_id=None, redeemed_at=at(0), value=1,
                                  volume_ml=1)
    with pytest.raises(RecordRefused, match="value must be at least 0"):
        ledger.record_redemption(serial="000001000001", station_id="S-1", sale_id="x",
                                  seq=1, card_id=None, redeemed_at=at(0), value=-1,
                                  volume_ml=1)
    assert VoucherRedemption.objects.count() == 0


def test_concurrent_ingest_keeps_one_winner_per_voucher(shop: OfficeConnection) -> None:
    """Eight workers record the same redemptions at once, each in its own order: every
    voucher has exactly one winner (its earliest), every other sale is one exception."""
    _batch, codes = issue(shop, count=3)
    serials = [c[:12] for c in codes]
    sales = [(serial, f"S-00{s}", f"s{s}-{n}", (7 * s + 3 * n) % 20)
             for n, serial in enumerate(serials, 1) for s in range(1, 5)]
    answers: list[str] = []

    def worker(k: int) -> Any:
        def work() -> None:
            order = sales[k % len(sales):] + sales[:k % len(sales)]
            for serial, station, sale, minute in (order if k % 2 else order[::-1]):
                answers.append(redeem(serial, station, sale, minute))
        return work

    assert run_all([worker(k) for k in range(8)]) == []
    assert len(answers) == 8 * len(sales)
    for serial in serials:
        mine = [s for s in sales if s[0] == serial]
        earliest = min(mine, key=lambda s: (s[3], s[1], s[2]))
        assert winner(serial) == (earliest[1], earliest[2])
        assert excepted(serial) == sorted((s[1], s[2], "open") for s in mine
                                          if s != earliest)
    assert VoucherRedemption.objects.count() == 3
    assert VoucherException.objects.count() == len(sales) - 3


def test_release_gives_the_voucher_to_the_earliest_open_exception(
        shop: OfficeConnection) -> None:
    _batch, codes = issue(shop)
    serial = codes[0][:12]
    redeem(serial, "S-001", "s1-1", 0)
    redeem(serial, "S-003", "s3-1", 9)
    redeem(serial, "S-002", "s2-1", 5)
    done = ledger.release(serial, "s1-1", ANNA, "sale voided: pump test")
    assert done["promoted"]["sale_id"] == "s2-1"
    assert winner(serial) == ("S-002", "s2-1")
    assert excepted(serial) == [("S-001", "s1-1", "voided"), ("S-003", "s3-1", "open")]
    # The voided sale arriving again changes nothing.
    assert redeem(serial, "S-001", "s1-1", 0) == "exception"
    assert winner(serial) == ("S-002", "s2-1")
    # An open exception's sale voided: the exception is closed, the winner stays.
    ledger.release(serial, "s3-1", ANNA, "voided too")
    assert excepted(serial) == [("S-001", "s1-1", "voided"), ("S-003", "s3-1", "voided")]
    with pytest.raises(RecordRefused, match="is already voided"):
        ledger.release(serial, "s3-1", ANNA, "again")
    with pytest.raises(RecordRefused, match="has no redemption by sale nope"):
        ledger.release(serial, "nope", ANNA, "x")
    entries = audit_rows("vouchers.release")
    assert [(e["actor"], e["via"], e["object_id"]) for e in entries] == [
        ("anna", "console", serial)] * 2


def test_charge_and_write_off_through_the_cli_are_audited_once(office: Path) -> None:
    conn_of(office)
    from office.cards.models import Card

    card = Card.objects.get(card_id="7800001234567890")
    batch, codes = service.issue_batch(conn_of(office), ANNA, product="AI95",
                                       volume_ml=20_000, count=3, valid=timedelta(days=1),
                                       now=NOW)
    first, second = codes[0][:12], codes[1][:12]
    for serial in (first, second):
        redeem(serial, "S-001", f"s1-{serial[-1]}", 0, card=card.card_id)
        redeem(serial, "S-002", f"s2-{serial[-1]}", 1, card=card.card_id)
    redeem(second, "S-003", "s3-1", 2, card=None)
    listed = out("office", "vouchers", "exceptions", "--status", "open")
    assert [(e["serial"], e["station_id"]) for e in listed] == [
        (first, "S-002"), (second, "S-002"), (second, "S-003")]
    # By serial (one open exception), with the customer of the card recorded.
    charged = out("office", "vouchers", "charge", first, "--note", "invoice 42")
    assert (charged["status"], charged["customer_id"], charged["value"]) == (
        "charged", card.customer_id, 100_000)
    again = run("office", "vouchers", "charge", first, ok=False)
    assert again.exit_code == 1
    assert f"voucher {first}) is already charged by " in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    # Two open exceptions of one voucher: name one by its id.
    ambiguous = run("office", "vouchers", "write-off", second, "--note", "x", ok=False)
    assert "has 2 open exceptions" in ambiguous.stderr and "name one by its id" in ambiguous.stderr
    no_card = next(e for e in listed if e["station_id"] == "S-003")["exception_id"]
    refused = run("office", "vouchers", "charge", str(no_card), ok=False)
    assert "no card with a customer to charge; write it off instead" in refused.stderr
    assert "--note" in run("office", "vouchers", "write-off", str(no_card), ok=False).stderr
    written = out("office", "vouchers", "write-off", str(no_card), "--note", "cash sale")
    assert written["status"] == "written_off" and written["settled_by"]
    conn_of(office)
    charges, write_offs = audit_rows("vouchers.charge"), audit_rows("vouchers.write_off")
    assert len(charges) == 1 and len(write_offs) == 1
    assert charges[0]["via"] == "cli" and charges[0]["actor"] == written["settled_by"]
    assert json.loads(charges[0]["new"])["customer_id"] == card.customer_id
    assert write_offs[0]["detail"] == "cash sale"
    shown = out("office", "vouchers", "show", second)
    assert shown["redemption"]["station_id"] == "S-001"
    assert [e["status"] for e in shown["exceptions"]] == ["open", "written_off"]
    assert [e["status"] for e in out("office", "vouchers", "exceptions")] == [
        "charged", "open", "written_off"]
    assert batch.batch_id in run("office", "vouchers", "list").stdout
