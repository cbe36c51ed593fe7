"""Whisper's log-mel front end in numpy, and the cutting of long inputs into encoder windows.

Whisper (Radford et al., 2022) computes, at 16 kHz: a centred STFT (400-point periodic Hann window,
hop 160, reflect padding) whose last frame is dropped, the power spectrum through 80 Slaney-style mel
filters (librosa's default filterbank), ``log10`` with a floor of 1e-10, a dynamic-range clamp to
(maximum - 8), and the scaling ``(x + 4) / 4``. The result has 100 frames per second, one per 160
samples, and values in roughly [-1, 1.5] on speech.

The encoder sees at most one 30 s window (3000 mel frames, 1500 output frames: its positional
table ends there). :func:`encode_in_windows` cuts longer inputs into consecutive windows and,
optionally, pads each one to the full window the way Whisper was trained (silence after the audio).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import scipy.fft

from voxemo.audio.dsp import mel_filterbank
from voxemo.errors import AudioError, FeatureError

SAMPLE_RATE = 16_000
N_FFT = 400
HOP_LENGTH = 160
N_MELS = 80
#: Mel frames per second (one per hop).
MEL_FRAME_RATE = SAMPLE_RATE / HOP_LENGTH
#: The encoder halves the frame rate (its second convolution has stride 2).
ENCODER_STRIDE = 2
#: Mel frames in one encoder window of the released Whisper models (30 s).
WINDOW_FRAMES = 3000
#: The log10 dynamic range Whisper keeps below the loudest value of a spectrogram.
DYNAMIC_RANGE_LOG10 = 8.0
_LOG_FLOOR = 1e-10


@functools.lru_cache(maxsize=4)
def whisper_mel_filters(n_mels: int = N_MELS) -> np.ndarray:
    """Mel filters ``(n_mels, N_FFT // 2 + 1)`` float32, 0 Hz to 8 kHz, each of unit area.

    The same numbers as ``librosa.filters.mel(sr=16000, n_fft=400, n_mels=n_mels)``, which is how
    Whisper's ``mel_filters.npz`` was made.
    """
    filters = np.ascontiguousarray(mel_filterbank(SAMPLE_RATE, N_FFT, n_mels, 0.0, SAMPLE_RATE / 2.0).T)
    filters.setflags(write=False)  # cached and shared: nobody may change it
    return filters


@functools.lru_cache(maxsize=1)
def _hann_window() -> np.ndarray:
    """Periodic Hann window of N_FFT points (torch.hann_window's default)."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


# -- the log-mel spectrogram ---------------------------------------------------------------------


def mel_frame_count(n_samples: int) -> int:
    """Mel frames Whisper computes from ``n_samples`` samples (the STFT's last frame is dropped)."""
    return n_samples // HOP_LENGTH


def log_mel_spectrogram(samples: np.ndarray, n_mels: int = N_MELS) -> np.ndarray:
    """Whisper's log-mel spectrogram ``(n_mels, n_samples // 160)`` float32 of 16 kHz mono audio.

    Raises AudioError when the audio is shorter than the reflect padding allows (N_FFT / 2 + 1 samples).
    """
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1:
        raise AudioError(f"Whisper log-mel needs mono audio (one dimension), got shape {x.shape}")
    if x.size <= N_FFT // 2:
        raise AudioError(
            f"Whisper log-mel needs more than {N_FFT // 2} samples ({N_FFT // 2 / SAMPLE_RATE * 1000:.1f} "
            f"ms at 16 kHz), got {x.size}"
        )
    padded = np.pad(x, N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH][:-1]
    spectrum = scipy.fft.rfft(frames * _hann_window(), axis=1)
    power = spectrum.real**2 + spectrum.imag**2
    mel = whisper_mel_filters(n_mels) @ power.T.astype(np.float32, copy=False)
    log_mel = np.log10(np.maximum(mel, _LOG_FLOOR))
    log_mel = np.maximum(log_mel, log_mel.max() - DYNAMIC_RANGE_LOG10)
    return ((log_mel + 4.0) / 4.0).astype(np.float32)


def silence_value(log_mel: np.ndarray) -> float:
    """The value Whisper's front end gives silence in a spectrogram whose maximum is ``log_mel.max()``.

    Zero audio has log10 power 1e-10 -> -10, lifted to (max - 8) by the dynamic-range clamp; after
    the scaling that is ``max(-1.5, max - 2)``. Padding a spectrogram with it is what padding the
    audio with zeros (as Whisper's 30 s windows do) gives, apart from one window length at the seam.
    """
    floor = (np.log10(_LOG_FLOOR) + 4.0) / 4.0
    return float(max(floor, float(log_mel.max()) - DYNAMIC_RANGE_LOG10 / 4.0))


# -- encoder windows -----------------------------------------------------------------------------


def encoder_frame_count(mel_frames: int) -> int:
    """Encoder output frames for ``mel_frames`` input frames (stride-2 convolution, padding 1)."""
    return -(-mel_frames // ENCODER_STRIDE)


def encode_in_windows(
    log_mel: np.ndarray,
    encode: Callable[[np.ndarray], np.ndarray],
    *,
    window_frames: int = WINDOW_FRAMES,
    pad_to_window: bool = False,
) -> np.ndarray:
    """Run ``encode`` ((n_mels, T) -> (T', d)) over consecutive windows of ``log_mel``; ``(frames, d)``.

    Each window holds at most ``window_frames`` mel frames. With ``pad_to_window`` every window is
    padded with the silence value to the full length (Whisper's training condition) and only the
    encoder frames that correspond to real audio are kept, so the output length never depends on
    the padding: ``encoder_frame_count`` of each window's real frames.
    """
    if log_mel.ndim != 2 or log_mel.shape[1] == 0:
        raise FeatureError(f"encoder input must be a non-empty (n_mels, frames) matrix, got {log_mel.shape}")
    if window_frames < ENCODER_STRIDE or window_frames % ENCODER_STRIDE:
        raise FeatureError(f"encoder window must be a positive even number of frames, got {window_frames}")
    pad_value = silence_value(log_mel)
    outputs = []
    for start in range(0, log_mel.shape[1], window_frames):
        window = log_mel[:, start : start + window_frames]
        real = window.shape[1]
        if pad_to_window and real < window_frames:
            window = np.pad(window, ((0, 0), (0, window_frames - real)), constant_values=pad_value)
        encoded = np.asarray(encode(np.ascontiguousarray(window, dtype=np.float32)))
        keep = encoder_frame_count(real)
        if encoded.ndim != 2 or encoded.shape[0] < keep:
            raise FeatureError(
                f"the Whisper encoder returned shape {encoded.shape} for {window.shape[1]} mel frames; "
                f"expected at least {keep} frames"
            )
        outputs.append(encoded[:keep])
    return np.concatenate(outputs, axis=0).astype(np.float32, copy=False)
