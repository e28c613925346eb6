"""Every report by name: what it is called, what it takes, and the function that runs it.

A report module registers its reports with :func:`report`; :func:`run` checks the
options against the report's own (``--per`` of a report that has no dimensions is
refused, not ignored) and runs it on the office store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module

from core.config_reports import OfficeReportsConfig
from office.reports.base import Report, ReportError
from office.reports.params import Params, parse
from office.store import OfficeConnection

Runner = Callable[[OfficeConnection, Params], Report]
#: The modules whose reports are registered (imported on first use).
MODULES = ("consumption", "customers", "stations", "loyalty", "vouchers", "exceptions",
           "accounts")


@dataclass(frozen=True)
class Spec:
    """One report: its name, title, one-line description, options and dimensions."""

    name: str
    title: str
    about: str
    options: tuple[str, ...]
    per: tuple[str, ...]
    runner: Runner

    @property
    def module(self) -> str:
        return str(self.runner.__module__).rsplit(".", 1)[-1]


_SPECS: dict[str, Spec] = {}
_LOADED: list[bool] = []


def report(name: str, title: str, about: str, *, options: tuple[str, ...],
           per: tuple[str, ...] = ()) -> Callable[[Runner], Runner]:
    """Register the decorated function as report ``name``."""
    def register(func: Runner) -> Runner:
        if name in _SPECS:
            raise RuntimeError(f"report {name} registered twice")
        _SPECS[name] = Spec(name, title, about, options, per, func)
        return func
    return register


def specs() -> dict[str, Spec]:
    """Every registered report, by name, in the order of :data:`MODULES`."""
    if not _LOADED:  # every module, even when one was imported directly before
        _LOADED.append(True)
        for module in MODULES:
            import_module(f"office.reports.{module}")
    order = {name: i for i, name in enumerate(MODULES)}
    return dict(sorted(_SPECS.items(), key=lambda item: order[item[1].module]))


def spec(name: str) -> Spec:
    found = specs().get(name)
    if found is None:
        raise ReportError(f"there is no report {name!r}; the reports are "
                          f"{', '.join(sorted(specs()))}")
    return found


def params_for(name: str, options: Mapping[str, str | None], config: OfficeReportsConfig, *,
               now: datetime | None = None) -> Params:
    """``options`` checked for report ``name``."""
    s = spec(name)
    return parse(options, config, accepted=s.options, per=s.per, now=now)


def run(conn: OfficeConnection, name: str, options: Mapping[str, str | None],
        config: OfficeReportsConfig, *, now: datetime | None = None) -> Report:
    """Report ``name`` for ``options`` (text, as typed), on the office store."""
    return spec(name).runner(conn, params_for(name, options, config, now=now))
