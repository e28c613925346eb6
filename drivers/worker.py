"""One background thread per device: started, asked to stop, joined."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Worker:
    """Runs ``target`` in a named daemon thread; ``stopped`` is set by :meth:`stop`.

    The target loops ``while not worker.stopped.is_set()`` and waits on ``stopped``
    (not ``time.sleep``) so that a stop request ends any pause at once.
    """

    def __init__(self, name: str, target: Callable[[], None]) -> None:
        self.name = name
        self.target = target
        self.stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.stopped.clear()
        self._thread = threading.Thread(target=self.target, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    @property
    def ident(self) -> int | None:
        """The thread's identifier while it runs (``threading.get_ident()`` in it)."""
        return self._thread.ident if self._thread is not None else None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
