"""Commands that train and evaluate models."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from voxemo.cli.app import app, console


def _parse_roots(values: list[str]) -> dict[str, str]:
    """``NAME=DIR`` pairs -> {name: dir}."""
    from voxemo.errors import ConfigError

    roots: dict[str, str] = {}
    for value in values:
        name, sep, root = value.partition("=")
        if not sep or not name or not root:
            raise ConfigError(f"--root expects NAME=DIR (e.g. emodb=../shared/datasets/emodb), got {value!r}")
        roots[name.strip().lower()] = root.strip()
    return roots


def _print_privacy(bundle: Path) -> None:
    """The privacy a DP run actually spent, as the bundle records it."""
    from voxemo.training.checkpoint import read_bundle_config

    spent = read_bundle_config(bundle).metadata.get("privacy")
    if spent:
        console.print(
            f"differential privacy: epsilon spent [bold]{spent['epsilon']:.2f}[/] "
            f"(target {spent['target_epsilon']:g}) at delta {spent['delta']:g}; noise multiplier "
            f"{spent['noise_multiplier']:.3f}, clip norm {spent['max_grad_norm']:g}, {spent['steps']} steps"
        )


@app.command("train")
def train_command(
    config: Path = typer.Option(..., "--config", "-c", help="Training recipe (YAML), e.g. recipes/cnn.yaml."),
    overrides: list[str] = typer.Argument(None, help="Config overrides like optim.lr=0.001 epochs=20."),
    root: list[str] = typer.Option(
        [], "--root", help="Corpus folder as NAME=DIR (repeatable); overrides the recipe."
    ),
    out: Path | None = typer.Option(None, "--out", help="Run folder (default: the recipe's out_dir)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from OUT/last/."),
    dp_epsilon: float | None = typer.Option(
        None, "--dp-epsilon", help="Train with DP-SGD (differential privacy) at this epsilon; voxemo[dp]."
    ),
    dp_delta: float | None = typer.Option(
        None, "--dp-delta", help="Delta of the DP guarantee (default 1e-5; keep it below 1/training clips)."
    ),
) -> None:
    """Train one model on the recipe's corpora; validation speakers are carved from the training speakers."""
    from voxemo.evaluation.heldout import evaluate_heldout
    from voxemo.training.cli_train import (
        load_train_config,
        load_training_table,
        split_test_speakers,
        train_from_config,
    )
    from voxemo.training.privacy import with_privacy

    roots = _parse_roots(root)
    recipe = with_privacy(load_train_config(config, overrides or []), dp_epsilon, dp_delta)
    bundle = train_from_config(recipe, [], roots, out_dir=out, resume=resume)
    console.print(f"model bundle written to [bold]{bundle}[/]")
    _print_privacy(bundle)
    if recipe.data.test_speakers:
        _, held = split_test_speakers(load_training_table(recipe, roots), recipe.data.test_speakers)
        scores = evaluate_heldout(bundle, held)
        console.print(
            f"held-out speakers ({len(scores['speakers'])}, {scores['n']} clips): UA {scores['ua']:.3f}, "
            f"WA {scores['wa']:.3f}, macro-F1 {scores['macro_f1']:.3f}; per corpus UA "
            + ", ".join(f"{k} {v:.3f}" for k, v in scores["per_corpus"].items())
        )


@app.command("evaluate")
def evaluate_command(
    out: Path = typer.Option(
        ..., "--out", help="Output folder for results.json, plots and per-fold predictions."
    ),
    corpus: str | None = typer.Option(
        None, "--corpus", help="Within-corpus cross-validation of this corpus (see `voxemo corpora`)."
    ),
    root: list[str] = typer.Option(
        [],
        "--root",
        help="Corpus folder. With --corpus: DIR. Cross-corpus: NAME=DIR (repeatable) and/or one "
        "parent DIR holding a folder per corpus.",
    ),
    train_corpora: str | None = typer.Option(
        None, "--train-corpora", help="Cross-corpus: train on these corpora, e.g. emodb,ravdess,casia."
    ),
    test_corpus: str | None = typer.Option(
        None, "--test-corpus", help="Cross-corpus: the held-out corpus (never seen in training)."
    ),
    classes: str | None = typer.Option(
        None, "--classes", help="Cross-corpus classes, e.g. angry,sad (default: those all corpora share)."
    ),
    normalisation: str = typer.Option(
        "global",
        "--normalisation",
        help="Cross-corpus feature normalisation: global | corpus | speaker (the latter two standardise "
        "the test corpus with statistics of its unlabelled audio).",
    ),
    protocol: str = typer.Option(
        "standard", "--protocol", help="standard (the corpus's benchmark protocol) | loso | speaker-folds."
    ),
    folds: int | None = typer.Option(
        None, "--folds", help="Number of speaker folds for --protocol speaker-folds."
    ),
    config: Path | None = typer.Option(None, "--config", "-c", help="Training recipe (YAML)."),
    override: list[str] = typer.Option(
        [], "--override", help="Recipe override KEY=VALUE, e.g. epochs=20 (repeatable)."
    ),
    baseline: bool = typer.Option(False, "--baseline", help="Evaluate the eGeMAPS + SVM baseline instead."),
    dp_epsilon: float | None = typer.Option(
        None, "--dp-epsilon", help="Train with differential privacy at this epsilon (neural recipes)."
    ),
    dp_delta: float | None = typer.Option(None, "--dp-delta", help="Differential-privacy delta."),
    no_resume: bool = typer.Option(False, "--no-resume", help="Recompute runs/folds that already finished."),
) -> None:
    """Speaker-independent CV of one corpus, or leave-one-corpus-out: UA/WA/macro-F1 and plots in OUT.

    voxemo evaluate --corpus emodb --root DIR --config R.yaml --out OUT
    voxemo evaluate --train-corpora emodb,ravdess,casia --test-corpus emovo --root PARENT --baseline --out OUT
    """
    from voxemo.errors import ConfigError

    if config is None and not baseline:
        raise ConfigError("give a recipe with --config FILE.yaml, or --baseline for eGeMAPS + SVM")
    cross = train_corpora is not None or test_corpus is not None
    if cross and corpus is not None:
        raise ConfigError("use either --corpus (within-corpus CV) or --train-corpora/--test-corpus, not both")
    if not cross and corpus is None:
        raise ConfigError(
            "say what to evaluate: --corpus NAME --root DIR (within-corpus CV), or "
            "--train-corpora A,B --test-corpus C --root NAME=DIR ... (leave-one-corpus-out)"
        )
    recipe = _evaluation_recipe(config, override, baseline, dp_epsilon, dp_delta)
    if cross:
        results = _evaluate_cross_corpus(
            train_corpora, test_corpus, root, out, recipe, baseline, classes, normalisation, not no_resume
        )
        name = results["protocol"]["name"]
    else:
        results = _evaluate_within_corpus(corpus, root, out, protocol, folds, config, recipe, not no_resume)
        name = f"{corpus} {results['protocol'].get('name', protocol)}"
    summary = {key: results[key] for key in ("ua", "wa", "macro_f1")}
    console.print(f"[bold]{name}[/]: " + json.dumps(summary))
    console.print(f"results and confusion matrix in [bold]{out}[/]")


def _evaluation_recipe(
    config: Path | None,
    overrides: list[str],
    baseline: bool,
    dp_epsilon: float | None,
    dp_delta: float | None,
):
    """The recipe to evaluate (TrainConfig, overrides and privacy applied), a BaselineConfig, or None."""
    from voxemo.errors import ConfigError

    private = dp_epsilon is not None or dp_delta is not None
    if baseline:
        if private or overrides:
            raise ConfigError("--dp-epsilon/--dp-delta and --override apply to neural recipes only")
        from voxemo.evaluation.baseline import BaselineConfig

        return BaselineConfig.load(config) if config is not None else None
    from voxemo.training.cli_train import load_train_config

    recipe = load_train_config(config, overrides)
    if private:
        from voxemo.training.privacy import with_privacy  # lazy: only evaluations that ask for DP

        recipe = with_privacy(recipe, dp_epsilon, dp_delta)
    return recipe


def _evaluate_within_corpus(corpus, roots, out, protocol, folds, config_path, recipe, resume) -> dict:
    """Today's speaker-independent cross-validation of one corpus (``recipe`` None or a BaselineConfig:
    the SVM baseline)."""
    from voxemo.corpora import load_corpus
    from voxemo.errors import ConfigError
    from voxemo.evaluation import crossval
    from voxemo.training import TrainConfig

    if len(roots) != 1:
        raise ConfigError(f"--corpus {corpus} needs one --root DIR (the corpus folder), got {len(roots)}")
    name, sep, folder = roots[0].partition("=")
    root = folder if sep and name.strip().lower() == corpus.lower() else roots[0]
    if not isinstance(recipe, TrainConfig):
        return crossval.evaluate_command(
            corpus,
            root,
            out,
            protocol=protocol,
            folds=folds,
            config=config_path,
            baseline=True,
            resume=resume,
        )
    if protocol not in crossval.PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; use one of {', '.join(crossval.PROTOCOLS)}")
    table = load_corpus(corpus, root)
    split = crossval.make_folds(table, corpus, protocol, folds)
    label = crossval.protocol_label(corpus, protocol, split)
    return crossval.cross_validate(table, split, recipe, out, resume=resume, protocol_name=label)


def _evaluate_cross_corpus(train, test, roots, out, recipe, baseline, classes, normalisation, resume) -> dict:
    """Leave-one-corpus-out: load the corpora, then ``voxemo.evaluation.cross_corpus``."""
    from voxemo.errors import ConfigError
    from voxemo.evaluation import cross_corpus

    train_names = cross_corpus.split_names(train or "")
    test_names = cross_corpus.split_names(test or "")
    if len(test_names) != 1:
        raise ConfigError("give exactly one held-out corpus with --test-corpus NAME")
    cross_corpus.check_corpus_roles(train_names, test_names[0])
    names = [*train_names, test_names[0]]
    tables = cross_corpus.load_corpora(names, cross_corpus.resolve_roots(roots, names))
    return cross_corpus.evaluate_cross_corpus(
        tables,
        train_names,
        test_names[0],
        out,
        config=recipe,
        baseline=baseline,
        classes=cross_corpus.split_names(classes) if classes else None,
        normalisation=normalisation,
        resume=resume,
    )


@app.command("ensemble")
def ensemble_command(
    members: list[Path] = typer.Argument(..., help="Two or more trained bundle folders (same emotions)."),
    out: Path = typer.Option(..., "--out", "-o", help="New folder for the ensemble (members are copied in)."),
    weights: str | None = typer.Option(
        None, "--weights", help="Comma-separated weight per member (default: equal)."
    ),
) -> None:
    """Combine trained models into one that averages their calibrated probabilities."""
    from voxemo.errors import ConfigError
    from voxemo.inference.ensemble import write_ensemble

    values = None
    if weights is not None:
        try:
            values = [float(w) for w in weights.split(",")]
        except ValueError:
            raise ConfigError(f"--weights expects numbers separated by commas, got {weights!r}") from None
    written = write_ensemble(members, out, values)
    console.print(
        f"wrote ensemble {written} of {len(members)} models; use it with `voxemo predict --model {written}`"
    )
