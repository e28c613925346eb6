"""The closing proof: every sale of the station's journal is at the office exactly once.

Both sides are read through their own commands (``forecourt journal list`` and
``forecourt office sales --station``): the number of sales, their volume and amount,
and the sale ids, which must be the same set with none twice. The station's journal
chain must verify and its outbox be empty (every sale receipted).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from core.display import Currency, litres


@dataclass(frozen=True)
class Side:
    """What one side holds for the station: count, sums, sale ids (in seq order)."""

    sales: int
    volume_ml: int
    amount: int
    sale_ids: list[str]

    @classmethod
    def of(cls, rows: list[dict[str, Any]]) -> Side:
        return cls(len(rows), sum(int(r["volume_ml"]) for r in rows),
                   sum(int(r["amount"]) for r in rows), [str(r["sale_id"]) for r in rows])

    def as_dict(self) -> dict[str, Any]:
        return {"sales": self.sales, "volume_ml": self.volume_ml, "amount": self.amount,
                "sale_ids": self.sale_ids}


@dataclass(frozen=True)
class Summary:
    planned: int
    station: Side
    office: Side
    journal_ok: bool
    outbox_depth: int
    transport: str  # mqtt or flash
    problems: list[str] = field(default_factory=list)

    @classmethod
    def compare(cls, planned: int, station_rows: list[dict[str, Any]],
                office_rows: list[dict[str, Any]], *, journal_ok: bool, outbox_depth: int,
                transport: str) -> Summary:
        station, office = Side.of(station_rows), Side.of(office_rows)
        problems = []
        if station.sales != planned:
            problems.append(f"the station's journal holds {station.sales} sales, not the "
                            f"{planned} the demo made")
        missing = sorted(set(station.sale_ids) - set(office.sale_ids))
        extra = sorted(set(office.sale_ids) - set(station.sale_ids))
        twice = sorted(i for i, n in Counter(office.sale_ids).items() if n > 1)
        if missing:
            problems.append(f"{len(missing)} sales never reached the office ({missing[0]} ...)")
        if extra:
            problems.append(f"the office holds {len(extra)} sales the station does not "
                            f"({extra[0]} ...)")
        if twice:
            problems.append(f"the office holds {len(twice)} sales twice ({twice[0]} ...)")
        if (station.volume_ml, station.amount) != (office.volume_ml, office.amount):
            problems.append("the volume or amount at the office differs from the station's")
        if not journal_ok:
            problems.append("the station's journal does not verify (forecourt journal verify)")
        if outbox_depth:
            problems.append(f"{outbox_depth} sales are still waiting in the station's outbox")
        return cls(planned, station, office, journal_ok, outbox_depth, transport, problems)

    @property
    def exactly_once(self) -> bool:
        return not self.problems

    def lines(self, money: Currency) -> list[str]:
        rows = [("station journal", self.station), ("office (station S-001)", self.office)]
        out = [f"  {'':<24}{'sales':>7}{'volume':>16}{'amount':>20}"]
        for name, side in rows:
            out.append(f"  {name:<24}{side.sales:>7}{litres(side.volume_ml):>16}"
                       f"{money.money(side.amount):>20}")
        if self.exactly_once:
            out.append(f"  sale ids: the same {self.station.sales} on both sides, none twice; "
                       "the journal's hash chain verifies; the outbox is empty")
            out.append("  => every sale reached the office exactly once")
        else:
            out += [f"  PROBLEM: {p}" for p in self.problems]
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"exactly_once": self.exactly_once, "transport": self.transport,
                "planned": self.planned, "station": self.station.as_dict(),
                "office": self.office.as_dict(), "journal_ok": self.journal_ok,
                "outbox_depth": self.outbox_depth, "problems": self.problems}
