"""Cutting long audio into model-sized windows, over speech only."""

from __future__ import annotations

import math

import numpy as np


def window_starts(n_samples: int, window: int, hop: int) -> list[int]:
    """Start samples of ``window``-long windows every ``hop`` that cover ``n_samples``.

    The last window is aligned to the end so the tail is never dropped; a span shorter than
    one window gives one window starting at 0.
    """
    if n_samples <= window:
        return [0]
    starts = list(range(0, n_samples - window + 1, hop))
    if starts[-1] + window < n_samples:
        starts.append(n_samples - window)
    return starts


def speech_windows(
    samples: np.ndarray,
    sample_rate: int,
    window_s: float,
    hop_s: float,
    *,
    vad_backend: str = "energy",
) -> list[tuple[int, int]]:
    """``(start, end)`` sample ranges of windows laid over the speech segments of ``samples``.

    A segment shorter than a window is one (shorter) window; a recording with no detected speech
    is windowed whole, so every input still gets scores.
    """
    from voxemo.audio.vad import speech_segments

    window = max(1, round(window_s * sample_rate))
    hop = max(1, round(hop_s * sample_rate))
    spans = [
        (int(seg.start * sample_rate), min(samples.size, math.ceil(seg.end * sample_rate)))
        for seg in speech_segments(samples, sample_rate, backend=vad_backend)
    ]
    spans = [(a, b) for a, b in spans if b > a] or [(0, samples.size)]
    ranges: list[tuple[int, int]] = []
    for a, b in spans:
        ranges.extend((a + s, min(b, a + s + window)) for s in window_starts(b - a, window, hop))
    return ranges
