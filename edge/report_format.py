"""A station report as text to print, as CSV, or as JSON (edge.reports builds it).

Text is fixed width (at most 80 columns, for a receipt-roll or A4 printer): money in
the station's currency and volumes in litres through core.display, times local with
the zone's abbreviation. CSV is one table with a ``section`` column, integers as in
JSON (ml, minor units), so a spreadsheet sums it without parsing text.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from core.display import Currency, litres

FORMATS = ("text", "json", "csv")
WIDTH = 80


def render(report: dict[str, Any], fmt: str, money: Currency) -> str:
    """The report in ``fmt`` (text, json or csv), ending with a newline."""
    if fmt == "json":
        return json.dumps(report, indent=2) + "\n"
    if fmt == "csv":
        return csv_text(report)
    return text(report, money)


def _title(report: dict[str, Any]) -> str:
    if report["report"] == "shift":
        s = report["shift"]
        state = f"closed by {s['closed_by']}" if s["closed"] else "open, not closed"
        return f"SHIFT REPORT  shift {s['number']} ({state})"
    return f"DAY REPORT  {report['date']}" + ("" if report["complete"] else " (so far)")


def _l(value: int | None) -> str:
    """Litres without the unit (the totalizer table's header names it)."""
    return "-" if value is None else litres(value).removesuffix(" l")


def text(report: dict[str, Any], money: Currency) -> str:
    """The printable report."""
    out: list[str] = []
    add = out.append
    period = report["period"]
    add(_title(report))
    add(f"Station   {report['station_id']}  {report['station_name']}"[:WIDTH])
    add(f"Period    {period['start']['text']}  to  {period['end']['text']}")
    seconds = period["seconds"]
    add(f"          {seconds // 3600} h {seconds % 3600 // 60:02d} min, "
        f"time zone {report['timezone']}")
    add(f"Printed   {report['printed_at']['text']}")
    sales = report["sales"]
    for title, rows, key in (("SALES BY PUMP", sales["by_pump"], "pump"),
                             ("SALES BY PRODUCT", sales["by_product"], "product"),
                             ("SALES BY CARD KIND", sales["by_card_kind"], "card_kind")):
        add("")
        add(title)
        add(f"{key.replace('_', ' '):<12}{'sales':>8}{'volume':>20}{'amount':>24}")
        for r in rows:
            add(f"{r[key]!s:<12}{r['count']:>8}{litres(r['volume_ml']):>20}"
                f"{money.money(r['amount']):>24}")
        t = sales["total"]
        add(f"{'total':<12}{t['count']:>8}{litres(t['volume_ml']):>20}"
            f"{money.money(t['amount']):>24}")
    add("")
    add("REFUSALS BY REASON")
    for r in report["refusals"]["by_reason"]:
        add(f"{r['reason']:<32}{r['count']:>8}")
    add(f"{'total':<32}{report['refusals']['total']:>8}")
    add("")
    out += _totalizer_lines(report["totalizers"])
    return "\n".join(out) + "\n"


def _totalizer_lines(tot: dict[str, Any]) -> list[str]:
    out = ["TOTALIZERS in litres: difference = end - start, against the volume sold"]
    start, end = tot["start"], tot["end"]
    out.append("start readings: " + (f"{start['source']}, {start['text']}"
                                     if start else "none recorded"))
    out.append(f"end readings:   {end['source']}, {end['text']}")
    out.append(f"{'pump':<4}{'noz':>4} {'product':<7}{'start':>14}{'end':>14}"
               f"{'difference':>11}{'sold':>11}{'mismatch':>11}")
    for p in tot["pumps"]:
        for r in p["nozzles"]:
            mismatch = r["mismatch_ml"]
            flag = "" if mismatch in (None, 0) else " !"
            out.append(f"{p['pump']:<4}{r['nozzle']:>4} {(r['product'] or '?')[:7]:<7}"
                       f"{_l(r['start_ml']):>14}{_l(r['end_ml']):>14}"
                       f"{_l(r['difference_ml']):>11}{_l(r['sold_ml']):>11}"
                       f"{_l(mismatch):>11}{flag}")
        if p["unavailable"]:
            out.append(f"{p['pump']:<4}{'-':>4} unavailable: {p['unavailable']}"[:WIDTH])
    count = tot["mismatches"]
    out.append("no mismatch" if count == 0 else
               f"MISMATCH on {count} nozzle{'s' if count != 1 else ''} (!): the "
               "totalizers moved by other than the volume sold")
    return out


CSV_COLUMNS = ("section", "name", "value", "count", "volume_ml", "amount", "pump", "nozzle",
               "product", "start_ml", "end_ml", "difference_ml", "sold_ml", "mismatch_ml",
               "unavailable")


def csv_text(report: dict[str, Any]) -> str:
    """One table: ``report`` rows (name, value), the sales and refusal rows, the totalizers."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    w.writeheader()
    head = {"report": report["report"], "station_id": report["station_id"],
            "timezone": report["timezone"], "currency": report["currency"],
            "start": report["period"]["start"]["local"], "end": report["period"]["end"]["local"],
            "seconds": report["period"]["seconds"],
            "printed_at": report["printed_at"]["local"]}
    if report["report"] == "shift":
        head.update({f"shift_{k}": str(v).lower() if isinstance(v, bool) else v
                     for k, v in report["shift"].items()})
    else:
        head.update({"date": report["date"], "complete": str(report["complete"]).lower()})
    for name, value in head.items():
        w.writerow({"section": "report", "name": name, "value": "" if value is None else value})
    sales = report["sales"]
    for section, key in (("pump", "pump"), ("product", "product"), ("card_kind", "card_kind")):
        for r in sales[f"by_{key}"]:
            w.writerow({"section": section, "name": r[key], "count": r["count"],
                        "volume_ml": r["volume_ml"], "amount": r["amount"]})
    w.writerow({"section": "total", "name": "sales", **sales["total"]})
    for r in report["refusals"]["by_reason"]:
        w.writerow({"section": "refusal", "name": r["reason"], "count": r["count"]})
    w.writerow({"section": "total", "name": "refusals", "count": report["refusals"]["total"]})
    for p in report["totalizers"]["pumps"]:
        if p["unavailable"]:
            w.writerow({"section": "totalizer", "pump": p["pump"],
                        "unavailable": p["unavailable"]})
        for r in p["nozzles"]:
            w.writerow({"section": "totalizer", "pump": p["pump"],
                        **{k: r[k] for k in ("nozzle", "product", "start_ml", "end_ml",
                                             "difference_ml", "sold_ml", "mismatch_ml")}})
    return buf.getvalue()
