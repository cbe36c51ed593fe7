"""Prosody and voice quality on signals whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SR, speechlike
from voxemo.features import get_extractor, pitch_contour, semitones


def harmonic_tone(f0: float = 200.0, seconds: float = 1.5, amp: float = 0.2) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))).astype(np.float32)


@pytest.fixture(scope="module")
def prosody():
    return get_extractor("prosody")


def named(extractor, values: np.ndarray) -> dict[str, float]:
    return dict(zip(extractor.feature_names(), values.tolist(), strict=True))


def test_f0_of_a_200_hz_tone(prosody) -> None:
    out = named(prosody, prosody.extract(harmonic_tone(200.0), SR))
    assert out["f0_hz_mean"] == pytest.approx(200.0, abs=1.0)
    assert out["f0_hz_p50"] == pytest.approx(200.0, abs=1.0)
    assert out["f0_st_mean"] == pytest.approx(float(semitones(200.0)), abs=0.05)
    assert out["f0_hz_std"] < 1.0
    assert out["voiced_ratio"] > 0.9
    assert out["duration_s"] == pytest.approx(1.5)


def test_a_pure_synthetic_tone_has_tiny_jitter_and_high_hnr(prosody) -> None:
    out = named(prosody, prosody.extract(harmonic_tone(200.0), SR))
    assert 0.0 <= out["jitter_local"] < 0.002
    assert 0.0 <= out["shimmer_local"] < 0.01
    assert out["hnr_db"] > 30.0


def test_a_louder_copy_has_higher_intensity(prosody) -> None:
    x = speechlike(2.0)
    quiet = named(prosody, prosody.extract(0.25 * x, SR))
    loud = named(prosody, prosody.extract(x, SR))
    assert loud["intensity_db_mean"] == pytest.approx(quiet["intensity_db_mean"] + 20 * np.log10(4), abs=0.5)
    assert loud["rms_dbfs"] > quiet["rms_dbfs"] + 11.0
    assert loud["f0_hz_mean"] == pytest.approx(quiet["f0_hz_mean"], abs=1.0)


@pytest.mark.parametrize("kind", ["silence", "noise"])
def test_silent_or_unvoiced_input_gives_finite_defaults(prosody, kind: str) -> None:
    rng = np.random.default_rng(0)
    x = np.zeros(SR, np.float32) if kind == "silence" else (0.05 * rng.standard_normal(SR)).astype(np.float32)
    out = named(prosody, prosody.extract(x, SR))
    assert all(np.isfinite(v) for v in out.values())
    assert out["voiced_ratio"] == 0.0
    assert out["f0_hz_mean"] == 0.0 and out["jitter_local"] == 0.0 and out["syllable_rate"] == 0.0
    if kind == "silence":
        assert out["intensity_db_mean"] == 0.0
        assert out["rms_dbfs"] == -100.0


def test_speaking_rate_and_pauses(prosody) -> None:
    # 3 syllables per second (speechlike), then 0.6 s of silence, then more syllables
    burst = speechlike(1.0, seed=1)
    x = np.concatenate([burst, np.zeros(int(0.6 * SR), np.float32), speechlike(1.0, seed=2)])
    out = named(prosody, prosody.extract(x, SR))
    assert out["pause_count"] == 1.0
    assert out["pause_mean_s"] == pytest.approx(0.6, abs=0.15)
    assert 0.1 < out["pause_ratio"] < 0.4
    assert 1.5 < out["syllable_rate"] < 3.5
    assert out["articulation_rate"] >= out["syllable_rate"]


def test_pitch_contour_marks_unvoiced_frames_with_zero() -> None:
    x = np.concatenate([harmonic_tone(150.0, 0.5), np.zeros(SR // 2, np.float32)])
    times, f0 = pitch_contour(x, SR)
    assert times.shape == f0.shape
    assert np.all(np.diff(times) > 0)
    first_half, second_half = f0[times < 0.4], f0[times > 0.6]
    assert np.median(first_half) == pytest.approx(150.0, abs=1.0)
    assert np.all(second_half == 0.0)
