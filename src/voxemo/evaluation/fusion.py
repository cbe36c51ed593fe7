"""Late fusion of finished cross-validation runs: average the members' probabilities fold by fold.

Two models that look at speech differently (a CNN on the log-mel spectrogram, an MLP on utterance
functionals) make different mistakes, so the mean of their class probabilities is often better than
either. Fusion here needs nothing new from the test speakers: every member was trained, normalised
and stopped on the fold's training speakers, each member's probabilities are first put through its
own softmax temperature (fitted on that fold's validation speakers), and the members weigh the same
(no weight is tuned). A fused run is written like any other (``results.json``, ``confusion.png``),
so the benchmark table shows it beside its members.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from voxemo.errors import VoxemoError
from voxemo.evaluation.report import (
    FoldPredictions,
    build_results,
    fold_dir_name,
    fold_is_finished,
    load_fold,
    load_results,
)


def _aligned_probs(fold: FoldPredictions, paths: list[str], labels: list[str]) -> np.ndarray:
    """The fold's (calibrated when it can be) probabilities, rows in ``paths`` order."""
    probs = fold.calibrated_probs()
    probs = fold.probs if probs is None else probs
    if probs is None:
        raise VoxemoError(f"fold {fold.name} has no probabilities to fuse (a classical SVM run?)")
    if sorted(fold.labels) != sorted(labels):
        raise VoxemoError(f"fold {fold.name}: members predict different classes ({fold.labels} vs {labels})")
    row = {path: i for i, path in enumerate(fold.paths)}
    if set(row) != set(paths):
        raise VoxemoError(f"fold {fold.name}: members tested different files; fuse runs of the same protocol")
    columns = [fold.labels.index(label) for label in labels]
    return probs[[row[p] for p in paths]][:, columns]


def fuse_folds(members: Sequence[FoldPredictions]) -> FoldPredictions:
    """One fold from the same fold of several runs: the mean of their probabilities."""
    if len(members) < 2:
        raise VoxemoError("fusion needs at least two runs")
    first = members[0]
    labels, paths = list(first.labels), list(first.paths)
    probs = np.mean([_aligned_probs(member, paths, labels) for member in members], axis=0)
    seconds = [m.seconds for m in members]
    return FoldPredictions(
        name=first.name,
        labels=labels,
        paths=paths,
        speakers=list(first.speakers),
        y_true=list(first.y_true),
        y_pred=[labels[i] for i in probs.argmax(axis=1)],
        probs=probs,
        train_speakers=sorted({str(s) for m in members for s in m.train_speakers}),
        val_speakers=sorted({str(s) for m in members for s in m.val_speakers}),
        extra={"members_ua": [m.metrics()["ua"] for m in members]},
        seconds=None if None in seconds else float(sum(seconds)),
    )


def _run_folds(run_dir: Path) -> list[FoldPredictions]:
    folds = []
    while fold_is_finished(run_dir / fold_dir_name(len(folds))):
        folds.append(load_fold(run_dir / fold_dir_name(len(folds))))
    return folds


def fuse_runs(run_dirs: Sequence[str | Path], out_dir: str | Path | None = None) -> dict[str, Any]:
    """Fuse finished runs of one protocol (same folds, same test files) into a results dict.

    Each run directory holds ``results.json`` and ``fold_XX/`` as written by cross-validation;
    every run must be complete. With ``out_dir`` the fused run is written there too.
    """
    from voxemo.evaluation.crossval import write_outputs

    dirs = [Path(d) for d in run_dirs]
    incomplete = [str(d) for d in dirs if not (d / "results.json").is_file()]
    if incomplete:
        raise VoxemoError(f"unfinished run(s) {', '.join(incomplete)}: finish their cross-validation first")
    runs = [_run_folds(d) for d in dirs]
    if len({len(folds) for folds in runs}) != 1:
        raise VoxemoError(f"the runs have different numbers of folds: {[len(f) for f in runs]}")
    fused = [fuse_folds(list(members)) for members in zip(*runs, strict=True)]
    member_results = [load_results(d / "results.json") for d in dirs]
    names = [d.name for d in dirs]
    model = {
        "name": "fusion",
        "description": f"mean of the calibrated probabilities of {' + '.join(names)}, equal weights",
        "members": names,
        "members_ua": [r["ua"] for r in member_results],
    }
    results = build_results(fused, member_results[0]["protocol"], model, {"fusion": names})
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_outputs(results, fused, out)
    return results
