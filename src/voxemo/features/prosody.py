"""Prosody and voice quality of one utterance, measured with Praat (praat-parselmouth).

Pitch (F0) statistics in Hz and in semitones, intensity statistics, voiced ratio, duration, a
speaking-rate proxy (syllable nuclei per second), pause proxies, jitter, shimmer and HNR.

Conventions, so every value is finite for any input (silence included):

- ``f0_*``: over voiced frames only; all 0 when nothing is voiced (then ``voiced_ratio`` is 0).
- Semitones are relative to 27.5 Hz (as in eGeMAPS); slopes are per second.
- ``intensity_*``: Praat intensity (dB, full scale = 91 dB) over *sounding* frames: frames within
  ``silence_db`` of the loudest 1 % and above ``min_intensity_db``; all 0 when none sounds.
- Syllable nuclei: voiced intensity peaks above the silence threshold that stand out from their
  surroundings by at least ``min_dip_db`` (after De Jong & Wempe 2009).
- Pauses: silent stretches of at least ``min_pause`` seconds between the first and last sounding
  frame; ``pause_ratio`` is their total over that span.
- ``jitter_local``, ``shimmer_local`` (ratios) and ``hnr_db``: 0 when Praat finds no periods.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import parselmouth
from parselmouth.praat import call

from voxemo.errors import ConfigError, FeatureError
from voxemo.features.base import FeatureExtractor
from voxemo.features.registry import register_feature

SEMITONE_REFERENCE_HZ = 27.5
#: Praat marks frames without a harmonicity estimate with this value.
_PRAAT_UNDEFINED_HNR = -200.0


def semitones(hz: np.ndarray, reference: float = SEMITONE_REFERENCE_HZ) -> np.ndarray:
    """Frequencies in semitones above ``reference`` Hz."""
    return 12.0 * np.log2(np.asarray(hz, dtype=np.float64) / reference)


def _sound(x: np.ndarray, sample_rate: int) -> parselmouth.Sound:
    return parselmouth.Sound(np.asarray(x, dtype=np.float64), sampling_frequency=float(sample_rate))


def _pitch(sound: parselmouth.Sound, time_step: float, floor: float, ceiling: float) -> parselmouth.Pitch:
    try:
        return sound.to_pitch_ac(time_step=time_step, pitch_floor=floor, pitch_ceiling=ceiling)
    except parselmouth.PraatError as exc:
        raise FeatureError(f"pitch tracking failed: {str(exc).strip().splitlines()[0]}") from None


def pitch_contour(
    x: np.ndarray,
    sample_rate: int = 16_000,
    *,
    pitch_floor: float = 75.0,
    pitch_ceiling: float = 600.0,
    time_step: float = 0.01,
) -> tuple[np.ndarray, np.ndarray]:
    """Frame times (s) and F0 (Hz, 0 where unvoiced) of a mono signal, from Praat's autocorrelation."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise FeatureError(f"pitch_contour needs a non-empty mono signal, got shape {x.shape}")
    pitch = _pitch(_sound(x, sample_rate), time_step, pitch_floor, pitch_ceiling)
    f0 = np.nan_to_num(pitch.selected_array["frequency"], nan=0.0)
    return np.asarray(pitch.xs(), dtype=np.float64), f0.astype(np.float64)


def _finite_or(value: float, default: float = 0.0) -> float:
    return float(value) if value is not None and math.isfinite(value) else default


def _slope(times: np.ndarray, values: np.ndarray) -> float:
    if values.size < 2 or np.ptp(times) == 0:
        return 0.0
    t = times - times.mean()
    return float(t @ (values - values.mean()) / (t @ t))


@register_feature("prosody")
class Prosody(FeatureExtractor):
    """F0, intensity, rhythm and voice-quality statistics of one utterance (Praat)."""

    level = "utterance"
    description = "prosody & voice quality: F0 (Hz, semitones), intensity, rate, pauses, jitter, shimmer, HNR"
    version = "1"
    min_duration = 0.1  # Praat's intensity window needs 6.4 periods of the pitch floor

    @dataclasses.dataclass
    class Config(FeatureExtractor.Config):
        pitch_floor: float = 75.0
        pitch_ceiling: float = 600.0
        time_step: float = 0.01
        percentiles: tuple[float, ...] = (10.0, 50.0, 90.0)
        silence_db: float = 25.0
        min_intensity_db: float = 10.0
        min_dip_db: float = 2.0
        min_pause: float = 0.2

    CONTOUR_STATS = ("mean", "std", "min", "max", "range")

    def check_config(self) -> None:
        super().check_config()
        cfg = self.config
        cfg.percentiles = tuple(float(p) for p in cfg.percentiles)
        if not 0 < cfg.pitch_floor < cfg.pitch_ceiling < cfg.sample_rate / 2:
            raise ConfigError(f"{self.name}: need 0 < pitch_floor < pitch_ceiling < Nyquist")
        if cfg.time_step <= 0 or cfg.min_pause <= 0 or cfg.silence_db <= 0:
            raise ConfigError(f"{self.name}: time_step, min_pause and silence_db must be positive")
        if any(not 0 <= p <= 100 for p in cfg.percentiles):
            raise ConfigError(f"{self.name}: percentiles must lie in 0..100, got {cfg.percentiles}")

    def _contour_names(self, prefix: str) -> list[str]:
        stats = [*self.CONTOUR_STATS, *(f"p{p:g}" for p in self.config.percentiles), "slope"]
        return [f"{prefix}_{s}" for s in stats]

    def feature_names(self) -> list[str]:
        return [
            "duration_s",
            "voiced_ratio",
            *self._contour_names("f0_hz"),
            *self._contour_names("f0_st"),
            *self._contour_names("intensity_db"),
            "rms_dbfs",
            "syllable_rate",
            "articulation_rate",
            "pause_count",
            "pause_ratio",
            "pause_mean_s",
            "jitter_local",
            "shimmer_local",
            "hnr_db",
        ]

    def _contour_stats(self, times: np.ndarray, values: np.ndarray) -> list[float]:
        if values.size == 0:
            return [0.0] * (len(self.CONTOUR_STATS) + len(self.config.percentiles) + 1)
        low, high = float(values.min()), float(values.max())
        percentiles = np.percentile(values, self.config.percentiles) if self.config.percentiles else []
        return [
            float(values.mean()),
            float(values.std()),
            low,
            high,
            high - low,
            *map(float, percentiles),
            _slope(times, values),
        ]

    def compute(self, x: np.ndarray) -> np.ndarray:
        cfg = self.config
        sound = _sound(x, cfg.sample_rate)
        duration = x.size / cfg.sample_rate
        pitch = _pitch(sound, cfg.time_step, cfg.pitch_floor, cfg.pitch_ceiling)
        f0_times = np.asarray(pitch.xs())
        f0 = np.nan_to_num(pitch.selected_array["frequency"], nan=0.0)
        voiced = f0 > 0
        int_times, intensity = self._intensity(sound)
        sounding = self._sounding(intensity)
        nuclei = self._syllable_nuclei(int_times, intensity, sounding, f0_times, voiced)
        phonation_time = sounding.sum() * cfg.time_step
        values = [
            duration,
            float(voiced.mean()) if voiced.size else 0.0,
            *self._contour_stats(f0_times[voiced], f0[voiced]),
            *self._contour_stats(f0_times[voiced], semitones(f0[voiced])),
            *self._contour_stats(int_times[sounding], intensity[sounding]),
            _rms_dbfs(x),
            nuclei / duration,
            nuclei / phonation_time if phonation_time > 0 else 0.0,
            *self._pauses(sounding),
            *self._voice_quality(sound, pitch, bool(voiced.any())),
        ]
        return np.asarray(values, dtype=np.float64)

    def _intensity(self, sound: parselmouth.Sound) -> tuple[np.ndarray, np.ndarray]:
        try:
            intensity = sound.to_intensity(
                minimum_pitch=self.config.pitch_floor, time_step=self.config.time_step
            )
        except parselmouth.PraatError as exc:
            raise FeatureError(f"intensity analysis failed: {str(exc).strip().splitlines()[0]}") from None
        return np.asarray(intensity.xs()), np.asarray(intensity.values[0], dtype=np.float64)

    def _sounding(self, intensity: np.ndarray) -> np.ndarray:
        """Frames loud enough to count as sound (relative to the loudest 1 % and an absolute floor)."""
        if intensity.size == 0:
            return np.zeros(0, dtype=bool)
        threshold = max(np.percentile(intensity, 99) - self.config.silence_db, self.config.min_intensity_db)
        return intensity >= threshold

    def _syllable_nuclei(
        self,
        int_times: np.ndarray,
        intensity: np.ndarray,
        sounding: np.ndarray,
        f0_times: np.ndarray,
        voiced: np.ndarray,
    ) -> int:
        if not sounding.any() or not voiced.any():
            return 0
        import scipy.signal  # here, not at module level: it takes half a second to import

        peaks, _ = scipy.signal.find_peaks(intensity, prominence=self.config.min_dip_db)
        peaks = peaks[sounding[peaks]]
        if peaks.size == 0:
            return 0
        # A nucleus must fall on a voiced pitch frame (the nearest one in time).
        nearest = np.clip(np.searchsorted(f0_times, int_times[peaks]), 0, f0_times.size - 1)
        return int(voiced[nearest].sum())

    def _pauses(self, sounding: np.ndarray) -> tuple[float, float, float]:
        """(count, ratio of the speech span, mean length in s) of internal silences."""
        if sounding.sum() < 2:
            return 0.0, 0.0, 0.0
        first, last = np.flatnonzero(sounding)[[0, -1]]
        inner = ~sounding[first : last + 1]
        edges = np.diff(np.concatenate([[0], inner.astype(np.int8), [0]]))
        lengths = (np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)) * self.config.time_step
        pauses = lengths[lengths >= self.config.min_pause - 1e-9]
        if pauses.size == 0:
            return 0.0, 0.0, 0.0
        span = (last - first + 1) * self.config.time_step
        return float(pauses.size), float(pauses.sum() / span), float(pauses.mean())

    def _voice_quality(
        self, sound: parselmouth.Sound, pitch: parselmouth.Pitch, any_voiced: bool
    ) -> tuple[float, float, float]:
        """(jitter local, shimmer local, mean HNR in dB); zeros without voiced periods."""
        if not any_voiced:
            return 0.0, 0.0, 0.0
        # Praat's standard period limits (0.1-20 ms, factor 1.3), so values compare with the literature.
        period_floor, period_ceiling = 0.0001, 0.02
        try:
            points = call([sound, pitch], "To PointProcess (cc)")
            jitter = call(points, "Get jitter (local)", 0, 0, period_floor, period_ceiling, 1.3)
            shimmer = call(
                [sound, points], "Get shimmer (local)", 0, 0, period_floor, period_ceiling, 1.3, 1.6
            )
            harmonicity = sound.to_harmonicity_cc(
                time_step=self.config.time_step, minimum_pitch=self.config.pitch_floor
            )
        except parselmouth.PraatError as exc:
            raise FeatureError(f"voice-quality analysis failed: {str(exc).strip().splitlines()[0]}") from None
        hnr = np.asarray(harmonicity.values[0])
        hnr = hnr[hnr > _PRAAT_UNDEFINED_HNR]
        return _finite_or(jitter), _finite_or(shimmer), float(hnr.mean()) if hnr.size else 0.0


def _rms_dbfs(x: np.ndarray, floor_db: float = -100.0) -> float:
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return max(20.0 * math.log10(rms), floor_db) if rms > 0 else floor_db
