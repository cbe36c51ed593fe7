"""The files an evaluation leaves behind: per-fold predictions and the pooled ``results.json``.

Layout of an evaluation folder::

    out_dir/
      fold_01/predictions.csv   path, speaker, true, predicted, prob_<label>...
      fold_01/fold.json         fold metadata (written last: its presence marks the fold finished)
      ...
      results.json              pooled metrics + per-fold metrics + protocol + model + run facts
      confusion.png, curves.png

Headline metrics are computed over the *pooled* predictions of all folds (every utterance is
tested exactly once), as the benchmark protocols ask; the per-fold mean and standard deviation
sit beside them because folds of very different sizes make the two differ.

Calibration: ``predictions.csv`` holds the model's raw probabilities (temperature 1), and
``fold.json`` the temperature each fold's model fitted on its *validation* speakers. ``ece`` is the
test ECE of the raw probabilities and ``ece_calibrated`` that of ``softmax(log p / T)`` with the
fold's own ``T`` (equal to dividing the logits by ``T``), per fold and pooled; ``temperature_mean``
averages the folds' temperatures. A fold without a temperature (the SVM baseline) gives ``null``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voxemo.errors import VoxemoError
from voxemo.evaluation.metrics import summarize
from voxemo.io import atomic_write_text

SCHEMA_VERSION = 1
NORMALISATION = "training speakers only"
MODEL_SELECTION = "validation speakers carved from training speakers"
POOLING = "UA/WA/macro-F1 over the pooled predictions of all folds; per-fold mean and std beside them"

#: keys every results.json has (``validate_results`` checks them)
RESULT_KEYS = (
    "schema_version",
    "ua",
    "wa",
    "macro_f1",
    "per_class_recall",
    "confusion",
    "n",
    "fold_mean",
    "fold_std",
    "folds",
    "protocol",
    "model",
    "config",
    "run_time_s",
    "voxemo_version",
    "date",
    "machine",
)
FOLD_KEYS = ("name", "ua", "wa", "macro_f1", "n_test", "test_speakers", "best_epoch")
PROTOCOL_KEYS = (
    "corpora",
    "name",
    "n_folds",
    "speakers_per_fold",
    "classes",
    "normalisation",
    "model_selection",
)
FOLD_FINISHED_MARKER = "fold.json"
PREDICTIONS_FILE = "predictions.csv"
PROB_PREFIX = "prob_"


@dataclasses.dataclass
class FoldPredictions:
    """Everything one fold produced: test predictions plus the facts needed to audit the fold."""

    name: str
    labels: list[str]
    paths: list[str]
    speakers: list[str]
    y_true: list[str]
    y_pred: list[str]
    probs: np.ndarray | None = None  # (N, len(labels)), columns in ``labels`` order
    best_epoch: int | None = None  # 1-based epoch kept by model selection (None for the SVM)
    train_speakers: list[str] = dataclasses.field(default_factory=list)
    val_speakers: list[str] = dataclasses.field(default_factory=list)
    history: dict[str, Any] | None = None  # per-epoch curves of a neural run
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # e.g. chosen SVM C/gamma
    seconds: float | None = None  # wall time to fit and test this fold (kept across resumes)
    temperature: float | None = None  # softmax temperature fitted on validation speakers, if any

    def __post_init__(self) -> None:
        n = len(self.y_true)
        if not (len(self.paths) == len(self.speakers) == len(self.y_pred) == n):
            raise VoxemoError(f"fold {self.name}: paths, speakers, y_true and y_pred must have equal lengths")
        if self.probs is not None:
            self.probs = np.asarray(self.probs, dtype=np.float64)
            if self.probs.shape != (n, len(self.labels)):
                raise VoxemoError(
                    f"fold {self.name}: probs shape {self.probs.shape} != ({n}, {len(self.labels)})"
                )

    @property
    def test_speakers(self) -> list[str]:
        return sorted({str(s) for s in self.speakers})

    def metrics(self) -> dict[str, Any]:
        return summarize(self.y_true, self.y_pred, self.labels, self.probs)

    def calibrated_probs(self) -> np.ndarray | None:
        """Test probabilities under the fold's temperature (None without probabilities or temperature)."""
        if self.probs is None or self.temperature is None:
            return None
        return temper_probabilities(self.probs, self.temperature)


def temper_probabilities(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(probs) / T)``: the same as ``softmax(logits / T)`` (log p = logits - const)."""
    if not temperature > 0:
        raise VoxemoError(f"temperature must be positive, got {temperature}; the fold's fold.json is corrupt")
    scaled = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-300, None)) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    tempered = np.exp(scaled)
    return tempered / tempered.sum(axis=1, keepdims=True)


def calibration_scores(folds: Sequence[FoldPredictions]) -> dict[str, Any]:
    """Pooled ``ece`` (temperature 1), ``ece_calibrated``, ``nll_calibrated`` and ``temperature_mean``."""
    if not folds or any(f.probs is None for f in folds):
        return {}
    labels = list(folds[0].labels)
    truth = [y for f in folds for y in f.y_true]
    pred = [y for f in folds for y in f.y_pred]
    raw = summarize(truth, pred, labels, np.concatenate([f.probs for f in folds]))
    out: dict[str, Any] = {"ece": raw["ece"], "ece_calibrated": None, "nll_calibrated": None}
    out["temperature_mean"] = None
    if all(f.temperature is not None for f in folds):
        tempered = summarize(truth, pred, labels, np.concatenate([f.calibrated_probs() for f in folds]))
        out["ece_calibrated"], out["nll_calibrated"] = tempered["ece"], tempered["nll"]
        out["temperature_mean"] = float(np.mean([f.temperature for f in folds]))
    return out


def fold_dir_name(index: int) -> str:
    """``fold_01``, ``fold_02``, ... (1-based, zero-padded so folders sort in order)."""
    return f"fold_{index + 1:02d}"


def run_fingerprint(config: Any, labels: Sequence[str], test_paths: Sequence[str]) -> str:
    """Identity of one fold's computation: settings, classes and test files.

    A finished fold is reused on resume only when its fingerprint matches, so changing a recipe
    or the protocol recomputes the folds instead of mixing old and new results.
    """
    payload = json.dumps(
        {"config": _jsonable(config), "labels": list(labels), "test": sorted(map(str, test_paths))},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def reusable_fold(directory: str | Path, fingerprint: str) -> FoldPredictions | None:
    """The finished fold in ``directory`` if it was computed with ``fingerprint``, else None."""
    if not fold_is_finished(directory):
        return None
    meta = json.loads((Path(directory) / FOLD_FINISHED_MARKER).read_text(encoding="utf-8"))
    return load_fold(directory) if meta.get("fingerprint") == fingerprint else None


def save_fold(fold: FoldPredictions, directory: str | Path, fingerprint: str | None = None) -> None:
    """Write ``predictions.csv`` then ``fold.json``; the JSON last, so it marks a complete fold."""
    directory = Path(directory)
    frame = pd.DataFrame(
        {"path": fold.paths, "speaker": fold.speakers, "true": fold.y_true, "predicted": fold.y_pred}
    )
    if fold.probs is not None:
        for j, label in enumerate(fold.labels):
            frame[f"{PROB_PREFIX}{label}"] = fold.probs[:, j]
    atomic_write_text(directory / PREDICTIONS_FILE, frame.to_csv(index=False))
    meta = {
        "name": fold.name,
        "fingerprint": fingerprint,
        "labels": list(fold.labels),
        "best_epoch": fold.best_epoch,
        "train_speakers": [str(s) for s in fold.train_speakers],
        "val_speakers": [str(s) for s in fold.val_speakers],
        "history": fold.history,
        "extra": fold.extra,
        "seconds": fold.seconds,
        "temperature": fold.temperature,
        "metrics": {k: v for k, v in fold.metrics().items() if k in ("ua", "wa", "macro_f1", "n")},
    }
    atomic_write_text(directory / FOLD_FINISHED_MARKER, json.dumps(_jsonable(meta), indent=2))


def fold_is_finished(directory: str | Path) -> bool:
    directory = Path(directory)
    return (directory / FOLD_FINISHED_MARKER).is_file() and (directory / PREDICTIONS_FILE).is_file()


def load_fold(directory: str | Path) -> FoldPredictions:
    """Read back a fold written by :func:`save_fold`."""
    directory = Path(directory)
    if not fold_is_finished(directory):
        raise VoxemoError(f"{directory} holds no finished fold; rerun the evaluation to compute it")
    meta = json.loads((directory / FOLD_FINISHED_MARKER).read_text(encoding="utf-8"))
    # keep_default_na=False: a speaker called "NA" or a label "nan" must stay a string
    frame = pd.read_csv(directory / PREDICTIONS_FILE, dtype=str, keep_default_na=False)
    labels = list(meta["labels"])
    prob_columns = [f"{PROB_PREFIX}{label}" for label in labels]
    probs = frame[prob_columns].astype(float).to_numpy() if all(c in frame for c in prob_columns) else None
    return FoldPredictions(
        name=meta["name"],
        labels=labels,
        paths=frame["path"].tolist(),
        speakers=frame["speaker"].tolist(),
        y_true=frame["true"].tolist(),
        y_pred=frame["predicted"].tolist(),
        probs=probs,
        best_epoch=meta.get("best_epoch"),
        train_speakers=meta.get("train_speakers", []),
        val_speakers=meta.get("val_speakers", []),
        history=meta.get("history"),
        extra=meta.get("extra", {}),
        seconds=meta.get("seconds"),
        temperature=meta.get("temperature"),
    )


def protocol_description(
    corpora: str | Sequence[str],
    name: str,
    folds: Sequence[Any],
    table: pd.DataFrame,
    classes: Sequence[str],
    **extra: Any,
) -> dict[str, Any]:
    """The ``protocol`` block: which corpora, which split, who was tested in each fold, and how.

    ``folds`` are :class:`voxemo.evaluation.splits.Fold` objects (anything with ``name`` and a
    ``test`` index array into ``table``).
    """
    from voxemo.evaluation.splits import speaker_ids

    corpus_list = [corpora] if isinstance(corpora, str) else list(corpora)
    speakers = speaker_ids(table)
    return {
        "corpora": corpus_list,
        "corpus": corpus_list[0] if len(corpus_list) == 1 else None,
        "name": name,
        "n_folds": len(folds),
        "speakers_per_fold": {
            str(fold.name): sorted(set(speakers[np.asarray(fold.test)].tolist())) for fold in folds
        },
        "classes": [str(c) for c in classes],
        "n_utterances": len(table),
        "speaker_independent": True,
        "normalisation": NORMALISATION,
        "model_selection": MODEL_SELECTION,
        "pooling": POOLING,
        **extra,
    }


def machine_description() -> dict[str, Any]:
    """Where the run happened (timings are meaningless without it)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return {
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(affinity(0)) if affinity else os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }


def build_results(
    folds: Sequence[FoldPredictions],
    protocol: dict[str, Any],
    model: dict[str, Any],
    config: dict[str, Any] | None = None,
    run_time_s: float | None = None,
) -> dict[str, Any]:
    """Pool the folds' predictions into the ``results.json`` dict.

    ``run_time_s`` defaults to the sum of the folds' own times, which stays right when an
    evaluation was resumed (folds computed in an earlier session keep their time).
    """
    from voxemo import __version__

    if not folds:
        raise VoxemoError("no finished folds to report; run at least one fold")
    labels = list(folds[0].labels)
    if any(list(f.labels) != labels for f in folds):
        raise VoxemoError("folds disagree on the label list; evaluate every fold with the same classes")
    have_probs = all(f.probs is not None for f in folds)
    pooled = summarize(
        [y for f in folds for y in f.y_true],
        [y for f in folds for y in f.y_pred],
        labels,
        np.concatenate([f.probs for f in folds]) if have_probs else None,
    )
    per_fold = []
    for fold in folds:
        scores = fold.metrics()
        calibration = calibration_scores([fold])
        per_fold.append(
            {
                "name": fold.name,
                "ua": scores["ua"],
                "wa": scores["wa"],
                "macro_f1": scores["macro_f1"],
                "n_test": scores["n"],
                "test_speakers": fold.test_speakers,
                "val_speakers": [str(s) for s in fold.val_speakers],
                "best_epoch": fold.best_epoch,
                "seconds": fold.seconds,
                **({"temperature": fold.temperature} if calibration else {}),
                **{k: v for k, v in calibration.items() if k in ("ece", "ece_calibrated")},
                **({"extra": fold.extra} if fold.extra else {}),
            }
        )
    metric_names = ("ua", "wa", "macro_f1")
    if run_time_s is None and all(f.seconds is not None for f in folds):
        run_time_s = float(sum(f.seconds for f in folds))
    results = {
        "schema_version": SCHEMA_VERSION,
        **pooled,
        **calibration_scores(folds),
        "fold_mean": {m: float(np.mean([f[m] for f in per_fold])) for m in metric_names},
        "fold_std": {m: float(np.std([f[m] for f in per_fold])) for m in metric_names},
        "folds": per_fold,
        "protocol": protocol,
        "model": model,
        "config": config,
        "run_time_s": None if run_time_s is None else float(run_time_s),
        "voxemo_version": __version__,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_description(),
    }
    return _jsonable(results)


def validate_results(results: dict[str, Any]) -> dict[str, Any]:
    """Check the schema of a results dict; raise with the missing keys named."""
    missing = [k for k in RESULT_KEYS if k not in results]
    missing += [f"protocol.{k}" for k in PROTOCOL_KEYS if k not in results.get("protocol", {})]
    for i, fold in enumerate(results.get("folds", [])):
        missing += [f"folds[{i}].{k}" for k in FOLD_KEYS if k not in fold]
    if missing:
        raise VoxemoError(
            f"results are missing {', '.join(missing)}; regenerate them with this voxemo version"
        )
    confusion = results["confusion"]
    size = len(confusion.get("labels", []))
    if len(confusion.get("matrix", [])) != size or any(len(row) != size for row in confusion["matrix"]):
        raise VoxemoError("results confusion matrix does not match its label list")
    return results


def write_results(results: dict[str, Any], path: str | Path) -> Path:
    """Validate and write ``results.json`` atomically."""
    validate_results(results)
    atomic_write_text(path, json.dumps(_jsonable(results), indent=2) + "\n")
    return Path(path)


def load_results(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise VoxemoError(f"no results file at {path}; run the evaluation first")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise VoxemoError(f"{path} is not valid JSON ({exc}); delete it and rerun the evaluation") from exc
    return validate_results(results)


def _jsonable(value: Any) -> Any:
    """numpy scalars/arrays -> python; NaN/inf -> None, so the JSON stays standard."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value
