"""A params mapping read into the config dataclasses, and the checks of single values.

:func:`build` follows a dataclass's fields and type hints: it refuses unknown and missing
keys and values of the wrong type, naming the dotted key. The section modules validate
values with the range checks below; every refusal is one :class:`ConfigError` whose
message starts with the key at fault.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any

from genrevae.errors import ConfigError

# Bounds on sizes: values beyond them are typos (an extra zero) that would otherwise run for
# hours or fill the disk before anything fails. Each section module holds its own bounds;
# this one is shared by data.synthetic and features.
SAMPLE_RATE_RANGE = (8000, 192000)


def fail(key: str, message: str) -> typing.NoReturn:
    raise ConfigError(f"{key}: {message}")


def build(cls: type, raw: Any, prefix: str) -> Any:
    """The dataclass ``cls`` from the mapping ``raw``, whose keys sit under ``prefix``
    (``"model."``; ``""`` at the top level)."""
    if not isinstance(raw, Mapping):
        fail(prefix.rstrip(".") or "<root>", f"expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        fail(prefix + str(unknown[0]), "unknown key")
    values = {}
    for f in dataclasses.fields(cls):
        key = prefix + f.name
        if f.name not in raw:
            if f.default is dataclasses.MISSING:
                fail(key, "missing")
            continue
        values[f.name] = _coerce(hints[f.name], raw[f.name], key)
    return cls(**values)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key + ".")
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, key)
    if origin is dict:
        if not isinstance(value, Mapping):
            fail(key, f"expected a mapping, got {value!r}")
        for k in value:
            _coerce(str, str(k), f"{key} key {str(k)!r}")
        return {str(k): _coerce(str, v, f"{key}.{k}") for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, list | tuple):
            fail(key, f"expected a list, got {value!r}")
        (item,) = typing.get_args(tp)[:1]
        return tuple(_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            fail(key, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail(key, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            fail(key, f"expected a number, got {value!r}")
        # NaN passes every `<` check of the sections and inf every `>` check; refuse both
        # here, once.
        number = float(value) if isinstance(value, float) or abs(value) < 2**1023 else math.inf
        if not math.isfinite(number):
            fail(key, f"must be a finite number, got {value!r}")
        return number
    if tp is str:
        if not isinstance(value, str):
            fail(key, f"expected a string, got {value!r}")
        # No path, name or pattern holds one; the OS refuses it in a path with a traceback.
        if "\x00" in value:
            fail(key, f"must not hold a NUL character, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp!r} for {key}")  # a bug in a section module


def positive(key: str, value: float) -> None:
    if value <= 0:
        fail(key, f"must be positive, got {value!r}")


def non_negative(key: str, value: float) -> None:
    if value < 0:
        fail(key, f"must be >= 0, got {value!r}")


def at_most(key: str, value: float, limit: float) -> None:
    if value > limit:
        fail(key, f"must be <= {limit:g}, got {value!r}")


def in_range(key: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        fail(key, f"must be in [{low:g}, {high:g}], got {value!r}")


def one_of(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        fail(key, f"must be one of {', '.join(choices)}; got {value!r}")
