"""Decoding that should work: formats, bytes, channel layouts, integer arrays, resampling, streaming."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import SR, dataset_root, tone
from voxemo.audio import iter_blocks, load_audio, load_audio_with_rate, probe


def peak_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[np.argmax(spectrum)])


def rms_db(samples: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(samples.astype(np.float64) ** 2))))


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_lossless_round_trip(tmp_path: Path, fmt: str) -> None:
    original = tone(440, 1.0)
    path = tmp_path / f"tone.{fmt}"
    sf.write(path, original, SR)
    decoded = load_audio(path)
    assert decoded.dtype == np.float32 and decoded.shape == original.shape
    np.testing.assert_allclose(decoded, original, atol=1 / 32768)
    info = probe(path)
    assert (info.sample_rate, info.channels, info.frames, info.duration) == (SR, 1, SR, 1.0)


@pytest.mark.parametrize("fmt", ["ogg", "mp3"])
def test_lossy_round_trip(tmp_path: Path, fmt: str) -> None:
    original = tone(440, 1.0)
    path = tmp_path / f"tone.{fmt}"
    sf.write(path, original, SR)
    decoded = load_audio(path)
    assert abs(decoded.size - original.size) < 0.05 * original.size
    assert peak_frequency(decoded, SR) == pytest.approx(440, abs=2)
    assert rms_db(decoded) == pytest.approx(rms_db(original), abs=1.0)


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_bytes_input_equals_path_input(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"tone.{fmt}"
    sf.write(path, tone(300, 0.5), SR)
    np.testing.assert_array_equal(load_audio(path.read_bytes()), load_audio(path))
    assert probe(bytearray(path.read_bytes())).frames == probe(path).frames


def test_stereo_file_is_averaged_to_mono(tmp_path: Path) -> None:
    left, right = tone(300, 0.5, amp=0.4), tone(500, 0.5, amp=0.2)
    path = tmp_path / "stereo.flac"
    sf.write(path, np.stack([left, right], axis=1), SR)
    assert probe(path).channels == 2
    np.testing.assert_allclose(load_audio(path), (left + right) / 2, atol=2 / 32768)


def test_channels_first_and_channels_last_arrays_agree() -> None:
    stereo = np.stack([tone(300, 0.5), tone(700, 0.5, amp=0.1)])  # (2, n)
    channels_first = load_audio(stereo, SR)
    channels_last = load_audio(stereo.T, SR)
    np.testing.assert_array_equal(channels_first, channels_last)
    np.testing.assert_allclose(channels_first, stereo.mean(axis=0), atol=1e-7)


def test_integer_arrays_are_scaled_to_plus_minus_one() -> None:
    as_int16 = (tone(440, 0.5) * 32767).astype(np.int16)
    np.testing.assert_allclose(load_audio(as_int16, SR), as_int16 / 32768.0, atol=1e-7)
    full_scale = np.array([-32768, 0, 32767] * 100, dtype=np.int16)
    decoded = load_audio(full_scale, SR)
    assert decoded.min() == -1.0 and decoded.max() == pytest.approx(1.0, abs=1e-4)
    as_uint8 = np.array([0, 128, 255] * 100, dtype=np.uint8)
    np.testing.assert_allclose(load_audio(as_uint8, SR)[:3], [-1.0, 0.0, 127 / 128], atol=1e-6)


@pytest.mark.parametrize("rate", [44_100, 8_000])
def test_resampling_keeps_the_tone_frequency(rate: int) -> None:
    original = tone(1000, 1.0, sr=rate)
    resampled = load_audio(original, rate)
    assert resampled.size == SR
    assert peak_frequency(resampled, SR) == pytest.approx(1000, abs=1.0)
    assert rms_db(resampled[1000:-1000]) == pytest.approx(rms_db(original), abs=0.1)


def test_native_rate_is_kept_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "cd.wav"
    sf.write(path, tone(440, 0.5, sr=44_100), 44_100)
    samples, rate = load_audio_with_rate(path)
    assert rate == 44_100 and samples.size == 22_050
    assert load_audio(path, target_rate=None).size == 22_050


def test_iter_blocks_equals_load_audio(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    signal = (tone(500, 3.3, sr=44_100) + 0.05 * rng.standard_normal(int(3.3 * 44_100))).astype(np.float32)
    path = tmp_path / "long.flac"
    sf.write(path, signal, 44_100)
    whole = load_audio(path)
    blocks = list(iter_blocks(path, block_seconds=0.5))
    assert len(blocks) >= 6
    streamed = np.concatenate(blocks)
    assert abs(streamed.size - whole.size) <= 2
    n = min(streamed.size, whole.size)
    # Identical up to the resampler's edge effects at the very ends.
    np.testing.assert_allclose(streamed[100 : n - 100], whole[100 : n - 100], atol=1e-4)


def test_real_emodb_original() -> None:
    root = dataset_root("emodb-originals")
    path = root / "03a01Fa.wav"
    info = probe(path)
    samples = load_audio(path)
    assert (info.sample_rate, info.channels) == (16_000, 1)
    assert samples.dtype == np.float32 and samples.size == info.frames
    assert 1.0 < samples.size / SR < 3.0
    assert 0.05 < float(np.max(np.abs(samples))) <= 1.0
    np.testing.assert_array_equal(np.concatenate(list(iter_blocks(path, 0.5))), samples)
