"""The classical baseline: utterance features (eGeMAPS) + an RBF support vector machine.

For every outer fold a ``Pipeline(StandardScaler, SVC)`` is fitted on the fold's training
speakers only; C and gamma are chosen by an *inner* speaker-grouped cross-validation over those
same training speakers (GroupKFold, or leave-one-speaker-out when there are few speakers), scored
by UA. The test fold never takes part in scaling or in the choice of hyper-parameters.
Results go through the same report code as the neural models, so the tables compare like with like.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import BaseCrossValidator, GridSearchCV, GroupKFold, LeaveOneGroupOut
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from voxemo.config import Config
from voxemo.errors import ConfigError, VoxemoError
from voxemo.evaluation.leakage import check_fold
from voxemo.evaluation.report import (
    FoldPredictions,
    build_results,
    fold_dir_name,
    protocol_description,
    reusable_fold,
    run_fingerprint,
    save_fold,
    write_results,
)
from voxemo.evaluation.splits import speaker_ids


@dataclasses.dataclass
class BaselineConfig(Config):
    """Settings of the feature + SVM baseline (the grid is searched per outer fold)."""

    features: str = "egemaps"
    kernel: str = "rbf"
    # On standardised eGeMAPS (88 dims) sklearn's "scale" gamma is about 0.011. The inner CV of the
    # benchmark corpora picks gamma 1e-4..1e-2; gamma 1e-4 with a large C is already close to a
    # linear SVM, so going lower would add nothing new.
    C: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0, 1000.0)
    gamma: tuple[float, ...] = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03)
    #: inner GroupKFold splits over training speakers; leave-one-speaker-out when there are fewer
    inner_folds: int = 5
    class_weight: str | None = "balanced"
    n_jobs: int = 1

    def __post_init__(self) -> None:
        if not self.C or not self.gamma:
            raise ConfigError("BaselineConfig: C and gamma need at least one value each")
        if self.inner_folds < 2:
            raise ConfigError(f"BaselineConfig: inner_folds must be >= 2, got {self.inner_folds}")


def compute_features(
    table: pd.DataFrame,
    name: str = "egemaps",
    *,
    cache_dir: str | Path | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Utterance feature matrix (len(table), D) in table order, via the voxemo.features cache."""
    from voxemo.features import extract_many, get_extractor

    extractor = get_extractor(name)
    if extractor.level != "utterance":
        raise ConfigError(
            f"the baseline needs utterance-level features; {name!r} is frame level "
            f"(use '{name}-stats' or 'egemaps')"
        )
    vectors = extract_many(
        table["path"].tolist(), extractor, cache_dir=cache_dir, n_jobs=n_jobs, progress=progress
    )
    return np.stack([np.asarray(v, dtype=np.float64) for v in vectors])


def inner_splitter(n_speakers: int, n_splits: int) -> BaseCrossValidator:
    """Speaker-grouped splitter for the hyper-parameter search inside one outer fold."""
    if n_speakers < 2:
        raise VoxemoError(
            f"the inner cross-validation needs at least 2 training speakers, got {n_speakers}; "
            "use a corpus or protocol with more speakers"
        )
    return LeaveOneGroupOut() if n_speakers <= n_splits else GroupKFold(n_splits=n_splits)


def make_search(config: BaselineConfig, cv: BaseCrossValidator) -> GridSearchCV:
    """Grid search over C and gamma of a scaler + SVC pipeline, scored by UA (balanced accuracy)."""
    # The scaler sits inside the pipeline so every inner split also scales on its own training part.
    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            ("svm", SVC(kernel=config.kernel, class_weight=config.class_weight)),
        ]
    )
    grid: dict[str, list[float]] = {"svm__C": list(config.C)}
    if config.kernel != "linear":  # a linear kernel has no gamma: searching it would only repeat fits
        grid["svm__gamma"] = list(config.gamma)
    return GridSearchCV(pipeline, grid, scoring="balanced_accuracy", cv=cv, refit=True, n_jobs=config.n_jobs)


def fit_fold(
    features: np.ndarray, labels: np.ndarray, speakers: np.ndarray, config: BaselineConfig
) -> GridSearchCV:
    """Fit the search on one fold's training rows (features, labels and speakers of training only)."""
    n_speakers = len(np.unique(speakers))
    search = make_search(config, inner_splitter(n_speakers, config.inner_folds))
    search.fit(features, labels, groups=speakers)
    return search


def run_baseline(
    table: pd.DataFrame,
    features: np.ndarray,
    folds: Sequence[Any],
    *,
    config: BaselineConfig | None = None,
    labels: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    protocol_name: str = "custom",
    resume: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate the SVM baseline on ``folds`` and return the results dict (also written to ``out_dir``).

    ``features`` is (len(table), D), row i belonging to table row i. A fold's ``val`` rows (if any)
    are training speakers too and join the training data, since the inner CV does the selection.
    """
    config = config or BaselineConfig()
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] != len(table):
        raise VoxemoError(f"features must be (len(table)={len(table)}, D); got shape {features.shape}")
    classes = [
        str(c) for c in (labels if labels is not None else sorted(table["emotion"].astype(str).unique()))
    ]
    emotions = table["emotion"].astype(str).to_numpy()
    speakers = speaker_ids(table)  # corpus/speaker when corpora are mixed
    paths = table["path"].astype(str).to_numpy()
    out = Path(out_dir) if out_dir is not None else None
    outcomes: list[FoldPredictions] = []
    for k, fold in enumerate(folds):
        fold_dir = out / fold_dir_name(k) if out is not None else None
        fingerprint = run_fingerprint(config.to_dict(), classes, paths[_rows(fold.test)])
        earlier = reusable_fold(fold_dir, fingerprint) if resume and fold_dir is not None else None
        if earlier is not None:
            outcomes.append(earlier)
            continue
        check_fold(table, fold)
        fold_started = time.perf_counter()
        train = np.concatenate([_rows(fold.train), _rows(getattr(fold, "val", None))])
        test = _rows(fold.test)
        search = fit_fold(features[train], emotions[train], speakers[train], config)
        outcome = FoldPredictions(
            name=str(fold.name),
            labels=classes,
            paths=paths[test].tolist(),
            speakers=speakers[test].tolist(),
            y_true=emotions[test].tolist(),
            y_pred=[str(p) for p in search.predict(features[test])],
            train_speakers=sorted(set(speakers[train].tolist())),
            extra={
                "C": search.best_params_["svm__C"],
                "gamma": search.best_params_.get("svm__gamma"),
                "inner_cv_ua": float(search.best_score_),
            },
        )
        outcome.seconds = time.perf_counter() - fold_started
        if fold_dir is not None:
            save_fold(outcome, fold_dir, fingerprint)
        outcomes.append(outcome)
        if progress:
            scores = outcome.metrics()
            print(
                f"  {outcome.name}: UA {scores['ua']:.3f} WA {scores['wa']:.3f} ({outcome.extra})", flush=True
            )
    corpora = sorted(table["corpus"].astype(str).unique()) if "corpus" in table else ["unknown"]
    protocol = protocol_description(
        corpora,
        protocol_name,
        folds,
        table,
        classes,
        model_selection=f"inner speaker-grouped CV over training speakers ({config.inner_folds} folds max)",
    )
    model = {
        "name": "baseline",
        "description": (
            f"{config.features} + StandardScaler + SVC({config.kernel}), class_weight={config.class_weight}"
        ),
        "feature_dim": int(features.shape[1]),
    }
    results = build_results(outcomes, protocol, model, config.to_dict())
    if out is not None:
        write_outputs(results, out)
    return results


def _rows(indices: Any) -> np.ndarray:
    return np.asarray(indices if indices is not None else [], dtype=np.int64)


def write_outputs(results: dict[str, Any], out_dir: Path) -> None:
    """``results.json`` and ``confusion.png`` in ``out_dir``."""
    from voxemo.evaluation.plots import plot_confusion

    write_results(results, out_dir / "results.json")
    title = (
        f"{results['model']['name']} on {', '.join(results['protocol']['corpora'])} (UA {results['ua']:.1%})"
    )
    plot_confusion(
        results["confusion"]["matrix"], results["confusion"]["labels"], out_dir / "confusion.png", title=title
    )
