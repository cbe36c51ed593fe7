"""DSP helpers: pre-emphasis, framing, analysis windows, STFT / inverse STFT and dB scaling.

Conventions follow librosa where they overlap (periodic Hann window, window centred inside
``n_fft``, ``center=True`` zero padding by ``n_fft // 2``), so :func:`stft` matches ``librosa.stft``
with the same arguments and the torch front end of the models can be checked against it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from voxemo.errors import AudioError, ConfigError
from voxemo.registry import Registry

WindowFunction = Callable[[int, bool], np.ndarray]
#: Analysis windows by name: ``fn(n, periodic) -> (n,) float64``.
WINDOWS: Registry[WindowFunction] = Registry("window")


def _cosine_phase(n: int, periodic: bool) -> np.ndarray:
    """2*pi*i/N (periodic, for spectral analysis) or 2*pi*i/(N-1) (symmetric, for filter design)."""
    denominator = n if periodic else max(n - 1, 1)
    return 2.0 * np.pi * np.arange(n) / denominator


@WINDOWS.register("hann")
def hann_window(n: int, periodic: bool = True) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(_cosine_phase(n, periodic))


@WINDOWS.register("hamming")
def hamming_window(n: int, periodic: bool = True) -> np.ndarray:
    return 0.54 - 0.46 * np.cos(_cosine_phase(n, periodic))


@WINDOWS.register("povey")
def povey_window(n: int, periodic: bool = False) -> np.ndarray:
    """Kaldi's window: a symmetric Hann raised to 0.85 (``periodic`` is ignored, as in Kaldi)."""
    return (0.5 - 0.5 * np.cos(_cosine_phase(n, periodic=False))) ** 0.85


@WINDOWS.register("rectangular")
def rectangular_window(n: int, periodic: bool = True) -> np.ndarray:
    return np.ones(n)


def get_window(name: str, n: int, *, periodic: bool = True) -> np.ndarray:
    """An ``n``-point analysis window (float64) by name: hann, hamming, povey, rectangular."""
    if int(n) < 1:
        raise ConfigError(f"window length must be at least 1, got {n}")
    return WINDOWS.get(name)(int(n), periodic)


def pre_emphasis(x: np.ndarray, coef: float = 0.97) -> np.ndarray:
    """First-order high-pass ``y[n] = x[n] - coef * x[n-1]`` (``y[0] = x[0]``); boosts the weak highs."""
    if not 0.0 <= coef < 1.0:
        raise ConfigError(f"pre_emphasis: coef must be in [0, 1), got {coef}")
    x = np.asarray(x)
    if x.ndim != 1:
        raise AudioError(f"pre_emphasis: expected a 1-D signal, got shape {x.shape}")
    out = np.empty_like(x)
    if x.size:
        out[0] = x[0]
        np.subtract(x[1:], coef * x[:-1], out=out[1:])
    return out


def frame_count(n_samples: int, frame_length: int, hop_length: int, pad: bool = True) -> int:
    """Frames :func:`frame_signal` returns for ``n_samples`` (with ``pad`` the tail gets its own frame)."""
    if pad:
        return 0 if n_samples == 0 else 1 + max(0, -(-(n_samples - frame_length) // hop_length))
    return 0 if n_samples < frame_length else 1 + (n_samples - frame_length) // hop_length


def frame_signal(x: np.ndarray, frame_length: int, hop_length: int, pad: bool = True) -> np.ndarray:
    """Overlapping frames as a read-only strided view of shape ``(n_frames, frame_length)``.

    With ``pad`` the end is zero-padded so every sample lands in a frame (the view is then over a
    padded copy); without it trailing samples that do not fill a frame are dropped, and the result
    is a view of ``x`` itself (no copy).
    """
    if frame_length < 1 or hop_length < 1:
        raise ConfigError(f"frame_length and hop_length must be >= 1, got {frame_length}, {hop_length}")
    x = np.asarray(x)
    if x.ndim != 1:
        raise AudioError(f"frame_signal: expected a 1-D signal, got shape {x.shape}")
    n_frames = frame_count(x.size, frame_length, hop_length, pad)
    if n_frames == 0:
        return np.zeros((0, frame_length), dtype=x.dtype)
    needed = (n_frames - 1) * hop_length + frame_length
    if needed > x.size:
        x = np.pad(x, (0, needed - x.size))
    return sliding_window_view(x[:needed], frame_length)[::hop_length]


def padded_window(window: str | np.ndarray, win_length: int, n_fft: int) -> np.ndarray:
    """The analysis window, centred inside ``n_fft`` samples (zeros on both sides)."""
    win = get_window(window, win_length) if isinstance(window, str) else np.asarray(window, float)
    if win.shape != (win_length,):
        raise ConfigError(f"window has shape {win.shape}, expected ({win_length},)")
    left = (n_fft - win_length) // 2
    return np.pad(win, (left, n_fft - win_length - left))


def _check_stft_sizes(n_fft: int, hop_length: int, win_length: int | None) -> int:
    win_length = n_fft if win_length is None else win_length
    if not (n_fft >= 1 and hop_length >= 1 and 1 <= win_length <= n_fft):
        raise ConfigError(
            f"need n_fft >= 1, hop_length >= 1 and 1 <= win_length <= n_fft; "
            f"got n_fft={n_fft}, hop_length={hop_length}, win_length={win_length}"
        )
    return win_length


def stft(
    x: np.ndarray,
    n_fft: int = 512,
    hop_length: int = 160,
    win_length: int | None = 400,
    window: str | np.ndarray = "hann",
    center: bool = True,
) -> np.ndarray:
    """Short-time Fourier transform, complex64 of shape ``(n_fft // 2 + 1, n_frames)``.

    With ``center`` the signal is zero-padded by ``n_fft // 2`` on both sides so frame ``t`` is
    centred on sample ``t * hop_length`` (librosa's ``pad_mode="constant"``).
    """
    win_length = _check_stft_sizes(n_fft, hop_length, win_length)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise AudioError(f"stft: expected a 1-D signal, got shape {x.shape}")
    if center:
        x = np.pad(x, n_fft // 2)
    if x.size < n_fft:
        raise AudioError(f"stft: signal of {x.size} samples is shorter than n_fft={n_fft}; use center=True")
    frames = frame_signal(x, n_fft, hop_length, pad=False)
    window_full = padded_window(window, win_length, n_fft).astype(np.float32)
    spectrum = np.fft.rfft(frames * window_full, axis=1)
    return np.ascontiguousarray(spectrum.T, dtype=np.complex64)


def istft(
    spectrum: np.ndarray,
    hop_length: int = 160,
    win_length: int | None = 400,
    window: str | np.ndarray = "hann",
    center: bool = True,
    length: int | None = None,
) -> np.ndarray:
    """Inverse of :func:`stft` by weighted overlap-add (least-squares, as librosa.istft)."""
    spectrum = np.asarray(spectrum)
    if spectrum.ndim != 2:
        raise AudioError(f"istft: expected (freq, frames), got shape {spectrum.shape}")
    n_fft = 2 * (spectrum.shape[0] - 1)
    win_length = _check_stft_sizes(n_fft, hop_length, win_length)
    window_full = padded_window(window, win_length, n_fft)
    frames = np.fft.irfft(spectrum.T, n=n_fft, axis=1) * window_full
    signal = _overlap_add(frames, hop_length)
    norm = _overlap_add(np.broadcast_to(window_full**2, frames.shape), hop_length)
    # Where the windows barely overlap (the very edges) dividing would amplify noise; leave as is.
    np.divide(signal, norm, out=signal, where=norm > 1e-8)
    if center:
        signal = signal[n_fft // 2 :]
    if length is not None:
        signal = np.pad(signal[:length], (0, max(0, length - signal.size)))
    elif center:
        signal = signal[: max(0, signal.size - n_fft // 2)]
    return signal.astype(np.float32)


def _overlap_add(frames: np.ndarray, hop_length: int) -> np.ndarray:
    """Sum frames placed every ``hop_length`` samples, one vectorised add per frame offset chunk."""
    n_frames, frame_length = frames.shape
    out = np.zeros((n_frames - 1) * hop_length + frame_length + hop_length)
    for offset in range(0, frame_length, hop_length):
        chunk = frames[:, offset : offset + hop_length]
        width = chunk.shape[1]
        # Frame t's chunk starting at `offset` lands at t * hop + offset: a strided slice of `out`.
        target = out[offset : offset + n_frames * hop_length].reshape(n_frames, hop_length)
        target[:, :width] += chunk
    return out[: (n_frames - 1) * hop_length + frame_length]


def power_spectrogram(
    x: np.ndarray,
    n_fft: int = 512,
    hop_length: int = 160,
    win_length: int | None = 400,
    window: str | np.ndarray = "hann",
    center: bool = True,
    power: float = 2.0,
) -> np.ndarray:
    """``|stft(x)| ** power`` as float32 (freq, frames); power 1 gives the magnitude spectrogram."""
    magnitude = np.abs(stft(x, n_fft, hop_length, win_length, window, center))
    return magnitude if power == 1.0 else (magnitude**power).astype(np.float32, copy=False)


def _to_db(values: np.ndarray, factor: float, ref: float | Callable, amin: float, top_db: float | None):
    values = np.asarray(values)
    if amin <= 0:
        raise ConfigError(f"amin must be positive, got {amin}")
    reference = ref(values) if callable(ref) else ref
    db = factor * np.log10(np.maximum(amin, values)) - factor * np.log10(np.maximum(amin, reference))
    if top_db is not None:
        if top_db < 0:
            raise ConfigError(f"top_db must be non-negative, got {top_db}")
        db = np.maximum(db, db.max(initial=-np.inf) - top_db)
    return db.astype(np.float32, copy=False)


def amplitude_to_db(
    magnitude: np.ndarray, *, ref: float | Callable = 1.0, amin: float = 1e-5, top_db: float | None = 80.0
) -> np.ndarray:
    """``20 * log10(max(amin, S) / ref)``, floored ``top_db`` below the maximum (librosa conventions)."""
    return _to_db(magnitude, 20.0, ref, amin, top_db)


def power_to_db(
    power: np.ndarray, *, ref: float | Callable = 1.0, amin: float = 1e-10, top_db: float | None = 80.0
) -> np.ndarray:
    """``10 * log10(max(amin, S) / ref)``, floored ``top_db`` below the maximum (librosa conventions)."""
    return _to_db(power, 10.0, ref, amin, top_db)


# -- mel filterbank (Slaney mel scale and area normalisation, as librosa's default) ---------------

_MEL_LINEAR_STEP = 200.0 / 3.0  # Hz per mel below 1 kHz
_MEL_BREAK_HZ = 1000.0
_MEL_BREAK = _MEL_BREAK_HZ / _MEL_LINEAR_STEP
_MEL_LOG_STEP = np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / _MEL_LINEAR_STEP
    log = _MEL_BREAK + np.log(np.maximum(hz, 1e-10) / _MEL_BREAK_HZ) / _MEL_LOG_STEP
    return np.where(hz >= _MEL_BREAK_HZ, log, linear)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * _MEL_LINEAR_STEP
    log = _MEL_BREAK_HZ * np.exp(_MEL_LOG_STEP * (mel - _MEL_BREAK))
    return np.where(mel >= _MEL_BREAK, log, linear)


@functools.lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Triangular mel filters ``(n_fft // 2 + 1, n_mels)``, each normalised to unit area.

    The same numbers as ``librosa.filters.mel`` (Slaney scale and norm); shared by the numpy
    features, the torch front end of the models and the Whisper front end.
    """
    fft_hz = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges_hz)
    distance = edges_hz[:, None] - fft_hz[None, :]
    rising = -distance[:-2] / widths[:-1, None]
    falling = distance[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    bank = np.ascontiguousarray(weights.T, dtype=np.float32)
    bank.setflags(write=False)  # cached and shared between callers
    return bank
