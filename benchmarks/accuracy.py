"""Accuracy benchmark: every model on every shared corpus under its speaker-independent protocol.

    python benchmarks/accuracy.py                                  # everything (long)
    python benchmarks/accuracy.py --models baseline                # the eGeMAPS + SVM baseline only
    python benchmarks/accuracy.py --corpora emodb --models crnn    # one recipe on one corpus
    python benchmarks/accuracy.py --collect-only                   # rebuild the tables from finished runs

Models are the classical baselines ``baseline`` (eGeMAPS + RBF-SVM) and ``baseline-functionals``
(the large ``combined`` functionals set + linear SVM), both with hyper-parameters by inner
speaker-grouped CV, every training recipe ``recipes/<name>.yaml``, and the late fusions in
``FUSIONS`` (mean of calibrated probabilities of finished runs). Each run lives in
``benchmarks/runs/<corpus>/<model>/`` (gitignored) and resumes fold by fold. Finished runs are collected into
``benchmarks/results/accuracy.json`` and rendered as a markdown table into README.md between
``<!-- accuracy-table:start -->`` and ``<!-- accuracy-table:end -->`` (and
``benchmarks/results/accuracy.md``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("VOXEMO_DATASETS", REPO.parent / "shared" / "datasets"))
RUNS = REPO / "benchmarks" / "runs"
RESULTS = REPO / "benchmarks" / "results"
RECIPES = REPO / "recipes"
README = REPO / "README.md"
START, END = "<!-- accuracy-table:start -->", "<!-- accuracy-table:end -->"

#: corpus -> how its standard protocol is described in the table (folds come from splits.protocol_folds)
CORPORA = {
    "emodb": "leave one speaker out",
    "ravdess": "4 actors per fold",
    "casia": "leave one speaker out",
    "emovo": "leave one speaker out",
}
BASELINE = "baseline"
#: Classical baselines: name -> BaselineConfig options. ``baseline-functionals`` is the stronger
#: reference: a linear SVM on the 1346-value ``combined`` set, the analogue of ComParE + linear SVM.
BASELINES: dict[str, dict[str, Any]] = {
    BASELINE: {},
    "baseline-functionals": {"features": "combined", "kernel": "linear", "C": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)},
}


#: Late fusions: name -> member runs whose calibrated probabilities are averaged fold by fold
#: (voxemo.evaluation.fusion). Equal weights, nothing tuned; the members must have finished.
#: The pair is the main spectrogram recipe with the main functionals recipe, fixed in advance.
FUSIONS: dict[str, tuple[str, ...]] = {"fusion-cnn-functionals": ("cnn", "mlp-functionals")}


#: Issue #3's targets for the best neural model trained from scratch (speaker-independent UA).
FROM_SCRATCH_TARGETS = {"emodb": 0.80, "ravdess": 0.65, "casia": 0.50, "emovo": 0.45}
#: Models whose inputs come from a pretrained encoder (not "from scratch").
PRETRAINED_PREFIXES = ("whisper-", "accurate", "default")


def model_family(name: str) -> str:
    """``classical``, ``pretrained`` (on the frozen Whisper encoder) or ``scratch`` (neural, no weights)."""
    if name in BASELINES:
        return "classical"
    return "pretrained" if name.startswith(PRETRAINED_PREFIXES) else "scratch"


def recipe_names() -> list[str]:
    """Neural recipes available in recipes/ (every *.yaml that is a training config)."""
    return sorted(p.stem for p in RECIPES.glob("*.yaml")) if RECIPES.is_dir() else []


def feature_matrix(corpus: str, table: Any, name: str) -> tuple[Any, float]:
    """Features of a corpus and the seconds a cold extraction took (remembered across runs)."""
    from voxemo.evaluation.baseline import compute_features

    timing_file = RUNS / corpus / f"features_{name}.json"
    started = time.perf_counter()
    features = compute_features(table, name, n_jobs=os.cpu_count())
    elapsed = time.perf_counter() - started
    if timing_file.is_file():  # later runs read the cache: keep the cold extraction time
        elapsed = json.loads(timing_file.read_text())["seconds"]
    else:
        timing_file.parent.mkdir(parents=True, exist_ok=True)
        timing_file.write_text(json.dumps({"seconds": elapsed, "files": len(table)}))
    return features, elapsed


def run_one(corpus: str, model: str, resume: bool) -> dict[str, Any]:
    """Evaluate ``model`` on ``corpus`` with its standard protocol; returns results.json's dict."""
    from voxemo.corpora import load_corpus
    from voxemo.evaluation.crossval import cross_validate
    from voxemo.evaluation.report import write_results
    from voxemo.evaluation.splits import protocol_folds

    if model in FUSIONS:  # needs only the members' finished folds, not the audio
        from voxemo.evaluation.fusion import fuse_runs

        print(f"== {corpus} / {model}: fusing {' + '.join(FUSIONS[model])}", flush=True)
        return fuse_runs([RUNS / corpus / member for member in FUSIONS[model]], RUNS / corpus / model)
    table = load_corpus(corpus, DATASETS / corpus)
    folds = list(protocol_folds(corpus, table))
    out = RUNS / corpus / model
    protocol = f"{CORPORA[corpus]}, {len(folds)} folds"
    print(f"== {corpus} / {model}: {len(table)} utterances, {protocol} -> {out}", flush=True)
    if model in BASELINES:
        from voxemo.evaluation.baseline import BaselineConfig, run_baseline

        config = BaselineConfig(**BASELINES[model])
        features, feature_seconds = feature_matrix(corpus, table, config.features)
        results = run_baseline(
            table, features, folds, config=config, out_dir=out, protocol_name=protocol, resume=resume
        )
        results["model"]["feature_time_s"] = feature_seconds
        results["run_time_s"] = (results["run_time_s"] or 0.0) + feature_seconds
        write_results(results, out / "results.json")
        return results
    from voxemo.training import TrainConfig

    config = TrainConfig.load(RECIPES / f"{model}.yaml")
    return cross_validate(table, folds, config, out, resume=resume, protocol_name=protocol, model_name=model)


def collect() -> dict[str, Any]:
    """Every finished run under benchmarks/runs as one summary dict."""
    from voxemo import __version__
    from voxemo.evaluation.report import load_results, machine_description

    rows = []
    for path in sorted(RUNS.glob("*/*/results.json")):
        results = load_results(path)
        rows.append(
            {
                "corpus": path.parent.parent.name,
                "model": path.parent.name,
                "protocol": results["protocol"]["name"],
                "classes": len(results["protocol"]["classes"]),
                "n": results["n"],
                "ua": results["ua"],
                "wa": results["wa"],
                "macro_f1": results["macro_f1"],
                "fold_mean_ua": results["fold_mean"]["ua"],
                "fold_std_ua": results["fold_std"]["ua"],
                "run_time_s": results["run_time_s"],
                "feature_time_s": results["model"].get("feature_time_s"),
                "description": results["model"].get("description", ""),
                # DP recipes: the largest epsilon any fold spent (each fold's model is a separate release)
                "epsilon": (results.get("privacy") or {}).get("epsilon_max"),
                "delta": (results.get("privacy") or {}).get("delta"),
                "date": results["date"],
                "machine": results["machine"],
            }
        )
    order = {name: i for i, name in enumerate(CORPORA)}
    rows.sort(key=lambda r: (order.get(r["corpus"], 99), r["model"] not in BASELINES, r["model"]))
    return {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "voxemo_version": __version__,
        "machine": machine_description(),
        "metric_note": "UA/WA/macro-F1 over the pooled predictions of all folds; speaker independent; "
        "normalisation and model selection on training speakers only",
        "runs": rows,
    }


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (
        f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
    )


def _privacy_cell(row: dict[str, Any]) -> str:
    """Spent epsilon (and delta) of a differentially private run; "–" for a run without DP."""
    if row.get("epsilon") is None:
        return "–"
    return f"{row['epsilon']:.2f} ({row['delta']:.0e})"


def render_table(summary: dict[str, Any]) -> str:
    """Markdown table of the collected runs."""
    lines = [
        "| corpus | protocol | model | UA | WA | macro-F1 | wall time (2 CPU cores) | DP ε (δ) |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in summary["runs"]:
        ua = f"{row['ua']:.1%} (±{row['fold_std_ua']:.1%})"
        lines.append(
            f"| {row['corpus']} | {row['protocol']} | {row['model']} | {ua} | {row['wa']:.1%} | "
            f"{row['macro_f1']:.1%} | {_duration(row['run_time_s'])} |".replace("%", " %")
            + f" {_privacy_cell(row)} |"
        )
    lines += [
        "",
        "UA = unweighted average recall (balanced accuracy), WA = accuracy, both over the pooled test "
        "predictions of all folds; ± is the standard deviation of per-fold UA. No speaker is ever in "
        "training and test; normalisation and model selection see training speakers only. "
        "`baseline` = eGeMAPS v02 + RBF-SVM (C, gamma by inner speaker-grouped CV); "
        "`baseline-functionals` = the 1346-value `combined` set + linear SVM (C by inner CV), the "
        "analogue of ComParE + linear SVM; baseline wall times include feature extraction. "
        "`fusion-cnn-functionals` = mean of the calibrated probabilities of `cnn` and `mlp-functionals`, "
        "fold by fold, equal weights (its wall time is its members'). "
        "Wall time is on a 2-core machine that other jobs shared during "
        "these runs (neural recipes train with `num_threads` from the recipe): an upper bound. "
        "DP ε (δ): differentially private training (DP-SGD, `-dp<ε>` recipes), the largest epsilon "
        "any fold's model spent for its training speakers (see docs/privacy.md); – = no DP. "
        "Generated by `python benchmarks/accuracy.py`.",
    ]
    return "\n".join(lines)


def render_summary(summary: dict[str, Any]) -> str:
    """Per corpus: the best classical, from-scratch neural and pretrained-encoder rows, and the target."""
    lines = [
        "| corpus | best classical | best neural from scratch | target (from scratch) "
        "| best on a pretrained encoder |",
        "|---|---|---|---:|---|",
    ]
    for corpus in CORPORA:
        rows = [r for r in summary["runs"] if r["corpus"] == corpus and r.get("epsilon") is None]
        cells = []
        for family in ("classical", "scratch", "pretrained"):
            best = max(
                (r for r in rows if model_family(r["model"]) == family), key=lambda r: r["ua"], default=None
            )
            cells.append(f"{best['model']} {best['ua']:.1%}".replace("%", " %") if best else "–")
        target = f"{FROM_SCRATCH_TARGETS[corpus]:.0%}".replace("%", " %")
        lines.append(f"| {corpus} | {cells[0]} | {cells[1]} | {target} | {cells[2]} |")
    lines += [
        "",
        "UA of the best row of each kind above (differentially private rows left out). From scratch = "
        "no pretrained weights anywhere (fusions of such models included); pretrained = heads on the "
        "frozen Whisper tiny.en encoder.",
    ]
    return "\n".join(lines)


def update_readme(table: str) -> bool:
    """Put the table between the markers of README.md (adding a Accuracy section if absent)."""
    from voxemo.io import update_marked_block

    return update_marked_block(README, START, END, table, "Accuracy")


def publish() -> None:
    from voxemo.io import atomic_write_text

    summary = collect()
    atomic_write_text(RESULTS / "accuracy.json", json.dumps(summary, indent=2) + "\n")
    table = render_table(summary) + "\n\n" + render_summary(summary)
    atomic_write_text(RESULTS / "accuracy.md", table + "\n")
    print(table)
    where = "README.md and " if update_readme(table) else ""
    print(f"\nwrote {where}{RESULTS / 'accuracy.json'} ({len(summary['runs'])} runs)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpora", nargs="+", default=list(CORPORA), choices=list(CORPORA))
    parser.add_argument(
        "--models",
        nargs="+",
        default=None,
        help=f"{', '.join(BASELINES)}, recipe names and/or {', '.join(FUSIONS)} (default: all)",
    )
    parser.add_argument("--no-resume", action="store_true", help="recompute finished folds")
    parser.add_argument(
        "--collect-only", action="store_true", help="only rebuild the tables from finished runs"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from voxemo.errors import VoxemoError

    if not args.collect_only:
        known = [*BASELINES, *recipe_names(), *FUSIONS]  # fusions last: their members run first
        models = args.models or known
        unknown = sorted(set(models) - set(known))
        if unknown:
            print(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(known)}")
            return 2
        missing = [c for c in args.corpora if not (DATASETS / c).is_dir()]
        if missing:
            print(f"corpora {', '.join(missing)} not found under {DATASETS} (set VOXEMO_DATASETS)")
            return 2
        for corpus in args.corpora:
            for model in models:
                try:
                    results = run_one(corpus, model, resume=not args.no_resume)
                except VoxemoError as exc:
                    print(f"!! {corpus} / {model} failed: {exc}", flush=True)
                    continue
                print(f"== {corpus} / {model}: UA {results['ua']:.3f} WA {results['wa']:.3f}", flush=True)
    publish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
