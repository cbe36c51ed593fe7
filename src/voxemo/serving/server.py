"""Loading the model and running the app under uvicorn."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from voxemo.serving.app import create_app
from voxemo.serving.config import ServeConfig
from voxemo.serving.stream import SAMPLE_RATE

log = logging.getLogger("voxemo.serving")
#: Room for a WebSocket frame's own framing on top of the largest accepted audio frame.
WS_FRAME_SLACK = 4096


def build_app(config: ServeConfig) -> FastAPI:
    """Load ``config.model`` (default, bundled name or bundle folder) and wrap it in the app."""
    from voxemo.inference import load_model

    return create_app(load_model(config.model), config)


def websocket_max_bytes(config: ServeConfig) -> int:
    """uvicorn refuses larger WebSocket messages before they reach the app (bounded memory)."""
    return int(config.max_frame_seconds * SAMPLE_RATE) * 4 + WS_FRAME_SLACK


def _share_cores(concurrency: int) -> None:
    """Model calls run in ``concurrency`` threads; give each a share of the cores instead of
    letting every thread start one torch worker per core."""
    import os

    try:
        import torch
    except ImportError:  # an ONNX-only installation
        return
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // concurrency))


def serve(config: ServeConfig) -> None:
    """Run the service in the foreground until interrupted (Ctrl-C)."""
    import uvicorn

    _share_cores(config.concurrency)
    app = build_app(config)
    log.info("serving on http://%s:%d (audio is never stored)", config.host, config.port)
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        ws_max_size=websocket_max_bytes(config),
        # Uploads are bounded by the app; this bounds what waits in the socket backlog.
        limit_concurrency=config.concurrency + config.queue_limit + config.max_streams + 32,
        timeout_keep_alive=5,
        log_level="info",
    )
