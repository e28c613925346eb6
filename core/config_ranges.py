"""The documented range of every integer key of the configuration (issue 10 #8).

``core.config`` checks each integer it reads against this table, naming the key:
``[authorization] max_fill_ml must be at most 10000000, got 9223372036854775807``.
A key not listed here (say, one added later) still has to lie in
``0..DEFAULT_MAX``, so no configured integer can overflow SQLite's 64-bit INTEGER or
a product with a price. Keys whose ``validate()`` already checks a tighter range
(pump number and address, decimals, MQTT port) are not repeated here.
config.toml documents each range next to its key.
"""

from __future__ import annotations

from core.bounds import MAX_SAFE_INT

#: Any configured integer without its own range: 0..2**53-1.
DEFAULT_RANGE = (0, MAX_SAFE_INT)
#: The largest fill of one authorization, ml (a road tanker's 10 000 l).
MAX_FILL_ML = 10_000_000
#: Durations (``max_data_age`` and the like), seconds: ten years.
MAX_DURATION_S = 3650 * 86400

#: (dataclass name, key) -> (smallest, largest) value.
INT_RANGES: dict[tuple[str, str], tuple[int, int]] = {
    ("StationConfig", "currency_decimals"): (-1, 4),       # -1: from the ISO 4217 table
    ("StationConfig", "min_free_mb"): (1, 10_000_000),
    ("StationConfig", "disk_reserve_mb"): (0, 100_000),
    ("OdometerConfig", "max_step_km"): (1, 10_000_000),     # the journal's largest reading
    ("AuthorizationConfig", "max_fill_ml"): (1, MAX_FILL_ML),
    ("AuthorizationConfig", "min_preset_ml"): (0, MAX_FILL_ML),
    ("AuthorizationConfig", "pin_max_tries"): (1, 100),
    ("OfflineConfig", "stale_fill_cap_ml"): (0, MAX_FILL_ML),
    ("PumpLineConfig", "baudrate"): (50, 4_000_000),
    ("PumpLineConfig", "response_timeout_ms"): (1, 60_000),
    ("PumpLineConfig", "retries"): (0, 100),
    ("PumpLineConfig", "offline_after"): (1, 1000),
    ("ReaderConfig", "baudrate"): (50, 4_000_000),
    ("ReaderConfig", "debounce_ms"): (0, 60_000),
    ("MqttConfig", "keepalive_s"): (5, 65_535),             # MQTT's two-byte field
    ("MqttConfig", "session_expiry_s"): (0, 4_294_967_295),  # MQTT 5's four-byte field
    ("MqttConfig", "reconnect_min_s"): (1, 3600),
    ("MqttConfig", "reconnect_max_s"): (1, 86_400),
    ("MqttConfig", "batch_max_sales"): (1, 100_000),
    ("MqttConfig", "batch_max_bytes"): (4096, 268_435_455),  # MQTT's largest packet
    ("MqttConfig", "receipt_timeout_s"): (1, 3600),
    ("AlarmsConfig", "disk_min_free_percent"): (0, 100),
    ("OfficeReportsConfig", "churn_days"): (1, 3650),
    ("OfficeReportsConfig", "odometer_max_step_km"): (1, 10_000_000),
    ("OfficeReportsConfig", "credit_due_days"): (0, 3650),
}


def int_range(cls_name: str, key: str) -> tuple[int, int]:
    """The range of integer ``key`` of config dataclass ``cls_name``."""
    return INT_RANGES.get((cls_name, key), DEFAULT_RANGE)
