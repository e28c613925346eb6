"""What of the customer records goes to stations: the card store's ``customers``,
``customer_groups`` and ``vehicles`` lists (names and links only, for the operator's
display; nothing else of a person leaves the office)."""

from __future__ import annotations

from typing import Any

from office import db


def extras() -> dict[str, list[dict[str, Any]]]:
    """The card store's customer lists, computed from the records: customers that hold
    a card (with the first of their groups), every group, vehicles bound to a card."""
    groups = [{"group_id": r[0], "name": r[1]} for r in db.fetchall(
        "SELECT group_id, name FROM customer_groups ORDER BY group_id")]
    customers = []
    for r in db.fetchall(
            "SELECT c.customer_id, c.name, (SELECT MIN(m.group_id) FROM group_members m "
            "WHERE m.customer_id = c.customer_id) AS group_id FROM customers c "
            "WHERE EXISTS (SELECT 1 FROM cards k WHERE k.customer_id = c.customer_id) "
            "ORDER BY c.customer_id"):
        item: dict[str, Any] = {"customer_id": r[0], "name": r[1] or r[0]}
        if r[2] is not None:
            item["group_id"] = r[2]
        customers.append(item)
    vehicles = []
    for r in db.fetchall(
            "SELECT v.vehicle_id, v.plate, v.customer_id FROM vehicles v WHERE EXISTS "
            "(SELECT 1 FROM cards k WHERE k.vehicle_id = v.vehicle_id) ORDER BY v.vehicle_id"):
        item = {"vehicle_id": r[0], "plate": r[1] or r[0]}
        if r[2] is not None:
            item["customer_id"] = r[2]
        vehicles.append(item)
    return {"customer_groups": groups, "customers": customers, "vehicles": vehicles}
