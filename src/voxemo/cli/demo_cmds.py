"""``voxemo demo``: the main job on a few clips, offline, with no training needed.

First the emotion of each clip from the bundled default model (or ``--model``), beside the acted
emotion when the file name starts with it (``angry_actor01.flac``); then what preprocessing and
feature extraction see in the clips. Without a bundled model only the second part runs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from voxemo.cli.app import app, console
from voxemo.cli.audio_cmds import expand_audio_paths

if TYPE_CHECKING:
    from voxemo.errors import VoxemoError
    from voxemo.inference import Prediction, Recognizer

#: The example clips are RAVDESS recordings named ``<emotion>_actorNN`` (see examples/ATTRIBUTION.md).
EXAMPLE_SPEAKER = re.compile(r"actor(\d+)", re.IGNORECASE)
EXAMPLE_CORPUS = "ravdess"
TOP_K = 3
#: Metadata keys of a bundle listing its speakers, and how the demo names each group.
SPEAKER_ROLES = (("train_speakers", "training"), ("val_speakers", "validation"))


def _default_examples() -> list[Path]:
    here = Path.cwd() / "examples"
    repo = Path(__file__).resolve().parents[3] / "examples"
    return [here if here.is_dir() else repo]


@dataclass
class DemoRow:
    """One clip: its prediction (or the error it raised), acted emotion and whose voice it is."""

    path: Path
    result: Prediction | VoxemoError
    acted: str | None
    speaker: str | None
    role: str | None


def acted_emotion(path: Path) -> str | None:
    """Canonical emotion named by the start of the file name (``fearful_actor02`` -> ``fear``)."""
    from voxemo.corpora.labels import canonical_emotion

    return canonical_emotion(re.split(r"[_\-\s.]", path.stem, maxsplit=1)[0])


def example_speaker(path: Path) -> str | None:
    """``ravdess:NN`` for an example clip named ``..._actorNN``; None for other files."""
    match = EXAMPLE_SPEAKER.search(path.stem)
    return f"{EXAMPLE_CORPUS}:{int(match.group(1)):02d}" if match else None


def _bundle_file(recognizer: Recognizer, name: str) -> dict[str, Any]:
    """A JSON file of the recogniser's bundle folder ({} when absent, e.g. for an .onnx model)."""
    folder = Path(recognizer.info.source)
    path = folder / name
    if not folder.is_dir() or not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def speaker_roles(recognizer: Recognizer, heldout: dict[str, Any]) -> dict[str, str]:
    """``corpus:speaker`` -> training / validation / held out, from the bundle's own records."""
    meta = recognizer.info.metadata
    roles = {str(s): role for key, role in SPEAKER_ROLES for s in meta.get(key, [])}
    # A refit model was retrained on the validation speakers too: they are training speakers.
    roles.update({str(s): "training" for s in (meta.get("refit") or {}).get("train_speakers", [])})
    roles.update({str(s): "held out" for s in heldout.get("speakers", [])})
    # Shown in the "speaker was" column: "in training", "in validation", "held out".
    return {speaker: role if role == "held out" else f"in {role}" for speaker, role in roles.items()}


def model_summary(recognizer: Recognizer, heldout: dict[str, Any]) -> str:
    """One line: which model, trained on what, how accurate on held-out speakers."""
    config = _bundle_file(recognizer, "config.json").get("train_config", {})
    corpora = [entry.get("name", "?") for entry in config.get("data", {}).get("corpora", [])]
    from voxemo.inference.bundles import PRETRAINED_DIR

    family = config.get("model", {}).get("name", "?")
    source = Path(recognizer.info.source)
    where = f"bundled {source.name!r}" if source.parent == PRETRAINED_DIR else str(source)
    line = f"Model: {where} ({family}), {len(recognizer.labels)} emotions"
    if corpora:
        line += f", trained on acted speech from {', '.join(corpora)}"
    if "ua" in heldout:
        line += (
            f"; on {len(heldout.get('speakers', []))} held-out speakers it recognises "
            f"{heldout['ua']:.0%} UA (balanced accuracy, chance {1 / len(recognizer.labels):.0%})"
        )
    return line + ". Results on acted speech overstate real-life accuracy."


def predict_rows(recognizer: Recognizer, files: list[Path]) -> list[DemoRow]:
    roles = speaker_roles(recognizer, _bundle_file(recognizer, "heldout.json"))
    rows = []
    for path, result in zip(files, recognizer.predict_batch(files), strict=True):
        speaker = example_speaker(path)
        role = roles.get(speaker) if speaker else None
        rows.append(DemoRow(path, result, acted_emotion(path), speaker, role))
    return rows


def _top_scores(prediction: Prediction) -> str:
    ranked = sorted(prediction.scores.items(), key=lambda item: -item[1])[:TOP_K]
    return " ".join(f"{label} {p:.2f}" for label, p in ranked)


def _acted_cell(row: DemoRow, labels: list[str]) -> str:
    if row.acted is None:
        return "-"
    if row.acted not in labels:
        return f"{row.acted} [dim](no class)[/]"
    emotion = getattr(row.result, "emotion", None)
    return row.acted + (" [green]✓[/]" if emotion == row.acted else " [red]✗[/]")


def prediction_table(rows: list[DemoRow], labels: list[str]) -> Table:
    from voxemo.inference import Prediction

    table = Table(title=f"voxemo demo: emotion of {len(rows)} clip(s)")
    for column in ("file", "predicted", "conf.", f"top {TOP_K} scores", "acted", "speaker was"):
        table.add_column(column, justify="right" if column == "conf." else "left", no_wrap=True)
    for row in rows:
        speaker = f"{row.role}" if row.role else "-"
        if isinstance(row.result, Prediction):
            predicted = row.result.emotion + (" [dim](uncertain)[/]" if row.result.uncertain else "")
            cells = [predicted, f"{row.result.confidence:.0%}", _top_scores(row.result)]
        else:
            cells = ["[red]error[/]", "", str(row.result)]
        table.add_row(row.path.stem, *cells, _acted_cell(row, labels), speaker)
    return table


def honesty_notes(rows: list[DemoRow], labels: list[str]) -> list[str]:
    """How many acted emotions came out right, and whether the model heard these voices in training."""
    scored = [r for r in rows if r.acted in labels and hasattr(r.result, "emotion")]
    notes = []
    if scored:
        hits = sum(r.result.emotion == r.acted for r in scored)  # type: ignore[union-attr]
        notes.append(f"{hits} of {len(scored)} acted emotions this model knows were recognised.")
    trained = sorted({r.speaker for r in rows if r.role == "in training" and r.speaker})
    validated = sorted({r.speaker for r in rows if r.role == "in validation" and r.speaker})
    if trained:
        notes.append(
            f"Examples were seen in training: {_speakers_were(trained, 'a training speaker')} of this "
            "model, so these predictions are optimistic; the model card gives accuracy on held-out "
            "speakers (voxemo.load_model().model_card())."
        )
    if validated:
        who = _speakers_were(validated, "a validation speaker")
        notes.append(
            f"{who[0].upper()}{who[1:]} (not trained on, but used to choose the training epoch), so "
            "those clips are not a clean test either."
        )
    return notes


def _speakers_were(speakers: list[str], role: str) -> str:
    """``ravdess:01 was a training speaker`` / ``ravdess:01, ravdess:02 were training speakers``."""
    if len(speakers) == 1:
        return f"speaker {speakers[0]} was {role}"
    return f"speakers {', '.join(speakers)} were {role.removeprefix('a ')}s"


def run_predictions(recognizer: Recognizer, files: list[Path]) -> None:
    heldout = _bundle_file(recognizer, "heldout.json")
    rows = predict_rows(recognizer, files)
    console.print(prediction_table(rows, recognizer.labels))
    for line in [model_summary(recognizer, heldout), *honesty_notes(rows, recognizer.labels)]:
        console.print(line, highlight=False)


def features_table(files: list[Path]) -> tuple[Table, str]:
    """Preprocessing and prosody per clip, plus the feature shapes of the last one."""
    from voxemo.audio import load_audio
    from voxemo.audio.preprocess import PreprocessConfig, preprocess, summarize
    from voxemo.features import get_extractor

    prosody = get_extractor("prosody")
    logmel = get_extractor("logmel")
    mfcc = get_extractor("mfcc")
    config = PreprocessConfig(normalize="rms", trim_silence=True)
    table = Table(title=f"voxemo demo: {len(files)} clip(s), preprocessing + features")
    columns = ("file", "sec", "speech", "dBFS", "F0 Hz", "F0 st", "syl/s", "jit%", "shim%", "HNR")
    for column in columns:
        table.add_column(column, justify="left" if column == "file" else "right", no_wrap=True)
    shapes: dict[str, tuple[int, ...]] = {}
    for path in files:
        samples = load_audio(path)
        summary = summarize(samples, 16_000)
        clean = preprocess(samples, 16_000, config)
        values = dict(zip(prosody.feature_names(), prosody.extract(clean), strict=True))
        shapes = {"log-mel": logmel.extract(clean).shape, "MFCC+deltas": mfcc.extract(clean).shape}
        table.add_row(
            path.stem,
            f"{summary['duration_s']:.1f}",
            f"{summary['speech_ratio']:.0%}",
            f"{summary['rms_dbfs']:.0f}",
            _fmt(values, "f0_hz_mean", "{:.0f}"),
            _fmt(values, "f0_st_range", "{:.1f}"),
            _fmt(values, "syllable_rate", "{:.1f}"),
            _fmt(values, "jitter_local", "{:.1f}", scale=100.0),
            _fmt(values, "shimmer_local", "{:.1f}", scale=100.0),
            _fmt(values, "hnr_db", "{:.0f}"),
        )
    legend = (
        "speech = share of the clip with speech (energy VAD); dBFS = RMS loudness; F0 from Praat "
        "(mean, range in semitones); syl/s = syllable nuclei per second; jit/shim = local jitter and "
        "shimmer; HNR in dB. Features of the last clip after trimming: "
        + ", ".join(f"{name} {'x'.join(map(str, shape))}" for name, shape in shapes.items())
    )
    return table, legend


def _fmt(values: dict, key: str, fmt: str, scale: float = 1.0) -> str:
    value = values.get(key)
    return "-" if value is None else fmt.format(float(value) * scale)


def _bundled_default_installed() -> bool:
    from voxemo.inference.bundles import CONFIG_FILE, DEFAULT_MODEL, PRETRAINED_DIR

    return (PRETRAINED_DIR / DEFAULT_MODEL / CONFIG_FILE).is_file()


@app.command("demo")
def demo_command(
    paths: list[Path] = typer.Argument(None, help="Audio files or folders (default: ./examples)."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Bundled model name or bundle folder (default: the bundled default)."
    ),
    features: bool = typer.Option(
        True, "--features/--no-features", help="Also show what preprocessing and features see."
    ),
) -> None:
    """Recognise the emotion of example clips with the bundled model, then show their features."""
    files = expand_audio_paths(paths or _default_examples())
    if model is None and not _bundled_default_installed():
        console.print(
            "No bundled model is installed in this voxemo, so the demo shows preprocessing and features "
            "only. Train one with `voxemo train --config recipes/default.yaml`, then pass "
            "--model runs/default (or install it: python scripts/install_default_model.py runs/default).",
            highlight=False,
        )
        features = True
    else:
        from voxemo.cli.predict_cmds import fallback_notes
        from voxemo.inference import load_model

        with fallback_notes():
            recognizer = load_model(model)
        run_predictions(recognizer, files)
    if features:
        table, legend = features_table(files)
        console.print(table)
        console.print(legend, highlight=False)
