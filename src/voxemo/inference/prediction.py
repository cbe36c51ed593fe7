"""The result of recognising emotion in one piece of audio, and helpers to tabulate many."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from voxemo.errors import ModelError, VoxemoError

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Prediction:
    """Top emotion, a probability per label (summing to 1) and how sure the model is.

    ``confidence`` is the top probability; ``uncertain`` is True when it falls below the
    recogniser's threshold. ``path`` names the input file; ``start``/``end`` (seconds) place a
    window or segment inside a longer recording.
    """

    emotion: str
    scores: dict[str, float]
    confidence: float
    uncertain: bool = False
    path: str | None = None
    start: float | None = None
    end: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; ``path``, ``start`` and ``end`` only when set."""
        out: dict[str, Any] = {}
        if self.path is not None:
            out["path"] = self.path
        out["emotion"] = self.emotion
        out["scores"] = dict(self.scores)
        out["confidence"] = self.confidence
        out["uncertain"] = self.uncertain
        if self.start is not None:
            out["start"] = self.start
        if self.end is not None:
            out["end"] = self.end
        return out


def prediction_from_probabilities(
    probabilities: np.ndarray,
    labels: Sequence[str],
    *,
    threshold: float = 0.0,
    path: str | None = None,
    start: float | None = None,
    end: float | None = None,
) -> Prediction:
    """Build a :class:`Prediction` from one probability vector over ``labels``."""
    probs = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if probs.size != len(labels):
        raise ModelError(f"the model gave {probs.size} scores for {len(labels)} labels; the bundle is broken")
    if not np.all(np.isfinite(probs)):
        raise ModelError("the model produced NaN or infinite scores; the bundle's weights are broken")
    probs = probs / probs.sum()  # exact renormalisation after float32 arithmetic
    top = int(np.argmax(probs))
    confidence = float(probs[top])
    return Prediction(
        emotion=str(labels[top]),
        scores={str(label): float(p) for label, p in zip(labels, probs, strict=True)},
        confidence=confidence,
        uncertain=confidence < threshold,
        path=path,
        start=None if start is None else round(float(start), 4),
        end=None if end is None else round(float(end), 4),
    )


def predictions_to_frame(results: Sequence[Prediction | VoxemoError], paths: Sequence[str] | None = None):
    """A pandas DataFrame, one row per result: path, start, end, emotion, confidence, uncertain,
    one column per label and ``error`` (the message of a failed item, else empty)."""
    import pandas as pd

    rows = []
    for i, result in enumerate(results):
        row: dict[str, Any]
        if isinstance(result, Prediction):
            row = {
                "path": result.path,
                "start": result.start,
                "end": result.end,
                "emotion": result.emotion,
                "confidence": result.confidence,
                "uncertain": result.uncertain,
                **result.scores,
                "error": "",
            }
        else:
            row = {"path": None, "error": str(result)}
        if paths is not None and row.get("path") is None:
            row["path"] = str(paths[i])
        rows.append(row)
    frame: pd.DataFrame = pd.DataFrame(rows)
    return frame.dropna(axis=1, how="all") if len(frame) else frame
