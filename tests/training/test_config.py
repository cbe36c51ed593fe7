"""TrainConfig round-trips, overrides and the shipped recipes."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxemo.errors import ConfigError
from voxemo.models import ModelConfig, build_model
from voxemo.training import TrainConfig, load_train_config
from voxemo.training.cli_train import apply_overrides

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_yaml_and_json_round_trip(tmp_path: Path) -> None:
    config = TrainConfig(model=ModelConfig(name="crnn", params={"channels": (8, 16), "rnn": "lstm"}))
    config.augment.snr_db = (5.0, 25.0)
    config.optim.schedule = "cosine"
    assert TrainConfig.from_yaml(config.to_yaml()) == config
    assert TrainConfig.from_json(config.to_json()) == config
    config.save(tmp_path / "c.yaml")
    loaded = TrainConfig.load(tmp_path / "c.yaml")
    assert loaded == config
    assert loaded.augment.snr_db == (5.0, 25.0)
    assert loaded.model.params["channels"] == [8, 16]


def test_unknown_or_bad_values_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        TrainConfig.from_yaml("optim: {lr: 0.1, momentun: 0.9}")
    with pytest.raises(ConfigError, match="schedule"):
        TrainConfig.from_yaml("optim: {schedule: triangle}")
    with pytest.raises(ConfigError, match="balance"):
        TrainConfig.from_yaml("balance: oversample")


def test_overrides_parse_yaml_values(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    TrainConfig().save(path)
    config = load_train_config(path, ["optim.lr=0.01", "model.params.channels=[4, 8]", "epochs=3"])
    assert config.optim.lr == 0.01 and config.epochs == 3
    assert config.model.params["channels"] == [4, 8]
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        apply_overrides({}, ["epochs"])
    with pytest.raises(ConfigError, match="unknown key"):
        load_train_config(path, ["optim.nesterov=true"])


@pytest.mark.parametrize("recipe", ["cnn.yaml", "crnn.yaml", "tcn.yaml", "mlp-egemaps.yaml"])
def test_recipes_load_and_build(recipe: str) -> None:
    config = TrainConfig.load(RECIPES / recipe)
    model_config = config.model
    if model_config.name == "mlp":
        model_config = model_config.replace(params={**model_config.params, "input_dim": 88})
    model = build_model(model_config, 7)
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
