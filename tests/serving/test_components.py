"""The service's building blocks on their own: config checks, the inference gate, frame decoding."""

from __future__ import annotations

import asyncio
import json
import threading

import numpy as np
import pytest

from voxemo.errors import ConfigError
from voxemo.serving import InferenceGate, ServeConfig, ServiceBusy
from voxemo.serving.stream import (
    CLOSE_INVALID_DATA,
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_UNSUPPORTED,
    StreamRejected,
    decode_frame,
    parse_params,
    parse_text,
)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"max_upload_mb": 0}, "max_upload_mb must be positive"),
        ({"port": 70000}, "port must be between"),
        ({"queue_limit": -1}, "queue_limit must be 0 or more"),
        ({"concurrency": 0}, "concurrency and max_streams"),
        ({"stream_window": 1.0, "stream_hop": 2.0}, "stream_hop must not exceed"),
    ],
)
def test_config_rejects_bad_limits(overrides, message):
    with pytest.raises(ConfigError, match=message):
        ServeConfig(**overrides)


def test_config_body_limit_covers_the_file_plus_framing():
    config = ServeConfig(max_upload_mb=1)
    assert config.max_upload_bytes == 1024 * 1024
    assert config.max_body_bytes > config.max_upload_bytes


def test_gate_bounds_running_and_waiting_calls():
    """1 slot + 1 waiting: the third concurrent call is refused at once, and the slots free up."""
    gate = InferenceGate(concurrency=1, queue_limit=1, retry_after_s=3)
    release = threading.Event()
    started = threading.Event()

    def blocking() -> str:
        started.set()
        release.wait(5)
        return "done"

    async def scenario() -> tuple[list, int, int]:
        first = asyncio.create_task(gate.run(blocking))
        while not started.is_set():
            await asyncio.sleep(0.01)
        second = asyncio.create_task(gate.run(lambda: "queued"))
        await asyncio.sleep(0.05)
        running, waiting = gate.running, gate.waiting
        with pytest.raises(ServiceBusy) as busy:
            await gate.run(lambda: "refused")
        assert busy.value.retry_after_s == 3
        release.set()
        return [await first, await second], running, waiting

    try:
        results, running, waiting = asyncio.run(scenario())
    finally:
        release.set()
        gate.close()
    assert results == ["done", "queued"]
    assert (running, waiting) == (1, 1)
    assert (gate.running, gate.waiting) == (0, 0)


def test_gate_passes_exceptions_through_and_recovers():
    gate = InferenceGate(concurrency=1, queue_limit=0)

    def boom() -> None:
        raise ValueError("bad input")

    async def scenario() -> int:
        with pytest.raises(ValueError, match="bad input"):
            await gate.run(boom)
        return await gate.run(lambda: 42)

    assert asyncio.run(scenario()) == 42
    gate.close()


def test_decode_frame_float32_and_int16():
    samples = np.array([0.0, 0.5, -0.25, 1.0], dtype="<f4")
    np.testing.assert_array_equal(decode_frame(samples.tobytes(), "f32", 100), samples)
    ints = np.array([0, 16384, -32768], dtype="<i2")
    np.testing.assert_allclose(decode_frame(ints.tobytes(), "s16", 100), [0.0, 0.5, -1.0])


@pytest.mark.parametrize(
    ("payload", "fmt", "code", "message"),
    [
        (b"\x00\x00\x80", "f32", CLOSE_INVALID_DATA, "whole 4-byte samples"),
        (b"\x00", "s16", CLOSE_INVALID_DATA, "whole 2-byte samples"),
        (np.array([0.1, np.nan], "<f4").tobytes(), "f32", CLOSE_INVALID_DATA, "NaN or infinite"),
        (np.array([1000.0], "<f4").tobytes(), "f32", CLOSE_INVALID_DATA, "format=s16"),
        (np.zeros(101, "<f4").tobytes(), "f32", CLOSE_TOO_BIG, "over the limit of 100"),
    ],
)
def test_decode_frame_rejects_malformed_frames(payload, fmt, code, message):
    with pytest.raises(StreamRejected, match=message) as rejected:
        decode_frame(payload, fmt, 100)
    assert rejected.value.code == code


def test_stream_params_defaults_and_errors():
    config = ServeConfig()
    params = parse_params({}, config)
    assert (params.format, params.window, params.hop) == ("f32", 2.0, 0.5)
    assert parse_params({"format": "s16", "window": "3", "hop": "1"}, config).hop == 1.0
    for query, message in [
        ({"format": "mp3"}, "format must be one of"),
        ({"window": "abc"}, "not a number"),
        ({"window": "1", "hop": "2"}, "hop must be between"),
        ({"window": "nan"}, "must be finite"),
    ]:
        with pytest.raises(StreamRejected, match=message) as rejected:
            parse_params(query, config)
        assert rejected.value.code == CLOSE_POLICY


def test_text_messages():
    assert parse_text(json.dumps({"type": "end"})) == "end"
    for text in ("hello", json.dumps({"type": "pause"}), "[1, 2]"):
        with pytest.raises(StreamRejected) as rejected:
            parse_text(text)
        assert rejected.value.code == CLOSE_UNSUPPORTED
