"""Setting up both sides with their own first commands, as the install guide has them.

The head office: ``office init`` (store and signing key), a console administrator
(there is no default password), the card set. The station: ``init`` (database and key
pair), the same card set. Then each learns the other's public key: the station's
config names the office's key, the office enrols the station with its key. The two
sides are independent until then, so they are set up side by side.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from demo.commands import Forecourt
from demo.configfile import STATION_ID, Ports, write_config
from demo.errors import DemoError
from demo.workspace import Workspace

#: The console's demo administrator (its password is made for each run).
CONSOLE_USER = "demo"


@dataclass(frozen=True)
class Keys:
    office: str
    station: str


def side_by_side(*steps: Callable[[], None]) -> None:
    """Run ``steps`` in threads; raise the first DemoError any of them raised."""
    errors: list[BaseException] = []

    def guarded(step: Callable[[], None]) -> None:
        try:
            step()
        except BaseException as exc:  # reported to the caller, never lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(s,), daemon=True) for s in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
    for exc in errors:
        raise exc if isinstance(exc, DemoError) else DemoError(
            f"setting up failed: {type(exc).__name__}: {exc}")


def prepare(fc: Forecourt, ws: Workspace, ports: Ports, password: str) -> Keys:
    keys: dict[str, str] = {}
    cards = str(ws.cards_file)

    def office() -> None:
        fc.run("forecourt office init", "office", "init")
        keys["office"] = fc.run("forecourt office keys show", "office", "keys", "show").strip()
        fc.run("forecourt office users add", "office", "users", "add", CONSOLE_USER, "--admin",
               "--password-stdin", stdin=password + "\n")
        fc.run("forecourt office cards import", "office", "cards", "import", cards)

    def station() -> None:
        fc.run("forecourt init", "init")
        fc.run("forecourt cards import", "cards", "import", cards)
        keys["station"] = fc.run("forecourt keys show", "keys", "show").strip()

    side_by_side(office, station)
    write_config(ws, ports, office_key=keys["office"])
    fc.run("forecourt office station add", "office", "station", "add", STATION_ID,
           "--public-key", keys["station"])
    return Keys(keys["office"], keys["station"])
