"""Level measurement and normalisation: peak and RMS (loudness) normalisation in dBFS.

dBFS values are relative to a full-scale sample of 1.0; a full-scale sine has an RMS of -3 dBFS.
Silence is reported as :data:`DB_FLOOR` rather than ``-inf`` so reports stay JSON-friendly.
"""

from __future__ import annotations

import numpy as np

from voxemo.errors import AudioError, ConfigError

#: Level reported for digital silence (dBFS); also the lowest level any function here returns.
DB_FLOOR = -120.0
#: Highest peak :func:`rms_normalize` lets through, so raising the level never clips.
MAX_PEAK = 0.999
#: Peak amplitude below which a signal cannot be normalised (-100 dBFS, as in :mod:`voxemo.audio.io`).
SILENCE_PEAK = 1e-5


def _as_signal(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.size == 0:
        raise AudioError(f"{what}: zero-length audio (no samples)")
    if x.dtype.kind != "f":
        raise AudioError(f"{what}: expected float samples, got dtype {x.dtype}; decode with load_audio first")
    return x


def _to_db(amplitude: float) -> float:
    return float(max(DB_FLOOR, 20.0 * np.log10(max(amplitude, 1e-300))))


def peak_dbfs(x: np.ndarray) -> float:
    """Peak level in dBFS (``DB_FLOOR`` for digital silence)."""
    x = _as_signal(x, "peak_dbfs")
    return _to_db(float(np.max(np.abs(x))))


def loudness_dbfs(x: np.ndarray) -> float:
    """RMS level in dBFS over the whole signal (``DB_FLOOR`` for digital silence)."""
    x = _as_signal(x, "loudness_dbfs")
    # float64 accumulation: long float32 signals otherwise lose precision in the sum of squares.
    return _to_db(float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))))


def _require_sound(x: np.ndarray, what: str) -> float:
    peak = float(np.max(np.abs(x)))
    if not np.isfinite(peak):
        raise AudioError(f"{what}: the signal contains NaN or infinite samples; it is corrupt")
    if peak < SILENCE_PEAK:
        raise AudioError(
            f"{what}: cannot normalise silent audio (peak below -100 dBFS); check the recording or skip it"
        )
    return peak


def peak_normalize(x: np.ndarray, peak: float = 0.95) -> np.ndarray:
    """Scale ``x`` so its largest absolute sample equals ``peak`` (0 < peak <= 1)."""
    if not 0.0 < peak <= 1.0:
        raise ConfigError(f"peak_normalize: peak must be in (0, 1], got {peak}")
    x = _as_signal(x, "peak_normalize")
    current = _require_sound(x, "peak_normalize")
    return (x * (peak / current)).astype(np.float32, copy=False)


def rms_normalize(x: np.ndarray, target_dbfs: float = -23.0) -> np.ndarray:
    """Scale ``x`` to an RMS level of ``target_dbfs``, lowering the gain if the peak would exceed 0.999.

    The cap means a very peaky signal can end up quieter than asked; clipping it would distort
    exactly the voice-quality cues emotion models rely on.
    """
    if not -100.0 <= target_dbfs <= 0.0:
        raise ConfigError(f"rms_normalize: target_dbfs must be in [-100, 0] dBFS, got {target_dbfs}")
    x = _as_signal(x, "rms_normalize")
    peak = _require_sound(x, "rms_normalize")
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    gain = min(10.0 ** (target_dbfs / 20.0) / rms, MAX_PEAK / peak)
    return (x * gain).astype(np.float32, copy=False)
