"""Typed dataclass configs that round-trip to plain dicts, JSON and YAML.

Unknown keys are an error (a typo in a recipe must not be silently ignored); nested dataclass
fields are rebuilt from nested dicts.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from voxemo.errors import ConfigError

C = TypeVar("C", bound="Config")


def _dataclass_type(tp: Any) -> type | None:
    """The dataclass inside ``tp`` (also through ``X | None``), if any."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if dataclasses.is_dataclass(arg) and isinstance(arg, type):
                return arg
    return None


@dataclasses.dataclass
class Config:
    """Base class: subclass it as a dataclass to get dict/JSON/YAML round-trips."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any] | None) -> C:
        data = dict(data or {})
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(
                f"{cls.__name__}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(names))}"
            )
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            sub = _dataclass_type(hints.get(key))
            if sub is not None and isinstance(value, dict):
                value = sub.from_dict(value) if issubclass(sub, Config) else sub(**value)
            elif isinstance(value, list) and typing.get_origin(hints.get(key)) is tuple:
                value = tuple(value)
            kwargs[key] = value
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{cls.__name__}: {exc}") from exc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls: type[C], text: str) -> C:
        return cls.from_dict(json.loads(text))

    def to_yaml(self) -> str:
        return yaml.safe_dump(_plain(self.to_dict()), sort_keys=False)

    @classmethod
    def from_yaml(cls: type[C], text: str) -> C:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{cls.__name__}: invalid YAML: {exc}") from exc
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__}: expected a mapping at the top of the YAML file")
        return cls.from_dict(data)

    @classmethod
    def load(cls: type[C], path: str | Path) -> C:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        text = path.read_text(encoding="utf-8")
        return cls.from_json(text) if path.suffix == ".json" else cls.from_yaml(text)

    def save(self, path: str | Path) -> None:
        from voxemo.io import atomic_write_text

        path = Path(path)
        atomic_write_text(path, self.to_json() if path.suffix == ".json" else self.to_yaml())

    def replace(self: C, **changes: Any) -> C:
        return dataclasses.replace(self, **changes)


def _plain(value: Any) -> Any:
    """Tuples -> lists so YAML stays free of python-specific tags."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
