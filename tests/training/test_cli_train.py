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


def test_test_speakers_never_train_and_are_scored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`voxemo train` with data.test_speakers: those voices stay out of train/val and get heldout.json."""
    import json

    from voxemo.cli import main

    waves, labels, speakers = synthetic_set([0, 1, 2, 3], 3, seed=1)
    rows = []
    for i, (wave, label, speaker) in enumerate(zip(waves, labels, speakers, strict=True)):
        path = tmp_path / f"{i}.wav"
        sf.write(path, wave, SR)
        rows.append({"path": str(path), "emotion": label, "speaker": speaker, "corpus": "toy"})
    monkeypatch.setattr(cli_train, "_load_corpus", lambda name, root, emotions: pd.DataFrame(rows))
    held = f"toy:{speakers[-1]}"
    recipe = tmp_path / "recipe.yaml"
    TrainConfig.from_dict(
        {
            "model": {"name": "tcn", "params": {"channels": 16}},
            "data": {"corpora": [{"name": "toy", "root": str(tmp_path)}], "test_speakers": [held]},
            "epochs": 2,
            "tensorboard": False,
            "num_threads": 1,
        }
    ).save(recipe)
    out = tmp_path / "run"
    assert main(["train", "--config", str(recipe), "--out", str(out)]) == 0
    _, bundle = load_bundle(out)
    assert held not in bundle.metadata["train_speakers"] + bundle.metadata["val_speakers"]
    scores = json.loads((out / "heldout.json").read_text())
    assert scores["speakers"] == [held]
    assert scores["n"] == sum(1 for s in speakers if f"toy:{s}" == held)
    assert 0.0 <= scores["ua"] <= 1.0

    with pytest.raises(ConfigError, match="not in the training corpora"):
        cli_train.split_test_speakers(
            pd.DataFrame(rows).assign(speaker=lambda t: "toy:" + t.speaker), ["toy:nobody"]
        )


def test_emotions_may_be_missing_from_one_corpus_but_not_from_all() -> None:
    table = pd.DataFrame({"emotion": ["angry", "sad", "happy"], "speaker": ["a", "b", "c"]})
    kept = cli_train._keep_emotions(table, ["angry", "sad"])
    assert list(kept.emotion) == ["angry", "sad"]
    with pytest.raises(ConfigError, match="surprise"):
        cli_train._keep_emotions(table, ["angry", "surprise"])
