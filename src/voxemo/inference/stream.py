"""Live recognition: feed audio chunks as they arrive, get a prediction every hop.

The session keeps only the last ``window`` seconds in a fixed-size buffer, so a session can run
for hours without its memory growing. Prediction ``k`` (k = 0, 1, ...) covers the window that
ends ``window + k * hop`` seconds after the first sample.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from voxemo.errors import AudioError, ConfigError, VoxemoError
from voxemo.inference.prediction import Prediction, prediction_from_probabilities

if TYPE_CHECKING:
    from voxemo.inference.recognizer import Recognizer

#: A session ended before a full window gets one prediction on what it has, if at least this long.
MIN_PARTIAL_SECONDS = 0.25


def as_pcm_float32(chunk: Any) -> np.ndarray:
    """A mono chunk as float32 in [-1, 1]: float arrays as they are, integer PCM scaled."""
    data = np.asarray(chunk)
    if data.ndim != 1:
        raise AudioError(f"a stream chunk must be 1-D mono samples, got shape {data.shape}")
    if data.dtype.kind in "iu":
        info = np.iinfo(data.dtype)
        middle = (int(info.max) + int(info.min) + 1) / 2
        data = (data.astype(np.float64) - middle) / (int(info.max) + 1 - middle)
    elif data.dtype.kind != "f":
        raise AudioError(f"a stream chunk must hold float or integer samples, got dtype {data.dtype}")
    data = data.astype(np.float32, copy=False)
    if not np.isfinite(data).all():
        raise AudioError("the stream chunk contains NaN or infinite samples")
    return data


class StreamSession:
    """Sliding-window recognition over a live signal at the recogniser's sample rate."""

    def __init__(self, recognizer: Recognizer, window: float = 2.0, hop: float = 0.5) -> None:
        if not 0 < hop <= window:
            raise ConfigError(f"stream needs 0 < hop <= window, got window={window}, hop={hop}")
        self.recognizer = recognizer
        self.rate = recognizer.sample_rate
        self.window = window
        self.hop = hop
        self.window_samples = max(1, round(window * self.rate))
        self.hop_samples = max(1, round(hop * self.rate))
        self._buffer = np.zeros(self.window_samples, dtype=np.float32)
        self._filled = 0  # valid samples at the end of the buffer
        self._total = 0  # samples fed so far
        self._next_end = self.window_samples  # sample count at which the next window completes
        self._score_sum = np.zeros(len(recognizer.labels), dtype=np.float64)
        self._top_counts = dict.fromkeys(recognizer.labels, 0)
        self._windows = 0
        self._finished = False

    @property
    def seconds(self) -> float:
        """Audio fed so far, in seconds."""
        return self._total / self.rate

    def _push(self, samples: np.ndarray) -> None:
        """Shift ``samples`` into the fixed-size buffer (the oldest samples fall out)."""
        n = samples.size
        if n == 0:
            return
        if n >= self.window_samples:
            self._buffer[:] = samples[-self.window_samples :]
        else:
            self._buffer[:-n] = self._buffer[n:]
            self._buffer[-n:] = samples
        self._filled = min(self.window_samples, self._filled + n)
        self._total += n

    def feed(self, chunk: Any) -> list[Prediction]:
        """Add samples (float32 in [-1, 1], or integer PCM); one prediction per completed hop."""
        if self._finished:
            raise VoxemoError("this stream session is finished; start a new one with recognizer.stream()")
        samples = as_pcm_float32(chunk)
        windows: list[np.ndarray] = []
        ends: list[int] = []
        predictions: list[Prediction] = []
        position = 0
        while self._total + samples.size - position >= self._next_end:
            step = self._next_end - self._total
            self._push(samples[position : position + step])
            position += step
            windows.append(self._buffer.copy())
            ends.append(self._next_end)
            self._next_end += self.hop_samples
            if len(windows) >= self.recognizer.config.batch_size:  # bound memory on huge chunks
                predictions += self._score(windows, ends)
                windows, ends = [], []
        self._push(samples[position:])
        return predictions + self._score(windows, ends)

    def _score(self, windows: list[np.ndarray], ends: list[int]) -> list[Prediction]:
        if not windows:
            return []
        probs = self.recognizer.probabilities_batch(windows)
        predictions = []
        for p, end, wave in zip(probs, ends, windows, strict=True):
            prediction = prediction_from_probabilities(
                p,
                self.recognizer.labels,
                threshold=self.recognizer.threshold,
                start=(end - wave.size) / self.rate,
                end=end / self.rate,
            )
            self._score_sum += p
            self._top_counts[prediction.emotion] += 1
            self._windows += 1
            predictions.append(prediction)
        return predictions

    def flush(self) -> list[Prediction]:
        """If no full window was ever completed, one prediction over the audio fed so far."""
        if self._windows or self._filled < MIN_PARTIAL_SECONDS * self.rate:
            return []
        return self._score([self._buffer[-self._filled :].copy()], [self._total])

    def finish(self) -> dict[str, Any]:
        """End the session: number of windows, mean scores, dominant emotion, windows per top emotion."""
        if not self._finished:
            self.flush()
            self._finished = True
        summary: dict[str, Any] = {"windows": self._windows, "seconds": round(self.seconds, 4)}
        if self._windows == 0:
            return {**summary, "emotion": None, "scores": {}, "confidence": None, "top_counts": {}}
        mean = self._score_sum / self._windows
        dominant = prediction_from_probabilities(
            mean, self.recognizer.labels, threshold=self.recognizer.threshold
        )
        return {
            **summary,
            "emotion": dominant.emotion,
            "scores": dominant.scores,
            "confidence": dominant.confidence,
            "uncertain": dominant.uncertain,
            "top_counts": {k: v for k, v in self._top_counts.items() if v},
        }
