"""Typed settings of the HTTP / WebSocket service (what `voxemo serve` exposes as options)."""

from __future__ import annotations

from dataclasses import dataclass

from voxemo.config import Config
from voxemo.errors import ConfigError

#: Multipart framing (boundaries, part headers) on top of the file itself; a body larger than
#: ``max_upload_bytes + MULTIPART_OVERHEAD`` is refused without reading further.
MULTIPART_OVERHEAD = 16 * 1024


@dataclass
class ServeConfig(Config):
    """Limits and defaults of the service; every limit is checked before work is done."""

    host: str = "127.0.0.1"
    port: int = 8000
    #: ``None`` = the bundled default model, a bundled name, or a bundle folder.
    model: str | None = None
    #: Largest accepted upload (the audio file itself), in MiB -> 413 beyond.
    max_upload_mb: float = 20.0
    #: Model calls running at once (threads of the inference pool).
    concurrency: int = 2
    #: Requests allowed to wait for a free model slot; beyond it -> 503 with Retry-After.
    queue_limit: int = 16
    #: Seconds a client is told to wait (Retry-After) when the queue is full.
    retry_after_s: int = 1
    #: ``/v1/predict`` takes clips up to this length (longer: use ``/v1/timeline``) -> 422 beyond.
    max_predict_seconds: float = 60.0
    #: ``/v1/timeline`` takes recordings up to this length -> 422 beyond.
    max_timeline_seconds: float = 1800.0
    #: Shorter clips carry no usable emotion evidence -> 422.
    min_seconds: float = 0.25
    #: Streaming defaults and bounds (``WS /v1/stream``).
    stream_window: float = 2.0
    stream_hop: float = 0.5
    #: Largest single binary frame, in seconds of 16 kHz audio -> close 1009 beyond.
    max_frame_seconds: float = 4.0
    #: Longest stream one connection may send -> close 1008 beyond.
    max_stream_seconds: float = 3600.0
    #: Open streams at once -> close 1013 (try again later) beyond.
    max_streams: int = 8
    #: A stream with no message for this long is closed (1001) so it frees its slot.
    stream_idle_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        positive = {
            "max_upload_mb": self.max_upload_mb,
            "max_predict_seconds": self.max_predict_seconds,
            "max_timeline_seconds": self.max_timeline_seconds,
            "stream_window": self.stream_window,
            "stream_hop": self.stream_hop,
            "max_frame_seconds": self.max_frame_seconds,
            "max_stream_seconds": self.max_stream_seconds,
            "stream_idle_timeout_s": self.stream_idle_timeout_s,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ConfigError(f"serve: {name} must be positive, got {value}")
        if self.concurrency < 1 or self.max_streams < 1:
            raise ConfigError("serve: concurrency and max_streams must be at least 1")
        if self.queue_limit < 0:
            raise ConfigError(f"serve: queue_limit must be 0 or more, got {self.queue_limit}")
        if not 0 < self.port < 65536:
            raise ConfigError(f"serve: port must be between 1 and 65535, got {self.port}")
        if self.stream_hop > self.stream_window:
            raise ConfigError("serve: stream_hop must not exceed stream_window")
        if self.min_seconds < 0 or self.min_seconds >= self.max_predict_seconds:
            raise ConfigError("serve: min_seconds must be >= 0 and below max_predict_seconds")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_body_bytes(self) -> int:
        return self.max_upload_bytes + MULTIPART_OVERHEAD
