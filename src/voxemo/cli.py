"""The ``voxemo`` command line: thin wrappers over the public API."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="voxemo",
    help="Speech emotion recognition: inspect audio, load corpora, extract features, train, evaluate.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def version() -> None:
    """Print the voxemo version."""
    from voxemo import __version__

    typer.echo(__version__)
