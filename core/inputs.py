"""Checks of the arguments of station operations, where they enter (issue 10 #10).

Every state-changing operation - from the CLI (locally or through the daemon's
control socket), from another control-socket client, from a card reader - reaches
:func:`edge.operations.perform`, which calls :func:`check_args` first. An argument
that could not be stored, would act on an operator's terminal when shown (newlines,
escapes, NUL, unpaired surrogates) or is an integer of the wrong type or size is
refused with one sentence naming it, logged as ``input.refused``; nothing is
recorded. Normalising identifiers (upper-case UIDs, PAN digits) is not done here.
"""

from __future__ import annotations

import re
from typing import Any

import click
import structlog

from core import bounds as B
from core.errors import InputError, SaleError

log = structlog.get_logger(__name__)

#: Longest odometer reading, km, and vehicle id, characters: as the journal line
#: carries them (check_vehicle_input, offline_db.journal_checks).
MAX_ODOMETER_KM = B.MAX_ODOMETER_KM
MAX_VEHICLE_LEN = 64
#: Longest path of a file argument, characters.
MAX_PATH = 4096

#: Integer arguments: name -> (smallest, largest).
INTS: dict[str, tuple[int, int]] = {
    "pump": (1, 99),
    "volume_ml": (1, B.MAX_VOLUME_ML),
    "amount": (1, B.MAX_AMOUNT),
    "odometer_km": (0, MAX_ODOMETER_KM),
    "points": (0, B.MAX_SAFE_INT),  # loyalty points to pay with (MAX_SAFE_INT: all)
}
#: Text arguments: name -> most characters.
TEXTS: dict[str, int] = {
    "card": B.MAX_TEXT, "product": B.MAX_TEXT, "vehicle": MAX_VEHICLE_LEN, "pin": 64,
    "sale_id": 64, "file": MAX_PATH, "token": B.MAX_TOKEN_LEN,
    "voucher": 64,  # a voucher code as typed or its QR text (core.vouchers.MAX_INPUT)
    "actor": 100,  # who asked: "cli:<user>", "reader:<id>" (control socket, recorded)
}
#: Arguments that are lists of texts.
TEXT_LISTS = frozenset({"presented"})
#: Click types of the CLI's numeric options: the same ranges, so a number out of range
#: is a usage error naming the option (``--volume``) instead of an OverflowError.
COUNT = click.IntRange(1, B.MAX_SAFE_INT)
VOLUME_ML = click.IntRange(*INTS["volume_ml"])
AMOUNT = click.IntRange(*INTS["amount"])
ODOMETER_KM = click.IntRange(*INTS["odometer_km"])
#: A station id, as ``[station] id`` requires it (it becomes part of MQTT topics).
STATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_args(op: str, args: dict[str, Any]) -> None:
    """Refuse the first unfit argument of ``op`` with an :class:`InputError`.

    Arguments not named above are still checked by type: text as one line of at
    most :data:`~core.bounds.MAX_TEXT` characters, integers in 0..2^53-1.
    """
    for name, value in args.items():
        field, problem = _problem(B.safe_key(name), value)
        if problem:
            log.info("input.refused", op=op, field=field, error=f"{field} {problem}")
            raise InputError(f"{op}: {field} {problem}")


def check_station_id(value: str, op: str) -> None:
    """Refuse a station id that ``[station] id`` would not accept (MQTT topic safe)."""
    if not STATION_ID.fullmatch(value):
        error = (f"station id must be 1-64 letters, digits, '-', '_' or '.', starting with a "
                 f"letter or digit; got '{B.escaped(value)}'")
        log.info("input.refused", op=op, field="station_id", error=error)
        raise InputError(f"{op}: {error}")


def _problem(name: str, value: Any) -> tuple[str, str | None]:
    """(the field, why its value is unfit or None)."""
    if name in TEXT_LISTS:
        if not isinstance(value, list):
            return name, "must be a list of strings"
        for i, item in enumerate(value):
            problem = _text(item, B.MAX_TEXT)
            if problem:
                return f"{name}[{i}]", problem
        return name, None
    return name, _single(name, value)


def _single(name: str, value: Any) -> str | None:
    if name in INTS:
        return B.int_problem(value, *INTS[name])
    if name in TEXTS:
        return _text(value, TEXTS[name])
    if isinstance(value, str):
        return _text(value, B.MAX_TEXT)
    if isinstance(value, int) and not isinstance(value, bool):
        return B.int_problem(value, 0, B.MAX_SAFE_INT)
    return None


def _text(value: Any, max_chars: int) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if not value:
        return "must not be empty"
    return B.text_problem(value, max_chars)


def check_vehicle_input(vehicle: str | None, odometer_km: int | None) -> None:
    """Refuse, in one sentence, a vehicle or odometer that the journal could not carry.

    Both go into the journal line the head office checks, so they are bounded here,
    where they enter: a vehicle id of 1-64 printable characters, a reading of 0-10^7 km.
    """
    problem = None
    if vehicle is not None and not (isinstance(vehicle, str)
                                    and 0 < len(vehicle) <= MAX_VEHICLE_LEN
                                    and vehicle.isprintable()):
        problem = ("vehicle", f"vehicle must be 1-{MAX_VEHICLE_LEN} printable characters, "
                              f"got {vehicle!r}")
    elif odometer_km is not None and not (isinstance(odometer_km, int)
                                          and not isinstance(odometer_km, bool)
                                          and 0 <= odometer_km <= MAX_ODOMETER_KM):
        problem = ("odometer_km", f"odometer_km must be 0-{MAX_ODOMETER_KM} km, "
                                  f"got {odometer_km!r}")
    if problem is not None:
        log.info("sale.input_refused", field=problem[0], error=problem[1])
        raise SaleError(problem[1])
