"""How people see numbers: money in the currency, volumes in litres, ages in days.

The one formatting module of every human output (station and office CLI). Stored
and JSON values stay integers — minor units, millilitres, seconds — and only these
functions turn them into text, with integer arithmetic alone (no floats: a float
would print 0.1 + 0.2 kopecks wrongly one day). ``[station] currency`` names the
currency; its number of decimals comes from :data:`ISO_4217_DECIMALS` unless
``[station] currency_decimals`` sets it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: ISO 4217 minor-unit exponents of the currencies fuel networks use most; any other
#: currency needs ``[station] currency_decimals``.
ISO_4217_DECIMALS: dict[str, int] = {
    "AED": 2, "AMD": 2, "AZN": 2, "BGN": 2, "BHD": 3, "BYN": 2, "CAD": 2, "CHF": 2,
    "CLP": 0, "CNY": 2, "CZK": 2, "DKK": 2, "EUR": 2, "GBP": 2, "GEL": 2, "HUF": 2,
    "IDR": 2, "INR": 2, "ISK": 0, "JOD": 3, "JPY": 0, "KGS": 2, "KRW": 0, "KWD": 3,
    "KZT": 2, "MDL": 2, "MNT": 2, "NOK": 2, "OMR": 3, "PLN": 2, "RON": 2, "RSD": 2,
    "RUB": 2, "SAR": 2, "SEK": 2, "TJS": 2, "TMT": 2, "TRY": 2, "UAH": 2, "USD": 2,
    "UZS": 2, "VND": 0,
}
MAX_DECIMALS = 4


@dataclass(frozen=True)
class Currency:
    """A currency code and how many decimals its minor unit has (RUB: 2, JPY: 0)."""

    code: str = "RUB"
    decimals: int = 2

    def money(self, minor: int) -> str:
        """``1018000`` minor units as ``10,180.00 RUB`` (integer arithmetic only)."""
        sign = "-" if minor < 0 else ""
        whole, frac = divmod(abs(minor), 10 ** self.decimals)
        text = f"{whole:,}" + (f".{frac:0{self.decimals}d}" if self.decimals else "")
        return f"{sign}{text} {self.code}"

    def price(self, minor_per_litre: int) -> str:
        """A unit price (minor units per litre): ``52.99 RUB/l``."""
        return f"{self.money(minor_per_litre)}/l"

    def of(self, unit: str, value: int) -> str:
        """A limit or wallet value in its unit: ``volume`` (ml) or ``money``."""
        return litres(value) if unit == "volume" else self.money(value)


def currency_decimals(code: str, configured: int) -> int:
    """The decimals of ``code``: ``configured`` if set (>= 0), else ISO 4217's.

    Raises ``ValueError`` naming the config key when neither says.
    """
    if configured >= 0:
        if configured > MAX_DECIMALS:
            raise ValueError(f"[station] currency_decimals must be 0-{MAX_DECIMALS} "
                             f"(or -1: the ISO 4217 exponent of the currency), got {configured}")
        return configured
    if code not in ISO_4217_DECIMALS:
        raise ValueError(f"[station] currency {code!r} is not in forecourt's ISO 4217 table; "
                         "set [station] currency_decimals to its number of decimals")
    return ISO_4217_DECIMALS[code]


def litres(ml: int) -> str:
    """Millilitres as litres with three decimals: ``15200`` -> ``15.200 l``."""
    sign = "-" if ml < 0 else ""
    whole, frac = divmod(abs(ml), 1000)
    return f"{sign}{whole:,}.{frac:03d} l"


_SIZES = (("GB", 10**9), ("MB", 10**6), ("kB", 10**3))


def size(count: int) -> str:
    """A file size: ``979`` -> ``979 bytes``, ``48213`` -> ``48.2 kB``, then MB and GB."""
    for name, unit in _SIZES:
        if count >= unit:
            return f"{count / unit:,.1f} {name}"
    return f"{count:,} byte{'' if count == 1 else 's'}"


def pump_line(r: dict[str, Any]) -> str:
    """One pump as ``forecourt pump status`` shows it.

    ``pump  1 island-1 0x50: online FILLING nozzle 3 out sale AVR0YZR5G4``; a pump that
    has not answered since the daemon started has no state yet: ``state unknown``.
    """
    nozzle = f" nozzle {r['nozzle']} out" if r.get("nozzle_out") else ""
    sale = f" sale {r['sale_id']}" if r.get("sale_id") else ""
    state = r.get("state") or "state unknown"
    return (f"pump {r['pump']:>2} {r['line']} {r['address']}: "
            f"{'online' if r.get('online') else 'OFFLINE'} {state}{nozzle}{sale}")


def reader_event(event: dict[str, Any]) -> str:
    """One card read as ``forecourt readers watch`` shows it (its JSON: ``--json``).

    ``20:25:30  swipe5  pump 5  magstripe 7800001234567893: APPROVED sale X up to 38.818 l``
    """
    at = str(event.get("at") or "")[11:19]
    pump = event.get("pump")
    where = f"pump {pump}" if pump else "desk"
    card = f"{event.get('kind') or 'card'} {event.get('card')}"
    result = event.get("result")
    if result == "approved":
        what = (f"APPROVED sale {event.get('sale_id')} up to "
                f"{litres(int(event.get('max_volume_ml') or 0))}")
    elif result == "denied":
        what = f"DENIED {event.get('reason')}"
    elif result == "refused":
        what = f"REFUSED {event.get('reason')}: {event.get('message')}"
    else:
        what = str(result)
    return f"{at}  {event.get('reader')}  {where}  {card}: {what}"


_UNITS = (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1))


def age(seconds: int | None) -> str:
    """A duration in its two largest units: ``216707`` -> ``2 d 12 h``; None -> ``never``."""
    if seconds is None:
        return "never"
    if seconds <= 0:
        return "0 s"
    parts: list[str] = []
    rest = seconds
    for name, size in _UNITS:
        count, rest = divmod(rest, size)
        if count or parts:
            parts.append(f"{count} {name}")
        if len(parts) == 2:
            break
    if len(parts) == 2 and parts[1].startswith("0 "):
        parts.pop()
    return " ".join(parts)


def ago(at: str | None, now: datetime) -> str:
    """A stored UTC time with its age: ``2026-11-26T07:00:00Z (2 d 12 h ago)``; None -> ``-``."""
    if not at:
        return "-"
    try:
        seconds = int((now - datetime.fromisoformat(at)).total_seconds())
    except (TypeError, ValueError):
        return at
    return f"{at[:19]}Z ({age(seconds)} ago)" if seconds >= 0 else at


_WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def weekdays(days: list[str]) -> str:
    """Days of a time window: runs joined (``mon-fri``), all seven as ``every day``."""
    index = sorted({_WEEK.index(d) for d in days if d in _WEEK})
    if len(index) == 7:
        return "every day"
    runs: list[list[int]] = []
    for i in index:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return ", ".join(_WEEK[r[0]] if len(r) == 1 else f"{_WEEK[r[0]]}-{_WEEK[r[-1]]}"
                     for r in runs)


def vehicle_note(sale: dict[str, Any]) -> str:
    """A sale's vehicle, odometer and flag for a one-line listing ('' when none)."""
    parts = []
    if sale.get("vehicle_id") is not None:
        parts.append(f"vehicle {sale['vehicle_id']}")
    if sale.get("odometer_km") is not None:
        parts.append(f"{sale['odometer_km']:,} km")
    if sale.get("odometer_flag"):
        parts.append("ODOMETER UNREASONABLE")
    return "  " + " ".join(parts) if parts else ""


def restriction_lines(card: dict[str, Any]) -> list[str]:
    """``cards show``: the card's vehicle, PIN, time and station rules, one line each."""
    out: list[str] = []
    v = card["vehicle"]
    if v["vehicle_id"] or v["binding"] or v["odometer_required"]:
        parts = [f"vehicle {v['vehicle_id'] or '-'}"
                 + (f" (bound: the identified vehicle must be {v['vehicle_id']})"
                    if v["binding"] else "")]
        if v["odometer_required"]:
            parts.append("odometer required")
        if v["last_odometer_km"] is not None:
            parts.append(f"last reading here {v['last_odometer_km']:,} km")
        out.append(", ".join(parts))
    pin = card["pin"]
    if pin["required"]:
        out.append(f"PIN required: LOCKED after {pin['failures']} wrong tries "
                   f"(max {pin['max_tries']})" if pin["locked"] else
                   f"PIN required: {pin['failures']} wrong tries of {pin['max_tries']}")
    if card["time_windows"]:
        windows = "; ".join(f"{weekdays(w['days'])} {w['from']}-{w['to']}"
                            for w in card["time_windows"])
        now = "now inside" if card["in_time_window_now"] else "NOW OUTSIDE"
        out.append(f"time windows: {windows} ({now})")
    where = [f"stations: {', '.join(card['stations'])}"] if card["stations"] is not None \
        else []
    if card["station_groups"] is not None:
        where.append(f"station groups: {', '.join(card['station_groups'])}")
    if where:
        here = "allowed here" if card["allowed_here"] else "NOT ALLOWED HERE"
        out.append(f"{'; '.join(where)} ({here})")
    return out
