"""Leave-one-corpus-out evaluation: train on the union of some corpora, test on a corpus never seen.

The protocol, for training corpora ``A, B, C`` and test corpus ``D``:

1. **classes**: by default the canonical emotions that *every* involved corpus has (for EmoDB,
   RAVDESS, CASIA and EMOVO: angry, fear, happy, neutral, sad); an explicit list overrides it.
   Rows of other classes are dropped from every corpus. ``results.json`` says which and why.
2. **validation speakers** (early stopping, calibration) are carved from each *training* corpus
   separately (``data.val_speakers`` of the recipe: a fraction or a count per corpus), so every
   training corpus contributes voices to model selection; the test corpus never does.
3. **normalisation** (``normalisation=``, for utterance feature vectors):

   - ``global``: the model's own normaliser, fitted on the training rows only (the default);
   - ``corpus``: every corpus is standardised with the mean and standard deviation of *its own*
     feature vectors, the test corpus included. This is unsupervised test-domain adaptation: it
     reads the unlabelled test audio (never its labels) and assumes the whole test set is
     available when scoring, as a batch of recordings from one new environment would be;
   - ``speaker``: the same per speaker (needs to know which clips share a speaker, not what they are).

   Spectrogram models normalise each recording themselves with ``model.frontend.utterance_norm:
   mean`` (a recipe setting, no test statistics needed).
4. the model is trained on the training rows (neural recipe through :mod:`voxemo.training`, or the
   eGeMAPS + SVM baseline whose C/gamma are picked by an inner leave-one-*training-corpus*-out CV)
   and predicts the test corpus once.

Each run folder holds ``results.json`` (the :mod:`voxemo.evaluation.report` schema plus
``protocol.train``/``protocol.test`` facts), ``confusion.png``, ``predictions.csv``/``fold.json``
and, for neural recipes, the trained bundle in ``model/``. A finished run with the same settings
is reused (``resume=True``) instead of recomputed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voxemo.errors import ConfigError, CorpusError, VoxemoError
from voxemo.evaluation.crossval import EvalFold, TrainingBackend
from voxemo.evaluation.leakage import LeakageError, check_fold
from voxemo.evaluation.report import (
    FoldPredictions,
    build_results,
    fold_is_finished,
    reusable_fold,
    run_fingerprint,
    save_fold,
    write_results,
)
from voxemo.evaluation.splits import speaker_ids, validation_split
from voxemo.registry import Registry

#: The corpora every leave-one-corpus-out table uses (each held out in turn).
SHARED_CORPORA = ("emodb", "ravdess", "casia", "emovo")
MODEL_DIR = "model"

# ---------------------------------------------------------------- feature normalisation

#: name -> function(table) giving the group of every row whose statistics standardise it (None: none)
NORMALISATIONS: Registry[Callable[[pd.DataFrame], np.ndarray | None]] = Registry("normalisation")
NORMALISATION_TEXT = {
    "global": "model normaliser fitted on the training corpora only",
    "corpus": "each corpus standardised with its own feature statistics; the test corpus with those of "
    "its unlabelled test audio (unsupervised test-domain adaptation, no test labels)",
    "speaker": "each speaker standardised with the statistics of their own clips (test speakers: "
    "their unlabelled test audio only, no test labels)",
}


@NORMALISATIONS.register("global")
def _no_groups(table: pd.DataFrame) -> np.ndarray | None:
    return None


@NORMALISATIONS.register("corpus")
def _corpus_groups(table: pd.DataFrame) -> np.ndarray:
    return table["corpus"].astype(str).to_numpy()


@NORMALISATIONS.register("speaker")
def _speaker_groups(table: pd.DataFrame) -> np.ndarray:
    return speaker_ids(table)


def group_statistics(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (constant dimensions: 1) of one group's feature vectors."""
    mean = block.mean(axis=0)
    std = block.std(axis=0)
    std[std < 1e-8] = 1.0
    return mean, std


def standardise_groups(features: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Each group's rows standardised with that group's own statistics; labels are never involved."""
    features = np.asarray(features, dtype=np.float64)
    out = np.empty_like(features)
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        mean, std = group_statistics(features[rows])
        out[rows] = (features[rows] - mean) / std
    return out


def normalise_features(features: np.ndarray, table: pd.DataFrame, mode: str) -> np.ndarray:
    """Feature matrix (rows = table rows) under normalisation ``mode`` (see :data:`NORMALISATIONS`)."""
    groups = normalisation_groups(table, mode)
    return np.asarray(features, dtype=np.float64) if groups is None else standardise_groups(features, groups)


def check_normalisation(mode: str) -> None:
    if mode not in NORMALISATIONS:
        raise ConfigError(f"unknown normalisation {mode!r}; use one of {', '.join(NORMALISATIONS.names())}")


def normalisation_groups(table: pd.DataFrame, mode: str) -> np.ndarray | None:
    """The group of every row whose own statistics standardise it (None: no group normalisation)."""
    check_normalisation(mode)
    return NORMALISATIONS.get(mode)(table)


# ---------------------------------------------------------------- corpora, classes, split


def load_corpora(names: Sequence[str], roots: Mapping[str, str | Path]) -> dict[str, pd.DataFrame]:
    """Utterance tables of ``names`` from their folders; clear errors for unknown corpora or folders."""
    from voxemo.corpora import CORPORA, load_corpus

    unknown = [n for n in names if n not in CORPORA]
    if unknown:
        raise CorpusError(f"unknown corpus {', '.join(unknown)}; known corpora: {', '.join(CORPORA.names())}")
    missing = [n for n in names if not roots.get(n)]
    if missing:
        raise ConfigError(
            f"no folder given for corpus {', '.join(missing)}: pass --root NAME=DIR for each corpus "
            "(or --root PARENT with one sub-folder per corpus)"
        )
    absent = [f"{n} ({roots[n]})" for n in names if not Path(roots[n]).exists()]
    if absent:
        raise CorpusError(f"corpus folder not found: {', '.join(absent)}; check the --root paths")
    return {name: load_corpus(name, roots[name]) for name in names}


def check_corpus_roles(train_corpora: Sequence[str], test_corpus: str) -> None:
    """ConfigError unless there is at least one training corpus and the test corpus is not one."""
    if not train_corpora:
        raise ConfigError("name at least one training corpus (--train-corpora A,B,C)")
    if len(set(train_corpora)) != len(train_corpora):
        raise ConfigError(f"a training corpus is named twice: {', '.join(train_corpora)}")
    if test_corpus in train_corpora:
        raise ConfigError(
            f"{test_corpus} is both a training corpus and the test corpus; a cross-corpus test must hold "
            "it out of training (within one corpus use --corpus NAME for speaker-independent CV)"
        )


def resolve_classes(
    tables: Mapping[str, pd.DataFrame], classes: Sequence[str] | None = None
) -> tuple[list[str], str]:
    """The evaluation's classes and why: ``classes`` if given, else those every corpus has."""
    held = {name: set(table["emotion"].astype(str)) for name, table in tables.items()}
    if classes is not None:
        chosen = sorted(dict.fromkeys(str(c) for c in classes))
        lacking = {name: sorted(set(chosen) - emotions) for name, emotions in held.items()}
        lacking = {name: missing for name, missing in lacking.items() if missing}
        if lacking:
            detail = "; ".join(f"{name} has no {', '.join(missing)}" for name, missing in lacking.items())
            raise ConfigError(f"the requested classes are not in every corpus: {detail}")
        reason = "given explicitly"
    else:
        chosen = sorted(set.intersection(*held.values())) if held else []
        reason = f"the emotions every involved corpus has ({', '.join(sorted(tables))})"
    if len(chosen) < 2:
        raise ConfigError(
            f"the corpora {', '.join(sorted(tables))} share {len(chosen)} emotion class(es) "
            f"({', '.join(chosen) or 'none'}); a cross-corpus test needs at least two in common"
        )
    return chosen, reason


def combine_corpora(
    tables: Mapping[str, pd.DataFrame], order: Sequence[str], classes: Sequence[str]
) -> pd.DataFrame:
    """One table of the corpora in ``order`` (``corpus`` column = the given name), only ``classes``."""
    parts = []
    for name in order:
        part = tables[name]
        part = part[part["emotion"].astype(str).isin(list(classes))].copy()
        part["corpus"] = name
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def carve_validation(
    table: pd.DataFrame, train_corpora: Sequence[str], amount: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) rows of the training corpora; each corpus gives its own validation speakers.

    ``amount`` >= 1 is a speaker count per corpus, < 1 a fraction of each corpus's speakers.
    """
    corpus = table["corpus"].astype(str).to_numpy()
    train_parts, val_parts = [], []
    for k, name in enumerate(train_corpora):
        rows = np.flatnonzero(corpus == name)
        if amount >= 1:
            train, val = validation_split(table, rows, n_speakers=int(amount), seed=seed + k)
        else:
            train, val = validation_split(table, rows, fraction=float(amount), seed=seed + k)
        train_parts.append(train)
        val_parts.append(val)
    return np.sort(np.concatenate(train_parts)), np.sort(np.concatenate(val_parts))


def make_fold(
    table: pd.DataFrame, train_corpora: Sequence[str], test_corpus: str, val_speakers: float, seed: int
) -> EvalFold:
    """The single fold of a leave-one-corpus-out run, checked for leakage."""
    corpus = table["corpus"].astype(str).to_numpy()
    train, val = carve_validation(table, train_corpora, val_speakers, seed)
    fold = EvalFold(
        name=f"heldout-{test_corpus}",
        train=train,
        test=np.flatnonzero(corpus == test_corpus).astype(np.int64),
        val=val,
    )
    check_fold(table, fold)
    if np.any(corpus[np.concatenate([fold.train, fold.val])] == test_corpus):
        raise LeakageError(f"rows of the test corpus {test_corpus} reached training or validation")
    return fold


# ---------------------------------------------------------------- the run


@dataclasses.dataclass
class CrossCorpusRun:
    """Everything one leave-one-corpus-out run needs besides the model."""

    table: pd.DataFrame
    fold: EvalFold
    train_corpora: list[str]
    test_corpus: str
    classes: list[str]
    classes_reason: str
    normalisation: str

    @property
    def corpus(self) -> np.ndarray:
        return self.table["corpus"].astype(str).to_numpy()


def prepare_run(
    tables: Mapping[str, pd.DataFrame],
    train_corpora: Sequence[str],
    test_corpus: str,
    *,
    classes: Sequence[str] | None = None,
    normalisation: str = "global",
    val_speakers: float = 0.2,
    seed: int = 0,
) -> CrossCorpusRun:
    """Check the roles, choose the classes, combine the tables and carve the fold."""
    train_corpora = [str(c) for c in train_corpora]
    check_corpus_roles(train_corpora, test_corpus)
    absent = [n for n in [*train_corpora, test_corpus] if n not in tables]
    if absent:
        raise ConfigError(f"no utterance table for corpus {', '.join(absent)}")
    check_normalisation(normalisation)
    involved = {name: tables[name] for name in [*train_corpora, test_corpus]}
    chosen, reason = resolve_classes(involved, classes)
    table = combine_corpora(involved, [*train_corpora, test_corpus], chosen)
    fold = make_fold(table, train_corpora, test_corpus, val_speakers, seed)
    return CrossCorpusRun(table, fold, train_corpora, str(test_corpus), chosen, reason, normalisation)


def protocol_block(run: CrossCorpusRun, model_selection: str) -> dict[str, Any]:
    """The ``protocol`` of results.json: who trained, who validated, who was tested, and how."""
    speakers, corpus, fold = speaker_ids(run.table), run.corpus, run.fold

    def part(rows: np.ndarray) -> dict[str, Any]:
        return {"clips": int(rows.size), "speakers": sorted(set(speakers[rows].tolist()))}

    train_facts = {}
    for name in run.train_corpora:
        train_rows = fold.train[corpus[fold.train] == name]
        val_rows = fold.val[corpus[fold.val] == name]
        train_facts[name] = {"train": part(train_rows), "validation": part(val_rows)}
    return {
        "corpora": [*run.train_corpora, run.test_corpus],
        "corpus": None,
        "name": f"train {'+'.join(run.train_corpora)}, test {run.test_corpus}",
        "kind": "leave-one-corpus-out",
        "train_corpora": list(run.train_corpora),
        "test_corpus": run.test_corpus,
        "n_folds": 1,
        "speakers_per_fold": {fold.name: part(fold.test)["speakers"]},
        "classes": list(run.classes),
        "classes_reason": run.classes_reason,
        "n_utterances": len(run.table),
        "train": train_facts,
        "test": part(fold.test),
        "speaker_independent": True,
        "corpus_independent": True,
        "normalisation": NORMALISATION_TEXT[run.normalisation],
        "feature_normalisation": run.normalisation,
        "uses_unlabelled_test_audio": run.normalisation != "global",
        "model_selection": model_selection,
    }


def _finish(
    run: CrossCorpusRun,
    outcome: FoldPredictions,
    out: Path,
    model: dict[str, Any],
    config: dict[str, Any] | None,
    model_selection: str,
    started: float,
) -> dict[str, Any]:
    from voxemo.evaluation.plots import plot_confusion

    results = build_results([outcome], protocol_block(run, model_selection), model, config)
    for key in ("ece", "ece_calibrated"):  # null when the model gives no probabilities (the SVM)
        results.setdefault(key, None)
    results["run_time_s"] = outcome.seconds if outcome.seconds is not None else time.perf_counter() - started
    write_results(results, out / "results.json")
    title = f"{model['name']}: {'+'.join(run.train_corpora)} -> {run.test_corpus} (UA {results['ua']:.1%})"
    plot_confusion(
        results["confusion"]["matrix"], results["confusion"]["labels"], out / "confusion.png", title=title
    )
    return results


def _outcome(
    run: CrossCorpusRun, y_pred: list[str], probs: np.ndarray | None, seconds: float, **facts: Any
) -> FoldPredictions:
    speakers, fold = speaker_ids(run.table), run.fold
    return FoldPredictions(
        name=fold.name,
        labels=list(run.classes),
        paths=run.table["path"].astype(str).to_numpy()[fold.test].tolist(),
        speakers=speakers[fold.test].tolist(),
        y_true=run.table["emotion"].astype(str).to_numpy()[fold.test].tolist(),
        y_pred=y_pred,
        probs=probs,
        train_speakers=sorted(set(speakers[fold.train].tolist())),
        val_speakers=sorted(set(speakers[fold.val].tolist())),
        seconds=seconds,
        **facts,
    )


def _reuse(out: Path, fingerprint: str, resume: bool, progress: bool) -> tuple[FoldPredictions | None, bool]:
    """(finished outcome to reuse or None, whether an earlier finished run is stale)."""
    earlier = reusable_fold(out, fingerprint) if resume else None
    if earlier is not None and progress:
        print(f"  {out}: finished earlier, reused", flush=True)
    return earlier, fold_is_finished(out) and earlier is None


# ---------------------------------------------------------------- baseline


def run_baseline_cross_corpus(
    run: CrossCorpusRun,
    out_dir: str | Path,
    *,
    config: Any = None,
    features: np.ndarray | None = None,
    resume: bool = True,
    progress: bool = True,
    model_name: str = "baseline",
) -> dict[str, Any]:
    """eGeMAPS + SVM trained on the training corpora, tested on the held-out one.

    C and gamma are chosen by an inner cross-validation over the training rows grouped by *corpus*
    (leave one training corpus out; by speaker when there is a single training corpus), which
    mimics the cross-corpus condition. Validation speakers join the training rows because the
    inner CV does the selection. ``features`` (rows = ``run.table``) skips extraction.
    """
    from voxemo.evaluation import baseline

    config = config or baseline.BaselineConfig()
    out = Path(out_dir)
    started = time.perf_counter()
    fold = run.fold
    grouping = "corpus" if len(run.train_corpora) > 1 else "speaker"
    selection = f"C, gamma by inner leave-one-{grouping}-out CV over the training corpora (UA)"
    settings = {"baseline": config.to_dict(), "normalisation": run.normalisation, "inner_groups": grouping}
    fingerprint = _fingerprint(run, settings)
    model = {
        "name": model_name,
        "description": f"{config.features} + StandardScaler + SVC({config.kernel}), "
        f"class_weight={config.class_weight}, {run.normalisation} normalisation",
    }
    earlier, _ = _reuse(out, fingerprint, resume, progress)
    if earlier is not None:
        return _finish(run, earlier, out, model, settings, selection, started)
    if features is None:
        features = baseline.compute_features(run.table, config.features, progress=progress)
    features = np.asarray(features, dtype=np.float64)
    if features.shape[0] != len(run.table):
        raise VoxemoError(
            f"features must have one row per table row ({len(run.table)}), got {features.shape}"
        )
    normalised = normalise_features(features, run.table, run.normalisation)
    train = np.sort(np.concatenate([fold.train, fold.val]))
    groups = run.corpus if grouping == "corpus" else speaker_ids(run.table)
    emotions = run.table["emotion"].astype(str).to_numpy()
    search = baseline.fit_fold(normalised[train], emotions[train], groups[train], config)
    predicted = [str(p) for p in search.predict(normalised[fold.test])]
    outcome = _outcome(
        run,
        predicted,
        None,
        time.perf_counter() - started,
        extra={
            "C": search.best_params_["svm__C"],
            "gamma": search.best_params_["svm__gamma"],
            "inner_cv_ua": float(search.best_score_),
        },
    )
    save_fold(outcome, out, fingerprint)
    model["feature_dim"] = int(features.shape[1])
    return _finish(run, outcome, out, model, settings, selection, started)


# ---------------------------------------------------------------- neural recipes


def feature_backend(run: CrossCorpusRun, config: Any, base: TrainingBackend) -> TrainingBackend:
    """A backend whose datasets hold the run's *normalised* utterance feature vectors.

    The whole combined table is extracted once (cached on disk) and standardised group by group,
    then ``build_inputs`` slices it; training and prediction are those of ``base``.
    """
    from voxemo.models import model_input_kind
    from voxemo.training.data import UtteranceData, load_utterance_features

    kind = model_input_kind(config.model)
    if kind != "features":
        per_recording = {
            "frames": "model.params.frame_norm=mean",
            "waveform": "model.frontend.utterance_norm=mean",
        }.get(kind, "a per-recording normalisation setting")
        raise ConfigError(
            f"normalisation {run.normalisation!r} standardises utterance feature vectors, but "
            f"{config.model.name!r} reads {kind}; use the recipe setting {per_recording} "
            "(per-recording normalisation) with normalisation 'global'"
        )
    paths = run.table["path"].astype(str).tolist()
    matrix = np.stack(load_utterance_features(paths, config.inputs)).astype(np.float64)
    normalised = normalise_features(matrix, run.table, run.normalisation).astype(np.float32)

    def build_inputs(table: pd.DataFrame, rows: np.ndarray, config: Any, labels: list[str]) -> Any:
        part = table.iloc[rows]
        return UtteranceData(
            inputs=[normalised[i] for i in rows],
            labels=part["emotion"].astype(str).tolist(),
            speakers=part["speaker"].astype(str).tolist(),
            paths=part["path"].astype(str).tolist(),
            classes=list(labels),
            corpora=part["corpus"].astype(str).tolist(),
        )

    return dataclasses.replace(base, build_inputs=build_inputs)


def run_neural_cross_corpus(
    run: CrossCorpusRun,
    config: Any,
    out_dir: str | Path,
    *,
    resume: bool = True,
    progress: bool = True,
    model_name: str | None = None,
    backend: TrainingBackend | None = None,
) -> dict[str, Any]:
    """Train a recipe (``TrainConfig``) on the training corpora, select and calibrate on their
    validation speakers, and predict the held-out corpus once."""
    from voxemo.evaluation.crossval import default_backend

    out = Path(out_dir)
    started = time.perf_counter()
    config = config.replace(labels=list(run.classes)) if hasattr(config, "replace") else config
    config_dict = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    settings = {**config_dict, "cross_corpus_normalisation": run.normalisation}
    fingerprint = _fingerprint(run, settings)
    name = model_name or str((config_dict.get("model") or {}).get("name", "model"))
    model = {"name": name, "description": f"recipe {name}, {run.normalisation} normalisation"}
    selection = "early stopping and temperature on validation speakers of every training corpus"
    earlier, stale = _reuse(out, fingerprint, resume, progress)
    if earlier is not None:
        return _finish(run, earlier, out, model, settings, selection, started)
    backend = backend or default_backend()
    if run.normalisation != "global":
        backend = feature_backend(run, config, backend)
    fold, table = run.fold, run.table
    train_set = backend.build_inputs(table, fold.train, config, run.classes)
    val_set = backend.build_inputs(table, fold.val, config, run.classes)
    result = backend.train(config, train_set, val_set, out / MODEL_DIR, resume and not stale)
    test_set = backend.build_inputs(table, fold.test, config, run.classes)
    probs = np.asarray(backend.predict_proba(result, test_set), dtype=np.float64)
    if probs.shape != (fold.test.size, len(run.classes)):
        raise VoxemoError(
            f"the model returned probabilities of shape {probs.shape}, expected "
            f"({fold.test.size}, {len(run.classes)}); its labels must be the evaluation's classes"
        )
    facts = backend.facts(result)
    outcome = _outcome(
        run,
        [run.classes[i] for i in probs.argmax(axis=1)],
        probs,
        time.perf_counter() - started,
        best_epoch=facts.get("best_epoch"),
        history=facts.get("history"),
        temperature=facts.get("temperature"),
    )
    save_fold(outcome, out, fingerprint)
    return _finish(run, outcome, out, model, settings, selection, started)


def _fingerprint(run: CrossCorpusRun, settings: dict[str, Any]) -> str:
    """Settings + train/validation files + classes + test files: what makes two runs the same."""
    paths = run.table["path"].astype(str).to_numpy()
    payload = {
        "settings": settings,
        "train_corpora": run.train_corpora,
        "train": sorted(paths[run.fold.train].tolist()),
        "val": sorted(paths[run.fold.val].tolist()),
    }
    return run_fingerprint(payload, run.classes, paths[run.fold.test])


# ---------------------------------------------------------------- one entry point


def evaluate_cross_corpus(
    tables: Mapping[str, pd.DataFrame],
    train_corpora: Sequence[str],
    test_corpus: str,
    out_dir: str | Path,
    *,
    config: Any = None,
    baseline: bool = False,
    classes: Sequence[str] | None = None,
    normalisation: str = "global",
    resume: bool = True,
    progress: bool = True,
    model_name: str | None = None,
    backend: TrainingBackend | None = None,
) -> dict[str, Any]:
    """Leave-one-corpus-out: train on ``train_corpora``, test on ``test_corpus``; returns results.json.

    ``tables`` maps corpus names to utterance tables (see :func:`load_corpora`). ``config`` is a
    ``TrainConfig`` (neural recipe) or, with ``baseline=True``, a ``BaselineConfig`` (or None).
    """
    if not baseline and config is None:
        raise ConfigError("give a training recipe (TrainConfig), or baseline=True for eGeMAPS + SVM")
    data = getattr(config, "data", None)
    run = prepare_run(
        tables,
        train_corpora,
        test_corpus,
        classes=classes,
        normalisation=normalisation,
        val_speakers=float(getattr(data, "val_speakers", 0.2)),
        seed=int(getattr(config, "seed", 0) or 0),
    )
    if progress:
        print(
            f"== {'+'.join(run.train_corpora)} -> {run.test_corpus}: classes {', '.join(run.classes)}; "
            f"{run.fold.train.size} train, {run.fold.val.size} validation, {run.fold.test.size} test clips",
            flush=True,
        )
    if baseline:
        return run_baseline_cross_corpus(
            run,
            out_dir,
            config=config,
            resume=resume,
            progress=progress,
            model_name=model_name
            or ("baseline" if normalisation == "global" else f"baseline-{normalisation}"),
        )
    return run_neural_cross_corpus(
        run, config, out_dir, resume=resume, progress=progress, model_name=model_name, backend=backend
    )


def resolve_roots(values: Sequence[str], names: Sequence[str]) -> dict[str, str]:
    """Corpus folders from ``--root`` values: ``NAME=DIR`` pairs and/or one parent ``DIR`` of corpora.

    An explicit ``NAME=DIR`` wins over the parent folder; a name without either raises ConfigError.
    """
    explicit: dict[str, str] = {}
    parents: list[str] = []
    for value in values:
        name, sep, root = str(value).partition("=")
        if sep:
            if not name.strip() or not root.strip():
                raise ConfigError(f"--root expects NAME=DIR or a parent DIR, got {value!r}")
            explicit[name.strip().lower()] = root.strip()
        else:
            parents.append(str(value))
    if len(parents) > 1:
        raise ConfigError(
            f"give at most one parent folder with --root DIR (got {', '.join(parents)}); "
            "name the others as NAME=DIR"
        )
    roots = {}
    for name in names:
        if name in explicit:
            roots[name] = explicit[name]
        elif parents:
            roots[name] = str(Path(parents[0]) / name)
    missing = [n for n in names if n not in roots]
    if missing:
        raise ConfigError(
            f"no folder given for corpus {', '.join(missing)}: add --root {missing[0]}=DIR "
            "(or --root PARENT holding one folder per corpus)"
        )
    return roots


def split_names(value: str | Sequence[str]) -> list[str]:
    """``"emodb,ravdess casia"`` or a list -> ``["emodb", "ravdess", "casia"]`` (lower case)."""
    items = [value] if isinstance(value, str) else list(value)
    return [part.strip().lower() for item in items for part in str(item).replace(",", " ").split() if part]
