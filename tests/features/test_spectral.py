"""Spectral extractors against librosa and against hand-made signals."""

from __future__ import annotations

import time

import librosa
import numpy as np
import pytest

from tests.conftest import SR, speechlike, tone
from voxemo.features import deltas, get_extractor


@pytest.mark.parametrize(("n_mels", "fmin", "fmax"), [(64, 0.0, None), (40, 60.0, 7600.0)])
def test_logmel_matches_librosa(n_mels: int, fmin: float, fmax: float | None) -> None:
    x = speechlike(1.0)
    ours = get_extractor("logmel", n_mels=n_mels, fmin=fmin, fmax=fmax).extract(x, SR)
    mel = librosa.feature.melspectrogram(
        y=x, sr=SR, n_fft=512, hop_length=160, win_length=400, window="hann",
        center=True, pad_mode="constant", power=2.0, n_mels=n_mels, fmin=fmin, fmax=fmax,
    )  # fmt: skip
    reference = np.log(np.maximum(mel, 1e-10)).T
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, atol=1e-3)


def test_logmel_of_silence_is_the_log_floor() -> None:
    out = get_extractor("logmel", log_floor=1e-8).extract(np.zeros(SR, np.float32), SR)
    np.testing.assert_allclose(out, np.log(1e-8), rtol=1e-6)


def test_deltas_of_a_ramp_are_its_slope() -> None:
    frames = np.arange(50, dtype=np.float64)[:, None] * np.array([[0.5, -2.0, 0.0]])
    d = deltas(frames, width=2)
    np.testing.assert_allclose(d[2:-2], np.tile([0.5, -2.0, 0.0], (46, 1)), atol=1e-6)
    dd = deltas(d, width=2)
    np.testing.assert_allclose(dd[4:-4], 0.0, atol=1e-6)
    # the edges repeat the first/last frame, so the slope fades there but keeps its sign
    assert 0 < d[0, 0] < 0.5


def test_mfcc_delta_blocks_are_deltas_of_the_statics() -> None:
    out = get_extractor("mfcc").extract(speechlike(1.0), SR)
    static, delta, delta2 = out[:, :13], out[:, 13:26], out[:, 26:]
    np.testing.assert_allclose(delta, deltas(static), atol=1e-4)
    np.testing.assert_allclose(delta2, deltas(delta), atol=1e-4)
    assert get_extractor("mfcc", delta_order=0).extract(speechlike(1.0), SR).shape[1] == 13


def test_mfcc_matches_a_dct_of_librosa_log_mel() -> None:
    x = speechlike(1.0)
    ours = get_extractor("mfcc", delta_order=0).extract(x, SR)
    mel = librosa.feature.melspectrogram(
        y=x, sr=SR, n_fft=512, hop_length=160, win_length=400, pad_mode="constant", n_mels=40
    )
    reference = librosa.feature.mfcc(S=10 * np.log10(np.maximum(mel, 1e-10)), n_mfcc=13).T
    np.testing.assert_allclose(ours, reference, atol=1e-2)


def test_chroma_of_a440_peaks_at_a() -> None:
    out = get_extractor("chroma").extract(tone(440.0, 1.0), SR)
    names = get_extractor("chroma").feature_names()
    assert names[int(np.argmax(out.mean(axis=0)))] == "chroma_A"
    assert out.max() == pytest.approx(1.0)


def test_contrast_is_higher_for_a_tone_than_for_noise() -> None:
    rng = np.random.default_rng(1)
    noise = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    extractor = get_extractor("contrast")
    tone_contrast = extractor.extract(tone(700.0, 1.0), SR).mean(axis=0)
    noise_contrast = extractor.extract(noise, SR).mean(axis=0)
    band_with_tone = 2  # 400-800 Hz
    assert tone_contrast[band_with_tone] > noise_contrast[band_with_tone] + 20


def test_logmel_and_mfcc_are_fast() -> None:
    x = speechlike(4.0)
    for name in ("logmel", "mfcc"):
        extractor = get_extractor(name)
        extractor.extract(x, SR)  # warm the filterbank cache
        start = time.perf_counter()
        for _ in range(5):
            extractor.extract(x, SR)
        assert (time.perf_counter() - start) / 5 < 0.05, f"{name} is too slow for a 4 s clip"
