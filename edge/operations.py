"""The station's state-changing operations, by name.

The daemon serves these over its control socket; without a daemon the CLI runs
them itself under the writer lock. One table, so both paths behave the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.errors import ControlError
from edge.lifecycle import Station


@dataclass(frozen=True)
class Operation:
    run: Callable[[Station, dict[str, Any], str], Any]
    required: frozenset[str]
    optional: frozenset[str] = frozenset()


def _flash_import(station: Station, path: Path, actor: str) -> Any:
    from cloud_sync.flash_station import import_reply

    return import_reply(station, path, actor=actor)


OPERATIONS: dict[str, Operation] = {
    "ping": Operation(lambda st, _a, _actor: {"station_id": st.config.station.id}, frozenset()),
    "cards.import": Operation(lambda st, a, actor: st.import_cards(Path(a["file"]), actor=actor),
                              frozenset({"file"})),
    "cards.pin_reset": Operation(lambda st, a, actor: st.pin_reset(a["card"], actor=actor),
                                 frozenset({"card"})),
    "flash.import": Operation(lambda st, a, actor: _flash_import(st, Path(a["file"]), actor),
                              frozenset({"file"})),
    "sale.authorize": Operation(
        lambda st, a, actor: st.authorize(**a, actor=actor), frozenset({"pump"}),
        frozenset({"card", "token", "product", "volume_ml", "amount", "vehicle", "odometer_km",
                   "pin", "presented"})),
    "sale.complete": Operation(
        lambda st, a, actor: st.complete(a["sale_id"], volume_ml=a["volume_ml"],
                                         product=a.get("product"), actor=actor),
        frozenset({"sale_id", "volume_ml"}), frozenset({"product"})),
    "sale.cancel": Operation(lambda st, a, actor: st.cancel(a["sale_id"], actor=actor),
                             frozenset({"sale_id"})),
}


INT_MAX = 2**63 - 1  # SQLite's INTEGER


def _integer(low: int, high: int = INT_MAX) -> tuple[Callable[[Any], bool], str]:
    def check(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high

    return check, (f"an integer from {low} to {high}" if high != INT_MAX
                   else f"an integer of at least {low}")


def _text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


_TEXT = (_text, "a non-empty string")
#: What each argument of an operation must be. The socket carries any JSON, and the
#: engine compares numbers: a wrong type is refused here, naming it, not deep inside.
ARGUMENTS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "pump": _integer(1, 99), "volume_ml": _integer(1), "amount": _integer(1),
    "odometer_km": _integer(0),
    "presented": (lambda v: isinstance(v, list) and all(_text(i) for i in v),
                  "a list of non-empty strings"),
    **dict.fromkeys(("card", "token", "product", "vehicle", "pin", "sale_id", "file"), _TEXT),
}


def perform(station: Station, op: str, args: dict[str, Any], actor: str) -> Any:
    """Run operation ``op``; unknown names, missing, extra or mistyped arguments are refused."""
    spec = OPERATIONS.get(op)
    if spec is None:
        raise ControlError(f"unknown operation {op!r}")
    missing = spec.required - set(args)
    extra = set(args) - spec.required - spec.optional
    if missing or extra:
        raise ControlError(f"bad arguments for {op}: missing {sorted(missing)}, "
                           f"unexpected {sorted(extra)}")
    for name, value in sorted(args.items()):
        check, what = ARGUMENTS.get(name, (lambda _v: True, ""))
        if not check(value):
            raise ControlError(f"bad arguments for {op}: {name} must be {what}")
    return spec.run(station, args, actor)
