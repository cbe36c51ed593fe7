"""Speech activity detection on signals with known speech boundaries, and on real speech."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from tests.conftest import SR, dataset_root, speechlike, tone
from voxemo.audio import load_audio, vad
from voxemo.audio.vad import Segment, speech_ratio, speech_segments, split_on_pauses, trim_silence
from voxemo.errors import AudioError, ConfigError, FeatureError, RegistryError

TOLERANCE = 0.05  # seconds


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SR), np.float32)


def padded_speech() -> np.ndarray:
    """0.5 s silence, 2 s of speech-like signal (speech from 0.5 s to 2.5 s), 0.5 s silence."""
    return np.concatenate([silence(0.5), speechlike(2.0), silence(0.5)])


def assert_segments(found: list[Segment], truth: list[tuple[float, float]]) -> None:
    assert len(found) == len(truth), found
    for segment, (start, end) in zip(found, truth, strict=True):
        assert segment.start == pytest.approx(start, abs=TOLERANCE)
        assert segment.end == pytest.approx(end, abs=TOLERANCE)


def test_segment() -> None:
    segment = Segment(0.5, 1.75)
    assert segment.duration == 1.25
    assert segment.to_dict() == {"start": 0.5, "end": 1.75}


def test_speechlike_with_silence_padding() -> None:
    segments = speech_segments(padded_speech(), SR)
    assert_segments(segments, [(0.5, 2.5)])
    assert all(type(value) is float for value in (segments[0].start, segments[0].end))


def test_tone_bursts_are_separate_segments() -> None:
    signal = np.concatenate([silence(0.3), tone(440, 1.0), silence(0.6), tone(300, 0.7), silence(0.4)])
    assert_segments(speech_segments(signal, SR), [(0.3, 1.3), (1.9, 2.6)])
    pieces = split_on_pauses(signal, SR)
    assert [seg for seg, _ in pieces] == speech_segments(signal, SR, min_silence=0.3)
    assert [piece.size / SR for _, piece in pieces] == pytest.approx([1.0, 0.7], abs=2 * TOLERANCE)


def test_short_pauses_are_bridged_and_long_ones_split() -> None:
    signal = np.concatenate([silence(0.3), tone(seconds=0.5), silence(0.15), tone(seconds=0.5), silence(0.3)])
    assert len(speech_segments(signal, SR)) == 1
    assert len(speech_segments(signal, SR, min_silence=0.1)) == 2


def test_bursts_shorter_than_min_speech_are_dropped() -> None:
    signal = np.concatenate([silence(0.5), tone(seconds=0.05), silence(0.5), tone(seconds=0.5), silence(0.5)])
    assert_segments(speech_segments(signal, SR), [(1.05, 1.55)])
    assert len(speech_segments(signal, SR, min_speech=0.0)) == 2


def test_padding_extends_segments() -> None:
    signal = np.concatenate([silence(0.5), tone(seconds=1.0), silence(0.5)])
    plain = speech_segments(signal, SR, padding=0.0)[0]
    padded = speech_segments(signal, SR, padding=0.2)[0]
    assert padded.start == pytest.approx(plain.start - 0.2)
    assert padded.end == pytest.approx(plain.end + 0.2)


def test_trimming_removes_the_padding() -> None:
    trimmed = trim_silence(padded_speech(), SR)
    assert trimmed.size / SR == pytest.approx(2.0, abs=2 * TOLERANCE)
    start = speech_segments(padded_speech(), SR)[0].start
    np.testing.assert_array_equal(trimmed[:100], padded_speech()[int(start * SR) :][:100])


def test_robust_to_dc_offset_and_low_level_hiss() -> None:
    rng = np.random.default_rng(3)
    hiss = 10 ** (-60 / 20) * rng.standard_normal(3 * SR).astype(np.float32)  # -60 dBFS
    assert_segments(speech_segments(padded_speech() + 0.3, SR), [(0.5, 2.5)])
    assert_segments(speech_segments(padded_speech() + hiss, SR), [(0.5, 2.5)])
    assert_segments(speech_segments(padded_speech() + hiss - 0.2, SR), [(0.5, 2.5)])


@pytest.mark.parametrize(
    "signal",
    [
        0.1 * np.random.default_rng(0).standard_normal(3 * SR).astype(np.float32),
        0.001 * np.random.default_rng(1).standard_normal(3 * SR).astype(np.float32),
        np.full(3 * SR, 0.25, np.float32),
        silence(3.0),
    ],
    ids=["loud-noise", "quiet-noise", "dc", "digital-silence"],
)
def test_no_speech_in_noise_dc_or_silence(signal: np.ndarray) -> None:
    assert speech_segments(signal, SR) == []
    assert speech_ratio(signal, SR) == 0.0
    assert split_on_pauses(signal, SR) == []
    with pytest.raises(AudioError, match="no speech detected"):
        trim_silence(signal, SR)


def test_speech_ratio_of_known_signal() -> None:
    signal = np.concatenate([silence(1.0), tone(seconds=1.0), silence(2.0)])
    assert speech_ratio(signal, SR, padding=0.0) == pytest.approx(0.25, abs=0.02)


def test_very_short_input_is_handled() -> None:
    assert speech_segments(tone(seconds=0.01), SR) == []
    assert speech_segments(np.array([0.5], np.float32), SR) == []


def test_long_input_uses_a_local_noise_floor() -> None:
    """The first half is much noisier than the second; bursts in both halves are still found."""
    rng = np.random.default_rng(5)
    noise = np.concatenate([0.02 * rng.standard_normal(20 * SR), 0.0005 * rng.standard_normal(20 * SR)])
    signal = noise.astype(np.float32)
    for start in (5.0, 30.0):
        signal[int(start * SR) : int((start + 1) * SR)] += tone(seconds=1.0, amp=0.3)
    assert_segments(speech_segments(signal, SR), [(5.0, 6.0), (30.0, 31.0)])


def test_long_input_finds_a_quiet_speaker_far_from_a_loud_one() -> None:
    """A speaker 50 dB quieter than a shout 20 s earlier is still speech (the loudest level is local)."""
    signal = np.zeros(40 * SR, np.float32)
    signal[2 * SR : 3 * SR] += tone(seconds=1.0, amp=0.9)
    signal[30 * SR : 32 * SR] += speechlike(2.0) * 0.003
    assert_segments(speech_segments(signal, SR), [(2.0, 3.0), (30.0, 32.0)])


def test_a_faint_breath_before_speech_is_not_speech() -> None:
    rng = np.random.default_rng(2)
    breath = (0.003 * rng.standard_normal(int(0.3 * SR))).astype(np.float32)  # about 40 dB below the speech
    signal = np.concatenate([silence(0.3), breath, silence(0.4), speechlike(2.0), silence(0.3)])
    assert_segments(speech_segments(signal, SR), [(1.0, 3.0)])


def test_bad_options_and_inputs() -> None:
    with pytest.raises(ConfigError, match=r"unknown key\(s\) pading; valid keys: .*padding"):
        speech_segments(padded_speech(), SR, pading=0.1)
    with pytest.raises(ConfigError, match="min_silence must be >= 0"):
        speech_segments(padded_speech(), SR, min_silence=-1)
    with pytest.raises(ConfigError, match="hop_s <= frame_s"):
        speech_segments(padded_speech(), SR, hop_s=0.05, frame_s=0.02)
    with pytest.raises(RegistryError, match="unknown VAD backend 'webrtc'; known: energy, silero"):
        speech_segments(padded_speech(), SR, backend="webrtc")
    with pytest.raises(AudioError, match=r"VAD expects a mono 1-D signal, got shape \(2, 100\)"):
        speech_segments(np.zeros((2, 100), np.float32), SR)
    with pytest.raises(AudioError, match="VAD expects float samples"):
        speech_segments(np.zeros(100, np.int16), SR)
    with pytest.raises(AudioError, match="NaN or infinite"):
        speech_segments(np.full(100, np.nan, np.float32), SR)
    with pytest.raises(AudioError, match="sample rate 10 Hz is outside"):
        speech_segments(padded_speech(), 10)


def test_vad_and_trim_of_a_four_second_clip_take_a_few_ms() -> None:
    clip = np.concatenate([silence(0.5), speechlike(3.0), silence(0.5)])
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        speech_segments(clip, SR)
        trim_silence(clip, SR)
        best = min(best, time.perf_counter() - began)
    assert best < 0.02, f"VAD + trim took {best * 1000:.1f} ms"


def test_silero_backend_missing_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    vad._silero_model.cache_clear()
    monkeypatch.setitem(sys.modules, "silero_vad", None)  # makes `import silero_vad` fail
    try:
        with pytest.raises(FeatureError, match="needs the optional package silero-vad: pip install"):
            speech_segments(padded_speech(), SR, backend="silero")
    finally:
        vad._silero_model.cache_clear()


def test_real_emodb_originals_have_plausible_speech_ratio() -> None:
    root = dataset_root("emodb-originals")
    for path in sorted(root.glob("*.wav")):
        samples = load_audio(path)
        ratio = speech_ratio(samples, SR)
        assert 0.6 < ratio <= 1.0, (path.name, ratio)
        segments = speech_segments(samples, SR)
        # EmoDB utterances start with a short lead-in before the speaker begins.
        assert 0.0 < segments[0].start < 0.3, (path.name, segments)


def test_silero_agrees_with_energy_on_real_speech() -> None:
    pytest.importorskip("silero_vad", reason="optional package silero-vad not installed")
    samples = load_audio(dataset_root("emodb-originals") / "03a01Fa.wav")
    energy = speech_segments(samples, SR, backend="energy")
    silero = speech_segments(samples, SR, backend="silero")
    assert silero, "silero found no speech in a real utterance"
    assert silero[0].start == pytest.approx(energy[0].start, abs=0.1)
    assert silero[-1].end == pytest.approx(energy[-1].end, abs=0.15)
    assert speech_ratio(samples, SR, backend="silero") > 0.6
