"""``voxemo explain``: why the model heard an emotion (attribution picture, regions or cues)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from voxemo.cli.app import app, console, err_console
from voxemo.cli.predict_cmds import MODEL_HELP

METHOD_HELP = (
    "integrated-gradients (exact sums) or occlusion (removes patches, model-agnostic). Default: "
    "integrated-gradients; occlusion over time for heads on frame embeddings (e.g. Whisper frames)."
)


@app.command("explain")
def explain_command(
    path: Path = typer.Argument(..., help="One recording (one utterance, up to 30 s)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the picture here (.png, .svg or .pdf)."),
    as_json: bool = typer.Option(False, "--json", help="Print the explanation as one JSON object."),
    full: bool = typer.Option(
        False, "--full", help="With --json: include the arrays (log-mel, attribution map, axes)."
    ),
    model: str | None = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    method: str | None = typer.Option(None, "--method", help=METHOD_HELP),
    target: str | None = typer.Option(
        None, "--target", "-t", help="Emotion to explain (default: the predicted one)."
    ),
) -> None:
    """Explain a prediction: which time-frequency regions (spectrogram models), stretches of time
    (heads on frame embeddings) or acoustic cues (feature models) pushed the model towards the
    emotion. Needs the torch backend."""
    from voxemo.cli.predict_cmds import fallback_notes
    from voxemo.inference import load_model

    with fallback_notes():
        recognizer = load_model(model)
    # None lets each model kind use its own default method.
    explanation = recognizer.explain(path, target=target, method=method)  # type: ignore[arg-type]
    if out is not None:
        explanation.plot(out)
        err_console.print(f"wrote picture to {out}", highlight=False)
    if as_json:
        typer.echo(json.dumps(explanation.to_dict(full=full)))
    else:
        console.print(_headline(explanation), highlight=False)
        console.print(_summary_table(explanation))


def _headline(explanation) -> str:  # type: ignore[no-untyped-def]
    heard = f"{explanation.path}: [bold]{explanation.emotion}[/] ({explanation.confidence:.0%})"
    if explanation.target != explanation.emotion:
        heard += f", explaining [bold]{explanation.target}[/] ({explanation.target_score:.0%})"
    return heard


def _summary_table(explanation) -> Table:  # type: ignore[no-untyped-def]
    if explanation.kind == "frames":
        return _time_table(explanation)
    if explanation.kind == "spectrogram":
        table = Table(title=f"regions that drove it ({explanation.method})")
        for column in ("#", "time (s)", "frequency (Hz)", "share", "if removed", "pushes towards"):
            table.add_column(column, justify="right" if column != "pushes towards" else "left")
        for region in explanation.regions:
            table.add_row(
                str(region.rank),
                f"{region.start_s:.2f}-{region.end_s:.2f}",
                f"{region.low_hz:,.0f}-{region.high_hz:,.0f}",
                f"{region.weight:.0%}",
                f"{explanation.target} {-region.effect:+.1%}",
                region.pushes_towards,
            )
        return table
    table = Table(title=f"acoustic cues that drove it ({explanation.method})")
    for column in ("cue", "effect", "contribution", "strongest feature (z vs training)"):
        table.add_column(column, justify="right" if column == "contribution" else "left")
    for cue in explanation.cues:
        top = cue.features[0] if cue.features else None
        feature = f"{top['name']} ({top['z']:+.1f} sd)" if top else ""
        table.add_row(cue.name, f"{cue.direction} {explanation.target}", f"{cue.attribution:+.3f}", feature)
    return table


def _time_table(explanation) -> Table:  # type: ignore[no-untyped-def]
    """Frames models: the stretches of the recording (all frequencies) that drove the decision."""
    table = Table(title=f"stretches of the recording that drove it ({explanation.method})")
    for column in ("#", "time (s)", "share", "if removed", "pushes towards"):
        table.add_column(column, justify="right" if column != "pushes towards" else "left")
    for region in explanation.regions:
        table.add_row(
            str(region.rank),
            f"{region.start_s:.2f}-{region.end_s:.2f}",
            f"{region.weight:.0%}",
            f"{explanation.target} {-region.effect:+.1%}",
            region.pushes_towards,
        )
    return table
