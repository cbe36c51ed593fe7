"""The typer application object and the consoles every command prints with."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

app = typer.Typer(
    name="voxemo",
    help="Speech emotion recognition: inspect audio, load corpora, extract features, train, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output (make, CI logs) gets a fixed, wide layout instead of rich's 80-column default.
_WIDTH = None if sys.stdout.isatty() else 120
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)


@app.command()
def version() -> None:
    """Print the voxemo version."""
    from voxemo import __version__

    typer.echo(__version__)
