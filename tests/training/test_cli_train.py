"""train_from_config: recipe + overrides + corpora -> bundle, validation speakers from training ones."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf

from tests.training.synthetic import SR, synthetic_set
from voxemo.errors import ConfigError
from voxemo.training import TrainConfig, cli_train, load_bundle, split_validation_speakers, train_from_config


def test_validation_speakers_are_whole_training_speakers() -> None:
    table = pd.DataFrame({"speaker": list("aabbccdd"), "emotion": list("xyxyxyxy"), "path": list("12345678")})
    train, val = split_validation_speakers(table, 0.25, seed=0)
    assert len(set(val.speaker)) == 1 and not set(val.speaker) & set(train.speaker)
    train, val = split_validation_speakers(table, 3, seed=0)
    assert len(set(val.speaker)) == 3
    with pytest.raises(ConfigError, match="2 speakers"):
        split_validation_speakers(table[table.speaker == "a"], 1, seed=0)


def test_train_from_config_writes_a_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    waves, labels, speakers = synthetic_set([0, 1, 2], 3, seed=0)
    rows = []
    for i, (wave, label, speaker) in enumerate(zip(waves, labels, speakers, strict=True)):
        path = tmp_path / f"{i}.wav"
        sf.write(path, wave, SR)
        rows.append({"path": str(path), "emotion": label, "speaker": speaker})
    seen: dict = {}

    def fake_corpus(name: str, root: str, emotions: list[str] | None) -> pd.DataFrame:
        seen.update(name=name, root=str(root), emotions=emotions)
        return pd.DataFrame(rows)

    monkeypatch.setattr(cli_train, "_load_corpus", fake_corpus)
    recipe = tmp_path / "recipe.yaml"
    TrainConfig.from_dict(
        {"model": {"name": "tcn", "params": {"channels": 16}}, "data": {"corpora": [{"name": "toy"}]}}
    ).save(recipe)
    out = train_from_config(
        recipe,
        ["epochs=2", "tensorboard=false", "data.val_speakers=1", "num_threads=1"],
        corpus_roots={"toy": tmp_path},
        out_dir=tmp_path / "out",
        progress=False,
    )
    _, bundle = load_bundle(out)
    assert seen["root"] == str(tmp_path)
    assert bundle.train_config.epochs == 2
    assert len(bundle.metadata["val_speakers"]) == 1
    assert set(bundle.metadata["val_speakers"]).isdisjoint(bundle.metadata["train_speakers"])
    assert bundle.metadata["val_speakers"][0].startswith("toy:")
    with pytest.raises(ConfigError, match=r"data\.corpora"):
        train_from_config(TrainConfig(), [])
