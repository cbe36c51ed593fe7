"""Classification metrics for emotion recognition, defined once so every report agrees.

Conventions (they matter when a class is missing from a test fold or never predicted):

- **UA** (unweighted average recall, balanced accuracy) averages the recall of the classes that
  occur in the *truth*. A class nobody said cannot have a recall; a class the model never predicts
  but that occurs in the truth counts with recall 0. This equals scikit-learn's
  ``balanced_accuracy_score``.
- **WA** (weighted accuracy) is plain accuracy: correct / total.
- **macro-F1** averages F1 over the classes that occur in the truth *or* the predictions (a class
  predicted but never true has F1 0; a class absent from both is ignored), with 0 for 0/0; this
  equals ``f1_score(average="macro", zero_division=0)`` with its default label set.
- **per-class recall** is ``None`` for a class absent from the truth (not 0, not NaN, so that JSON
  stays valid and nobody averages a meaningless number).

Labels may be strings or integers; ``labels`` fixes the order of confusion rows and columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from voxemo.errors import VoxemoError

ArrayLike = Sequence[Any] | np.ndarray


def _as_pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    truth, pred = np.asarray(y_true), np.asarray(y_pred)
    if truth.ndim != 1 or pred.ndim != 1:
        raise VoxemoError("metrics expect 1-D label sequences; pass one label per utterance")
    if truth.shape != pred.shape:
        raise VoxemoError(
            f"y_true has {truth.size} labels but y_pred has {pred.size}; give one prediction per utterance"
        )
    if truth.size == 0:
        raise VoxemoError("cannot score an empty set of predictions; check that the test fold is not empty")
    return truth, pred


def _present(values: np.ndarray) -> list[Any]:
    """Distinct labels, sorted, as plain python objects."""
    return sorted(np.unique(values).tolist())


def wa(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Weighted accuracy: the fraction of utterances labelled correctly."""
    truth, pred = _as_pair(y_true, y_pred)
    return float(np.mean(truth == pred))


def per_class_recall(
    y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[Any] | None = None
) -> dict[Any, float | None]:
    """Recall of each label in ``labels`` (default: those in the truth); ``None`` if absent from the truth."""
    truth, pred = _as_pair(y_true, y_pred)
    order = list(labels) if labels is not None else _present(truth)
    recalls: dict[Any, float | None] = {}
    for label in order:
        mask = truth == label
        recalls[label] = float(np.mean(pred[mask] == label)) if mask.any() else None
    return recalls


def ua(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Unweighted average recall (balanced accuracy) over the classes present in the truth."""
    truth, pred = _as_pair(y_true, y_pred)
    recalls = per_class_recall(truth, pred, _present(truth))
    return float(np.mean([r for r in recalls.values() if r is not None]))


def macro_f1(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Macro-averaged F1 over the classes seen in the truth or the predictions (0/0 counts as 0)."""
    truth, pred = _as_pair(y_true, y_pred)
    scores = []
    for label in _present(np.concatenate([truth, pred])):
        true_pos = float(np.sum((truth == label) & (pred == label)))
        denominator = float(np.sum(truth == label) + np.sum(pred == label))
        scores.append(2.0 * true_pos / denominator if denominator else 0.0)
    return float(np.mean(scores))


def confusion(y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[Any]) -> np.ndarray:
    """Counts matrix (len(labels), len(labels)): rows are true labels, columns predicted labels.

    Utterances whose true or predicted label is not in ``labels`` raise, because silently
    dropping them would make the matrix disagree with WA.
    """
    truth, pred = _as_pair(y_true, y_pred)
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({str(v) for v in np.concatenate([truth, pred]).tolist() if v not in index})
    if unknown:
        raise VoxemoError(
            f"labels {', '.join(unknown)} are not in the label list {list(labels)}; pass every class"
        )
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(matrix, ([index[v] for v in truth.tolist()], [index[v] for v in pred.tolist()]), 1)
    return matrix


def expected_calibration_error(probs: np.ndarray, y_true: ArrayLike, n_bins: int = 15) -> float:
    """ECE: |accuracy - confidence| over equal-width confidence bins, weighted by bin size.

    ``probs`` is (N, C) class probabilities; ``y_true`` holds the integer column of the true class.
    The confidence of an utterance is its top probability; a bin holds confidences in (lo, hi]
    (the first bin also takes exactly 0).
    """
    probs = np.asarray(probs, dtype=np.float64)
    truth = np.asarray(y_true)
    if probs.ndim != 2 or probs.shape[0] != truth.size:
        raise VoxemoError(
            f"probs must be (N, C) with N = len(y_true) = {truth.size}; got shape {probs.shape}"
        )
    if n_bins < 1:
        raise VoxemoError(f"n_bins must be at least 1, got {n_bins}")
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == truth).astype(np.float64)
    # bin b holds (b/n, (b+1)/n]; ceil maps 0 to bin 0 after the clip below.
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def summarize(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    labels: Sequence[Any],
    probs: np.ndarray | None = None,
) -> dict[str, Any]:
    """All headline metrics in one JSON-ready dict.

    Keys: ``n``, ``ua``, ``wa``, ``macro_f1``, ``per_class_recall`` (label -> recall or None),
    ``confusion`` (``labels`` + ``matrix`` as nested lists) and, when ``probs`` (N, len(labels))
    are given, ``ece`` (expected calibration error, 15 bins) and ``nll`` (mean negative log
    likelihood of the true class).
    """
    truth, pred = _as_pair(y_true, y_pred)
    label_list = list(labels)
    summary: dict[str, Any] = {
        "n": int(truth.size),
        "ua": ua(truth, pred),
        "wa": wa(truth, pred),
        "macro_f1": macro_f1(truth, pred),
        "per_class_recall": {str(k): v for k, v in per_class_recall(truth, pred, label_list).items()},
        "confusion": {
            "labels": [str(label) for label in label_list],
            "matrix": confusion(truth, pred, label_list).tolist(),
        },
    }
    if probs is not None:
        probs = np.asarray(probs, dtype=np.float64)
        if probs.shape != (truth.size, len(label_list)):
            raise VoxemoError(
                f"probs must be (N, C) = ({truth.size}, {len(label_list)}) in label order; got {probs.shape}"
            )
        index = {label: i for i, label in enumerate(label_list)}
        columns = np.array([index[v] for v in truth.tolist()])
        summary["ece"] = expected_calibration_error(probs, columns)
        summary["nll"] = float(-np.mean(np.log(np.clip(probs[np.arange(truth.size), columns], 1e-12, 1.0))))
    return summary
