"""``WS /v1/stream``: rolling emotion scores for live 16 kHz audio.

Protocol (also served as the endpoint's documentation on the web page and in the README):

* Connect to ``/v1/stream?format=f32&window=2.0&hop=0.5`` (all optional). ``format`` is ``f32``
  (float32 little-endian samples in [-1, 1], the default) or ``s16`` (int16 little-endian).
* The server sends ``{"type": "ready", "sample_rate": 16000, "format", "window", "hop", "labels"}``.
* The client sends binary frames of 16 kHz mono PCM in that format, any length up to the frame
  limit. For each completed hop the server answers ``{"type": "scores", "start", "end", "emotion",
  "scores": {label: p}, "confidence", "uncertain"}`` (times in seconds since the stream began).
* The client sends the text message ``{"type": "end"}``; the server answers ``{"type": "summary",
  ...}`` and closes with code 1000. A client that just closes gets nothing more.
* Errors are a message ``{"type": "error", "detail": ...}`` followed by a close with a code:
  1003 unsupported message, 1007 bad samples (odd byte count, NaN, out of range), 1008 bad
  parameters or stream too long, 1009 frame too large, 1013 server busy, 1001 idle timeout,
  1011 unexpected server error.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from voxemo.errors import VoxemoError
from voxemo.serving.config import ServeConfig
from voxemo.serving.gate import InferenceGate, ServiceBusy

log = logging.getLogger("voxemo.serving")

SAMPLE_RATE = 16_000
#: Bytes per sample and the numpy dtype of each wire format (little-endian on the wire).
FORMATS = {"f32": np.dtype("<f4"), "s16": np.dtype("<i2")}
#: Float samples beyond this magnitude mean the client sent another format (e.g. int16 as float).
MAX_FLOAT_AMPLITUDE = 4.0

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED = 1003
CLOSE_INVALID_DATA = 1007
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_TRY_LATER = 1013


class StreamRejected(Exception):
    """Something the client did wrong; the connection is closed with ``code``."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class StreamParams:
    format: str
    window: float
    hop: float


def _parse_float(query: dict[str, str], name: str, default: float) -> float:
    text = query.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise StreamRejected(CLOSE_POLICY, f"query parameter {name}={text!r} is not a number") from None
    if not np.isfinite(value):
        raise StreamRejected(CLOSE_POLICY, f"query parameter {name} must be finite")
    return value


def parse_params(query: dict[str, str], config: ServeConfig) -> StreamParams:
    """Validate the query string of a stream request."""
    fmt = query.get("format", "f32")
    if fmt not in FORMATS:
        raise StreamRejected(CLOSE_POLICY, f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    window = _parse_float(query, "window", config.stream_window)
    hop = _parse_float(query, "hop", config.stream_hop)
    if not 0.25 <= window <= 30.0:
        raise StreamRejected(CLOSE_POLICY, f"window must be between 0.25 and 30 s, got {window}")
    if not 0.05 <= hop <= window:
        raise StreamRejected(
            CLOSE_POLICY, f"hop must be between 0.05 s and the window ({window} s), got {hop}"
        )
    return StreamParams(fmt, window, hop)


def decode_frame(payload: bytes, fmt: str, max_samples: int) -> np.ndarray:
    """One binary frame -> float32 samples in [-1, 1]; StreamRejected for anything malformed."""
    dtype = FORMATS[fmt]
    if len(payload) % dtype.itemsize:
        raise StreamRejected(
            CLOSE_INVALID_DATA,
            f"a {fmt} frame must hold whole {dtype.itemsize}-byte samples, got {len(payload)} bytes",
        )
    if len(payload) // dtype.itemsize > max_samples:
        raise StreamRejected(
            CLOSE_TOO_BIG,
            f"frame of {len(payload) // dtype.itemsize} samples is over the limit of {max_samples} "
            f"({max_samples / SAMPLE_RATE:g} s); send smaller chunks",
        )
    raw = np.frombuffer(payload, dtype=dtype)
    if fmt == "s16":
        return (raw.astype(np.float32) / 32768.0).astype(np.float32)
    samples = raw.astype(np.float32)
    if not np.isfinite(samples).all():
        raise StreamRejected(CLOSE_INVALID_DATA, "frame contains NaN or infinite samples")
    if samples.size and float(np.abs(samples).max()) > MAX_FLOAT_AMPLITUDE:
        raise StreamRejected(
            CLOSE_INVALID_DATA,
            "float32 samples must lie in [-1, 1]; this looks like another format "
            "(for int16 PCM connect with ?format=s16; samples are little-endian)",
        )
    return samples


def parse_text(text: str) -> str:
    """The ``type`` of a control message; only ``end`` is understood."""
    try:
        message = json.loads(text)
    except json.JSONDecodeError:
        raise StreamRejected(
            CLOSE_UNSUPPORTED, 'text messages must be JSON such as {"type": "end"}'
        ) from None
    kind = message.get("type") if isinstance(message, dict) else None
    if kind != "end":
        raise StreamRejected(
            CLOSE_UNSUPPORTED, f'unknown message type {kind!r}; send {{"type": "end"}} to finish'
        )
    return kind


def _prediction_message(prediction: Any) -> dict[str, Any]:
    message = {"type": "scores"}
    message.update({k: v for k, v in prediction.to_dict().items() if k != "path"})
    return message


def _jsonable(value: Any) -> Any:
    """Summaries may hold numpy numbers or Predictions; turn them into plain JSON values."""
    if hasattr(value, "to_dict"):
        return _jsonable(value.to_dict())
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


class StreamHandler:
    """Serves one WebSocket connection from accept to close."""

    def __init__(self, websocket: WebSocket, recognizer: Any, gate: InferenceGate, config: ServeConfig):
        self.websocket = websocket
        self.recognizer = recognizer
        self.gate = gate
        self.config = config
        self.max_frame_samples = int(config.max_frame_seconds * SAMPLE_RATE)
        self.max_total_samples = int(config.max_stream_seconds * SAMPLE_RATE)
        self.total_samples = 0

    async def serve(self) -> None:
        try:
            params = parse_params(dict(self.websocket.query_params), self.config)
            session = self.recognizer.stream(window=params.window, hop=params.hop)
            await self._send(
                {
                    "type": "ready",
                    "sample_rate": SAMPLE_RATE,
                    "format": params.format,
                    "window": params.window,
                    "hop": params.hop,
                    "labels": list(self.recognizer.labels),
                    "max_frame_samples": self.max_frame_samples,
                }
            )
            await self._loop(session, params)
        except WebSocketDisconnect:
            return  # the client left; its session is dropped, nothing was stored
        except StreamRejected as exc:
            await self._close_with_error(exc.code, exc.detail)
        except ServiceBusy as exc:
            await self._close_with_error(CLOSE_TRY_LATER, str(exc))
        except VoxemoError as exc:
            await self._close_with_error(CLOSE_INVALID_DATA, str(exc))
        except Exception:  # never let one connection take the server down
            log.exception("unexpected error in a stream")
            await self._close_with_error(CLOSE_INTERNAL, "unexpected server error; the stream was closed")

    async def _loop(self, session: Any, params: StreamParams) -> None:
        while True:
            try:
                message = await asyncio.wait_for(
                    self.websocket.receive(), timeout=self.config.stream_idle_timeout_s
                )
            except TimeoutError:
                raise StreamRejected(
                    CLOSE_GOING_AWAY, f"no data for {self.config.stream_idle_timeout_s:g} s; stream closed"
                ) from None
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", CLOSE_NORMAL))
            if message.get("bytes") is not None:
                await self._on_audio(
                    session, decode_frame(message["bytes"], params.format, self.max_frame_samples)
                )
            elif message.get("text") is not None:
                parse_text(message["text"])
                summary = await self.gate.run(session.finish)
                await self._send({"type": "summary", **_jsonable(summary)})
                await self.websocket.close(CLOSE_NORMAL)
                return

    async def _on_audio(self, session: Any, samples: np.ndarray) -> None:
        if samples.size == 0:
            return
        self.total_samples += samples.size
        if self.total_samples > self.max_total_samples:
            raise StreamRejected(
                CLOSE_POLICY,
                f"stream longer than {self.config.max_stream_seconds:g} s; end it and start a new one",
            )
        predictions = await self.gate.run(session.feed, samples)
        for prediction in predictions:
            await self._send(_prediction_message(prediction))

    async def _send(self, message: dict[str, Any]) -> None:
        await self.websocket.send_text(json.dumps(_jsonable(message)))

    async def _close_with_error(self, code: int, detail: str) -> None:
        if self.websocket.application_state != WebSocketState.CONNECTED:
            return
        try:
            await self.websocket.send_text(json.dumps({"type": "error", "code": code, "detail": detail}))
            await self.websocket.close(code)
        except (WebSocketDisconnect, RuntimeError):
            pass  # the client is already gone
