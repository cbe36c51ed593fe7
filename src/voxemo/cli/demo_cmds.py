"""`voxemo demo`: the main job on the example clips, with no data and no training needed."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from voxemo.cli.app import app, console
from voxemo.cli.audio_cmds import expand_audio_paths


def _default_examples() -> list[Path]:
    here = Path.cwd() / "examples"
    repo = Path(__file__).resolve().parents[3] / "examples"
    return [here if here.is_dir() else repo]


@app.command("demo")
def demo_command(
    paths: list[Path] = typer.Argument(None, help="Audio files or folders (default: ./examples)."),
) -> None:
    """Run preprocessing and feature extraction on example clips and print what voxemo sees in them."""
    from voxemo.audio import load_audio
    from voxemo.audio.preprocess import PreprocessConfig, preprocess, summarize
    from voxemo.features import get_extractor

    files = expand_audio_paths(paths or _default_examples())
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
    console.print(table)
    console.print(
        "speech = share of the clip with speech (energy VAD); dBFS = RMS loudness; F0 from Praat "
        "(mean, range in semitones); syl/s = syllable nuclei per second; jit/shim = local jitter and "
        "shimmer; HNR in dB. Features of the last clip after trimming: "
        + ", ".join(f"{name} {'x'.join(map(str, shape))}" for name, shape in shapes.items())
    )


def _fmt(values: dict, key: str, fmt: str, scale: float = 1.0) -> str:
    value = values.get(key)
    return "-" if value is None else fmt.format(float(value) * scale)
