"""The typer application object and the consoles every command prints with."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    name="voxemo",
    help="Speech emotion recognition: inspect audio, load corpora, extract features, train and evaluate models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


@app.command()
def version() -> None:
    """Print the voxemo version."""
    from voxemo import __version__

    typer.echo(__version__)
