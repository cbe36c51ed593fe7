"""A bounded load test against a real uvicorn server on loopback: 200 requests, 8 at a time."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.serving.conftest import running_server, wav_bytes
from voxemo.audio import load_audio

REQUESTS = 200
CONCURRENT = 8


def test_200_requests_8_concurrent_all_answered_correctly(make_app, recognizer, example_clip):
    clip = load_audio(example_clip)[: 16_000 + 4_000]  # 1.25 s keeps the run short
    data = wav_bytes(clip, subtype="FLOAT")
    expected = recognizer.predict(data)
    app = make_app(concurrency=2, queue_limit=CONCURRENT)

    with running_server(app) as base_url:

        def worker(indices: range) -> list[tuple[int, dict | str]]:
            answers = []
            with httpx.Client(base_url=base_url, timeout=30.0) as http:
                for i in indices:
                    if i % 10 == 9:  # interleave cheap requests: the loop must keep answering them
                        response = http.get("/v1/health")
                        answers.append((response.status_code, response.json()))
                        continue
                    response = http.post("/v1/predict", files={"file": (f"{i}.wav", data, "audio/wav")})
                    answers.append((response.status_code, response.json() if response.content else ""))
            return answers

        started = time.monotonic()
        with ThreadPoolExecutor(CONCURRENT) as pool:
            parts = [range(k, REQUESTS, CONCURRENT) for k in range(CONCURRENT)]
            answers = [answer for part in pool.map(worker, parts) for answer in part]
        elapsed = time.monotonic() - started

    assert len(answers) == REQUESTS
    statuses = [status for status, _ in answers]
    assert all(status < 500 for status in statuses), f"server errors: {sorted(set(statuses))}"
    assert statuses == [200] * REQUESTS
    predictions = [body for _, body in answers if "emotion" in body]
    assert len(predictions) == REQUESTS - REQUESTS // 10
    for body in predictions:
        assert body["emotion"] == expected.emotion
        for label, p in expected.scores.items():
            assert body["scores"][label] == pytest.approx(p, abs=1e-5)
    assert elapsed < 120, f"the load test took {elapsed:.0f} s"


def test_oversized_upload_over_real_http_gets_413_and_server_stays_up(make_app):
    """The server answers 413 from the declared length without reading the 3 MiB body."""
    body = b"\0" * (3 * 1024 * 1024)
    with (
        running_server(make_app(max_upload_mb=1)) as base_url,
        httpx.Client(base_url=base_url, timeout=30) as http,
    ):
        response = http.post("/v1/predict", files={"file": ("big.wav", body, "audio/wav")})
        assert response.status_code == 413
        assert "limit is 1 MiB" in response.json()["detail"]
        assert http.get("/v1/health").json()["status"] == "ok"
