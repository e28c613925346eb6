"""The daemon's control socket: a Unix stream socket speaking JSON lines.

Request: ``{"op": "sale.authorize", "args": {...}, "actor": "cli:alice"}``; ``actor`` is
only the client's word (kept as ``via``): the daemon knows the caller's Unix user and
groups from the kernel and checks its role (edge.roles).
Answer: ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "one sentence",
"code": "sale_error"}``. One request per connection.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from core.errors import AccessError, ControlError, ForecourtError

MAX_MESSAGE = 1 << 20


class RemoteError(ForecourtError):
    """The daemon refused the request; carries the daemon's sentence and code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class DaemonNotRunning(Exception):
    """No daemon answers on the socket (absent or stale socket file)."""


def call(path: Path, op: str, args: dict[str, Any], *, actor: str,
         timeout: float = 60.0) -> Any:
    """Send one request to the daemon and return its result (or raise its error)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise DaemonNotRunning(str(path)) from None
        except PermissionError:
            # The socket's mode lets only its group in ([roles] socket_group).
            raise AccessError(f"you may not connect to the station daemon's control socket "
                              f"{path}: only members of its group may ([roles] "
                              "socket_group; docs/operations.md, Roles)") from None
        sock.sendall(json.dumps({"op": op, "args": args, "actor": actor}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if len(data) > MAX_MESSAGE:
                raise ControlError("the daemon's answer is too large")
    except TimeoutError:
        raise ControlError(f"the daemon did not answer within {timeout:.0f} s") from None
    except OSError as exc:
        raise ControlError(f"cannot talk to the daemon on {path}: {exc.strerror}") from None
    finally:
        sock.close()
    try:
        answer = json.loads(data)
    except json.JSONDecodeError:
        raise ControlError("the daemon closed the connection without an answer") from None
    if not answer.get("ok"):
        raise RemoteError(str(answer.get("error", "the daemon refused")),
                          str(answer.get("code", "error")))
    return answer.get("result")
