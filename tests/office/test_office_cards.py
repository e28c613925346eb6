"""Head-office card commands through the real CLI: digital-card tokens and PIN resets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli import main
from cloud_sync import tokens
from core.clikit import actor
from core.config import load_config_file
from core.formats.deltas import parse_ops
from core.keys import OFFICE_KEY, load_private_key
from core.timefmt import utc_now
from office.store import open_office

DIGITAL = "7800001234567897"  # the sample's digital card, token id T-8F2K9Q


def run(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def office(office_env: Path, sample_store_file: Path) -> Path:
    run("office", "init")
    run("office", "cards", "import", str(sample_store_file))
    return office_env.parent / "var" / "office"


def test_tokens_only_for_active_digital_cards_and_not_for_long(office: Path) -> None:
    # Issue 10 #1 (office side): tokens were issued for any text and any validity.
    key = load_private_key(office, OFFICE_KEY).public_key()
    for card, why in (("nobody", "card nobody is not in the card master"),
                      ("7800001234567894", "card 7800001234567894 is blocked"),
                      ("7800001234567890", "card 7800001234567890 is a magstripe card")):
        refused = run("office", "cards", "token", card, ok=False)
        assert refused.exit_code == 1 and why in refused.output, refused.output
        assert "FC1." not in refused.output and "Traceback" not in refused.output
    too_long = run("office", "cards", "token", DIGITAL, "--valid", "100000d", ok=False)
    assert too_long.exit_code == 2
    assert "at most 24h ([office] token_max_valid)" in too_long.output
    # By card id or token id: the token names the card id, valid for what was asked.
    for name in (DIGITAL, "T-8F2K9Q"):
        token = run("office", "cards", "token", name, "--valid", "24h").stdout.strip()
        claims = tokens.verify(token, key, utc_now())
        assert claims.card_id == DIGITAL
        assert 86_390 < (claims.expires - utc_now()).total_seconds() <= 86_400


def test_token_validity_cap_is_configured(office: Path, env_config: Path) -> None:
    env_config.write_text(env_config.read_text().replace(
        'token_max_valid = "24h"', 'token_max_valid = "1h"'))
    assert run("office", "cards", "token", DIGITAL, "--valid", "1h").exit_code == 0
    refused = run("office", "cards", "token", DIGITAL, "--valid", "61m", ok=False)
    assert "at most 1h ([office] token_max_valid)" in refused.output
    env_config.write_text(env_config.read_text().replace('"1h"', '"0s"'))
    bad = run("office", "cards", "token", DIGITAL, ok=False)
    assert bad.exit_code == 1 and "token_max_valid" in bad.output


def test_office_pin_reset_travels_as_a_new_version(office: Path) -> None:
    # Issue 10 #5 (office side): a PIN reset in the card data, recorded with its user.
    out = run("office", "cards", "pin-reset", "7800001234567892").stdout
    assert "PIN of card 7800001234567892 reset (card master version 18)" in out
    conn = open_office(load_config_file(office.parent.parent / "config.toml"))
    try:
        doc = json.loads(conn.one("SELECT doc FROM cm_cards WHERE card_id = ?",
                                  ("7800001234567892",))[0])
        assert doc["pin"]["reset"] == 18
        row = conn.one("SELECT actor, ops FROM cm_versions WHERE version = 18")
        assert row["actor"] == actor()
        ops = json.loads(row["ops"])
        assert ops[0] == {"op": "card", "card": doc}
        # A card with limits or wallets travels with its usage and balances as of now.
        assert [(o["op"], o["card_id"]) for o in ops[1:]] == [("usage", doc["card_id"])]
        # What a station gets is valid card data (the station side: tests/edge).
        parse_ops(json.loads(row["ops"]))
    finally:
        conn.close()
    assert "version 19" in run("office", "cards", "pin-reset", "7800001234567892").stdout
    for card, why in (("nobody", "card nobody is not in the card master"),
                      ("7800001234567890", "card 7800001234567890 has no PIN")):
        refused = run("office", "cards", "pin-reset", card, ok=False)
        assert refused.exit_code == 1 and why in refused.output


@pytest.mark.parametrize("args", [
    ("office", "cards", "token", "{text}"),
    ("office", "cards", "pin-reset", "{text}"),
    ("office", "cards", "block", "{text}"),
    ("office", "sales", "--station", "{text}"),
    ("office", "flash", "export", "--station", "{text}", "{dir}"),
])
@pytest.mark.parametrize("text", ["\udced\udca0\udc80", "A\nB", "A\x1b[31m"])
def test_office_text_arguments_are_refused_in_one_sentence(office: Path, tmp_path: Path,
                                                           args: tuple[str, ...],
                                                           text: str) -> None:
    # Issue 10 #10 (sibling): a lone surrogate in an office command's card or station
    # argument reached SQLite (UnicodeEncodeError, a traceback) and a newline or an
    # escape was echoed back to the terminal; the station's commands refused them.
    argv = [a.format(text=text, dir=tmp_path) for a in args]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, \
        result.output
    assert text not in result.output


def test_one_key_speaks_for_one_station(office: Path) -> None:
    # Found verifying issue 10 #0: the sender's key is the only source of a message's
    # station id, but 'office station add' enrolled a key another station already had
    # (and re-keyed a station to another's key, or to the office's own), so that key's
    # holder could sign as either station and write into the other's ledger.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from core.keys import public_text

    key = public_text(Ed25519PrivateKey.generate())
    assert "station S-1 enrolled" in run("office", "station", "add", "S-1",
                                         "--public-key", key).output
    for station in ("S-2", "S-1x"):
        refused = run("office", "station", "add", station, "--public-key", key, ok=False)
        assert refused.exit_code == 1
        assert "is already station S-1's" in refused.output, refused.output
    other = public_text(Ed25519PrivateKey.generate())
    run("office", "station", "add", "S-2", "--public-key", other)
    refused = run("office", "station", "add", "S-2", "--public-key", key, ok=False)
    assert "is already station S-1's" in refused.output
    office_key = run("office", "keys", "show").output.strip()
    refused = run("office", "station", "add", "S-3", "--public-key", office_key, ok=False)
    assert "is the office's own key" in refused.output
    # Re-keying a station to a key of its own still works (a replaced station box).
    assert "station S-2 re-keyed" in run("office", "station", "add", "S-2", "--public-key",
                                         public_text(Ed25519PrivateKey.generate())).output
    assert "already enrolled with this key" in run("office", "station", "add", "S-1",
                                                   "--public-key", key).output
