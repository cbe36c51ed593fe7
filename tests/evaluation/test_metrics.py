"""Metrics agree with scikit-learn and handle missing classes as documented."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score, recall_score

from voxemo.errors import VoxemoError
from voxemo.evaluation import metrics

LABELS = ["angry", "happy", "neutral", "sad"]


@pytest.fixture
def random_pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    truth = rng.choice(LABELS, size=200, p=[0.5, 0.2, 0.2, 0.1])
    pred = np.where(rng.random(200) < 0.6, truth, rng.choice(LABELS, size=200))
    return truth, pred


def test_metrics_match_sklearn(random_pair: tuple[np.ndarray, np.ndarray]) -> None:
    truth, pred = random_pair
    assert metrics.ua(truth, pred) == pytest.approx(balanced_accuracy_score(truth, pred))
    assert metrics.wa(truth, pred) == pytest.approx(accuracy_score(truth, pred))
    assert metrics.macro_f1(truth, pred) == pytest.approx(
        f1_score(truth, pred, average="macro", zero_division=0)
    )
    recalls = recall_score(truth, pred, labels=LABELS, average=None)
    assert list(metrics.per_class_recall(truth, pred, LABELS).values()) == pytest.approx(list(recalls))
    np.testing.assert_array_equal(
        metrics.confusion(truth, pred, LABELS), confusion_matrix(truth, pred, labels=LABELS)
    )


def test_ua_differs_from_wa_on_imbalanced_data() -> None:
    truth = ["a"] * 8 + ["b"] * 2
    pred = ["a"] * 10  # the majority class always
    assert metrics.wa(truth, pred) == pytest.approx(0.8)
    assert metrics.ua(truth, pred) == pytest.approx(0.5)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_class_absent_from_truth_is_not_averaged_in_ua() -> None:
    # "sad" never occurs in the truth but is predicted once: UA averages angry and happy only.
    truth = ["angry", "angry", "happy", "happy"]
    pred = ["angry", "sad", "happy", "happy"]
    assert metrics.ua(truth, pred) == pytest.approx((0.5 + 1.0) / 2)
    assert metrics.ua(truth, pred) == pytest.approx(balanced_accuracy_score(truth, pred))
    recalls = metrics.per_class_recall(truth, pred, ["angry", "happy", "sad", "neutral"])
    assert recalls == {"angry": 0.5, "happy": 1.0, "sad": None, "neutral": None}
    # macro-F1 counts "sad" (predicted, never true) as 0 and ignores "neutral" (absent from both)
    assert metrics.macro_f1(truth, pred) == pytest.approx(
        f1_score(truth, pred, average="macro", zero_division=0)
    )
    assert metrics.macro_f1(truth, pred) == pytest.approx((2 / 3 + 1.0 + 0.0) / 3)


def test_class_never_predicted_counts_as_zero_recall() -> None:
    truth = ["a", "b", "c", "c"]
    pred = ["a", "a", "c", "c"]
    assert metrics.ua(truth, pred) == pytest.approx((1 + 0 + 1) / 3)


def test_integer_labels_work() -> None:
    truth, pred = [0, 1, 2, 2], [0, 2, 2, 2]
    assert metrics.ua(truth, pred) == pytest.approx(balanced_accuracy_score(truth, pred))
    assert metrics.confusion(truth, pred, [0, 1, 2]).tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 2]]


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(VoxemoError, match=r"has 2 labels"):
        metrics.wa(["a", "b"], ["a"])
    with pytest.raises(VoxemoError, match="empty"):
        metrics.ua([], [])
    with pytest.raises(VoxemoError, match="not in the label list"):
        metrics.confusion(["a", "x"], ["a", "a"], ["a", "b"])


def _reference_ece(probs: np.ndarray, truth: np.ndarray, n_bins: int) -> float:
    """Straightforward loop over bin edges, written independently of the module."""
    conf, pred = probs.max(1), probs.argmax(1)
    edges = np.linspace(0, 1, n_bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        inside = (conf > lo) & (conf <= hi)
        if lo == 0:
            inside |= conf == 0
        if inside.any():
            total += inside.mean() * abs((pred[inside] == truth[inside]).mean() - conf[inside].mean())
    return total


def test_ece_matches_reference_and_is_zero_when_calibrated() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(500, 4)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    truth = rng.integers(0, 4, 500)
    assert metrics.expected_calibration_error(probs, truth) == pytest.approx(_reference_ece(probs, truth, 15))
    assert metrics.expected_calibration_error(probs, truth, n_bins=5) == pytest.approx(
        _reference_ece(probs, truth, 5)
    )
    # always 100 % confident and always right: perfectly calibrated
    onehot = np.eye(4)[truth]
    assert metrics.expected_calibration_error(onehot, truth) == pytest.approx(0.0)
    # always 100 % confident and always wrong: ECE = 1
    assert metrics.expected_calibration_error(onehot, (truth + 1) % 4) == pytest.approx(1.0)


def test_summarize_is_json_ready_and_consistent(random_pair: tuple[np.ndarray, np.ndarray]) -> None:
    import json

    truth, pred = random_pair
    probs = np.full((truth.size, len(LABELS)), 0.1)
    probs[np.arange(truth.size), [LABELS.index(p) for p in pred]] = 0.7
    summary = metrics.summarize(truth, pred, LABELS, probs)
    json.dumps(summary)  # plain python types only
    assert summary["n"] == 200
    assert summary["ua"] == pytest.approx(balanced_accuracy_score(truth, pred))
    assert summary["confusion"]["labels"] == LABELS
    assert np.trace(np.array(summary["confusion"]["matrix"])) / 200 == pytest.approx(summary["wa"])
    assert 0 <= summary["ece"] <= 1 and summary["nll"] > 0
    with pytest.raises(VoxemoError, match="probs"):
        metrics.summarize(truth, pred, LABELS, probs[:, :2])
