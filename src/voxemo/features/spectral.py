"""Frame-level spectral features: log-mel, MFCC (+ deltas), chroma and spectral contrast.

All four share one short-time Fourier transform (default 25 ms Hann window, 10 ms hop, centred
frames with zero padding, the FFT size the next power of two), computed once per call with
``scipy.fft``. Output is ``(frames, dims)`` float32.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools

import numpy as np
import scipy.fft

from voxemo.audio.dsp import hz_to_mel, mel_filterbank, mel_to_hz, padded_window  # noqa: F401
from voxemo.errors import ConfigError
from voxemo.features.base import FeatureExtractor
from voxemo.features.registry import register_feature

# -- the shared STFT -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _padded_window(kind: str, win_length: int, n_fft: int) -> np.ndarray:
    """``voxemo.audio.dsp.padded_window`` as float32, cached: every clip reuses the same few windows."""
    window = padded_window(kind, win_length, n_fft).astype(np.float32)
    window.setflags(write=False)
    return window


def power_spectrogram(
    x: np.ndarray,
    *,
    n_fft: int,
    hop_length: int,
    win_length: int,
    window: str = "hann",
    center: bool = True,
) -> np.ndarray:
    """|STFT|^2 as ``(frames, n_fft // 2 + 1)`` float32 (centred frames are zero padded)."""
    x = np.asarray(x, dtype=np.float32)
    if center:
        x = np.pad(x, n_fft // 2)
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop_length]
    spectrum = scipy.fft.rfft(frames * _padded_window(window, win_length, n_fft), axis=1)
    return (spectrum.real**2 + spectrum.imag**2).astype(np.float32, copy=False)


def deltas(features: np.ndarray, width: int = 2) -> np.ndarray:
    """Regression deltas over ``±width`` frames along axis 0 (edges repeat the first/last frame).

    ``d[t] = sum_n n * (c[t+n] - c[t-n]) / (2 * sum_n n^2)``: exactly the slope on a linear ramp.
    """
    if width < 1:
        raise ConfigError(f"delta width must be >= 1, got {width}")
    padded = np.pad(features, [(width, width)] + [(0, 0)] * (features.ndim - 1), mode="edge")
    n_frames = features.shape[0]
    out = np.zeros(features.shape, dtype=np.float64)
    for n in range(1, width + 1):
        out += n * (padded[width + n : width + n + n_frames] - padded[width - n : width - n + n_frames])
    return (out / (2.0 * sum(n * n for n in range(1, width + 1)))).astype(np.float32)


# -- extractors ------------------------------------------------------------------------------------


class SpectralExtractor(FeatureExtractor):
    """Common STFT settings and checks of the frame-level spectral extractors."""

    level = "frame"

    @dataclasses.dataclass
    class Config(FeatureExtractor.Config):
        win_ms: float = 25.0
        hop_ms: float = 10.0
        #: FFT size; None = the next power of two at or above the window length.
        n_fft: int | None = None
        window: str = "hann"

    @property
    def win_length(self) -> int:
        return round(self.config.sample_rate * self.config.win_ms / 1000.0)

    @property
    def hop_length(self) -> int:
        return max(1, round(self.config.sample_rate * self.config.hop_ms / 1000.0))

    @property
    def n_fft(self) -> int:
        if self.config.n_fft is not None:
            return int(self.config.n_fft)
        return 1 << (self.win_length - 1).bit_length()

    @property
    def frame_rate(self) -> float:
        return self.config.sample_rate / self.hop_length

    def required_duration(self) -> float:
        return self.win_length / self.config.sample_rate

    def check_config(self) -> None:
        super().check_config()
        cfg = self.config
        if cfg.win_ms <= 0 or cfg.hop_ms <= 0:
            raise ConfigError(f"{self.name}: win_ms and hop_ms must be positive")
        if self.n_fft < self.win_length:
            raise ConfigError(
                f"{self.name}: n_fft {self.n_fft} is shorter than the window ({self.win_length})"
            )
        _padded_window(cfg.window, self.win_length, self.n_fft)  # ConfigError for an unknown window

    def power(self, x: np.ndarray) -> np.ndarray:
        return power_spectrogram(
            x,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.config.window,
        )

    def _check_band(self, fmin: float, fmax: float | None) -> float:
        nyquist = self.config.sample_rate / 2.0
        top = nyquist if fmax is None else float(fmax)
        if not 0.0 <= fmin < top <= nyquist:
            raise ConfigError(f"{self.name}: need 0 <= fmin < fmax <= {nyquist:g} Hz, got {fmin}, {fmax}")
        return top


@register_feature("logmel")
class LogMel(SpectralExtractor):
    """Natural log of a mel power spectrogram, floored so silence stays finite."""

    description = "log mel power spectrogram (64 bands, 25 ms / 10 ms)"

    @dataclasses.dataclass
    class Config(SpectralExtractor.Config):
        n_mels: int = 64
        fmin: float = 0.0
        fmax: float | None = None
        #: Power below this is clamped before the log (silence -> log(floor), not -inf).
        log_floor: float = 1e-10

    def check_config(self) -> None:
        super().check_config()
        self._check_band(self.config.fmin, self.config.fmax)
        if self.config.n_mels < 1 or self.config.log_floor <= 0:
            raise ConfigError(f"{self.name}: n_mels must be >= 1 and log_floor > 0")

    def mel_power(self, x: np.ndarray) -> np.ndarray:
        cfg = self.config
        fmax = self._check_band(cfg.fmin, cfg.fmax)
        bank = mel_filterbank(int(cfg.sample_rate), self.n_fft, int(cfg.n_mels), float(cfg.fmin), fmax)
        return self.power(x) @ bank

    def compute(self, x: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(self.mel_power(x), self.config.log_floor))

    def feature_names(self) -> list[str]:
        return [f"logmel_{i:02d}" for i in range(self.config.n_mels)]


@register_feature("mfcc")
class MFCC(SpectralExtractor):
    """Mel-frequency cepstral coefficients (DCT-II of the log mel power in dB) with deltas."""

    description = "MFCC (13 + deltas + delta-deltas, 25 ms / 10 ms)"

    @dataclasses.dataclass
    class Config(SpectralExtractor.Config):
        n_mfcc: int = 13
        n_mels: int = 40
        fmin: float = 0.0
        fmax: float | None = None
        #: 0 = static only, 1 = + deltas, 2 = + deltas and delta-deltas.
        delta_order: int = 2
        #: Frames each side in the delta regression.
        delta_width: int = 2
        log_floor: float = 1e-10

    def check_config(self) -> None:
        super().check_config()
        cfg = self.config
        self._check_band(cfg.fmin, cfg.fmax)
        if not 1 <= cfg.n_mfcc <= cfg.n_mels:
            raise ConfigError(f"{self.name}: need 1 <= n_mfcc <= n_mels, got {cfg.n_mfcc} and {cfg.n_mels}")
        if cfg.delta_order not in (0, 1, 2) or cfg.delta_width < 1:
            raise ConfigError(f"{self.name}: delta_order must be 0, 1 or 2 and delta_width >= 1")

    def compute(self, x: np.ndarray) -> np.ndarray:
        cfg = self.config
        fmax = self._check_band(cfg.fmin, cfg.fmax)
        bank = mel_filterbank(int(cfg.sample_rate), self.n_fft, int(cfg.n_mels), float(cfg.fmin), fmax)
        log_mel_db = 10.0 * np.log10(np.maximum(self.power(x) @ bank, cfg.log_floor))
        static = scipy.fft.dct(log_mel_db, type=2, norm="ortho", axis=1)[:, : cfg.n_mfcc]
        blocks = [static]
        for _ in range(cfg.delta_order):
            blocks.append(deltas(blocks[-1], cfg.delta_width))
        return np.concatenate(blocks, axis=1)

    def feature_names(self) -> list[str]:
        prefixes = ["mfcc", "mfcc_d", "mfcc_dd"][: self.config.delta_order + 1]
        return [f"{p}_{i:02d}" for p in prefixes for i in range(self.config.n_mfcc)]


PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@register_feature("chroma")
class Chroma(SpectralExtractor):
    """Energy per pitch class (12 semitone classes), each frame scaled to a maximum of 1."""

    description = "chromagram (12 pitch classes, max-normalised per frame)"

    @dataclasses.dataclass
    class Config(SpectralExtractor.Config):
        n_fft: int | None = 2048  # pitch classes need fine frequency resolution at low notes
        #: Frames whose strongest class is below this power are returned as all zeros.
        silence_power: float = 1e-10

    def compute(self, x: np.ndarray) -> np.ndarray:
        chroma = self.power(x) @ _chroma_filterbank(int(self.config.sample_rate), self.n_fft)
        peak = chroma.max(axis=1, keepdims=True)
        return np.where(peak > self.config.silence_power, chroma / np.maximum(peak, 1e-30), 0.0)

    def feature_names(self) -> list[str]:
        return [f"chroma_{p}" for p in PITCH_CLASSES]


@functools.lru_cache(maxsize=8)
def _chroma_filterbank(sample_rate: int, n_fft: int) -> np.ndarray:
    """``(n_fft // 2 + 1, 12)`` weights from librosa (imported here: it is slow to import)."""
    import librosa

    bank = librosa.filters.chroma(sr=sample_rate, n_fft=n_fft, n_chroma=12, tuning=0.0, base_c=True)
    return np.ascontiguousarray(bank.T, dtype=np.float32)


@register_feature("contrast")
class SpectralContrast(SpectralExtractor):
    """Spectral contrast: peak-to-valley level difference (dB) in octave bands.

    Bands are ``[0, fmin), [fmin, 2 fmin), ...``; the last one reaches the Nyquist frequency, so
    there are ``n_bands + 1`` values per frame. Peak and valley are the mean power of the top and
    bottom ``quantile`` of the bins in a band.
    """

    description = "spectral contrast (7 octave bands, dB)"

    @dataclasses.dataclass
    class Config(SpectralExtractor.Config):
        fmin: float = 200.0
        n_bands: int = 6
        quantile: float = 0.02
        amin: float = 1e-10

    def check_config(self) -> None:
        super().check_config()
        cfg = self.config
        nyquist = cfg.sample_rate / 2.0
        if cfg.n_bands < 1 or cfg.fmin <= 0 or cfg.fmin * 2 ** (cfg.n_bands - 1) >= nyquist:
            raise ConfigError(
                f"{self.name}: fmin * 2^(n_bands - 1) must stay below the Nyquist frequency "
                f"({nyquist:g} Hz); lower fmin or n_bands"
            )
        if not 0.0 < cfg.quantile < 0.5:
            raise ConfigError(f"{self.name}: quantile must be in (0, 0.5), got {cfg.quantile}")

    def band_edges(self) -> list[int]:
        """FFT bin index where each band starts, plus the end."""
        cfg = self.config
        hz_per_bin = cfg.sample_rate / self.n_fft
        starts = [0.0] + [cfg.fmin * 2**k for k in range(cfg.n_bands)]
        bins = [int(np.ceil(f / hz_per_bin)) for f in starts]
        return [*bins, self.n_fft // 2 + 1]

    def compute(self, x: np.ndarray) -> np.ndarray:
        power = self.power(x)
        edges = self.band_edges()
        out = np.empty((power.shape[0], len(edges) - 1), dtype=np.float32)
        for band, (lo, hi) in enumerate(itertools.pairwise(edges)):
            sorted_power = np.sort(power[:, lo:hi], axis=1)
            k = max(1, round(self.config.quantile * (hi - lo)))
            valley = sorted_power[:, :k].mean(axis=1)
            peak = sorted_power[:, -k:].mean(axis=1)
            amin = self.config.amin
            out[:, band] = 10.0 * (np.log10(np.maximum(peak, amin)) - np.log10(np.maximum(valley, amin)))
        return out

    def feature_names(self) -> list[str]:
        return [f"contrast_{i}" for i in range(self.config.n_bands + 1)]
