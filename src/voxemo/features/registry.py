"""The registry of feature extractors: ``@register_feature("name")`` and lookups by name.

Registering a frame-level extractor also registers ``"<name>-stats"``, its utterance-level
statistics (see :mod:`voxemo.features.stats`), so a new frame extractor needs no other edit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from voxemo.errors import ConfigError, RegistryError
from voxemo.features.base import LEVELS, FeatureExtractor
from voxemo.registry import Registry

FEATURES = Registry[type[FeatureExtractor]]("feature extractor")

ExtractorClass = type[FeatureExtractor]


def register_feature(name: str) -> Callable[[ExtractorClass], ExtractorClass]:
    """Class decorator: register an extractor under ``name`` (and ``name-stats`` if frame level)."""

    def decorator(cls: ExtractorClass) -> ExtractorClass:
        if not (isinstance(cls, type) and issubclass(cls, FeatureExtractor)):
            raise RegistryError(f"feature extractor {name!r}: {cls!r} is not a FeatureExtractor subclass")
        if cls.level not in LEVELS:
            raise RegistryError(
                f"feature extractor {name!r}: level must be one of {LEVELS}, got {cls.level!r}"
            )
        cls.name = name.lower()
        FEATURES.register(name)(cls)
        if cls.level == "frame":
            from voxemo.features.stats import make_stats_extractor

            stats_cls = make_stats_extractor(cls)
            FEATURES.register(stats_cls.name)(stats_cls)
        return cls

    return decorator


def get_extractor(name: str, **config: Any) -> FeatureExtractor:
    """Build the extractor registered as ``name`` with config overrides (ConfigError for bad keys)."""
    cls = FEATURES.get(name)
    try:
        return cls(**config)
    except ConfigError as exc:
        raise ConfigError(f"feature extractor {name!r}: {exc}") from None


@dataclass(frozen=True)
class FeatureInfo:
    """One line of ``voxemo features --list``."""

    name: str
    level: str
    dim: int
    description: str


def list_features() -> list[FeatureInfo]:
    """Every registered extractor with its level, default dimension and a one-line description."""
    infos = []
    for name, cls in FEATURES.items():
        infos.append(FeatureInfo(name, cls.level, cls().dim, cls.description))
    return infos
