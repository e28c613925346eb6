"""Card readers in the daemon: a read on a reader bound to a pump starts a sale.

Each ``[[readers]]`` entry becomes a reader thread (drivers/readers). Its events
arrive here:

- a :class:`CardRead` on a reader bound to a pump becomes ``sale.authorize`` for that
  pump through the daemon's one path (line pumps are driven, manual pumps wait for
  the attendant); a QR scan goes whole as the ``token`` of the request, and the
  station checks it (office signature, expiry, digital card, unused nonce) in the
  authorization's own transaction (edge/digital.py);
- a QR scan whose text starts with ``FCV1:`` is a fuel voucher, not a card: it
  authorizes a talon sale on the pump (the voucher alone pays, docs/pricing.md);
- a :class:`ReadFailure` (cloned card, malformed swipe, forged token) on a pump's
  reader is journaled as a denial with its reason code;
- on the operator's desk (``pump = 0``) reads are only logged and shown.

Every event is kept in a small ring for ``forecourt readers watch``.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from cloud_sync.tokens import TokenError
from core.bounds import escaped, text_problem
from core.config import Config, ReaderConfig
from core.errors import ForecourtError, KeyFileError
from core.keys import configured_office_key
from core.reasons import Reason
from core.timefmt import iso, utc_now
from core.vouchers import QR_PREFIX
from drivers.readers import reader_class
from drivers.readers.base import CardRead, CardReader, ReadEvent, ReadFailure
from edge.digital import check_token, token_label
from edge.lifecycle import Station

log = structlog.get_logger(__name__)
RING = 200

Authorize = Callable[[dict[str, Any], str], dict[str, Any]]


def is_voucher_text(text: str) -> bool:
    """Whether a QR scan is a fuel voucher's (``FCV1:`` and its code), not a card token."""
    return text.strip()[:len(QR_PREFIX)].upper() == QR_PREFIX


class ReaderHub:
    """Every configured reader, wired to the sale lifecycle."""

    def __init__(self, config: Config, station: Station, lock: Any,
                 authorize: Authorize) -> None:
        self.config = config
        self.station = station
        self.lock = lock
        self.authorize = authorize
        self.readers: dict[str, tuple[ReaderConfig, CardReader | None, str]] = {}
        self.events: collections.deque[dict[str, Any]] = collections.deque(maxlen=RING)
        self.counter = 0
        self._events_lock = threading.Lock()
        self._office_key = configured_office_key(config)

    def start(self) -> None:
        for rc in self.config.readers:
            try:
                cls = reader_class(rc.driver)
                reader = cls(reader_id=rc.id, device=rc.device, options=self._options(rc),
                             on_event=lambda e, rc=rc: self.handle(rc, e),
                             debounce_s=rc.debounce_ms / 1000)
            except ForecourtError as exc:
                log.error("reader.unavailable", reader=rc.id, error=str(exc))
                self.readers[rc.id] = (rc, None, str(exc))
                continue
            self.readers[rc.id] = (rc, reader, "")
            reader.start()

    def _options(self, rc: ReaderConfig) -> dict[str, Any]:
        options: dict[str, Any] = {"baudrate": rc.baudrate, "prefix": rc.prefix,
                                   "suffix": rc.suffix}
        if rc.nfc_targets:
            options["targets"] = list(rc.nfc_targets)
        key_file = self.config.cards.issuer_key_file
        if rc.driver == "pcsc" and key_file:
            from drivers.readers.pcsc import load_issuer_key

            try:
                options["issuer_key"] = load_issuer_key(Path(key_file))
            except KeyFileError as exc:
                log.error("reader.issuer_key_unusable", reader=rc.id, error=str(exc))
        return options

    def stop(self) -> None:
        for _rc, reader, _error in self.readers.values():
            if reader is not None:
                reader.close()

    def status(self) -> list[dict[str, Any]]:
        out = []
        for rc, reader, error in self.readers.values():
            row = reader.status() if reader is not None else {
                "reader": rc.id, "driver": rc.driver, "device": rc.device,
                "state": "unavailable", "error": error, "reads": 0, "failures": 0}
            row.update(pump=rc.pump, driver=rc.driver)
            out.append(row)
        return out

    def recent(self, after: int) -> dict[str, Any]:
        """Events with a number above ``after`` (for ``readers watch``)."""
        with self._events_lock:
            return {"last": self.counter, "events": [e for e in self.events if e["n"] > after]}

    def _remember(self, **event: Any) -> None:
        with self._events_lock:
            self.counter += 1
            self.events.append({"n": self.counter, "at": iso(utc_now()), **event})

    # -- events (reader threads) --------------------------------------------------------
    def handle(self, rc: ReaderConfig, event: ReadEvent) -> None:
        if isinstance(event, ReadFailure):
            self._refuse(rc, event.card or event.raw[:64] or "?", event.reason, event.message)
            return
        identifier = event.identifier
        if text_problem(identifier):  # issue 10 #10: never used, recorded or shown raw
            self._refuse(rc, identifier, Reason.CARD_UNREADABLE,
                         "the card's identifier holds characters that cannot be shown")
            return
        voucher = event.kind == "digital" and is_voucher_text(event.raw)
        if voucher:
            identifier = "(voucher)"
        elif event.kind == "digital" and rc.pump == 0:
            checked = self._check_token(rc, event)
            if checked is None:
                return
            identifier = checked
        log.info("reader.read", reader=rc.id, kind=event.kind, pump=rc.pump,
                 identifier=identifier if event.kind != "digital" else "(QR token)")
        if rc.pump == 0:
            self._remember(reader=rc.id, pump=0, kind=event.kind, card=identifier,
                           result="read at the desk")
            return
        # A QR token goes to the station whole: it checks the token and records its
        # nonce in the same transaction as the reservation (edge/digital.py).
        args: dict[str, Any] = ({"voucher": event.raw, "pump": rc.pump} if voucher
                                else {"token": event.raw, "pump": rc.pump}
                                if event.kind == "digital"
                                else {"card": identifier, "pump": rc.pump})
        uid = event.details.get("uid")
        if event.kind == "rfid" and uid and uid != identifier:
            args["presented"] = [uid]  # the tag under an NDEF card number: checked too
        try:
            result = self.authorize(args, f"reader:{rc.id}")
        except ForecourtError as exc:
            log.warning("reader.sale_refused", reader=rc.id, pump=rc.pump, error=str(exc))
            self._remember(reader=rc.id, pump=rc.pump, kind=event.kind, card=identifier,
                           result="refused", reason=exc.code, message=str(exc))
            return
        self._remember(reader=rc.id, pump=rc.pump, kind=event.kind, card=result["card_id"],
                       result="approved" if result["approved"] else "denied",
                       reason=result["reason"], sale_id=result.get("sale_id"),
                       max_volume_ml=result.get("max_volume_ml"))

    def _check_token(self, rc: ReaderConfig, event: CardRead) -> str | None:
        """At the desk: the card id of a genuine, unexpired token (shown, not used)."""
        try:
            claims = check_token(event.raw, self._office_key, utc_now())
        except TokenError as exc:
            self._refuse(rc, token_label(event.raw), exc.reason, str(exc))
            return None
        return claims.card_id

    def _refuse(self, rc: ReaderConfig, card: str, reason: str, message: str) -> None:
        card = escaped(card)  # raw reader data: kept as evidence, never raw
        log.warning("reader.refused", reader=rc.id, pump=rc.pump, reason=reason,
                    message=message)
        code = Reason(reason) if reason in Reason._value2member_map_ else Reason.CARD_UNREADABLE
        if rc.pump:
            with self.lock:
                self.station.refuse(card=card, pump=rc.pump, reason=code,
                                    actor=f"reader:{rc.id}", detail=message)
        self._remember(reader=rc.id, pump=rc.pump, card=card, result="refused", reason=reason,
                       message=message)
