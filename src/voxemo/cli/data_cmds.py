"""Commands about corpora: list the supported ones, load one and show or save its table."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from voxemo.cli.app import app, console


@app.command("corpora")
def corpora_command() -> None:
    """List the supported corpora, their language and the folder layout each loader expects."""
    from voxemo.corpora import list_corpora

    table = Table(title="Supported corpora")
    for column in ("name", "language", "layout", "description"):
        table.add_column(column, overflow="fold")
    for info in list_corpora():
        table.add_row(
            info["name"], info.get("language", ""), info.get("layout", ""), info.get("description", "")
        )
    console.print(table)


@app.command("corpus")
def corpus_command(
    name: str = typer.Argument(..., help="Corpus name, see `voxemo corpora`."),
    root: Path = typer.Option(..., "--root", help="Folder holding the corpus in its original layout."),
    csv: Path | None = typer.Option(None, "--csv", help="Write the utterance table to this CSV file."),
) -> None:
    """Load one corpus and print its counts per emotion and per speaker (or write its table)."""
    from voxemo.corpora import load_corpus
    from voxemo.io import atomic_write_text

    frame = load_corpus(name, root)
    if csv is not None:
        atomic_write_text(csv, frame.to_csv(index=False))
        console.print(f"wrote {len(frame)} rows to {csv}")
        return
    console.print(
        f"[bold]{name}[/]: {len(frame)} utterances, {frame['speaker'].nunique()} speakers, "
        f"{frame['emotion'].nunique()} emotions"
    )
    console.print(_counts_table(frame, "emotion", "label_raw"))
    console.print(_counts_table(frame, "speaker", "gender"))


def _counts_table(frame, key: str, extra: str) -> Table:  # type: ignore[no-untyped-def]
    """Counts per value of ``key``, with the distinct values of ``extra`` beside each."""
    table = Table(title=f"per {key}")
    table.add_column(key)
    table.add_column(extra)
    table.add_column("count", justify="right")
    for value, group in frame.groupby(key, sort=True):
        extras = ", ".join(sorted({str(v) for v in group[extra].dropna()}))
        table.add_row(str(value), extras, str(len(group)))
    return table
