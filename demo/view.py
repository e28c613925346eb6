"""The live view: one line per thing that happens to a sale, as it happens.

A thread watches the running station the way an operator's tools do: the daemon's
card reads (``readers.events``) and pumps (``pump.status``) over its control socket,
the sale journal read-only (a sale is "completed" once it is durable there), and the
daemon's JSON log for the uplink (``sync.batch_sent``, ``sync.delivered``: the office's
signed receipt). The flash-drive path reports its own steps through :meth:`sent` and
:meth:`receipted`. Pump threads wait on what the view has seen (:meth:`wait_for`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from core.config import Config
from core.display import litres
from demo.children import Children
from demo.errors import DemoError
from demo.sale import Sale
from edge.control import DaemonNotRunning, call
from offline_db.journal import list_sales
from offline_db.store import StationStore

POLL_S = 0.15
ACTOR = "cli:demo"


class Printer:
    """Lines to the demo's output, one at a time (several threads print)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def line(self, text: str = "") -> None:
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def event(self, sale: Sale, what: str, detail: str) -> None:
        at = datetime.now().strftime("%H:%M:%S")
        self.line(f"{at}  sale {sale.number:>2}  pump {sale.pump}  {what:<11} {detail}")


class LogTail:
    """New JSON lines of a log file (whole lines only; anything else is skipped)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def read(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        out = []
        for raw in lines:
            try:
                doc = json.loads(raw)
            except ValueError:
                continue
            if isinstance(doc, dict):
                out.append(doc)
        return out


class LiveView:
    """Watches the station in a thread, prints each sale's milestones, wakes waiters."""

    def __init__(self, config: Config, sales: list[Sale], printer: Printer,
                 station_log: Path, children: Children) -> None:
        self.config = config
        self.sales = sales
        self.printer = printer
        self.children = children
        self.socket = config.station.socket_path
        self.money = config.station.money
        self.tail = LogTail(station_log)
        self.pumps: dict[int, dict[str, Any]] = {}
        self.error: BaseException | None = None
        self.cond = threading.Condition()
        self._stop = threading.Event()
        self._after = 0
        self._last_seq = 0
        self._thread = threading.Thread(target=self._run, name="demo-view", daemon=True)
        self._conn: sqlite3.Connection | None = None
        self._store: StationStore | None = None

    # -- for the pump threads and the main thread -----------------------------------------
    def start(self) -> None:
        self._after = call(self.socket, "readers.events", {"after": 0}, actor=ACTOR)["last"]
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self.cond:
            self.cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float) -> None:
        """Until ``check()`` (under the view's lock); DemoError naming ``what`` if never."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not check():
                if self.error is not None:
                    raise DemoError(str(self.error)) if not isinstance(
                        self.error, DemoError) else self.error
                if self._stop.is_set():
                    raise DemoError("the demo is stopping")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DemoError(f"{what} did not happen within {timeout:.0f} s")
                self.cond.wait(min(left, 0.5))

    def presented(self, sale: Sale) -> None:
        """The card of ``sale`` is (about to be) at its reader: the next read there is it."""
        with self.cond:
            sale.presented = True

    def pump_row(self, pump: int) -> dict[str, Any]:
        return self.pumps.get(pump, {})

    def sent(self, first: int, last: int, how: str) -> None:
        with self.cond:
            for sale in self.sales:
                if sale.seq is not None and first <= sale.seq <= last and not sale.sent:
                    sale.sent = True
                    self.printer.event(sale, "sent", how)
            self.cond.notify_all()

    def receipted(self, up_to: int, how: str) -> None:
        with self.cond:
            for sale in self.sales:
                if sale.seq is not None and sale.seq <= up_to and not sale.receipted:
                    if not sale.sent:  # the receipt overtook the log line of the sending
                        sale.sent = True
                        self.printer.event(sale, "sent", "over MQTT")
                    sale.receipted = True
                    self.printer.event(sale, "receipted", how)
            self.cond.notify_all()

    # -- the watching thread ----------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.children.check_all()
                self.poll()
                self._stop.wait(POLL_S)
        except Exception as exc:
            self._fail(self._explain(exc))
        finally:
            if self._store is not None:
                self._store.close()

    def _explain(self, exc: Exception) -> DemoError:
        """The best sentence for what stopped the view: a child that died says most."""
        try:
            self.children.check_all()
        except DemoError as dead:
            return dead
        if isinstance(exc, DemoError):
            return exc
        if isinstance(exc, DaemonNotRunning):
            return DemoError("the station daemon's control socket stopped answering")
        return DemoError(f"the live view failed: {type(exc).__name__}: {exc}")

    def _fail(self, exc: BaseException) -> None:
        with self.cond:
            self.error = exc
            self.cond.notify_all()

    def poll(self) -> None:
        """One look at the station: card reads, pumps, the journal, the uplink's log."""
        reads = call(self.socket, "readers.events", {"after": self._after}, actor=ACTOR,
                     timeout=10)
        pumps = call(self.socket, "pump.status", {}, actor=ACTOR, timeout=10)
        rows = self._journal()
        log_events = self.tail.read()
        with self.cond:
            self._after = reads["last"]
            for event in reads["events"]:
                self._read(event)
            for row in pumps:
                self.pumps[row["pump"]] = row
                self._pump(row)
            for row in rows:
                self._completed(row)
            self.cond.notify_all()
        for doc in log_events:
            if doc.get("event") == "sync.batch_sent":
                self.sent(int(doc["first_seq"]), int(doc["last_seq"]),
                          f"over MQTT, in a batch of seq {doc['first_seq']}-{doc['last_seq']}")
            elif doc.get("event") == "sync.delivered":
                up_to = int(doc["up_to_seq"])
                self.receipted(up_to, f"by the office: signed receipt up to seq {up_to}")

    def _journal(self) -> list[dict[str, Any]]:
        if self._store is None:
            self._store = StationStore.open_reader(self.config.station.data_dir)
        rows = list_sales(self._store.conn, since_seq=self._last_seq)
        if rows:
            self._last_seq = rows[-1]["seq"]
        return rows

    def _read(self, event: dict[str, Any]) -> None:
        sale = next((s for s in self.sales if s.presented and s.reader == event["reader"]),
                    None)
        if sale is None:
            self.printer.line(f"(a read nobody presented at {event['reader']}: {event})")
            return
        sale.presented = False
        self.printer.event(sale, "card read", f"{sale.kind.label} at reader {sale.reader}: "
                                              f"card {event.get('card')}")
        if event.get("result") == "approved":
            sale.sale_id = str(event["sale_id"])
            sale.max_volume_ml = int(event.get("max_volume_ml") or 0)
            self.printer.event(sale, "authorized",
                               f"sale {sale.sale_id}, reserved up to "
                               f"{litres(sale.max_volume_ml)}; the pump is released")
        else:
            sale.refused = f"{event.get('reason')}: {event.get('message') or 'denied'}"
            self.printer.event(sale, "REFUSED", sale.refused)

    def _pump(self, row: dict[str, Any]) -> None:
        sale = next((s for s in self.sales if s.sale_id and s.sale_id == row.get("sale_id")),
                    None)
        if sale is None or sale.seq is not None:
            return
        if row.get("state") == "FILLING" and not sale.filling:
            sale.filling = True
            self.printer.event(sale, "delivering",
                               f"nozzle {sale.nozzle} ({sale.product}) lifted, fuel flowing")

    def _completed(self, row: dict[str, Any]) -> None:
        sale = next((s for s in self.sales if s.sale_id == row["sale_id"]), None)
        if sale is None:
            self.printer.line(f"(a sale the demo did not make: seq {row['seq']})")
            return
        sale.seq, sale.volume_ml, sale.amount = row["seq"], row["volume_ml"], row["amount"]
        self.printer.event(sale, "completed",
                           f"seq {sale.seq}: {litres(row['volume_ml'])} {row['product']} at "
                           f"{self.money.price(row['unit_price'])} = "
                           f"{self.money.money(row['amount'])}, in the journal")
