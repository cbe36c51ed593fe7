"""When the bundled default cannot run here, ``load_model()`` and the commands use the fast model.

The default may be a head on Whisper encoder frames (``accurate``, chosen by the cross-corpus
benchmark) that needs ``voxemo[whisper]``. These tests point ``PRETRAINED_DIR`` at a folder of tiny
bundles and simulate the missing extra by monkeypatching the Whisper backbone's package checks;
nothing is installed or loaded from the real ``pretrained/``.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.conftest import SR, speechlike
from tests.inference.bundles import CLASSES, shared_trained_bundle
from voxemo.cli import main
from voxemo.errors import FeatureError
from voxemo.inference import DefaultModelFallback, load_model
from voxemo.inference import bundles as bundle_lookup

HEAD_LABELS = ["calm", "tense"]
MISSING_WARNING = "the default model needs pip install 'voxemo[whisper]'; using the fast model"


def frames_bundle(folder: Path, frame_features: str, feature_params: dict, input_dim: int) -> Path:
    """An untrained pooled head on ``frame_features`` frames (a stand-in for `accurate`)."""
    from voxemo.models import ModelConfig, build_model
    from voxemo.training import TrainConfig, save_bundle
    from voxemo.training.config import InputConfig

    torch.manual_seed(0)
    config = TrainConfig(
        model=ModelConfig(name="pooled-mlp", params={"input_dim": input_dim, "hidden": [8]}),
        inputs=InputConfig(frame_features=frame_features, feature_params=feature_params),
    )
    model = build_model(config.model, len(HEAD_LABELS))
    return save_bundle(folder, model.eval(), config, HEAD_LABELS)


@pytest.fixture(scope="module")
def whisper_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("whisper-head") / "bundle"
    return frames_bundle(folder, "whisper-encoder", {"expected_sha256": "ab" * 32}, 384)


@pytest.fixture(scope="module")
def mfcc_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A frames model whose extractor needs no extra (mfcc): a frames default that loads."""
    folder = tmp_path_factory.mktemp("mfcc-head") / "bundle"
    return frames_bundle(folder, "mfcc", {"n_mfcc": 13, "delta_order": 0}, 13)


@pytest.fixture(scope="module")
def fast_cnn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_trained_bundle(tmp_path_factory)


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``install(default=DIR, accurate=DIR, fast=DIR)``: a pretrained/ folder of those bundles."""

    def _install(**bundles: Path) -> Path:
        folder = tmp_path / "pretrained"
        for name, source in bundles.items():
            shutil.copytree(source, folder / name)
        monkeypatch.setattr(bundle_lookup, "PRETRAINED_DIR", folder)
        return folder

    return _install


@pytest.fixture
def no_whisper_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """As without ``voxemo[whisper]``: no ctranslate2 and no bundled Whisper weights."""
    import voxemo.backbones.whisper_ct2 as ct2

    def missing():
        raise FeatureError(f"{ct2.MISSING_EXTRA} (the ctranslate2 package is not installed)")

    monkeypatch.setattr(ct2, "require_ctranslate2", missing)
    monkeypatch.setattr(ct2, "bundled_model_dir", lambda: None)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "voice.wav"
    sf.write(path, speechlike(seconds=1.5, seed=3), SR)
    return path


def fallback_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, DefaultModelFallback)]


def stderr_warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning:")]


# ---------------------------------------------------------------------------- the Python API


def test_default_needing_a_missing_extra_falls_back_to_fast_with_one_warning(
    install, whisper_head, fast_cnn, no_whisper_extra
):
    folder = install(default=whisper_head, fast=fast_cnn)
    with pytest.warns(DefaultModelFallback) as record:
        recognizer = load_model()
    assert fallback_warnings(record) == [MISSING_WARNING]
    assert Path(recognizer.info.source) == folder / "fast" and recognizer.labels == list(CLASSES)
    # The warning points at the caller, not at voxemo's internals.
    assert Path(record[0].filename) == Path(__file__)


@pytest.mark.parametrize("name", ["accurate", "default"])
def test_a_model_named_explicitly_never_falls_back(install, whisper_head, fast_cnn, no_whisper_extra, name):
    install(default=whisper_head, accurate=whisper_head, fast=fast_cnn)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with pytest.raises(FeatureError, match=r"pip install 'voxemo\[whisper\]'"):
            load_model(name)
    assert fallback_warnings(record) == []


def test_other_failures_of_the_default_are_not_hidden(install, whisper_head, fast_cnn, monkeypatch):
    """Only "install this extra" falls back; a broken backbone is an error to see."""
    import voxemo.backbones.whisper_ct2 as ct2

    def broken(model_dir):
        raise FeatureError("Whisper model directory /nowhere does not exist")

    monkeypatch.setattr(ct2, "resolve_ct2_model_dir", broken)
    install(default=whisper_head, fast=fast_cnn)
    with pytest.raises(FeatureError, match="/nowhere does not exist"):
        load_model()


def test_without_a_fast_model_the_install_hint_stands(install, whisper_head, no_whisper_extra):
    install(default=whisper_head)
    with pytest.raises(FeatureError, match=r"pip install 'voxemo\[whisper\]'"):
        load_model()


def test_a_frames_default_whose_extractor_is_available_is_used(install, mfcc_head, fast_cnn):
    install(default=mfcc_head, fast=fast_cnn)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        recognizer = load_model()
    assert fallback_warnings(record) == []
    assert recognizer.labels == HEAD_LABELS and recognizer.info.input_kind == "frames"


def test_onnx_backend_with_a_frames_default_uses_the_fast_model(install, mfcc_head, fast_cnn):
    install(default=mfcc_head, fast=fast_cnn)
    with pytest.warns(DefaultModelFallback, match="has no ONNX form; using the fast model"):
        recognizer = load_model(backend="onnx")
    assert type(recognizer.backend).__name__ == "OnnxBackend" and recognizer.labels == list(CLASSES)
    torch_scores = load_model("fast").probabilities(speechlike(seed=5))
    assert np.allclose(recognizer.probabilities(speechlike(seed=5)), torch_scores, atol=1e-4)


# ---------------------------------------------------------------------------- the commands


def test_predict_without_model_prints_one_warning_line_and_scores_with_fast(
    capsys, install, whisper_head, fast_cnn, no_whisper_extra, clip
):
    install(default=whisper_head, fast=fast_cnn)
    code = main(["predict", str(clip), "--json", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert stderr_warnings(captured.err) == [f"warning: {MISSING_WARNING}"]
    assert "Traceback" not in captured.err and "DefaultModelFallback" not in captured.err
    record = json.loads(captured.out.strip())
    assert set(record["scores"]) == set(CLASSES)


def test_predict_model_accurate_without_the_extra_fails_clearly(
    capsys, install, whisper_head, fast_cnn, no_whisper_extra, clip
):
    install(default=whisper_head, accurate=whisper_head, fast=fast_cnn)
    code = main(["predict", str(clip), "--model", "accurate", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 2
    assert "error:" in captured.err and "pip install 'voxemo[whisper]'" in captured.err
    assert "using the fast model" not in captured.err and captured.out == ""


def test_demo_without_model_names_the_fast_model_it_used(
    capsys, install, whisper_head, fast_cnn, no_whisper_extra, clip
):
    install(default=whisper_head, fast=fast_cnn)
    code = main(["demo", str(clip), "--no-features"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert stderr_warnings(captured.err) == [f"warning: {MISSING_WARNING}"]
    assert "bundled 'fast'" in captured.out


def test_serve_without_model_warns_before_serving_the_fast_model(
    capsys, install, whisper_head, fast_cnn, no_whisper_extra, monkeypatch
):
    import uvicorn

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append(app))
    install(default=whisper_head, fast=fast_cnn)
    assert main(["serve", "--port", "8765"]) == 0
    err = capsys.readouterr().err
    assert stderr_warnings(err) == [f"warning: {MISSING_WARNING}"]
    assert served and served[0].state.recognizer.labels == list(CLASSES)


def test_export_onnx_without_model_exports_the_fast_model_when_the_default_is_frames(
    capsys, install, mfcc_head, fast_cnn, tmp_path
):
    install(default=mfcc_head, fast=fast_cnn)
    out = tmp_path / "model.onnx"
    code = main(["export-onnx", "--out", str(out), "--no-verify"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "note:" in captured.err and "exporting the fast model" in " ".join(captured.err.split())
    assert load_model(out).labels == list(CLASSES)
