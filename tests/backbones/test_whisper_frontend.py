"""Whisper's log-mel front end against an independent librosa computation, and the encoder windows."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from tests.conftest import SR, speechlike, tone
from voxemo.backbones.whisper_frontend import (
    encode_in_windows,
    encoder_frame_count,
    log_mel_spectrogram,
    silence_value,
    whisper_mel_filters,
)
from voxemo.errors import AudioError


def reference_log_mel(x: np.ndarray) -> np.ndarray:
    """Whisper's recipe written out with librosa: |STFT|^2 (last frame dropped), mel, log10, clamp, scale."""
    stft = librosa.stft(x, n_fft=400, hop_length=160, window="hann", center=True, pad_mode="reflect")
    power = np.abs(stft[:, :-1]) ** 2
    mel = librosa.filters.mel(sr=16000, n_fft=400, n_mels=80) @ power
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def test_mel_filters_are_librosas_slaney_filters() -> None:
    ours = whisper_mel_filters(80)
    assert ours.shape == (80, 201)
    np.testing.assert_allclose(ours, librosa.filters.mel(sr=16000, n_fft=400, n_mels=80), atol=1e-7)


@pytest.mark.parametrize("seconds", [1.0, 2.345])
def test_log_mel_matches_reference(seconds: float) -> None:
    x = speechlike(seconds)
    ours = log_mel_spectrogram(x)
    reference = reference_log_mel(x)
    assert ours.shape == reference.shape == (80, int(seconds * SR) // 160)
    np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_log_mel_has_80_bands_at_100_frames_per_second_and_8_decades_of_range() -> None:
    x = tone(440.0, seconds=3.0, amp=0.9)
    out = log_mel_spectrogram(x)
    assert out.shape == (80, 300)
    # a pure tone leaves most bands empty: the dynamic-range clamp must hold them at max - 2
    assert out.max() - out.min() == pytest.approx(2.0, abs=1e-6)
    assert np.isclose(out, out.max() - 2.0).mean() > 0.3
    assert out.dtype == np.float32
    # the band holding 440 Hz is the loudest (mel band centres rise monotonically)
    assert 3 < int(np.argmax(out.mean(axis=1))) < 15


def test_silence_value_is_what_zero_audio_gets() -> None:
    x = np.concatenate([speechlike(1.0), np.zeros(SR, np.float32)])
    out = log_mel_spectrogram(x)
    np.testing.assert_allclose(out[:, -50:], silence_value(out), atol=1e-6)
    assert silence_value(np.full((2, 2), -3.0)) == -1.5  # never below log10(1e-10) scaled


def test_too_short_audio_is_refused() -> None:
    with pytest.raises(AudioError, match="more than 200 samples"):
        log_mel_spectrogram(np.zeros(150, np.float32))


def _every_second_frame(window: np.ndarray) -> np.ndarray:
    return window.T[::2]  # mimics the encoder's stride 2: ceil(T / 2) frames of the mel bands


def test_long_input_is_cut_into_windows_without_padding() -> None:
    log_mel = np.random.default_rng(0).standard_normal((80, 7001)).astype(np.float32)
    seen: list[int] = []

    def encode(window: np.ndarray) -> np.ndarray:
        seen.append(window.shape[1])
        return _every_second_frame(window)

    out = encode_in_windows(log_mel, encode, window_frames=3000)
    assert seen == [3000, 3000, 1001]
    assert out.shape == (1500 + 1500 + 501, 80)
    np.testing.assert_array_equal(out, log_mel.T[::2])


def test_padding_to_the_window_keeps_only_the_real_frames() -> None:
    log_mel = np.random.default_rng(1).standard_normal((80, 250)).astype(np.float32)
    windows: list[np.ndarray] = []

    def encode(window: np.ndarray) -> np.ndarray:
        windows.append(window)
        return _every_second_frame(window)

    out = encode_in_windows(log_mel, encode, window_frames=100, pad_to_window=True)
    assert [w.shape[1] for w in windows] == [100, 100, 100]
    np.testing.assert_array_equal(windows[-1][:, 50:], silence_value(log_mel))
    assert out.shape == (encoder_frame_count(250), 80) == (125, 80)
    np.testing.assert_array_equal(out, log_mel.T[::2])
