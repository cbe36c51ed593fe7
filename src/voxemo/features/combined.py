"""Several utterance-level extractors side by side, as one vector (a large "functionals" set).

``combined`` runs each of its ``parts`` on the same signal and concatenates the results, so a
model can take, say, eGeMAPS plus MFCC and log-mel statistics without a new extractor class. The
default parts form voxemo's large functionals set (1346 values: eGeMAPS, prosody and voice quality,
and statistics of MFCC, log-mel, spectral contrast and chroma), in the spirit of openSMILE's
ComParE set: many low-level descriptors times many statistics, left to the classifier to weigh.
Options of a part go in ``part_params`` under the part's name::

    get_extractor("combined", parts=["egemaps", "mfcc-stats"], part_params={"mfcc-stats": {"n_mfcc": 20}})
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from voxemo.errors import ConfigError
from voxemo.features.base import FeatureExtractor
from voxemo.features.registry import FEATURES, get_extractor, register_feature

DEFAULT_PARTS: tuple[str, ...] = (
    "egemaps",
    "prosody",
    "mfcc-stats",
    "logmel-stats",
    "contrast-stats",
    "chroma-stats",
)


@register_feature("combined")
class Combined(FeatureExtractor):
    """Concatenation of utterance-level extractors (default: the large functionals set)."""

    level = "utterance"
    description = "utterance sets side by side (default: eGeMAPS, prosody, MFCC/mel/contrast/chroma stats)"
    version = "1"

    @dataclasses.dataclass
    class Config(FeatureExtractor.Config):
        parts: tuple[str, ...] = DEFAULT_PARTS
        #: Options per part, keyed by the part's name.
        part_params: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        params = self.config.part_params
        self.parts = [get_extractor(name, **params.get(name, {})) for name in self.config.parts]
        flat = [part.name for part in self.parts if part.level != "utterance"]
        if flat:
            raise ConfigError(
                f"{self.name}: parts must be utterance level; {', '.join(flat)} is frame level "
                f"(use '{flat[0]}-stats')"
            )

    def check_config(self) -> None:
        super().check_config()
        parts = tuple(self.config.parts)
        self.config.parts = parts
        if not parts:
            raise ConfigError(f"{self.name}: give at least one part, e.g. parts=['egemaps', 'mfcc-stats']")
        if len(set(parts)) != len(parts):
            raise ConfigError(f"{self.name}: a part is listed twice in {list(parts)}")
        for name in parts:
            if name == self.name or name not in FEATURES:
                raise ConfigError(
                    f"{self.name}: {name!r} cannot be a part; choose from "
                    f"{', '.join(sorted(FEATURES.names()))} (except {self.name!r})"
                )
        unused = set(self.config.part_params) - set(parts)
        if unused:
            raise ConfigError(f"{self.name}: part_params for {sorted(unused)}, which are not among the parts")

    def compute(self, x: np.ndarray) -> np.ndarray:
        # The signal is decoded and resampled once (to config.sample_rate) for all parts; a part
        # working at another rate resamples from there.
        return np.concatenate([part.extract(x, int(self.config.sample_rate)) for part in self.parts])

    def required_duration(self) -> float:
        return max(part.required_duration() for part in self.parts)

    def feature_names(self) -> list[str]:
        return [f"{part.name}.{name}" for part in self.parts for name in part.feature_names()]

    @property
    def dim(self) -> int:
        return sum(part.dim for part in self.parts)

    def cache_key(self) -> str:
        # The parts' keys carry their versions and options, so changing a part invalidates this.
        return "|".join([super().cache_key(), *(part.cache_key() for part in self.parts)])

    def pinned_params(self) -> dict[str, Any]:
        # Expressed as config (part_params), so it merges into feature_params like any other pin.
        pinned = {part.name: pins for part in self.parts if (pins := part.pinned_params())}
        if not pinned:
            return {}
        params = {name: dict(values) for name, values in self.config.part_params.items()}
        for name, pins in pinned.items():
            params[name] = {**params.get(name, {}), **pins}
        return {"part_params": params}

    def load_dependencies(self) -> None:
        for part in self.parts:
            part.load_dependencies()
