"""Log format: JSON lines off a terminal, key=value on one."""

from __future__ import annotations

import io
import json

import structlog

from core import logs


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_json_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    logs.configure("info", "auto", out)
    structlog.get_logger("t").info("sale.completed", pump=3, seq=1042)
    structlog.get_logger("t").debug("hidden")
    (line,) = out.getvalue().splitlines()
    event = json.loads(line)
    assert (event["event"], event["pump"], event["seq"], event["level"]) == (
        "sale.completed", 3, 1042, "info")
    assert event["timestamp"].endswith("Z")


def test_key_value_on_a_terminal() -> None:
    out = FakeTTY()
    logs.configure("debug", "auto", out)
    structlog.get_logger("t").warning("pump.offline", pump=2)
    text = out.getvalue()
    assert "pump.offline" in text and "pump=2" in text
    assert not text.lstrip().startswith("{")
