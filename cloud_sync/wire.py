"""What may come in from a peer: one safe JSON decoder and one shape check per message kind.

Everything a station or the office receives — an MQTT envelope, a bundle's header,
its summary line or reply, a sale line the bulk ingest cannot judge at once — is
decoded by :func:`decode`: a size cap, a nesting cap (100,000 ``[`` are refused, not
a ``RecursionError``), no ``NaN`` or infinities, and every parser failure turned into
a refusal with one sentence. Then :func:`check_body` checks the body of each message
kind before any of it is used: the fields it must have and no others, their types and
ranges, and that every station id inside it is the sender's own (``wrong_station``). The sender's
identity — its enrolled key and its topic for a station, the addressed station for
the office's messages — is the only source of the station id. Reason codes:
``too_large``, ``malformed``, ``wrong_station`` (docs/mqtt.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from core import bounds
from core.errors import Refusal

#: Deepest nesting of arrays and objects accepted (the deepest message, a card-store
#: snapshot inside a ``cards`` envelope, needs 7).
MAX_DEPTH = 32
MAX_TEXT = 200
MAX_INT = bounds.MAX_INT64
MAX_LIST = 100
HEX64 = bounds.HEX64
TIMESTAMP = bounds.TIMESTAMP
ErrorType = Callable[[str, str], Exception]


class WireError(Refusal):
    """A message refused before use; ``reason`` is its reason code."""


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether parsed JSON nests arrays and objects more than ``limit`` deep.

    Iterative (no recursion), and it visits only containers' items.
    """
    if not isinstance(value, (dict, list)):
        return False  # a scalar nests nothing
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > limit:
            return True
        for child in (item.values() if isinstance(item, dict) else item):
            if isinstance(child, (dict, list)):
                stack.append((child, level + 1))
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def decode(data: bytes, *, what: str, max_bytes: int, error: ErrorType = WireError) -> Any:
    """Parse JSON from a peer; ``error(reason, sentence)`` for anything unusable.

    ``what`` names the thing in the sentence ("the message", "bundle.fcb's header").
    Python's parser is recursive: deeper than about 1,000 levels it raises
    ``RecursionError``, which is caught here; anything deeper than :data:`MAX_DEPTH`
    that it did parse is refused after, so nothing recursive downstream (canonical
    JSON for the signature, the quarantine copy) can meet it.
    """
    if len(data) > max_bytes:
        raise error("too_large", f"{what} is larger than {max_bytes} bytes")
    try:
        value = json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise error("malformed", f"{what} is nested more than {MAX_DEPTH} levels deep"
                    ) from None
    except (ValueError, UnicodeDecodeError):
        raise error("malformed", f"{what} is not JSON") from None
    if too_deep(value):
        raise error("malformed", f"{what} is nested more than {MAX_DEPTH} levels deep")
    return value


# -- field checks ------------------------------------------------------------------------

def is_int(value: Any, *, minimum: int = 0) -> bool:
    """An integer (not a bool) in ``minimum .. 2**63-1``."""
    return isinstance(value, int) and not isinstance(value, bool) and \
        minimum <= value <= MAX_INT


def is_text(value: Any, *, max_len: int = MAX_TEXT) -> bool:
    """A non-empty printable string of at most ``max_len`` characters (the station's
    rule for identifiers, ``core.bounds.printable_problem``)."""
    return bounds.is_printable_text(value, max_len)


def is_timestamp(value: Any) -> bool:
    """A UTC timestamp as forecourt writes them: ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    return isinstance(value, str) and TIMESTAMP.fullmatch(value) is not None


def is_hash(value: Any) -> bool:
    return isinstance(value, str) and HEX64.fullmatch(value) is not None


def _fields(kind: str, body: Any, required: frozenset[str], optional: frozenset[str] = frozenset()
            ) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise WireError("malformed", f"the {kind} body is not a JSON object")
    missing = sorted(required - body.keys())
    if missing:
        raise WireError("malformed", f"the {kind} body lacks {', '.join(missing)}")
    extra = sorted(str(k) for k in body.keys() - required - optional)
    if extra:
        raise WireError("malformed", f"the {kind} body has unknown field(s) {', '.join(extra)}")
    return body


def _need(kind: str, name: str, ok: bool, what: str) -> None:
    if not ok:
        raise WireError("malformed", f"the {kind} body's {name} must be {what}")


def printable(text: str, max_len: int = 500) -> str:
    """``text`` safe to store and show: every non-printable character escaped, cut short."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text[:max_len])


def same_station(where: str, named: Any, station_id: str) -> None:
    """Refuse a station id inside a message that is not the sender's (or addressee's).

    One that is not a station id at all (not printable text of at most 64 characters)
    is ``malformed``; another station's is ``wrong_station``.
    """
    if not is_text(named, max_len=64):
        raise WireError("malformed", f"{where} has no station_id of printable text")
    if named != station_id:
        raise WireError("wrong_station", f"{where} names station {named!r}, not {station_id!r}")


# -- one check per message kind ----------------------------------------------------------

STATUS_FIELDS = frozenset({"station_id", "online", "outbox_depth", "oldest_undelivered_at",
                           "card_store_version"})
#: Sent by stations since the office can ask for lost receipted sales (offline_db.resend).
STATUS_EXTRA = frozenset({"last_receipt_seq"})
RESEND_FIELDS = frozenset({"station_id", "from_seq", "to_seq"})
RECEIPT_FIELDS = frozenset({"station_id", "up_to_seq", "hash"})
RECEIPT_EXTRA = frozenset({"stored", "duplicates", "quarantined"})
CARD_MODES = ("delta", "snapshot", "usage")


def check_status(body: Any, station_id: str) -> None:
    """``status`` (also the last will): exactly these fields, these types."""
    _fields("status", body, STATUS_FIELDS, STATUS_EXTRA)
    same_station("the status", body["station_id"], station_id)
    if "last_receipt_seq" in body:
        _need("status", "last_receipt_seq", is_int(body["last_receipt_seq"]),
              "an integer >= 0")
    _need("status", "online", isinstance(body["online"], bool), "true or false")
    _need("status", "outbox_depth", is_int(body["outbox_depth"]), "an integer >= 0")
    oldest = body["oldest_undelivered_at"]
    _need("status", "oldest_undelivered_at", oldest is None or is_timestamp(oldest),
          "null or a UTC timestamp")
    version = body["card_store_version"]
    _need("status", "card_store_version", version is None or is_int(version),
          "null or an integer >= 0")


def check_sync_request(body: Any, station_id: str) -> None:
    _fields("sync-request", body, frozenset({"station_id", "version"}))
    same_station("the sync request", body["station_id"], station_id)
    _need("sync-request", "version", body["version"] is None or is_int(body["version"]),
          "null or an integer >= 0")


def check_sales(body: Any, station_id: str) -> None:
    """Whose a batch is: its body, every sale line and its status name the sender.

    The rest of a batch's shape is the ingest's (``office.ledger.ingest``): a malformed
    batch is quarantined there, with a receipt that says so.
    """
    if not isinstance(body, dict):
        raise WireError("malformed", "the sales body is not a JSON object")
    same_station("the batch", body.get("station_id"), station_id)
    sales = body.get("sales")
    if isinstance(sales, list):
        for i, row in enumerate(sales):
            if isinstance(row, dict):
                same_station(f"sale {i + 1} of the batch", row.get("station_id"), station_id)
    status = body.get("status")
    if isinstance(status, dict) and "station_id" in status:
        same_station("the batch's status", status["station_id"], station_id)


def check_receipt(body: Any, station_id: str) -> None:
    """A receipt for ``station_id`` (MQTT, or the receipt part of a flash reply)."""
    _fields("receipt", body, RECEIPT_FIELDS, RECEIPT_EXTRA)
    same_station("the receipt", body["station_id"], station_id)
    _need("receipt", "up_to_seq", is_int(body["up_to_seq"]), "an integer >= 0")
    _need("receipt", "hash", is_hash(body["hash"]), "64 lower-case hex digits")
    for name in ("stored", "duplicates"):
        if name in body:
            _need("receipt", name, is_int(body[name]), "an integer >= 0")
    if "quarantined" in body:
        problems = body["quarantined"]
        _need("receipt", "quarantined", isinstance(problems, list) and
              len(problems) <= MAX_LIST and all(is_text(p, max_len=2000) for p in problems),
              f"a list of at most {MAX_LIST} sentences")


def check_resend(body: Any, station_id: str) -> None:
    """The office asks ``station_id`` for receipted sales ``from_seq``..``to_seq`` again."""
    _fields("resend", body, RESEND_FIELDS)
    same_station("the resend request", body["station_id"], station_id)
    for name in ("from_seq", "to_seq"):
        _need("resend", name, is_int(body[name], minimum=1), "an integer >= 1")
    _need("resend", "to_seq", body["to_seq"] >= body["from_seq"], "at least from_seq")


def check_cards(body: Any, station_id: str) -> None:
    """The top of a ``cards`` body; its operations and snapshot are checked where applied
    (``core.formats.deltas.parse_ops``, ``core.formats.snapshot.parse_snapshot``). Unknown
    fields are left to ``offline_db.replication.apply_cards_message``."""
    del station_id  # card data names no station (network-wide or addressed by topic)
    if not isinstance(body, dict):
        raise WireError("malformed", "the cards body is not a JSON object")
    mode = body.get("mode")
    _need("cards", "mode", mode in CARD_MODES, f"one of {', '.join(CARD_MODES)}")
    _need("cards", "expires_at", isinstance(body.get("expires_at"), str), "a timestamp")
    if mode == "delta":
        for name in ("from_version", "to_version"):
            _need("cards", name, is_int(body.get(name)), "an integer >= 0")
    if mode == "snapshot":
        _need("cards", "snapshot", isinstance(body.get("snapshot"), dict), "an object")
    else:
        _need("cards", "ops", isinstance(body.get("ops"), list), "a list")


CHECKS: dict[str, Callable[[Any, str], None]] = {
    "sales": check_sales, "status": check_status, "sync-request": check_sync_request,
    "receipt": check_receipt, "cards": check_cards, "resend": check_resend,
}


def check_body(kind: str, body: Any, station_id: str) -> None:
    """The shape check of message ``kind``; ``station_id`` is whose the message is."""
    CHECKS[kind](body, station_id)
