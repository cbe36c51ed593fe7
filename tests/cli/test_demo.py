"""``voxemo demo``: predictions on the example clips first, features second, honest notes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.cli.test_cli import EXAMPLES, run_cli
from tests.conftest import speechlike
from voxemo.corpora.labels import canonical_emotion
from voxemo.inference.bundles import PRETRAINED_DIR

SEVEN = ["angry", "happy", "sad", "neutral", "fear", "disgust", "surprise"]
STEMS = sorted(p.stem for p in EXAMPLES.glob("*.flac"))
HAS_DEFAULT = (PRETRAINED_DIR / "default" / "config.json").is_file()


def prose(out: str) -> str:
    """Output with rich's line wrapping undone, for phrase checks."""
    return " ".join(out.split())


def table_rows(out: str) -> dict[str, list[str]]:
    """Cells of the rows of rich tables in ``out``, keyed by their first cell."""
    rows = {}
    for line in out.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            rows.setdefault(cells[0], cells)
    return rows


@pytest.fixture(scope="module")
def seven_class_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny CNN over the seven emotions; its records name RAVDESS actor 01 a training
    speaker and actor 02 a validation speaker."""
    from voxemo.models import ModelConfig, build_model
    from voxemo.training import TrainConfig, save_bundle

    torch.manual_seed(0)
    config = TrainConfig(model=ModelConfig(name="cnn", params={"channels": [8, 16], "hidden": 16}))
    model = build_model(config.model, len(SEVEN))
    model.fit_normalizer([speechlike(seconds=2.0, seed=seed) for seed in range(3)])
    folder = tmp_path_factory.mktemp("seven") / "bundle"
    meta = {"train_speakers": ["ravdess:01", "emodb:03"], "val_speakers": ["ravdess:02"]}
    save_bundle(folder, model.eval(), config, SEVEN, meta)
    heldout = {"ua": 0.4321, "wa": 0.5, "macro_f1": 0.4, "n": 10, "speakers": ["ravdess:24"]}
    (folder / "heldout.json").write_text(json.dumps(heldout))
    return folder


def test_demo_predicts_every_clip_with_a_given_model(capsys, seven_class_bundle: Path):
    code, out, _ = run_cli(capsys, "demo", str(EXAMPLES), "--model", str(seven_class_bundle), "--no-features")
    assert code == 0
    rows = table_rows(out)
    assert sorted(rows) == STEMS
    for stem in STEMS:
        _, predicted, confidence, top3, acted, speaker = rows[stem]
        assert predicted in SEVEN
        assert 1 / 7 <= float(confidence.rstrip("%")) / 100 <= 1.0
        assert top3.split()[0] == predicted  # the top score is the prediction
        expected = canonical_emotion(stem.split("_")[0])
        assert acted.startswith(expected)
        assert speaker == ("in training" if stem.endswith("actor01") else "in validation")
    assert "calm (no class)" in out
    assert "Examples were seen in training: speaker ravdess:01 was a training speaker" in prose(out)
    assert "Speaker ravdess:02 was a validation speaker" in prose(out)
    assert "43% UA" in prose(out) and "overstate real-life accuracy" in prose(out)
    assert "preprocessing + features" not in out


def test_demo_shows_features_after_predictions(capsys, seven_class_bundle: Path):
    code, out, _ = run_cli(
        capsys, "demo", str(EXAMPLES / "angry_actor01.flac"), "-m", str(seven_class_bundle)
    )
    assert code == 0
    assert out.index("emotion of 1 clip(s)") < out.index("1 clip(s), preprocessing + features")
    assert "MFCC+deltas" in out


def test_demo_without_a_bundled_model_falls_back_to_features(capsys, monkeypatch, tmp_path: Path):
    monkeypatch.setattr("voxemo.inference.bundles.PRETRAINED_DIR", tmp_path)
    code, out, _ = run_cli(capsys, "demo", str(EXAMPLES), "--no-features")
    assert code == 0
    assert "No bundled model is installed" in prose(out)
    assert "8 clip(s), preprocessing + features" in out  # shown even with --no-features: all there is
    rows = table_rows(out)
    assert set(STEMS) <= set(rows)
    assert float(rows["angry_actor01"][1]) > 3.0  # duration column: a real measurement


def test_demo_error_for_a_missing_model_is_one_line(capsys, tmp_path: Path):
    code, _, err = run_cli(capsys, "demo", str(EXAMPLES), "--model", str(tmp_path / "nope"))
    assert code == 2
    assert "not found" in err


@pytest.mark.skipif(not HAS_DEFAULT, reason=f"no bundled default model in {PRETRAINED_DIR / 'default'}")
def test_demo_with_the_bundled_default_model(capsys):
    code, out, err = run_cli(capsys, "demo", "--no-features")  # default clips: ./examples or the repo's
    assert code == 0
    rows = table_rows(out)
    assert set(STEMS) <= set(rows)
    assert all(rows[stem][1].split()[0] in SEVEN for stem in STEMS)
    # A default on Whisper frames without voxemo[whisper] installed: the fast model, and a warning.
    used = "fast" if "using the fast model" in err else "default"
    assert f"bundled '{used}'" in out
    # The note follows the bundle's own records of which RAVDESS actors trained it.
    trained = json.loads((PRETRAINED_DIR / used / "config.json").read_text())["metadata"]["train_speakers"]
    seen = {"ravdess:01", "ravdess:02"} & set(trained)
    assert ("Examples were seen in training" in prose(out)) == bool(seen)


def test_refit_models_count_their_validation_speakers_as_training_speakers() -> None:
    from types import SimpleNamespace

    from voxemo.cli.demo_cmds import speaker_roles

    meta = {"train_speakers": ["a:1"], "val_speakers": ["a:2"], "refit": {"train_speakers": ["a:1", "a:2"]}}
    recognizer = SimpleNamespace(info=SimpleNamespace(metadata=meta))
    roles = speaker_roles(recognizer, {"speakers": ["a:3"]})
    assert roles == {"a:1": "in training", "a:2": "in training", "a:3": "held out"}
    meta.pop("refit")
    assert speaker_roles(recognizer, {})["a:2"] == "in validation"
