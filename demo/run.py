"""``forecourt demo`` from start to end: set up, start, sell, deliver, prove, stop.

:func:`run` owns the demo's folder and every process: whatever happens (success, a
failed step, Ctrl-C, SIGTERM, SIGHUP), every child is stopped before it returns or
raises, and the folder is removed only after a success in a temporary one.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TextIO

import structlog

from core.config import load_config_file
from demo import bringup, transfer
from demo.broker import HOST, find_mosquitto, free_port, start_broker
from demo.cards import QR, write_card_store
from demo.children import GATE, Child, Children
from demo.commands import Forecourt
from demo.configfile import STATION_ID, Ports, readers, write_config
from demo.console import check_login, wait_ready
from demo.errors import DemoError, Interrupted
from demo.peers import Peers
from demo.prepare import CONSOLE_USER, prepare, side_by_side
from demo.sale import Sale, plan
from demo.sales import Customers, PumpConsole, TokenDesk
from demo.summary import Summary
from demo.view import LiveView, Printer
from demo.workspace import Workspace
from offline_db.outbox import outbox_status
from offline_db.store import StationStore

log = structlog.get_logger(__name__)

#: The simulated pumps' flow, ml per second: a fill of a few litres takes a second or two.
FLOW_ML_S = 6000
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class Options:
    sales: int
    keep: bool
    mqtt: bool  # False: --no-mqtt, the flash-drive path
    directory: Path | None


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` (the demo then unwinds)."""

    previous = {s: signal.signal(s, GATE.handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """While stopping everything: another Ctrl-C must not cut the stopping short."""
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class Demo:
    """One run of the demo (see the module docstring)."""

    def __init__(self, options: Options, progress: TextIO) -> None:
        self.options = options
        self.printer = Printer(progress)
        self.ws: Workspace | None = None
        self.children: Children | None = None
        self.view: LiveView | None = None
        self.customers: Customers | None = None
        self.peers = Peers()
        self.processes: list[dict[str, Any]] = []
        self.console: dict[str, str] = {}
        self.summary: Summary | None = None
        self.interrupted: int | None = None

    # -- the whole run -------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Run the demo; the result document (``--json``). Raises DemoError on a failure."""
        ok = False
        try:
            with stop_signals():
                try:
                    self._run()
                    ok = self.summary is not None and self.summary.exactly_once
                    if ok and self.options.keep:
                        self._hold()
                except Interrupted as exc:
                    self.interrupted = exc.signum
                    log.info("demo.interrupted", signal=signal.Signals(exc.signum).name)
                except DemoError as exc:
                    log.info("demo.failed", code=exc.code, error=str(exc))
                    raise
        finally:
            with signals_ignored():
                self._stop_everything(ok)
        if self.summary is not None and not self.summary.exactly_once:
            failed = DemoError("the office's sales differ from the station's journal: "
                               + "; ".join(self.summary.problems))
            log.info("demo.failed", code=failed.code, error=str(failed))
            raise failed
        return self.result()

    def _run(self) -> None:
        o, p = self.options, self.printer
        self.ws = ws = Workspace.make(o.directory)
        self.children = children = Children(ws.root)
        mosquitto = find_mosquitto() if o.mqtt else None
        transport = "mqtt" if mosquitto else "flash"
        ports = Ports(web=free_port(), nfc=free_port(socket.SOCK_DGRAM),
                      mqtt=free_port() if mosquitto else None)
        the_readers = readers(ws, ports)
        sales = plan(o.sales, the_readers)
        way = "over MQTT through a private mosquitto" if mosquitto else "on a flash drive"
        p.line(f"forecourt demo: a head office and a station with two DART pumps and four "
               f"card readers; {o.sales} sales, delivered {way}")
        if o.mqtt and not mosquitto:
            p.line("  (mosquitto is not installed: the flash-drive path instead)")
        p.line(f"  work folder     {ws.root} ({self._folder_fate()})")
        today = date.today()
        write_config(ws, ports)
        write_card_store(ws.cards_file, today)
        fc = Forecourt(children, ws.config)
        password = secrets.token_urlsafe(12)
        prepare(fc, ws, ports, password)
        p.line(f"  head office     forecourt office init: its data in {ws.office_dir}; "
               f"console administrator {CONSOLE_USER!r}; the demo card set imported")
        p.line(f"  station         forecourt init: {STATION_ID}, its data in {ws.station_dir}; "
               "the same card set; enrolled at the office by its public key")
        tokens = TokenDesk(fc, [s.card for s in sales if s.kind is QR])
        tokens.start()
        config = load_config_file(ws.config)
        url = f"http://{HOST}:{ports.web}/"
        self.console = {"url": url, "user": CONSOLE_USER, "password": password}
        if mosquitto and ports.mqtt:
            self._started(start_broker(children, mosquitto, ws.logs, ports.mqtt),
                          f"{HOST}:{ports.mqtt}")
        web = self._started(fc.start("office console", "office", "web", "--bind",
                                     f"{HOST}:{ports.web}", log=ws.log("office-web")), url)
        serve = None
        if mosquitto:
            serve = self._started(fc.start("office ingest", "office", "serve",
                                           log=ws.log("office-serve")),
                                  "forecourt office serve: sales in, receipts out")
        for r in the_readers:
            if r.driver == "nfc":
                self.peers.add_nfc(r.id, r.device)
            else:
                self.peers.add_serial(r.id, Path(r.device))
        sim = self._started(fc.start("pump simulator", "sim", "pumps", "--pumps", "2",
                                     "--link", str(ws.tty("pumps")), "--flow", str(FLOW_ML_S),
                                     log=ws.log("pumps"), stdin=True),
                            f"forecourt sim pumps: 2 DART pumps on {ws.tty('pumps')}")
        bringup.wait_until(ws.tty("pumps").exists, "the pump simulator's pty", sim)
        daemon = self._started(fc.start("station daemon", "run", log=ws.log("station")),
                               "forecourt run")
        wait_ready(url, web)
        check_login(url, CONSOLE_USER, password)
        p.line(f"  console         {url}  login {CONSOLE_USER} / {password}  (checked)")
        if serve is not None:
            bringup.wait_logged(serve, "mqtt.connected")
        bringup.wait_station(config, daemon, mqtt=bool(mosquitto))
        p.line("  readers         pump 1: magstripe (serial, pty) and QR scanner (serial, "
               "pty); pump 2: NFC (nfcpy udp radio) and QR scanner (serial, pty)")
        p.line(f"  station ready   pumps 1 and 2 online, 4 readers ready"
               f"{', online to the office' if mosquitto else ', offline (no network)'}")
        p.line("")
        self._sell(config, sales, children, pumps=PumpConsole(sim), tokens=tokens, today=today)
        assert self.view is not None
        if mosquitto:
            transfer.over_mqtt(self.view, sales)
        else:
            transfer.by_flash_drive(fc, self.view, ws.stick, p)
        self.summary = self._prove(fc, ws, len(sales), transport)
        p.line("")
        p.line(f"exactly once at the head office ({'MQTT' if mosquitto else 'flash drive'}):")
        for line in self.summary.lines(config.station.money):
            p.line(line)
        p.line("")
        p.line(f"the office's console: {url}sales/  (login {CONSOLE_USER} / {password})")
        if not o.keep:
            p.line("  (it stops with the demo: `forecourt demo --keep` keeps it open until "
                   "Ctrl-C)")

    def _sell(self, config: Any, sales: list[Sale], children: Children, *, pumps: PumpConsole,
              tokens: TokenDesk, today: date) -> None:
        assert self.ws is not None
        self.view = view = LiveView(config, sales, self.printer, self.ws.log("station"),
                                    children)
        view.start()
        self.printer.line(f"{'time':<8}  {'sale':<7}  {'pump':<6}  {'what':<11} detail")
        self.customers = Customers(sales, view, self.peers, pumps=pumps, tokens=tokens,
                                   today=today, flow_ml_s=FLOW_ML_S)
        self.customers.start()
        while not self.customers.join(0.3):
            if view.error is not None:
                raise view.error
        if view.error is not None:
            raise view.error

    def _prove(self, fc: Forecourt, ws: Workspace, planned: int, transport: str) -> Summary:
        """Both sides' own account of the station's sales (read side by side)."""
        got: dict[str, Any] = {}

        def station() -> None:
            got["station"] = fc.json("forecourt journal list", "journal", "list")
            got["verified"] = fc.children.run(fc.argv("journal", "verify")).returncode == 0
            store = StationStore.open_reader(ws.station_dir)
            try:
                got["depth"] = int(outbox_status(store.conn)["outbox_depth"])
            finally:
                store.close()

        def office() -> None:
            got["office"] = fc.json("forecourt office sales", "office", "sales", "--station",
                                    STATION_ID)

        side_by_side(station, office)
        return Summary.compare(planned, got["station"], got["office"],
                               journal_ok=got["verified"], outbox_depth=got["depth"],
                               transport=transport)

    def _hold(self) -> None:
        """--keep: everything stays up until Ctrl-C (or SIGTERM)."""
        assert self.children is not None and self.ws is not None
        p = self.printer
        p.line("")
        p.line("--keep: the office, its console, the station, the pumps and the broker keep "
               "running; try for example")
        p.line(f"  forecourt --config {self.ws.config} journal list")
        p.line(f"  forecourt --config {self.ws.config} office sales --station {STATION_ID}")
        p.line("Ctrl-C stops everything.")
        with contextlib.suppress(Interrupted):
            while True:
                self.children.check_all()
                time.sleep(1)

    # -- the end, whatever happened ------------------------------------------------------------
    def _stop_everything(self, ok: bool) -> None:
        if self.view is not None:
            self.view.stop()  # first: it wakes the pump threads' waits
        if self.customers is not None:
            self.customers.stop()
        self.peers.close()
        if self.children is not None:
            stopped = self.children.stop_all()
            if stopped:
                self.printer.line("")
                self.printer.line("stopped " + ", ".join(name for name, _ in stopped)
                                  + ": nothing the demo started is running")
        if self.ws is not None:
            if ok and self.ws.temporary:
                self.ws.remove()
                self.printer.line(f"work folder {self.ws.root} removed")
            else:
                self.printer.line(f"work folder kept: {self.ws.root} (logs in "
                                  f"{self.ws.logs})")

    def _started(self, child: Child, what: str) -> Child:
        self.processes.append({"name": child.name, "pid": child.pid})
        self.printer.line(f"  {child.name:<15} {what} (pid {child.pid})")
        return child

    def _folder_fate(self) -> str:
        if self.options.directory is not None:
            return "kept at the end"
        return "removed at the end, kept if a step fails"

    def result(self) -> dict[str, Any]:
        return {"ok": self.summary is not None and self.summary.exactly_once
                and self.interrupted is None,
                "interrupted": signal.Signals(self.interrupted).name
                if self.interrupted else None,
                "summary": self.summary.as_dict() if self.summary else None,
                "console": self.console, "processes": self.processes,
                "work_dir": str(self.ws.root) if self.ws else None,
                "work_dir_kept": bool(self.ws and self.ws.root.exists())}


def run(options: Options, progress: TextIO = sys.stdout) -> dict[str, Any]:
    return Demo(options, progress).run()
