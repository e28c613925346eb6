"""Running the real ``forecourt`` commands for the demo, as an operator would type them."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from demo.children import Child, Children
from demo.errors import DemoError


def forecourt_argv() -> list[str]:
    """The ``forecourt`` console script next to this Python (else ``python -m cli``)."""
    exe = shutil.which("forecourt", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "cli"]


def _sentence(text: str) -> str:
    """The last line of a command's error output, without click's ``Error: ``."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    last = lines[-1] if lines else "no message"
    return last.removeprefix("Error: ")


class Forecourt:
    """``forecourt --config CONFIG ...`` through the demo's :class:`Children`."""

    def __init__(self, children: Children, config: Path) -> None:
        self.children = children
        self.config = config
        self.exe = forecourt_argv()

    def argv(self, *args: str) -> list[str]:
        return [*self.exe, "--config", str(self.config), *args]

    def run(self, what: str, *args: str, stdin: str | None = None) -> str:
        """The command's standard output; DemoError naming ``what`` if it fails."""
        result = self.children.run(self.argv(*args), stdin=stdin)
        if result.returncode != 0:
            raise DemoError(f"{what} failed: {_sentence(result.stderr or result.stdout)}")
        return result.stdout

    def json(self, what: str, *args: str) -> Any:
        out = self.run(what, *args, "--json")
        try:
            return json.loads(out)
        except ValueError:
            raise DemoError(f"{what} printed no JSON document: {out[:200]!r}") from None

    def start(self, name: str, *args: str, log: Path, stdin: bool = False) -> Child:
        return self.children.start(name, self.argv(*args), log=log, stdin=stdin)
