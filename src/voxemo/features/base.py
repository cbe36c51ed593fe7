"""The :class:`FeatureExtractor` base class every extractor derives from.

An extractor turns one mono signal into either a matrix of frames ``(T, D)`` (``level = "frame"``)
or one vector ``(D,)`` (``level = "utterance"``). Subclasses declare a nested ``Config`` dataclass and
implement :meth:`FeatureExtractor.compute` and :meth:`FeatureExtractor.feature_names`; the base class
does the input checks, the resampling, the output checks and the cache key.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

import numpy as np

from voxemo import config as config_module
from voxemo.audio import load_audio
from voxemo.errors import AudioError, ConfigError, FeatureError

Level = Literal["frame", "utterance"]
LEVELS: tuple[str, ...] = ("frame", "utterance")


class FeatureExtractor(ABC):
    """Base class of all feature extractors.

    Class attributes: ``name`` (the registry name), ``level`` (``"frame"`` or ``"utterance"``),
    ``description`` (one line for ``voxemo features --list``), ``version`` (bump it whenever the
    numbers an extractor produces change, so stale cache entries are ignored) and ``min_duration``
    (seconds; shorter input raises :class:`~voxemo.errors.AudioError`).
    """

    name: ClassVar[str] = ""
    level: ClassVar[Level] = "frame"
    description: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    min_duration: ClassVar[float] = 0.025

    @dataclasses.dataclass
    class Config(config_module.Config):
        #: Rate the extractor works at; other input is resampled to it.
        sample_rate: int = 16_000

    def __init__(self, config: Config | dict[str, Any] | None = None, **overrides: Any) -> None:
        self.config = self._build_config(config, overrides)
        self.check_config()

    @classmethod
    def _build_config(cls, config: Any, overrides: dict[str, Any]) -> Any:
        if config is None:
            base: dict[str, Any] = {}
        elif isinstance(config, dict):
            base = dict(config)
        elif isinstance(config, cls.Config):
            base = config.to_dict()
        else:
            raise ConfigError(
                f"{cls.name or cls.__name__}: config must be a {cls.__name__}.Config or a dict, "
                f"got {type(config).__name__}"
            )
        return cls.Config.from_dict({**base, **overrides})

    def check_config(self) -> None:
        """Raise ConfigError for invalid values; subclasses extend it."""
        if not 1_000 <= int(self.config.sample_rate) <= 384_000:
            raise ConfigError(f"{self.name}: sample_rate {self.config.sample_rate} Hz is out of range")

    # -- the public API -----------------------------------------------------------------------
    def extract(self, samples: np.ndarray, sample_rate: int = 16_000) -> np.ndarray:
        """Features of one signal: float32 ``(T, D)`` (frame level) or ``(D,)`` (utterance level).

        The signal is converted to mono float32 and resampled to ``config.sample_rate``. Raises
        AudioError for empty, NaN or too-short input and FeatureError if the extractor fails.
        """
        x = self.prepare(samples, sample_rate)
        out = np.asarray(self.compute(x), dtype=np.float32)
        return self._check_output(out)

    @property
    def dim(self) -> int:
        """Number of values per frame (frame level) or in the vector (utterance level)."""
        return len(self.feature_names())

    @abstractmethod
    def feature_names(self) -> list[str]:
        """One name per output dimension, in output order."""

    def cache_key(self) -> str:
        """A string that changes whenever the extractor's output could change (name, version, config)."""
        payload = {"name": self.name, "version": self.version, "config": self.config.to_dict()}
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)

    @property
    def frame_rate(self) -> float:
        """Frames per second of a frame-level extractor (used for slopes per second)."""
        return 100.0

    def pinned_params(self) -> dict[str, Any]:
        """Config values that pin down what this extractor runs (e.g. the sha256 of model weights).

        A model trained on these features stores them with its own feature settings, so loading
        it where the extractor would run something else fails with a clear error instead of
        silently computing different features. Default: nothing to pin.
        """
        return {}

    def load_dependencies(self) -> None:  # noqa: B027 (a hook: most extractors need nothing)
        """Load now what extraction needs (optional packages, model weights), so a missing extra
        fails here with its install hint rather than on the first file. Default: nothing to load."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Registered extractors are rebuilt from their registry name and config, so classes built
        # by a factory (the "-stats" family) can be sent to worker processes like any other.
        from voxemo.features.registry import FEATURES

        if self.name in FEATURES and FEATURES.get(self.name) is type(self):
            return (_rebuild_registered, (self.name, self.config.to_dict()))
        return (type(self), (self.config.to_dict(),))

    # -- the parts subclasses implement ----------------------------------------------------------
    @abstractmethod
    def compute(self, x: np.ndarray) -> np.ndarray:
        """Features of ``x`` (mono float32 at ``config.sample_rate``, already checked)."""

    # -- helpers -------------------------------------------------------------------------------
    def prepare(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mono float32 at the extractor's rate; AudioError for unusable or too-short input."""
        if not isinstance(samples, np.ndarray):
            samples = np.asarray(samples)
        x = load_audio(
            samples,
            sample_rate,
            target_rate=int(self.config.sample_rate),
            max_duration=None,
            allow_silent=True,
        )
        seconds = x.size / self.config.sample_rate
        needed = self.required_duration()
        if seconds < needed:
            raise AudioError(
                f"{self.name}: the audio is too short ({seconds * 1000:.0f} ms); this extractor needs "
                f"at least {needed * 1000:.0f} ms"
            )
        return x

    def required_duration(self) -> float:
        """Shortest input in seconds (``min_duration`` unless the config decides, e.g. a window)."""
        return self.min_duration

    def _check_output(self, out: np.ndarray) -> np.ndarray:
        expected_ndim = 2 if self.level == "frame" else 1
        if out.ndim != expected_ndim:
            raise FeatureError(f"{self.name}: produced an array of shape {out.shape}, expected {self.level}")
        if not np.isfinite(out).all():
            raise FeatureError(
                f"{self.name}: produced NaN or infinite values; the input is probably degenerate "
                "(report this with the audio file)"
            )
        return np.ascontiguousarray(out)


def _rebuild_registered(name: str, config: dict[str, Any]) -> FeatureExtractor:
    """Unpickle a registered extractor from its name and config."""
    from voxemo.features.registry import FEATURES

    return FEATURES.get(name)(config)
