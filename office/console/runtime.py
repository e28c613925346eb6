"""The configuration the console's views act with (publishing card changes needs
``[mqtt]`` and the office's key). ``forecourt office web`` sets it before serving; the
embedded defaults (``[mqtt]`` off) apply until then."""

from __future__ import annotations

from core.config import Config

_config: Config | None = None


def set_config(config: Config | None) -> None:
    global _config  # noqa: PLW0603 - one configuration per process
    _config = config


def config() -> Config:
    return _config if _config is not None else Config()
