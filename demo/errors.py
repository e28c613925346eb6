"""The demo's failures: one sentence each, naming the step that failed."""

from __future__ import annotations

from core.errors import ForecourtError


class DemoError(ForecourtError):
    """A step of the demo failed (a command refused, a process died, a wait ran out)."""

    code = "demo_failed"


class Interrupted(BaseException):
    """A stop signal arrived (SIGINT, SIGTERM, SIGHUP): unwind, stopping everything.

    A BaseException so that no ``except Exception`` on the way swallows it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
