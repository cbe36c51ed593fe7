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


@app.command("train")
def train_command(
    config: Path = typer.Option(..., "--config", "-c", help="Training recipe (YAML), e.g. recipes/cnn.yaml."),
    overrides: list[str] = typer.Argument(None, help="Config overrides like optim.lr=0.001 epochs=20."),
    root: list[str] = typer.Option(
        [], "--root", help="Corpus folder as NAME=DIR (repeatable); overrides the recipe."
    ),
    out: Path | None = typer.Option(None, "--out", help="Run folder (default: the recipe's out_dir)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from OUT/last/."),
) -> None:
    """Train one model on the recipe's corpora; validation speakers are carved from the training speakers."""
    from voxemo.evaluation.heldout import evaluate_heldout
    from voxemo.training.cli_train import (
        load_train_config,
        load_training_table,
        split_test_speakers,
        train_from_config,
    )

    roots = _parse_roots(root)
    bundle = train_from_config(config, overrides or [], roots, out_dir=out, resume=resume)
    console.print(f"model bundle written to [bold]{bundle}[/]")
    recipe = load_train_config(config, overrides or [])
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
    corpus: str = typer.Option(..., "--corpus", help="Corpus name (see `voxemo corpora`)."),
    root: Path = typer.Option(..., "--root", help="Folder holding the corpus in its original layout."),
    out: Path = typer.Option(
        ..., "--out", help="Output folder for results.json, plots and per-fold predictions."
    ),
    protocol: str = typer.Option(
        "standard", "--protocol", help="standard (the corpus's benchmark protocol) | loso | speaker-folds."
    ),
    folds: int | None = typer.Option(
        None, "--folds", help="Number of speaker folds for --protocol speaker-folds."
    ),
    config: Path | None = typer.Option(None, "--config", "-c", help="Training recipe (YAML)."),
    baseline: bool = typer.Option(False, "--baseline", help="Evaluate the eGeMAPS + SVM baseline instead."),
    no_resume: bool = typer.Option(False, "--no-resume", help="Recompute folds that already finished."),
) -> None:
    """Speaker-independent cross-validation: UA/WA/macro-F1, confusion matrix and curves in OUT."""
    from voxemo.errors import ConfigError
    from voxemo.evaluation.crossval import evaluate_command as run

    if config is None and not baseline:
        raise ConfigError("give a recipe with --config FILE.yaml, or --baseline for eGeMAPS + SVM")
    results = run(
        corpus,
        root,
        out,
        protocol=protocol,
        folds=folds,
        config=config,
        baseline=baseline,
        resume=not no_resume,
    )
    summary = {key: results[key] for key in ("ua", "wa", "macro_f1")}
    console.print(f"[bold]{corpus}[/] {results['protocol'].get('name', protocol)}: " + json.dumps(summary))
    console.print(f"results, confusion matrix and curves in [bold]{out}[/]")
