"""One planned sale of the demo and what has been seen of it so far."""

from __future__ import annotations

from dataclasses import dataclass

from demo.cards import MAGSTRIPE, NFC, NOZZLES, QR, Kind, card_for
from demo.configfile import Reader

#: About how much each sale fills before the customer hangs up (cycled); the journal
#: records what the pump measured.
TARGETS_ML = (12_000, 27_500, 8_250, 21_000, 15_750, 6_500, 30_000, 10_250)


@dataclass
class Sale:
    """A sale the demo drives, and its milestones as the live view saw them."""

    number: int
    pump: int
    kind: Kind
    reader: str
    card: str
    nozzle: int
    target_ml: int
    presented: bool = False  # the card is at the reader; its read not seen yet
    sale_id: str | None = None
    max_volume_ml: int | None = None
    refused: str | None = None  # why the station did not authorize it
    filling: bool = False
    seq: int | None = None
    volume_ml: int | None = None
    amount: int | None = None
    sent: bool = False
    receipted: bool = False

    @property
    def product(self) -> str:
        return NOZZLES[self.nozzle - 1]


def plan(count: int, readers: tuple[Reader, ...]) -> list[Sale]:
    """``count`` sales, alternating pumps 1 and 2; each pump alternates its two readers.

    Pump 1 takes a swipe, then a QR token, ...; pump 2 an NFC tag, then a QR token, ...
    so three sales already show all three kinds of card.
    """
    by_pump: dict[int, list[Reader]] = {}
    for r in readers:
        by_pump.setdefault(r.pump, []).append(r)
    order = {MAGSTRIPE.name: 0, NFC.name: 0, QR.name: 1}
    for rs in by_pump.values():
        rs.sort(key=lambda r: order[r.kind])
    kinds = {k.name: k for k in (MAGSTRIPE, NFC, QR)}
    sales = []
    for i in range(count):
        pump = 1 + i % 2
        reader = by_pump[pump][(i // 2) % len(by_pump[pump])]
        kind = kinds[reader.kind]
        sales.append(Sale(number=i + 1, pump=pump, kind=kind, reader=reader.id,
                          card=card_for(kind, pump), nozzle=1 + i % len(NOZZLES),
                          target_ml=TARGETS_ML[i % len(TARGETS_ML)]))
    return sales
