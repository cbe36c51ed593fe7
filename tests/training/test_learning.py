"""End to end: models learn the synthetic task on held-out speakers; interrupted runs resume exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.training.synthetic import synthetic_set, utterance_vector
from voxemo.models import ModelConfig
from voxemo.training import TrainConfig, UtteranceData, load_bundle, predict_proba, train
from voxemo.training.config import AugmentConfig, OptimConfig

TRAIN_SPEAKERS, VAL_SPEAKERS, TEST_SPEAKERS = [0, 1, 2, 3], [4], [5, 6]


@pytest.fixture(scope="module")
def splits() -> dict[str, UtteranceData]:
    return {
        name: UtteranceData(*synthetic_set(speakers, per_class, seed))
        for name, speakers, per_class, seed in [
            ("train", TRAIN_SPEAKERS, 8, 0),
            ("val", VAL_SPEAKERS, 6, 1),
            ("test", TEST_SPEAKERS, 8, 2),
        ]
    }


def accuracy(model: torch.nn.Module, labels: list[str], data: UtteranceData) -> float:
    predicted = np.array(labels)[predict_proba(model, data).argmax(axis=1)]
    return float(np.mean(predicted == np.array(data.labels)))


def test_cnn_learns_synthetic_emotions_on_held_out_speakers(splits: dict, tmp_path: Path) -> None:
    config = TrainConfig(
        model=ModelConfig(name="cnn", params={"channels": [16, 32, 64]}),
        optim=OptimConfig(lr=3e-3),
        epochs=5,
        batch_size=16,
        num_threads=1,
        tensorboard=True,
    )
    result = train(config, splits["train"], splits["val"], tmp_path / "run", progress=False)
    assert len(result.history) == 5
    assert 1 <= result.best_epoch <= 5
    assert result.history.val_ua[result.best_epoch - 1] == max(result.history.val_ua)
    assert accuracy(result.model, result.labels, splits["test"]) >= 0.9
    # The bundle written into out_dir predicts the same, and TensorBoard logged the run.
    loaded, bundle = load_bundle(tmp_path / "run")
    assert bundle.labels == result.labels == ["glide", "high", "low"]
    assert bundle.metadata["best_epoch"] == result.best_epoch
    assert np.allclose(predict_proba(loaded, splits["test"]), predict_proba(result.model, splits["test"]))
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))


def as_vectors(data: UtteranceData) -> UtteranceData:
    return UtteranceData([utterance_vector(w) for w in data.inputs], data.labels, data.speakers)


def test_mlp_learns_from_utterance_features(splits: dict) -> None:
    vectors = {name: as_vectors(data) for name, data in splits.items()}
    config = TrainConfig(
        model=ModelConfig(name="mlp", params={"hidden": [64, 32], "activation": "gelu"}),
        optim=OptimConfig(lr=3e-3),
        augment=AugmentConfig(mixup_alpha=0.0),
        epochs=30,
        batch_size=16,
        num_threads=1,
        tensorboard=False,
    )
    result = train(config, vectors["train"], vectors["val"], None, progress=False)
    assert result.config.model.params["input_dim"] == 64
    assert accuracy(result.model, result.labels, vectors["test"]) >= 0.9


class Interrupt(Exception):
    pass


def test_resumed_run_ends_identical_to_uninterrupted(splits: dict, tmp_path: Path) -> None:
    small = UtteranceData(splits["train"].inputs[::2], splits["train"].labels[::2])
    config = TrainConfig(
        model=ModelConfig(name="cnn", params={"channels": [8, 16], "hidden": 16}),
        augment=AugmentConfig(noise_prob=0.5, speed_prob=0.5, mixup_prob=0.5),
        epochs=4,
        batch_size=8,
        patience=0,
        num_threads=1,
        tensorboard=False,
    )
    config.inputs.crop_seconds = 0.6
    full = train(config, small, splits["val"], tmp_path / "full", progress=False)

    def stop_after_two(record) -> None:
        if record.epoch == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(config, small, splits["val"], tmp_path / "cut", progress=False, on_epoch_end=stop_after_two)
    epochs_run_after_resume: list[int] = []
    resumed = train(
        config,
        small,
        splits["val"],
        tmp_path / "cut",
        resume=True,
        progress=False,
        on_epoch_end=lambda record: epochs_run_after_resume.append(record.epoch),
    )

    assert epochs_run_after_resume == [3, 4]
    for curve in ("epoch", "train_loss", "val_loss", "val_ua", "val_wa", "lr"):
        assert getattr(resumed.history, curve) == getattr(full.history, curve), curve
    assert resumed.best_epoch == full.best_epoch
    for key, value in full.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_early_stopping_waits_for_min_epochs_and_keeps_the_best(splits: dict) -> None:
    vectors = {name: as_vectors(splits[name]) for name in ("train", "val")}
    config = TrainConfig(
        model=ModelConfig(name="mlp", params={"hidden": [8], "batch_norm": False}),
        optim=OptimConfig(lr=1e-12, schedule="constant"),  # nothing can improve after epoch 1
        epochs=20,
        patience=2,
        min_epochs=5,
        num_threads=1,
        tensorboard=False,
    )
    result = train(config, vectors["train"], vectors["val"], None, progress=False)
    assert result.history.epoch == [1, 2, 3, 4, 5]
    assert result.best_epoch == 1
