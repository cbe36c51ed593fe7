"""Utterance statistics of frame-level extractors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from tests.conftest import SR, speechlike
from voxemo.errors import ConfigError
from voxemo.features import get_extractor, summarise


def test_functionals_match_numpy_and_scipy() -> None:
    rng = np.random.default_rng(0)
    frames = rng.gamma(2.0, size=(300, 4))
    names = ("mean", "std", "min", "max", "p25", "p50", "skew", "kurtosis")
    out = summarise(frames, names).reshape(len(names), 4)
    expected = [
        frames.mean(0),
        frames.std(0),
        frames.min(0),
        frames.max(0),
        np.percentile(frames, 25, axis=0),
        np.median(frames, axis=0),
        scipy.stats.skew(frames, axis=0),
        scipy.stats.kurtosis(frames, axis=0),
    ]
    np.testing.assert_allclose(out, np.array(expected), rtol=1e-4)


def test_slope_is_per_second_and_constant_input_gives_zeros() -> None:
    seconds = np.arange(100) / 100.0
    frames = np.stack([3.0 * seconds + 1.0, np.full(100, 5.0)], axis=1)
    out = summarise(frames, ("slope", "std", "skew", "kurtosis"), frame_rate=100.0).reshape(4, 2)
    assert out[0, 0] == pytest.approx(3.0, rel=1e-5)
    np.testing.assert_array_equal(out[:, 1], 0.0)
    single = summarise(frames[:1], ("slope", "skew"))
    np.testing.assert_array_equal(single, 0.0)


def test_stats_extractor_summarises_its_frame_extractor() -> None:
    x = speechlike(1.0)
    stats = get_extractor("mfcc-stats", functionals=("mean", "p90", "slope"))
    frames = get_extractor("mfcc").extract(x, SR)
    expected = summarise(frames, ("mean", "p90", "slope"), frame_rate=100.0)
    np.testing.assert_allclose(stats.extract(x, SR), expected, rtol=1e-6)
    assert stats.feature_names()[:2] == ["mfcc_00_mean", "mfcc_01_mean"]
    assert stats.feature_names()[39] == "mfcc_00_p90"


def test_frame_options_pass_through_to_the_frame_extractor() -> None:
    stats = get_extractor("logmel-stats", n_mels=32, functionals=["mean", "std"])
    assert stats.config.frame.n_mels == 32
    assert stats.dim == 64
    assert stats.extract(speechlike(0.5), SR).shape == (64,)
    rebuilt = type(stats)(stats.config.to_dict())
    assert rebuilt.cache_key() == stats.cache_key()


def test_unknown_statistic_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="median"):
        get_extractor("mfcc-stats", functionals=("median",))
    with pytest.raises(ConfigError, match="n_mfccs"):
        get_extractor("mfcc-stats", n_mfccs=3)
