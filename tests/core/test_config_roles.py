"""``[roles]`` (core.config_roles): group names or numbers; a wrong one is one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Config, load_config_file
from core.errors import ConfigError


def _load(tmp_path: Path, body: str) -> Config:
    path = tmp_path / "c.toml"
    path.write_text(f"[roles]\n{body}\n")
    return load_config_file(path)


def test_defaults_and_numbers(tmp_path: Path) -> None:
    assert Config().roles.operator_groups == ["forecourt-operators"]
    assert Config().roles.socket_group == "forecourt"
    roles = _load(tmp_path, 'operator_groups = ["1500", "shift_leads"]\n'
                            'admin_groups = []\nsocket_group = ""').roles
    assert (roles.operator_groups, roles.admin_groups, roles.socket_group) == (
        ["1500", "shift_leads"], [], "")
    assert roles.technician_groups == ["forecourt-technicians"]


@pytest.mark.parametrize(("body", "message"), [
    ('operator_groups = ["ops team"]',
     "[roles] operator_groups has 'ops team', which is neither a group name (like "
     "forecourt-operators) nor a group number (like \"1500\", at most 4294967294)"),
    ('admin_groups = ["4294967295"]', "[roles] admin_groups has '4294967295', which is"),
    ('technician_groups = ["-x"]', "[roles] technician_groups has '-x', which is"),
    ('socket_group = "a-very-long-group-name-of-33-chars"', "[roles] socket_group 'a-very"),
    ("operator_groups = [1500]", "[roles] operator_groups[0] must be a string, got an "
                                 "integer"),
    ('operator_group = ["x"]', "unknown key [roles] operator_group"),
])
def test_a_wrong_group_is_one_sentence_naming_the_key(tmp_path: Path, body: str,
                                                      message: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, body)
    text = str(err.value)
    assert text.startswith(f"{tmp_path / 'c.toml'}: {message}"), text
    assert "\n" not in text
