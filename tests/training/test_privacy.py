"""Differentially private training: learning under DP-SGD, accounting, clipping, refusals, reporting."""

from __future__ import annotations

import importlib.util
import itertools
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from voxemo.errors import ConfigError, ModelError
from voxemo.models import build_model
from voxemo.training import TrainConfig, UtteranceData, cli_train, read_bundle_config, train
from voxemo.training.privacy import (
    PrivacyConfig,
    PrivateTraining,
    adjust_for_privacy,
    check_model,
    noise_multiplier,
    poisson_batches,
    summarize,
    with_privacy,
)

HAVE_OPACUS = importlib.util.find_spec("opacus") is not None
needs_opacus = pytest.mark.skipif(
    not HAVE_OPACUS, reason="opacus is not installed (pip install 'voxemo[dp]')"
)
# Feature inputs never require grad; torch then notes that Opacus's full backward hooks still fire.
pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing")

CLASSES = ("calm", "loud")


def easy_set(n: int, seed: int, dim: int = 8) -> UtteranceData:
    """Feature vectors whose class is the sign of dimension 0 (the rest is noise)."""
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, 2, n)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    x[:, 0] += np.where(targets == 1, 2.5, -2.5)
    return UtteranceData(
        inputs=list(x), labels=[CLASSES[t] for t in targets], speakers=[f"s{i % 7}" for i in range(n)]
    )


def dp_config(epsilon: float | None = 8.0, **changes) -> TrainConfig:
    data = {
        "model": {"name": "mlp", "params": {"hidden": [16], "batch_norm": False, "dropout": 0.0}},
        "optim": {"lr": 0.05, "schedule": "constant", "weight_decay": 0.0},
        "epochs": 6,
        "batch_size": 40,
        "patience": 0,
        "tensorboard": False,
        "calibrate": False,
        "num_threads": 1,
        "privacy": {"epsilon": epsilon},
    }
    return TrainConfig.from_dict({**data, **changes})


def small_private(n_examples: int = 200, **changes) -> tuple[PrivateTraining, torch.nn.Module]:
    """A PrivateTraining around a small MLP (input_dim 8) with an SGD optimiser."""
    config = dp_config(**changes)
    config = config.replace(model=config.model.replace(params={**config.model.params, "input_dim": 8}))
    model = build_model(config.model, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return PrivateTraining(config, model, optimizer, n_examples=n_examples), model


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """One DP run at epsilon 8 (with mixup asked for), its bundle folder and its result."""
    out = tmp_path_factory.mktemp("dp") / "bundle"
    config = dp_config(augment={"mixup_alpha": 0.2, "mixup_prob": 1.0})
    result = train(config, easy_set(400, 0), easy_set(120, 1), out, progress=False)
    return SimpleNamespace(out=out, result=result)


# ---------------------------------------------------------------- learning and reporting


@needs_opacus
def test_dp_training_learns_an_easy_task_within_its_budget(trained: SimpleNamespace) -> None:
    result = trained.result
    assert result.best.val_ua > 0.9  # the class is one feature's sign: DP noise must not hide it
    spent = result.privacy
    assert math.isfinite(spent["epsilon"]) and 0 < spent["epsilon"] <= 8.0 + 0.05
    assert spent["steps"] == spent["planned_steps"] == 6 * round(400 / 40)
    assert spent["sampling"] == "poisson" and spent["sample_rate"] == pytest.approx(40 / 400)
    assert spent["noise_multiplier"] > 0.5


@needs_opacus
def test_bundle_metadata_has_the_privacy_block(trained: SimpleNamespace) -> None:
    block = read_bundle_config(trained.out).metadata["privacy"]
    assert block["epsilon"] == pytest.approx(trained.result.privacy["epsilon"])
    assert block["delta"] == 1e-5 and block["max_grad_norm"] == 1.0 and block["target_epsilon"] == 8.0
    assert block["noise_multiplier"] == pytest.approx(trained.result.privacy["noise_multiplier"])
    assert any("validation speakers" in item for item in block["not_covered"])


@needs_opacus
def test_mixup_is_off_under_dp_with_the_reason_recorded(trained: SimpleNamespace) -> None:
    assert trained.result.config.augment.mixup_alpha == 0.0
    assert trained.result.config.optim.grad_clip == 0.0
    assert any(note.startswith("mixup off") for note in trained.result.privacy["adjustments"])
    plain, notes = adjust_for_privacy(dp_config(None, augment={"mixup_alpha": 0.2}))
    assert plain.augment.mixup_alpha == 0.2 and notes == []


@needs_opacus
def test_normaliser_comes_from_validation_speakers_under_dp() -> None:
    train_set, val_set = easy_set(200, 0), easy_set(60, 1)
    val_set.inputs = [v + 10.0 for v in val_set.inputs]  # a shift only the validation data has
    result = train(dp_config(epochs=1), train_set, val_set, None, progress=False)
    assert result.model.feature_mean.numpy() == pytest.approx(np.mean(val_set.inputs, axis=0), abs=1e-4)


# ---------------------------------------------------------------- accounting and noise


@needs_opacus
def test_spent_epsilon_grows_with_steps_up_to_the_target() -> None:
    private, _ = small_private(200, epochs=3)
    spent = []
    for step in range(1, private.planned_steps + 1):
        private.noise_only_step()  # an empty batch: a step the accountant must count all the same
        if step in (1, 5, 10, 15):
            spent.append(private.spent_epsilon())
    assert private.steps == private.planned_steps == 3 * 5
    assert all(b > a for a, b in itertools.pairwise(spent))
    assert spent[-1] <= 8.0 + 0.05 and spent[-1] > 6.0  # calibrated to the target, not far below it


@needs_opacus
def test_smaller_epsilon_needs_more_noise() -> None:
    sigmas = [noise_multiplier(PrivacyConfig(epsilon=e), rate=0.1, steps=100) for e in (8.0, 3.0, 1.0)]
    assert sigmas[0] < sigmas[1] < sigmas[2]


@needs_opacus
def test_poisson_batches_sample_each_example_independently() -> None:
    batches = poisson_batches(1000, 0.05, 200, np.random.default_rng(0))
    sizes = np.array([b.size for b in batches])
    assert sizes.mean() == pytest.approx(50, rel=0.05) and sizes.std() > 3  # sizes vary, as Poisson
    counts = np.bincount(np.concatenate(batches), minlength=1000)
    assert counts.mean() == pytest.approx(10, rel=0.05)  # every example equally likely


@needs_opacus
def test_per_example_clipping_bounds_each_examples_gradient() -> None:
    private, model = small_private(400, privacy={"epsilon": 8.0, "max_grad_norm": 0.05})
    data = easy_set(12, 3)
    x = torch.from_numpy(np.stack(data.inputs)) * 5  # large inputs: large gradients
    targets = torch.tensor([CLASSES.index(label) for label in data.labels])
    twin = build_model(model.config, 2)  # same weights, no per-example hooks
    twin.load_state_dict(model.state_dict())
    twin.train()
    private.loss(twin(x[:1], None), targets[:1], None, 0.0).backward()
    alone = torch.cat([p.grad.reshape(-1) for p in twin.parameters()])
    private.loss(model(x, None), targets, None, 0.0).backward()
    params = private.optimizer.params
    per_example = torch.cat([p.grad_sample.reshape(12, -1) for p in params], dim=1)
    assert per_example[0] == pytest.approx(alone, abs=1e-5)  # row 0 is example 0's own gradient
    norms = per_example.norm(dim=1)
    assert norms.min() > 0.05  # clipping has work to do on every example
    private.optimizer.clip_and_accumulate()
    summed = torch.cat([p.summed_grad.reshape(-1) for p in params])
    factors = (0.05 / (norms + 1e-6)).clamp(max=1.0)
    assert (per_example * factors[:, None]).norm(dim=1).max() <= 0.05 + 1e-6
    assert summed == pytest.approx((per_example * factors[:, None]).sum(0), abs=1e-6)
    assert summed.norm() <= 12 * 0.05 + 1e-5


# ---------------------------------------------------------------- refusals and configuration


@needs_opacus
def test_batch_norm_models_are_refused_with_what_to_do() -> None:
    mlp = build_model(dp_config().model.replace(params={"input_dim": 8, "batch_norm": True}), 2)
    with pytest.raises(ConfigError, match=r"batch_norm=false"):
        check_model(mlp)
    tcn = build_model(TrainConfig.from_dict({"model": {"name": "tcn", "params": {"channels": 8}}}).model, 2)
    with pytest.raises(ConfigError, match="batch norm"):
        check_model(tcn)
    config = dp_config(model={"name": "mlp", "params": {"batch_norm": True}})
    with pytest.raises(ConfigError, match="cannot train under differential privacy"):
        train(config, easy_set(100, 0), easy_set(30, 1), None, progress=False)


@needs_opacus
def test_delta_must_be_below_one_over_n() -> None:
    with pytest.raises(ConfigError, match="1/N"):
        config = dp_config(privacy={"epsilon": 8.0, "delta": 0.05})
        train(config, easy_set(60, 0), easy_set(20, 1), None, progress=False)


@needs_opacus
def test_with_privacy_and_the_config_round_trip() -> None:
    plain = TrainConfig()
    assert with_privacy(plain, None, None) is plain
    private = with_privacy(plain, 8, 1e-6)
    assert private.privacy == PrivacyConfig(epsilon=8.0, delta=1e-6)
    assert TrainConfig.from_yaml(private.to_yaml()) == private
    assert with_privacy(private, None, 1e-7).privacy.epsilon == 8.0
    with pytest.raises(ConfigError, match="--dp-epsilon"):
        with_privacy(plain, None, 1e-5)
    with pytest.raises(ConfigError, match="epsilon must be positive"):
        with_privacy(plain, -1.0, None)
    with pytest.raises(ConfigError, match="accountant"):
        PrivacyConfig(epsilon=1.0, accountant="moments")
    old = Path(__file__).resolve().parents[2] / "recipes" / "mlp-egemaps.yaml"
    assert not TrainConfig.load(old).privacy.enabled  # recipes without a privacy section still load


def test_missing_opacus_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opacus", None)  # makes `import opacus` raise ImportError
    with pytest.raises(ConfigError, match=r"pip install 'voxemo\[dp\]'"):
        with_privacy(TrainConfig(), 8.0, None)
    with pytest.raises(ConfigError, match=r"pip install 'voxemo\[dp\]'"):
        train(dp_config(), easy_set(60, 0), easy_set(20, 1), None, progress=False)


# ---------------------------------------------------------------- resume and cross-validation


@needs_opacus
def test_resume_continues_the_accountant(tmp_path: Path) -> None:
    config = dp_config(epochs=4, batch_size=50)
    train_set, val_set = easy_set(200, 0), easy_set(40, 1)
    whole = train(config, train_set, val_set, tmp_path / "whole", progress=False)

    def interrupt(record) -> None:
        if record.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, train_set, val_set, tmp_path / "cut", progress=False, on_epoch_end=interrupt)
    resumed = train(config, train_set, val_set, tmp_path / "cut", resume=True, progress=False)
    assert resumed.privacy["steps"] == whole.privacy["steps"] == 4 * 4
    assert resumed.privacy["epsilon"] == pytest.approx(whole.privacy["epsilon"])
    private, _ = small_private(200)
    with pytest.raises(ModelError, match="accountant"):
        private.load_state_dict(None)


@needs_opacus
def test_crossval_results_carry_each_folds_epsilon(tmp_path: Path) -> None:
    from voxemo.evaluation import crossval

    table = pd.DataFrame(
        {
            "path": [f"{s}_{i}.wav" for s in "abc" for i in range(4)],
            "speaker": [s for s in "abc" for _ in range(4)],
            "emotion": ["calm", "loud"] * 6,
            "corpus": "toy",
        }
    )
    speakers = table["speaker"].to_numpy()
    folds = [
        SimpleNamespace(
            name=s,
            test=np.flatnonzero(speakers == s),
            val=np.flatnonzero(speakers == v),
            train=np.flatnonzero((speakers != s) & (speakers != v)),
        )
        for s, v in [("a", "b"), ("b", "c"), ("c", "a")]
    ]
    spent = iter([2.5, 3.0, 2.0])

    def fake_train(config, train_set, val_set, out_dir, resume):
        report = {"epsilon": next(spent), "delta": 1e-5, "target_epsilon": 3.0}
        return SimpleNamespace(best_epoch=1, history=None, privacy={**report, "noise_multiplier": 1.2})

    backend = crossval.TrainingBackend(
        build_inputs=lambda table, rows, config, labels: rows,
        train=fake_train,
        predict_proba=lambda result, rows: np.tile([0.6, 0.4], (len(rows), 1)),
        facts=lambda r: {"best_epoch": r.best_epoch, "history": None, "privacy": r.privacy},
    )
    results = crossval.cross_validate(table, folds, {"seed": 0}, tmp_path, progress=False, backend=backend)
    assert [f["epsilon"] for f in results["folds"]] == [2.5, 3.0, 2.0]
    assert results["privacy"]["epsilon_max"] == 3.0 and results["privacy"]["target_epsilon"] == 3.0
    again = crossval.cross_validate(table, folds, {"seed": 0}, tmp_path, progress=False, backend=backend)
    assert again["privacy"] == results["privacy"]  # finished folds keep their epsilon on resume
    assert summarize([None, None]) is None


# ---------------------------------------------------------------- the command line


@needs_opacus
def test_cli_train_with_dp_epsilon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from voxemo.cli import main

    sr, rows, rng = 16_000, [], np.random.default_rng(0)
    t = np.arange(int(0.5 * sr)) / sr
    for speaker in range(5):
        for i in range(16):
            label = CLASSES[i % 2]
            freq = (180.0 if label == "calm" else 1400.0) * rng.uniform(0.9, 1.1)
            wave = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
            path = tmp_path / f"{speaker}_{i}.wav"
            sf.write(path, wave.astype(np.float32), sr)
            rows.append({"path": str(path), "emotion": label, "speaker": str(speaker), "corpus": "toy"})
    monkeypatch.setattr(cli_train, "_load_corpus", lambda name, root, emotions: pd.DataFrame(rows))
    recipe = tmp_path / "recipe.yaml"
    dp_config(
        None,
        inputs={"utterance_features": "contrast-stats", "cache_dir": str(tmp_path / "cache"), "n_jobs": 1},
        data={"corpora": [{"name": "toy", "root": str(tmp_path)}], "val_speakers": 1},
        batch_size=16,
        epochs=4,
    ).save(recipe)
    out = tmp_path / "bundle"
    args = ["train", "--config", str(recipe), "--out", str(out), "--dp-epsilon", "8", "--dp-delta", "1e-5"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    block = read_bundle_config(out).metadata["privacy"]
    assert block["target_epsilon"] == 8.0 and block["delta"] == 1e-5
    assert 0 < block["epsilon"] <= 8.05
    assert f"epsilon spent {block['epsilon']:.2f}" in printed
