"""``forecourt run``: the station daemon, the one writer of the station database.

It takes the writer lock, applies migrations, lists open authorizations for
recovery, serves the control socket (mode 0660 in ``[roles] socket_group``; each
caller known by its kernel credentials and served what its role allows, edge.roles),
tells systemd it is ready (``sd_notify``), pings systemd's watchdog while it is
healthy and keeps its ``STATUS=`` line (edge/supervise.py), and on SIGTERM or
SIGINT takes no new sale, stops or settles the pumps with open sales
(edge.shutdown), stops accepting requests and closes the database.
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import json
import os
import signal
import socketserver
import threading
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import structlog

from core.config import Config
from core.errors import ConfigError, ControlError, ForecourtError, SaleError, StationStopping
from core.inputs import check_args
from core.keys import configured_office_key
from core.systemd import sd_notify
from core.timefmt import iso, utc_now
from edge.control import MAX_MESSAGE
from edge.forecourt import Forecourt
from edge.health import WatchedLock
from edge.identity import load_station_key
from edge.jobs import StationJobs
from edge.lifecycle import Station
from edge.operations import perform
from edge.readers import ReaderHub
from edge.roles import Caller, NotAllowed, Roles, peer_caller, record_refusal, secure_socket
from edge.supervise import Supervisor
from edge.views import open_authorizations
from offline_db.journal_checks import head_problems
from offline_db.replication import apply_cards_message
from offline_db.shifts import Readings, close_shift
from offline_db.store import StationStore

log = structlog.get_logger(__name__)
#: SQLite virtual-machine steps between two calls of the writer's progress handler
#: (edge/health.py): a few hundred per indexed row, so a writer at work reports in
#: every few milliseconds, for a cost too small to measure.
PROGRESS_STEPS = 10_000


class _Handler(socketserver.StreamRequestHandler):
    server: _ControlServer

    def handle(self) -> None:
        try:  # who is calling: the kernel's word, not the request's
            caller = peer_caller(self.request)
        except OSError as exc:
            self._answer({"ok": False, "error": f"cannot tell who is calling: {exc.strerror}",
                          "code": "control_error"})
            log.warning("control.no_credentials", error=str(exc))
            return
        line = self.rfile.readline(MAX_MESSAGE)
        try:
            request = json.loads(line)
            if not isinstance(request, dict) or not isinstance(request.get("args"), dict):
                raise ValueError("not a request object")
            op, via = request.get("op"), request.get("actor", "control")
            # An op is one of ours (a short printable name); the client's word on who it
            # is (``actor``) is text, checked like every argument in Daemon.handle: it is
            # logged and kept with a refusal as ``via``.
            if not (isinstance(op, str) and op.isprintable() and len(op) <= 64) or \
                    not isinstance(via, str):
                raise ValueError("not a request object")
        # not JSON, not UTF-8, a 5000-digit number, [[[[ (RecursionError)
        except (ValueError, UnicodeDecodeError, RecursionError):
            self._answer({"ok": False, "error": "malformed request", "code": "control_error"})
            log.warning("control.malformed_request", size=len(line))
            return
        self._answer(self.server.daemon_.handle(op, request["args"], caller, via=via))

    def _answer(self, answer: dict[str, Any]) -> None:
        try:
            self.wfile.write(json.dumps(answer).encode() + b"\n")
        except OSError as exc:
            log.warning("control.client_gone", error=str(exc))


class _ControlServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    # socketserver's default backlog is 5: a sixth client connecting at the same moment
    # (readers, operators, pumps' own requests) got EAGAIN instead of its turn.
    request_queue_size = 128

    def __init__(self, path: Path, daemon: Daemon) -> None:
        self.daemon_ = daemon
        super().__init__(str(path), _Handler)


class Daemon:
    """The running station: store, lifecycle, control socket."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._stop = threading.Event()
        # One operation at a time on the one connection; the watchdog sees how long it
        # is held (edge/health.py).
        self._lock = WatchedLock()
        self.station: Station | None = None
        self.forecourt: Forecourt | None = None
        self.readers: ReaderHub | None = None
        self.sync: Any = None
        self.roles: Roles | None = None
        self.jobs: StationJobs | None = None
        self.supervisor: Supervisor | None = None

    def handle(self, op: str, args: dict[str, Any], caller: Caller, *,
               via: str) -> dict[str, Any]:
        """Serve one request of ``caller`` (kernel credentials) if its role allows it.

        ``via``: what the client says it is, kept with a refusal; what is done is
        recorded with the Unix user (``caller.actor``).
        """
        try:
            check_args(op, {"actor": via})  # logged and kept with a refusal
            self._check_role(caller, op, via)
            return {"ok": True, "result": self._handle(op, args, caller.actor)}
        except ForecourtError as exc:
            log.info("control.refused", op=op, code=exc.code, error=str(exc))
            return {"ok": False, "error": str(exc), "code": exc.code}
        except Exception as exc:  # never let one request take the daemon down
            log.exception("control.failed", op=op)
            return {"ok": False, "error": f"internal error in {op}: {exc}", "code": "internal"}

    def _check_role(self, caller: Caller, op: str, via: str) -> None:
        """Refuse, with an audit-log entry, what the caller's role does not cover."""
        assert self.station is not None and self.roles is not None
        try:
            self.roles.check(caller, op)
        except NotAllowed as exc:
            with self._lock:
                record_refusal(self.station.conn, exc, via=via)
            raise

    def _handle(self, op: str, args: dict[str, Any], actor: str) -> Any:
        assert self.station is not None
        forecourt = self.forecourt
        if op == "station.status":  # what only the running daemon knows (forecourt status)
            return self.supervisor.runtime() if self.supervisor else {}
        if op == "sale.authorize" and self._stop.is_set():  # edge.shutdown drains the pumps
            raise StationStopping("the station is stopping: no new sale is authorized")
        if op == "sync.status":
            return self.sync.status() if self.sync else {"enabled": False}
        if op == "pump.status":
            return forecourt.status() if forecourt else []
        if op == "pump.totals":  # no lock: the pump lines answer meanwhile
            return self.read_totals().as_json()
        if op == "shift.close":
            if args:
                raise ControlError("shift.close takes no arguments")
            readings = self.read_totals()  # the readings first, then one short write
            with self._lock:
                return close_shift(self.station.conn, readings, actor=actor)
        if op == "readers.status":
            return self.readers.status() if self.readers else []
        if op == "readers.events":
            after = args.get("after", 0)
            return self.readers.recent(after if isinstance(after, int) else 0) \
                if self.readers else {"last": 0, "events": []}
        pump = args.get("pump")
        if forecourt is not None and op == "sale.authorize" and isinstance(pump, int) \
                and forecourt.is_line_pump(pump):
            with self._lock:
                forecourt.check_available(pump)
                result = perform(self.station, op, args, actor)
            # Outside the lock: the pump job records its totals under it.
            return forecourt.start_sale(result) if result["approved"] else result
        if forecourt is not None and op in ("sale.complete", "sale.cancel") \
                and isinstance(args.get("sale_id"), str):  # else perform refuses it
            with self._lock:
                guard_line_sale(self.station, forecourt, args.get("sale_id"))
        with self._lock:
            result = perform(self.station, op, args, actor)
        if forecourt is not None and op in ("cards.import", "flash.import"):
            forecourt.sync_all_prices()
        return result

    def read_totals(self) -> Readings:
        """Every line pump's totalizers now (none without pump lines: manual pumps only)."""
        if self.forecourt is None:
            return Readings(iso(utc_now()), "live")
        return self.forecourt.read_totals()

    def _apply_cards(self, body: dict[str, Any], made: datetime | None = None) -> Any:
        """A card-store message from the office (sync thread), under the writer lock.

        ``made``: when the office signed it (the envelope's ``at``): fresh as of then.
        """
        assert self.station is not None
        with self._lock:
            result = apply_cards_message(self.station, body, vouched_at=made)
        if self.forecourt is not None and result.outcome == "applied":
            self.forecourt.sync_all_prices()
        return result

    def stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        if signum is not None:
            log.info("daemon.signal", signal=signal.Signals(signum).name)
        self._stop.set()

    def run(self) -> None:
        """Run until :meth:`stop` (or SIGTERM/SIGINT when run in the main thread)."""
        st = self.config.station
        if threading.current_thread() is threading.main_thread():
            # Before anything else, so that a stop request is never lost or fatal.
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
            # systemd's watchdog ends a hung daemon with SIGABRT: every thread's stack
            # goes to stderr (the journal) first, showing where it hung.
            with contextlib.suppress(AttributeError, ValueError, io.UnsupportedOperation):
                faulthandler.enable()  # (not when stderr is no file: a test's capture)
        office_key = configured_office_key(self.config)
        if self.config.mqtt.enabled and office_key is None:
            raise ConfigError("[mqtt] enabled needs [station] office_public_key (forecourt "
                              "office keys show) to check the office's receipts")
        # A CLI command working without the daemon may hold the lock for a moment.
        store = StationStore.open_writer(
            st.data_dir, holder="forecourt run", wait_s=st.lock_wait_s,
            on_wait=lambda holder: log.warning("daemon.lock_wait", holder=holder,
                                               wait_s=st.lock_wait_s))
        # The watchdog tells a long write from a stuck one by SQLite's own progress.
        store.conn.set_progress_handler(self._lock.progress, PROGRESS_STEPS)
        server = None
        watch: StationStore | None = None
        try:
            # Never a new or foreign identity; a database from before records its key here.
            key = load_station_key(st.data_dir, store.conn, st.id, record=True)
            for problem in head_problems(store.conn):  # cheap: 'journal verify' says more
                log.error("journal.tail_broken", seq=problem.seq, reason=problem.reason,
                          problem=problem.message)
            self.station = Station(store, self.config)
            self.roles = Roles.for_station(self.config.roles, st.data_dir)
            if self.roles.missing:
                log.warning("roles.groups_missing", groups=self.roles.missing,
                            hint="these [roles] groups do not exist: they grant nothing")
            if self.config.pump_lines:
                self.forecourt = Forecourt(self.config, self.station, self._lock)
                self.forecourt.start()
            if self.config.mqtt.enabled and office_key is not None:
                from cloud_sync.station_sync import StationSync

                self.sync = StationSync(self.config, store.conn, self._lock, key, office_key,
                                        apply_cards=self._apply_cards)
                self.sync.start()
            if self.config.readers:
                self.readers = ReaderHub(self.config, self.station, self._lock,
                                         lambda args, actor: self._handle(
                                             "sale.authorize", args, actor))
                self.readers.start()
            self.jobs = StationJobs(self.config, store.conn, self._lock,
                                    read_totals=self.read_totals, sync=self.sync)
            self.jobs.start()  # retention, day report, alarms, sync re-send, flash export
            for auth in open_authorizations(store.conn):
                log.warning("sale.open_at_startup", sale_id=auth["sale_id"], pump=auth["pump"],
                            card_id=auth["card_id"], created_at=auth["created_at"])
            sock_path = st.socket_path
            sock_path.unlink(missing_ok=True)  # ours: we hold the writer lock
            server = _ControlServer(sock_path, self)
            secure_socket(sock_path, self.config.roles.socket_group)
            thread = threading.Thread(target=server.serve_forever, name="control-socket",
                                      daemon=True)
            thread.start()
            watch = StationStore.open_reader(st.data_dir)  # the main loop's own reads
            self.supervisor = Supervisor(self.config, self, self._lock, watch.conn, thread)
            log.info("daemon.ready", station_id=st.id, socket=str(sock_path), pid=os.getpid(),
                     watchdog_s=self.supervisor.watchdog_s)
            sd_notify("READY=1")
            # A timed wait: a signal delivered to another thread only sets a flag, and
            # the main thread must come back to run the Python handler.
            while not self._stop.wait(0.25):
                self.supervisor.tick()
            sd_notify("STOPPING=1")
            if self.supervisor.online:
                self.supervisor.remember_online()
        finally:
            if self.jobs is not None:
                self.jobs.stop()
            if self.sync is not None:
                self.sync.stop()
            if self.readers is not None:
                self.readers.stop()
            if self.forecourt is not None:
                self.forecourt.stop()
            if server is not None:
                server.shutdown()
                server.server_close()
                st.socket_path.unlink(missing_ok=True)
            if watch is not None:
                watch.close()
            with self._lock:
                store.close()
            log.info("daemon.stopped", station_id=st.id)


def guard_line_sale(station: Station, forecourt: Forecourt, sale_id: Any) -> None:
    """A line pump's sale completes from the pump; people decide only flagged ones."""
    row = station.conn.execute(
        "SELECT a.pump, f.state FROM authorizations a LEFT JOIN pump_fills f "
        "ON f.sale_id = a.sale_id WHERE a.sale_id = ?", (sale_id,)).fetchone()
    if row is None or not forecourt.is_line_pump(row["pump"]) or row["state"] == "attention":
        return
    raise SaleError(f"sale {sale_id} is on pump {row['pump']}, which is on a pump line: it "
                    "completes from the pump's own data (only a sale flagged for attention "
                    "is completed or cancelled by hand)")
