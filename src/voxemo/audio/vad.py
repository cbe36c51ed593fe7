"""Speech activity detection: where in a signal someone is speaking.

Two backends live in :data:`VAD_BACKENDS`:

- ``energy`` (default, no extra dependency, ~1 ms for a few seconds of audio): per-frame energy
  with the frame mean removed (so a DC offset is invisible), compared with an adaptive threshold
  set from the noise floor (a low percentile of frame energies, per 10 s block) and from the
  loudest frame of the block. Speech starts ``onset_db`` above the floor and within
  ``dynamic_range_db`` of the loudest frame (breaths and clicks before an utterance lie lower);
  it continues while frames stay ``offset_db`` above the floor and within ``tail_range_db``
  (hysteresis: the hangover that keeps weak word endings). Stationary signals (hiss, hum, a
  steady tone alone) have no frames above their own floor and so contain no speech.
- ``silero`` (optional): the Silero neural VAD from the ``silero-vad`` package, which ships its
  model inside the wheel and needs neither torchaudio nor a download.

Every backend returns :class:`Segment` lists cleaned the same way: pauses shorter than
``min_silence`` are bridged, bursts shorter than ``min_speech`` dropped, ``padding`` added.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import warnings
from typing import Any, ClassVar, Protocol

import numpy as np

from voxemo.audio.io import check_sample_rate, resample, validate
from voxemo.config import Config
from voxemo.errors import AudioError, ConfigError, FeatureError
from voxemo.registry import Registry

#: Energies are clamped here (dBFS) so digital silence does not produce -inf.
ENERGY_FLOOR_DB = -100.0


@dataclasses.dataclass(frozen=True)
class Segment:
    """A stretch of speech, in seconds from the start of the signal."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, float]:
        return {"start": round(self.start, 4), "end": round(self.end, 4)}


@dataclasses.dataclass
class VadOptions(Config):
    """Segment clean-up shared by every backend (all in seconds)."""

    min_speech: float = 0.1
    min_silence: float = 0.25
    padding: float = 0.03

    def __post_init__(self) -> None:
        for name in ("min_speech", "min_silence", "padding"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"VAD option {name} must be >= 0 seconds, got {getattr(self, name)}")


class VadBackend(Protocol):
    """A backend: built from its ``Options``, returns raw speech regions in seconds."""

    Options: ClassVar[type[VadOptions]]

    def __init__(self, options: Any) -> None: ...

    def regions(self, x: np.ndarray, sr: int) -> list[tuple[float, float]]: ...


VAD_BACKENDS: Registry[type[VadBackend]] = Registry("VAD backend")


# ---------------------------------------------------------------- energy backend


@dataclasses.dataclass
class EnergyVadOptions(VadOptions):
    frame_s: float = 0.025
    hop_s: float = 0.010
    #: A frame starts speech this far above the noise floor (dB) ...
    onset_db: float = 10.0
    #: ... and speech continues while frames stay this far above it (hysteresis).
    offset_db: float = 6.0
    #: Speech starts only within this many dB of the loudest frame (breaths and clicks lie lower) ...
    dynamic_range_db: float = 35.0
    #: ... and continues down to this many dB below it (weak consonants at word edges).
    tail_range_db: float = 40.0
    #: Which percentile of frame energies is taken as the noise floor.
    floor_percentile: float = 10.0
    #: Long signals get their own noise floor and loudest level per block of this many seconds.
    block_s: float = 10.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (0 < self.hop_s <= self.frame_s and 0 <= self.offset_db <= self.onset_db):
            raise ConfigError(
                "energy VAD needs 0 < hop_s <= frame_s and 0 <= offset_db <= onset_db; "
                f"got frame_s={self.frame_s}, hop_s={self.hop_s}, onset_db={self.onset_db}, "
                f"offset_db={self.offset_db}"
            )
        if not (0 <= self.floor_percentile < 100 and self.block_s > 0):
            raise ConfigError("energy VAD needs 0 <= floor_percentile < 100 and block_s > 0")
        if not 0 <= self.dynamic_range_db <= self.tail_range_db:
            raise ConfigError(
                f"energy VAD needs 0 <= dynamic_range_db <= tail_range_db; got {self.dynamic_range_db}, "
                f"{self.tail_range_db}"
            )


#: Frames whose energies are computed in one pass; bounds memory on hour-long input (~30 MB).
ENERGY_CHUNK_FRAMES = 20_000


def frame_energy_db(x: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """Energy (dBFS) of each frame with the frame's own mean removed (a DC offset is invisible).

    Frames are those of ``frame_signal(x, frame, hop, pad=True)``; the tail is zero-padded.
    """
    n_frames = 1 + max(0, math.ceil((x.size - frame) / hop))
    padded = np.zeros((n_frames - 1) * hop + frame, np.float32)
    padded[: x.size] = x
    # Subtracting the global mean keeps the running sums small: precision for silence after loud parts.
    offset = np.mean(x, dtype=np.float64)
    energy = np.empty(n_frames)
    for first in range(0, n_frames, ENERGY_CHUNK_FRAMES):
        last = min(n_frames, first + ENERGY_CHUNK_FRAMES)
        energy[first:last] = _chunk_energy(padded[first * hop : (last - 1) * hop + frame], offset, frame, hop)
    return np.maximum(10.0 * np.log10(np.maximum(energy, 1e-30)), ENERGY_FLOOR_DB)


def _chunk_energy(chunk: np.ndarray, offset: float, frame: int, hop: int) -> np.ndarray:
    """Per-frame variance in O(n) from running sums of x and x^2."""
    centred = np.concatenate(([0.0], chunk - offset))
    sums = np.cumsum(centred)
    squares = np.cumsum(centred * centred)
    starts = np.arange(0, chunk.size - frame + 1, hop)
    mean = (sums[starts + frame] - sums[starts]) / frame
    return (squares[starts + frame] - squares[starts]) / frame - mean * mean


def _block_levels(energy: np.ndarray, percentile: float, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame noise floor (a low percentile) and loudest level, from blocks of about ``block`` frames.

    Long recordings change: a quiet speaker after a loud one, noise that comes and goes. Between
    block centres the floor is interpolated, but never below the frame's own block: where the noise
    drops abruptly, interpolation alone would lower the floor inside the noisy block and turn its
    noise into "speech"; the cost is a slightly high threshold just after the drop.
    """
    # Near-equal blocks, so the last one is never a handful of frames.
    n_blocks = max(1, round(energy.size / block))
    bounds = np.linspace(0, energy.size, n_blocks + 1).astype(int)
    floors = np.array([np.percentile(energy[a:b], percentile) for a, b in itertools.pairwise(bounds)])
    loudest = np.maximum.reduceat(energy, bounds[:-1])
    frames = np.arange(energy.size)
    own_block = np.searchsorted(bounds, frames, side="right") - 1
    floor = floors[own_block]
    if n_blocks > 1:
        floor = np.maximum(floor, np.interp(frames, (bounds[:-1] + bounds[1:]) / 2, floors))
    return floor, loudest[own_block]


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start (inclusive) and end (exclusive) indices of the runs of True in a boolean mask."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


@VAD_BACKENDS.register("energy")
class EnergyVad:
    """Frame energy against an adaptive, noise-floor-relative threshold with hysteresis."""

    Options = EnergyVadOptions

    def __init__(self, options: EnergyVadOptions) -> None:
        self.options = options

    def regions(self, x: np.ndarray, sr: int) -> list[tuple[float, float]]:
        opts = self.options
        frame = max(1, round(opts.frame_s * sr))
        hop = max(1, round(opts.hop_s * sr))
        energy = frame_energy_db(x, frame, hop)
        block = max(1, round(opts.block_s / opts.hop_s))
        floor, loudest = _block_levels(energy, opts.floor_percentile, block)
        onset = energy > np.maximum(floor + opts.onset_db, loudest - opts.dynamic_range_db)
        active = energy > np.maximum(floor + opts.offset_db, loudest - opts.tail_range_db)
        starts, ends = _runs(active)
        # Hysteresis: keep a run above the low threshold only if some frame in it crosses the high one.
        onsets_before = np.concatenate(([0], np.cumsum(onset)))
        keep = onsets_before[ends] > onsets_before[starts]
        # A frame's energy describes its centre; a run spans from its first to its last frame centre
        # plus half a hop either side.
        centre = frame / 2
        return [
            (max(0.0, (s * hop + centre - hop / 2) / sr), min(x.size, (e - 1) * hop + centre + hop / 2) / sr)
            for s, e in zip(starts[keep], ends[keep], strict=True)
        ]


# ---------------------------------------------------------------- silero backend

SILERO_INSTALL_HINT = (
    "the 'silero' VAD backend needs the optional package silero-vad: pip install silero-vad "
    "(its model ships inside the package; torchaudio is not needed); or use backend='energy'"
)


@dataclasses.dataclass
class SileroVadOptions(VadOptions):
    #: Speech probability above which a 32 ms window counts as speech.
    threshold: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.threshold < 1:
            raise ConfigError(f"silero VAD threshold must be in (0, 1), got {self.threshold}")


@functools.cache
def _silero_model() -> Any:
    """Load the Silero model bundled in the wheel once per process (ONNX when onnxruntime exists)."""
    try:
        import silero_vad
    except ImportError:
        raise FeatureError(SILERO_INSTALL_HINT) from None
    try:
        import onnxruntime  # noqa: F401

        use_onnx = True  # about 8x faster than the TorchScript model on CPU
    except ImportError:
        use_onnx = False
    with warnings.catch_warnings():
        # silero-vad locates its bundled model with a deprecated importlib.resources call.
        warnings.simplefilter("ignore", DeprecationWarning)
        return silero_vad.load_silero_vad(onnx=use_onnx)


@VAD_BACKENDS.register("silero")
class SileroVad:
    """Silero's neural VAD (8 or 16 kHz; other rates are resampled to 16 kHz first)."""

    Options = SileroVadOptions

    def __init__(self, options: SileroVadOptions) -> None:
        self.options = options
        self.model = _silero_model()

    def regions(self, x: np.ndarray, sr: int) -> list[tuple[float, float]]:
        import torch
        from silero_vad import get_speech_timestamps

        rate = sr if sr in (8000, 16000) else 16000
        samples = resample(x.astype(np.float32), sr, rate)
        with torch.no_grad():
            stamps = get_speech_timestamps(
                torch.from_numpy(np.ascontiguousarray(samples)),
                self.model,
                sampling_rate=rate,
                threshold=self.options.threshold,
                # Clean-up happens in one place (_clean_up) for every backend.
                min_speech_duration_ms=0,
                min_silence_duration_ms=0,
                speech_pad_ms=0,
            )
        return [(s["start"] / rate, s["end"] / rate) for s in stamps]


# ---------------------------------------------------------------- public API


def _clean_up(regions: list[tuple[float, float]], options: VadOptions, duration: float) -> list[Segment]:
    """Bridge short pauses, drop short bursts, pad, and merge what padding made overlap."""
    bridged: list[list[float]] = []
    for start, end in sorted((float(a), float(b)) for a, b in regions):
        if bridged and start - bridged[-1][1] < options.min_silence:
            bridged[-1][1] = max(bridged[-1][1], end)
        else:
            bridged.append([start, end])
    segments: list[Segment] = []
    for start, end in bridged:
        if end - start < options.min_speech:
            continue
        start, end = max(0.0, start - options.padding), min(duration, end + options.padding)
        if segments and start <= segments[-1].end:
            segments[-1] = Segment(segments[-1].start, end)
        else:
            segments.append(Segment(start, end))
    return segments


def _signal(x: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    rate = check_sample_rate(sr, "VAD")
    x = np.asarray(x)
    if x.ndim != 1:
        raise AudioError(f"VAD expects a mono 1-D signal, got shape {x.shape}; use load_audio first")
    if x.dtype.kind != "f":
        raise AudioError(f"VAD expects float samples, got dtype {x.dtype}; use load_audio first")
    return validate(x, "VAD input", allow_silent=True), rate


def speech_segments(x: np.ndarray, sr: int, *, backend: str = "energy", **opts: Any) -> list[Segment]:
    """Speech regions of a mono signal, in seconds; ``opts`` are the backend's options.

    Unknown options raise ConfigError listing the valid ones (see ``EnergyVadOptions`` and
    ``SileroVadOptions``).
    """
    x, sr = _signal(x, sr)
    backend_class = VAD_BACKENDS.get(backend)
    options = backend_class.Options.from_dict(opts)
    regions = backend_class(options).regions(x, sr)
    return _clean_up(regions, options, x.size / sr)


def speech_span(x: np.ndarray, sr: int, **opts: Any) -> Segment:
    """From the start of the first to the end of the last speech segment; AudioError if there is none."""
    segments = speech_segments(x, sr, **opts)
    if not segments:
        raise AudioError(
            "no speech detected: the signal is silent or stationary noise; check the recording "
            "or preprocess without trim_silence"
        )
    return Segment(segments[0].start, segments[-1].end)


def trim_silence(x: np.ndarray, sr: int, **opts: Any) -> np.ndarray:
    """Cut leading and trailing non-speech (a view into ``x``); AudioError when no speech is found."""
    span = speech_span(x, sr, **opts)
    return x[int(span.start * sr) : math.ceil(span.end * sr)]


def split_on_pauses(
    x: np.ndarray, sr: int, *, min_silence: float = 0.3, **opts: Any
) -> list[tuple[Segment, np.ndarray]]:
    """Split at pauses of at least ``min_silence`` s: ``(segment, samples)`` per stretch of speech."""
    segments = speech_segments(x, sr, min_silence=min_silence, **opts)
    return [(seg, x[int(seg.start * sr) : math.ceil(seg.end * sr)]) for seg in segments]


def speech_ratio(x: np.ndarray, sr: int, **opts: Any) -> float:
    """Share of the signal's duration covered by speech segments (0 for silence or noise)."""
    segments = speech_segments(x, sr, **opts)
    duration = np.asarray(x).size / sr
    return float(min(1.0, sum(seg.duration for seg in segments) / duration))
