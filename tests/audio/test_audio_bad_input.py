"""Every kind of unusable input to load_audio / probe ends in an AudioError with a useful message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import SR, tone
from voxemo.audio import io as audio_io
from voxemo.audio import iter_blocks, load_audio, load_audio_with_rate, probe
from voxemo.errors import AudioError, VoxemoError


def write(path: Path, samples: np.ndarray, rate: int = SR, **kwargs) -> Path:
    sf.write(path, samples, rate, **kwargs)
    return path


def cut_in_half(path: Path) -> Path:
    data = path.read_bytes()
    half = path.with_name("half-" + path.name)
    half.write_bytes(data[: len(data) // 2])
    return half


# ------------------------------------------------------------------ paths that are not audio files


@pytest.mark.parametrize("reader", [load_audio, probe])
def test_missing_file(tmp_path: Path, reader) -> None:
    with pytest.raises(AudioError, match=r"nope\.wav: file not found"):
        reader(tmp_path / "nope.wav")


@pytest.mark.parametrize("reader", [load_audio, probe])
def test_folder(tmp_path: Path, reader) -> None:
    with pytest.raises(AudioError, match="is a folder, not an audio file"):
        reader(tmp_path)


@pytest.mark.parametrize("reader", [load_audio, probe])
def test_empty_file_and_empty_bytes(tmp_path: Path, reader) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty\.wav: file is empty \(0 bytes\)"):
        reader(empty)
    with pytest.raises(AudioError, match=r"audio data is empty \(0 bytes\)"):
        reader(b"")


@pytest.mark.parametrize("suffix", [".wav", ".mp3", ".flac"])
def test_text_renamed_as_audio(tmp_path: Path, suffix: str) -> None:
    fake = tmp_path / f"notes{suffix}"
    fake.write_text("this is a shopping list, not a recording\n" * 20)
    with pytest.raises(AudioError, match=r"not a readable audio file \(format not recognised\)"):
        load_audio(fake)
    with pytest.raises(AudioError, match="supported formats: wav, flac, ogg, mp3"):
        probe(fake.read_bytes())


def test_random_bytes_named_mp3_do_not_pass_as_missing_file(tmp_path: Path) -> None:
    # The mp3 decoder reports junk as "File does not exist", which would send a user looking for a file.
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 100_000, dtype=np.uint8).tobytes())
    with pytest.raises(AudioError, match=r"junk\.mp3: not a readable audio file \(format not recognised\)"):
        load_audio(junk)


def test_unsupported_source_type() -> None:
    with pytest.raises(AudioError, match="cannot load audio from a list; give a path, bytes or array"):
        load_audio([0.1, 0.2, 0.3])


# ------------------------------------------------------------------ damaged or empty audio files


def test_wav_cut_in_half_decodes_what_is_there(tmp_path: Path) -> None:
    """A WAV has no checksum: like any player we decode the frames present, never hang or crash."""
    original = tone(440, 2.0)
    half = cut_in_half(write(tmp_path / "tone.wav", original))
    decoded = load_audio(half)
    assert 0.45 * original.size < decoded.size < 0.55 * original.size
    np.testing.assert_allclose(decoded, original[: decoded.size], atol=1 / 32768)
    assert probe(half).frames == decoded.size


def test_flac_cut_in_half_is_an_error(tmp_path: Path) -> None:
    half = cut_in_half(write(tmp_path / "tone.flac", tone(440, 2.0)))
    with pytest.raises(AudioError, match=r"half-tone\.flac: the file is truncated or corrupt \(.*lost sync"):
        load_audio(half)


def test_ogg_cut_in_half_is_an_error(tmp_path: Path) -> None:
    half = cut_in_half(write(tmp_path / "tone.ogg", tone(440, 2.0)))
    with pytest.raises(AudioError, match=r"not a readable audio file \(.*malformed\); it may be truncated"):
        load_audio(half)


def test_mp3_cut_in_half_decodes_a_shorter_signal(tmp_path: Path) -> None:
    half = cut_in_half(write(tmp_path / "tone.mp3", tone(440, 2.0)))
    decoded = load_audio(half)
    assert 0.2 * 2 * SR < decoded.size < 0.6 * 2 * SR


def test_wav_header_without_data(tmp_path: Path) -> None:
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(write(tmp_path / "full.wav", tone()).read_bytes()[:44])
    with pytest.raises(AudioError, match=r"header\.wav: the file holds no audio samples \(zero length\)"):
        load_audio(header_only)


def test_valid_wav_with_zero_frames(tmp_path: Path) -> None:
    path = write(tmp_path / "zero.wav", np.zeros(0, np.float32))
    for reader in (load_audio, probe):
        with pytest.raises(AudioError, match=r"zero\.wav: the file holds no audio samples \(zero length\)"):
            reader(path)


def test_all_silent_file_and_array(tmp_path: Path) -> None:
    path = write(tmp_path / "silence.wav", np.zeros(SR, np.float32))
    with pytest.raises(AudioError, match=r"silence\.wav: the audio is completely silent"):
        load_audio(path)
    with pytest.raises(AudioError, match="completely silent"):
        load_audio(np.zeros(SR, np.float32), SR)
    assert np.array_equal(load_audio(path, allow_silent=True), np.zeros(SR, np.float32))


def test_nan_and_inf_samples(tmp_path: Path) -> None:
    samples = tone()
    samples[[10, 500]] = [np.nan, np.inf]
    with pytest.raises(AudioError, match=r"contains 2 NaN or infinite sample\(s\); the signal is corrupt"):
        load_audio(samples, SR)
    float_wav = write(tmp_path / "nan.wav", samples, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav: contains 2 NaN or infinite"):
        load_audio(float_wav)
    with pytest.raises(AudioError, match="NaN or infinite"):
        list(iter_blocks(float_wav, 0.25))


# ------------------------------------------------------------------ sample rates


@pytest.mark.parametrize("rate", [10, 10_000_000])
def test_absurd_sample_rate_of_array(rate: int) -> None:
    expected = rf"sample rate {rate} Hz is outside the supported range 1000-384000"
    with pytest.raises(AudioError, match=expected):
        load_audio(tone(seconds=0.1), rate)


@pytest.mark.parametrize("rate", [10, 10_000_000])
def test_absurd_sample_rate_in_wav_header(tmp_path: Path, rate: int) -> None:
    path = write(tmp_path / f"rate{rate}.wav", tone(seconds=0.1), rate)
    assert sf.info(path).samplerate == rate  # the header really says so
    for reader in (load_audio, probe):
        with pytest.raises(AudioError, match=rf"rate{rate}\.wav: sample rate {rate} Hz is outside"):
            reader(path)


@pytest.mark.parametrize("rate", ["16k", 16000.5, True, None])
def test_sample_rate_that_is_not_a_whole_number(rate) -> None:
    message = "needs its sample_rate" if rate is None else "sample rate must be a whole number of Hz"
    with pytest.raises(AudioError, match=message):
        load_audio(tone(), rate)


def test_absurd_target_rate_fails_before_decoding(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match=r"target_rate: sample rate 5 Hz is outside"):
        load_audio(tmp_path / "never-opened.wav", target_rate=5)


# ------------------------------------------------------------------ too long


def test_too_long_file_fails_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "long.flac", np.tile(tone(seconds=1.0), 120))  # 2 minutes

    def must_not_decode(*args, **kwargs):
        raise AssertionError("the file was decoded although its header already says it is too long")

    monkeypatch.setattr(audio_io, "_read_all", must_not_decode)
    expected = r"long\.flac: 120\.0 s of audio is over the limit of 1 s; raise max_duration"
    with pytest.raises(AudioError, match=expected):
        load_audio(path, max_duration=1.0)
    with pytest.raises(AudioError, match=r"<\d+ bytes>: 120\.0 s of audio is over the limit"):
        load_audio(path.read_bytes(), max_duration=1.0)


def test_too_long_array() -> None:
    with pytest.raises(AudioError, match=r"<array>: 2\.0 s of audio is over the limit of 1 s"):
        load_audio(tone(seconds=2.0), SR, max_duration=1.0)
    assert load_audio(tone(seconds=2.0), SR, max_duration=None).size == 2 * SR


# ------------------------------------------------------------------ arrays of the wrong shape or type


def test_array_without_sample_rate() -> None:
    with pytest.raises(AudioError, match=r"an audio array needs its sample_rate: call load_audio\(array"):
        load_audio(tone())


def test_three_dimensional_array() -> None:
    with pytest.raises(AudioError, match=r"must be 1-D \(samples\) or 2-D .* got shape \(2, 3, 1000\)"):
        load_audio(np.zeros((2, 3, 1000), np.float32) + 0.1, SR)


@pytest.mark.parametrize(
    "samples",
    [
        tone().astype(np.complex64),
        tone() > 0,
        np.array(["a", "b"] * 100),
        np.array([0.1, None] * 100, dtype=object),
    ],
    ids=["complex", "bool", "str", "object"],
)
def test_unsupported_dtype(samples: np.ndarray) -> None:
    with pytest.raises(AudioError, match=r"unsupported dtype .*; use float or integer samples"):
        load_audio(samples, SR)


def test_zero_length_array() -> None:
    with pytest.raises(AudioError, match=r"zero-length audio \(no samples\)"):
        load_audio_with_rate(np.zeros(0, np.float32), SR)


def test_every_error_is_a_voxemo_error(tmp_path: Path) -> None:
    with pytest.raises(VoxemoError):
        load_audio(tmp_path / "missing.ogg")
