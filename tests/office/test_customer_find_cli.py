"""``forecourt office customers list|duplicates|merge`` through the real CLI, on SQLite
and PostgreSQL: the command forms the docs promise (a contract), their JSON and text,
and bad input as one sentence that changes nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli import main
from core.config import load_config_file
from core.timefmt import iso, utc_now
from office.store import open_office
from tests.office.console_support import add_sale


def run(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def out(*args: str) -> Any:
    return json.loads(run(*args, "--json").stdout)


def add(name: str, *options: str) -> str:
    return str(out("office", "customers", "add", "--name", name, *options)["customer_id"])


@pytest.fixture
def office(office_env: Path) -> Path:
    run("office", "init")
    return office_env


def sales(config_file: Path, card_id: str, *days_ago_and_amount: tuple[int, int]) -> None:
    """Sales of a card as the office stores them (received from a station)."""
    conn = open_office(load_config_file(config_file))
    try:
        for i, (days, amount) in enumerate(days_ago_and_amount, start=1):
            add_sale(f"S-{card_id}", i, card_id=card_id, amount=amount,
                     completed_at=iso(utc_now() - timedelta(days=days)))
    finally:
        conn.close()


def test_list_searches_in_three_scripts_and_with_a_typo(office: Path) -> None:
    sukru = add("Şükrü Yılmaz", "--phone", "+90 532 123 45 67")
    nguyen = add("Nguyễn Văn An")
    ivanov = add("Иванов Иван")
    for typed, want in (("sukru yilmaz", sukru), ("nguyen van", nguyen), ("иванов", ivanov),
                        ("yilmas", sukru), ("0532 123 45 67", sukru)):
        rows = out("office", "customers", "list", "--search", typed)
        assert rows and rows[0]["customer_id"] == want, (typed, rows)
        assert {"customer_id", "name", "score", "match"} <= set(rows[0])
    assert out("office", "customers", "list", "--search", "nobody like this") == []
    text = run("office", "customers", "list", "--search", "yilmas").output
    assert sukru in text and "Şükrü Yılmaz" in text and "name" in text


def test_list_filters_without_a_search(office: Path) -> None:
    old = add("Old Big", "--region", "Istanbul")
    recent = add("Recent Big", "--category", "vip")
    quiet = add("Quiet")
    for customer, card in ((old, "K-OLD"), (recent, "K-NEW")):
        run("office", "cards", "issue", "--customer", customer, "--kind", "digital",
            "--card-id", card)
    sales(office, "K-OLD", (120, 100000), (150, 50000))
    sales(office, "K-NEW", (5, 300000))
    rows = out("office", "customers", "list", "--last-sale-before", "90d",
               "--turnover-min", "100000")
    assert [r["customer_id"] for r in rows] == [old]
    assert rows[0]["turnover"] == 150000 and rows[0]["name"] == "Old Big"
    assert [r["customer_id"] for r in out("office", "customers", "list", "--category",
                                          "vip")] == [recent]
    assert [r["customer_id"] for r in out("office", "customers", "list", "--region",
                                          "Istanbul")] == [old]
    everyone = out("office", "customers", "list", "--limit", "2")
    assert len(everyone) == 2 and "score" not in everyone[0]
    assert {r["customer_id"] for r in out("office", "customers", "list")} == {old, recent,
                                                                            quiet}
    bad = run("office", "customers", "list", "--category", "gold", ok=False)
    assert bad.exit_code == 1 and "category 'gold' is not in the list" in bad.output
    assert "Traceback" not in bad.output
    bad = run("office", "customers", "list", "--last-sale-before", "soon", ok=False)
    assert bad.exit_code == 1 and "last_sale_before must be" in bad.output


def test_duplicates_and_merge(office: Path) -> None:
    keep = add("Şükrü Yılmaz", "--phone", "+90 532 123 45 67")
    other = add("Sukru Yilmaz", "--phone", "0532 123 45 67", "--email", "s@example.com")
    run("office", "cards", "issue", "--customer", other, "--kind", "magstripe", "--pan",
        "7800555512345678")
    found = out("office", "customers", "duplicates")
    assert len(found) == 1 and sorted(found[0]["customer_ids"]) == [keep, other]
    assert sorted(r["reason"] for r in found[0]["reasons"]) == ["name", "phone"]
    assert "same phone" in run("office", "customers", "duplicates").output
    # A preview changes nothing.
    plan = out("office", "customers", "merge", keep, other, "--preview")
    assert plan["cards"] == ["7800555512345678"] and plan["emails"] == ["s@example.com"]
    assert plan["phones"] == []  # the same number in its national form
    assert out("office", "cards", "show", "7800555512345678")["customer"] == other
    text = run("office", "customers", "merge", keep, other, "--preview").output
    assert "preview only: nothing changed" in text and "7800555512345678" in text
    # The merge.
    done = out("office", "customers", "merge", keep, other)
    assert done["preview"] is False and done["version"] is not None
    assert out("office", "cards", "show", "7800555512345678")["customer"] == keep
    shown = out("office", "customers", "show", other)
    assert shown["merged_into"] == keep and shown["closed_at"]
    assert out("office", "customers", "duplicates") == []
    listed = out("office", "customers", "list", "--search", "sukru yilmaz")
    assert [r["customer_id"] for r in listed] == [keep]
    both = out("office", "customers", "list", "--search", "sukru yilmaz", "--include-closed")
    assert {r["customer_id"] for r in both} == {keep, other}


@pytest.mark.parametrize(("args", "sentence"), [
    (("C-000001", "C-000001"), "customer C-000001 cannot be merged into itself"),
    (("C-000001", "C-404"), "customer C-404 does not exist"),
    (("C-404", "C-000001"), "customer C-404 does not exist"),
])
def test_a_bad_merge_is_one_sentence_and_changes_nothing(office: Path, args: tuple[str, str],
                                                         sentence: str) -> None:
    add("Anna")
    for extra in ((), ("--preview",)):
        result = run("office", "customers", "merge", *args, *extra, ok=False)
        assert result.exit_code == 1
        assert f"{sentence}; nothing changed" in result.output
        assert "Traceback" not in result.output
    shown = out("office", "customers", "show", "C-000001")
    assert shown["merged_into"] is None and shown["closed_at"] is None
