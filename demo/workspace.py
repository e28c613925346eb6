"""The demo's folder: where the office, the station, the stick and every log live.

By default a new temporary folder, removed when the demo succeeds and kept (and named)
when it fails, so its logs can be read. ``--dir DIR`` uses DIR instead (new or empty)
and always keeps it.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from demo.errors import DemoError


@dataclass(frozen=True)
class Workspace:
    """The paths of one demo run, all under ``root``."""

    root: Path
    #: True when the demo made ``root`` itself (a temporary folder it may remove).
    temporary: bool

    @classmethod
    def make(cls, directory: Path | None) -> Workspace:
        if directory is None:
            ws = cls(Path(tempfile.mkdtemp(prefix="forecourt-demo-")).resolve(), True)
        else:
            root = directory.resolve()
            if root.exists() and (not root.is_dir() or any(root.iterdir())):
                raise DemoError(f"--dir {directory} is not an empty folder: the demo needs a "
                                "new or empty one (it writes a whole office and station there)")
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DemoError(f"cannot create the folder {directory}: "
                                f"{exc.strerror or exc}") from None
            ws = cls(root, False)
        for folder in (ws.logs, ws.stick):
            folder.mkdir()
        return ws

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def station_dir(self) -> Path:
        return self.root / "station"

    @property
    def office_dir(self) -> Path:
        return self.root / "office"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def stick(self) -> Path:
        """The "USB flash drive" of the flash-drive path: a plain folder here."""
        return self.root / "stick"

    @property
    def cards_file(self) -> Path:
        return self.root / "demo-cards.json"

    def tty(self, name: str) -> Path:
        """Where the pseudo-terminal ``name`` is linked (pumps, swipe, qr1, qr2)."""
        return self.root / f"{name}.tty"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
