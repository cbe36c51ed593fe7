"""Commands that use a trained model: ``predict``, ``timeline`` and ``export-onnx``."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from voxemo.cli.app import app, console, err_console
from voxemo.cli.audio_cmds import expand_audio_paths
from voxemo.errors import ConfigError, VoxemoError

MODEL_HELP = "Bundled model name (default, fast, accurate), a bundle folder, or an exported .onnx file."
BACKEND_HELP = "Inference backend: torch, or onnx (onnxruntime; bundles are exported once and cached)."
#: Threads for the model (torch, or onnxruntime intra-op). One: the decoding threads (--jobs) already
#: use the other core, and on a 2-core machine shared with other jobs 2 torch threads made predict
#: 5-10x slower and 2 onnxruntime threads 1.5x slower (benchmarks/speed.py --threads 1 2). Raise it
#: on machines with many idle cores, above all for the large `accurate` model.
DEFAULT_THREADS = 1


@contextlib.contextmanager
def fallback_notes() -> Iterator[None]:
    """While the block runs, a :class:`~voxemo.inference.DefaultModelFallback` warning (the bundled
    default could not run, the fast model stands in) is printed at once as one plain stderr line
    instead of Python's warning format; other warnings are shown as usual."""
    from rich.markup import escape

    from voxemo.inference import DefaultModelFallback

    with warnings.catch_warnings():  # restores showwarning and the filters afterwards
        show_other = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
            if issubclass(category, DefaultModelFallback):
                # escape: "voxemo[whisper]" is not a rich style tag.
                err_console.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False)
            else:
                show_other(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        warnings.simplefilter("always", DefaultModelFallback)
        yield


def set_inference_threads(threads: int, backend: str) -> None:
    """Threads for the model: torch's intra-op pool, or onnxruntime sessions opened from now on."""
    if threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {threads}")
    if backend == "onnx":
        from voxemo.export.runtime import set_default_threads

        set_default_threads(threads)
    else:
        import torch

        torch.set_num_threads(threads)


def read_path_list(stream: io.TextIOBase) -> list[Path]:
    """Paths from a text stream, one per line; blank lines and '#' comments are skipped."""
    return [Path(line.strip()) for line in stream if line.strip() and not line.lstrip().startswith("#")]


def gather_inputs(arguments: list[str]) -> list[Path]:
    """Files as given, folders searched recursively, ``-`` replaced by the paths listed on stdin."""
    paths: list[Path] = []
    for argument in arguments:
        if argument == "-":
            paths.extend(read_path_list(sys.stdin))
        else:
            paths.append(Path(argument))
    if not paths:
        raise ConfigError("no input paths: give files or folders, or '-' with paths on stdin")
    # Missing files stay in the list: each is reported on its own line instead of stopping the run.
    return expand_audio_paths(paths)


def _output_format(as_json: bool, as_csv: bool) -> str:
    if as_json and as_csv:
        raise typer.BadParameter("choose one of --json and --csv")
    return "json" if as_json else "csv" if as_csv else "table"


def _progress(total: int, enabled: bool) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=not enabled or total < 2,
    )


def _csv_line(values: list[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(values)
    return buffer.getvalue()


@app.command("predict")
def predict_command(
    inputs: list[str] = typer.Argument(
        ..., help="Audio files, folders (recursive), or - to read paths from stdin."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="One JSON object per line (path, emotion, scores, ...)."
    ),
    as_csv: bool = typer.Option(False, "--csv", help="CSV with a column per emotion."),
    model: str | None = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    backend: str = typer.Option("torch", "--backend", help=BACKEND_HELP),
    threshold: float | None = typer.Option(
        None,
        "--threshold",
        help=(
            "Confidence (0-1: the calibrated top probability) below which a prediction is marked "
            "uncertain; its emotion is still reported. Default: the model's own threshold (0 = never)."
        ),
    ),
    jobs: int | None = typer.Option(None, "--jobs", "-j", help="Decoding threads (default 4)."),
    batch_size: int = typer.Option(16, "--batch-size", help="Clips per forward pass."),
    threads: int = typer.Option(
        DEFAULT_THREADS,
        "--threads",
        help="Threads for the model (torch, or onnxruntime intra-op); decoding uses --jobs threads.",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr."),
) -> None:
    """Recognise the emotion in each recording: top emotion, a probability per emotion, confidence.

    Exit code 0 when every file was scored, 1 when any file failed (each failure has its own line).
    """
    from voxemo.inference import Prediction, load_model

    fmt = _output_format(as_json, as_csv)
    files = gather_inputs(inputs)
    set_inference_threads(threads, backend)
    with fallback_notes():
        recognizer = load_model(
            model, backend=backend, uncertainty_threshold=threshold, workers=jobs, batch_size=batch_size
        )
    labels = recognizer.labels
    if fmt == "csv":
        typer.echo(_csv_line(["path", "emotion", "confidence", "uncertain", *labels, "error"]))
    rows: list[tuple[str, Prediction | VoxemoError]] = []
    failed = 0
    with _progress(len(files), progress) as bar:
        task = bar.add_task("predicting", total=len(files))
        for path, result in zip(files, recognizer.iter_predict(files), strict=True):
            failed += not isinstance(result, Prediction)
            if fmt == "json":
                typer.echo(json.dumps(_json_record(path, result)))
            elif fmt == "csv":
                typer.echo(_csv_line(_csv_record(path, result, labels)))
            else:
                rows.append((str(path), result))
            bar.advance(task)
    if fmt == "table":
        console.print(_prediction_table(rows, labels, recognizer.info.source))
    if failed:
        err_console.print(f"{failed} of {len(files)} file(s) could not be scored", highlight=False)
        raise typer.Exit(1)


def _json_record(path: Path, result: object) -> dict:
    from voxemo.inference import Prediction

    if isinstance(result, Prediction):
        return {**result.to_dict(), "path": str(path)}
    return {"path": str(path), "error": str(result)}


def _csv_record(path: Path, result: object, labels: list[str]) -> list[object]:
    from voxemo.inference import Prediction

    if isinstance(result, Prediction):
        scores = [f"{result.scores[label]:.6f}" for label in labels]
        return [str(path), result.emotion, f"{result.confidence:.6f}", result.uncertain, *scores, ""]
    return [str(path), "", "", "", *([""] * len(labels)), str(result)]


def _prediction_table(rows: list[tuple[str, object]], labels: list[str], source: str) -> Table:
    from voxemo.inference import Prediction

    table = Table(title=f"Emotion per file (model: {source})")
    table.add_column("file", overflow="fold")
    table.add_column("emotion", style="bold")
    table.add_column("confidence", justify="right")
    for label in labels:
        table.add_column(label, justify="right")
    for path, result in rows:
        if isinstance(result, Prediction):
            emotion = result.emotion + (" [dim](uncertain)[/]" if result.uncertain else "")
            scores = [f"{result.scores[label]:.2f}" for label in labels]
            table.add_row(path, emotion, f"{result.confidence:.0%}", *scores)
        else:
            table.add_row(f"{path}\n[red]{result}[/]", "[red]error[/]", "", *([""] * len(labels)))
    return table


@app.command("timeline")
def timeline_command(
    path: Path = typer.Argument(
        ..., help="A recording of any length (decoded in blocks: memory stays flat)."
    ),
    window: float = typer.Option(2.0, "--window", help="Curve window length in seconds."),
    hop: float = typer.Option(1.0, "--hop", help="Seconds between curve windows."),
    smooth: int = typer.Option(5, "--smooth", help="Moving-average width of the curve, in windows."),
    as_json: bool = typer.Option(False, "--json", help="Segments, curve and summary as one JSON object."),
    as_csv: bool = typer.Option(False, "--csv", help="Segments as CSV (start, end, emotion, scores)."),
    plot: Path | None = typer.Option(None, "--plot", help="Write a chart of the curve (.png, .svg or .pdf)."),
    model: str | None = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    backend: str = typer.Option("torch", "--backend", help=BACKEND_HELP),
) -> None:
    """Emotion over time in a long recording: speech segments with scores and a smoothed curve."""
    from voxemo.inference import load_model

    fmt = _output_format(as_json, as_csv)
    with fallback_notes():
        recognizer = load_model(model, backend=backend)
    timeline = recognizer.timeline(path, window=window, hop=hop, smooth=smooth)
    if plot is not None:
        timeline.plot(plot)
        err_console.print(f"wrote plot to {plot}", highlight=False)
    if fmt == "json":
        typer.echo(json.dumps(timeline.to_dict()))
    elif fmt == "csv":
        typer.echo(timeline.segments_frame().to_csv(index=False), nl=False)
    else:
        console.print(_segments_table(timeline))


def _segments_table(timeline) -> Table:  # type: ignore[no-untyped-def]
    summary = timeline.summary
    overall = summary.get("emotion") or "no speech"
    table = Table(
        title=f"{timeline.path}: {timeline.duration:.1f} s, {summary['segments']} speech segment(s), "
        f"{summary['speech_ratio']:.0%} speech, overall: {overall}"
    )
    for column in ("start", "end", "emotion", "confidence", *timeline.labels):
        table.add_column(column, justify="left" if column == "emotion" else "right")
    for seg in timeline.segments:
        emotion = seg.emotion + (" [dim](uncertain)[/]" if seg.uncertain else "")
        scores = [f"{seg.scores[label]:.2f}" for label in timeline.labels]
        table.add_row(f"{seg.start:.2f}", f"{seg.end:.2f}", emotion, f"{seg.confidence:.0%}", *scores)
    return table


def _exportable_default() -> str | None:
    """None (the bundled default) when it can become an ONNX graph; else the fast model, with a note.

    A default on Whisper encoder frames has no ONNX form (the encoder runs in CTranslate2); exporting
    the spectrogram model a user can deploy beats an error about the one they did not name.
    """
    from voxemo.inference.bundles import FALLBACK_MODEL, bundle_input_kind, resolve_model

    if bundle_input_kind(resolve_model(None)) != "frames":
        return None
    err_console.print(
        "note: the default model runs on Whisper encoder frames, which cannot become one ONNX graph; "
        f"exporting the {FALLBACK_MODEL} model instead (choose another with --model)",
        highlight=False,
    )
    return FALLBACK_MODEL


@app.command("export-onnx")
def export_onnx_command(
    out: Path = typer.Option(..., "--out", "-o", help="Output .onnx file."),
    model: str | None = typer.Option(None, "--model", "-m", help="Bundled model name or a bundle folder."),
    exporter: str = typer.Option("torchscript", "--exporter", help="torchscript (default) or dynamo."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset version."),
    lengths: bool = typer.Option(
        True,
        "--lengths/--no-lengths",
        help="Take a lengths input (batches of unequal clips) or waveform only.",
    ),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Check onnxruntime against torch."),
) -> None:
    """Export a model to one ONNX graph: raw 16 kHz waveform in, emotion probabilities out."""
    from voxemo.export import export_onnx
    from voxemo.inference import load_model

    model = model or _exportable_default()
    written = export_onnx(model, out, exporter=exporter, opset=opset, with_lengths=lengths, verify=verify)
    labels = load_model(written, backend="onnx").labels
    inputs = (
        "waveform (batch, samples) float32 + lengths (batch,) int64" if lengths else "waveform (1, samples)"
    )
    console.print(
        f"wrote {written} ({written.stat().st_size / 1e6:.1f} MB): {inputs} at 16 kHz -> "
        f"probabilities over {', '.join(labels)}" + ("; verified against torch" if verify else ""),
        highlight=False,
    )
