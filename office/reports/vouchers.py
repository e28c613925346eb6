"""``vouchers``: per batch, the vouchers issued, redeemed, outstanding and expired, and
those redeemed twice (offline double spends, office.vouchers.ledger).

A batch is listed when its validity overlaps the range; redemptions and double
redemptions are counted up to the end of the range (by the station's completion
time). Outstanding vouchers may still be redeemed; expired ones no longer can.
"""

from __future__ import annotations

from typing import Any

from office.reports.base import Chart, Column, Report
from office.reports.params import Params
from office.reports.registry import report
from office.store import OfficeConnection


@report("vouchers", "Fuel vouchers",
        "Per batch valid in the range: issued, redeemed, outstanding, expired and "
        "redeemed twice.", options=("from", "to"))
def vouchers(conn: OfficeConnection, p: Params) -> Report:
    start, end = p.utc_start, p.utc_end
    rows = conn.execute(
        "SELECT b.batch_id, b.product, b.volume_ml, b.amount, b.count, b.valid_from, "
        "b.valid_until, "
        "(SELECT COUNT(*) FROM voucher_redemptions r WHERE r.batch_id = b.batch_id "
        "AND r.redeemed_at < ?) AS redeemed, "
        "(SELECT COALESCE(SUM(r.value), 0) FROM voucher_redemptions r "
        "WHERE r.batch_id = b.batch_id AND r.redeemed_at < ?) AS redeemed_value, "
        "(SELECT COALESCE(SUM(r.volume_ml), 0) FROM voucher_redemptions r "
        "WHERE r.batch_id = b.batch_id AND r.redeemed_at < ?) AS redeemed_ml, "
        "(SELECT COUNT(*) FROM voucher_exceptions x WHERE x.batch_id = b.batch_id "
        "AND x.redeemed_at < ?) AS doubled, "
        "(SELECT COUNT(*) FROM voucher_exceptions x WHERE x.batch_id = b.batch_id "
        "AND x.redeemed_at < ? AND x.status = 'open') AS doubled_open "
        "FROM voucher_batches b WHERE b.valid_from < ? AND b.valid_until >= ? "
        "ORDER BY b.batch_id", [end, end, end, end, end, end, start]).fetchall()
    out: list[dict[str, Any]] = []
    for r in rows:
        left = int(r["count"]) - int(r["redeemed"])
        expired = r["valid_until"] < end
        out.append({"batch": r["batch_id"], "product": r["product"] or "any",
                    "face_volume_ml": r["volume_ml"], "face_amount": r["amount"],
                    "valid_until": r["valid_until"][:10], "issued": int(r["count"]),
                    "redeemed": int(r["redeemed"]), "redeemed_ml": int(r["redeemed_ml"]),
                    "redeemed_value": int(r["redeemed_value"]),
                    "outstanding": 0 if expired else left, "expired": left if expired else 0,
                    "doubled": int(r["doubled"]), "doubled_open": int(r["doubled_open"])})
    counts = ("issued", "redeemed", "outstanding", "expired", "doubled", "doubled_open")
    return Report("vouchers", "Fuel vouchers", (
        Column("batch", "Batch"), Column("product", "Product"),
        Column("face_volume_ml", "Each (volume)", "ml"),
        Column("face_amount", "Each (amount)", "money"),
        Column("valid_until", "Valid until", "date"), Column("issued", "Issued", "count"),
        Column("redeemed", "Redeemed", "count"), Column("redeemed_ml", "Redeemed volume", "ml"),
        Column("redeemed_value", "Redeemed value", "money"),
        Column("outstanding", "Outstanding", "count"), Column("expired", "Expired", "count"),
        Column("doubled", "Redeemed twice", "count"),
        Column("doubled_open", "Of which open", "count")), out,
        Chart("bar", "batch", "redeemed"), subtitle=p.words(),
        totals={c: sum(r[c] for r in out) for c in (*counts, "redeemed_ml", "redeemed_value")})
