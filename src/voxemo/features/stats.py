"""Utterance statistics ("functionals") of any frame-level extractor.

For every registered frame-level extractor ``X`` the registry also holds ``X-stats``: it runs ``X``
and summarises each dimension over time with the configured functionals (mean, std, min, max,
percentiles ``pNN``, skew, kurtosis, slope per second). Output order is functional-major: all
dimensions' means, then all standard deviations, and so on; ``feature_names()`` says which is which.

Options of the frame extractor can be given directly: ``get_extractor("mfcc-stats", n_mfcc=20)``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from voxemo import config as config_module
from voxemo.errors import ConfigError, FeatureError
from voxemo.features.base import FeatureExtractor
from voxemo.registry import Registry

#: A functional maps frames ``(T, D)`` (float64) and the frame rate to one value per dimension.
Functional = Callable[[np.ndarray, float], np.ndarray]
FUNCTIONALS = Registry[Functional]("statistic")

DEFAULT_FUNCTIONALS: tuple[str, ...] = (
    "mean",
    "std",
    "min",
    "max",
    "p10",
    "p50",
    "p90",
    "skew",
    "kurtosis",
    "slope",
)
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")
#: Variance below this counts as a constant signal: skew and kurtosis are then 0, not NaN.
_FLAT_VARIANCE = 1e-12


@FUNCTIONALS.register("mean")
def _mean(frames: np.ndarray, frame_rate: float) -> np.ndarray:
    return frames.mean(axis=0)


@FUNCTIONALS.register("std")
def _std(frames: np.ndarray, frame_rate: float) -> np.ndarray:
    return frames.std(axis=0)


@FUNCTIONALS.register("min")
def _min(frames: np.ndarray, frame_rate: float) -> np.ndarray:
    return frames.min(axis=0)


@FUNCTIONALS.register("max")
def _max(frames: np.ndarray, frame_rate: float) -> np.ndarray:
    return frames.max(axis=0)


@FUNCTIONALS.register("range")
def _range(frames: np.ndarray, frame_rate: float) -> np.ndarray:
    return frames.max(axis=0) - frames.min(axis=0)


def _central_moment_ratio(frames: np.ndarray, order: int) -> np.ndarray:
    centred = frames - frames.mean(axis=0)
    variance = (centred**2).mean(axis=0)
    flat = variance < _FLAT_VARIANCE
    moment = (centred**order).mean(axis=0)
    return np.where(flat, 0.0, moment / np.where(flat, 1.0, variance) ** (order / 2))


@FUNCTIONALS.register("skew")
def _skew(frames: np.ndarray, frame_rate: float) -> np.ndarray:
    return _central_moment_ratio(frames, 3)


@FUNCTIONALS.register("kurtosis")
def _kurtosis(frames: np.ndarray, frame_rate: float) -> np.ndarray:
    """Excess kurtosis (0 for a normal distribution and for a constant signal)."""
    ratio = _central_moment_ratio(frames, 4)
    return np.where(ratio == 0.0, 0.0, ratio - 3.0)


@FUNCTIONALS.register("slope")
def _slope(frames: np.ndarray, frame_rate: float) -> np.ndarray:
    """Least-squares slope per second (0 for a single frame)."""
    n = frames.shape[0]
    if n < 2:
        return np.zeros(frames.shape[1])
    t = np.arange(n) / frame_rate
    t -= t.mean()
    return t @ (frames - frames.mean(axis=0)) / (t @ t)


def _percentile_of(name: str) -> float | None:
    match = _PERCENTILE.match(name)
    return float(match.group(1)) if match else None


def check_functionals(names: tuple[str, ...] | list[str]) -> None:
    """ConfigError for an unknown functional name (neither registered nor ``pNN``)."""
    if not names:
        raise ConfigError("functionals: give at least one statistic")
    for name in names:
        if name not in FUNCTIONALS and _percentile_of(name) is None:
            raise ConfigError(
                f"unknown statistic {name!r}; known: {', '.join(FUNCTIONALS.names())} "
                "and percentiles p0..p100 (e.g. p25)"
            )


def summarise(frames: np.ndarray, functionals: tuple[str, ...], frame_rate: float = 100.0) -> np.ndarray:
    """Concatenate each functional of ``frames`` (T, D) over time: a vector of ``len(functionals) * D``."""
    if frames.ndim != 2 or frames.shape[0] == 0:
        raise FeatureError(f"statistics need a non-empty (frames, dims) matrix, got shape {frames.shape}")
    data = frames.astype(np.float64, copy=False)
    percentiles = [q for q in map(_percentile_of, functionals) if q is not None]
    percentile_values = dict(zip(percentiles, np.percentile(data, percentiles, axis=0), strict=True))
    parts = []
    for name in functionals:
        q = _percentile_of(name)
        parts.append(percentile_values[q] if q is not None else FUNCTIONALS.get(name)(data, frame_rate))
    return np.concatenate(parts).astype(np.float32)


class StatsExtractor(FeatureExtractor):
    """Base of the generated ``<frame>-stats`` extractors; ``frame_class`` is set per subclass."""

    level = "utterance"
    version = "1"
    frame_class: type[FeatureExtractor]

    @dataclasses.dataclass
    class Config(config_module.Config):  # replaced per subclass by make_stats_extractor
        functionals: tuple[str, ...] = DEFAULT_FUNCTIONALS

    @classmethod
    def _build_config(cls, config: Any, overrides: dict[str, Any]) -> Any:
        """Route overrides that are not statistics options to the frame extractor's config."""
        own = {f.name for f in dataclasses.fields(cls.Config)} - {"frame"}
        given = config.to_dict() if isinstance(config, config_module.Config) else dict(config or {})
        stats: dict[str, Any] = {}
        frame: dict[str, Any] = {}
        for key, value in {**given, **overrides}.items():
            if key == "frame":
                frame.update(value.to_dict() if isinstance(value, config_module.Config) else dict(value))
            elif key in own:
                stats[key] = value
            else:
                frame[key] = value  # unknown keys end up in the frame config, which rejects them
        return cls.Config.from_dict({**stats, "frame": frame})

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.frame_extractor = self.frame_class(self.config.frame)

    def check_config(self) -> None:
        self.config.functionals = tuple(self.config.functionals)
        check_functionals(self.config.functionals)

    def extract(self, samples: np.ndarray, sample_rate: int = 16_000) -> np.ndarray:
        frames = self.frame_extractor.extract(samples, sample_rate)
        return self._check_output(summarise(frames, self.config.functionals, self.frame_extractor.frame_rate))

    def compute(self, x: np.ndarray) -> np.ndarray:
        frames = self.frame_extractor.compute(x)
        return summarise(frames, self.config.functionals, self.frame_extractor.frame_rate)

    def required_duration(self) -> float:
        return self.frame_extractor.required_duration()

    def pinned_params(self) -> dict[str, Any]:
        # Statistics of a backbone's frames depend on its weights just as the frames do.
        return self.frame_extractor.pinned_params()

    def load_dependencies(self) -> None:
        self.frame_extractor.load_dependencies()

    def feature_names(self) -> list[str]:
        frame_names = self.frame_extractor.feature_names()
        return [f"{name}_{stat}" for stat in self.config.functionals for name in frame_names]

    @property
    def dim(self) -> int:
        return len(self.config.functionals) * self.frame_extractor.dim

    def cache_key(self) -> str:
        # The frame extractor's own key carries its version, so changing it invalidates ours.
        return f"{super().cache_key()}|{self.frame_extractor.cache_key()}"


def make_stats_extractor(frame_class: type[FeatureExtractor]) -> type[StatsExtractor]:
    """Build the ``<name>-stats`` class of a frame-level extractor class."""
    if frame_class.level != "frame":
        raise FeatureError(f"{frame_class.name}: statistics are only defined for frame-level extractors")
    frame_config = frame_class.Config
    config_cls = dataclasses.make_dataclass(
        f"{frame_class.__name__}StatsConfig",
        [
            ("functionals", tuple[str, ...], dataclasses.field(default=DEFAULT_FUNCTIONALS)),
            ("frame", frame_config, dataclasses.field(default_factory=frame_config)),
        ],
        bases=(config_module.Config,),
    )
    name = f"{frame_class.name}-stats"
    attrs = {
        "name": name,
        "frame_class": frame_class,
        "Config": config_cls,
        "description": f"utterance statistics of {frame_class.name} (mean, std, percentiles, slope...)",
        "__module__": __name__,
    }
    return type(f"{frame_class.__name__}Stats", (StatsExtractor,), attrs)
