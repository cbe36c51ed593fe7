"""Cross-corpus benchmark: each shared corpus held out in turn, the model trained on the other three.

    python benchmarks/cross_corpus.py --models baseline baseline-corpusnorm      # minutes (cached eGeMAPS)
    python benchmarks/cross_corpus.py --models cnn cnn-robust --test-corpora emovo
    python benchmarks/cross_corpus.py --models mlp-egemaps --override epochs=60
    python benchmarks/cross_corpus.py --collect-only                             # rebuild the tables

Classes are the emotions all four corpora share (angry, fear, happy, neutral, sad); validation
speakers for early stopping and calibration come from every training corpus; the held-out corpus
is only predicted. Models are the variants in :data:`VARIANTS` (a recipe plus overrides and a
feature normalisation) or any ``recipes/<name>.yaml``. Runs live in
``benchmarks/runs/cross_corpus/<model>/<test corpus>/`` (gitignored) and are reused when
finished; the collected numbers go to ``benchmarks/results/cross_corpus.json`` and a markdown
table into README.md between ``<!-- cross-corpus-table:start -->`` and
``<!-- cross-corpus-table:end -->`` (and ``benchmarks/results/cross_corpus.md``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("VOXEMO_DATASETS", REPO.parent / "shared" / "datasets"))
RUNS = REPO / "benchmarks" / "runs" / "cross_corpus"
RESULTS = REPO / "benchmarks" / "results"
RECIPES = REPO / "recipes"
README = REPO / "README.md"
START, END = "<!-- cross-corpus-table:start -->", "<!-- cross-corpus-table:end -->"
CORPORA = ("emodb", "ravdess", "casia", "emovo")
BASELINE = "baseline"
#: Waveform recipes on three corpora are long on 2 shared cores: cap the epochs, keep early stopping.
#: (Feature-vector recipes such as mlp-egemaps take seconds per epoch and keep their own schedule.)
NEURAL_OVERRIDES = ("epochs=25", "min_epochs=8", "patience=6")


@dataclasses.dataclass(frozen=True)
class Variant:
    """One row of the table: the SVM baseline or a recipe, with overrides and a normalisation."""

    name: str
    recipe: str | None  # None: the eGeMAPS + SVM baseline
    normalisation: str = "global"
    overrides: tuple[str, ...] = ()
    description: str = ""


VARIANTS = {
    v.name: v
    for v in (
        Variant("baseline", None, description="eGeMAPS + RBF-SVM, scaler fitted on the training corpora"),
        Variant(
            "baseline-corpusnorm",
            None,
            "corpus",
            description="eGeMAPS + RBF-SVM, every corpus standardised with its own statistics "
            "(test corpus: its unlabelled audio)",
        ),
        Variant(
            "baseline-speakernorm",
            None,
            "speaker",
            description="eGeMAPS + RBF-SVM, every speaker standardised with the statistics of their own "
            "clips (test speakers: unlabelled audio; needs to know which clips share a speaker)",
        ),
        Variant("mlp-egemaps", "mlp-egemaps", description="MLP on eGeMAPS"),
        Variant(
            "mlp-egemaps-robust",
            "mlp-egemaps",
            "corpus",
            ("balance=corpus",),
            description="MLP on eGeMAPS + corpus-balanced batches + per-corpus standardisation",
        ),
        Variant(
            "mlp-functionals",
            "mlp-functionals",
            description="MLP on the 1346-value `combined` functionals set",
        ),
        Variant(
            "mlp-functionals-robust",
            "mlp-functionals",
            "corpus",
            ("balance=corpus",),
            description="MLP on the functionals set + corpus-balanced batches + per-corpus standardisation",
        ),
        Variant("cnn", "cnn", description="CNN on log-mel"),
        Variant(
            "cnn-robust",
            "cnn",
            overrides=(
                "balance=corpus",
                "model.frontend.utterance_norm=mean",
                "augment.gain_db=[-12.0,12.0]",
                "augment.gain_prob=0.8",
            ),
            description="CNN + corpus-balanced batches + per-recording log-mel mean normalisation "
            "+ wider gain augmentation",
        ),
        Variant("fast", "fast", description="the bundled `fast` CNN's recipe (strided stem, 16 ms hop)"),
        Variant(
            "fast-robust",
            "fast",
            overrides=(
                "balance=corpus",
                "model.frontend.utterance_norm=mean",
                "augment.gain_db=[-12.0,12.0]",
                "augment.gain_prob=0.8",
            ),
            description="fast CNN + corpus-balanced batches + per-recording log-mel mean normalisation "
            "+ wider gain augmentation",
        ),
        Variant(
            "accurate",
            "accurate",
            description="the bundled `accurate` model's recipe (attention head on Whisper tiny.en frames)",
        ),
        Variant("whisper-mlp", "whisper-mlp", description="MLP head on Whisper encoder states"),
        Variant(
            "whisper-mlp-robust",
            "whisper-mlp",
            overrides=("balance=corpus", "model.params.frame_norm=mean"),
            description="Whisper MLP head + corpus-balanced batches + per-recording frame normalisation",
        ),
        Variant(
            "whisper-attn", "whisper-attn", description="attention-pooling head on Whisper encoder states"
        ),
        Variant(
            "whisper-attn-balanced",
            "whisper-attn",
            overrides=("balance=corpus",),
            description="Whisper attention head + corpus-balanced batches",
        ),
        Variant(
            "whisper-attn-robust",
            "whisper-attn",
            overrides=("balance=corpus", "model.params.frame_norm=mean"),
            description="Whisper attention head + corpus-balanced batches + per-recording frame norm",
        ),
    )
}
DEFAULT_MODELS = [
    "baseline",
    "baseline-corpusnorm",
    "baseline-speakernorm",
    "mlp-egemaps",
    "cnn",
    "cnn-robust",
]


def known_variants() -> dict[str, Variant]:
    """The variants whose recipe exists, plus every recipe in recipes/ under its own name."""
    recipes = {p.stem for p in RECIPES.glob("*.yaml")} if RECIPES.is_dir() else set()
    variants = {n: v for n, v in VARIANTS.items() if v.recipe is None or v.recipe in recipes}
    for name in sorted(recipes - set(variants)):
        variants[name] = Variant(name, name, description=f"recipe {name}")
    return variants


def run_one(variant: Variant, test: str, tables: dict[str, Any], extra: list[str], resume: bool) -> dict:
    """One held-out corpus for one variant; returns its results.json dict."""
    from voxemo.evaluation.cross_corpus import evaluate_cross_corpus

    train = [c for c in CORPORA if c != test]
    out = RUNS / variant.name / test
    if variant.recipe is None:
        return evaluate_cross_corpus(
            tables,
            train,
            test,
            out,
            baseline=True,
            normalisation=variant.normalisation,
            resume=resume,
            model_name=variant.name,
        )
    from voxemo.models import model_input_kind
    from voxemo.training.cli_train import load_train_config

    recipe = RECIPES / f"{variant.recipe}.yaml"
    capped = model_input_kind(load_train_config(recipe).model) == "waveform"
    overrides = [*(NEURAL_OVERRIDES if capped else ()), "tensorboard=false", *variant.overrides, *extra]
    config = load_train_config(recipe, overrides)
    return evaluate_cross_corpus(
        tables,
        train,
        test,
        out,
        config=config,
        normalisation=variant.normalisation,
        resume=resume,
        model_name=variant.name,
    )


def collect(variants: dict[str, Variant]) -> dict[str, Any]:
    """Every finished run under benchmarks/runs/cross_corpus as one summary dict."""
    from voxemo import __version__
    from voxemo.evaluation.report import load_results, machine_description

    rows = []
    for path in sorted(RUNS.glob("*/*/results.json")):
        results = load_results(path)
        protocol = results["protocol"]
        variant = variants.get(path.parent.parent.name)
        rows.append(
            {
                "model": path.parent.parent.name,
                "description": variant.description if variant else results["model"].get("description", ""),
                "test_corpus": protocol.get("test_corpus", path.parent.name),
                "train_corpora": protocol.get("train_corpora"),
                "classes": protocol["classes"],
                "normalisation": protocol.get("feature_normalisation"),
                "uses_unlabelled_test_audio": protocol.get("uses_unlabelled_test_audio"),
                "n_test": results["n"],
                "ua": results["ua"],
                "wa": results["wa"],
                "macro_f1": results["macro_f1"],
                "per_class_recall": results.get("per_class_recall"),
                "ece": results.get("ece"),
                "ece_calibrated": results.get("ece_calibrated"),
                "run_time_s": results["run_time_s"],
                "date": results["date"],
            }
        )
    order = {name: i for i, name in enumerate(variants)}
    rows.sort(key=lambda r: (order.get(r["model"], 99), r["model"], CORPORA.index(r["test_corpus"])))
    return {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "voxemo_version": __version__,
        "machine": machine_description(),
        "protocol": "leave one corpus out: train on the other three shared corpora, test on the held-out "
        "one; classes = the emotions all four share; validation speakers (early stopping, calibration) "
        "from every training corpus; UA = balanced accuracy over the held-out corpus",
        "runs": rows,
    }


def render_table(summary: dict[str, Any]) -> str:
    """Markdown: one row per model, one UA column per held-out corpus, and their mean."""
    by_model: dict[str, dict[str, dict[str, Any]]] = {}
    for row in summary["runs"]:
        by_model.setdefault(row["model"], {})[row["test_corpus"]] = row
    header = "| model | " + " | ".join(f"{c} held out" for c in CORPORA) + " | mean UA |"
    lines = [header, "|---|" + "---:|" * (len(CORPORA) + 1)]
    classes = sorted({c for row in summary["runs"] for c in row["classes"]})
    for model, runs in by_model.items():
        cells = [f"{runs[c]['ua']:.1%}" if c in runs else "–" for c in CORPORA]
        mean = f"{sum(r['ua'] for r in runs.values()) / len(runs):.1%}" if len(runs) == len(CORPORA) else "–"
        lines.append(f"| {model} | " + " | ".join(cells) + f" | {mean} |")
    notes = [f"- `{m}`: {next(iter(r.values()))['description']}" for m, r in by_model.items()]
    lines += [
        "",
        "Leave one corpus out: each column trains on the other three corpora and tests on the held-out one "
        f"(never seen in training, normalisation fitting or model selection, except where a row says it "
        f"standardises the test corpus with statistics of its *unlabelled* audio). Classes: "
        f"{', '.join(classes) or '–'} (the emotions all four corpora share; chance UA "
        f"{1 / max(len(classes), 1):.0%}). UA = unweighted average recall (balanced accuracy) over the "
        "held-out corpus; WA and macro-F1 are in `benchmarks/results/cross_corpus.json`. SVM C and gamma "
        "are chosen by leave-one-training-corpus-out CV; neural models stop early on validation speakers "
        f"of every training corpus; spectrogram recipes run with {', '.join(NEURAL_OVERRIDES)}. "
        "Generated by `python benchmarks/cross_corpus.py`.",
        "",
        *notes,
    ]
    return "\n".join(lines).replace("%", " %")


def publish(variants: dict[str, Variant]) -> None:
    from voxemo.io import atomic_write_text, update_marked_block

    summary = collect(variants)
    atomic_write_text(RESULTS / "cross_corpus.json", json.dumps(summary, indent=2) + "\n")
    table = render_table(summary)
    atomic_write_text(RESULTS / "cross_corpus.md", table + "\n")
    print(table)
    where = "README.md and " if update_marked_block(README, START, END, table, "Cross-corpus") else ""
    print(f"\nwrote {where}{RESULTS / 'cross_corpus.json'} ({len(summary['runs'])} runs)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--models", nargs="+", default=None, help=f"variants (default: {' '.join(DEFAULT_MODELS)})"
    )
    parser.add_argument("--test-corpora", nargs="+", default=list(CORPORA), choices=list(CORPORA))
    parser.add_argument(
        "--override", action="append", default=[], metavar="KEY=VALUE", help="recipe override (repeatable)"
    )
    parser.add_argument("--no-resume", action="store_true", help="recompute finished runs")
    parser.add_argument(
        "--collect-only", action="store_true", help="only rebuild the tables from finished runs"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    variants = known_variants()
    if not args.collect_only:
        from voxemo.errors import VoxemoError
        from voxemo.evaluation.cross_corpus import load_corpora

        models = args.models or [m for m in DEFAULT_MODELS if m in variants]
        unknown = sorted(set(models) - set(variants))
        if unknown:
            print(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(variants)}")
            return 2
        missing = [c for c in CORPORA if not (DATASETS / c).is_dir()]
        if missing:
            print(f"corpora {', '.join(missing)} not found under {DATASETS} (set VOXEMO_DATASETS)")
            return 2
        tables = load_corpora(CORPORA, {c: DATASETS / c for c in CORPORA})
        for model in models:
            for test in args.test_corpora:
                try:
                    results = run_one(variants[model], test, tables, args.override, not args.no_resume)
                except VoxemoError as exc:
                    print(f"!! {model} / {test} held out failed: {exc}", flush=True)
                    continue
                print(
                    f"== {model} / {test} held out: UA {results['ua']:.3f} WA {results['wa']:.3f}", flush=True
                )
    publish(variants)
    return 0


if __name__ == "__main__":
    sys.exit(main())
