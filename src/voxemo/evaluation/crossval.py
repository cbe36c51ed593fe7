"""Speaker-independent cross-validation of a neural recipe, resumable fold by fold.

For every fold of a protocol:

1. validation speakers are carved from the fold's *training* speakers (``validation_split``);
2. :func:`~voxemo.evaluation.leakage.check_fold` proves that no test speaker is in train or
   validation (the run stops otherwise);
3. the model is trained on the training speakers; its normaliser is fitted on their inputs only
   (``EmotionModel.fit_normalizer`` inside ``train``) and early stopping / model selection looks
   at the validation speakers only;
4. the softmax temperature is fitted inside ``train`` on the validation speakers too, so the
   test fold never influences calibration (with ``refit: true`` the kept model is then retrained
   on training + validation speakers for the selected epochs, keeping that temperature; the
   fold's ``extra.refit`` says so);
5. the test fold is predicted once and its predictions are stored in ``fold_XX/predictions.csv``
   (+ ``fold_XX/fold.json``, written last), so an interrupted evaluation resumes at the first
   unfinished fold.

The pooled predictions then give ``results.json``, ``confusion.png`` and ``curves.png``.
The three operations taken from :mod:`voxemo.training` live in a :class:`TrainingBackend` so
tests can swap in a tiny fake; :func:`default_backend` is the real one.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voxemo.errors import ConfigError, VoxemoError
from voxemo.evaluation.leakage import check_fold
from voxemo.evaluation.report import (
    FoldPredictions,
    build_results,
    fold_dir_name,
    fold_is_finished,
    protocol_description,
    reusable_fold,
    run_fingerprint,
    save_fold,
    write_results,
)
from voxemo.evaluation.splits import speaker_ids

PROTOCOLS = ("standard", "loso", "speaker-folds")


@dataclasses.dataclass
class TrainingBackend:
    """What cross-validation needs from the training package.

    - ``build_inputs(table, rows, config, labels)`` -> a dataset of those table rows;
    - ``train(config, train_set, val_set, out_dir, resume)`` -> a training result;
    - ``predict_proba(result, dataset)`` -> (N, len(labels)) probabilities in ``labels`` order;
    - ``facts(result)`` -> ``{"best_epoch": int | None, "history": dict | None}`` and optionally
      ``"temperature"`` (the softmax temperature the result fitted on its validation speakers),
      ``"privacy"`` and ``"refit"`` (the facts of a model retrained on training + validation
      speakers after selection; ``best_epoch`` is then the selected epoch count).

    ``predict_proba`` returns the model's *raw* probabilities (temperature 1); the report applies
    each fold's temperature itself, so it can state the ECE before and after calibration.
    """

    build_inputs: Callable[[pd.DataFrame, np.ndarray, Any, list[str]], Any]
    train: Callable[[Any, Any, Any, Path, bool], Any]
    predict_proba: Callable[[Any, Any], np.ndarray]
    facts: Callable[[Any], dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class EvalFold:
    """A fold with its validation speakers resolved (same fields as ``splits.Fold``)."""

    name: str
    train: np.ndarray
    test: np.ndarray
    val: np.ndarray


def default_backend() -> TrainingBackend:
    """The real :mod:`voxemo.training` functions (imported lazily: torch is heavy)."""
    from voxemo.training import predict_proba, train
    from voxemo.training.data import build_dataset

    def build_inputs(table: pd.DataFrame, rows: np.ndarray, config: Any, labels: list[str]) -> Any:
        return build_dataset(table.iloc[rows].reset_index(drop=True), config, labels=labels)

    def run_training(config: Any, train_set: Any, val_set: Any, out_dir: Path, resume: bool) -> Any:
        return train(config, train_set, val_set, out_dir, resume=resume)

    def predict(result: Any, dataset: Any) -> np.ndarray:
        # Evaluate exactly as validation did: whole clips up to eval_max_seconds, padded to min_seconds.
        inputs = result.config.inputs
        probs = predict_proba(
            result.model,
            dataset.inputs,
            result.config.batch_size,
            max_samples=int(inputs.eval_max_seconds * inputs.sample_rate),
            min_samples=int(inputs.min_seconds * inputs.sample_rate),
        )
        return reorder_columns(np.asarray(probs, dtype=np.float64), list(result.labels), dataset.classes)

    def facts(result: Any) -> dict[str, Any]:
        history = getattr(result, "history", None)
        if dataclasses.is_dataclass(history) and not isinstance(history, type):
            history = dataclasses.asdict(history)
        return {
            "best_epoch": getattr(result, "best_epoch", None),
            "history": history,
            "temperature": getattr(result, "temperature", None),
            "privacy": getattr(result, "privacy", None),
            "refit": getattr(result, "refit", None),
        }

    return TrainingBackend(build_inputs, run_training, predict, facts)


def reorder_columns(probs: np.ndarray, model_labels: list[str], wanted: Sequence[str] | None) -> np.ndarray:
    """Probability columns in the evaluation's label order (a recipe may fix its own order)."""
    if wanted is None or list(wanted) == model_labels:
        return probs
    missing = [label for label in wanted if label not in model_labels]
    if missing:
        raise ConfigError(
            f"the model has no output for class(es) {', '.join(missing)} (its labels: {model_labels}); "
            "remove 'labels' from the recipe or restrict the corpus to those classes"
        )
    return probs[:, [model_labels.index(label) for label in wanted]]


def resolve_validation(table: pd.DataFrame, fold: Any, seed: int = 0, val_speakers: float = 0.2) -> EvalFold:
    """The fold with validation speakers: its own ``val`` if given, else carved from its training speakers.

    ``val_speakers`` is a speaker count (>= 1) or a fraction of the training speakers (< 1);
    ``seed`` should differ per fold (``config.seed + fold number``, as ``splits.add_validation`` does).
    """
    val = getattr(fold, "val", None)
    train = np.asarray(fold.train, dtype=np.int64)
    if val is None or len(val) == 0:
        from voxemo.evaluation.splits import validation_split

        if val_speakers >= 1:
            train, val = validation_split(table, train, n_speakers=int(val_speakers), seed=seed)
        else:
            train, val = validation_split(table, train, fraction=float(val_speakers), seed=seed)
    return EvalFold(
        name=str(fold.name),
        train=np.asarray(train, dtype=np.int64),
        test=np.asarray(fold.test, dtype=np.int64),
        val=np.asarray(val, dtype=np.int64),
    )


def class_list(table: pd.DataFrame, labels: Sequence[str] | None = None) -> list[str]:
    """The classes of an evaluation, sorted, unless given."""
    return [str(c) for c in (labels if labels is not None else sorted(table["emotion"].astype(str).unique()))]


def _config_dict(config: Any) -> dict[str, Any] | None:
    if config is None:
        return None
    if hasattr(config, "to_dict"):
        return config.to_dict()
    return dict(config) if isinstance(config, dict) else {"repr": repr(config)}


def _settings_that_differ(config: Any) -> dict[str, Any] | None:
    """The config minus every setting at its default: what identifies a fold's computation.

    A setting added to the config class later (with a default that keeps the old behaviour) then
    leaves the fingerprints of finished folds unchanged, so they are not recomputed for nothing.
    """
    settings = _config_dict(config)
    try:
        defaults = type(config)().to_dict()
    except Exception:  # not a default-constructible Config: keep every setting
        return settings
    return _prune(settings, defaults)


def _prune(values: Any, defaults: Any) -> Any:
    if not isinstance(values, dict) or not isinstance(defaults, dict):
        return values
    return {
        key: _prune(value, defaults[key]) if isinstance(value, dict) and key in defaults else value
        for key, value in values.items()
        if key not in defaults or value != defaults[key]
    }


def run_fold(
    table: pd.DataFrame,
    fold: EvalFold,
    config: Any,
    labels: list[str],
    fold_dir: Path,
    backend: TrainingBackend,
    resume: bool,
) -> FoldPredictions:
    """Train on one fold's training speakers, select on its validation speakers, predict its test speakers."""
    check_fold(table, fold)
    started = time.perf_counter()
    train_set = backend.build_inputs(table, fold.train, config, labels)
    val_set = backend.build_inputs(table, fold.val, config, labels)
    result = backend.train(config, train_set, val_set, fold_dir / "model", resume)
    test_set = backend.build_inputs(table, fold.test, config, labels)
    probs = np.asarray(backend.predict_proba(result, test_set), dtype=np.float64)
    if probs.shape != (len(fold.test), len(labels)):
        raise VoxemoError(
            f"fold {fold.name}: the model returned probabilities of shape {probs.shape}, "
            f"expected ({len(fold.test)}, {len(labels)}); the model's labels must match the table's classes"
        )
    facts = backend.facts(result)
    speakers = speaker_ids(table)  # corpus/speaker when corpora are mixed
    return FoldPredictions(
        name=fold.name,
        labels=labels,
        paths=table["path"].astype(str).to_numpy()[fold.test].tolist(),
        speakers=speakers[fold.test].tolist(),
        y_true=table["emotion"].astype(str).to_numpy()[fold.test].tolist(),
        y_pred=[labels[i] for i in probs.argmax(axis=1)],
        probs=probs,
        best_epoch=facts.get("best_epoch"),
        train_speakers=sorted(set(speakers[fold.train].tolist())),
        val_speakers=sorted(set(speakers[fold.val].tolist())),
        history=facts.get("history"),
        seconds=time.perf_counter() - started,
        temperature=facts.get("temperature"),
        extra=_fold_extra(facts),
    )


def _fold_extra(facts: dict[str, Any]) -> dict[str, Any]:
    """Training facts kept with a fold (in fold.json, so resume keeps them) when a run has them.

    DP runs: spent epsilon, delta, noise multiplier. Refit runs: the selected epoch count and the
    size of the training + validation set the kept model was retrained on.
    """
    return {key: facts[key] for key in ("privacy", "refit") if facts.get(key)}


def cross_validate(
    table: pd.DataFrame,
    folds: Sequence[Any],
    config: Any,
    out_dir: str | Path,
    *,
    resume: bool = True,
    progress: bool = True,
    labels: Sequence[str] | None = None,
    protocol_name: str = "custom",
    model_name: str | None = None,
    backend: TrainingBackend | None = None,
) -> dict[str, Any]:
    """Run every fold (skipping finished ones when ``resume``), pool, and write the results folder.

    Returns the ``results.json`` dict (see :mod:`voxemo.evaluation.report`).
    """
    backend = backend or default_backend()
    out = Path(out_dir)
    classes = class_list(table, labels)
    seed = int(getattr(config, "seed", 0) or 0)
    val_speakers = float(getattr(getattr(config, "data", None), "val_speakers", 0.2))
    config_dict = _config_dict(config)
    identity = _settings_that_differ(config)
    paths = table["path"].astype(str).to_numpy()
    outcomes: list[FoldPredictions] = []
    for k, fold in enumerate(folds):
        fold_dir = out / fold_dir_name(k)
        fingerprint = run_fingerprint(identity, classes, paths[np.asarray(fold.test, dtype=np.int64)])
        earlier = reusable_fold(fold_dir, fingerprint) if resume else None
        if earlier is not None:
            outcome = earlier
            if progress:
                print(f"  {outcome.name}: finished earlier, skipped", flush=True)
        else:
            # A fold finished with other settings is stale: retrain it from scratch.
            stale = fold_is_finished(fold_dir)
            outcome = run_fold(
                table,
                resolve_validation(table, fold, seed + k, val_speakers),
                config,
                classes,
                fold_dir,
                backend,
                resume and not stale,
            )
            save_fold(outcome, fold_dir, fingerprint)
        outcomes.append(outcome)
        if progress:
            scores = outcome.metrics()
            print(f"  {outcome.name}: UA {scores['ua']:.3f} WA {scores['wa']:.3f}", flush=True)
    corpora = sorted(table["corpus"].astype(str).unique()) if "corpus" in table else ["unknown"]
    protocol = protocol_description(corpora, protocol_name, folds, table, classes)
    model = {"name": model_name or _model_name(config_dict)}
    results = build_results(outcomes, protocol, model, config_dict)
    add_privacy(results, outcomes)
    write_outputs(results, outcomes, out)
    return results


def add_privacy(results: dict[str, Any], outcomes: Sequence[FoldPredictions]) -> None:
    """Differentially private folds: each fold's spent ``epsilon`` and a summary ``privacy`` block."""
    reports = [o.extra.get("privacy") for o in outcomes]
    if not any(reports):
        return
    from voxemo.training.privacy import summarize  # only now: it imports torch

    summary = summarize(reports)
    for fold, fold_report in zip(results["folds"], reports, strict=True):
        fold["epsilon"] = fold_report.get("epsilon") if fold_report else None
    results["privacy"] = summary


def _model_name(config: dict[str, Any] | None) -> str:
    model = (config or {}).get("model")
    return str(model.get("name")) if isinstance(model, dict) and model.get("name") else "model"


def write_outputs(results: dict[str, Any], outcomes: Sequence[FoldPredictions], out_dir: Path) -> None:
    """``results.json``, ``confusion.png`` and (when folds have histories) ``curves.png``."""
    from voxemo.evaluation.plots import plot_confusion, plot_training_curves

    write_results(results, out_dir / "results.json")
    title = (
        f"{results['model']['name']} on {', '.join(results['protocol']['corpora'])} (UA {results['ua']:.1%})"
    )
    plot_confusion(
        results["confusion"]["matrix"], results["confusion"]["labels"], out_dir / "confusion.png", title=title
    )
    histories = {o.name: {**o.history, "best_epoch": o.best_epoch} for o in outcomes if o.history}
    if histories:
        plot_training_curves(
            histories, out_dir / "curves.png", title=f"{results['model']['name']}: training curves"
        )


def make_folds(
    table: pd.DataFrame, corpus: str, protocol: str = "standard", k: int | None = None
) -> list[Any]:
    """Folds of a protocol: ``standard`` (the corpus's benchmark protocol), ``loso``, ``speaker-folds``."""
    from voxemo.evaluation import splits

    if protocol == "standard":
        return list(splits.protocol_folds(corpus, table))
    if protocol == "loso":
        return list(splits.leave_one_speaker_out(table))
    if protocol == "speaker-folds":
        if not k or k < 2:
            raise ConfigError("--protocol speaker-folds needs --folds K with K >= 2")
        return list(splits.speaker_group_folds(table, k=k, seed=0))
    raise ConfigError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")


def protocol_label(corpus: str, protocol: str, folds: Sequence[Any]) -> str:
    """Readable protocol name for reports, e.g. ``loso (10 folds)``."""
    return (
        f"{protocol} ({len(folds)} folds)"
        if protocol != "standard"
        else f"{corpus} standard ({len(folds)} folds)"
    )


def evaluate_command(
    corpus: str,
    root: str | Path,
    out: str | Path,
    *,
    protocol: str = "standard",
    folds: int | None = None,
    config: str | Path | None = None,
    baseline: bool = False,
    resume: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """What ``voxemo evaluate`` runs: load the corpus, split it, evaluate a recipe (or the SVM baseline).

    ``config`` is a training recipe (YAML/JSON ``TrainConfig``); with ``baseline=True`` the
    eGeMAPS + SVM baseline runs instead and ``config`` may be a ``BaselineConfig`` file or omitted.
    """
    from voxemo.corpora import load_corpus

    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    if config is None and not baseline:
        raise ConfigError(
            "give a training recipe with --config FILE (see recipes/), or --baseline for the SVM"
        )
    table = load_corpus(corpus, root)
    split = make_folds(table, corpus, protocol, folds)
    name = protocol_label(corpus, protocol, split)
    if baseline:
        from voxemo.evaluation.baseline import BaselineConfig, compute_features, run_baseline

        settings = BaselineConfig.load(config) if config is not None else BaselineConfig()
        features = compute_features(table, settings.features, progress=progress)
        return run_baseline(
            table,
            features,
            split,
            config=settings,
            out_dir=out,
            protocol_name=name,
            resume=resume,
            progress=progress,
        )
    from voxemo.training import TrainConfig

    return cross_validate(
        table, split, TrainConfig.load(config), out, resume=resume, progress=progress, protocol_name=name
    )
