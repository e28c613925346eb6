"""The office's recomputation of a priced sale: the same engine, the same inputs.

A journal line's ``pricing`` field names the rule-set revision and carries the facts
the station priced from (core.formats.pricing_line). Priced again from exactly those
with :func:`core.rules.pricing.price_sale`, every figure must come out the same; this
lists the ones that do not (it must never happen: a bug or a tampered line).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from core.formats.pricing_line import PricingLine
from core.rules.pricing import Priced, PricingError, PricingRules, Voucher, price_sale


def voucher_of(rules: PricingRules, serial: str | None) -> Voucher | None:
    """The voucher of ``serial`` as the revision's batches describe it (None: unknown)."""
    if serial is None or not serial[:6].isdigit():
        return None
    batch = rules.batches().get(int(serial[:6]))
    return None if batch is None else Voucher.of(batch, serial)


def differences(rules: PricingRules | None, sale: dict[str, Any], line: PricingLine
                ) -> list[tuple[str, Any, Any]]:
    """The figures of ``sale`` (a journal line: product, volume_ml, unit_price) that pricing
    it again does not reproduce, as (field, station's value, office's value)."""
    if rules is None:
        return [("revision", line.revision, "not published by this office")]
    voucher = voucher_of(rules, line.priced.voucher)
    if line.priced.voucher is not None and voucher is None:
        return [("voucher", line.priced.voucher, "not in the revision's batches")]
    try:
        again = price_sale(rules, product=sale["product"], volume_ml=sale["volume_ml"],
                           unit_price=sale["unit_price"], facts=line.basis, voucher=voucher,
                           points_asked=line.points_asked)
    except PricingError as exc:
        return [("pricing", "priced", str(exc))]
    return [(f.name, getattr(line.priced, f.name), getattr(again, f.name))
            for f in fields(Priced) if getattr(line.priced, f.name) != getattr(again, f.name)]
