"""Configuration: the example file, precedence, and errors that name the key and file."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from core.config import (
    Config,
    PumpConfig,
    PumpLineConfig,
    ReaderConfig,
    find_config_path,
    load_config,
    load_config_dict,
    load_config_file,
    parse_duration,
)
from core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def _fields() -> list[tuple[str, str]]:
    """(section, key) for every configurable field of the plain sections."""
    out = []
    for section in dataclasses.fields(Config):
        value = getattr(Config(), section.name)
        if dataclasses.is_dataclass(value):
            out += [(section.name, f.name) for f in dataclasses.fields(value)]
    return out


def test_example_config_documents_list_sections() -> None:
    text = (ROOT / "config.toml").read_text()
    for cls in (PumpLineConfig, PumpConfig, ReaderConfig):
        for f in dataclasses.fields(cls):
            if f.name != "pumps":
                assert re.search(rf"^# {f.name} = ", text, re.M), f.name
    # The commented examples are themselves a valid configuration.
    example = "\n".join(m.group(1) for m in re.finditer(r"^# (\[\[.*|[a-z_]+ = .*)$", text,
                                                         re.M))
    cfg = load_config_dict(tomllib.loads(example), ROOT / "config.toml")
    assert [p.number for p in cfg.pump_lines[0].pumps] == [1, 2]
    assert cfg.pump_lines[0].pumps[0].nozzles == ["AI92", "AI95", "DT"]
    assert [(r.id, r.driver, r.pump) for r in cfg.readers] == [
        ("pump1-rfid", "nfc", 1), ("pump2-swipe", "magstripe-serial", 2)]


def test_example_config_is_the_embedded_defaults() -> None:
    loaded = load_config_file(ROOT / "config.toml")
    defaults = Config()
    assert loaded.pump_lines == [] and loaded.readers == []
    for section in ("station", "logging", "authorization", "offline", "odometer"):
        got, want = getattr(loaded, section), getattr(defaults, section)
        for f in dataclasses.fields(want):
            if f.name == "data_dir":
                assert got.data_dir == (ROOT / want.data_dir)
            else:
                assert getattr(got, f.name) == getattr(want, f.name), (section, f.name)


def test_example_config_documents_every_key() -> None:
    text = (ROOT / "config.toml").read_text()
    sections = {m.group(1): m.start() for m in re.finditer(r"^\[(\w+)\]$", text, re.M)}
    for section, name in _fields():
        assert section in sections, section
        assert re.search(rf"^{name} = ", text, re.M), f"[{section}] {name} is not in config.toml"


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[station]\nidd = "S-1"\n')
    with pytest.raises(ConfigError) as err:
        load_config_file(path)
    assert str(err.value) == f"{path}: unknown key [station] idd"


def test_unknown_section(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[stations]\n")
    with pytest.raises(ConfigError, match="unknown key stations"):
        load_config_file(path)


@pytest.mark.parametrize(("body", "message"), [
    ('[station]\nid = 7\n', "[station] id must be a string, got an integer"),
    ('[authorization]\nmax_fill_ml = "lots"\n',
     "[authorization] max_fill_ml must be an integer, got a string"),
    ('[authorization]\nmax_fill_ml = 1.5\n',
     "[authorization] max_fill_ml must be an integer, got a float"),
    ('[authorization]\nmax_fill_ml = true\n',
     "[authorization] max_fill_ml must be an integer, got a boolean"),
    ('[station]\ngroups = "north"\n', "[station] groups must be an array, got a string"),
    ('[station]\ntimezone = "Mars/Olympus"\n', "is not a known time zone"),
    ('[offline]\nmax_data_age = "a day"\n', "is not a duration"),
    ('[offline]\nstale_policy = "hope"\n', "[offline] stale_policy must be restrict or refuse"),
    ('[offline]\nmax_clock_skew = "2h"\n', "[offline] max_clock_skew must be at most 1h"),
    ('[offline]\nmax_clock_skew = "soon"\n', "is not a duration"),
    ('[station]\nweek_start = "funday"\n', "[station] week_start must be one of"),
    ('[station]\nlock_wait = "soon"\n', "[station] lock_wait 'soon' is not a duration"),
    ('[station]\nlock_wait = "2m"\n', "[station] lock_wait must be at most 60s"),
    ('[station]\nstop_wait = "25s"\n', "[station] stop_wait must be at most 20s (the "
     "systemd unit's stop timeout leaves no more), got '25s'"),
    ('[station]\nmin_free_mb = 0\n', "[station] min_free_mb must be at least 1, got 0"),
    ('[station]\ndisk_reserve_mb = -1\n', "[station] disk_reserve_mb must be at least 0"),
    ('station = 3\n', "[station] must be a table"),
    ('[station\n', "not valid TOML"),
    ('[[pump_lines]]\nname = "a"\n', "[[pump_lines]] a: port is required"),
    ('[[pump_lines]]\nport = "loop://"\n[[pump_lines.pumps]]\nnumber = 1\naddress = 7\n'
     'nozzles = ["DT"]\n', "address must be 80-111"),
    ('[[pump_lines]]\nport = "loop://"\n[[pump_lines.pumps]]\nnumber = 1\naddress = 80\n'
     'nozzles = ["DT"]\nvolume_decimals = "3"\n',
     "[pump_lines[0].pumps[0]] volume_decimals must be an integer, got a string"),
    ('[[pump_lines]]\nport = "a"\n[[pump_lines.pumps]]\nnumber = 1\naddress = 80\n'
     'nozzles = ["DT"]\n[[pump_lines]]\nport = "b"\n[[pump_lines.pumps]]\nnumber = 1\n'
     'address = 80\nnozzles = ["DT"]\n', "pump number 1 is configured on more than one line"),
])
def test_wrong_values_are_named(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as err:
        load_config_file(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_missing_file_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_relative_data_dir_resolves_against_the_config_folder(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "c.toml"
    path.parent.mkdir()
    path.write_text('[station]\ndata_dir = "data"\ncontrol_socket = "run/ctl.sock"\n')
    cfg = load_config_file(path)
    assert cfg.station.data_dir == tmp_path / "etc" / "data"
    assert cfg.station.socket_path == tmp_path / "etc" / "run" / "ctl.sock"


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit, env, cwd = (tmp_path / n for n in ("explicit.toml", "env.toml", "config.toml"))
    for p, sid in ((explicit, "EXPLICIT"), (env, "ENV"), (cwd, "CWD")):
        p.write_text(f'[station]\nid = "{sid}"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FORECOURT_CONFIG", str(env))
    assert load_config(explicit).station.id == "EXPLICIT"
    assert load_config(None).station.id == "ENV"
    monkeypatch.delenv("FORECOURT_CONFIG")
    assert load_config(None).station.id == "CWD"
    cwd.unlink()
    monkeypatch.setattr("core.config.SYSTEM_PATH", tmp_path / "absent.toml")
    assert find_config_path(None) is None
    assert load_config(None).station.id == Config().station.id


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("24h", 86400),
                                               ("7d", 604800)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds
