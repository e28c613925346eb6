"""Issue 10 #8, #10: the station's operations (the CLI, the control socket and the
card readers all go through ``edge.operations.perform``) check every argument where
it enters: text that cannot be stored or shown, wrong types and integers out of range
are one sentence naming the argument, logged, and nothing is recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import structlog.testing

from core.errors import ForecourtError, InputError
from edge.lifecycle import Station
from edge.operations import perform

CARD = "7800001234567890"


def count(station: Station) -> int:
    return int(station.conn.execute("SELECT COUNT(*) FROM authorizations").fetchone()[0])


@pytest.mark.parametrize(("args", "message"), [
    ({"card": "78000012\n34567890", "pump": 1}, "card must not contain control characters"),
    ({"card": "7800001234567890\x00", "pump": 1}, "found U+0000"),
    ({"card": "\x1b[2J7800001234567890", "pump": 1}, "card must not contain"),
    ({"card": "7800\ud800", "pump": 1}, "card must not contain"),
    ({"card": "7" * 201, "pump": 1}, "card must be at most 200 characters"),
    ({"card": "", "pump": 1}, "card must not be empty"),
    ({"card": 7800001234567890, "pump": 1}, "card must be a string"),
    ({"card": CARD, "pump": "1"}, "pump must be an integer"),
    ({"card": CARD, "pump": True}, "pump must be an integer"),
    ({"card": CARD, "pump": 100}, "pump must be at most 99"),
    ({"card": CARD, "pump": 1, "volume_ml": 2**63}, "volume_ml must be at most 10000000000"),
    ({"card": CARD, "pump": 1, "volume_ml": 0}, "volume_ml must be at least 1"),
    ({"card": CARD, "pump": 1, "amount": 2**63}, "amount must be at most 100000000000000"),
    ({"card": CARD, "pump": 1, "odometer_km": 2**63}, "odometer_km must be at most"),
    ({"card": CARD, "pump": 1, "vehicle": "V-17\r\nV-18"}, "vehicle must not contain"),
    ({"card": CARD, "pump": 1, "product": "AI95\t"}, "product must not contain"),
    ({"card": CARD, "pump": 1, "pin": "12\x0034"}, "pin must not contain"),
    ({"card": CARD, "pump": 1, "presented": ["04A1\n"]}, "presented[0] must not contain"),
    ({"card": CARD, "pump": 1, "presented": "04A1"}, "presented must be a list"),
])
def test_bad_authorize_arguments_are_refused(station: Station, args: dict[str, Any],
                                             message: str) -> None:
    before = count(station)
    with structlog.testing.capture_logs() as logs, pytest.raises(InputError) as err:
        perform(station, "sale.authorize", args, "test")
    assert message in str(err.value)
    text = str(err.value)
    assert "\n" not in text and "\x1b" not in text and "\x00" not in text
    assert err.value.code == "input_invalid"
    assert count(station) == before  # nothing recorded
    assert any(e["event"] == "input.refused" for e in logs)


def test_bad_complete_and_import_arguments(station: Station) -> None:
    sale = perform(station, "sale.authorize", {"card": CARD, "pump": 1}, "test")
    for args, message in (
            ({"sale_id": sale["sale_id"], "volume_ml": "12"}, "volume_ml must be an integer"),
            ({"sale_id": sale["sale_id"], "volume_ml": 2**63}, "volume_ml must be at most"),
            ({"sale_id": "A\n1", "volume_ml": 1}, "sale_id must not contain"),
            ({"sale_id": ["A1"], "volume_ml": 1}, "sale_id must be a string")):
        with pytest.raises(InputError, match=message):
            perform(station, "sale.complete", args, "test")
    with pytest.raises(InputError, match="file must not contain"):
        perform(station, "cards.import", {"file": "/tmp/x\x00.json"}, "test")
    with pytest.raises(InputError, match="sale_id must not contain"):
        perform(station, "sale.cancel", {"sale_id": "\u202eA1"}, "test")
    state = station.conn.execute("SELECT state FROM authorizations WHERE sale_id = ?",
                                 (sale["sale_id"],)).fetchone()[0]
    assert state == "open"


def test_good_arguments_still_work(station: Station, tmp_path: Path) -> None:
    result = perform(station, "sale.authorize",
                     {"card": "Иван-7800001234567890", "pump": 1}, "test")
    assert result["reason"] == "unknown_card"
    ok = perform(station, "sale.authorize", {"card": CARD, "pump": 2, "volume_ml": 10_000,
                                             "product": "AI95"}, "test")
    assert ok["approved"]
    done = perform(station, "sale.complete", {"sale_id": ok["sale_id"], "volume_ml": 5000},
                   "test")
    assert done["volume_ml"] == 5000


def test_input_error_is_a_forecourt_error() -> None:
    assert issubclass(InputError, ForecourtError)


def test_the_actor_is_checked_like_an_argument(station: Station,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # Found verifying issue 10 #10: the actor (the Unix user of a local command, or
    # whatever a control-socket client sends) was recorded unchecked.
    from core.clikit import actor

    with pytest.raises(InputError, match="actor must not contain"):
        perform(station, "cards.pin_reset", {"card": "7800001234567892"}, "cli:x\n\x1b[31m")
    monkeypatch.setenv("LOGNAME", "evil\n\x1b[31mroot")
    assert actor() == "cli:evil\\n\\x1b[31mroot"
    perform(station, "cards.pin_reset", {"card": "7800001234567892"}, actor())
