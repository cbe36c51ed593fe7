"""eGeMAPS through openSMILE."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SR, dataset_root
from voxemo.audio import load_audio
from voxemo.errors import ConfigError
from voxemo.features import get_extractor


def test_real_emodb_original_gives_88_finite_values() -> None:
    path = dataset_root("emodb-originals") / "03a01Fa.wav"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    extractor = get_extractor("egemaps")
    out = extractor.extract(load_audio(path), SR)
    assert out.shape == (88,)
    assert np.isfinite(out).all()
    names = extractor.feature_names()
    assert names[0] == "F0semitoneFrom27.5Hz_sma3nz_amean"
    assert "loudness_sma3_amean" in names
    # a 200 Hz-ish German female speaker: mean F0 in semitones from 27.5 Hz is well above 20
    assert 20.0 < out[0] < 50.0


def test_unknown_feature_set_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="eGeMAPSv02"):
        get_extractor("egemaps", feature_set="ComParE_2099")
