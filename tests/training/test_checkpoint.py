"""Model bundles round-trip exactly, and broken bundles fail with a readable ModelError."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import speechlike
from voxemo.errors import ModelError
from voxemo.models import ModelConfig, build_model
from voxemo.training import TrainConfig, load_bundle, predict_logits, save_bundle
from voxemo.training.checkpoint import join_tensors, load_state, save_state, split_tensors

LABELS = ["angry", "happy", "neutral", "sad"]


@pytest.fixture
def bundle(tmp_path: Path) -> tuple[Path, torch.nn.Module, list[np.ndarray]]:
    config = TrainConfig(model=ModelConfig(name="crnn", params={"channels": [8, 8, 16]}))
    torch.manual_seed(0)
    model = build_model(config.model, len(LABELS))
    waves = [speechlike(1.0, seed=s, f0=120 + 20 * s) for s in range(3)]
    model.fit_normalizer(waves)
    model.train()
    with torch.no_grad():  # non-trivial batch-norm running statistics
        model(torch.from_numpy(np.stack(waves)))
    save_bundle(tmp_path / "bundle", model.eval(), config, LABELS, {"val_ua": np.float64(0.5)})
    return tmp_path / "bundle", model, waves


def test_bundle_round_trip_gives_identical_logits(bundle) -> None:
    directory, model, waves = bundle
    assert sorted(p.name for p in directory.iterdir()) == ["config.json", "model.safetensors"]
    loaded, info = load_bundle(directory)
    assert info.labels == LABELS and info.input_kind == "waveform"
    assert info.metadata == {"val_ua": 0.5}
    assert not loaded.training
    assert torch.equal(loaded.frontend.band_mean, model.frontend.band_mean)
    assert np.array_equal(predict_logits(loaded, waves), predict_logits(model, waves))


def test_missing_weights(bundle) -> None:
    directory, *_ = bundle
    (directory / "model.safetensors").unlink()
    with pytest.raises(ModelError, match=r"model\.safetensors is missing"):
        load_bundle(directory)


def test_truncated_weights(bundle) -> None:
    directory, *_ = bundle
    weights = directory / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelError, match="corrupt"):
        load_bundle(directory)


def test_corrupt_or_missing_config(bundle, tmp_path: Path) -> None:
    directory, *_ = bundle
    (directory / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match="corrupt"):
        load_bundle(directory)
    (directory / "config.json").unlink()
    with pytest.raises(ModelError, match=r"config\.json is missing"):
        load_bundle(directory)
    with pytest.raises(ModelError, match="not found"):
        load_bundle(tmp_path / "nowhere")


def test_weights_that_do_not_fit_the_config(bundle) -> None:
    directory, *_ = bundle
    config = json.loads((directory / "config.json").read_text())
    config["train_config"]["model"]["params"]["rnn_hidden"] = 8
    config["weights_sha256"] = ""
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="does not fit"):
        load_bundle(directory)


def test_label_count_must_match_outputs(tmp_path: Path) -> None:
    model = build_model(ModelConfig(name="mlp", params={"input_dim": 3}), 2)
    with pytest.raises(ModelError, match="labels"):
        save_bundle(tmp_path, model, TrainConfig(), ["a", "b", "c"])


def test_training_state_round_trips_without_pickle(tmp_path: Path) -> None:
    model = build_model(ModelConfig(name="mlp", params={"input_dim": 3}), 2)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    rng_state = np.random.default_rng(0).bit_generator.state
    state = {"opt": optimizer.state_dict(), "rng": rng_state, "t": (1, 2.5)}
    save_state(tmp_path, state)
    restored = load_state(tmp_path)
    assert restored["rng"] == state["rng"] and restored["t"] == (1, 2.5)
    fresh = torch.optim.AdamW(model.parameters())
    fresh.load_state_dict(restored["opt"])
    original = optimizer.state_dict()["state"][0]["exp_avg"]
    assert torch.equal(fresh.state_dict()["state"][0]["exp_avg"], original)
    tensors: dict = {}
    assert join_tensors(split_tensors({1: [torch.ones(2)]}, tensors), tensors)[1][0].tolist() == [1.0, 1.0]
    (tmp_path / "state.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="corrupt"):
        load_state(tmp_path)
