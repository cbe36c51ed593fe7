"""WS /v1/stream with real audio: rolling scores per hop, a final summary, and bad frames."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.serving.conftest import LABELS
from voxemo.audio import load_audio


def chunks_of(samples: np.ndarray, seconds: float = 0.25) -> list[np.ndarray]:
    size = int(seconds * 16_000)
    return [samples[i : i + size] for i in range(0, samples.size, size)]


def expect_close(ws, code: int) -> dict:
    """The error message the server sends before closing, and the close code."""
    message = ws.receive_json()
    assert message["type"] == "error"
    assert message["code"] == code
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    assert closed.value.code == code
    return message


def test_stream_gives_rolling_scores_and_a_summary(client, recognizer, example_clip):
    samples = load_audio(example_clip)
    window, hop = 2.0, 0.5
    scores = []
    with client.websocket_connect(f"/v1/stream?window={window}&hop={hop}") as ws:
        ready = ws.receive_json()
        assert ready["type"] == "ready"
        assert (ready["sample_rate"], ready["format"], ready["labels"]) == (16_000, "f32", LABELS)
        for chunk in chunks_of(samples):
            ws.send_bytes(chunk.astype("<f4").tobytes())
        expected_windows = int((samples.size / 16_000 - window) // hop) + 1
        while len(scores) < expected_windows:
            message = ws.receive_json()
            assert message["type"] == "scores"
            scores.append(message)
        ws.send_text(json.dumps({"type": "end"}))
        summary = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1000
    ends = [m["end"] for m in scores]
    assert ends == pytest.approx([window + k * hop for k in range(expected_windows)])
    for message in scores:
        assert list(message["scores"]) == LABELS
        assert sum(message["scores"].values()) == pytest.approx(1.0, abs=1e-6)
        assert message["end"] - message["start"] == pytest.approx(window)
    # The first window scores exactly the first two seconds of the clip.
    first = recognizer.probabilities(samples[: int(window * 16_000)])
    assert [scores[0]["scores"][label] for label in LABELS] == pytest.approx(first.tolist(), abs=1e-5)
    assert summary["type"] == "summary"
    assert summary["windows"] == expected_windows
    assert summary["seconds"] == pytest.approx(samples.size / 16_000, abs=1e-3)
    mean = np.mean([[m["scores"][label] for label in LABELS] for m in scores], axis=0)
    assert [summary["scores"][label] for label in LABELS] == pytest.approx(mean.tolist(), abs=1e-6)


def test_stream_int16_frames(client, example_clip):
    samples = load_audio(example_clip)[: 3 * 16_000]
    pcm = np.clip(samples * 32768, -32768, 32767).astype("<i2")
    with client.websocket_connect("/v1/stream?format=s16&window=1&hop=1") as ws:
        assert ws.receive_json()["format"] == "s16"
        ws.send_bytes(pcm.tobytes())
        received = [ws.receive_json() for _ in range(3)]
        ws.send_text('{"type": "end"}')
        summary = ws.receive_json()
    assert [m["end"] for m in received] == pytest.approx([1.0, 2.0, 3.0])
    assert summary["windows"] == 3


def test_end_before_a_full_window_still_summarises(client, example_clip):
    samples = load_audio(example_clip)[:8000]  # 0.5 s, under the 2 s window
    with client.websocket_connect("/v1/stream") as ws:
        ws.receive_json()
        ws.send_bytes(samples.astype("<f4").tobytes())
        ws.send_text('{"type": "end"}')
        summary = ws.receive_json()
    assert summary["type"] == "summary"
    assert summary["windows"] == 1
    assert sum(summary["scores"].values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("frame", "code", "message"),
    [
        (b"\x00\x01\x02", 1007, "whole 4-byte samples"),
        (np.array([0.0, np.inf], "<f4").tobytes(), 1007, "NaN or infinite"),
        (np.full(100, 20000.0, "<f4").tobytes(), 1007, "format=s16"),
        (np.zeros(5 * 16_000, "<f4").tobytes(), 1009, "send smaller chunks"),
        ("not json", 1003, "must be JSON"),
        ('{"type": "pause"}', 1003, "unknown message type"),
    ],
    ids=["odd-bytes", "inf", "int-as-float", "too-big", "text-not-json", "unknown-type"],
)
def test_bad_frames_get_an_error_and_a_close_code(client, frame, code, message):
    with client.websocket_connect("/v1/stream") as ws:
        ws.receive_json()
        if isinstance(frame, bytes):
            ws.send_bytes(frame)
        else:
            ws.send_text(frame)
        error = expect_close(ws, code)
    assert message in error["detail"]
    # The server is unharmed: a new stream and a request still work.
    assert client.get("/v1/health").json()["open_streams"] == 0


def test_bad_parameters_are_refused(client):
    with client.websocket_connect("/v1/stream?window=1&hop=3") as ws:
        assert "hop must be between" in expect_close(ws, 1008)["detail"]
    with client.websocket_connect("/v1/stream?format=mp3") as ws:
        assert "format must be one of" in expect_close(ws, 1008)["detail"]


def test_stream_length_and_count_are_bounded(make_app):
    app = make_app(max_stream_seconds=1.0, max_streams=1)
    with TestClient(app) as client, client.websocket_connect("/v1/stream") as ws:
        ws.receive_json()
        with client.websocket_connect("/v1/stream") as second:
            assert "too many open streams" in expect_close(second, 1013)["detail"]
        ws.send_bytes(np.zeros(12_000, "<f4").tobytes())
        ws.send_bytes(np.zeros(12_000, "<f4").tobytes())  # 1.5 s in total
        assert "longer than 1 s" in expect_close(ws, 1008)["detail"]


def test_idle_stream_is_closed(make_app):
    with (
        TestClient(make_app(stream_idle_timeout_s=0.2)) as client,
        client.websocket_connect("/v1/stream") as ws,
    ):
        ws.receive_json()
        assert "no data for 0.2 s" in expect_close(ws, 1001)["detail"]
