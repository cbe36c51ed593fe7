"""Peak and RMS normalisation, level measurement."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import speechlike, tone
from voxemo.audio.normalize import DB_FLOOR, loudness_dbfs, peak_dbfs, peak_normalize, rms_normalize
from voxemo.errors import AudioError, ConfigError


def test_levels_of_known_signals() -> None:
    assert loudness_dbfs(tone(amp=1.0)) == pytest.approx(-3.01, abs=0.01)  # a full-scale sine
    assert peak_dbfs(tone(amp=0.5)) == pytest.approx(-6.02, abs=0.01)
    assert loudness_dbfs(np.zeros(100, np.float32)) == DB_FLOOR
    assert peak_dbfs(np.zeros(100, np.float32)) == DB_FLOOR


def test_peak_normalize() -> None:
    out = peak_normalize(speechlike() * 0.01)
    assert float(np.max(np.abs(out))) == pytest.approx(0.95, rel=1e-6)
    assert out.dtype == np.float32
    assert float(np.max(np.abs(peak_normalize(tone(), peak=0.5)))) == pytest.approx(0.5, rel=1e-6)


def test_rms_normalize_reaches_the_target() -> None:
    for gain in (0.001, 0.05, 1.0):
        out = rms_normalize(speechlike() * gain, target_dbfs=-23.0)
        assert loudness_dbfs(out) == pytest.approx(-23.0, abs=0.01)


def test_rms_normalize_never_clips() -> None:
    # One loud click in a quiet signal: reaching -10 dBFS RMS would push the click far past 1.0.
    peaky = 0.001 * speechlike()
    peaky[1000] = 0.5
    out = rms_normalize(peaky, target_dbfs=-10.0)
    assert float(np.max(np.abs(out))) == pytest.approx(0.999, rel=1e-5)
    assert loudness_dbfs(out) < -10.0


@pytest.mark.parametrize("normalize", [peak_normalize, rms_normalize])
def test_silent_and_broken_input(normalize) -> None:
    with pytest.raises(AudioError, match=r"cannot normalise silent audio \(peak below -100 dBFS\)"):
        normalize(np.zeros(1000, np.float32))
    with pytest.raises(AudioError, match="NaN or infinite"):
        normalize(np.array([0.1, np.nan], np.float32))
    with pytest.raises(AudioError, match="zero-length audio"):
        normalize(np.zeros(0, np.float32))
    with pytest.raises(AudioError, match="expected float samples, got dtype int16"):
        normalize(np.ones(10, np.int16))


def test_bad_targets() -> None:
    with pytest.raises(ConfigError, match=r"peak must be in \(0, 1\]"):
        peak_normalize(tone(), peak=1.5)
    with pytest.raises(ConfigError, match=r"target_dbfs must be in \[-100, 0\] dBFS, got 6"):
        rms_normalize(tone(), target_dbfs=6)
