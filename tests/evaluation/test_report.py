"""results.json schema, pooling over folds and the per-fold files round-trip."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score

from voxemo.errors import VoxemoError
from voxemo.evaluation import report

LABELS = ["angry", "happy", "sad"]


def _fold(name: str, speaker: str, truth: list[str], pred: list[str], with_probs: bool = True):
    probs = None
    if with_probs:
        probs = np.full((len(truth), 3), 0.2)
        probs[np.arange(len(truth)), [LABELS.index(p) for p in pred]] = 0.6
    return report.FoldPredictions(
        name=name,
        labels=LABELS,
        paths=[f"/data/{speaker}/{i}.wav" for i in range(len(truth))],
        speakers=[speaker] * len(truth),
        y_true=truth,
        y_pred=pred,
        probs=probs,
        best_epoch=3,
        train_speakers=["x", "y"],
        val_speakers=["z"],
        history={"train_loss": [1.0, 0.5], "val_loss": [1.1, 0.9], "val_ua": [0.4, 0.6]},
    )


@pytest.fixture
def folds() -> list[report.FoldPredictions]:
    return [
        _fold("s1", "s1", ["angry", "angry", "happy", "sad"], ["angry", "happy", "happy", "sad"]),
        _fold("s2", "s2", ["angry", "sad"] * 5 + ["happy"] * 2, ["angry"] * 12),
    ]


def _protocol(folds: list[report.FoldPredictions]) -> dict:
    table = pd.DataFrame({"speaker": ["s1"] * 4 + ["s2"] * 12})
    split = [SimpleNamespace(name="s1", test=np.arange(4)), SimpleNamespace(name="s2", test=np.arange(4, 16))]
    return report.protocol_description("emodb", "loso", split, table, LABELS)


def test_results_pool_predictions_not_fold_scores(folds: list[report.FoldPredictions]) -> None:
    results = report.build_results(folds, _protocol(folds), {"name": "svm"}, {"C": 1.0}, run_time_s=2.5)
    truth = [y for f in folds for y in f.y_true]
    pred = [y for f in folds for y in f.y_pred]
    assert results["ua"] == pytest.approx(balanced_accuracy_score(truth, pred))
    fold_uas = [balanced_accuracy_score(f.y_true, f.y_pred) for f in folds]
    assert results["fold_mean"]["ua"] == pytest.approx(np.mean(fold_uas))
    assert results["fold_std"]["ua"] == pytest.approx(np.std(fold_uas))
    assert results["ua"] != pytest.approx(results["fold_mean"]["ua"])  # pooling really differs here
    assert [f["n_test"] for f in results["folds"]] == [4, 12]
    assert results["folds"][1]["test_speakers"] == ["s2"]
    assert results["protocol"]["speakers_per_fold"] == {"s1": ["s1"], "s2": ["s2"]}
    assert results["protocol"]["normalisation"] == "training speakers only"
    assert results["protocol"]["model_selection"] == "validation speakers carved from training speakers"
    assert results["machine"]["cpu_count"] >= 1
    assert np.array(results["confusion"]["matrix"]).sum() == 16
    assert "ece" in results


def test_results_round_trip(tmp_path: Path, folds: list[report.FoldPredictions]) -> None:
    results = report.build_results(folds, _protocol(folds), {"name": "crnn"}, None, run_time_s=1.0)
    path = report.write_results(results, tmp_path / "out" / "results.json")
    loaded = report.load_results(path)
    assert loaded == json.loads(json.dumps(results))
    assert not list((tmp_path / "out").glob("*.tmp"))  # atomic write left no temp file


def test_incomplete_results_are_rejected(tmp_path: Path, folds: list[report.FoldPredictions]) -> None:
    results = report.build_results(folds, _protocol(folds), {"name": "svm"})
    del results["protocol"]["classes"]
    del results["wa"]
    with pytest.raises(VoxemoError, match=r"wa.*protocol\.classes"):
        report.write_results(results, tmp_path / "r.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(VoxemoError, match="not valid JSON"):
        report.load_results(tmp_path / "bad.json")


def test_fold_files_round_trip(tmp_path: Path, folds: list[report.FoldPredictions]) -> None:
    directory = tmp_path / report.fold_dir_name(0)
    assert directory.name == "fold_01"
    assert not report.fold_is_finished(directory)
    report.save_fold(folds[0], directory)
    assert report.fold_is_finished(directory)
    back = report.load_fold(directory)
    assert back.y_true == folds[0].y_true and back.y_pred == folds[0].y_pred
    assert back.paths == folds[0].paths and back.speakers == folds[0].speakers
    np.testing.assert_allclose(back.probs, folds[0].probs)
    assert back.best_epoch == 3 and back.val_speakers == ["z"]
    header = (directory / "predictions.csv").read_text().splitlines()[0]
    assert header == "path,speaker,true,predicted,prob_angry,prob_happy,prob_sad"


def test_folds_without_probabilities_and_label_mismatch(folds: list[report.FoldPredictions]) -> None:
    plain = [_fold("a", "a", ["angry", "sad"], ["angry", "angry"], with_probs=False)]
    results = report.build_results(plain, _protocol(plain), {"name": "svm"})
    assert "ece" not in results and results["wa"] == pytest.approx(0.5)
    odd = _fold("b", "b", ["angry"], ["angry"])
    odd.labels = ["angry", "happy", "calm"]
    with pytest.raises(VoxemoError, match="label list"):
        report.build_results([folds[0], odd], {}, {"name": "m"})
