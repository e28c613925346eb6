"""One DART fuelling point as the controller sees it: state, nozzle, filling, totals.

:class:`PumpModel` turns DC transactions into :class:`PumpEvent` values in station
units (ml, minor units), using the pump's configured decimals. It never commands the
pump; :mod:`drivers.dart.line` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.dart import application as app
from drivers.dart.application import PumpState

_SCALE = (1, 10, 100, 1000)


@dataclass(frozen=True)
class Units:
    """Decimals of the pump's numbers. Station units: ml and minor units (cents)."""

    volume_decimals: int = 3
    amount_decimals: int = 2
    price_decimals: int = 2

    def volume_ml(self, raw: int) -> int:
        return raw * _SCALE[3 - self.volume_decimals]

    def raw_volume(self, ml: int) -> int:
        """Largest raw volume not above ``ml`` (a preset never exceeds the decision)."""
        return ml // _SCALE[3 - self.volume_decimals]

    def amount_minor(self, raw: int) -> int:
        return raw * _SCALE[2 - self.amount_decimals]

    def raw_amount(self, minor: int) -> int:
        return minor // _SCALE[2 - self.amount_decimals]

    def price_minor(self, raw: int) -> int:
        return raw * _SCALE[2 - self.price_decimals]

    def raw_price(self, minor: int) -> int:
        return minor // _SCALE[2 - self.price_decimals]


@dataclass(frozen=True)
class PumpEvent:
    """Something the station should know about pump ``number``."""

    number: int
    kind: str  # status, nozzle, filling, totals, online, offline, alarm, identity
    status: PumpState | int | None = None
    previous: PumpState | int | None = None
    nozzle: int = 0
    nozzle_out: bool = False
    volume_ml: int = 0
    amount: int = 0
    price: int = 0
    totals_volume_ml: int = 0
    totals_amount: int = 0
    value: str = ""


@dataclass
class PumpModel:
    number: int
    address: int
    nozzles: list[str]
    units: Units = field(default_factory=Units)
    state: PumpState | int | None = None
    nozzle: int = 0
    nozzle_out: bool = False
    filled_ml: int = 0
    filled_amount: int = 0
    #: counter -> (volume ml, amount minor units), as last reported.
    totals: dict[int, tuple[int, int]] = field(default_factory=dict)
    online: bool = False
    prices_sent: tuple[int, ...] | None = None

    def product(self, nozzle: int) -> str | None:
        return self.nozzles[nozzle - 1] if 1 <= nozzle <= len(self.nozzles) else None

    def nozzles_for(self, products: list[str] | tuple[str, ...]) -> tuple[int, ...]:
        return tuple(i + 1 for i, code in enumerate(self.nozzles) if code in products)

    def update(self, msg: app.Decoded) -> list[PumpEvent]:
        n, u = self.number, self.units
        if isinstance(msg, app.DC1):
            previous, self.state = self.state, msg.status
            return [PumpEvent(n, "status", status=msg.status, previous=previous)]
        if isinstance(msg, app.DC2):
            self.filled_ml, self.filled_amount = u.volume_ml(msg.volume), u.amount_minor(
                msg.amount)
            return [PumpEvent(n, "filling", volume_ml=self.filled_ml, amount=self.filled_amount,
                              nozzle=self.nozzle)]
        if isinstance(msg, app.DC3):
            changed = (msg.nozzle, msg.nozzle_out) != (self.nozzle, self.nozzle_out)
            if msg.nozzle:
                self.nozzle = msg.nozzle
            self.nozzle_out = msg.nozzle_out
            return [PumpEvent(n, "nozzle", nozzle=msg.nozzle, nozzle_out=msg.nozzle_out,
                              price=u.price_minor(msg.price))] if changed else []
        if isinstance(msg, app.DC101):
            self.totals[msg.counter] = (u.volume_ml(msg.volume), u.amount_minor(msg.amount1))
            return [PumpEvent(n, "totals", nozzle=msg.counter,
                              totals_volume_ml=u.volume_ml(msg.volume),
                              totals_amount=u.amount_minor(msg.amount1))]
        if isinstance(msg, app.DC5):
            return [PumpEvent(n, "alarm", value=f"0x{msg.alarm:02X}")]
        if isinstance(msg, app.DC9):
            return [PumpEvent(n, "identity", value=msg.identity)]
        return []
