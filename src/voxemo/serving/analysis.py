"""What the service does with one uploaded file: check, decode from memory, predict.

These functions run in the inference thread pool. They turn every way audio can be wrong into
an :class:`AudioRejected` carrying the HTTP status: 415 when the bytes are not a readable audio
file at all, 422 when they decode but cannot be used (silent, NaN, too short, too long).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from voxemo.audio import load_audio, probe
from voxemo.errors import AudioError

SAMPLE_RATE = 16_000


class AudioRejected(Exception):
    """An upload the service cannot analyse; ``status`` is 415 or 422."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class DurationLimits:
    min_seconds: float
    max_seconds: float
    #: What to suggest when a clip is too long.
    too_long_hint: str


def decode_upload(data: bytes, limits: DurationLimits) -> tuple[np.ndarray, float]:
    """Bytes of an audio file -> (16 kHz mono float32, duration in seconds of the original)."""
    try:
        info = probe(data)
    except AudioError as exc:
        raise AudioRejected(415, f"not a supported audio file: {exc}") from None
    duration = info.duration
    if duration > limits.max_seconds:
        raise AudioRejected(
            422,
            f"the recording is {duration:.1f} s long, over the limit of {limits.max_seconds:g} s; "
            f"{limits.too_long_hint}",
        )
    if duration < limits.min_seconds:
        raise AudioRejected(
            422,
            f"the recording is {duration:.3f} s long, too short to judge (at least "
            f"{limits.min_seconds:g} s of speech is needed)",
        )
    try:
        samples = load_audio(data, target_rate=SAMPLE_RATE, max_duration=limits.max_seconds)
    except AudioError as exc:
        raise AudioRejected(422, f"the audio cannot be used: {exc}") from None
    return samples, duration


def predict_bytes(recognizer: Any, data: bytes, limits: DurationLimits) -> dict[str, Any]:
    """Decode and classify one upload; the JSON body of ``/v1/predict`` without the filename."""
    samples, duration = decode_upload(data, limits)
    try:
        prediction = recognizer.predict(samples, sample_rate=SAMPLE_RATE)
    except AudioError as exc:
        raise AudioRejected(422, f"the audio cannot be used: {exc}") from None
    result = prediction.to_dict()
    result.pop("path", None)
    result["duration_s"] = round(duration, 3)
    return result


def timeline_bytes(
    recognizer: Any, data: bytes, limits: DurationLimits, window: float, hop: float
) -> dict[str, Any]:
    """Decode one upload and score it window by window; the JSON body of ``/v1/timeline``."""
    samples, duration = decode_upload(data, limits)
    try:
        timeline = recognizer.timeline(samples, window=window, hop=hop, sample_rate=SAMPLE_RATE)
    except AudioError as exc:
        raise AudioRejected(422, f"the audio cannot be used: {exc}") from None
    result = timeline.to_dict()
    result.pop("path", None)
    result["duration_s"] = round(duration, 3)
    return result
