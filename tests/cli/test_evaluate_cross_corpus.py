"""``voxemo evaluate``: within-corpus CV as before, leave-one-corpus-out, privacy options, clear errors."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pandas as pd
import pytest

from tests.evaluation.test_cross_corpus import band_features, write_corpora
from voxemo.cli import main
from voxemo.evaluation import baseline, cross_corpus, crossval
from voxemo.evaluation.report import load_results

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "cnn.yaml"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())


@pytest.fixture
def synthetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, pd.DataFrame]:
    """Corpus loading returns the synthetic corpora (named after real ones); cheap features."""
    tables = write_corpora(tmp_path / "audio")
    named = {"emodb": tables["alpha"], "casia": tables["beta"], "emovo": tables["gamma"]}
    loaded: list[dict] = []

    def fake_load(names, roots):
        loaded.append(dict(roots))
        return {n: named[n] for n in names}

    monkeypatch.setattr(cross_corpus, "load_corpora", fake_load)
    monkeypatch.setattr(baseline, "compute_features", band_features)
    named["loaded"] = loaded  # type: ignore[assignment]
    return named


def test_cross_corpus_baseline_from_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, synthetic: dict
) -> None:
    out = tmp_path / "x"
    code, stdout, err = run_cli(
        capsys, "evaluate", "--train-corpora", "emodb,casia", "--test-corpus", "emovo",
        "--root", "emodb=/data/berlin", "--root", "/data", "--baseline", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert synthetic["loaded"] == [{"emodb": "/data/berlin", "casia": "/data/casia", "emovo": "/data/emovo"}]
    results = load_results(out / "results.json")
    assert results["protocol"]["train_corpora"] == ["emodb", "casia"]
    assert results["protocol"]["classes"] == ["angry", "sad"]
    assert "train emodb+casia, test emovo" in stdout and '"ua"' in stdout


def test_within_corpus_evaluation_is_unchanged(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple] = []

    def fake_evaluate(corpus, root, out, **kwargs):
        calls.append((corpus, str(root), kwargs))
        return {"ua": 0.5, "wa": 0.5, "macro_f1": 0.5, "protocol": {"name": "loso (2 folds)"}}

    monkeypatch.setattr(crossval, "evaluate_command", fake_evaluate)
    code, stdout, err = run_cli(
        capsys, "evaluate", "--corpus", "emodb", "--root", "/d/emodb", "--baseline", "--protocol", "loso",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    (corpus, root, kwargs) = calls[0]
    assert (corpus, root, kwargs["protocol"], kwargs["baseline"]) == ("emodb", "/d/emodb", "loso", True)
    assert "loso (2 folds)" in stdout


def test_privacy_options_wrap_the_recipe(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, synthetic: dict
) -> None:
    wrapped: list[tuple] = []
    module = types.ModuleType("voxemo.training.privacy")

    def with_privacy(config, epsilon, delta=1e-5):
        wrapped.append((epsilon, delta))
        return config.replace(seed=77)

    module.with_privacy = with_privacy
    monkeypatch.setitem(sys.modules, "voxemo.training.privacy", module)
    seen: list = []
    monkeypatch.setattr(
        cross_corpus,
        "evaluate_cross_corpus",
        lambda *a, **k: (
            seen.append(k["config"]) or {"ua": 1, "wa": 1, "macro_f1": 1, "protocol": {"name": "p"}}
        ),
    )
    code, _, err = run_cli(
        capsys, "evaluate", "--train-corpora", "emodb,casia", "--test-corpus", "emovo", "--root", "/data",
        "--config", str(RECIPE), "--override", "epochs=3", "--dp-epsilon", "8", "--dp-delta", "1e-6",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    assert wrapped == [(8.0, 1e-6)] and seen[0].seed == 77 and seen[0].epochs == 3


CROSS = ["--train-corpora", "emodb", "--test-corpus"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--train-corpora", "emodb,emovo", "--test-corpus", "emovo", "--root", "/d"], "both a training"),
        ([*CROSS, "klingon", "--root", "/d"], "unknown corpus klingon"),
        ([*CROSS, "emovo", "--root", "emodb=/d"], "no folder given for corpus emovo"),
        ([*CROSS, "emovo"], "no folder given for corpus emodb"),
        (["--corpus", "emodb", "--train-corpora", "casia", "--root", "/d"], "not both"),
        (["--root", "/d"], "say what to evaluate"),
        (["--corpus", "emodb", "--root", "/d", "--dp-epsilon", "1"], "neural recipes only"),
    ],
)
def test_clear_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list, message: str) -> None:
    code, _, err = run_cli(capsys, "evaluate", *args, "--baseline", "--out", str(tmp_path / "o"))
    assert code == 2 and message in err, err


def test_no_common_classes_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, synthetic: dict
) -> None:
    synthetic["emovo"] = synthetic["emovo"].assign(emotion="neutral")
    code, _, err = run_cli(
        capsys, "evaluate", "--train-corpora", "emodb", "--test-corpus", "emovo", "--root", "/d",
        "--baseline", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 2 and "share 0 emotion class" in err
