"""The one root exception of forecourt and its subclasses by where things fail.

Every error a user can cause or meet carries one sentence that names the problem;
the CLI prints ``str(error)`` and exits non-zero, never a traceback.
"""

from __future__ import annotations


class ForecourtError(Exception):
    """Root of every error forecourt raises on purpose."""

    #: Short machine-readable code, logged with the error.
    code = "error"


class ConfigError(ForecourtError):
    """The configuration cannot be used.

    Example scenarios: an unknown key, a wrong type, a missing file, a bad duration.
    """

    code = "config_error"


class StoreError(ForecourtError):
    """The station or office database refused an operation.

    Example scenarios: the schema is newer than this program, the file is not a
    forecourt database, the disk is full.
    """

    code = "store_error"


class WriterLockedError(StoreError):
    """Another process already owns the writable station database.

    Example scenarios: the daemon is running and a CLI command tried to open the
    database for writing directly; two daemons started on the same data directory.
    """

    code = "writer_locked"


class DiskFullError(StoreError):
    """The station's disk is (nearly) full.

    Example scenarios: a new sale is refused because free space is below
    ``[station] min_free_mb``; SQLite could not commit (SQLITE_FULL), so nothing of
    that operation was recorded.
    """

    code = "disk_full"


class NotInitializedError(StoreError):
    """The data directory or database does not exist yet (``forecourt init``)."""

    code = "not_initialized"


class CardStoreFormatError(ForecourtError):
    """A card-store snapshot file is malformed.

    Example scenarios: not JSON, wrong ``format``, a volume given as a float, an
    unknown card status, a duplicate card id.
    """

    code = "card_store_invalid"


class CardStoreTimeError(CardStoreFormatError):
    """Card data whose times cannot be trusted: made in the future, or already expired.

    Example scenarios: a snapshot whose ``generated_at`` lies a year ahead of the
    station's clock, or whose ``expires_at`` has passed (offline_db/freshness.py).
    """

    code = "card_store_time"


class SaleError(ForecourtError):
    """A sale operation cannot be carried out.

    Example scenarios: completing a sale twice, completing an unknown sale id,
    a volume larger than the authorized preset.
    """

    code = "sale_error"


class StationStopping(SaleError):
    """The station is stopping and takes no new sale.

    Example scenarios: an authorization asked after SIGTERM (``systemctl stop``), while
    the daemon finishes the fills under way.
    """

    code = "station_stopping"


class JournalError(StoreError):
    """The sale journal is not intact (gap in sequence or broken hash chain)."""

    code = "journal_broken"


class KeyFileError(ForecourtError):
    """The station's key files are missing or unsafe.

    Example scenarios: the private key is readable by group or others; the key file
    is not an Ed25519 PEM key.
    """

    code = "key_file"


class ControlError(ForecourtError):
    """The daemon's control socket could not serve a request.

    Example scenarios: the daemon stopped while answering; a malformed request.
    """

    code = "control_error"


class AccessError(ForecourtError):
    """The Unix user may not do this at the station (docs/operations.md, "Roles").

    Example scenarios: an operator asks the daemon to import a card store (a
    technician's job); a user in no role group closes a shift without the daemon.
    """

    code = "not_allowed"


class InputError(ForecourtError):
    """An argument of a station operation is unfit to use or record (issue 10 #10).

    Example scenarios: a card id with a newline, NUL or escape character (CLI,
    control socket or card reader), a pump number given as a string, a volume of 2^63.
    """

    code = "input_invalid"


class Refusal(ForecourtError):
    """Something from outside refused with a reason code (``reason`` = ``code``).

    Example scenarios: a forged or expired QR token, an envelope with a bad
    signature, a message from an unknown sender.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.code = reason


class DriverError(ForecourtError):
    """Root of hardware-driver failures (pump lines, card readers)."""

    code = "driver_error"


class DriverNotAvailableError(DriverError, NotImplementedError):
    """A driver's library or device is not available.

    Example scenarios: an unknown pump protocol or reader name in the config; pyscard
    installed without a PC/SC service.
    """

    code = "driver_not_available"


class DriverInitializationError(DriverError):
    """A device could not be opened.

    Example scenarios: the serial port does not exist; permission denied on
    /dev/ttyUSB0; a bad baud rate.
    """

    code = "driver_init"


class DriverOperationError(DriverError):
    """A device failed while in use.

    Example scenarios: a USB-serial adapter unplugged mid-poll; a write error.
    """

    code = "driver_operation"


class DriverTimeoutError(DriverError, TimeoutError):
    """A device did not answer in time.

    Example scenarios: a pump silent after every retry; a reader that stopped
    answering.
    """

    code = "driver_timeout"


class IdentityError(KeyFileError):
    """A key file is not the identity its store was created with, or is missing.

    Example scenarios: ``station_key.pem`` deleted from a station that has sales (a
    new key would be a new station to the head office); a key copied from another
    station; the office key missing next to an office store with enrolled stations.
    """

    code = "identity_mismatch"
