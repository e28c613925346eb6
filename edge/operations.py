"""The station's state-changing operations, by name.

The daemon serves these over its control socket; without a daemon the CLI runs
them itself under the writer lock. One table, so both paths behave the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ControlError
from core.inputs import check_args
from core.timefmt import iso
from edge.lifecycle import Station
from offline_db.shifts import Readings, close_shift


@dataclass(frozen=True)
class Operation:
    run: Callable[[Station, dict[str, Any], str], Any]
    required: frozenset[str]
    optional: frozenset[str] = frozenset()


def _close_shift(station: Station, actor: str) -> Any:
    """Without the daemon nobody talks to the pump lines: the readings are unavailable."""
    from edge.reports import DAEMON_NOT_RUNNING

    readings = Readings(iso(station.clock()), "live", DAEMON_NOT_RUNNING)
    return close_shift(station.conn, readings, actor=actor)


def _flash_import(station: Station, path: Path, actor: str) -> Any:
    from edge.flash import import_reply

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
                   "pin", "presented", "voucher", "points"})),
    "sale.complete": Operation(
        lambda st, a, actor: st.complete(a["sale_id"], volume_ml=a["volume_ml"],
                                         product=a.get("product"), actor=actor),
        frozenset({"sale_id", "volume_ml"}), frozenset({"product"})),
    # The daemon closes a shift itself, with the pumps' totalizers (Daemon._handle).
    "shift.close": Operation(lambda st, _a, actor: _close_shift(st, actor), frozenset()),
    "sale.cancel": Operation(lambda st, a, actor: st.cancel(a["sale_id"], actor=actor),
                             frozenset({"sale_id"})),
}


def perform(station: Station, op: str, args: dict[str, Any], actor: str) -> Any:
    """Run operation ``op``; unknown names, missing, extra or unfit arguments are refused."""
    spec = OPERATIONS.get(op)
    if spec is None:
        raise ControlError(f"unknown operation {op!r}")
    missing = spec.required - set(args)
    extra = set(args) - spec.required - spec.optional
    if missing or extra:
        raise ControlError(f"bad arguments for {op}: missing {sorted(missing)}, "
                           f"unexpected {sorted(extra)}")
    check_args(op, args)
    check_args(op, {"actor": actor})  # recorded with what it does (audit, authorizations)
    return spec.run(station, args, actor)
