"""The sales a report counts: its range and its filters as one ``WHERE`` clause.

The range is ``completed_at`` (when the fuel was sold) from the first local midnight to
the one after the last day, so the ``sales_completed_at`` index can serve it. A
customer's sales are those of every card it holds or held (a reissued card's old sales
stay the customer's); a group's, those of its members' cards; a vehicle's, those that
named it (fleet prompt) or were made with a card bound to it.
"""

from __future__ import annotations

from typing import Any

from office.reports.params import Params

#: The cards a customer holds or held (one ``?``: the customer id).
CUSTOMER_CARDS = "SELECT card_id FROM cards WHERE customer_id = ?"
_GROUP_CARDS = ("SELECT c.card_id FROM cards c JOIN group_members m "
                "ON m.customer_id = c.customer_id WHERE m.group_id = ?")


def sales_where(p: Params, alias: str = "s", *, dated: bool = True
                ) -> tuple[str, list[Any]]:
    """``WHERE`` text (without the keyword) and its parameters for ``p``'s sales."""
    a = f"{alias}." if alias else ""
    clauses: list[str] = []
    args: list[Any] = []
    if dated:
        clauses.append(f"{a}completed_at >= ? AND {a}completed_at < ?")
        args += [p.utc_start, p.utc_end]
    f = p.filters
    if "station" in f:
        clauses.append(f"{a}station_id = ?")
        args.append(f["station"])
    if "product" in f:
        clauses.append(f"{a}product = ?")
        args.append(f["product"])
    if "card" in f:
        clauses.append(f"{a}card_id = ?")
        args.append(f["card"])
    if "customer" in f:
        clauses.append(f"{a}card_id IN ({CUSTOMER_CARDS})")
        args.append(f["customer"])
    if "group" in f:
        clauses.append(f"{a}card_id IN ({_GROUP_CARDS})")
        args.append(f["group"])
    if "vehicle" in f:
        clauses.append(f"({a}vehicle_id = ? OR ({a}vehicle_id IS NULL AND {a}card_id IN "
                       "(SELECT card_id FROM cards WHERE vehicle_id = ?)))")
        args += [f["vehicle"], f["vehicle"]]
    return " AND ".join(clauses) or "1 = 1", args
