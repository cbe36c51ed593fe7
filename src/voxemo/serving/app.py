"""The FastAPI application: REST endpoints, the WebSocket stream and the web page.

``create_app(recognizer, config)`` builds the app around one loaded :class:`Recognizer`;
``voxemo serve`` (:func:`voxemo.serving.serve`) loads the model and runs it under uvicorn.

Privacy: uploads are read into memory, decoded from bytes and dropped with the request; no
audio is written anywhere, and the client's file name is echoed back, never used as a path.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, Response

from voxemo.errors import VoxemoError
from voxemo.serving.analysis import AudioRejected, DurationLimits, predict_bytes, timeline_bytes
from voxemo.serving.config import ServeConfig
from voxemo.serving.docs import mount_docs
from voxemo.serving.explain import MAX_EXPLAIN_SECONDS, PNG_KEY, can_explain, explain_bytes
from voxemo.serving.gate import InferenceGate, ServiceBusy
from voxemo.serving.stream import CLOSE_TRY_LATER, StreamHandler
from voxemo.serving.uploads import UPLOAD_OPENAPI, read_upload

log = logging.getLogger("voxemo.serving")

#: The page may load nothing from elsewhere: no CDN, no fonts, no analytics.
PAGE_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline' blob:; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self' ws: wss:; media-src 'self' blob:; worker-src 'self' blob:; "
        "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@functools.cache
def page_html() -> str:
    """The single self-contained web page (HTML, CSS and JS in one file)."""
    return resources.files("voxemo.serving").joinpath("static/index.html").read_text(encoding="utf-8")


def _model_info(recognizer: Any, config: ServeConfig) -> dict[str, Any]:
    try:
        card = recognizer.model_card()
    except VoxemoError as exc:
        card = f"(no model card: {exc})"
    return {
        "labels": list(recognizer.labels),
        "sample_rate": int(recognizer.sample_rate),
        "model_card": card,
        "stores_audio": False,
        "limits": {
            "max_upload_mb": config.max_upload_mb,
            "min_seconds": config.min_seconds,
            "max_predict_seconds": config.max_predict_seconds,
            "max_timeline_seconds": config.max_timeline_seconds,
            "max_stream_seconds": config.max_stream_seconds,
            "max_frame_seconds": config.max_frame_seconds,
        },
        "stream": {
            "path": "/v1/stream",
            "formats": ["f32", "s16"],
            "sample_rate": 16_000,
            "window": config.stream_window,
            "hop": config.stream_hop,
        },
    }


def create_app(recognizer: Any, config: ServeConfig | None = None) -> FastAPI:
    """The service around one loaded recognizer (anything with the ``Recognizer`` API)."""
    config = config or ServeConfig()
    gate = InferenceGate(config.concurrency, config.queue_limit, config.retry_after_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        gate.close()

    from voxemo import __version__

    app = FastAPI(
        title="voxemo",
        version=__version__,
        summary="Speech emotion recognition: upload a clip, get a timeline, or stream live audio.",
        description=(
            "Audio is processed in memory and never stored. Uploads are multipart/form-data with "
            "the file in the field `file`. The WebSocket `/v1/stream` takes 16 kHz mono PCM "
            "(float32 or int16 little-endian) and answers rolling scores; see `GET /v1/model`."
        ),
        lifespan=lifespan,
        # FastAPI's own /docs and /redoc load from a CDN; mount_docs serves them from local files.
        docs_url=None,
        redoc_url=None,
    )
    mount_docs(app)
    app.state.recognizer = recognizer
    app.state.config = config
    app.state.gate = gate
    app.state.open_streams = 0
    model_info = _model_info(recognizer, config)
    predict_limits = DurationLimits(
        config.min_seconds, config.max_predict_seconds, "send it to /v1/timeline to score it window by window"
    )
    timeline_limits = DurationLimits(
        config.min_seconds, config.max_timeline_seconds, "split the recording into shorter files"
    )

    async def analyse(request: Request, job: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
        upload = await read_upload(request, config.max_upload_bytes, config.max_body_bytes)
        try:
            result = await gate.run(job, recognizer, upload.data, *args)
        except AudioRejected as exc:
            raise HTTPException(exc.status, detail=exc.detail) from None
        except ServiceBusy as exc:
            raise HTTPException(
                503, detail=str(exc), headers={"Retry-After": str(exc.retry_after_s)}
            ) from None
        return {"filename": upload.filename, **result}

    @app.post("/v1/predict", openapi_extra=UPLOAD_OPENAPI, tags=["analysis"])
    async def predict(request: Request) -> dict[str, Any]:
        """Emotion of one clip: `emotion`, `scores` (sum 1), `confidence`, `uncertain`, `duration_s`."""
        return await analyse(request, predict_bytes, predict_limits)

    @app.post("/v1/timeline", openapi_extra=UPLOAD_OPENAPI, tags=["analysis"])
    async def timeline(
        request: Request,
        window: float = Query(2.0, ge=0.25, le=30.0, description="Window length in seconds."),
        # A floor on the hop bounds the work one request can ask for (windows = duration / hop).
        hop: float = Query(1.0, ge=0.25, le=30.0, description="Step between windows in seconds."),
    ) -> dict[str, Any]:
        """Emotion over time of a longer recording, window by window."""
        if hop > window:
            raise HTTPException(422, detail=f"hop ({hop} s) must not exceed window ({window} s)")
        return await analyse(request, timeline_bytes, timeline_limits, window, hop)

    explain_limits = DurationLimits(
        config.min_seconds,
        min(config.max_predict_seconds, MAX_EXPLAIN_SECONDS),
        "cut out the one utterance to explain",
    )

    @app.post(
        "/v1/explain",
        openapi_extra=UPLOAD_OPENAPI,
        tags=["analysis"],
        responses={200: {"content": {"image/png": {}}, "description": "JSON, or a PNG with png=true"}},
    )
    async def explain(
        request: Request,
        method: str | None = Query(
            None,
            pattern="^(integrated-gradients|occlusion)$",
            description="integrated-gradients (exact sums) or occlusion (removes patches or, for heads on "
            "frame embeddings, stretches of time); default: the model kind's own default.",
        ),
        target: str | None = Query(None, description="Emotion to explain (default: the predicted one)."),
        full: bool = Query(False, description="Include the arrays (log-mel, attribution map, axes)."),
        png: bool = Query(False, description="Answer the picture (image/png) instead of JSON."),
    ) -> Any:
        """Why the model heard this emotion: top time-frequency regions, time spans or cues, and scores."""
        if not can_explain(recognizer):
            raise HTTPException(501, detail="this server runs an ONNX model; explanations need the torch one")
        if target is not None and target not in recognizer.labels:
            known = ", ".join(recognizer.labels)
            raise HTTPException(422, detail=f"unknown target {target!r}; this model knows {known}")
        result = await analyse(request, explain_bytes, explain_limits, method, target, full, png)
        return Response(result[PNG_KEY], media_type="image/png") if png else result

    @app.get("/v1/health", tags=["service"])
    async def health() -> dict[str, Any]:
        """Liveness and load: model calls running and waiting, open streams."""
        return {
            "status": "ok",
            "version": __version__,
            "running": gate.running,
            "waiting": gate.waiting,
            "open_streams": app.state.open_streams,
        }

    @app.get("/v1/model", tags=["service"])
    async def model() -> dict[str, Any]:
        """Labels, model card, limits and the stream format; `stores_audio` is always false."""
        return model_info

    @app.websocket("/v1/stream")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        if app.state.open_streams >= config.max_streams:
            await websocket.send_json(
                {"type": "error", "code": CLOSE_TRY_LATER, "detail": "too many open streams; retry later"}
            )
            await websocket.close(CLOSE_TRY_LATER)
            return
        app.state.open_streams += 1
        try:
            await StreamHandler(websocket, recognizer, gate, config).serve()
        finally:
            app.state.open_streams -= 1

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(page_html(), headers=PAGE_SECURITY_HEADERS)

    @app.exception_handler(VoxemoError)
    async def voxemo_error(_: Request, exc: VoxemoError) -> JSONResponse:
        # A VoxemoError that escaped the specific handling above is the server's fault.
        log.error("voxemo error while serving: %s", exc)
        return JSONResponse({"detail": str(exc)}, status_code=500)

    @app.exception_handler(Exception)
    async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error while serving", exc_info=exc)
        return JSONResponse({"detail": "unexpected server error; the request was not processed"}, 500)

    return app
