"""Emotion over time in a long recording: speech segments with scores and a smoothed curve.

Everything is streamed: the file is decoded block by block (``voxemo.audio.iter_blocks``), the
curve comes from a :class:`~voxemo.inference.stream.StreamSession` fed with those blocks, and
speech segments from a :class:`SpeechSegmenter` that runs the VAD on bounded stretches of audio.
Memory therefore depends on the block and window sizes, not on the duration of the file.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from voxemo.errors import AudioError, ConfigError
from voxemo.inference.prediction import Prediction, prediction_from_probabilities
from voxemo.inference.stream import StreamSession

if TYPE_CHECKING:
    import pandas as pd

    from voxemo.audio.vad import Segment
    from voxemo.inference.recognizer import Recognizer, Source


class SpeechSegmenter:
    """Speech segments of a signal that arrives in blocks, found with bounded memory.

    Audio accumulates until ``chunk_seconds``; the VAD then runs on it. Segments that end at least
    ``margin_seconds`` before the end of that audio are final; an open segment is carried into the
    next analysis from its start (cut after ``max_segment_seconds`` so memory stays bounded).
    """

    def __init__(
        self,
        sample_rate: int,
        *,
        chunk_seconds: float = 30.0,
        margin_seconds: float = 1.0,
        max_segment_seconds: float = 30.0,
        vad_backend: str = "energy",
    ) -> None:
        self.rate = sample_rate
        self.chunk = int(chunk_seconds * sample_rate)
        self.margin = int(margin_seconds * sample_rate)
        self.max_segment = int(max_segment_seconds * sample_rate)
        self.vad_backend = vad_backend
        self._pending: list[np.ndarray] = []
        self._pending_samples = 0
        self._offset = 0  # absolute sample index of the first pending sample

    def feed(self, block: np.ndarray) -> list[tuple[Segment, np.ndarray]]:
        """Add a block; returns the segments (absolute seconds) and samples finished so far."""
        self._pending.append(block)
        self._pending_samples += block.size
        if self._pending_samples < self.chunk:
            return []
        return self._analyse(final=False)

    def finish(self) -> list[tuple[Segment, np.ndarray]]:
        """The remaining segments at the end of the signal."""
        return self._analyse(final=True) if self._pending_samples else []

    def _analyse(self, final: bool) -> list[tuple[Segment, np.ndarray]]:
        from voxemo.audio.vad import Segment, speech_segments

        audio = np.concatenate(self._pending)
        cut = audio.size if final else audio.size - self.margin
        keep_from = audio.size if final else cut
        found: list[tuple[Segment, np.ndarray]] = []
        for seg in speech_segments(audio, self.rate, backend=self.vad_backend):
            a, b = int(seg.start * self.rate), min(audio.size, math.ceil(seg.end * self.rate))
            if final or b < cut:
                found.append((a, b))
                continue
            if cut - a > self.max_segment:  # endless speech: close it here, continue from the cut
                found.append((a, cut))
            else:
                keep_from = a
            break
        if found:
            keep_from = max(keep_from, found[-1][1])
        start_s = self._offset / self.rate
        out = [
            (Segment(start_s + a / self.rate, start_s + b / self.rate), audio[a:b].copy())
            for a, b in found
            if b > a
        ]
        rest = audio[keep_from:].copy()
        self._pending = [rest] if rest.size else []
        self._pending_samples = rest.size
        self._offset += keep_from
        return out


@dataclass
class Timeline:
    """Segments (speech, with scores) and a curve (a window every ``hop``, raw and smoothed)."""

    labels: list[str]
    duration: float
    window: float
    hop: float
    segments: list[Prediction]
    #: Per curve window: start and end (s), share of it covered by speech, probabilities (n, C)
    #: and smoothed probabilities (NaN rows where the window holds too little speech).
    curve_start: np.ndarray
    curve_end: np.ndarray
    curve_speech: np.ndarray
    curve_raw: np.ndarray
    curve_smoothed: np.ndarray
    path: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def curve_time(self) -> np.ndarray:
        """Centre of each curve window (seconds)."""
        return (self.curve_start + self.curve_end) / 2

    def _scores(self, row: np.ndarray) -> dict[str, float] | None:
        if not np.all(np.isfinite(row)):
            return None
        return {label: round(float(p), 6) for label, p in zip(self.labels, row, strict=True)}

    def curve_points(self) -> list[dict[str, Any]]:
        return [
            {
                "time": round(float(t), 4),
                "start": round(float(a), 4),
                "end": round(float(b), 4),
                "speech": round(float(s), 4),
                "scores": self._scores(raw),
                "smoothed": self._scores(smooth),
            }
            for t, a, b, s, raw, smooth in zip(
                self.curve_time,
                self.curve_start,
                self.curve_end,
                self.curve_speech,
                self.curve_raw,
                self.curve_smoothed,
                strict=True,
            )
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "duration": round(self.duration, 4),
            "labels": list(self.labels),
            "window": self.window,
            "hop": self.hop,
            "summary": self.summary,
            "segments": [s.to_dict() for s in self.segments],
            "curve": self.curve_points(),
        }

    def segments_frame(self) -> pd.DataFrame:
        """One row per speech segment: start, end, emotion, confidence, uncertain, a column per label."""
        import pandas as pd

        columns = ["start", "end", "emotion", "confidence", "uncertain", *self.labels]
        rows = [
            {
                "start": s.start,
                "end": s.end,
                "emotion": s.emotion,
                "confidence": s.confidence,
                "uncertain": s.uncertain,
                **s.scores,
            }
            for s in self.segments
        ]
        return pd.DataFrame(rows, columns=columns)

    def curve_frame(self) -> pd.DataFrame:
        """One row per curve window: time, start, end, speech and the smoothed score of each label."""
        import pandas as pd

        frame = pd.DataFrame(
            {
                "time": self.curve_time,
                "start": self.curve_start,
                "end": self.curve_end,
                "speech": self.curve_speech,
            }
        )
        for i, label in enumerate(self.labels):
            frame[label] = self.curve_smoothed[:, i] if len(frame) else []
        return frame

    def plot(self, out: str | Path, *, title: str | None = None) -> Path:
        """Write a PNG of the smoothed curve with the speech segments shaded."""
        from voxemo.inference.plot import plot_timeline

        return plot_timeline(self, out, title=title)


# ---------------------------------------------------------------- computing a timeline


def _blocks(
    recognizer: Recognizer, source: Source, sample_rate: int | None, block_seconds: float
) -> Iterator[np.ndarray]:
    """Blocks of mono audio at the model's rate; files are decoded incrementally."""
    if isinstance(source, str | Path):
        from voxemo.audio import iter_blocks

        yield from iter_blocks(source, block_seconds, target_rate=recognizer.sample_rate)
        return
    # Bytes and arrays are in memory already; the limit of 'predict' does not apply here.
    from voxemo.audio import load_audio

    samples = load_audio(
        source, sample_rate, target_rate=recognizer.sample_rate, max_duration=None, allow_silent=True
    )
    step = max(1, int(block_seconds * recognizer.sample_rate))
    for start in range(0, samples.size, step):
        yield samples[start : start + step]


def smooth_curve(probabilities: np.ndarray, valid: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average over ``width`` windows using valid rows only; invalid rows stay NaN."""
    n = probabilities.shape[0]
    half = max(0, width - 1) // 2
    values = np.where(valid[:, None], probabilities, 0.0)
    # Running sums give each row the sum over rows [i - half, i + half] clipped to the signal.
    sums = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    counts = np.concatenate([[0.0], np.cumsum(valid.astype(np.float64))])
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    total = sums[hi] - sums[lo]
    smoothed = total / np.maximum(counts[hi] - counts[lo], 1e-12)[:, None]
    smoothed /= np.maximum(smoothed.sum(axis=1, keepdims=True), 1e-12)
    smoothed[~valid] = np.nan
    return smoothed


def speech_fraction(starts: np.ndarray, ends: np.ndarray, segments: list[Prediction]) -> np.ndarray:
    """Share of each window [start, end) covered by the segments."""
    covered = np.zeros(starts.size)
    for seg in segments:
        assert seg.start is not None and seg.end is not None
        covered += np.clip(np.minimum(ends, seg.end) - np.maximum(starts, seg.start), 0.0, None)
    return covered / np.maximum(ends - starts, 1e-9)


def compute_timeline(
    recognizer: Recognizer,
    source: Source,
    sample_rate: int | None = None,
    *,
    window: float = 2.0,
    hop: float = 1.0,
    smooth: int = 5,
    min_speech: float = 0.25,
    block_seconds: float = 10.0,
    max_segment_seconds: float = 30.0,
) -> Timeline:
    """Timeline of ``source``: a path (streamed from disk), bytes, or an array with its ``sample_rate``.

    ``smooth`` is the width of the moving average in windows; windows with less than
    ``min_speech`` of their length in speech segments get no curve value.
    """
    if smooth < 1 or not 0.0 <= min_speech <= 1.0 or block_seconds <= 0:
        raise ConfigError("timeline needs smooth >= 1, 0 <= min_speech <= 1 and block_seconds > 0")
    labels = recognizer.labels
    stream = StreamSession(recognizer, window=window, hop=hop)
    segmenter = SpeechSegmenter(
        recognizer.sample_rate,
        chunk_seconds=block_seconds,
        max_segment_seconds=max_segment_seconds,
        vad_backend=recognizer.config.vad_backend,
    )
    windows: list[Prediction] = []
    segments: list[Prediction] = []
    for block in _blocks(recognizer, source, sample_rate, block_seconds):
        windows += stream.feed(block)
        segments += _score_segments(recognizer, segmenter.feed(block))
    windows += stream.flush()
    segments += _score_segments(recognizer, segmenter.finish())
    if stream.seconds == 0:
        raise AudioError(f"{source if isinstance(source, str | Path) else 'input'}: holds no audio samples")

    starts = np.array([w.start for w in windows], dtype=np.float64)
    ends = np.array([w.end for w in windows], dtype=np.float64)
    raw = np.array([[w.scores[label] for label in labels] for w in windows], dtype=np.float64).reshape(
        -1, len(labels)
    )
    speech = speech_fraction(starts, ends, segments)
    valid = speech >= min_speech
    raw[~valid] = np.nan
    return Timeline(
        labels=labels,
        duration=stream.seconds,
        window=window,
        hop=hop,
        segments=segments,
        curve_start=starts,
        curve_end=ends,
        curve_speech=speech,
        curve_raw=raw,
        curve_smoothed=smooth_curve(np.nan_to_num(raw), valid, smooth),
        path=str(source) if isinstance(source, str | Path) else None,
        summary=_summary(recognizer, segments, stream.seconds),
    )


def _score_segments(recognizer: Recognizer, found: list[tuple[Segment, np.ndarray]]) -> list[Prediction]:
    if not found:
        return []
    probs = recognizer.scores([samples for _, samples in found])
    return [
        prediction_from_probabilities(
            p, recognizer.labels, threshold=recognizer.threshold, start=seg.start, end=seg.end
        )
        for p, (seg, _) in zip(probs, found, strict=True)
    ]


def _summary(recognizer: Recognizer, segments: list[Prediction], duration: float) -> dict[str, Any]:
    """Overall emotion: segment scores averaged, weighted by segment duration."""
    speech = sum(s.end - s.start for s in segments)  # type: ignore[operator]
    summary: dict[str, Any] = {
        "segments": len(segments),
        "speech_seconds": round(speech, 4),
        "speech_ratio": round(speech / duration, 4) if duration else 0.0,
    }
    if not segments:
        return {**summary, "emotion": None, "scores": {}, "confidence": None}
    weights = np.array([s.end - s.start for s in segments])  # type: ignore[operator]
    probs = np.array([[s.scores[label] for label in recognizer.labels] for s in segments])
    overall = prediction_from_probabilities(
        weights @ probs / weights.sum(), recognizer.labels, threshold=recognizer.threshold
    )
    return {
        **summary,
        "emotion": overall.emotion,
        "scores": overall.scores,
        "confidence": overall.confidence,
        "uncertain": overall.uncertain,
    }
