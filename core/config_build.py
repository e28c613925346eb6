"""Building the typed configuration from a TOML document (core.config's loader).

Every key is checked where it enters: an unknown key, a value of the wrong type, an
integer outside its documented range (core.config_ranges) or text that cannot be
shown on an operator's terminal is a ValueError or TypeError naming the key as
``[section] key``; core.config turns it into one ConfigError sentence with the file.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

from core.bounds import text_problem
from core.config_ranges import int_range

#: Longest text value (a path, a name, a host) of the configuration, characters.
MAX_CONFIG_TEXT = 4096


def validate_tree(obj: Any) -> None:
    """Run every ``validate()`` of a built configuration, inner sections first."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            validate_tree(value)
        elif isinstance(value, list):
            for item in value:
                if dataclasses.is_dataclass(item):
                    validate_tree(item)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()


_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", float: "a number",
               Path: "a path string"}


def _toml_type(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


def build(cls: type[Any], raw: Any, where: str) -> Any:
    """An instance of config dataclass ``cls`` from the TOML table ``raw`` at ``where``:
    unknown keys, wrong types, integers out of range and unshowable text are refused,
    naming the key."""
    if not isinstance(raw, dict):
        raise TypeError(f"[{where}] must be a table, got {_toml_type(raw)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.name != "source"}
    for key in raw:
        if key not in names:
            dotted = f"{where}.{key}" if where else key
            raise ValueError(f"unknown key {_key(dotted)}")
    kwargs = {}
    for key, value in raw.items():
        dotted = f"{where}.{key}" if where else key
        kwargs[key] = _convert(hints[key], value, dotted)
        if hints[key] is int:
            low, high = int_range(cls.__name__, key)
            if not low <= value <= high:
                bound = f"at least {low}" if value < low else f"at most {high}"
                raise ValueError(f"{_key(dotted)} must be {bound}, got {value}")
    return cls(**kwargs)


def _key(dotted: str) -> str:
    section, _, name = dotted.rpartition(".")
    return f"[{section}] {name}" if section else dotted


def _convert(hint: Any, value: Any, dotted: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, dotted)  # type: ignore[arg-type]
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise TypeError(f"{_key(dotted)} must be an array, got {_toml_type(value)}")
        return [_convert(item, v, f"{dotted}[{i}]") for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(args[0], value, dotted)
    expected = _TYPE_NAMES.get(hint, str(hint))
    if hint in (str, Path) and isinstance(value, str):
        # Shown to operators (status), logged, used as paths and topics: one line of
        # text, nothing that acts on a terminal (issue 10 #10).
        problem = text_problem(value, MAX_CONFIG_TEXT)
        if problem:
            raise ValueError(f"{_key(dotted)} {problem}")
    if hint is Path:
        if not isinstance(value, str):
            raise TypeError(f"{_key(dotted)} must be {expected}, got {_toml_type(value)}")
        return Path(value)
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"{_key(dotted)} must be {expected}, got {_toml_type(value)}")
    if not isinstance(value, hint):
        raise TypeError(f"{_key(dotted)} must be {expected}, got {_toml_type(value)}")
    return value
