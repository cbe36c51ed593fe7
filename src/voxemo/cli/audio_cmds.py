"""Commands about single recordings: inspect one file, extract features from many."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from voxemo.cli.app import app, console
from voxemo.errors import AudioError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


def expand_audio_paths(paths: list[Path]) -> list[Path]:
    """Files as given, folders searched recursively for audio; an empty result is an error."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES))
        else:
            found.append(path)
    if not found:
        raise AudioError(
            f"no audio files ({', '.join(AUDIO_SUFFIXES)}) found in {', '.join(map(str, paths))}"
        )
    return found


def inspect_file(path: Path) -> dict:
    """Everything `voxemo inspect` reports about one file, as a JSON-able dict."""
    from voxemo.audio import load_audio_with_rate, probe
    from voxemo.audio.preprocess import summarize
    from voxemo.features.prosody import pitch_contour

    info = probe(path)
    samples, rate = load_audio_with_rate(path, allow_silent=True)
    report: dict = {
        "path": str(path),
        "format": f"{info.format}/{info.subtype}",
        "sample_rate": info.sample_rate,
        "channels": info.channels,
        "duration_s": round(info.duration, 3),
    }
    report.update(summarize(samples, rate))
    _, f0 = pitch_contour(samples, rate)
    voiced = f0[np.isfinite(f0) & (f0 > 0)]
    report["pitch"] = (
        {
            "voiced_frames": int(voiced.size),
            "f0_mean_hz": round(float(voiced.mean()), 1),
            "f0_median_hz": round(float(np.median(voiced)), 1),
            "f0_min_hz": round(float(voiced.min()), 1),
            "f0_max_hz": round(float(voiced.max()), 1),
            "f0_range_semitones": round(float(12 * np.log2(voiced.max() / voiced.min())), 2),
        }
        if voiced.size
        else {"voiced_frames": 0}
    )
    return report


@app.command("inspect")
def inspect_command(
    path: Path = typer.Argument(..., help="An audio file (wav, flac, ogg, mp3)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show duration, sample rate, channels, speech ratio, loudness and a pitch summary of one file."""
    report = inspect_file(path)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table(title=str(path), show_header=False)
    table.add_column("property", style="bold")
    table.add_column("value")
    for key, value in report.items():
        if isinstance(value, dict):
            for sub, sub_value in value.items():
                table.add_row(f"{key}.{sub}", str(sub_value))
        elif key != "path":
            table.add_row(key, str(value))
    console.print(table)


@app.command("features")
def features_command(
    paths: list[Path] = typer.Argument(..., help="Audio files or folders (searched recursively)."),
    kind: str = typer.Option(
        "mfcc",
        "--kind",
        help="Extractor: logmel, mfcc, prosody, egemaps, chroma, "
        "contrast or any '<frame-kind>-stats' (see `voxemo features-list`).",
    ),
    out: Path = typer.Option(
        ..., "--out", help="Output file: .npz (any kind) or .parquet (utterance level)."
    ),
    jobs: int | None = typer.Option(None, "--jobs", "-j", help="Worker processes (default: all CPUs)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the feature cache."),
) -> None:
    """Extract features from audio files into an .npz or .parquet file (cached, parallel)."""
    from voxemo.features import extract_many, get_extractor, save_features

    files = expand_audio_paths(paths)
    extractor = get_extractor(kind)
    arrays = extract_many(files, extractor, n_jobs=jobs, progress=True, use_cache=not no_cache)
    save_features(out, [str(f) for f in files], arrays, extractor.feature_names())
    shape = arrays[0].shape if arrays else ()
    console.print(f"wrote {kind} features of {len(files)} file(s) to {out} (first: {shape})")


@app.command("features-list")
def features_list_command() -> None:
    """List the registered feature extractors with their level and dimension."""
    from voxemo.features import list_features

    table = Table(title="Feature extractors")
    for column in ("name", "level", "dim", "description"):
        table.add_column(column)
    for info in list_features():
        table.add_row(info.name, info.level, str(info.dim), info.description)
    console.print(table)
