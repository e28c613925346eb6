"""Redeemed vouchers told to every station, so a voucher pays once across the network.

The station that took a voucher refuses it again at once (its own authorizations); the
others learn it from the card master (docs/pricing.md, "Vouchers"):

- :func:`publish_used`: when an ingest settles sales that redeemed vouchers (winners and
  exceptions alike), one new card-master version carries them as ``vouchers_used``
  operations, inside the ingest's transaction. A station that syncs by delta, MQTT or a
  flash reply then refuses them (``voucher_used``).
- :func:`used_serials`: what a snapshot carries, every serial of a batch not yet expired
  that the ledger saw redeemed (a voided redemption included: the slip was spent).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import structlog

from core.formats.vouchers import MAX_USED_PER_OP
from core.timefmt import iso, utc_now
from office import db
from office.store import OfficeConnection
from office.vouchers.models import VoucherException, VoucherRedemption

log = structlog.get_logger(__name__)


def used_ops(serials: Iterable[str]) -> list[dict[str, Any]]:
    """``vouchers_used`` operations for ``serials`` (sorted, no repeats; at most
    :data:`MAX_USED_PER_OP` an operation)."""
    ordered = sorted(set(serials))
    return [{"op": "vouchers_used", "serials": ordered[i:i + MAX_USED_PER_OP]}
            for i in range(0, len(ordered), MAX_USED_PER_OP)]


def publish_used(conn: OfficeConnection, serials: Iterable[str], *, actor: str) -> int | None:
    """Record one card-master version telling stations these vouchers were redeemed; its
    number (None when there are none). Inside the caller's transaction: the card-master
    lock keeps versions strictly in order with every other writer."""
    ops = used_ops(serials)
    if not ops:
        return None
    from office.cards import master as card_master

    db.lock_card_master()
    version = card_master.record_version(conn, ops, actor)
    log.info("vouchers.used_published", version=version, actor=actor,
             serials=sum(len(op["serials"]) for op in ops))
    return version


def used_serials(now: datetime | None = None) -> list[str]:
    """Every serial the ledger saw redeemed (winner or exception) of the batches not yet
    expired at ``now``, sorted: a snapshot's ``vouchers_used``."""
    at = iso(now or utc_now())
    found: set[str] = set()
    for model in (VoucherRedemption, VoucherException):
        found.update(model.objects.filter(batch__valid_until__gt=at)
                     .values_list("serial", flat=True))
    return sorted(found)
