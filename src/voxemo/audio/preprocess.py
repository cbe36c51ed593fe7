"""The preprocessing chain applied before feature extraction, and a one-look summary of a signal.

Order of :func:`preprocess` and why:

1. resample to ``target_rate``: every later step has parameters in Hz and seconds;
2. remove the DC offset: it would bias loudness and normalisation;
3. denoise: the noise profile is estimated from pauses, so it must run before trimming them;
4. trim leading/trailing silence, at boundaries found on the signal *before* denoising: the
   energy VAD is built to ignore stationary noise, whereas the gate's residue in the pauses is
   bursty and would look like speech;
5. normalise the level: measured on speech only, not on the removed silence;
6. pre-emphasis last: it reshapes the spectrum of exactly the signal the features will see.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from voxemo.audio.denoise import spectral_gate
from voxemo.audio.dsp import pre_emphasis
from voxemo.audio.io import DEFAULT_SAMPLE_RATE, check_sample_rate, resample, validate
from voxemo.audio.normalize import loudness_dbfs, peak_dbfs, peak_normalize, rms_normalize
from voxemo.audio.vad import VAD_BACKENDS, speech_segments, speech_span
from voxemo.config import Config
from voxemo.errors import AudioError, ConfigError
from voxemo.registry import Registry

#: |sample| at or above this counts as clipped (int16 full scale decodes to 0.99997).
CLIP_LEVEL = 0.999

Normalizer = Callable[[np.ndarray, "PreprocessConfig"], np.ndarray]
NORMALIZERS: Registry[Normalizer] = Registry("normalization")


@NORMALIZERS.register("none")
def _no_normalization(x: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    return x


@NORMALIZERS.register("peak")
def _peak(x: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    return peak_normalize(x, config.peak)


@NORMALIZERS.register("rms")
def _rms(x: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    return rms_normalize(x, config.target_dbfs)


@dataclasses.dataclass
class PreprocessConfig(Config):
    """What :func:`preprocess` does; the defaults only resample and remove DC."""

    target_rate: int = DEFAULT_SAMPLE_RATE
    remove_dc: bool = True
    denoise: bool = False
    trim_silence: bool = False
    #: "none", "peak" (to ``peak``) or "rms" (to ``target_dbfs``, peak capped at 0.999).
    normalize: str = "none"
    peak: float = 0.95
    target_dbfs: float = -23.0
    #: Pre-emphasis coefficient (e.g. 0.97), or None for none.
    pre_emphasis: float | None = None
    vad_backend: str = "energy"

    def __post_init__(self) -> None:
        try:
            check_sample_rate(self.target_rate, "target_rate")
        except AudioError as exc:
            raise ConfigError(f"PreprocessConfig: {exc}") from None
        for value, registry in ((self.normalize, NORMALIZERS), (self.vad_backend, VAD_BACKENDS)):
            if value not in registry:
                known = ", ".join(registry.names())
                raise ConfigError(f"PreprocessConfig: unknown {registry.kind} {value!r}; known: {known}")
        if self.pre_emphasis is not None and not 0.0 <= self.pre_emphasis < 1.0:
            raise ConfigError(
                f"PreprocessConfig: pre_emphasis must be in [0, 1) or null, got {self.pre_emphasis}"
            )


def _mono_float(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 1 or x.dtype.kind != "f":
        raise AudioError(
            f"{what}: expected mono float samples (1-D), got {x.dtype} of shape {x.shape}; "
            "decode with voxemo.audio.load_audio first"
        )
    return validate(x.astype(np.float32, copy=False), what, allow_silent=True)


def preprocess(x: np.ndarray, sr: int, config: PreprocessConfig | None = None) -> np.ndarray:
    """Run the configured chain (see the module docstring); returns float32 at ``config.target_rate``."""
    config = config or PreprocessConfig()
    x = _mono_float(x, "preprocess")
    sr = check_sample_rate(sr, "preprocess")
    x = resample(x, sr, config.target_rate)
    rate = config.target_rate
    if config.remove_dc:
        x = x - np.mean(x, dtype=np.float64).astype(np.float32)
    span = speech_span(x, rate, backend=config.vad_backend) if config.trim_silence else None
    if config.denoise:
        x = spectral_gate(x, rate)
    if span is not None:
        x = x[int(span.start * rate) : math.ceil(span.end * rate)]
    x = NORMALIZERS.get(config.normalize)(x, config)
    if config.pre_emphasis is not None:
        x = pre_emphasis(x, config.pre_emphasis)
    return np.array(x, dtype=np.float32)  # a fresh contiguous array, never a view of the input


def summarize(x: np.ndarray, sr: int) -> dict[str, Any]:
    """Level and speech statistics of a mono signal, JSON-friendly (used by ``voxemo inspect``).

    Keys: duration_s, speech_ratio, speech_segments, peak_dbfs, rms_dbfs, clipping_fraction,
    dc_offset. Silent input is allowed (speech ratio 0, levels at the -120 dBFS floor).
    """
    x = _mono_float(x, "summarize")
    sr = check_sample_rate(sr, "summarize")
    duration = x.size / sr
    segments = speech_segments(x, sr)
    return {
        "duration_s": round(duration, 3),
        "speech_ratio": round(min(1.0, sum(s.duration for s in segments) / duration), 3),
        "speech_segments": len(segments),
        # + 0.0 turns a rounded -0.0 (a full-scale peak) into 0.0 for display.
        "peak_dbfs": round(peak_dbfs(x), 2) + 0.0,
        "rms_dbfs": round(loudness_dbfs(x), 2) + 0.0,
        "clipping_fraction": round(float(np.mean(np.abs(x) >= CLIP_LEVEL)), 6),
        "dc_offset": round(float(np.mean(x, dtype=np.float64)), 6),
    }
