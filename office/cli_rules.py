"""Reading card rules typed on the command line: ``day:2`` visit counts and
``mon-fri 06:00-22:00`` time windows, into the card-store format's objects."""

from __future__ import annotations

import re
from typing import Any

import click

from core.formats.snapshot import DAYS

_WINDOW = re.compile(r"^(?:(?P<days>[a-z,-]+)\s+)?(?P<from>\d\d:\d\d)-(?P<to>\d\d:\d\d)$")


def parse_visits(items: tuple[str, ...]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        period, _, count = item.partition(":")
        if period not in ("day", "week", "month", "year") or not count.isdigit():
            raise click.BadParameter(f"{item!r}: write PERIOD:COUNT, e.g. day:2",
                                     param_hint="--visits")
        out.append({"period": period, "count": int(count)})
    return out


def _days(text: str) -> list[str]:
    days: list[str] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise click.BadParameter(f"{text!r}: days are {', '.join(DAYS)}, e.g. mon-fri "
                                     "or sat,sun", param_hint="--window")
        if last:
            i, j = DAYS.index(first), DAYS.index(last)
            days += [DAYS[k % 7] for k in range(i, i + (j - i) % 7 + 1)]
        else:
            days.append(first)
    return sorted(set(days), key=DAYS.index)


def parse_windows(items: tuple[str, ...]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        m = _WINDOW.match(item.strip().lower())
        if m is None:
            raise click.BadParameter(f"{item!r}: write [DAYS] HH:MM-HH:MM, e.g. "
                                     "'mon-fri 06:00-22:00'", param_hint="--window")
        window: dict[str, Any] = {"from": m["from"], "to": m["to"]}
        if m["days"]:
            window["days"] = _days(m["days"])
        out.append(window)
    return out
