"""`voxemo serve`: the HTTP API, the WebSocket stream and the web page."""

from __future__ import annotations

import typer

from voxemo.cli.app import app, err_console


@app.command("serve")
def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 = every interface)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    model: str = typer.Option(
        None, "--model", help="Bundled model name (default, fast, ...) or a bundle folder; default: bundled."
    ),
    max_upload_mb: float = typer.Option(20.0, "--max-upload-mb", help="Largest upload in MiB (413 beyond)."),
    workers_queue: int = typer.Option(
        16, "--workers-queue", help="Requests that may wait for the model; beyond it: 503 + Retry-After."
    ),
    concurrency: int = typer.Option(2, "--concurrency", help="Model calls running at once (threads)."),
    max_streams: int = typer.Option(8, "--max-streams", help="Open WebSocket streams at once."),
) -> None:
    """Serve the model over HTTP: web page at /, API at /v1/*, docs at /docs. Audio is never stored."""
    from voxemo.serving import ServeConfig, serve

    config = ServeConfig(
        host=host,
        port=port,
        model=model,
        max_upload_mb=max_upload_mb,
        queue_limit=workers_queue,
        concurrency=concurrency,
        max_streams=max_streams,
    )
    err_console.print(
        f"voxemo: loading the model, then serving on http://{host}:{port} "
        "(page /, API /v1/..., docs /docs; Ctrl-C stops)",
        highlight=False,
    )
    from voxemo.cli.predict_cmds import fallback_notes

    with fallback_notes():  # the model is loaded before uvicorn starts: the note comes first
        serve(config)
