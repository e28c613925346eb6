"""Run a PcscReader and print what it does as JSON lines (entry point for test_pcsc.py).

The test starts this inside the mount namespace of its private pcscd (``nsenter -t
HOLDER -m``), because pcsc-lite clients always talk to ``/run/pcscd/pcscd.comm``.
Lines on stdout::

    {"type": "state", "state": "ready", "error": null}
    {"type": "slot", "present": true}
    {"type": "read", "identifier": "...", "verified": true, "details": {...}, "raw": "..."}
    {"type": "failure", "reason": "card_unreadable", "message": "...", "raw": ""}

It stops when its stdin closes (the test ended or died) or on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

import structlog

from drivers.readers.base import CardRead, ReadEvent
from drivers.readers.pcsc import PcscReader

_out = threading.Lock()


def emit(**fields: Any) -> None:
    with _out:
        sys.stdout.write(json.dumps(fields) + "\n")
        sys.stdout.flush()


class WatchedReader(PcscReader):
    """A PcscReader that reports every state change and slot change."""

    _seen_present = False

    def _set_state(self, state: str, error: str = "") -> None:
        changed = (state, error) != (self.state, self.last_error)
        super()._set_state(state, error)
        if changed:
            emit(type="state", state=state, error=error or None)

    def _poll(self, timeout: float) -> ReadEvent | None:
        try:
            return super()._poll(timeout)
        finally:
            if self.card_present != self._seen_present:
                self._seen_present = self.card_present
                emit(type="slot", present=self._seen_present)


def on_event(event: ReadEvent) -> None:
    if isinstance(event, CardRead):
        emit(type="read", identifier=event.identifier, verified=event.verified,
             details=event.details, raw=event.raw)
    else:
        emit(type="failure", reason=event.reason, message=event.message, raw=event.raw)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="")
    parser.add_argument("--key", default="", help="issuer master key, hex; empty: none")
    parser.add_argument("--reopen", type=float, default=0.3)
    parser.add_argument("--debounce", type=float, default=1.5)
    args = parser.parse_args()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    options = {"issuer_key": bytes.fromhex(args.key)} if args.key else {}
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    reader = WatchedReader(reader_id="test", device=args.device, on_event=on_event,
                           options=options, debounce_s=args.debounce, reopen_s=args.reopen)

    def watch_stdin() -> None:
        sys.stdin.read()
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    with reader:
        reader.start()
        done.wait()


if __name__ == "__main__":
    main()
