"""Cross-validation: outputs, resume by fold, and the leakage guarantees.

A tiny fake training backend stands in for voxemo.training so the tests run in seconds; it uses
the real log-mel front end and its ``fit_normalizer``, so the normalisation test exercises the
same statistics code as the real models.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from voxemo.evaluation import crossval
from voxemo.evaluation.leakage import LeakageError, check_fold
from voxemo.evaluation.report import load_results
from voxemo.models.frontend import LogMelFrontend

SR = 16_000
SPEAKERS = ["s1", "s2", "s3", "s4"]
CLASSES = ["happy", "sad"]


def _clip(freq: float, amp: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.4 * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def write_corpus(root: Path) -> pd.DataFrame:
    """4 speakers x 2 classes x 3 clips: 'happy' is a high tone, 'sad' a low one."""
    rows = []
    for s, speaker in enumerate(SPEAKERS):
        for c, emotion in enumerate(CLASSES):
            for i in range(3):
                path = root / speaker / f"{emotion}_{i}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, _clip(900.0 if c == 0 else 150.0, 0.2 + 0.1 * s, seed=s * 10 + i), SR)
                rows.append({"path": str(path), "corpus": "toy", "speaker": speaker, "emotion": emotion})
    return pd.DataFrame(rows)


def loso_with_val(table: pd.DataFrame) -> list[SimpleNamespace]:
    """Leave one speaker out; the next speaker (cyclically) validates."""
    speakers = table["speaker"].to_numpy()
    folds = []
    for k, test_speaker in enumerate(SPEAKERS):
        val_speaker = SPEAKERS[(k + 1) % len(SPEAKERS)]
        folds.append(
            SimpleNamespace(
                name=test_speaker,
                test=np.flatnonzero(speakers == test_speaker),
                val=np.flatnonzero(speakers == val_speaker),
                train=np.flatnonzero((speakers != test_speaker) & (speakers != val_speaker)),
            )
        )
    return folds


class FakeBackend:
    """Nearest-centroid 'model' on normalised mean log-mel; records everything it is given."""

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.fail_on_call = fail_on_call
        self.train_calls: list[dict] = []

    def build_inputs(self, table, rows, config, labels):
        part = table.iloc[rows]
        return SimpleNamespace(
            waves=[sf.read(p, dtype="float32")[0] for p in part["path"]],
            targets=np.array([labels.index(e) for e in part["emotion"]]),
            speakers=set(part["speaker"]),
            rows=np.asarray(rows),
        )

    def _embed(self, frontend, waves):
        with torch.no_grad():
            return np.stack([frontend(torch.from_numpy(w)[None])[0][0].mean(-1).numpy() for w in waves])

    def train(self, config, train_set, val_set, out_dir, resume):
        if self.fail_on_call is not None and len(self.train_calls) == self.fail_on_call:
            raise KeyboardInterrupt("simulated interruption")
        frontend = LogMelFrontend()
        frontend.fit_normalizer(train_set.waves)  # training speakers only
        embedded = self._embed(frontend, train_set.waves)
        centroids = np.stack([embedded[train_set.targets == c].mean(0) for c in range(len(CLASSES))])
        model = SimpleNamespace(frontend=frontend, centroids=centroids)
        val_acc = float(np.mean(self.predict_proba(model, val_set).argmax(1) == val_set.targets))
        self.train_calls.append(
            {
                "train_speakers": train_set.speakers,
                "val_speakers": val_set.speakers,
                "band_mean": frontend.band_mean.numpy().copy(),
                "band_std": frontend.band_std.numpy().copy(),
            }
        )
        history = {
            "train_loss": [1.0, 0.6, 0.5],
            "val_loss": [1.1, 0.8, 0.9],
            "val_ua": [0.5, val_acc, val_acc],
        }
        return SimpleNamespace(model=model, best_epoch=2, history=history)

    def predict_proba(self, model, dataset):
        model = getattr(model, "model", model)
        distance = ((self._embed(model.frontend, dataset.waves)[:, None] - model.centroids[None]) ** 2).sum(
            -1
        )
        scores = np.exp(-(distance - distance.min(1, keepdims=True)) / 10.0)
        return scores / scores.sum(1, keepdims=True)

    def as_backend(self) -> crossval.TrainingBackend:
        return crossval.TrainingBackend(
            build_inputs=self.build_inputs,
            train=self.train,
            predict_proba=self.predict_proba,
            facts=lambda r: {"best_epoch": r.best_epoch, "history": r.history},
        )


@pytest.fixture
def corpus(tmp_path: Path) -> pd.DataFrame:
    return write_corpus(tmp_path / "audio")


def test_cross_validate_writes_results_plots_and_predictions(tmp_path: Path, corpus: pd.DataFrame) -> None:
    fake = FakeBackend()
    out = tmp_path / "eval"
    results = crossval.cross_validate(
        corpus,
        loso_with_val(corpus),
        {"seed": 0},
        out,
        backend=fake.as_backend(),
        progress=False,
        protocol_name="loso",
        model_name="fake",
    )
    assert results["ua"] == pytest.approx(1.0)
    assert results["model"]["name"] == "fake" and results["protocol"]["n_folds"] == 4
    assert [f["best_epoch"] for f in results["folds"]] == [2, 2, 2, 2]
    assert load_results(out / "results.json")["wa"] == pytest.approx(results["wa"])
    for picture in ("confusion.png", "curves.png"):
        assert (out / picture).read_bytes()[:4] == b"\x89PNG"
    predictions = pd.read_csv(out / "fold_01" / "predictions.csv")
    assert list(predictions.columns) == ["path", "speaker", "true", "predicted", "prob_happy", "prob_sad"]
    assert set(predictions["speaker"]) == {"s1"}
    np.testing.assert_allclose(predictions[["prob_happy", "prob_sad"]].sum(axis=1), 1.0)
    meta = json.loads((out / "fold_01" / "fold.json").read_text())
    assert meta["val_speakers"] == ["s2"] and "s1" not in meta["train_speakers"]


def test_interrupted_evaluation_resumes_with_unfinished_folds(tmp_path: Path, corpus: pd.DataFrame) -> None:
    out = tmp_path / "eval"
    folds = loso_with_val(corpus)
    crashing = FakeBackend(fail_on_call=2)  # dies while training the third fold
    with pytest.raises(KeyboardInterrupt):
        crossval.cross_validate(corpus, folds, {}, out, backend=crashing.as_backend(), progress=False)
    assert (out / "fold_02" / "fold.json").is_file() and not (out / "fold_03").exists()
    assert not (out / "results.json").exists()
    resumed = FakeBackend()
    results = crossval.cross_validate(corpus, folds, {}, out, backend=resumed.as_backend(), progress=False)
    # only folds 3 and 4 were trained again; 1 and 2 came from disk
    assert [call["train_speakers"] for call in resumed.train_calls] == [{"s1", "s2"}, {"s2", "s3"}]
    assert len(results["folds"]) == 4
    fresh = FakeBackend()
    crossval.cross_validate(corpus, folds, {}, out, backend=fresh.as_backend(), progress=False, resume=False)
    assert len(fresh.train_calls) == 4  # resume=False recomputes everything


def test_test_speakers_never_reach_training_or_validation(tmp_path: Path, corpus: pd.DataFrame) -> None:
    fake = FakeBackend()
    folds = loso_with_val(corpus)
    crossval.cross_validate(corpus, folds, {}, tmp_path / "eval", backend=fake.as_backend(), progress=False)
    for fold, call in zip(folds, fake.train_calls, strict=True):
        assert fold.name not in call["train_speakers"] | call["val_speakers"]
        assert not call["train_speakers"] & call["val_speakers"]


def test_normaliser_ignores_test_audio(tmp_path: Path, corpus: pd.DataFrame) -> None:
    """Replacing the test speaker's audio by loud noise leaves that fold's normaliser unchanged."""
    folds = loso_with_val(corpus)
    before = FakeBackend()
    crossval.cross_validate(corpus, folds, {}, tmp_path / "a", backend=before.as_backend(), progress=False)
    rng = np.random.default_rng(1)
    for path in corpus.loc[corpus["speaker"] == "s1", "path"]:
        sf.write(path, (0.9 * rng.uniform(-1, 1, int(0.4 * SR))).astype(np.float32), SR)
    after = FakeBackend()
    results = crossval.cross_validate(
        corpus, folds, {}, tmp_path / "b", backend=after.as_backend(), progress=False
    )
    # fold 1 tests s1: its normaliser must be bit-identical
    np.testing.assert_array_equal(before.train_calls[0]["band_mean"], after.train_calls[0]["band_mean"])
    np.testing.assert_array_equal(before.train_calls[0]["band_std"], after.train_calls[0]["band_std"])
    # ...while folds that train on s1 do see the change (the check is able to fail)
    assert not np.allclose(before.train_calls[2]["band_mean"], after.train_calls[2]["band_mean"])
    # and the altered audio did reach the test predictions of fold 1
    assert results["folds"][0]["ua"] < 1.0 or results["folds"][0]["wa"] < 1.0


def test_leakage_guard_rejects_bad_folds(corpus: pd.DataFrame) -> None:
    speakers = corpus["speaker"].to_numpy()
    s1, s2 = np.flatnonzero(speakers == "s1"), np.flatnonzero(speakers == "s2")
    rest = np.flatnonzero((speakers != "s1") & (speakers != "s2"))
    ok = SimpleNamespace(name="ok", train=rest, val=s2, test=s1)
    check_fold(corpus, ok)
    cases = {
        "test speaker.*training": SimpleNamespace(name="t", train=np.r_[rest, s1[:1]], val=s2, test=s1[1:]),
        "test speaker.*validation": SimpleNamespace(name="v", train=rest, val=np.r_[s2, s1[:1]], test=s1[1:]),
        "both training and validation": SimpleNamespace(
            name="tv", train=np.r_[rest, s2[:1]], val=s2[1:], test=s1
        ),
        "test utterances": SimpleNamespace(name="u", train=np.r_[rest, s1[:1]], val=s2, test=s1),
        "empty": SimpleNamespace(name="e", train=rest, val=s2, test=np.array([], dtype=int)),
    }
    for message, fold in cases.items():
        with pytest.raises(LeakageError, match=message):
            check_fold(corpus, fold)


def test_a_leaky_fold_stops_cross_validation_before_training(tmp_path: Path, corpus: pd.DataFrame) -> None:
    speakers = corpus["speaker"].to_numpy()
    leaky = SimpleNamespace(
        name="leaky",
        train=np.flatnonzero(speakers != "s2"),
        val=np.flatnonzero(speakers == "s2")[:1],
        test=np.flatnonzero(speakers == "s1")[:2],
    )
    fake = FakeBackend()
    with pytest.raises(LeakageError):
        crossval.cross_validate(
            corpus, [leaky], {}, tmp_path / "x", backend=fake.as_backend(), progress=False
        )
    assert fake.train_calls == []


def _tiny_recipe():
    from voxemo.models.base import ModelConfig
    from voxemo.training import AugmentConfig, TrainConfig

    no_augment = AugmentConfig(
        speed_prob=0.0, noise_prob=0.0, gain_prob=0.0, time_masks=0, freq_masks=0, mixup_alpha=0.0
    )
    model = ModelConfig(name="cnn", params={"channels": [4, 8], "hidden": 8, "pooled_blocks": 2})
    return TrainConfig(
        model=model, augment=no_augment, epochs=2, batch_size=8, patience=0, tensorboard=False, num_threads=1
    )


def _band_mean(bundle: Path) -> np.ndarray:
    from safetensors.numpy import load_file

    tensors = load_file(bundle / "model.safetensors")
    (key,) = [k for k in tensors if k.endswith("band_mean")]
    return tensors[key]


def test_real_training_normaliser_and_selection_see_training_speakers_only(
    tmp_path: Path, corpus: pd.DataFrame
) -> None:
    """End to end with voxemo.training.train: validation speakers come from the training speakers,
    and the saved normaliser of the fold testing s1 is unchanged when s1's audio becomes loud noise."""
    from voxemo.evaluation.splits import leave_one_speaker_out

    folds = leave_one_speaker_out(corpus)[:2]  # no val given: carved by validation_split
    first = crossval.cross_validate(corpus, folds, _tiny_recipe(), tmp_path / "a", progress=False)
    for fold in first["folds"]:
        assert fold["val_speakers"] and not set(fold["val_speakers"]) & set(fold["test_speakers"])
        assert fold["best_epoch"] in (1, 2)
    assert (tmp_path / "a" / "curves.png").is_file()
    test_speaker = first["folds"][0]["test_speakers"][0]
    rng = np.random.default_rng(2)
    for path in corpus.loc[corpus["speaker"] == test_speaker, "path"]:
        sf.write(path, (0.9 * rng.uniform(-1, 1, int(0.4 * SR))).astype(np.float32), SR)
    crossval.cross_validate(corpus, folds, _tiny_recipe(), tmp_path / "b", progress=False)
    np.testing.assert_array_equal(
        _band_mean(tmp_path / "a" / "fold_01" / "model"), _band_mean(tmp_path / "b" / "fold_01" / "model")
    )
    # the second fold trains on that speaker, so its normaliser must move (the comparison can fail)
    assert not np.allclose(
        _band_mean(tmp_path / "a" / "fold_02" / "model"), _band_mean(tmp_path / "b" / "fold_02" / "model")
    )


def test_make_folds_and_evaluate_command_errors(corpus: pd.DataFrame, tmp_path: Path) -> None:
    from voxemo.errors import ConfigError

    assert len(crossval.make_folds(corpus, "toy", "loso")) == 4
    groups = crossval.make_folds(corpus, "toy", "speaker-folds", k=2)
    assert len(groups) == 2 and sorted(np.concatenate([f.test for f in groups]).tolist()) == list(range(24))
    with pytest.raises(ConfigError, match="--folds K"):
        crossval.make_folds(corpus, "toy", "speaker-folds")
    with pytest.raises(ConfigError, match="unknown protocol"):
        crossval.evaluate_command("emodb", tmp_path, tmp_path / "out", protocol="random", baseline=True)
    with pytest.raises(ConfigError, match="--config FILE"):
        crossval.evaluate_command("emodb", tmp_path, tmp_path / "out")


def test_folds_finished_with_other_settings_are_recomputed(tmp_path: Path, corpus: pd.DataFrame) -> None:
    folds = loso_with_val(corpus)[:2]
    out = tmp_path / "eval"
    crossval.cross_validate(corpus, folds, {"lr": 1}, out, backend=FakeBackend().as_backend(), progress=False)
    same = FakeBackend()
    crossval.cross_validate(corpus, folds, {"lr": 1}, out, backend=same.as_backend(), progress=False)
    assert same.train_calls == []  # everything reused
    changed = FakeBackend()
    crossval.cross_validate(corpus, folds, {"lr": 2}, out, backend=changed.as_backend(), progress=False)
    assert len(changed.train_calls) == 2  # a new recipe never reuses old predictions
