"""REST endpoints with a real recogniser: answers, limits and readable errors."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from tests.conftest import SR, speechlike, tone
from tests.serving.conftest import LABELS, MODEL_CARD, wav_bytes


def upload(client: TestClient, url: str, data: bytes, name: str = "clip.wav", **kwargs):
    return client.post(url, files={"file": (name, data, "application/octet-stream")}, **kwargs)


def test_model_describes_labels_card_and_privacy(client):
    response = client.get("/v1/model")
    assert response.status_code == 200
    body = response.json()
    assert body["labels"] == LABELS
    assert body["stores_audio"] is False
    assert body["model_card"] == MODEL_CARD
    assert body["sample_rate"] == 16_000
    assert body["limits"]["max_upload_mb"] == 20.0
    assert body["stream"]["formats"] == ["f32", "s16"]


def test_health(client):
    body = client.get("/v1/health").json()
    assert body["status"] == "ok"
    assert (body["running"], body["waiting"], body["open_streams"]) == (0, 0, 0)


def test_predict_example_clip_matches_the_library(client, recognizer, example_clip):
    response = upload(client, "/v1/predict", example_clip.read_bytes(), name=example_clip.name)
    assert response.status_code == 200, response.text
    body = response.json()
    labels = client.get("/v1/model").json()["labels"]
    assert list(body["scores"]) == labels
    assert sum(body["scores"].values()) == pytest.approx(1.0, abs=1e-6)
    assert body["emotion"] == max(body["scores"], key=body["scores"].get)
    assert body["confidence"] == pytest.approx(max(body["scores"].values()))
    assert body["filename"] == example_clip.name
    assert body["duration_s"] == pytest.approx(sf.info(example_clip).duration, abs=1e-3)
    assert "path" not in body
    # The service decodes from memory exactly as the library decodes the file.
    expected = recognizer.predict(example_clip)
    for label in labels:
        assert body["scores"][label] == pytest.approx(expected.scores[label], abs=1e-5)


def test_predict_resamples_stereo_44k(client, recognizer):
    clip = speechlike(1.5, sr=44_100)
    stereo = np.stack([clip, 0.5 * clip], axis=1)
    response = upload(client, "/v1/predict", wav_bytes(stereo, 44_100))
    assert response.status_code == 200, response.text
    assert response.json()["duration_s"] == pytest.approx(1.5, abs=1e-3)


def test_openapi_documents_the_upload(client):
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert body["schema"]["required"] == ["file"]
    assert "/v1/timeline" in schema["paths"]
    assert client.get("/docs").status_code == 200


def test_page_is_self_contained(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.text
    assert "<canvas" in html and "/v1/stream" in html and "getUserMedia" in html
    # Offline machine: nothing may be fetched from elsewhere.
    assert "http://" not in html.replace("http://HOST", "")
    assert "https://" not in html
    assert "default-src 'self'" in response.headers["content-security-policy"]


# ---------------------------------------------------------------- limits and errors


def test_declared_size_over_the_limit_is_413(make_app):
    with TestClient(make_app(max_upload_mb=0.05)) as client:
        response = upload(client, "/v1/predict", wav_bytes(speechlike(3.0)))  # ~96 KB > 51 KB
    assert response.status_code == 413
    assert "limit is 0.05 MiB" in response.json()["detail"]


def test_streamed_size_over_the_limit_is_413_without_content_length(make_app):
    """A chunked body gives no Content-Length: the limit holds while reading."""
    boundary = "voxemoboundary"
    data = wav_bytes(speechlike(3.0))
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    chunks = (
        [head]
        + [data[i : i + 8192] for i in range(0, len(data), 8192)]
        + [f"\r\n--{boundary}--\r\n".encode()]
    )

    def body():
        yield from chunks

    with TestClient(make_app(max_upload_mb=0.05)) as client:
        response = client.post(
            "/v1/predict",
            content=body(),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
    assert response.status_code == 413
    # Small limit under the same framing: a file under it is still accepted.
    with TestClient(make_app(max_upload_mb=0.2)) as client:
        ok = client.post(
            "/v1/predict",
            content=iter(chunks),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
    assert ok.status_code == 200, ok.text


def test_not_audio_is_415(client):
    response = upload(client, "/v1/predict", b"this is plain text, not a recording " * 20, name="notes.txt")
    assert response.status_code == 415
    assert "not a supported audio file" in response.json()["detail"]


def test_truncated_header_is_415(client):
    response = upload(client, "/v1/predict", wav_bytes(speechlike(1.0))[:30])
    assert response.status_code == 415


def test_not_multipart_is_415(client):
    response = client.post(
        "/v1/predict", content=wav_bytes(speechlike(1.0)), headers={"content-type": "audio/wav"}
    )
    assert response.status_code == 415
    assert "multipart/form-data" in response.json()["detail"]


def test_missing_field_and_empty_file_are_422(client):
    response = client.post("/v1/predict", files={"audio": ("a.wav", wav_bytes(speechlike(1.0)))})
    assert response.status_code == 422
    assert "no field named 'file'" in response.json()["detail"]
    response = upload(client, "/v1/predict", b"")
    assert response.status_code == 422
    assert "empty" in response.json()["detail"]


@pytest.mark.parametrize(
    ("samples", "subtype", "message"),
    [
        (np.zeros(SR, np.float32), "PCM_16", "silent"),
        (np.full(SR, np.nan, np.float32), "FLOAT", "NaN"),
        (tone(seconds=0.05), "PCM_16", "too short"),
        (tone(seconds=6.0), "PCM_16", "over the limit of 5 s"),
    ],
    ids=["silent", "nan", "too-short", "too-long"],
)
def test_unusable_audio_is_422(make_app, samples, subtype, message):
    with TestClient(make_app(max_predict_seconds=5.0)) as client:
        response = upload(client, "/v1/predict", wav_bytes(samples, subtype=subtype))
    assert response.status_code == 422
    assert message in response.json()["detail"]


def test_full_queue_is_503_with_retry_after(make_app, recognizer):
    """One slot, no queue: while a request runs, the next one is refused at once."""
    app = make_app(concurrency=1, queue_limit=0, retry_after_s=2)
    started, release = threading.Event(), threading.Event()
    original = recognizer.predict

    def slow_predict(*args, **kwargs):
        started.set()
        release.wait(10)
        return original(*args, **kwargs)

    data = wav_bytes(speechlike(1.0))
    results = {}
    with TestClient(app) as client:
        recognizer.predict = slow_predict
        try:
            worker = threading.Thread(
                target=lambda: results.update(first=upload(client, "/v1/predict", data))
            )
            worker.start()
            assert started.wait(10)
            busy = upload(client, "/v1/predict", data)
            assert client.get("/v1/health").json()["running"] == 1  # the loop still answers
        finally:
            release.set()
            worker.join(10)
            del recognizer.predict  # back to the class method
    assert busy.status_code == 503
    assert busy.headers["retry-after"] == "2"
    assert "busy" in busy.json()["detail"]
    assert results["first"].status_code == 200


# ---------------------------------------------------------------- timeline


def test_timeline_of_two_joined_clips(client, recognizer):
    from tests.serving.conftest import EXAMPLES
    from voxemo.audio import load_audio

    joined = np.concatenate(
        [load_audio(EXAMPLES / "angry_actor01.flac"), load_audio(EXAMPLES / "sad_actor02.flac")]
    )
    data = wav_bytes(joined, subtype="FLOAT")
    response = upload(client, "/v1/timeline?window=2&hop=1", data, name="two.wav")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["labels"] == LABELS
    assert (body["window"], body["hop"]) == (2.0, 1.0)
    assert body["duration_s"] == pytest.approx(joined.size / SR, abs=1e-3)
    curve = body["curve"]
    assert len(curve) == int((joined.size / SR - 2.0) // 1.0) + 1
    assert [point["end"] for point in curve] == pytest.approx([2.0 + k for k in range(len(curve))])
    scored = [point for point in curve if point["scores"] is not None]
    assert scored, "speech windows must carry scores"
    for point in scored:
        assert sum(point["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    assert body["segments"], "two spoken sentences give speech segments"
    assert body["summary"]["emotion"] in LABELS
    expected = recognizer.timeline(data, window=2.0, hop=1.0).to_dict()
    assert body["curve"] == expected["curve"]


def test_timeline_parameters_are_validated(client):
    data = wav_bytes(speechlike(3.0))
    assert upload(client, "/v1/timeline?window=1&hop=2", data).status_code == 422
    assert upload(client, "/v1/timeline?window=-1", data).status_code == 422
    assert upload(client, "/v1/timeline", b"GIF89a not audio at all").status_code == 415
    assert upload(client, "/v1/timeline", wav_bytes(np.zeros(3 * SR, np.float32))).status_code == 422
