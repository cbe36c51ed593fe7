"""``TrainConfig.refit``: after model selection, retrain on training + validation speakers.

The task is a tiny feature-vector problem: the class sets the sign of dimension 0 (with noise, so
validation loss has a minimum and early stopping picks an epoch well before ``epochs``), and the
validation speakers sit elsewhere in dimension 1, so a normaliser fitted on them differs from one
fitted on the training speakers alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

import voxemo
from tests.training.synthetic import synthetic_set
from tests.training.test_frames import frames_config, write_clips
from voxemo.errors import ConfigError
from voxemo.evaluation import crossval
from voxemo.models import ModelConfig
from voxemo.training import TrainConfig, UtteranceData, load_bundle, read_bundle_config, train
from voxemo.training.checkpoint import load_state
from voxemo.training.config import AugmentConfig, OptimConfig
from voxemo.training.loop import LAST_DIR, REFIT_DIR, EpochRecord, History, _scheduler
from voxemo.training.privacy import PrivacyConfig

DIM = 4
EPOCHS = 20


def feature_task(speakers: list[str], per_speaker: int, seed: int, offset: float = 0.0) -> UtteranceData:
    """Alternating ``pos``/``neg`` vectors; ``offset`` shifts dimension 1 (a speaker-group trait)."""
    rng = np.random.default_rng(seed)
    n = len(speakers) * per_speaker
    x = rng.normal(size=(n, DIM)).astype(np.float32)
    positive = np.arange(n) % 2 == 0
    x[:, 0] += np.where(positive, 1.0, -1.0)
    x[:, 1] += offset
    labels = ["pos" if p else "neg" for p in positive]
    return UtteranceData(list(x), labels, [s for s in speakers for _ in range(per_speaker)])


def config(**changes) -> TrainConfig:
    base = TrainConfig(
        model=ModelConfig(name="mlp", params={"hidden": [16], "dropout": 0.1}),
        optim=OptimConfig(lr=3e-2),
        augment=AugmentConfig(mixup_alpha=0.0),
        epochs=EPOCHS,
        batch_size=16,
        patience=3,
        seed=2,
        uncertain_below_accuracy=0.95,
        num_threads=1,
        tensorboard=False,
    )
    return base.replace(**changes)


def is_refit_epoch(record: EpochRecord) -> bool:
    """Refit epochs have no validation set, so their validation metrics are NaN."""
    return math.isnan(record.val_loss)


def curves(history: History) -> dict[str, list]:
    """Every per-epoch curve except the wall-clock seconds."""
    return {name: values for name, values in asdict(history).items() if name != "seconds"}


def records(seen: list[EpochRecord], refit: bool) -> list[tuple]:
    """(epoch, train_loss, val_ua) of the records of one phase."""
    return [(r.epoch, r.train_loss, r.val_ua) for r in seen if is_refit_epoch(r) == refit]


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def data() -> SimpleNamespace:
    return SimpleNamespace(
        train=feature_task(["a", "b", "c"], 20, 0), val=feature_task(["v", "w"], 12, 1, 2.0)
    )


@pytest.fixture(scope="module")
def runs(data: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """One run with refit and one without, same seed, each with the records ``on_epoch_end`` saw."""
    folder = tmp_path_factory.mktemp("refit")
    seen: dict[str, list[EpochRecord]] = {"refit": [], "plain": []}
    refit = train(
        config(refit=True),
        data.train,
        data.val,
        folder / "refit",
        progress=False,
        on_epoch_end=seen["refit"].append,
    )
    plain = train(
        config(), data.train, data.val, folder / "plain", progress=False, on_epoch_end=seen["plain"].append
    )
    return SimpleNamespace(refit=refit, plain=plain, seen=seen, folder=folder)


def test_refit_trains_on_train_and_validation_for_the_selected_epochs(runs, data) -> None:
    result = runs.refit
    selected = result.best_epoch
    assert 2 <= selected < EPOCHS  # the task makes early stopping pick an early epoch
    refit_records = [r for r in runs.seen["refit"] if is_refit_epoch(r)]
    assert [r.epoch for r in refit_records] == list(range(1, selected + 1))
    assert result.refit["train_loss"] == [r.train_loss for r in refit_records]
    # The LR schedule was laid out for exactly E epochs of the combined set (60 + 24 clips, batches of 16).
    state = load_state(runs.folder / "refit" / REFIT_DIR / LAST_DIR)
    assert state["epoch"] == selected
    assert state["scheduler"]["total_steps"] == selected * (84 // 16 + 1)
    # The normaliser saw every training speaker: validation ones included.
    everything = np.stack(data.train.inputs + data.val.inputs).astype(np.float64)
    train_only = np.stack(data.train.inputs).astype(np.float64)
    mean = result.model.feature_mean.numpy()
    np.testing.assert_allclose(mean, everything.mean(axis=0), atol=1e-5)
    assert abs(mean[1] - train_only.mean(axis=0)[1]) > 0.5
    np.testing.assert_allclose(runs.plain.model.feature_mean.numpy(), train_only.mean(axis=0), atol=1e-5)


def test_selection_run_is_the_plain_run_and_its_calibration_is_kept(runs) -> None:
    result, plain = runs.refit, runs.plain
    # The selection phase is exactly a refit-false run: same curves, epoch, temperature, threshold ...
    assert curves(result.history) == curves(plain.history)
    assert result.best_epoch == plain.best_epoch
    assert result.temperature == plain.temperature != 1.0
    assert result.calibration == plain.calibration
    assert result.calibration["uncertainty_threshold"] > 0
    assert records(runs.seen["refit"], refit=False) == records(runs.seen["plain"], refit=False)
    # ... and the same kept weights (saved in the selection state), which the refit model is not.
    selection_state = load_state(runs.folder / "refit" / LAST_DIR)["best_state"]
    assert same_weights(selection_state, weights(plain.model))
    assert not same_weights(weights(result.model), weights(plain.model))
    assert plain.refit is None
    assert "refit" not in read_bundle_config(runs.folder / "plain").metadata


def test_bundle_holds_the_refit_model_and_says_so(runs) -> None:
    result = runs.refit
    model, bundle = load_bundle(runs.folder / "refit")
    assert same_weights(weights(model), weights(result.model))
    assert bundle.temperature == pytest.approx(runs.plain.temperature)
    meta = bundle.metadata
    assert meta["refit"]["selected_epoch"] == meta["best_epoch"] == result.best_epoch
    assert meta["refit"]["n_train_refit"] == 84
    assert meta["refit"]["calibration_from"] == "selection run"
    assert meta["refit"]["train_speakers"] == ["a", "b", "c", "v", "w"]
    assert meta["uncertainty_threshold"] == pytest.approx(runs.plain.calibration["uncertainty_threshold"])
    assert meta["history"]["val_ua"] == pytest.approx(runs.plain.history.val_ua)  # curves of selection
    recognizer = voxemo.load_model(runs.folder / "refit")
    assert recognizer.labels == result.labels == ["neg", "pos"]
    assert recognizer.info.temperature == pytest.approx(result.temperature)
    assert recognizer.threshold == pytest.approx(meta["uncertainty_threshold"])


def test_refit_without_validation_set_is_a_plain_run(data, tmp_path: Path) -> None:
    with_flag = train(config(refit=True), data.train, None, tmp_path / "a", progress=False)
    without = train(config(), data.train, None, tmp_path / "b", progress=False)
    assert with_flag.refit is None
    assert same_weights(weights(with_flag.model), weights(without.model))
    assert not (tmp_path / "a" / REFIT_DIR).exists()


def test_refit_under_differential_privacy_is_refused(data, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"refit.*differential privacy"):
        config(refit=True, privacy=PrivacyConfig(epsilon=8.0))
    mutated = config(refit=True)
    mutated.privacy.epsilon = 8.0  # set after construction: train() still refuses it
    with pytest.raises(ConfigError, match=r"refit.*differential privacy"):
        train(mutated, data.train, data.val, tmp_path, progress=False)


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("phase", ["selection", "refit"])
def test_an_interrupted_run_resumes_the_phase_it_stopped_in(phase, runs, data, tmp_path: Path) -> None:
    def stop_at_epoch_two(record: EpochRecord) -> None:
        if record.epoch == 2 and is_refit_epoch(record) == (phase == "refit"):
            raise Interrupt

    with pytest.raises(Interrupt):
        train(
            config(refit=True), data.train, data.val, tmp_path, progress=False, on_epoch_end=stop_at_epoch_two
        )
    seen: list[EpochRecord] = []
    resumed = train(
        config(refit=True),
        data.train,
        data.val,
        tmp_path,
        resume=True,
        progress=False,
        on_epoch_end=seen.append,
    )
    selected = runs.refit.best_epoch
    selection_after_resume = [r.epoch for r in seen if not is_refit_epoch(r)]
    refit_after_resume = [r.epoch for r in seen if is_refit_epoch(r)]
    if phase == "refit":  # the finished selection run is restored, not retrained
        assert selection_after_resume == []
        assert refit_after_resume == list(range(3, selected + 1))
    else:
        assert selection_after_resume == list(range(3, len(runs.refit.history) + 1))
        assert refit_after_resume == list(range(1, selected + 1))
    assert curves(resumed.history) == curves(runs.refit.history)
    assert resumed.temperature == runs.refit.temperature
    assert same_weights(weights(resumed.model), weights(runs.refit.model))


def waveform_case(folder: Path) -> tuple[TrainConfig, UtteranceData, UtteranceData]:
    train_set = UtteranceData(*synthetic_set([0, 1], 2, 0))
    val_set = UtteranceData(*synthetic_set([4], 2, 1))
    model = ModelConfig(name="cnn", params={"channels": [8, 16], "hidden": 16})
    return config(model=model, epochs=2, batch_size=4, patience=0), train_set, val_set


def frames_case(folder: Path) -> tuple[TrainConfig, pd.DataFrame, pd.DataFrame]:
    train_set, val_set = write_clips(folder, 4, 0, "train"), write_clips(folder, 2, 1, "val")
    return frames_config("pooled-mlp", folder / "cache", epochs=2, seed=2), train_set, val_set


@pytest.mark.parametrize("case", [waveform_case, frames_case], ids=["waveform", "frames"])
def test_refit_works_for_waveform_and_frames_models(case, tmp_path: Path) -> None:
    recipe, train_set, val_set = case(tmp_path)
    result = train(recipe.replace(refit=True), train_set, val_set, tmp_path / "run", progress=False)
    assert result.refit["n_train_refit"] == 18  # 12 training + 6 validation clips
    assert len(result.refit["train_loss"]) == result.refit["selected_epoch"] == result.best_epoch
    model, bundle = load_bundle(tmp_path / "run")
    assert bundle.metadata["refit"]["calibration_from"] == "selection run"
    assert same_weights(weights(model), weights(result.model))


def test_one_cycle_schedule_of_ten_steps_is_accepted() -> None:
    """A refit run may have E x batches = 10 steps, where torch's warm-up (10 %) ends at step 0."""
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = _scheduler(optimizer, config(), total_steps=10)
    rates = []
    for _ in range(10):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert max(rates) == pytest.approx(config().optim.lr, rel=0.05)
    assert rates[-1] < rates[0]


class VectorBackend:
    """The real ``train`` and ``predict_proba`` on precomputed vectors (one per table row)."""

    def __init__(self, vectors: np.ndarray) -> None:
        real = crossval.default_backend()
        self.vectors = vectors
        self.train, self.facts = real.train, real.facts

    def build_inputs(self, table: pd.DataFrame, rows: np.ndarray, config, labels) -> UtteranceData:
        part = table.iloc[rows]
        inputs = [self.vectors[i] for i in rows]
        return UtteranceData(inputs, part["emotion"].tolist(), part["speaker"].tolist(), classes=labels)

    def predict_proba(self, result, dataset: UtteranceData) -> np.ndarray:
        from voxemo.training import predict_proba

        return predict_proba(result.model, dataset.inputs)


def vector_corpus() -> tuple[pd.DataFrame, np.ndarray, list[SimpleNamespace]]:
    speakers = ["s1", "s2", "s3", "s4"]
    parts = [feature_task([s], 16, seed) for seed, s in enumerate(speakers)]
    table = pd.DataFrame(
        {
            "path": [f"/virtual/{s}/{i}.wav" for p in parts for i, s in enumerate(p.speakers)],
            "corpus": "toy",
            "speaker": [s for p in parts for s in p.speakers],
            "emotion": [label for p in parts for label in p.labels],
        }
    )
    vectors = np.stack([x for p in parts for x in p.inputs])
    column = table["speaker"].to_numpy()
    folds = [
        SimpleNamespace(
            name=test,
            test=np.flatnonzero(column == test),
            val=np.flatnonzero(column == val),
            train=np.flatnonzero((column != test) & (column != val)),
        )
        for test, val in [("s1", "s2"), ("s3", "s4")]
    ]
    return table, vectors, folds


def test_crossval_records_refit_per_fold(tmp_path: Path) -> None:
    table, vectors, folds = vector_corpus()
    backend = VectorBackend(vectors)
    results = {
        name: crossval.cross_validate(
            table, folds, config(refit=refit), tmp_path / name, progress=False, backend=backend
        )
        for name, refit in [("plain", False), ("refit", True)]
    }
    for fold in results["refit"]["folds"]:
        facts = fold["extra"]["refit"]
        assert facts["selected_epoch"] == fold["best_epoch"] >= 1
        assert facts["n_train_refit"] == 48  # 2 training + 1 validation speaker x 16 clips
        assert facts["calibration_from"] == "selection run"
    assert all("extra" not in fold for fold in results["plain"]["folds"])
    plain_folds = {f["name"]: f["best_epoch"] for f in results["plain"]["folds"]}
    assert plain_folds == {f["name"]: f["best_epoch"] for f in results["refit"]["folds"]}
