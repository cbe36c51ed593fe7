"""The bundled default model (``src/voxemo/pretrained/default``) and the script that installs it.

The bundled-model tests skip when no model is installed (a fresh checkout before
``python scripts/install_default_model.py runs/default``); the script tests build their own bundle.
The default may be the CNN of recipes/default.yaml or, once ``scripts/choose_default_model.py`` ran,
a copy of ``fast`` or ``accurate`` (a head on Whisper frames; without ``voxemo[whisper]``
``load_model()`` then gives the fast model), so only generic behaviour is checked on the default;
what only a spectrogram CNN can do (ONNX) is checked on the bundled ``fast`` model.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import speechlike
from voxemo.inference.bundles import PRETRAINED_DIR

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.flac"))
DEFAULT_DIR = PRETRAINED_DIR / "default"
FAST_DIR = PRETRAINED_DIR / "fast"
SEVEN = {"angry", "happy", "sad", "neutral", "fear", "disgust", "surprise"}
MAX_WEIGHTS_BYTES = 10 * 1024 * 1024

needs_default = pytest.mark.skipif(
    not (DEFAULT_DIR / "config.json").is_file(),
    reason=f"no bundled default model in {DEFAULT_DIR}: train it (voxemo train --config "
    "recipes/default.yaml) and install it (python scripts/install_default_model.py runs/default)",
)
needs_fast = pytest.mark.skipif(
    not (FAST_DIR / "config.json").is_file(),
    reason=f"no bundled fast model in {FAST_DIR}: "
    "python scripts/install_default_model.py runs/fast --name fast",
)


def default_recipe() -> str:
    """The recipe the default was trained with: recipes/<chosen>.yaml once the benchmark chose it."""
    chosen = DEFAULT_DIR / "chosen.json"
    name = json.loads(chosen.read_text())["chosen"] if chosen.is_file() else "default"
    return f"recipes/{name}.yaml"


def load_script():
    spec = importlib.util.spec_from_file_location(
        "install_default_model", REPO / "scripts/install_default_model.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a socket fails the test: the bundled model must work offline."""

    def refuse(*args, **kwargs):
        raise AssertionError("voxemo tried to use the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def default_recognizer():
    from voxemo import load_model

    return load_model()


# ---------------------------------------------------------------------------- the bundled model


@needs_default
def test_default_loads_offline_with_the_seven_emotions(no_network):
    from voxemo import load_model

    recognizer = load_model()
    assert set(recognizer.labels) == SEVEN and len(recognizer.labels) == 7
    prediction = recognizer.predict(EXAMPLES[0])
    assert prediction.emotion in SEVEN


@needs_default
def test_predictions_on_the_examples_are_distributions(default_recognizer):
    results = default_recognizer.predict_batch(EXAMPLES)
    assert len(results) == len(EXAMPLES) == 8
    for path, prediction in zip(EXAMPLES, results, strict=True):
        scores = np.array([prediction.scores[label] for label in default_recognizer.labels])
        assert np.all(scores >= 0) and abs(scores.sum() - 1.0) < 1e-6
        assert prediction.emotion == max(prediction.scores, key=prediction.scores.get)
        assert prediction.confidence == pytest.approx(scores.max())
        assert prediction.path == str(path)
    # A trained model does not give the same answer to eight differently acted clips.
    assert len({p.emotion for p in results}) >= 2


@needs_default
def test_card_quotes_the_heldout_scores_of_the_bundle():
    from voxemo.inference.bundles import read_model_card

    heldout = json.loads((DEFAULT_DIR / "heldout.json").read_text())
    card = read_model_card(DEFAULT_DIR)
    assert card == (DEFAULT_DIR / "MODEL_CARD.md").read_text()
    assert f"UA {100 * heldout['ua']:.1f} %" in card
    for speaker in heldout["speakers"]:
        assert speaker in card
    assert "non-commercial" in card.lower()
    assert f"voxemo train --config {default_recipe()}" in card


@pytest.mark.skipif(not (DEFAULT_DIR / "chosen.json").is_file(), reason="the default was not chosen yet")
def test_chosen_default_is_a_copy_of_the_winner_and_its_card_says_why():
    chosen = json.loads((DEFAULT_DIR / "chosen.json").read_text())
    winner = chosen["chosen"]
    assert winner in ("fast", "accurate")
    loser = "accurate" if winner == "fast" else "fast"
    assert chosen[winner]["mean_ua"] >= chosen[loser]["mean_ua"]
    for name in ("model.safetensors", "config.json", "heldout.json"):
        assert (DEFAULT_DIR / name).read_bytes() == (PRETRAINED_DIR / winner / name).read_bytes()
    card = (DEFAULT_DIR / "MODEL_CARD.md").read_text()
    why = card[card.index("## Why this is the default") :]
    for name in ("fast", "accurate"):
        assert f"{100 * chosen[name]['mean_ua']:.1f} %" in why
    assert "python scripts/choose_default_model.py" in why


@needs_default
def test_heldout_speakers_never_trained_the_model():
    config = json.loads((DEFAULT_DIR / "config.json").read_text())
    heldout = set(json.loads((DEFAULT_DIR / "heldout.json").read_text())["speakers"])
    meta = config["metadata"]
    assert heldout and not heldout & set(meta["train_speakers"]) and not heldout & set(meta["val_speakers"])
    assert heldout == set(config["train_config"]["data"]["test_speakers"])


@needs_default
def test_weights_are_small():
    size = (DEFAULT_DIR / "model.safetensors").stat().st_size
    assert 0 < size < MAX_WEIGHTS_BYTES


@needs_fast
def test_onnx_agrees_with_torch_on_the_examples():
    """On the bundled fast CNN: a default on Whisper frames has no ONNX form."""
    from voxemo import load_model

    torch_model = load_model("fast")
    onnx = load_model("fast", backend="onnx")  # exported once into this session's cache
    waves = [torch_model.load(path) for path in EXAMPLES]
    expected = torch_model.scores(waves)
    got = onnx.scores(waves)
    assert np.max(np.abs(expected - got)) < 1e-4


# ---------------------------------------------------------------------------- the install script


def make_run(folder: Path, *, heldout: bool = True) -> Path:
    """A run folder shaped like runs/default: an untrained tiny CNN over the seven emotions."""
    from voxemo.models import build_model
    from voxemo.training import save_bundle
    from voxemo.training.cli_train import load_train_config

    torch.manual_seed(0)
    config = load_train_config(REPO / "recipes" / "default.yaml")
    config = config.replace(model=config.model.replace(params={"channels": [8, 16], "hidden": 16}))
    labels = list(config.data.emotions)
    model = build_model(config.model, len(labels))
    model.fit_normalizer([speechlike(seed=seed) for seed in range(2)])
    train = ["ravdess:01", "ravdess:02", "emodb:09", "casia:wangzhe", "emovo:f1"]
    meta = {"n_train": 1234, "n_val": 210, "train_speakers": train, "val_speakers": ["ravdess:05"]}
    save_bundle(folder, model.eval(), config.replace(labels=labels), labels, meta)
    if heldout:
        result = {
            "n": 321,
            "ua": 0.48765,
            "wa": 0.5,
            "macro_f1": 0.47,
            "per_class_recall": dict.fromkeys(labels, 0.5),
            "per_corpus": {"emodb": 0.61, "ravdess": 0.44},
            "speakers": ["emodb:03", "ravdess:24"],
        }
        (folder / "heldout.json").write_text(json.dumps(result))
    return folder


def test_install_copies_the_bundle_and_generates_the_card(tmp_path: Path):
    script = load_script()
    run = make_run(tmp_path / "run")
    dest = tmp_path / "pretrained" / "default"
    assert script.main([str(run), "--dest", str(dest)]) == 0
    for name in ("model.safetensors", "config.json", "heldout.json"):
        assert (dest / name).read_bytes() == (run / name).read_bytes()
        assert (dest / name).stat().st_mode & 0o044 == 0o044  # readable once installed from a wheel
    card = (dest / "MODEL_CARD.md").read_text()
    assert "UA 48.8 %" in card and "emodb:03" in card and "ravdess:24" in card
    assert "CC BY-NC-SA 4.0" in card and "non-commercial research use only" in card
    assert "English" in card and "German" in card and "Mandarin" in card and "Italian" in card
    assert "1234 training clips from 5 speakers" in card
    assert "| emodb | 03 | 61.0 % |" in card
    assert "2.0 s" in card  # the EmoDB copy is cut to 2 s, from docs/corpora.md
    assert "calm" in card and "boredom" in card  # emotions it cannot output
    assert "python scripts/install_default_model.py runs/default" in card
    # The run shrank the recipe's model: the card says so instead of claiming the recipe reproduces it.
    assert "`model.params.channels`" in card and "`epochs`" not in card

    from voxemo import load_model

    assert load_model(dest).model_card() == card


def test_install_refuses_an_unfinished_run(tmp_path: Path, capsys):
    script = load_script()
    run = make_run(tmp_path / "run", heldout=False)
    assert script.main([str(run), "--dest", str(tmp_path / "dest")]) == 2
    assert "heldout.json" in capsys.readouterr().err
    assert not (tmp_path / "dest").exists()


def test_install_refuses_weights_too_big_for_the_package(tmp_path: Path, capsys):
    script = load_script()
    run = make_run(tmp_path / "run")
    assert script.main([str(run), "--dest", str(tmp_path / "dest"), "--max-mb", "0.001"]) == 2
    assert "MB" in capsys.readouterr().err
