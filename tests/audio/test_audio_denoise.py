"""Spectral gating raises the SNR of signals buried in stationary noise."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SR, speechlike, tone
from voxemo.audio.denoise import spectral_gate
from voxemo.errors import AudioError, ConfigError


def snr_db(clean: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(clean.astype(np.float64) ** 2) / np.sum((estimate - clean) ** 2)))


def with_pauses(signal: np.ndarray) -> np.ndarray:
    pause = np.zeros(SR // 2, np.float32)
    return np.concatenate([pause, signal, pause])


def white_noise(n: int, std: float, seed: int = 0) -> np.ndarray:
    return (std * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def test_gate_raises_the_snr_of_a_tone_in_white_noise() -> None:
    clean = with_pauses(tone(1000, 1.0, amp=0.1))
    noisy = clean + white_noise(clean.size, 0.05)  # 0 dB SNR over the clip
    denoised = spectral_gate(noisy, SR)
    assert denoised.dtype == np.float32 and denoised.shape == noisy.shape
    assert snr_db(clean, noisy) == pytest.approx(0.0, abs=0.5)
    assert snr_db(clean, denoised) > snr_db(clean, noisy) + 10.0


def test_gate_raises_the_snr_of_speechlike_audio() -> None:
    clean = with_pauses(speechlike(2.0))
    noisy = clean + white_noise(clean.size, 0.03, seed=1)
    assert snr_db(clean, spectral_gate(noisy, SR)) > snr_db(clean, noisy) + 6.0


def test_noise_clip_gives_the_profile() -> None:
    clean = with_pauses(tone(1000, 1.0, amp=0.1))
    noisy = clean + white_noise(clean.size, 0.05)
    denoised = spectral_gate(noisy, SR, noise_clip=white_noise(SR, 0.05, seed=9))
    assert snr_db(clean, denoised) > snr_db(clean, noisy) + 10.0


def test_prop_decrease_controls_the_strength() -> None:
    clean = with_pauses(tone(1000, 1.0, amp=0.1))
    noisy = clean + white_noise(clean.size, 0.05)
    np.testing.assert_allclose(spectral_gate(noisy, SR, prop_decrease=0.0), noisy, atol=1e-5)
    half = snr_db(clean, spectral_gate(noisy, SR, prop_decrease=0.5))
    assert snr_db(clean, noisy) + 2.0 < half < snr_db(clean, spectral_gate(noisy, SR))


def test_other_sample_rates_and_silence() -> None:
    clean = with_pauses(tone(1000, 1.0, sr=SR, amp=0.1))[::2]  # 8 kHz
    noisy = clean + white_noise(clean.size, 0.05)
    assert snr_db(clean, spectral_gate(noisy, 8000)) > snr_db(clean, noisy) + 6.0
    assert not spectral_gate(np.zeros(SR, np.float32), SR).any()


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match=r"prop_decrease must be in \[0, 1\]"):
        spectral_gate(tone(), SR, prop_decrease=2.0)
    with pytest.raises(ConfigError, match=r"noise_fraction must be in \(0, 1\]"):
        spectral_gate(tone(), SR, noise_fraction=0.0)
    with pytest.raises(AudioError, match="expects a mono float signal"):
        spectral_gate(np.zeros((2, SR), np.float32), SR)
    with pytest.raises(AudioError, match="NaN or infinite"):
        spectral_gate(np.full(SR, np.nan, np.float32), SR)
