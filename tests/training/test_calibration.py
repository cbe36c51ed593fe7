"""Temperature scaling on validation speakers: the fit, its wiring into train(), and `uncertain`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.training.synthetic import SR, synthetic_set, utterance
from voxemo.errors import ModelError
from voxemo.training import TrainConfig, UtteranceData, load_bundle, predict_logits, train
from voxemo.training.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    nll,
    uncertainty_threshold,
)
from voxemo.training.config import AugmentConfig, OptimConfig

# ---------------------------------------------------------------- the fit on its own


def sampled_task(scale: float, n: int = 3000, classes: int = 4, seed: int = 0):
    """Targets drawn from softmax(base); the model reports ``base * scale`` (scale > 1: over-confident)."""
    rng = np.random.default_rng(seed)
    base = 2.0 * rng.standard_normal((n, classes))
    cumulative = np.cumsum(apply_temperature(base, 1.0), axis=1)
    targets = (rng.random((n, 1)) > cumulative).sum(axis=1)
    return base * scale, targets


@pytest.mark.parametrize("scale", [3.0, 0.5])
def test_fit_recovers_the_temperature_that_makes_probabilities_honest(scale: float) -> None:
    logits, targets = sampled_task(scale)
    temperature = fit_temperature(logits, targets)
    assert temperature == pytest.approx(scale, rel=0.1)
    before = expected_calibration_error(apply_temperature(logits, 1.0), targets)
    after = expected_calibration_error(apply_temperature(logits, temperature), targets)
    assert before > 0.05 and after < 0.035 and after < before / 2
    assert nll(logits, targets, temperature) < nll(logits, targets, 1.0)
    # Scaling never changes which emotion wins.
    assert np.array_equal(apply_temperature(logits, temperature).argmax(1), logits.argmax(1))


def test_no_or_tiny_validation_data_stays_near_one() -> None:
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=int)) == 1.0
    confident_and_right = np.array([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    targets = np.array([0, 1])
    maximum_likelihood = fit_temperature(confident_and_right, targets, prior_std=np.inf)
    assert maximum_likelihood < 0.1  # two clips would make plain NLL claim near-certainty
    assert 0.6 < fit_temperature(confident_and_right, targets) <= 1.0  # the prior keeps it sane


def test_bad_inputs_raise_model_errors() -> None:
    with pytest.raises(ModelError, match="NaN or infinite"):
        fit_temperature(np.array([[np.nan, 0.0]]), np.array([0]))
    with pytest.raises(ModelError, match="shapes"):
        fit_temperature(np.zeros((3, 2)), np.zeros(2, dtype=int))
    with pytest.raises(ModelError, match="class indices"):
        fit_temperature(np.zeros((2, 2)), np.array([0, 2]))
    with pytest.raises(ModelError, match="positive"):
        apply_temperature(np.zeros((1, 2)), 0.0)


def test_ece_matches_the_evaluation_metric() -> None:
    from voxemo.evaluation.metrics import expected_calibration_error as evaluation_ece

    logits, targets = sampled_task(2.0, n=500, seed=3)
    probs = apply_temperature(logits, 1.0)
    assert expected_calibration_error(probs, targets) == pytest.approx(evaluation_ece(probs, targets))


def test_uncertainty_threshold_sits_above_the_unreliable_predictions() -> None:
    # 3 classes: 10 clips at confidence 0.4-0.49 with 3 right, then 10 at 0.8-0.89 all right.
    confidence = np.r_[np.linspace(0.4, 0.49, 10), np.linspace(0.8, 0.89, 10)]
    probs = np.stack([confidence, (1.0 - confidence) / 2, (1.0 - confidence) / 2], axis=1)
    targets = np.r_[[0, 1, 1, 0, 1, 1, 0, 1, 1, 1], np.zeros(10, dtype=int)]
    threshold = uncertainty_threshold(probs, targets, min_accuracy=0.5)
    assert threshold == pytest.approx((0.49 + 0.8) / 2)
    assert uncertainty_threshold(probs, targets, min_accuracy=0.2) == 0.0  # no group that bad
    assert uncertainty_threshold(probs[:3], targets[:3]) == 0.0  # too few clips to say
    everything_wrong = uncertainty_threshold(probs, np.ones(20, dtype=int), min_accuracy=0.5)
    assert everything_wrong == 1.0


# ---------------------------------------------------------------- wired into train()


def tiny_config(**overrides) -> TrainConfig:
    from voxemo.models import ModelConfig

    no_augment = AugmentConfig(
        speed_prob=0.0, noise_prob=0.0, gain_prob=0.0, time_masks=0, freq_masks=0, mixup_alpha=0.0
    )
    model = ModelConfig(name="cnn", params={"channels": [8, 16], "hidden": 16, "dropout": 0.0})
    settings = {
        "model": model,
        "augment": no_augment,
        "optim": OptimConfig(lr=3e-3),
        "epochs": 5,
        "batch_size": 12,
        "patience": 0,
        "tensorboard": False,
        "num_threads": 1,
        **overrides,
    }
    return TrainConfig(**settings)


@pytest.fixture(scope="module")
def data() -> dict[str, UtteranceData]:
    return {
        "train": UtteranceData(*synthetic_set([0, 1, 2, 4], per_class=4, seed=0)),
        "val": UtteranceData(*synthetic_set([3], per_class=5, seed=1)),
    }


@pytest.fixture(scope="module")
def calibrated_run(data: dict, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("calibrated") / "bundle"
    config = tiny_config(uncertain_below_accuracy=0.9)
    return train(config, data["train"], data["val"], out, progress=False), out


def test_train_fits_the_temperature_on_validation_speakers(calibrated_run, data: dict) -> None:
    result, out = calibrated_run
    model, bundle = load_bundle(out)
    # Recomputing the fit from the saved model's validation logits gives the saved temperature:
    # the fit saw the validation speakers and nothing else.
    logits = predict_logits(model, data["val"], max_samples=12 * SR, min_samples=SR // 2)
    targets = np.array([result.labels.index(label) for label in data["val"].labels])
    expected = fit_temperature(logits, targets)
    assert result.temperature == pytest.approx(expected, rel=1e-4)
    assert bundle.temperature == pytest.approx(result.temperature) and result.temperature != 1.0
    meta = bundle.metadata
    calibrated = apply_temperature(logits, expected)
    raw = apply_temperature(logits, 1.0)
    assert meta["ece_before"] == pytest.approx(expected_calibration_error(raw, targets), abs=1e-6)
    assert meta["ece_after"] == pytest.approx(expected_calibration_error(calibrated, targets), abs=1e-6)
    assert meta["calibration"]["fitted_on"] == "validation speakers"
    assert meta["calibration"]["nll_after"] <= meta["calibration"]["nll_before"]
    threshold = uncertainty_threshold(calibrated, targets, min_accuracy=0.9)
    assert 0.0 < threshold < 1.0  # five epochs leave some validation clips unreliable
    assert meta["calibration"]["uncertainty_threshold"] == pytest.approx(threshold, abs=1e-6)
    assert meta["uncertainty_threshold"] == pytest.approx(threshold, abs=1e-6)  # the bundle's default
    # config.json stays strict JSON with the new facts in it.
    assert json.loads((out / "config.json").read_text())["temperature"] == pytest.approx(result.temperature)


def test_calibration_can_be_switched_off(data: dict) -> None:
    result = train(tiny_config(calibrate=False, epochs=1), data["train"], data["val"], None, progress=False)
    assert result.temperature == 1.0 and result.calibration["fitted_on"] is None
    without_val = train(tiny_config(epochs=1), data["train"], None, None, progress=False)
    assert without_val.temperature == 1.0


def test_recognizer_applies_the_temperature_and_marks_low_confidence_uncertain(
    calibrated_run, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import soundfile as sf

    from voxemo.cli import main
    from voxemo.inference import load_model
    from voxemo.inference.backends import softmax

    result, out = calibrated_run
    wave = utterance("glide", 6, np.random.default_rng(11))
    assert load_model(out).threshold == pytest.approx(result.calibration["uncertainty_threshold"])
    recognizer = load_model(out, uncertainty_threshold=0.0)
    logits = recognizer.backend.logits([wave])
    prediction = recognizer.predict(wave, sample_rate=SR)
    np.testing.assert_allclose(list(prediction.scores.values()), softmax(logits, result.temperature)[0])
    assert prediction.uncertain is False
    above, below = (prediction.confidence + 1.0) / 2, prediction.confidence - 1e-3
    unsure = load_model(out, uncertainty_threshold=above).predict(wave, sample_rate=SR)
    assert unsure.uncertain is True and unsure.emotion == prediction.emotion  # the label is still given
    assert load_model(out, uncertainty_threshold=below).predict(wave, sample_rate=SR).uncertain is False
    # The command line says the same in its JSON.
    path = tmp_path / "clip.wav"
    sf.write(path, wave, SR, subtype="FLOAT")
    for threshold, expected in [(above, True), (below, False)]:
        code = main(["predict", str(path), "--json", "--model", str(out), "--threshold", str(threshold)])
        record = json.loads(capsys.readouterr().out.strip())
        assert code == 0 and record["uncertain"] is expected and record["emotion"] == prediction.emotion
        assert record["confidence"] == pytest.approx(prediction.confidence, abs=1e-6)


def test_predict_help_explains_the_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    from voxemo.cli import main

    assert main(["predict", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--threshold" in help_text and "marked uncertain" in help_text and "still reported" in help_text
