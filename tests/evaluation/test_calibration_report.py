"""Calibration in evaluation results: test ECE before/after each fold's own temperature, and the
guarantee that the temperature is fitted without the test speakers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from tests.training.synthetic import CLASSES, SR, utterance
from voxemo.evaluation import crossval
from voxemo.evaluation.metrics import expected_calibration_error
from voxemo.evaluation.report import (
    FoldPredictions,
    build_results,
    load_fold,
    save_fold,
    temper_probabilities,
    validate_results,
)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = logits / temperature
    exp = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def fold_of(name: str, logits: np.ndarray, truth: np.ndarray, temperature: float | None) -> FoldPredictions:
    labels = ["a", "b", "c"]
    probs = softmax(logits)
    n = len(truth)
    return FoldPredictions(
        name=name,
        labels=labels,
        paths=[f"{name}/{i}.wav" for i in range(n)],
        speakers=[name] * n,
        y_true=[labels[t] for t in truth],
        y_pred=[labels[p] for p in probs.argmax(1)],
        probs=probs,
        best_epoch=1,
        temperature=temperature,
    )


def overconfident_fold(
    name: str, seed: int, scale: float = 3.0, n: int = 400
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = 1.5 * rng.standard_normal((n, 3))
    truth = (rng.random((n, 1)) > np.cumsum(softmax(base), axis=1)).sum(axis=1)
    return base * scale, truth


def test_tempering_probabilities_equals_dividing_the_logits() -> None:
    logits = np.random.default_rng(0).normal(scale=4.0, size=(50, 5))
    np.testing.assert_allclose(temper_probabilities(softmax(logits), 2.5), softmax(logits, 2.5), atol=1e-12)


def test_results_report_ece_before_and_after_per_fold_and_pooled() -> None:
    (l1, t1), (l2, t2) = overconfident_fold("s1", 1), overconfident_fold("s2", 2)
    folds = [fold_of("s1", l1, t1, 3.0), fold_of("s2", l2, t2, 2.0)]
    results = validate_results(build_results(folds, _protocol(), {"name": "m"}))
    raw = [softmax(l1), softmax(l2)]
    calibrated = [softmax(l1, 3.0), softmax(l2, 2.0)]
    truth = np.r_[t1, t2]
    assert results["ece"] == pytest.approx(expected_calibration_error(np.concatenate(raw), truth))
    assert results["ece_calibrated"] == pytest.approx(
        expected_calibration_error(np.concatenate(calibrated), truth)
    )
    assert results["ece_calibrated"] < results["ece"] / 2  # the right temperature fixes over-confidence
    assert results["temperature_mean"] == pytest.approx(2.5)
    for fold, probs_raw, probs_cal, truth_fold, t in zip(
        results["folds"], raw, calibrated, [t1, t2], [3.0, 2.0], strict=True
    ):
        assert fold["temperature"] == t
        assert fold["ece"] == pytest.approx(expected_calibration_error(probs_raw, truth_fold))
        assert fold["ece_calibrated"] == pytest.approx(expected_calibration_error(probs_cal, truth_fold))
    # Calibration never changes a prediction, so accuracy is untouched.
    assert results["wa"] == pytest.approx(np.mean(np.concatenate(raw).argmax(1) == truth))
    json.dumps(results, allow_nan=False)  # strict JSON


def test_folds_without_temperature_report_null_and_temperature_survives_a_resume(tmp_path: Path) -> None:
    logits, truth = overconfident_fold("s1", 3, n=60)
    uncalibrated = build_results([fold_of("s1", logits, truth, None)], _protocol(), {"name": "svm"})
    assert uncalibrated["ece"] is not None and uncalibrated["ece_calibrated"] is None
    assert uncalibrated["temperature_mean"] is None and uncalibrated["folds"][0]["temperature"] is None
    save_fold(fold_of("s1", logits, truth, 1.75), tmp_path / "fold_01", "fingerprint")
    assert load_fold(tmp_path / "fold_01").temperature == 1.75


def _protocol() -> dict:
    return {
        "corpora": ["toy"],
        "name": "loso",
        "n_folds": 2,
        "speakers_per_fold": {},
        "classes": ["a", "b", "c"],
        "normalisation": "training speakers only",
        "model_selection": "validation speakers",
    }


# ---------------------------------------------------------------- end to end with real training

SPEAKERS = [0, 1, 2, 3]


def write_synthetic_corpus(root: Path) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for speaker in SPEAKERS:
        for emotion in CLASSES:
            for i in range(3):
                path = root / f"spk{speaker}" / f"{emotion}_{i}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, utterance(emotion, speaker, rng), SR)
                rows.append(
                    {"path": str(path), "corpus": "toy", "speaker": f"spk{speaker}", "emotion": emotion}
                )
    return pd.DataFrame(rows)


def tiny_recipe():
    from voxemo.models import ModelConfig
    from voxemo.training import AugmentConfig, OptimConfig, TrainConfig

    no_augment = AugmentConfig(
        speed_prob=0.0, noise_prob=0.0, gain_prob=0.0, time_masks=0, freq_masks=0, mixup_alpha=0.0
    )
    model = ModelConfig(name="cnn", params={"channels": [4, 8], "hidden": 8, "dropout": 0.0})
    return TrainConfig(
        model=model,
        augment=no_augment,
        optim=OptimConfig(lr=3e-3),
        epochs=3,
        batch_size=9,
        patience=0,
        tensorboard=False,
        num_threads=1,
    )


def bundle_temperature(fold_dir: Path) -> float:
    return json.loads((fold_dir / "model" / "config.json").read_text())["temperature"]


def test_temperature_comes_from_validation_speakers_never_the_test_fold(tmp_path: Path) -> None:
    """Replacing the test speaker's audio by noise leaves that fold's temperature bit-identical."""
    from voxemo.evaluation.splits import leave_one_speaker_out

    corpus = write_synthetic_corpus(tmp_path / "audio")
    folds = leave_one_speaker_out(corpus)[:2]
    first = crossval.cross_validate(corpus, folds, tiny_recipe(), tmp_path / "a", progress=False)
    for k, fold in enumerate(first["folds"]):
        assert fold["temperature"] == bundle_temperature(tmp_path / "a" / f"fold_{k + 1:02d}")
        assert fold["ece"] is not None and fold["ece_calibrated"] is not None
    assert first["temperature_mean"] == pytest.approx(np.mean([f["temperature"] for f in first["folds"]]))
    assert first["folds"][0]["temperature"] != 1.0  # a fit happened
    test_speaker = first["folds"][0]["test_speakers"][0]
    rng = np.random.default_rng(5)
    for path in corpus.loc[corpus["speaker"] == test_speaker, "path"]:
        sf.write(path, (0.9 * rng.uniform(-1, 1, SR)).astype(np.float32), SR)
    second = crossval.cross_validate(corpus, folds, tiny_recipe(), tmp_path / "b", progress=False)
    assert second["folds"][0]["temperature"] == first["folds"][0]["temperature"]
    # ...while the fold that trains on that speaker gets another temperature (the check can fail).
    assert second["folds"][1]["temperature"] != first["folds"][1]["temperature"]
    # and the altered audio reached fold 1's test ECE, which the temperature ignored.
    assert second["folds"][0]["ece"] != first["folds"][0]["ece"]
