"""The preprocessing chain and the summary used by `voxemo inspect`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import SR, dataset_root, speechlike, tone
from voxemo.audio import load_audio
from voxemo.audio.dsp import pre_emphasis
from voxemo.audio.normalize import loudness_dbfs
from voxemo.audio.preprocess import PreprocessConfig, preprocess, summarize
from voxemo.errors import AudioError, ConfigError


def padded(signal: np.ndarray, seconds: float = 0.5) -> np.ndarray:
    pause = np.zeros(int(seconds * SR), np.float32)
    return np.concatenate([pause, signal, pause])


def test_default_only_resamples_and_removes_dc() -> None:
    x = tone(440, 1.0, sr=44_100) + 0.2
    out = preprocess(x, 44_100)
    assert out.dtype == np.float32 and out.size == SR
    assert abs(float(out.mean())) < 1e-4
    assert float(np.max(np.abs(out))) == pytest.approx(0.5, abs=0.01)


def test_trim_and_rms_normalize() -> None:
    x = padded(speechlike(2.0) * 0.05)
    out = preprocess(x, SR, PreprocessConfig(trim_silence=True, normalize="rms", target_dbfs=-20.0))
    assert out.size / SR == pytest.approx(2.0, abs=0.1)
    assert loudness_dbfs(out) == pytest.approx(-20.0, abs=0.01)


def test_peak_normalize_and_pre_emphasis_run_last() -> None:
    x = speechlike(1.0) * 0.1
    out = preprocess(x, SR, PreprocessConfig(normalize="peak", peak=0.9, pre_emphasis=0.97))
    centred = x - x.mean()
    expected = pre_emphasis((centred * (0.9 / np.abs(centred).max())).astype(np.float32), 0.97)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_denoise_then_trim_on_noisy_speech() -> None:
    clean = padded(speechlike(2.0))
    noisy = clean + (0.03 * np.random.default_rng(0).standard_normal(clean.size)).astype(np.float32)
    out = preprocess(noisy, SR, PreprocessConfig(denoise=True, trim_silence=True))
    assert out.size / SR == pytest.approx(2.0, abs=0.1)


def test_output_never_aliases_the_input() -> None:
    x = tone()
    out = preprocess(x, SR, PreprocessConfig(remove_dc=False))
    out[:] = 0
    assert x.any()


def test_silent_input_errors_only_where_it_matters() -> None:
    silence = np.zeros(SR, np.float32)
    assert not preprocess(silence, SR).any()
    with pytest.raises(AudioError, match="no speech detected"):
        preprocess(silence, SR, PreprocessConfig(trim_silence=True))
    with pytest.raises(AudioError, match="cannot normalise silent audio"):
        preprocess(silence, SR, PreprocessConfig(normalize="rms"))


def test_bad_input_arrays() -> None:
    with pytest.raises(
        AudioError, match=r"expected mono float samples \(1-D\), got float32 of shape \(2, 100\)"
    ):
        preprocess(np.zeros((2, 100), np.float32), SR)
    with pytest.raises(AudioError, match="got int16"):
        preprocess(np.zeros(100, np.int16), SR)
    with pytest.raises(AudioError, match="NaN or infinite"):
        preprocess(np.full(100, np.inf, np.float32), SR)


def test_config_validation_and_round_trip() -> None:
    with pytest.raises(ConfigError, match="unknown normalization 'loud'; known: none, peak, rms"):
        PreprocessConfig(normalize="loud")
    with pytest.raises(ConfigError, match="unknown VAD backend 'webrtc'"):
        PreprocessConfig(vad_backend="webrtc")
    with pytest.raises(ConfigError, match=r"pre_emphasis must be in \[0, 1\) or null"):
        PreprocessConfig(pre_emphasis=1.5)
    with pytest.raises(ConfigError, match="target_rate: sample rate 10 Hz is outside"):
        PreprocessConfig(target_rate=10)
    with pytest.raises(ConfigError, match=r"unknown key\(s\) trim"):
        PreprocessConfig.from_dict({"trim": True})
    config = PreprocessConfig(normalize="rms", trim_silence=True, pre_emphasis=0.97)
    assert PreprocessConfig.from_yaml(config.to_yaml()) == config


def test_summarize_known_signal() -> None:
    x = padded(np.concatenate([tone(300, 1.0, amp=0.5), np.zeros(SR // 2, np.float32), tone(500, 0.5)]))
    summary = summarize(x + 0.01, SR)
    assert list(summary) == [
        "duration_s", "speech_ratio", "speech_segments", "peak_dbfs", "rms_dbfs",
        "clipping_fraction", "dc_offset",
    ]  # fmt: skip
    assert summary["duration_s"] == 3.0
    assert summary["speech_segments"] == 2
    # 1.5 s of tone plus the VAD's 30 ms padding on both sides of both segments.
    assert summary["speech_ratio"] == pytest.approx(1.62 / 3.0, abs=0.02)
    assert summary["peak_dbfs"] == pytest.approx(20 * np.log10(0.51), abs=0.05)
    assert summary["rms_dbfs"] == pytest.approx(10 * np.log10(0.125 * 1.5 / 3.0 + 1e-4), abs=0.1)
    assert summary["clipping_fraction"] == 0.0
    assert summary["dc_offset"] == pytest.approx(0.01, abs=1e-4)
    json.dumps(summary)  # JSON-friendly: plain numbers, no NaN/inf


def test_summarize_clipped_and_silent_signals() -> None:
    clipped = np.clip(tone(amp=2.0), -1.0, 1.0)
    assert summarize(clipped, SR)["clipping_fraction"] == pytest.approx(0.67, abs=0.02)
    silent = summarize(np.zeros(SR, np.float32), SR)
    assert silent["speech_ratio"] == 0.0 and silent["speech_segments"] == 0
    assert silent["rms_dbfs"] == -120.0 and silent["peak_dbfs"] == -120.0
    json.dumps(silent)


def test_summarize_real_utterance() -> None:
    samples = load_audio(dataset_root("emodb-originals") / "03a02Ta.wav")
    summary = summarize(samples, SR)
    assert 1.0 < summary["duration_s"] < 3.0
    assert 0.6 < summary["speech_ratio"] <= 1.0
    assert -45.0 < summary["rms_dbfs"] < -10.0 and summary["peak_dbfs"] <= 0.0
    assert abs(summary["dc_offset"]) < 0.01
