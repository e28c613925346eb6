"""A customer's statement for a period: opening balance, every movement, closing balance.

The period is local calendar days ``start``..``end`` (``[office_reports] timezone``): a
sale at 23:30 UTC on 31 January is on 1 February's statement in Moscow. Lines, in time
order (account entries, dated by value date only, after that day's sales):

- ``sale``: volume, amount (after discounts), discount, what money wallets paid
  (``wallet``, negative) and litre wallets (``litres``), what litre wallets, a voucher
  and points paid (``other``), and the ``charge`` to the account;
- ``voucher``: a voucher exception charged to the customer (its value is a charge);
- ``payment``: a payment received (``credit``);
- ``adjustment``: a credit note (``credit``) or a debit note (``charge``), with why;
- ``top-up``, ``wallet adjustment``, ``wallet opening``, ``wallet transfer``: money
  (``wallet``) or litres (``litres``) put on the customer's wallets.

Two running balances: ``balance``, what the customer owes on account, and
``wallet_balance``, the money in its wallets. A credit customer's statement is about
the first; a prepaid customer's about the second (:attr:`Statement.prepaid`) — both are
kept so that neither hides the other (docs/reports.md, "Accounts").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta, tzinfo
from typing import Any

from core.periods import local_midnight_utc
from core.timefmt import iso, parse_iso
from office.accounts import queries
from office.accounts.account import balance
from office.store import OfficeConnection

#: The figure columns summed in the totals.
FIGURES = ("volume_ml", "amount", "discount", "other", "wallet", "litres", "charge",
           "credit")
_WALLET_KINDS = {"topup": "top-up", "adjustment": "wallet adjustment",
                 "opening": "wallet opening", "transfer": "wallet transfer"}


@dataclass
class Statement:
    """One customer's statement: who, for what days, the balances and the lines."""

    customer: dict[str, Any]
    start: date
    end: date
    opening: int
    closing: int
    wallet_opening: int
    wallet_closing: int
    litres_opening: int
    litres_closing: int
    lines: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def prepaid(self) -> bool:
        return bool(self.customer["payment_terms"] == "prepaid")

    @property
    def has_account(self) -> bool:
        """Whether the account moved or stands at anything (shown for prepaid then)."""
        return (not self.prepaid or self.opening != 0 or self.closing != 0
                or any(line["charge"] or line["credit"] for line in self.lines))

    @property
    def has_wallets(self) -> bool:
        """Whether wallets moved or hold anything (shown for credit customers then)."""
        return (self.prepaid or self.wallet_opening != 0 or self.wallet_closing != 0
                or self.litres_opening != 0 or self.litres_closing != 0
                or any(line["wallet"] or line["litres"] for line in self.lines))


def _line(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"at": "", "kind": "", "reference": "", "station": "",
                            "product": "", **dict.fromkeys(FIGURES, 0)}
    base["volume_ml"] = None
    base.update(values)
    return base


def build(conn: OfficeConnection, customer_id: str, start: date, end: date,
          tz: tzinfo) -> Statement:
    """The statement of ``customer_id`` for local days ``start``..``end``."""
    from office.accounts.service import customer_of  # a model: Django is set up by now

    found = customer_of(customer_id)
    # The same local midnights as the opening balance's cut (office.accounts.daily).
    lo = iso(local_midnight_utc(start, tz))
    hi = iso(local_midnight_utc(end + timedelta(days=1), tz))
    opening = balance(conn, customer_id, tz, start - timedelta(days=1))
    money0, ml0 = queries.wallet_totals(conn, customer_id, lo)
    keyed: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for s in queries.sale_lines(conn, customer_id, lo, hi):
        local = parse_iso(s["completed_at"]).astimezone(tz)
        charge, wm = int(s["charge"]), int(s["wm"])
        keyed.append(((local.date(), 0, s["completed_at"], s["station_id"], s["seq"]), _line(
            at=local.strftime("%Y-%m-%d %H:%M"), kind="sale",
            reference=f"{s['station_id']} #{s['seq']}, card {s['card_id']}",
            station=s["station_id"], product=s["product"], volume_ml=int(s["volume_ml"]),
            amount=int(s["amount"]), discount=int(s["discount"]),
            other=max(0, int(s["amount"]) - charge - wm), wallet=-wm, litres=-int(s["wml"]),
            charge=charge)))
    for v in queries.voucher_charges(conn, lo, hi, customer_id):
        local = parse_iso(v["settled_at"]).astimezone(tz)
        keyed.append(((local.date(), 0, v["settled_at"], "", 0), _line(
            at=local.strftime("%Y-%m-%d %H:%M"), kind="voucher",
            reference=f"voucher {v['serial']} used twice, {v['station_id']} {v['sale_id']}",
            station=v["station_id"], charge=int(v["value"]))))
    for e in queries.wallet_entries(conn, customer_id, lo, hi):
        local = parse_iso(e["at"]).astimezone(tz)
        value = int(e["value"])
        keyed.append(((local.date(), 0, e["at"], "", e["id"]), _line(
            at=local.strftime("%Y-%m-%d %H:%M"), kind=_WALLET_KINDS.get(e["kind"], e["kind"]),
            reference=" ".join(p for p in (e["wallet_id"], e["reason"]) if p),
            wallet=value if e["unit"] == "money" else 0,
            litres=value if e["unit"] == "volume" else 0)))
    for e in queries.entries(conn, first_day=start.isoformat(), last_day=end.isoformat(),
                             customer_id=customer_id):
        amount = int(e["amount"])
        if e["kind"] == "payment":
            reference = f"{e['method']} {e['reference']}"
        else:
            reference = "; ".join(p for p in (e["reason"], e["reference"]) if p)
        keyed.append(((date.fromisoformat(e["value_date"]), 1, "", "", e["id"]), _line(
            at=e["value_date"], kind=e["kind"], reference=reference,
            charge=max(amount, 0), credit=max(-amount, 0))))
    keyed.sort(key=lambda item: item[0])
    lines = [line for _key, line in keyed]
    running, wallet, litres = opening, money0, ml0
    for line in lines:
        running += line["charge"] - line["credit"]
        wallet += line["wallet"]
        litres += line["litres"]
        line["balance"], line["wallet_balance"] = running, wallet
    totals = {k: sum(int(line[k] or 0) for line in lines) for k in FIGURES}
    for line in lines:
        # A figure that does not apply is empty, not zero (a sale's own figures stay).
        kept = ("amount", "discount", "charge") if line["kind"] == "sale" else ()
        for k in FIGURES:
            if line[k] == 0 and k not in kept:
                line[k] = None
    customer = {"customer_id": found.customer_id, "name": found.name,
                "payment_terms": found.payment_terms, "credit_limit": found.credit_limit,
                "addresses": json.loads(found.addresses or "[]")}
    return Statement(customer, start, end, opening, running, money0, wallet, ml0, litres,
                     lines, totals)
