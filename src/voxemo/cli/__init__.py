"""The ``voxemo`` command line: thin wrappers over the public API.

Each sub-module adds its commands to :data:`app`; :func:`main` turns any :class:`VoxemoError` into a
one-line message on stderr and exit code 2 instead of a traceback.
"""

from __future__ import annotations

import sys

from rich.markup import escape

# Importing the command modules registers their commands on `app`.
from voxemo.cli import (  # noqa: F401
    audio_cmds,
    data_cmds,
    demo_cmds,
    explain_cmds,
    predict_cmds,
    serve_cmds,
    train_cmds,
)
from voxemo.cli.app import app, console, err_console  # noqa: F401  (re-exported for sub-modules)
from voxemo.errors import VoxemoError


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    try:
        # Standalone mode lets click report usage errors (exit 2) and --help (exit 0) itself.
        app(args=argv, prog_name="voxemo")
    except VoxemoError as exc:
        # escape: a message such as "pip install 'voxemo[whisper]'" is not rich markup.
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        return 2
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def run() -> None:
    sys.exit(main())
