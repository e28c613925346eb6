"""Getting the sales to the office: watching MQTT do it, or carrying a flash drive.

Over MQTT the station sends on its own and the office receipts each batch once it is
durably stored; the demo only waits until the station has a receipt for every sale.
Without a broker (``--no-mqtt``, or no mosquitto installed), a technician's round trip:
the station writes its undelivered sales to the stick, the office imports the bundle
(and the same bundle again, which stores nothing twice), writes its reply (the signed
receipt) to the stick, and the station imports the reply: its sales are delivered.
"""

from __future__ import annotations

from pathlib import Path

from demo.commands import Forecourt
from demo.configfile import STATION_ID
from demo.sale import Sale
from demo.view import LiveView, Printer

RECEIPT_WAIT_S = 120.0


def over_mqtt(view: LiveView, sales: list[Sale]) -> None:
    view.wait_for(lambda: all(s.receipted for s in sales),
                  "the office's receipt for every sale", RECEIPT_WAIT_S)


def by_flash_drive(fc: Forecourt, view: LiveView, stick: Path, printer: Printer) -> None:
    printer.line("")
    printer.line("no network between them: a technician carries the sales on a flash drive")
    out = fc.json("forecourt flash export", "flash", "export", str(stick))
    bundle = Path(out["path"])
    if out["sales"]:
        view.sent(out["first_seq"], out["last_seq"], f"on the flash drive, in {bundle.name}")
    (first,) = fc.json("forecourt office flash import", "office", "flash", "import",
                       str(bundle))
    printer.line(f"  office: {bundle.name} imported, {first['stored']} sales stored, "
                 f"{first['duplicates']} duplicates")
    (again,) = fc.json("forecourt office flash import (the same stick again)", "office",
                       "flash", "import", str(bundle))
    printer.line(f"  office: the same bundle again: {again['stored']} stored, "
                 f"{again['duplicates']} duplicates ignored (each sale is stored once)")
    (reply,) = fc.json("forecourt office flash export", "office", "flash", "export",
                       "--station", STATION_ID, str(stick))
    reply_file = Path(reply["file"])
    printer.line(f"  office: reply {reply_file.name} written (receipt up to seq "
                 f"{reply['up_to_seq']})")
    back = fc.json("forecourt flash import", "flash", "import", str(reply_file))
    view.receipted(int(back["last_receipt_seq"]),
                   f"by the office: its reply {reply_file.name} imported at the station, "
                   f"receipt up to seq {back['last_receipt_seq']}")
