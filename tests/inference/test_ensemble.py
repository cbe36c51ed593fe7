"""Ensembles of bundles (voxemo.inference.ensemble, `voxemo ensemble`): the mean of calibrated
probabilities, label alignment, and clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.inference.bundles import CLASSES, clip, train_bundle, untrained_bundle
from voxemo.cli import main
from voxemo.errors import ModelError
from voxemo.inference import load_model
from voxemo.inference.ensemble import write_ensemble
from voxemo.models import ModelConfig, build_model
from voxemo.training import TrainConfig, save_bundle


def _reversed_labels_bundle(directory: Path) -> Path:
    """An untrained CNN whose label list runs the other way round."""
    torch.manual_seed(1)
    config = TrainConfig(model=ModelConfig(name="cnn", params={"channels": [8, 16], "hidden": 16}))
    model = build_model(config.model, len(CLASSES))
    model.fit_normalizer([clip("low")])
    return save_bundle(directory, model.eval(), config, list(reversed(CLASSES)), temperature=2.0)


def test_ensemble_is_the_weighted_mean_of_aligned_calibrated_members(trained_bundle: Path, tmp_path: Path):
    other = _reversed_labels_bundle(tmp_path / "reversed")
    fused = load_model(write_ensemble([trained_bundle, other], tmp_path / "fused", weights=[3, 1]))
    waves = [clip("low"), clip("high", seed=3)]
    first = load_model(trained_bundle).probabilities_batch(waves)
    second = load_model(other).probabilities_batch(waves)[:, ::-1]  # into CLASSES order
    assert fused.labels == list(CLASSES)
    np.testing.assert_allclose(fused.probabilities_batch(waves), 0.75 * first + 0.25 * second, atol=1e-6)


def test_ensemble_of_trained_models_recognises_the_task_end_to_end(
    capsys, trained_bundle: Path, tmp_path: Path
):
    second = train_bundle(tmp_path / "second", steps=50)
    out = tmp_path / "fused"
    assert main(["ensemble", str(trained_bundle), str(second), "--out", str(out)]) == 0
    assert "wrote ensemble" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "members").iterdir()) == ["01-trained-cnn-bundle", "02-second"]
    assert "Ensemble of 2 voxemo models" in (out / "MODEL_CARD.md").read_text()
    recognizer = load_model(out)
    for label in CLASSES:
        assert recognizer.predict(clip(label), 16_000).emotion == label
    wav = tmp_path / "high.wav"
    sf.write(wav, clip("high"), 16_000)
    assert main(["predict", str(wav), "--model", str(out), "--json", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["emotion"] == "high"


def test_members_with_other_emotions_are_refused_before_writing(trained_bundle: Path, tmp_path: Path):
    other = untrained_bundle(tmp_path / "mlp", "mlp", input_dim=130, feature="mfcc-stats")
    config = json.loads((other / "config.json").read_text())
    config["labels"] = ["a", "b", "c"]
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="share their emotions"):
        write_ensemble([trained_bundle, other], tmp_path / "fused")
    assert not (tmp_path / "fused").exists()
    with pytest.raises(ModelError, match="at least two"):
        write_ensemble([trained_bundle], tmp_path / "fused")
    with pytest.raises(ModelError, match="one positive weight per member"):
        write_ensemble([trained_bundle, trained_bundle], tmp_path / "fused", weights=[1.0, 0.0])


def test_a_non_empty_target_and_broken_descriptions_are_clear_errors(trained_bundle: Path, tmp_path: Path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(ModelError, match="not empty"):
        write_ensemble([trained_bundle, trained_bundle], busy)
    assert (busy / "keep.txt").read_text() == "mine"
    fused = write_ensemble([trained_bundle, trained_bundle], tmp_path / "fused")
    spec = json.loads((fused / "ensemble.json").read_text())
    (fused / "ensemble.json").write_text(json.dumps({**spec, "members": ["../busy", spec["members"][1]]}))
    with pytest.raises(ModelError, match="missing from members"):
        load_model(fused)
    (fused / "ensemble.json").write_text("[1, 2")
    with pytest.raises(ModelError, match="cannot be read"):
        load_model(fused)
    (fused / "ensemble.json").write_text("[1, 2]")
    with pytest.raises(ModelError, match="not a voxemo ensemble"):
        load_model(fused)


def test_explain_export_and_onnx_say_to_use_the_members(trained_bundle: Path, tmp_path: Path):
    fused = write_ensemble([trained_bundle, trained_bundle], tmp_path / "fused")
    with pytest.raises(ModelError, match="explain one of its members"):
        load_model(fused).explain(clip("low"), sample_rate=16_000)
    from voxemo.export import export_onnx

    with pytest.raises(ModelError, match="export each member"):
        export_onnx(fused, tmp_path / "fused.onnx", verify=False)
    with pytest.raises(ModelError, match="backend='torch'"):
        load_model(fused, backend="onnx")
