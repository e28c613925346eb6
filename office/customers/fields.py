"""Checking the values of a record's fields as they come in (console form, CLI option,
spreadsheet cell): each checker returns the clean value or raises
:class:`~office.customers.errors.RecordRefused` naming the field and the problem."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from core import bounds as B
from office.customers.errors import RecordRefused

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def text(field: str, value: Any, *, required: bool = False, max_chars: int = B.MAX_TEXT
         ) -> str:
    """One line of text (may be empty unless ``required``)."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise RecordRefused(f"{field} must be text", field=field)
    clean: str = value.strip()
    if required and not clean:
        raise RecordRefused(f"{field} is required", field=field)
    problem = B.text_problem(clean, max_chars) if clean else None
    if problem:
        raise RecordRefused(f"{field} {problem}", field=field)
    return clean


def notes(field: str, value: Any) -> str:
    """Free text of several lines (notes), at most 4000 characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordRefused(f"{field} must be text", field=field)
    for line in value.splitlines():
        problem = B.text_problem(line, 4000) if line else None
        if problem:
            raise RecordRefused(f"{field} {problem}", field=field)
    if len(value) > 4000:
        raise RecordRefused(f"{field} must be at most 4000 characters", field=field)
    return value.strip()


def identifier(field: str, value: Any) -> str:
    """A record id (customer, vehicle, group, card, wallet): letters, digits, ``_.:-``."""
    if not isinstance(value, str) or not _ID.match(value.strip()):
        raise RecordRefused(f"{field} must be 1-64 letters, digits or _ . : - (starting with a "
                            f"letter or digit), got {B.escaped(str(value))!s}", field=field)
    return value.strip()


def choice(field: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise RecordRefused(f"{field} must be one of {', '.join(choices)}, got "
                            f"{B.escaped(str(value))}", field=field)
    return str(value)


def phone(field: str, value: Any) -> str:
    """A phone number kept as ``+`` and digits ("+90 (532) 123-45-67" -> "+905321234567")."""
    raw = text(field, value, required=True)
    if not re.fullmatch(r"\+?[0-9 ()./-]+", raw):
        raise RecordRefused(f"{field} {B.escaped(raw)} is not a phone number (digits, spaces, "
                            "+ ( ) - . /)", field=field)
    digits = "".join(c for c in raw if c.isdigit())
    if not 6 <= len(digits) <= 15:
        raise RecordRefused(f"{field} {B.escaped(raw)} must have 6 to 15 digits", field=field)
    return ("+" if raw.startswith("+") else "") + digits


def email(field: str, value: Any) -> str:
    raw = text(field, value, required=True).lower()
    if not _EMAIL.match(raw):
        raise RecordRefused(f"{field} {B.escaped(raw)} is not an e-mail address", field=field)
    return raw


def day(field: str, value: Any, *, past: bool = False) -> str | None:
    """A date YYYY-MM-DD (None or "" for none); ``past``: not after today, not before 1900."""
    if value is None or value == "":
        return None
    if isinstance(value, date):
        parsed = value
    else:
        try:
            parsed = date.fromisoformat(str(value).strip())
        except ValueError:
            raise RecordRefused(f"{field} must be a date YYYY-MM-DD, got "
                                f"{B.escaped(str(value))}", field=field) from None
    if past and not date(1900, 1, 1) <= parsed <= date.today():
        raise RecordRefused(f"{field} {parsed.isoformat()} is not a possible date of birth",
                            field=field)
    return parsed.isoformat()


def amount(field: str, value: Any, *, unit: str = "money", signed: bool = False,
           positive: bool = False) -> int:
    """An integer amount: minor units (``money``) or ml (``volume``), within the bounds."""
    cap = B.MAX_AMOUNT if unit == "money" else B.MAX_VOLUME_ML
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise RecordRefused(f"{field} must be a whole number of "
                                f"{'minor units' if unit == 'money' else 'ml'}, got "
                                f"{B.escaped(value)}", field=field) from None
    low = -cap if signed else (1 if positive else 0)
    problem = B.int_problem(value, low, cap, "minor units" if unit == "money" else "ml")
    if problem:
        raise RecordRefused(f"{field} {problem}", field=field)
    assert isinstance(value, int)
    return value
