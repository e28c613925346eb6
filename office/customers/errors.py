"""The refusal of a change to the office's records: one sentence naming the field."""

from __future__ import annotations

from core.errors import ForecourtError


class RecordRefused(ForecourtError):
    """A change to a customer, vehicle, group, card or wallet that is refused, and why.

    ``reason`` is the reason code (``invalid``, ``unknown``, ``duplicate``,
    ``conflict``), ``field`` the field at fault (None: the record as a whole).
    Nothing was changed.
    """

    code = "record_refused"

    def __init__(self, message: str, *, reason: str = "invalid", field: str | None = None
                 ) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field
