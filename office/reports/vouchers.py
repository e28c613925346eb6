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
        "b.valid_until, COALESCE(r.redeemed, 0) AS redeemed, "
        "COALESCE(r.redeemed_value, 0) AS redeemed_value, "
        "COALESCE(r.redeemed_ml, 0) AS redeemed_ml, COALESCE(x.doubled, 0) AS doubled, "
        "COALESCE(x.doubled_open, 0) AS doubled_open FROM voucher_batches b "
        "LEFT JOIN (SELECT batch_id, COUNT(*) AS redeemed, SUM(value) AS redeemed_value, "
        "SUM(volume_ml) AS redeemed_ml FROM voucher_redemptions WHERE redeemed_at < ? "
        "GROUP BY batch_id) r ON r.batch_id = b.batch_id "
        "LEFT JOIN (SELECT batch_id, COUNT(*) AS doubled, "
        "SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END) AS doubled_open "
        "FROM voucher_exceptions WHERE redeemed_at < ? GROUP BY batch_id) x "
        "ON x.batch_id = b.batch_id "
        "WHERE b.valid_from < ? AND b.valid_until >= ? ORDER BY b.batch_id",
        [end, end, end, start]).fetchall()
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
