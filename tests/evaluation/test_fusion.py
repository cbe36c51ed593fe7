"""Late fusion of finished cross-validation runs (voxemo.evaluation.fusion)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from voxemo.errors import VoxemoError
from voxemo.evaluation import report
from voxemo.evaluation.fusion import fuse_folds, fuse_runs

LABELS = ["angry", "sad"]
TRUTH = ["angry", "sad"] * 4
PATHS = [f"clip{i}.wav" for i in range(8)]


def _fold(probs_angry: list[float], *, order: list[int] | None = None, labels: list[str] = LABELS, **kw):
    """A fold over PATHS whose P(angry) per clip is given; ``order`` permutes the rows."""
    order = order or list(range(8))
    p = np.array(probs_angry)[order]
    probs = np.stack([p, 1 - p], axis=1) if labels == LABELS else np.stack([1 - p, p], axis=1)
    return report.FoldPredictions(
        "f1",
        list(labels),
        [PATHS[i] for i in order],
        ["s1"] * 8,
        [TRUTH[i] for i in order],
        ["angry" if v > 0.5 else "sad" for v in p],
        probs=probs,
        train_speakers=["s2"],
        seconds=10.0,
        **kw,
    )


# Model A is sure and right on the first half, unsure and wrong on the second; B the other way round.
A = [0.95, 0.05, 0.95, 0.05, 0.4, 0.6, 0.4, 0.6]
B = [0.4, 0.6, 0.4, 0.6, 0.95, 0.05, 0.95, 0.05]


def test_complementary_models_fuse_into_a_better_one() -> None:
    a, b = _fold(A), _fold(B)
    fused = fuse_folds([a, b])
    assert a.metrics()["ua"] == b.metrics()["ua"] == 0.5
    assert fused.metrics()["ua"] == 1.0
    np.testing.assert_allclose(fused.probs[:, 0], (np.array(A) + np.array(B)) / 2)
    assert fused.seconds == 20.0
    assert fused.extra["members_ua"] == [0.5, 0.5]


def test_rows_and_columns_are_aligned_by_path_and_label() -> None:
    shuffled = _fold(B, order=[7, 3, 5, 1, 0, 2, 6, 4], labels=["sad", "angry"])
    fused = fuse_folds([_fold(A), shuffled])
    assert fused.paths == PATHS
    np.testing.assert_allclose(fused.probs[:, 0], (np.array(A) + np.array(B)) / 2)


def test_members_are_tempered_with_their_own_temperature() -> None:
    sharp = _fold(A, temperature=0.5)
    fused = fuse_folds([sharp, _fold(B)])
    np.testing.assert_allclose(fused.probs, (sharp.calibrated_probs() + _fold(B).probs) / 2)


def test_mismatched_members_are_refused() -> None:
    other = _fold(A)
    other.paths = [f"other{i}.wav" for i in range(8)]
    with pytest.raises(VoxemoError, match="different files"):
        fuse_folds([_fold(A), other])
    with pytest.raises(VoxemoError, match="at least two"):
        fuse_folds([_fold(A)])
    no_probs = _fold(B)
    no_probs.probs = None
    with pytest.raises(VoxemoError, match="no probabilities"):
        fuse_folds([_fold(A), no_probs])


def _write_run(run: Path, fold: report.FoldPredictions) -> None:
    report.save_fold(fold, run / report.fold_dir_name(0), "fp")
    protocol = report.protocol_description(
        "emodb",
        "leave one speaker out, 1 folds",
        [SimpleNamespace(name="f1", test=np.arange(8))],
        pd.DataFrame({"speaker": ["s1"] * 8}),
        LABELS,
    )
    report.write_results(report.build_results([fold], protocol, {"name": run.name}), run / "results.json")


def test_fuse_runs_writes_a_run_like_any_other(tmp_path: Path) -> None:
    _write_run(tmp_path / "cnn", _fold(A))
    _write_run(tmp_path / "mlp", _fold(B))
    results = fuse_runs([tmp_path / "cnn", tmp_path / "mlp"], tmp_path / "fused")
    assert results["ua"] == 1.0
    assert results["model"]["members"] == ["cnn", "mlp"]
    assert results["protocol"]["name"] == "leave one speaker out, 1 folds"
    assert report.load_results(tmp_path / "fused" / "results.json")["ua"] == 1.0
    assert (tmp_path / "fused" / "confusion.png").is_file()


def test_unfinished_member_run_is_a_clear_error(tmp_path: Path) -> None:
    _write_run(tmp_path / "cnn", _fold(A))
    report.save_fold(_fold(B), tmp_path / "mlp" / report.fold_dir_name(0), "fp")  # no results.json yet
    with pytest.raises(VoxemoError, match="unfinished run"):
        fuse_runs([tmp_path / "cnn", tmp_path / "mlp"])
