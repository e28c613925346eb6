"""Card readers, by driver name, loaded lazily (a missing library fails only its driver).

Driver names and device grammar (``[[readers]] driver`` and ``device``):

| driver | device | library |
|---|---|---|
| ``pcsc`` | PC/SC reader name or a prefix of it (``""`` = the first reader) | pyscard |
| ``nfc`` | nfcpy path: ``usb:VID:PID``, ``tty:USB0:pn532``, ``udp:HOST:PORT`` | nfcpy |
| ``magstripe-serial`` | serial port or pyserial URL | pyserial |
| ``magstripe-hid`` | ``/dev/input/eventN`` of a keyboard-wedge reader | evdev |
| ``qr-serial`` | serial port or pyserial URL of a QR scanner | pyserial |
"""

from __future__ import annotations

import importlib
from typing import Any

from core.errors import DriverNotAvailableError

BACKENDS: dict[str, tuple[str, str]] = {
    "pcsc": ("drivers.readers.pcsc", "PcscReader"),
    "nfc": ("drivers.readers.nfc", "NfcReader"),
    "magstripe-serial": ("drivers.readers.magstripe", "SerialMagstripeReader"),
    "magstripe-hid": ("drivers.readers.magstripe", "HidMagstripeReader"),
    "qr-serial": ("drivers.readers.qr", "SerialQrReader"),
}


def reader_class(driver: str) -> Any:
    """The reader class of ``driver``; DriverNotAvailableError if unknown or not loadable."""
    if driver not in BACKENDS:
        raise DriverNotAvailableError(
            f"unknown reader driver {driver!r} (known: {', '.join(BACKENDS)})")
    module_name, class_name = BACKENDS[driver]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DriverNotAvailableError(
            f"reader driver {driver!r} is not available: {exc}") from None
    return getattr(module, class_name)
