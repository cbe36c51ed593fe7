"""eGeMAPS v02 functionals (88 values) computed by openSMILE (the ``opensmile`` package).

Building a ``Smile`` object takes about half a second, so each process builds one per feature set
and reuses it (:func:`smile_for`). ``opensmile`` itself is imported on first use: it is slow to
import and most commands never need it.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from typing import Any

import numpy as np

from voxemo.errors import ConfigError, FeatureError
from voxemo.features.base import FeatureExtractor
from voxemo.features.registry import register_feature

#: Functional counts of the openSMILE feature sets offered here (dim without building a Smile).
FEATURE_SET_DIMS = {"eGeMAPSv02": 88, "eGeMAPSv01b": 88, "GeMAPSv01b": 62}


@functools.lru_cache(maxsize=4)
def smile_for(feature_set: str) -> Any:
    """The process-wide ``opensmile.Smile`` computing ``feature_set`` functionals."""
    try:
        import opensmile
    except ImportError as exc:  # a declared dependency, but keep the message useful
        raise FeatureError(f"eGeMAPS needs the 'opensmile' package ({exc}); pip install opensmile") from None
    return opensmile.Smile(
        feature_set=opensmile.FeatureSet[feature_set],
        feature_level=opensmile.FeatureLevel.Functionals,
    )


@register_feature("egemaps")
class EGeMAPS(FeatureExtractor):
    """The extended Geneva Minimalistic Acoustic Parameter Set (Eyben et al. 2016), version 02."""

    level = "utterance"
    description = "eGeMAPS v02 functionals via openSMILE (88 values)"
    version = "1"
    min_duration = 0.1  # shorter input gives openSMILE nothing to summarise (all NaN)

    @dataclasses.dataclass
    class Config(FeatureExtractor.Config):
        feature_set: str = "eGeMAPSv02"

    def check_config(self) -> None:
        super().check_config()
        if self.config.feature_set not in FEATURE_SET_DIMS:
            raise ConfigError(
                f"{self.name}: unknown feature_set {self.config.feature_set!r}; "
                f"choose one of {', '.join(FEATURE_SET_DIMS)}"
            )

    @property
    def dim(self) -> int:
        return FEATURE_SET_DIMS[self.config.feature_set]

    def feature_names(self) -> list[str]:
        return list(smile_for(self.config.feature_set).feature_names)

    def compute(self, x: np.ndarray) -> np.ndarray:
        smile = smile_for(self.config.feature_set)
        with warnings.catch_warnings():
            # openSMILE warns "Segment too short, filling with NaN"; the NaN check reports it instead.
            warnings.simplefilter("ignore", UserWarning)
            try:
                frame = smile.process_signal(x, self.config.sample_rate)
            except Exception as exc:  # opensmile raises plain RuntimeError/ValueError on failure
                raise FeatureError(f"{self.name}: openSMILE failed: {exc}") from None
        values = frame.to_numpy(dtype=np.float64).reshape(-1)
        if not np.isfinite(values).all():
            raise FeatureError(
                f"{self.name}: openSMILE returned undefined values for this "
                f"{x.size / self.config.sample_rate:.2f} s signal; give a longer recording"
            )
        return values
