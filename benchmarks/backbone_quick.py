"""Quick check of the frozen Whisper encoder as a feature extractor (not a test).

    python benchmarks/backbone_quick.py                                  # EmoDB + RAVDESS, default settings
    python benchmarks/backbone_quick.py --corpora emodb --variants int8 float32 int8-pad
    python benchmarks/backbone_quick.py --corpora emodb --variants int8 float32 --speed 50   # timing only

Each variant extracts ``whisper-encoder-stats`` (mean + std of the encoder frames) for every file with
``voxemo.features.extract_with_report`` (cached on disk), then runs a speaker-independent logistic
regression under the corpus's standard protocol (``protocol_folds``: EmoDB leave one speaker out,
RAVDESS 6 folds of 4 actors); the StandardScaler is fitted on the training speakers only. It prints
and writes to ``benchmarks/results/backbone_quick.json``: UA / WA / macro-F1 over the pooled fold
predictions and the extraction real-time factor (compute seconds / audio seconds; only measured
when nothing came from the cache).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("VOXEMO_DATASETS", REPO.parent / "shared" / "datasets"))
RESULTS = REPO / "benchmarks" / "results" / "backbone_quick.json"

#: variant name -> extractor options of whisper-encoder-stats
VARIANTS: dict[str, dict[str, Any]] = {
    "int8": {"compute_type": "int8", "pad_to_window": False},
    "float32": {"compute_type": "float32", "pad_to_window": False},
    "int8-pad": {"compute_type": "int8", "pad_to_window": True},
    "float32-pad": {"compute_type": "float32", "pad_to_window": True},
}


def audio_seconds(paths: list[str]) -> float:
    """Total duration of the files (from their headers)."""
    import soundfile

    return float(sum(soundfile.info(p).duration for p in paths))


def extract(paths: list[str], options: dict[str, Any], n_jobs: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Feature matrix and extraction timing of one variant."""
    from voxemo.features import extract_with_report, get_extractor

    extractor = get_extractor("whisper-encoder-stats", **options)
    started = time.perf_counter()
    report = extract_with_report(paths, extractor, n_jobs=n_jobs, progress=True)
    seconds = time.perf_counter() - started
    timing = {"seconds": round(seconds, 2), "computed": report.computed, "cache_hits": report.cache_hits}
    if report.cache_hits == 0:
        timing["real_time_factor"] = round(seconds / audio_seconds(paths), 4)
    return np.stack(report.arrays), timing


def speaker_independent_lr(features: np.ndarray, table: Any, corpus: str) -> dict[str, Any]:
    """Pooled predictions of a per-fold StandardScaler + logistic regression; UA, WA, macro-F1."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from voxemo.evaluation.metrics import macro_f1, ua, wa
    from voxemo.evaluation.splits import protocol_folds

    labels = table["emotion"].to_numpy()
    predicted = np.empty(len(labels), dtype=object)
    folds = protocol_folds(corpus, table)
    for fold in folds:
        train = np.concatenate([fold.train, fold.val]) if len(fold.val) else fold.train
        scaler = StandardScaler().fit(features[train])
        model = LogisticRegression(max_iter=3000)
        model.fit(scaler.transform(features[train]), labels[train])
        predicted[fold.test] = model.predict(scaler.transform(features[fold.test]))
    tested = np.concatenate([fold.test for fold in folds])
    y, p = labels[tested], predicted[tested]
    return {
        "folds": len(folds),
        "utterances": len(tested),
        "classes": sorted(set(labels.tolist())),
        "ua": round(100 * ua(y, p), 2),
        "wa": round(100 * wa(y, p), 2),
        "macro_f1": round(100 * macro_f1(y, p), 2),
    }


def run(corpus: str, variant: str, n_jobs: int) -> dict[str, Any]:
    from voxemo.corpora import load_corpus

    table = load_corpus(corpus, DATASETS / corpus).reset_index(drop=True)
    features, timing = extract(table["path"].astype(str).tolist(), VARIANTS[variant], n_jobs)
    scores = speaker_independent_lr(features, table, corpus)
    options = VARIANTS[variant]
    return {"corpus": corpus, "variant": variant, "options": options, **scores, "extraction": timing}


def speed(corpus: str, variants: list[str], n_files: int, threads: int) -> dict[str, Any]:
    """Encoder speed of each variant on the same files in one process, variants interleaved per file.

    Extraction in the accuracy runs shares the machine with whatever else runs; this measures the
    variants side by side so their ratio is meaningful. Returns the real-time factor per variant.
    """
    from voxemo.audio import load_audio
    from voxemo.corpora import load_corpus
    from voxemo.features import get_extractor

    table = load_corpus(corpus, DATASETS / corpus)
    clips = [load_audio(p) for p in table["path"].astype(str).tolist()[:n_files]]
    extractors = {v: get_extractor("whisper-encoder", intra_threads=threads, **VARIANTS[v]) for v in variants}
    spent = dict.fromkeys(variants, 0.0)
    for extractor in extractors.values():
        extractor.extract(clips[0])  # load and warm up outside the timing
    for clip in clips:
        for variant, extractor in extractors.items():
            started = time.perf_counter()
            extractor.extract(clip)
            spent[variant] += time.perf_counter() - started
    audio = sum(len(c) for c in clips) / 16_000
    return {
        "corpus": corpus,
        "files": len(clips),
        "audio_seconds": round(audio, 1),
        "intra_threads": threads,
        "real_time_factor": {v: round(spent[v] / audio, 4) for v in variants},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", nargs="+", default=["emodb", "ravdess"])
    parser.add_argument("--variants", nargs="+", default=["int8-pad"], choices=sorted(VARIANTS))
    parser.add_argument("--n-jobs", type=int, default=1, help="worker processes (1 = encoder threads only)")
    parser.add_argument("--speed", type=int, default=0, metavar="N", help="only time the variants on N files")
    parser.add_argument("--threads", type=int, default=2, help="encoder threads for --speed")
    args = parser.parse_args(argv)

    import voxemo.features.whisper  # noqa: F401  (registers the extractors if features/__init__ does not)

    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {"runs": {}}
    if args.speed:
        outcome = speed(args.corpora[0], args.variants, args.speed, args.threads)
        print(json.dumps(outcome), flush=True)
        results.setdefault("speed", {})[args.corpora[0]] = outcome
        args.corpora = []
    for corpus in args.corpora:
        for variant in args.variants:
            outcome = run(corpus, variant, args.n_jobs)
            print(json.dumps(outcome), flush=True)
            results["runs"][f"{corpus}/{variant}"] = outcome
    results["updated"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    results["machine"] = {"cpu_count": os.cpu_count(), "python": platform.python_version()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
