"""Issue 10 #8: every integer of the configuration has a documented range; a value
outside it (or a duration beyond any sense) is one sentence naming the key."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import pytest

from core.config import Config, PumpConfig, PumpLineConfig, ReaderConfig, load_config_file
from core.errors import ConfigError

HUGE = 9223372036854775807

LINE = '[[pump_lines]]\nport = "loop://"\n'
PUMP = '[[pump_lines.pumps]]\nnumber = 1\naddress = 80\nnozzles = ["DT"]\n'
READER = '[[readers]]\nid = "r1"\ndriver = "nfc"\n'


def load(tmp_path: Path, body: str) -> Config:
    path = tmp_path / "c.toml"
    path.write_text(body)
    return load_config_file(path)


@pytest.mark.parametrize(("body", "message"), [
    (f"[authorization]\nmax_fill_ml = {HUGE}\n",
     "[authorization] max_fill_ml must be at most 10000000, got 9223372036854775807"),
    ("[authorization]\nmax_fill_ml = 10000001\n", "[authorization] max_fill_ml must be at most"),
    (f"[authorization]\npin_max_tries = {HUGE}\n", "[authorization] pin_max_tries must be at "
                                                   "most 100"),
    (f"[offline]\nstale_fill_cap_ml = {HUGE}\n", "[offline] stale_fill_cap_ml must be at most"),
    ('[offline]\nmax_data_age = "99999999999999999999d"\n',
     "[offline] max_data_age must be at most 3650 days"),
    (f"[mqtt]\nkeepalive_s = {HUGE}\n", "[mqtt] keepalive_s must be at most 65535"),
    ("[mqtt]\nsession_expiry_s = 4294967296\n", "[mqtt] session_expiry_s must be at most"),
    (f"[mqtt]\nbatch_max_bytes = {HUGE}\n", "[mqtt] batch_max_bytes must be at most"),
    (f"{LINE}retries = {HUGE}\n", "[pump_lines[0]] retries must be at most 100"),
    (f"{LINE}response_timeout_ms = {HUGE}\n", "[pump_lines[0]] response_timeout_ms must be at "
                                              "most 60000"),
    (f"{LINE}baudrate = {HUGE}\n", "[pump_lines[0]] baudrate must be at most 4000000"),
    (f"{READER}debounce_ms = {HUGE}\n", "[readers[0]] debounce_ms must be at most 60000"),
    (f"{LINE}{PUMP}number = {HUGE}\n".replace("number = 1\n", ""),
     "[pump_lines[0].pumps[0]] number must be at most"),
])
def test_out_of_range_integers_are_named(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, body)
    assert message in str(err.value)


def _int_fields(cls: type[Any], where: str) -> list[tuple[str, str]]:
    out = []
    for f in dataclasses.fields(cls):
        hint = typing.get_type_hints(cls)[f.name]
        if hint is int:
            out.append((where, f.name))
    return out


def _every_int_key() -> list[tuple[str, str]]:
    keys = []
    for section in dataclasses.fields(Config):
        value = getattr(Config(), section.name)
        if dataclasses.is_dataclass(value):
            keys += _int_fields(type(value), f"[{section.name}]\n")
    keys += _int_fields(PumpLineConfig, LINE)
    keys += _int_fields(PumpConfig, LINE + PUMP.replace("number = 1\n", "")
                        .replace("address = 80\n", "").replace('nozzles = ["DT"]\n', ""))
    keys += _int_fields(ReaderConfig, READER)
    return keys


@pytest.mark.parametrize(("head", "key"), _every_int_key())
@pytest.mark.parametrize("value", [HUGE, -HUGE - 1])
def test_no_integer_key_takes_a_64_bit_extreme(tmp_path: Path, head: str, key: str,
                                               value: int) -> None:
    """Whatever key is added later: a 64-bit extreme is refused naming that key."""
    with pytest.raises(ConfigError) as err:
        load(tmp_path, f"{head}{key} = {value}\n")
    assert f"] {key} must be" in str(err.value)


def test_largest_fill_authorizes_at_the_largest_price(tmp_path: Path, config_file: Path,
                                                      sample_store_file: Path) -> None:
    """The maxima together overflow nothing: max fill at the highest unit price."""
    import json

    from edge.lifecycle import Station
    from offline_db.store import StationStore

    text = config_file.read_text().replace("max_fill_ml = 200000", "max_fill_ml = 10000000")
    assert "max_fill_ml = 10000000" in text
    config_file.write_text(text)
    config = load_config_file(config_file)
    doc = json.loads(sample_store_file.read_text())
    for product in doc["products"]:
        product["unit_price"] = 10_000_000
    doc["cards"].append({"card_id": "BIG-1", "kind": "magstripe", "pan": "7800001234500000"})
    store_file = tmp_path / "store.json"
    store_file.write_text(json.dumps(doc))
    store, _ = StationStore.create(config.station.data_dir)
    try:
        station = Station(store, config)
        station.import_cards(store_file, actor="test")
        result = station.authorize(card="7800001234567896", pump=1, product="DT")
        assert result["reason"] == "card_expired"
        result = station.authorize(card="7800009999999999", pump=1, product="DT")
        assert result["reason"] == "on_stop_list"
        result = station.authorize(card="BIG-1", pump=1, product="DT")
        assert result["approved"] and result["max_volume_ml"] == 10_000_000
        done = station.complete(result["sale_id"], volume_ml=result["max_volume_ml"])
        assert done["amount"] == (done["volume_ml"] * 10_000_000 + 500) // 1000
    finally:
        store.close()


def test_a_duration_beyond_any_sense_names_its_key_in_office_too(tmp_path: Path) -> None:
    # Issue 10 #8 (sibling): "[office] token_max_valid" was left out of the sentence.
    with pytest.raises(ConfigError) as err:
        load(tmp_path, '[office]\ntoken_max_valid = "999999999999999d"\n')
    assert "[office] token_max_valid must be at most 3650 days" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load(tmp_path, '[office]\ntoken_max_valid = "forever"\n')
    assert "[office] token_max_valid 'forever' is not a duration" in str(err.value)


@pytest.mark.parametrize(("body", "key"), [
    ('[station]\nname = "A\\nB\\u001b[31mRED"\n', "[station] name"),
    ('[station]\nname = "A\\u0000B"\n', "[station] name"),
    ('[station]\ngroups = ["north", "so\\u202euth"]\n', "[station] groups[1]"),
    ('[mqtt]\nhost = "broker\\r\\n"\n', "[mqtt] host"),
    ('[station]\ndata_dir = "var/\\u0007station"\n', "[station] data_dir"),
])
def test_config_text_holds_no_control_characters(tmp_path: Path, body: str, key: str) -> None:
    # Issue 10 #10 (sibling): a station name with a newline, an escape or a NUL was
    # accepted and then written to the operator's terminal by 'forecourt status'.
    with pytest.raises(ConfigError) as err:
        load(tmp_path, body)
    assert f"{key} must not contain control characters" in str(err.value)


@pytest.mark.parametrize(("body", "message"), [
    ('[mqtt]\nprotocol = "3"\n', '[mqtt] protocol must be "5" or "3.1.1", not \'3\''),
    ('[mqtt]\nprotocol = "v5"\n', '[mqtt] protocol must be "5" or "3.1.1", not \'v5\''),
    ("[mqtt]\nprotocol = 5\n", "[mqtt] protocol"),
])
def test_an_unknown_mqtt_protocol_names_the_key(tmp_path: Path, body: str, message: str
                                                ) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, body)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_mqtt_protocol_3_1_1_loads(tmp_path: Path) -> None:
    assert load(tmp_path, '[mqtt]\nprotocol = "3.1.1"\n').mqtt.protocol == "3.1.1"
