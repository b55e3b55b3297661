"""Typed config loader: YAML and dicts into frozen dataclasses.

The loader (:func:`from_dict`, :func:`load_yaml`) takes each key's type
from the dataclass field, converts what is safe to convert (a YAML list
into a tuple, an int into a float), rejects unknown keys and values of
the wrong type, and names the offending key and file in the error, so a
typo in a config never silently falls back to a default. It lives here,
torch-free, so the runtime (the engine's fitted settings,
:mod:`denovo.core.settings`) and the torch side (model, loss and training
configs) share one loader.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

__all__ = [
    "ConfigError",
    "from_dict",
    "to_dict",
    "load_yaml",
    "read_yaml",
    "apply_overrides",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration key is unknown, missing or has the wrong type."""


def _convert(value: Any, kind: Any, where: str) -> Any:
    """Check/convert ``value`` to the annotated type ``kind``."""
    origin = typing.get_origin(kind)
    if kind is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: bad value")
    if dataclasses.is_dataclass(kind):
        if isinstance(value, kind):
            return value
        return from_dict(kind, value, source=where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{where}[{i}]")
                         for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} values, got "
                              f"{len(value)}")
        pairs = zip(args, value, strict=True)
        return tuple(_convert(v, a, f"{where}[{i}]")
                     for i, (a, v) in enumerate(pairs))
    if kind is dict or origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got "
                              f"{value!r}")
        args = typing.get_args(kind)
        if len(args) != 2:
            return dict(value)
        return {_convert(k, args[0], f"{where} key"):
                _convert(v, args[1], f"{where}[{k!r}]")
                for k, v in value.items()}
    if origin is typing.Literal:
        if value not in typing.get_args(kind):
            raise ConfigError(f"{where}: {value!r} is not one of "
                              f"{typing.get_args(kind)}")
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got "
                              f"{value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got "
                              f"{value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported field type {kind!r}")


def from_dict(cls: type[T], data: Mapping[str, Any], *,
              source: str = "config", partial: bool = True) -> T:
    """Build dataclass ``cls`` from a mapping, checking keys and types.

    Parameters
    ----------
    cls
        A (frozen) dataclass type whose fields carry type annotations.
    data
        Values overriding the defaults.
    source
        Where ``data`` came from (file and section), used in errors.
    partial
        If False, every field must be given (used for checkpoints, whose
        configs must be complete); if True, missing keys keep defaults.

    Raises
    ------
    ConfigError
        For an unknown key, a missing key (``partial=False``), a value
        of the wrong type or a value the dataclass itself rejects.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping of keys to "
                          f"values, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)} "
                          f"for {cls.__name__} (known: "
                          f"{', '.join(names)})")
    missing = [n for n in names if n not in data]
    if missing and not partial:
        raise ConfigError(f"{source}: missing key(s) {', '.join(missing)} "
                          f"for {cls.__name__}")
    values = {name: _convert(data[name], hints[name], f"{source}: {name}")
              for name in names if name in data}
    try:
        return cls(**values)
    except (ConfigError, TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {exc}") from None


def to_dict(config: Any) -> dict:
    """Plain-data (JSON/YAML-ready) dict of a config dataclass."""
    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value
    return plain(dataclasses.asdict(config))


def read_yaml(path: str | Path):
    """Parsed YAML of ``path`` ({} when empty); errors name the file."""
    try:
        with Path(path).open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return {} if data is None else data


def apply_overrides(data: Mapping, overrides) -> dict:
    """Return ``data`` with ``KEY.PATH=VALUE`` settings applied.

    Values are parsed as YAML scalars (``1``, ``0.5``, ``false``); ``*``
    in a path stands for every entry of a list, so
    ``curriculum.*.loss.spectrum_weight=0`` switches a loss off in every
    stage. Missing mappings are created; unknown keys are left for the
    config loaders to reject.
    """
    data = copy.deepcopy(dict(data))
    for item in overrides:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(f"override {item!r}: expected KEY.PATH=VALUE")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: bad value ({exc})"
                              ) from None
        if isinstance(value, str):  # YAML 1.1 reads 5e-4 as a string
            try:
                value = float(value)
            except ValueError:
                pass
        _set_path(data, parts, value, item)
    return data


def _set_path(node, parts: list[str], value, item: str) -> None:
    head, rest = parts[0], parts[1:]
    if head == "*":
        if not isinstance(node, list):
            raise ConfigError(f"override {item!r}: '*' needs a list")
        keys = range(len(node))
    elif isinstance(node, dict):
        keys = [head]
    else:
        raise ConfigError(f"override {item!r}: {head!r} is not inside a "
                          "mapping")
    for key in keys:
        if not rest:
            node[key] = value
            continue
        if isinstance(node, dict) and node.get(key) is None:
            node[key] = {}
        _set_path(node[key], rest, value, item)


def load_yaml(path: str | Path, cls: type[T], *,
              section: str | None = None) -> T:
    """Load ``cls`` from a YAML file (or one top-level ``section`` of it).

    Keys absent from the file keep the dataclass defaults; an empty file
    (or section) yields the defaults.
    """
    path = Path(path)
    data = read_yaml(path)
    source = str(path)
    if section is not None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: expected a mapping at top level")
        source = f"{path} [{section}]"
        data = data.get(section) or {}
    return from_dict(cls, data, source=source)
