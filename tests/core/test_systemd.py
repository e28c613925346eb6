"""sd_notify against a real Unix datagram socket that plays systemd's notify socket."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from core import systemd


def test_a_notification_reaches_the_socket(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(str(tmp_path / "notify"))
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
        assert systemd.sd_notify("READY=1")
        manager.settimeout(5)
        assert manager.recv(4096) == b"READY=1"


def test_a_manager_that_stops_reading_never_hangs_the_sender(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The receiver's queue full (it holds ``net.unix.max_dgram_qlen`` datagrams): the
    send gives up and says so, rather than block the watchdog's thread or a shutdown."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(str(tmp_path / "notify"))
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
        monkeypatch.setattr(systemd, "SEND_TIMEOUT_S", 0.2)
        results: list[bool] = []

        def ping_until_refused() -> None:
            for _ in range(10_000):  # far more than any queue holds
                results.append(systemd.sd_notify("WATCHDOG=1"))
                if not results[-1]:
                    return

        sender = threading.Thread(target=ping_until_refused, daemon=True)
        sender.start()
        sender.join(timeout=30)
        assert not sender.is_alive(), "sd_notify blocked on a full queue"
        assert results[-1] is False and all(results[:-1]), results[-3:]
        manager.setblocking(False)
        assert manager.recv(4096) == b"WATCHDOG=1"  # what was queued is intact


def test_nothing_is_sent_without_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert systemd.sd_notify("READY=1") is False
