"""DSP helpers against numpy.fft, scipy windows and librosa."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.signal

from tests.conftest import SR, speechlike
from voxemo.audio import dsp
from voxemo.errors import AudioError, ConfigError, RegistryError


def test_pre_emphasis() -> None:
    x = np.array([1.0, 2.0, 3.0, 1.0], np.float32)
    np.testing.assert_allclose(dsp.pre_emphasis(x, 0.5), [1.0, 1.5, 2.0, -0.5])
    np.testing.assert_array_equal(dsp.pre_emphasis(x, 0.0), x)
    assert dsp.pre_emphasis(np.zeros(0, np.float32)).size == 0
    with pytest.raises(ConfigError, match=r"coef must be in \[0, 1\)"):
        dsp.pre_emphasis(x, 1.2)


def test_frame_signal_is_a_view_with_the_right_frames() -> None:
    x = np.arange(1000, dtype=np.float32)
    frames = dsp.frame_signal(x, 400, 160, pad=False)
    assert frames.shape == (4, 400)
    assert np.shares_memory(frames, x)  # no copy
    np.testing.assert_array_equal(frames[2], x[320:720])
    padded = dsp.frame_signal(x, 400, 160, pad=True)
    assert padded.shape == (5, 400)  # the last 120 samples get a zero-padded frame
    np.testing.assert_array_equal(padded[4, :360], x[640:])
    assert not padded[4, 360:].any()
    assert dsp.frame_signal(x[:100], 400, 160, pad=False).shape == (0, 400)
    assert dsp.frame_signal(x[:100], 400, 160, pad=True).shape == (1, 400)


def test_frame_signal_rejects_bad_input() -> None:
    with pytest.raises(ConfigError, match="hop_length must be >= 1"):
        dsp.frame_signal(np.zeros(10), 4, 0)
    with pytest.raises(AudioError, match="expected a 1-D signal"):
        dsp.frame_signal(np.zeros((2, 10)), 4, 2)


@pytest.mark.parametrize("name", ["hann", "hamming"])
def test_periodic_windows_match_scipy(name: str) -> None:
    np.testing.assert_allclose(dsp.get_window(name, 400), scipy.signal.get_window(name, 400), atol=1e-12)
    np.testing.assert_allclose(
        dsp.get_window(name, 401, periodic=False),
        scipy.signal.get_window(name, 401, fftbins=False),
        atol=1e-12,
    )


def test_povey_and_rectangular_windows() -> None:
    povey = dsp.get_window("povey", 400)
    assert povey[0] == 0.0 and povey[-1] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(povey, povey[::-1], atol=1e-12)  # symmetric, as in Kaldi
    np.testing.assert_allclose(povey, scipy.signal.get_window("hann", 400, fftbins=False) ** 0.85, atol=1e-12)
    np.testing.assert_array_equal(dsp.get_window("rectangular", 7), np.ones(7))
    with pytest.raises(
        RegistryError, match="unknown window 'kaiser'; known: hamming, hann, povey, rectangular"
    ):
        dsp.get_window("kaiser", 400)


def test_stft_frame_equals_numpy_fft() -> None:
    x = speechlike(1.0)
    spectrum = dsp.stft(x, n_fft=512, hop_length=160, win_length=400)
    padded = np.pad(x, 256)
    window = np.pad(scipy.signal.get_window("hann", 400), 56)
    frame = 37
    expected = np.fft.rfft(padded[frame * 160 : frame * 160 + 512] * window)
    np.testing.assert_allclose(spectrum[:, frame], expected, atol=1e-5 * np.abs(expected).max())
    assert spectrum.dtype == np.complex64 and spectrum.shape == (257, 1 + x.size // 160)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"center": False},
        {"n_fft": 1024, "hop_length": 256, "win_length": None},
        {"window": "hamming", "n_fft": 400, "win_length": 400},
    ],
    ids=["default", "no-center", "1024", "hamming"],
)
def test_stft_matches_librosa(params: dict) -> None:
    x = speechlike(1.0, seed=2)
    ours = dsp.stft(x, **params)
    full = {"n_fft": 512, "hop_length": 160, "win_length": 400, "window": "hann", "center": True, **params}
    theirs = librosa.stft(x, pad_mode="constant", **full)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-5 * np.abs(theirs).max()


def test_stft_of_too_short_signal_without_center() -> None:
    with pytest.raises(AudioError, match="shorter than n_fft=512; use center=True"):
        dsp.stft(np.zeros(100, np.float32), center=False)


def test_istft_inverts_stft() -> None:
    x = speechlike(1.0)
    for hop, win in ((160, 400), (128, 512)):
        spectrum = dsp.stft(x, n_fft=512, hop_length=hop, win_length=win)
        np.testing.assert_allclose(dsp.istft(spectrum, hop, win, length=x.size), x, atol=1e-5)
    spectrum = dsp.stft(x, n_fft=512, hop_length=128, win_length=512)
    theirs = librosa.istft(spectrum, hop_length=128, win_length=512, n_fft=512)
    np.testing.assert_allclose(dsp.istft(spectrum, 128, 512), theirs, atol=1e-5)


def test_power_spectrogram_and_db_scaling_match_librosa() -> None:
    x = speechlike(0.5)
    power = dsp.power_spectrogram(x)
    np.testing.assert_allclose(power, np.abs(dsp.stft(x)) ** 2, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(dsp.power_spectrogram(x, power=1.0), np.abs(dsp.stft(x)), rtol=1e-6)
    np.testing.assert_allclose(
        dsp.power_to_db(power, ref=np.max), librosa.power_to_db(power, ref=np.max), atol=1e-3
    )
    magnitude = np.sqrt(power)
    np.testing.assert_allclose(
        dsp.amplitude_to_db(magnitude, top_db=None),
        librosa.amplitude_to_db(magnitude, top_db=None),
        atol=1e-3,
    )
    db = dsp.power_to_db(power, top_db=60.0)
    assert db.max() - db.min() == pytest.approx(60.0, abs=1e-3)
    assert dsp.amplitude_to_db(np.array([1.0, 0.1]), top_db=None).tolist() == pytest.approx([0.0, -20.0])


def test_sample_rate_free_helpers_accept_any_length() -> None:
    x = np.random.default_rng(0).standard_normal(SR // 10).astype(np.float32)
    assert dsp.stft(x).shape[1] == 1 + x.size // 160
