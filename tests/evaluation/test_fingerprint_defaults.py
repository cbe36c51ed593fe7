"""Fold fingerprints ignore settings left at their defaults, so new config fields keep old folds valid."""

from __future__ import annotations

from dataclasses import dataclass, field

from voxemo.config import Config
from voxemo.evaluation.crossval import _settings_that_differ
from voxemo.training.config import TrainConfig


@dataclass
class _Inner(Config):
    a: int = 1


@dataclass
class _Old(Config):
    x: int = 0
    inner: _Inner = field(default_factory=_Inner)


@dataclass
class _New(_Old):
    added_later: float = 0.5


def test_a_new_field_at_its_default_does_not_change_the_identity() -> None:
    assert _settings_that_differ(_Old(x=3)) == _settings_that_differ(_New(x=3)) == {"x": 3}


def test_changed_settings_stay_in_the_identity() -> None:
    assert _settings_that_differ(_New(x=3, added_later=2.0, inner=_Inner(a=5))) == {
        "x": 3,
        "inner": {"a": 5},
        "added_later": 2.0,
    }


def test_a_train_config_keeps_only_what_differs() -> None:
    config = TrainConfig(epochs=7)
    identity = _settings_that_differ(config)
    assert identity["epochs"] == 7
    assert "batch_size" not in identity
