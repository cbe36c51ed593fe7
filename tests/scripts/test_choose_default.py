"""scripts/choose_default_model.py: the leave-one-corpus-out benchmark picks the bundled default."""

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
SCRIPT = REPO / "scripts" / "choose_default_model.py"
CORPORA = ("emodb", "ravdess", "casia", "emovo")
SHARED = ["angry", "fear", "happy", "neutral", "sad"]
#: Leave-one-corpus-out UA per held-out corpus; accurate wins on the mean (0.50 vs 0.45).
FAST_UA = {"emodb": 0.52, "ravdess": 0.40, "casia": 0.38, "emovo": 0.50}
ACCURATE_UA = {"emodb": 0.61, "ravdess": 0.47, "casia": 0.36, "emovo": 0.56}


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("choose_default_model", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run_row(model: str, corpus: str, ua: float) -> dict:
    return {
        "model": model,
        "description": f"{model} recipe",
        "test_corpus": corpus,
        "classes": SHARED,
        "ua": ua,
    }


def write_results(path: Path, rows: dict[str, dict[str, float]]) -> Path:
    runs = [run_row("baseline", c, 0.9) for c in CORPORA]  # other rows never take part
    runs += [run_row(model, corpus, ua) for model, scores in rows.items() for corpus, ua in scores.items()]
    path.write_text(json.dumps({"generated": "2026-11-25T07:28:07+00:00", "runs": runs}))
    return path


def heldout(labels: list[str], ua: float) -> dict:
    return {
        "n": 100,
        "ua": ua,
        "wa": 0.45,
        "macro_f1": 0.41,
        "per_class_recall": dict.fromkeys(labels, 0.4),
        "per_corpus": {"ravdess": 0.4},
        "speakers": ["ravdess:24"],
    }


def save(folder: Path, model, config, labels: list[str], ua: float) -> Path:
    from voxemo.training import save_bundle

    save_bundle(folder, model.eval(), config.replace(labels=labels), labels, {"n_train": 10})
    (folder / "heldout.json").write_text(json.dumps(heldout(labels, ua)))
    return folder


def fast_bundle(folder: Path) -> Path:
    """An untrained tiny CNN shaped like recipes/fast.yaml's bundle."""
    from voxemo.models import build_model
    from voxemo.training.cli_train import load_train_config

    torch.manual_seed(0)
    config = load_train_config(REPO / "recipes" / "fast.yaml")
    config = config.replace(model=config.model.replace(params={"channels": [4, 8], "hidden": 8}))
    labels = list(config.data.emotions)
    model = build_model(config.model, len(labels))
    model.fit_normalizer([speechlike(seed=0)])
    return save(folder, model, config, labels, 0.5111)


def accurate_bundle(folder: Path) -> Path:
    """A tiny attention head on Whisper-encoder frames, shaped like recipes/accurate.yaml's bundle."""
    from voxemo.models import ModelConfig, build_model
    from voxemo.training.cli_train import load_train_config

    torch.manual_seed(0)
    config = load_train_config(REPO / "recipes" / "accurate.yaml")
    params = {"input_dim": 16, "hidden": [8], "projection": 8, "attention_heads": 2, "attention_hidden": 8}
    inputs = config.inputs.replace(feature_params={"expected_sha256": "ab" * 32})
    config = config.replace(model=ModelConfig(name="attention-pool", params=params), inputs=inputs)
    labels = list(config.data.emotions)
    return save(folder, build_model(config.model, len(labels)), config, labels, 0.6222)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bundles")
    return {"fast": fast_bundle(root / "fast"), "accurate": accurate_bundle(root / "accurate")}


@pytest.fixture
def pretrained(tmp_path: Path, bundles: dict[str, Path]) -> Path:
    """A pretrained/ folder with fast, accurate and an old default (a copy of fast)."""
    import shutil

    folder = tmp_path / "pretrained"
    for name, source in [*bundles.items(), ("default", bundles["fast"])]:
        shutil.copytree(source, folder / name)
    return folder


def test_the_better_mean_becomes_the_default_with_card_and_record(script, tmp_path, pretrained, capsys):
    results = write_results(tmp_path / "cross_corpus.json", {"fast": FAST_UA, "accurate": ACCURATE_UA})
    assert script.main(["--results", str(results), "--pretrained", str(pretrained)]) == 0
    default, accurate = pretrained / "default", pretrained / "accurate"
    for name in ("model.safetensors", "config.json", "heldout.json"):
        assert (default / name).read_bytes() == (accurate / name).read_bytes()

    chosen = json.loads((default / "chosen.json").read_text())
    assert chosen["chosen"] == "accurate" and chosen["source"] == str(results)
    assert chosen["accurate"]["mean_ua"] == pytest.approx(0.50)
    assert chosen["fast"]["mean_ua"] == pytest.approx(0.45)
    assert chosen["fast"]["per_corpus_ua"] == FAST_UA

    card = (default / "MODEL_CARD.md").read_text()
    why = card[card.index("## Why this is the default") : card.index("## Reproduce")]
    assert "| `fast` | 52.0 % | 40.0 % | 38.0 % | 50.0 % | 45.0 % |" in why
    assert "| `accurate` **(default)** | 61.0 % | 47.0 % | 36.0 % | 56.0 % | **50.0 %** |" in why
    assert "mean UA of 50.0 % against 45.0 % for `fast`" in why
    assert "angry, fear, happy, neutral, sad" in why
    assert "pip install 'voxemo[whisper]'" in why  # a frames default names the extra and the fallback
    assert "python scripts/choose_default_model.py" in why
    # The card stays the installer's: the default's role, the winner's own held-out score and recipe.
    assert card.startswith("# voxemo default model") and "UA 62.2 %" in card
    reproduce = card[card.index("## Reproduce") :]
    assert "voxemo train --config recipes/accurate.yaml" in reproduce
    assert "install_default_model.py runs/accurate --name accurate" in reproduce
    assert reproduce.index("--name accurate") < reproduce.index("choose_default_model.py")
    assert "accurate" in capsys.readouterr().out.split("<- default")[0].splitlines()[-1]


def test_a_tie_goes_to_the_fast_model_and_its_card_needs_no_extra(script, tmp_path, pretrained):
    results = write_results(tmp_path / "r.json", {"fast": FAST_UA, "accurate": dict(FAST_UA)})
    assert script.main(["--results", str(results), "--pretrained", str(pretrained)]) == 0
    assert json.loads((pretrained / "default" / "chosen.json").read_text())["chosen"] == "fast"
    card = (pretrained / "default" / "MODEL_CARD.md").read_text()
    assert "both reach the same mean UA (45.0 %), and `fast` is cheaper to run" in card
    assert "voxemo[whisper]" not in card and "UA 51.1 %" in card


def test_dry_run_prints_the_decision_and_changes_nothing(script, tmp_path, pretrained, capsys):
    results = write_results(tmp_path / "r.json", {"fast": FAST_UA, "accurate": ACCURATE_UA})
    before = {p.name: p.read_bytes() for p in (pretrained / "default").iterdir()}
    assert script.main(["--results", str(results), "--pretrained", str(pretrained), "--dry-run"]) == 0
    assert {p.name: p.read_bytes() for p in (pretrained / "default").iterdir()} == before
    out = capsys.readouterr().out
    assert "accurate" in out and "50.0 %" in out and "45.0 %" in out and "dry run" in out


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ({"fast": FAST_UA}, r"no row for `accurate`"),
        (
            {"fast": FAST_UA, "accurate": {c: v for c, v in ACCURATE_UA.items() if c != "casia"}},
            r"no finished run with casia held out.*--models accurate",
        ),
        ({"fast": FAST_UA, "accurate": {**ACCURATE_UA, "emovo": None}}, r"emovo held out"),
    ],
    ids=["missing-row", "missing-corpus", "no-score"],
)
def test_missing_or_incomplete_rows_are_refused(script, tmp_path, pretrained, capsys, rows, expected):
    results = write_results(tmp_path / "r.json", rows)
    before = (pretrained / "default" / "config.json").read_bytes()
    assert script.main(["--results", str(results), "--pretrained", str(pretrained)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:")
    import re

    assert re.search(expected, err), err
    assert (pretrained / "default" / "config.json").read_bytes() == before
    assert not (pretrained / "default" / "chosen.json").exists()


def test_a_winner_without_an_installed_bundle_is_refused(script, tmp_path, pretrained, capsys):
    import shutil

    shutil.rmtree(pretrained / "accurate")
    results = write_results(tmp_path / "r.json", {"fast": FAST_UA, "accurate": ACCURATE_UA})
    assert script.main(["--results", str(results), "--pretrained", str(pretrained)]) == 2
    assert "install_default_model.py runs/accurate --name accurate" in capsys.readouterr().err
    assert not (pretrained / "default" / "chosen.json").exists()


def test_missing_results_file_says_how_to_make_it(script, tmp_path, pretrained, capsys):
    assert script.main(["--results", str(tmp_path / "none.json"), "--pretrained", str(pretrained)]) == 2
    assert "python benchmarks/cross_corpus.py --models fast accurate" in capsys.readouterr().err
