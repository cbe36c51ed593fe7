"""Utterance tables -> inputs, label encoding, batching and sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from tests.conftest import SR, speechlike
from voxemo.errors import AudioError, ConfigError, ModelError
from voxemo.models import ModelConfig
from voxemo.training import TrainConfig, build_dataset, load_waveforms
from voxemo.training.data import (
    WAVE_CACHE,
    LabelEncoder,
    class_weights,
    epoch_order,
    length_sorted_batches,
    pad_waveforms,
)


@pytest.fixture
def table(tmp_path: Path) -> pd.DataFrame:
    rows = []
    for i, (emotion, seconds) in enumerate([("angry", 1.0), ("sad", 0.6), ("angry", 0.8)]):
        path = tmp_path / f"clip{i}.flac"
        sf.write(path, speechlike(seconds, seed=i), SR, subtype="PCM_16")
        rows.append({"path": str(path), "emotion": emotion, "speaker": f"s{i % 2}"})
    return pd.DataFrame(rows)


def test_build_dataset_decodes_and_caches_waveforms(table: pd.DataFrame) -> None:
    data = build_dataset(table, TrainConfig(), labels=["angry", "neutral", "sad"])
    assert [w.size for w in data.inputs] == [16000, 9600, 12800]
    assert data.labels == ["angry", "sad", "angry"] and data.speakers == ["s0", "s1", "s0"]
    assert data.classes == ["angry", "neutral", "sad"]
    reference, _ = sf.read(table.path[0], dtype="float32")
    assert np.array_equal(data.inputs[0], reference)  # the int16 cache is exact for 16-bit audio
    entries = len(WAVE_CACHE.entries)
    load_waveforms(table.path)
    assert len(WAVE_CACHE.entries) == entries


def test_table_problems_raise(table: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match="emotion"):
        build_dataset(table.drop(columns="emotion"), TrainConfig())
    with pytest.raises(ModelError, match="empty"):
        build_dataset(table.iloc[:0], TrainConfig())
    with pytest.raises(AudioError, match="cannot read"):
        build_dataset(table.assign(path=table.path + ".missing"), TrainConfig())


def test_mlp_inputs_come_from_the_feature_extractor(table: pd.DataFrame) -> None:
    config = TrainConfig(model=ModelConfig(name="mlp"))
    config.inputs.utterance_features = "mfcc"
    with pytest.raises(ConfigError, match="frame-level"):
        build_dataset(table, config)


def test_label_encoder() -> None:
    encoder = LabelEncoder(["angry", "sad"])
    assert encoder.encode(["sad", "angry"]).tolist() == [1, 0]
    with pytest.raises(ConfigError, match="happy"):
        encoder.encode(["happy"])
    with pytest.raises(ConfigError, match="duplicates"):
        LabelEncoder(["a", "a"])


def test_padding_and_length_sorting() -> None:
    waves = [np.ones(5, np.float32), np.ones(2, np.float32)]
    batch, lengths = pad_waveforms(waves, min_samples=3)
    assert batch.shape == (2, 5) and lengths.tolist() == [5, 3]
    assert batch[1].tolist() == [1, 1, 0, 0, 0]
    batches = length_sorted_batches([np.zeros(n) for n in (9, 1, 5, 3)], 2)
    assert [b.tolist() for b in batches] == [[1, 3], [2, 0]]


def test_balanced_sampler_and_class_weights() -> None:
    targets = np.array([0] * 90 + [1] * 10)
    rng = np.random.default_rng(0)
    drawn = np.concatenate([targets[epoch_order(targets, 2, "sampler", rng)] for _ in range(20)])
    assert np.mean(drawn == 1) == pytest.approx(0.5, abs=0.03)
    assert sorted(epoch_order(targets, 2, "none", rng)) == list(range(100))
    weights = class_weights(targets, 3)
    assert weights[2] == 0 and weights[1] / weights[0] == pytest.approx(9.0)
