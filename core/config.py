"""Typed configuration loaded from ``config.toml``.

Precedence for finding the file: ``--config PATH``, then ``$FORECOURT_CONFIG``,
then ``./config.toml``, then ``/etc/forecourt/config.toml``. With none of them, the
embedded defaults apply (every field below has one). An unknown key or a value of
the wrong type is a :class:`~core.errors.ConfigError` naming the key and the file.

The root ``config.toml`` of the repository is the complete commented example; a
test keeps it and these dataclasses in step.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.cards import CARD_KINDS
from core.config_build import build, validate_tree
from core.config_jobs import JobsConfig, OfficeJobsConfig
from core.config_ranges import MAX_DURATION_S
from core.config_reports import OfficeReportsConfig
from core.config_roles import RolesConfig
from core.display import Currency, currency_decimals
from core.errors import ConfigError

ENV_VAR = "FORECOURT_CONFIG"
SYSTEM_PATH = Path("/etc/forecourt/config.toml")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

#: Longest ``[station] lock_wait``: within systemd's default start timeout (90 s).
LOCK_WAIT_MAX_S = 60
#: Longest ``[station] stop_wait``: the unit's TimeoutStopSec (30 s) less the time to stop
#: the pumps, record their sales and close (edge.shutdown.STOP_SETTLE_S and margin).
STOP_WAIT_MAX_S = 20


class DurationTooLong(ValueError):
    """A well-formed duration longer than any this configuration accepts."""


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``90s``, ``15m``, ``24h`` or ``7d`` (at most ten years)."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 90s, 15m, 24h or 7d")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_DURATION_S:
        raise DurationTooLong(f"must be at most {MAX_DURATION_S // 86400} days, got {text!r}")
    return seconds


@dataclass(frozen=True, kw_only=True)
class StationConfig:
    """``[station]``: who this station is and where it keeps its data."""

    id: str = "S-001"
    name: str = "Forecourt station"
    data_dir: Path = Path("var/station")
    timezone: str = "UTC"
    week_start: str = "monday"
    groups: list[str] = field(default_factory=list)
    control_socket: str = ""
    office_public_key: str = ""
    currency: str = "RUB"
    currency_decimals: int = -1
    #: How long ``forecourt run`` waits for a writer lock another process holds.
    lock_wait: str = "10s"
    #: How long a stop (SIGTERM) waits for fills in progress before stopping the pumps.
    stop_wait: str = "15s"
    #: Free space (MB, after the reserve) below which no new sale is authorized.
    min_free_mb: int = 64
    #: Space (MB) kept in ``space.reserve`` for completing fills when the disk fills.
    disk_reserve_mb: int = 8

    def validate(self) -> None:
        for key, most in (("lock_wait", LOCK_WAIT_MAX_S), ("stop_wait", STOP_WAIT_MAX_S)):
            try:
                seconds = parse_duration(getattr(self, key))
            except ValueError as exc:
                raise ValueError(f"[station] {key} {exc}") from None
            if seconds > most:
                raise ValueError(f"[station] {key} must be at most {most}s (the systemd unit's "
                                 f"{'start' if key == 'lock_wait' else 'stop'} timeout leaves "
                                 f"no more), got {getattr(self, key)!r}")
        if not re.fullmatch(r"[A-Z]{3}", self.currency):
            raise ValueError("[station] currency must be an ISO 4217 code such as RUB or EUR "
                             f"(three capital letters), got {self.currency!r}")
        currency_decimals(self.currency, self.currency_decimals)
        key = self.office_public_key
        if key and not re.fullmatch(r"ed25519:[A-Za-z0-9+/]{43}=", key):
            raise ValueError("[station] office_public_key must look like ed25519:<44 base64 "
                             "characters> (forecourt office keys show)")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", self.id):
            raise ValueError("[station] id must be 1-64 letters, digits, '-', '_' or '.'")
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"[station] timezone {self.timezone!r} is not a known time zone"
                             ) from None
        if self.week_start not in WEEKDAYS:
            raise ValueError(f"[station] week_start must be one of {', '.join(WEEKDAYS)}")

    @property
    def money(self) -> Currency:
        """How human output shows money (edge/display.py); JSON keeps minor units."""
        return Currency(self.currency, currency_decimals(self.currency, self.currency_decimals))

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def week_start_index(self) -> int:
        return WEEKDAYS.index(self.week_start)

    @property
    def lock_wait_s(self) -> int:
        return parse_duration(self.lock_wait)

    @property
    def stop_wait_s(self) -> int:
        return parse_duration(self.stop_wait)

    @property
    def socket_path(self) -> Path:
        return Path(self.control_socket) if self.control_socket else self.data_dir / "control.sock"


@dataclass(frozen=True, kw_only=True)
class LoggingConfig:
    """``[logging]``: level and format of the structured log."""

    level: str = "info"
    format: str = "auto"

    def validate(self) -> None:
        if self.level not in ("debug", "info", "warning", "error"):
            raise ValueError("[logging] level must be debug, info, warning or error")
        if self.format not in ("auto", "json", "console"):
            raise ValueError("[logging] format must be auto, json or console")


@dataclass(frozen=True, kw_only=True)
class AuthorizationConfig:
    """``[authorization]``: station-wide bounds on every authorization."""

    max_fill_ml: int = 200_000
    min_preset_ml: int = 1_000
    pin_max_tries: int = 3

    def validate(self) -> None:
        if self.max_fill_ml <= 0:
            raise ValueError("[authorization] max_fill_ml must be positive")
        if not 0 <= self.min_preset_ml <= self.max_fill_ml:
            raise ValueError("[authorization] min_preset_ml must be between 0 and max_fill_ml")
        if self.pin_max_tries < 1:
            raise ValueError("[authorization] pin_max_tries must be at least 1")


@dataclass(frozen=True, kw_only=True)
class OfflineConfig:
    """``[offline]``: what to do when the card data is older than the staleness limit."""

    max_data_age: str = "24h"
    max_clock_skew: str = "5m"
    stale_policy: str = "restrict"
    stale_fill_cap_ml: int = 40_000
    stale_card_kinds: list[str] = field(default_factory=lambda: list(CARD_KINDS))

    def validate(self) -> None:
        try:
            parse_duration(self.max_data_age)
        except ValueError as exc:
            raise ValueError(f"[offline] max_data_age {exc}") from None
        try:
            skew = parse_duration(self.max_clock_skew)
        except ValueError as exc:
            raise ValueError(f"[offline] max_clock_skew {exc}") from None
        if skew > 3600:
            raise ValueError("[offline] max_clock_skew must be at most 1h")
        if self.stale_policy not in ("restrict", "refuse"):
            raise ValueError("[offline] stale_policy must be restrict or refuse")
        if self.stale_fill_cap_ml < 0:
            raise ValueError("[offline] stale_fill_cap_ml must not be negative")
        for kind in self.stale_card_kinds:
            if kind not in CARD_KINDS:
                raise ValueError(f"[offline] stale_card_kinds has unknown card kind {kind!r}")

    @property
    def max_data_age_s(self) -> int:
        return parse_duration(self.max_data_age)

    @property
    def max_clock_skew_s(self) -> int:
        """How far ahead of the station's clock card data may claim to be made."""
        return parse_duration(self.max_clock_skew)


@dataclass(frozen=True, kw_only=True)
class OdometerConfig:
    """``[odometer]``: the reasonability check of a sale's odometer reading."""

    max_step_km: int = 2_000
    policy: str = "flag"

    def validate(self) -> None:
        if not 0 <= self.max_step_km <= 10_000_000:
            raise ValueError("[odometer] max_step_km must be 0-10000000")
        if self.policy not in ("flag", "refuse"):
            raise ValueError("[odometer] policy must be flag or refuse")


@dataclass(frozen=True, kw_only=True)
class PumpConfig:
    """``[[pump_lines.pumps]]``: one fuelling point on a line."""

    number: int = 0
    address: int = 0
    nozzles: list[str] = field(default_factory=list)
    volume_decimals: int = 3
    amount_decimals: int = 2
    price_decimals: int = 2

    def validate(self) -> None:
        where = f"[[pump_lines.pumps]] number {self.number}"
        if not 1 <= self.number <= 99:
            raise ValueError("[[pump_lines.pumps]] number must be a pump number 1-99")
        if not 0x50 <= self.address <= 0x6F:
            raise ValueError(f"{where}: address must be 80-111 (0x50-0x6F), "
                             f"got {self.address}")
        if not 1 <= len(self.nozzles) <= 15:
            raise ValueError(f"{where}: nozzles must list 1-15 product codes "
                             "(logical nozzle 1 first)")
        if not 0 <= self.volume_decimals <= 3:
            raise ValueError(f"{where}: volume_decimals must be 0-3")
        for key in ("amount_decimals", "price_decimals"):
            if not 0 <= getattr(self, key) <= 2:
                raise ValueError(f"{where}: {key} must be 0-2 (minor units are cents)")


@dataclass(frozen=True, kw_only=True)
class PumpLineConfig:
    """``[[pump_lines]]``: one serial line of pumps and how to talk on it."""

    name: str = ""
    protocol: str = "dart"
    port: str = ""
    baudrate: int = 9600
    parity: str = "odd"
    crc: str = "arc"
    echo: bool = False
    response_timeout_ms: int = 80
    retries: int = 3
    offline_after: int = 3
    pumps: list[PumpConfig] = field(default_factory=list)

    def validate(self) -> None:
        where = f"[[pump_lines]] {self.name or self.port or '(unnamed)'}"
        if not self.port:
            raise ValueError(f"{where}: port is required (a device such as /dev/ttyUSB0 "
                             "or a pyserial URL)")
        if self.protocol != "dart":
            raise ValueError(f"{where}: protocol must be dart (the only one so far)")
        if self.parity not in ("none", "odd", "even"):
            raise ValueError(f"{where}: parity must be none, odd or even")
        if self.crc not in ("arc", "ccitt"):
            raise ValueError(f"{where}: crc must be arc or ccitt")
        if self.baudrate <= 0 or self.response_timeout_ms <= 0 or self.retries < 0 \
                or self.offline_after < 1:
            raise ValueError(f"{where}: baudrate and response_timeout_ms must be positive, "
                             "retries >= 0, offline_after >= 1")
        addresses = [p.address for p in self.pumps]
        if len(set(addresses)) != len(addresses):
            raise ValueError(f"{where}: two pumps share an address")


READER_DRIVERS = ("pcsc", "nfc", "magstripe-serial", "magstripe-hid", "qr-serial")


@dataclass(frozen=True, kw_only=True)
class ReaderConfig:
    """``[[readers]]``: one card reader and the pump it serves."""

    id: str = ""
    driver: str = ""
    device: str = ""
    pump: int = 0
    baudrate: int = 9600
    debounce_ms: int = 1500
    prefix: str = ""
    suffix: str = ""
    nfc_targets: list[str] = field(default_factory=list)

    def validate(self) -> None:
        where = f"[[readers]] {self.id or '(no id)'}"
        for target in self.nfc_targets:
            if target not in ("106A", "106B", "212F", "424F"):
                raise ValueError(f"{where}: nfc_targets has {target!r}; use 106A, 106B, "
                                 "212F or 424F")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}", self.id):
            raise ValueError(f"{where}: id must be 1-32 letters, digits, '-', '_' or '.'")
        if self.driver not in READER_DRIVERS:
            raise ValueError(f"{where}: driver must be one of {', '.join(READER_DRIVERS)}")
        if not 0 <= self.pump <= 99:
            raise ValueError(f"{where}: pump must be 1-99, or 0 for the operator's desk")
        if self.baudrate <= 0 or self.debounce_ms < 0:
            raise ValueError(f"{where}: baudrate must be positive and debounce_ms >= 0")


@dataclass(frozen=True, kw_only=True)
class CardsConfig:
    """``[cards]``: keys the station needs to tell genuine cards and tokens from fakes."""

    issuer_key_file: str = ""


#: The MQTT protocol versions ``[mqtt] protocol`` may name.
MQTT_PROTOCOLS = ("5", "3.1.1")


@dataclass(frozen=True, kw_only=True)
class MqttConfig:
    """``[mqtt]``: the broker both the station and the head office connect to.

    ``protocol``: ``"5"`` (MQTT 5, a session with an expiry) or ``"3.1.1"`` for brokers
    that speak only MQTT 3.1.1 (NATS, RabbitMQ 3.x): a persistent session through
    clean-session off, no shared subscriptions (docs/mqtt.md).
    """

    enabled: bool = False
    protocol: str = "5"
    host: str = "127.0.0.1"
    port: int = 1883
    prefix: str = "forecourt/v1"
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 86400
    reconnect_min_s: int = 1
    reconnect_max_s: int = 60
    batch_max_sales: int = 500
    batch_max_bytes: int = 256 * 1024
    receipt_timeout_s: int = 15
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    username: str = ""
    password_file: str = ""

    def validate(self) -> None:
        if self.protocol not in MQTT_PROTOCOLS:
            raise ValueError(f"[mqtt] protocol must be \"5\" or \"3.1.1\", not "
                             f"{self.protocol!r}")
        if not 0 < self.port < 65536:
            raise ValueError("[mqtt] port must be 1-65535")
        if not self.prefix or self.prefix.startswith("/") or self.prefix.endswith("/") \
                or any(c in self.prefix for c in "+#"):
            raise ValueError("[mqtt] prefix must be a topic path like forecourt/v1 "
                             "(no leading or trailing '/', no wildcards)")
        if self.keepalive_s < 5 or self.session_expiry_s < 0:
            raise ValueError("[mqtt] keepalive_s must be >= 5 and session_expiry_s >= 0")
        if not 0 < self.reconnect_min_s <= self.reconnect_max_s:
            raise ValueError("[mqtt] reconnect_min_s must be positive and <= reconnect_max_s")
        if self.receipt_timeout_s < 1:
            raise ValueError("[mqtt] receipt_timeout_s must be at least 1")
        if self.batch_max_sales < 1 or self.batch_max_bytes < 4096:
            raise ValueError("[mqtt] batch_max_sales must be >= 1 and batch_max_bytes >= 4096")


@dataclass(frozen=True, kw_only=True)
class FlashConfig:
    """``[flash]``: the USB flash drive a technician carries (docs/bundles.md)."""

    label: str = "FORECOURT"

    def validate(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,11}", self.label):
            raise ValueError("[flash] label must be 1-11 letters, digits, '-' or '_' (a FAT "
                             "volume label)")


REPORT_FORMATS = ("text", "json", "csv")
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


@dataclass(frozen=True, kw_only=True)
class ReportsConfig:
    """``[reports]``: the day report the station daemon writes at closing time.

    ``day_report`` on: every day at ``closing_time`` (local, ``[station] timezone``) the
    daemon reads the pumps' totalizers and writes the report of the ``previous`` or
    ``current`` day to ``folder`` in each of ``formats`` (docs/station-reports.md).
    """

    day_report: bool = False
    closing_time: str = "00:05"
    day: str = "previous"
    folder: Path = Path("var/reports")
    formats: list[str] = field(default_factory=lambda: ["text", "json"])

    def validate(self) -> None:
        if not _CLOCK.match(self.closing_time):
            raise ValueError("[reports] closing_time must be a time of day HH:MM (00:00-23:59), "
                             f"got {self.closing_time!r}")
        if self.day not in ("previous", "current"):
            raise ValueError(f"[reports] day must be previous or current, got {self.day!r}")
        if not str(self.folder).strip():
            raise ValueError("[reports] folder must name a folder")
        if not self.formats or len(set(self.formats)) != len(self.formats) or \
                any(f not in REPORT_FORMATS for f in self.formats):
            raise ValueError("[reports] formats must list one or more of text, json, csv "
                             f"(each once), got {self.formats!r}")

    @property
    def closing_hour_minute(self) -> tuple[int, int]:
        hour, minute = self.closing_time.split(":")
        return int(hour), int(minute)


@dataclass(frozen=True, kw_only=True)
class AlarmsConfig:
    """``[alarms]``: when the station's status raises an alarm (``forecourt status``).

    Stale card data, an offline pump or reader, a chain problem the office reported and
    a broken journal are alarms whatever these say; these two set the thresholds of
    the others.
    """

    undelivered_after: str = "24h"
    disk_min_free_percent: int = 10

    def validate(self) -> None:
        try:
            parse_duration(self.undelivered_after)
        except ValueError as exc:
            raise ValueError(f"[alarms] undelivered_after {exc}") from None

    @property
    def undelivered_after_s(self) -> int:
        return parse_duration(self.undelivered_after)


@dataclass(frozen=True, kw_only=True)
class OfficeConfig:
    """``[office]``: the head office's own storage and its bounds (``forecourt office ...``)."""

    data_dir: Path = Path("var/office")
    #: The office's database: "" = the SQLite file office.db in ``data_dir``; or a
    #: ``postgresql://user:password@host:port/dbname`` URL (office.settings reads the
    #: rest of it when the office opens its store; the keys stay in ``data_dir``).
    database: str = ""
    #: Longest validity of a digital-card token (``office cards token --valid``): a
    #: token is a bearer credential, so a leaked screenshot must not work for months.
    token_max_valid: str = "24h"
    #: The web console (``forecourt office web``): its default language (en, ru, tr,
    #: vi; each user may switch), the address it listens on, its gunicorn workers, the
    #: host names it answers to (empty: localhost, 127.0.0.1 and the bind address), and
    #: TLS (both files set: HTTPS, secure cookies, HSTS for ``web_hsts`` if not 0s).
    language: str = "en"
    web_bind: str = "127.0.0.1:8000"
    web_workers: int = 2
    web_allowed_hosts: list[str] = field(default_factory=list)
    web_cert_file: str = ""
    web_key_file: str = ""
    web_hsts: str = "0s"
    #: A console session ends this long after login.
    web_session_age: str = "8h"
    #: ``login_failure_limit`` wrong passwords for one user name from one address
    #: within ``login_failure_window`` lock that pair for ``login_lockout``.
    login_failure_limit: int = 5
    login_failure_window: str = "15m"
    login_lockout: str = "15m"
    #: ``forecourt office serve`` as several workers (office.sync.workers, docs/office.md):
    #: how many share the stations' traffic (MQTT shared subscriptions; more than 1 needs
    #: PostgreSQL), this process's name (``--worker`` overrides it; its MQTT client id is
    #: ``forecourt-office-NAME``), and how long the broker keeps a vanished worker's
    #: session and the messages it routed to it before the others get its share.
    workers: int = 1
    worker: str = "1"
    worker_session_expiry: str = "60s"

    def validate(self) -> None:
        database = self.database.strip()
        if database:
            scheme, sep, _ = database.partition("://")
            if not sep or scheme.lower() not in ("postgresql", "postgres"):
                raise ValueError("[office] database must be empty (a SQLite file office.db "
                                 "in [office] data_dir) or a postgresql://user:password@host"
                                 "/dbname URL")
        try:
            seconds = parse_duration(self.token_max_valid)
        except ValueError as exc:
            raise ValueError(f"[office] token_max_valid {exc}") from None
        if seconds <= 0:
            raise ValueError("[office] token_max_valid must be longer than zero")
        if self.language not in ("en", "ru", "tr", "vi"):
            raise ValueError("[office] language must be en, ru, tr or vi")
        host, sep, port = self.web_bind.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("[office] web_bind must be ADDRESS:PORT, like 127.0.0.1:8000 "
                             "or [::1]:8000")
        if not 1 <= self.web_workers <= 64:
            raise ValueError("[office] web_workers must be 1-64")
        if bool(self.web_cert_file) != bool(self.web_key_file):
            raise ValueError("[office] web_cert_file and web_key_file go together (TLS): "
                             "set both or neither")
        if not 1 <= self.login_failure_limit <= 1000:
            raise ValueError("[office] login_failure_limit must be 1-1000")
        for name in ("web_hsts", "web_session_age", "login_failure_window", "login_lockout"):
            try:
                value = parse_duration(getattr(self, name))
            except ValueError as exc:
                raise ValueError(f"[office] {name} {exc}") from None
            if value <= 0 and name != "web_hsts":
                raise ValueError(f"[office] {name} must be longer than zero")
        if not 1 <= self.workers <= 64:
            raise ValueError("[office] workers must be 1-64")
        if self.workers > 1 and not database:
            raise ValueError("[office] workers above 1 need PostgreSQL ([office] database): "
                             "a SQLite office store is one process's")
        check_worker_name(self.worker, "[office] worker")
        try:
            expiry = parse_duration(self.worker_session_expiry)
        except ValueError as exc:
            raise ValueError(f"[office] worker_session_expiry {exc}") from None
        if not 1 <= expiry <= 86400:
            raise ValueError("[office] worker_session_expiry must be 1s-24h")

    @property
    def web_tls(self) -> bool:
        return bool(self.web_cert_file)

    def seconds(self, name: str) -> int:
        """A duration key in seconds (``web_session_age``, ``login_lockout``, ...)."""
        return parse_duration(getattr(self, name))

    @property
    def token_max_valid_s(self) -> int:
        return parse_duration(self.token_max_valid)

    @property
    def worker_session_expiry_s(self) -> int:
        return parse_duration(self.worker_session_expiry)


_WORKER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,32}\Z")


def check_worker_name(name: str, what: str) -> None:
    """ValueError unless ``name`` can name an office worker (it becomes part of the MQTT
    client id): 1-32 letters, digits, ``-``, ``_``, ``.``."""
    if not _WORKER_NAME.match(name):
        raise ValueError(f"{what} must be 1-32 letters, digits, '-', '_' or '.', "
                         f"not {name!r}")


@dataclass(frozen=True, kw_only=True)
class Config:
    """The whole configuration file."""

    station: StationConfig = field(default_factory=StationConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    authorization: AuthorizationConfig = field(default_factory=AuthorizationConfig)
    offline: OfflineConfig = field(default_factory=OfflineConfig)
    odometer: OdometerConfig = field(default_factory=OdometerConfig)
    pump_lines: list[PumpLineConfig] = field(default_factory=list)
    readers: list[ReaderConfig] = field(default_factory=list)
    cards: CardsConfig = field(default_factory=CardsConfig)
    office: OfficeConfig = field(default_factory=OfficeConfig)
    office_reports: OfficeReportsConfig = field(default_factory=OfficeReportsConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    flash: FlashConfig = field(default_factory=FlashConfig)
    reports: ReportsConfig = field(default_factory=ReportsConfig)
    roles: RolesConfig = field(default_factory=RolesConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)
    office_jobs: OfficeJobsConfig = field(default_factory=OfficeJobsConfig)
    alarms: AlarmsConfig = field(default_factory=AlarmsConfig)

    def validate(self) -> None:
        ids = [r.id for r in self.readers]
        if len(set(ids)) != len(ids):
            raise ValueError("two [[readers]] share an id")
        numbers = [p.number for line in self.pump_lines for p in line.pumps]
        dupes = sorted({n for n in numbers if numbers.count(n) > 1})
        if dupes:
            raise ValueError(f"pump number {dupes[0]} is configured on more than one line")
    #: The file this configuration came from (``None`` for embedded defaults).
    source: Path | None = None


def find_config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The configuration file to use by the documented precedence, or ``None``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    for candidate in (Path.cwd() / "config.toml", SYSTEM_PATH):
        if candidate.is_file():
            return candidate
    return None


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Find and load the configuration (embedded defaults if no file is found)."""
    path = find_config_path(explicit)
    if path is None:
        return _resolve(Config(), Path.cwd())
    return load_config_file(path)


def load_config_file(path: Path) -> Config:
    """Load one configuration file; every problem names the key and the file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"configuration file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return load_config_dict(raw, path)


def load_config_dict(raw: dict[str, Any], path: Path) -> Config:
    """Build a :class:`Config` from parsed TOML that came from ``path``."""
    try:
        cfg = build(Config, raw, "")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    cfg = dataclasses.replace(cfg, source=path)
    try:
        validate_tree(cfg)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return _resolve(cfg, path.resolve().parent)


def _resolve(cfg: Config, base: Path) -> Config:
    """Resolve relative paths against the folder of the configuration file."""
    station = cfg.station
    data_dir = station.data_dir if station.data_dir.is_absolute() else base / station.data_dir
    sock = station.control_socket
    if sock and not Path(sock).is_absolute():
        sock = str(base / sock)
    office_dir = cfg.office.data_dir
    if not office_dir.is_absolute():
        office_dir = base / office_dir
    key_file = cfg.cards.issuer_key_file
    if key_file and not Path(key_file).is_absolute():
        key_file = str(base / key_file)
    def near(value: str) -> str:
        return str(base / value) if value and not Path(value).is_absolute() else value
    folder = cfg.reports.folder if cfg.reports.folder.is_absolute() else base / cfg.reports.folder
    return dataclasses.replace(
        cfg, station=dataclasses.replace(station, data_dir=data_dir, control_socket=sock),
        cards=dataclasses.replace(cfg.cards, issuer_key_file=key_file),
        office=dataclasses.replace(cfg.office, data_dir=office_dir,
                                   web_cert_file=near(cfg.office.web_cert_file),
                                   web_key_file=near(cfg.office.web_key_file)),
        reports=dataclasses.replace(cfg.reports, folder=folder),
        office_reports=dataclasses.replace(
            cfg.office_reports, folder=near(cfg.office_reports.folder),
            smtp_password_file=near(cfg.office_reports.smtp_password_file)))
