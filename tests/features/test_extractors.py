"""Every registered extractor: shapes, dims and names agree; config, errors and cache keys."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from tests.conftest import SR, speechlike
from voxemo.errors import AudioError, ConfigError, RegistryError
from voxemo.features import FEATURES, FeatureExtractor, get_extractor, list_features

# Other test modules register helpers named "test-..."; only the built-ins are checked here.
BUILTIN_NAMES = [name for name in FEATURES.names() if not name.startswith("test-")]


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    return speechlike(1.5)


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_shape_dim_and_names_agree(name: str, signal: np.ndarray) -> None:
    extractor = get_extractor(name)
    out = extractor.extract(signal, SR)
    names = extractor.feature_names()
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    assert len(names) == len(set(names)) == extractor.dim
    if extractor.level == "frame":
        # one frame per hop at the extractor's own frame rate (centred frames add one)
        expected = signal.size / SR * extractor.frame_rate
        assert out.shape[1] == extractor.dim
        assert abs(out.shape[0] - expected) <= 1
    else:
        assert out.shape == (extractor.dim,)


def test_builtin_names_and_stats_variants_are_registered() -> None:
    expected = {"logmel", "mfcc", "chroma", "contrast", "prosody", "egemaps"}
    assert expected <= set(FEATURES.names())
    frame_level = [n for n in FEATURES.names() if FEATURES.get(n).level == "frame"]
    assert len(BUILTIN_NAMES) >= 10
    for name in frame_level:
        assert FEATURES.get(f"{name}-stats").level == "utterance"


def test_list_features_describes_each_entry() -> None:
    infos = {info.name: info for info in list_features()}
    assert infos["logmel"].dim == 64 and infos["logmel"].level == "frame"
    assert infos["mfcc"].dim == 39
    assert infos["egemaps"].dim == 88
    assert infos["mfcc-stats"].dim == 39 * 10
    assert all(info.description for info in infos.values())


def test_unknown_extractor_lists_known_names() -> None:
    with pytest.raises(RegistryError, match="logmel"):
        get_extractor("no-such-feature")


def test_config_overrides_and_unknown_keys() -> None:
    assert get_extractor("logmel", n_mels=40).dim == 40
    assert get_extractor("mfcc", n_mfcc=20, delta_order=1).dim == 40
    with pytest.raises(ConfigError, match="n_melz"):
        get_extractor("logmel", n_melz=40)
    with pytest.raises(ConfigError, match="fmax"):
        get_extractor("logmel", fmax=9000.0)


def test_input_at_another_rate_is_resampled(signal: np.ndarray) -> None:
    extractor = get_extractor("logmel")
    at_8k = signal[::2].copy()
    out = extractor.extract(at_8k, 8000)
    assert out.shape[0] == at_8k.size * 2 // 160 + 1


@pytest.mark.parametrize("name", ["logmel", "mfcc-stats", "prosody", "egemaps"])
def test_too_short_input_raises_audio_error(name: str) -> None:
    with pytest.raises(AudioError, match="too short"):
        get_extractor(name).extract(np.full(100, 0.1, dtype=np.float32), SR)


def test_nan_input_raises_audio_error(signal: np.ndarray) -> None:
    bad = signal.copy()
    bad[10] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        get_extractor("mfcc").extract(bad, SR)


def test_cache_key_is_stable_and_follows_config() -> None:
    key = get_extractor("mfcc-stats").cache_key()
    assert key == get_extractor("mfcc-stats").cache_key()
    assert key != get_extractor("mfcc-stats", n_mfcc=20).cache_key()
    assert key != get_extractor("mfcc-stats", functionals=("mean",)).cache_key()
    assert get_extractor("logmel").cache_key() != get_extractor("logmel", fmin=50.0).cache_key()


def test_extractors_survive_pickling(signal: np.ndarray) -> None:
    for name in ["mfcc-stats", "logmel", "prosody"]:
        extractor = get_extractor(name, **({"n_mfcc": 8} if name == "mfcc-stats" else {}))
        copy = pickle.loads(pickle.dumps(extractor))
        assert type(copy) is type(extractor)
        assert copy.cache_key() == extractor.cache_key()
    assert pickle.loads(pickle.dumps(get_extractor("mfcc-stats", n_mfcc=8))).dim == 8 * 3 * 10


def test_base_class_is_abstract() -> None:
    with pytest.raises(TypeError):
        FeatureExtractor()  # type: ignore[abstract]
