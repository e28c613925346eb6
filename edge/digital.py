"""Digital cards at the station: a QR token is the only proof that the card is there.

A digital card has no chip, stripe or tag; its card id and token id are printed on
statements. So the station authorizes it only from the text of its QR code, a token
the head office signed (cloud_sync/tokens.py, docs/cards.md): the signature must be
the pinned office key's, the token unexpired, its card a digital card, and its nonce
never used here before. The nonce is recorded with the approved reservation, in the
same transaction, so a token fills once; a token whose authorization was denied (a
busy pump, a limit) may be shown again until it expires.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cloud_sync import tokens
from cloud_sync.tokens import TokenClaims, TokenError
from core.reasons import Reason
from core.timefmt import iso

#: Longest part of a refused token's text kept as the decision's card id.
LABEL_LENGTH = 64


def check_token(text: str, office_key: Ed25519PublicKey | None, now: datetime) -> TokenClaims:
    """The claims of a genuine, unexpired token; :class:`TokenError` with the reason if not."""
    if office_key is None:
        raise TokenError(Reason.TOKEN_INVALID, "no office public key is configured "
                                               "([station] office_public_key)")
    return tokens.verify(text, office_key, now)


def token_label(text: str) -> str:
    """What a refused token is recorded as: its start if printable ASCII, else ``?``."""
    head = text.strip()[:LABEL_LENGTH]
    return head if head and head.isascii() and head.isprintable() else "?"


def token_refusal(conn: sqlite3.Connection, row: sqlite3.Row | None,
                  claims: TokenClaims) -> tuple[Reason, str] | None:
    """Why a verified token still cannot authorize its card (reason, detail), or None.

    An unknown card is left to the engine (``unknown_card``).
    """
    if row is not None and row["kind"] != "digital":
        return Reason.TOKEN_INVALID, f"the token names a {row['kind']} card, not a digital card"
    seen = conn.execute("SELECT 1 FROM seen_tokens WHERE nonce = ?", (claims.nonce,)).fetchone()
    if seen is not None:
        return Reason.TOKEN_REPLAYED, "this token was already used"
    return None


def use_token(conn: sqlite3.Connection, claims: TokenClaims, now: datetime) -> None:
    """Record the token's nonce as used (in the caller's transaction); forget expired ones."""
    conn.execute("DELETE FROM seen_tokens WHERE expires_at < ?", (iso(now),))
    conn.execute("INSERT INTO seen_tokens VALUES (?, ?, ?, ?)",
                 (claims.nonce, claims.card_id, iso(claims.expires), iso(now)))
