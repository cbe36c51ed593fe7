"""Decoding audio from paths, bytes or arrays into mono float32 at one sample rate.

Every way audio can be unusable ends in one :class:`~voxemo.errors.AudioError` whose message
says what is wrong and what to do; nothing here lets a bare library traceback through.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

from voxemo.errors import AudioError

DEFAULT_SAMPLE_RATE = 16_000
#: Longest input accepted by default (seconds); long recordings go through streaming decoding.
DEFAULT_MAX_DURATION = 3600.0
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 384_000
#: Peak amplitude below which a signal counts as digital silence (-100 dBFS).
SILENCE_PEAK = 1e-5
SUPPORTED_FORMATS = ("wav", "flac", "ogg", "mp3")

AudioSource = str | Path | bytes | bytearray | np.ndarray


@dataclass(frozen=True)
class AudioInfo:
    """What the container says about a file, without decoding it."""

    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def _describe(source: object) -> str:
    if isinstance(source, str | Path):
        return str(source)
    if isinstance(source, bytes | bytearray):
        return f"<{len(source)} bytes>"
    return "<array>"


def _open_target(source: str | Path | bytes | bytearray) -> str | BinaryIO:
    """Check a path or byte string for the obvious problems and return what soundfile opens."""
    if isinstance(source, bytes | bytearray):
        if len(source) == 0:
            raise AudioError("audio data is empty (0 bytes)")
        return io.BytesIO(bytes(source))
    path = Path(source)
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes)")
    return str(path)


def check_sample_rate(rate: object, what: str = "audio") -> int:
    """Return ``rate`` as an int, or raise AudioError if it is not a plausible sample rate."""
    is_number = isinstance(rate, int | float | np.integer | np.floating) and not isinstance(rate, bool)
    if not is_number or not np.isfinite(rate) or float(rate) != int(rate):
        raise AudioError(f"{what}: sample rate must be a whole number of Hz, got {rate!r}")
    if not MIN_SAMPLE_RATE <= int(rate) <= MAX_SAMPLE_RATE:
        raise AudioError(
            f"{what}: sample rate {rate} Hz is outside the supported range "
            f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz"
        )
    return int(rate)


def probe(source: str | Path | bytes | bytearray) -> AudioInfo:
    """Read the header of an audio file or byte string; raise AudioError if it is not audio."""
    what = _describe(source)
    target = _open_target(source)
    try:
        info = sf.info(target)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise AudioError(
            f"{what}: not a readable audio file ({_short(exc)}); it may be truncated, corrupt or not "
            f"audio at all; supported formats: {', '.join(SUPPORTED_FORMATS)}"
        ) from None
    check_sample_rate(info.samplerate, what)
    if info.frames <= 0:
        raise AudioError(f"{what}: the file holds no audio samples (zero length)")
    return AudioInfo(info.samplerate, info.channels, info.frames, info.format, info.subtype)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    # libsndfile prefixes its reason with the object it tried to open; only the reason helps.
    text = re.sub(r"^Error (opening|reading)?.*?:\s*", "", text).rstrip(".")
    # The mp3 decoder reports junk as a missing file; the file is known to exist by now.
    if not text or text.startswith("File does not exist"):
        text = "format not recognised"
    return (text[:1].lower() + text[1:])[:200]


def _to_frames_first(samples: np.ndarray) -> np.ndarray:
    """Accept (n,), (n, channels) or (channels, n); return (n, channels)."""
    if samples.ndim == 1:
        return samples[:, None]
    if samples.ndim != 2:
        raise AudioError(
            f"audio array must be 1-D (samples) or 2-D (samples x channels), got shape {samples.shape}"
        )
    rows, cols = samples.shape
    # A channel axis is short; the time axis is long.
    return samples.T if rows < cols and rows <= 32 else samples


def _as_float(samples: np.ndarray) -> np.ndarray:
    if samples.dtype.kind == "i":
        scale = float(np.iinfo(samples.dtype).max) + 1.0
        return (samples.astype(np.float64) / scale).astype(np.float32)
    if samples.dtype.kind == "u":
        info = np.iinfo(samples.dtype)
        mid = (info.max + 1) / 2.0
        return ((samples.astype(np.float64) - mid) / mid).astype(np.float32)
    if samples.dtype.kind == "f":
        return samples.astype(np.float32, copy=False)
    raise AudioError(
        f"audio array has unsupported dtype {samples.dtype}; "
        "use float or integer samples (e.g. float32, int16)"
    )


def validate(samples: np.ndarray, what: str = "audio", *, allow_silent: bool = False) -> np.ndarray:
    """Raise AudioError for empty, NaN/Inf or (unless allowed) digitally silent signals."""
    if samples.size == 0:
        raise AudioError(f"{what}: zero-length audio (no samples)")
    finite = np.isfinite(samples)
    if not finite.all():
        bad = int(samples.size - finite.sum())
        raise AudioError(f"{what}: contains {bad} NaN or infinite sample(s); the signal is corrupt")
    if not allow_silent and float(np.max(np.abs(samples))) < SILENCE_PEAK:
        raise AudioError(f"{what}: the audio is completely silent (peak below -100 dBFS)")
    return samples


def resample(samples: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling (soxr, high quality); a no-op when the rates match."""
    if orig_rate == target_rate:
        return samples
    check_sample_rate(orig_rate, "resample")
    check_sample_rate(target_rate, "resample")
    return soxr.resample(samples, orig_rate, target_rate, quality="HQ").astype(np.float32, copy=False)


def to_mono(frames_first: np.ndarray) -> np.ndarray:
    """Average channels; (n, channels) -> (n,)."""
    return frames_first.mean(axis=1) if frames_first.shape[1] > 1 else frames_first[:, 0]


def load_audio(
    source: AudioSource,
    sample_rate: int | None = None,
    *,
    target_rate: int | None = DEFAULT_SAMPLE_RATE,
    max_duration: float | None = DEFAULT_MAX_DURATION,
    allow_silent: bool = False,
) -> np.ndarray:
    """Load audio as mono float32 at ``target_rate`` (None keeps the native rate).

    ``source`` is a file path (wav, flac, ogg, mp3), the bytes of such a file, or a numpy array
    whose ``sample_rate`` must then be given. Raises :class:`AudioError` for anything unusable.
    """
    if target_rate is not None:
        check_sample_rate(target_rate, "target_rate")
    samples, rate = load_audio_with_rate(
        source, sample_rate, max_duration=max_duration, allow_silent=allow_silent
    )
    if target_rate is not None:
        samples = resample(samples, rate, target_rate)
    return samples


def load_audio_with_rate(
    source: AudioSource,
    sample_rate: int | None = None,
    *,
    max_duration: float | None = DEFAULT_MAX_DURATION,
    allow_silent: bool = False,
) -> tuple[np.ndarray, int]:
    """Like :func:`load_audio` but keep the native rate and return ``(samples, rate)``."""
    what = _describe(source)
    if isinstance(source, np.ndarray):
        if sample_rate is None:
            raise AudioError("an audio array needs its sample_rate: call load_audio(array, sample_rate)")
        rate = check_sample_rate(sample_rate, what)
        frames = _to_frames_first(_as_float(np.asarray(source)))
    else:
        if not isinstance(source, str | Path | bytes | bytearray):
            raise AudioError(f"cannot load audio from a {type(source).__name__}; give a path, bytes or array")
        info = probe(source)
        _check_duration(info.duration, max_duration, what)
        frames = _read_all(source, what)
        rate = info.sample_rate
    _check_duration(frames.shape[0] / rate, max_duration, what)
    mono = validate(to_mono(frames), what, allow_silent=allow_silent)
    return np.ascontiguousarray(mono, dtype=np.float32), rate


def _check_duration(seconds: float, limit: float | None, what: str) -> None:
    if limit is not None and seconds > limit:
        raise AudioError(
            f"{what}: {seconds:.1f} s of audio is over the limit of {limit:.0f} s; "
            "raise max_duration or process it as a timeline (streamed in windows)"
        )


def _read_all(source: str | Path | bytes | bytearray, what: str) -> np.ndarray:
    try:
        data, _ = sf.read(_open_target(source), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise AudioError(f"{what}: the file is truncated or corrupt ({_short(exc)})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{what}: the file holds no audio samples (truncated or zero length)")
    return data


def iter_blocks(
    source: str | Path,
    block_seconds: float = 30.0,
    *,
    target_rate: int = DEFAULT_SAMPLE_RATE,
) -> Iterator[np.ndarray]:
    """Decode a long file block by block (mono, resampled) so memory stays flat."""
    what = _describe(source)
    check_sample_rate(target_rate, "target_rate")
    if not block_seconds > 0:
        raise AudioError(f"block_seconds must be positive, got {block_seconds}")
    info = probe(source)
    block = max(1, int(block_seconds * info.sample_rate))
    resampler = soxr.ResampleStream(info.sample_rate, target_rate, 1, dtype="float32", quality="HQ")
    try:
        with sf.SoundFile(_open_target(source)) as fh:
            while True:
                data = fh.read(block, dtype="float32", always_2d=True)
                last = data.shape[0] < block
                mono = to_mono(data) if data.shape[0] else np.zeros(0, np.float32)
                if not np.isfinite(mono).all():
                    raise AudioError(f"{what}: contains NaN or infinite samples; the signal is corrupt")
                out = resampler.resample_chunk(np.ascontiguousarray(mono), last=last)
                if out.size:
                    yield out
                if last:
                    break
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"{what}: the file is truncated or corrupt ({_short(exc)})") from None
