"""``POST /v1/explain``: the JSON explanation (summary or full), the PNG, and readable refusals."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import SR, speechlike, tone
from tests.serving.conftest import LABELS, wav_bytes

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def upload(client: TestClient, data: bytes, name: str = "clip.wav", **params):
    return client.post("/v1/explain", params=params, files={"file": (name, data, "application/octet-stream")})


@pytest.fixture(scope="module")
def clip_bytes() -> bytes:
    return wav_bytes(speechlike(1.5, f0=180.0, seed=3))


def test_explain_summary_matches_the_library(client, recognizer, clip_bytes: bytes):
    response = upload(client, clip_bytes, name="voice.wav")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["filename"] == "voice.wav" and "path" not in body
    assert body["kind"] == "spectrogram" and body["method"] == "integrated-gradients"
    assert list(body["scores"]) == LABELS and body["emotion"] == body["target"]
    assert body["duration_s"] == pytest.approx(1.5, abs=1e-3)
    assert "attribution" not in body and "log_mel" not in body
    assert 1 <= len(body["regions"]) <= 5
    assert {"start_s", "end_s", "low_hz", "high_hz", "weight", "pushes_towards"} <= set(body["regions"][0])
    expected = recognizer.explain(speechlike(1.5, f0=180.0, seed=3), sample_rate=SR)
    assert body["emotion"] == expected.emotion
    for label in LABELS:
        assert body["scores"][label] == pytest.approx(expected.scores[label], abs=1e-4)
    assert body["attribution_sum"] == pytest.approx(float(expected.attribution.sum()), abs=1e-3)


def test_full_adds_the_arrays(client, clip_bytes: bytes):
    body = upload(client, clip_bytes, full="true", method="occlusion", target="sad").json()
    assert body["method"] == "occlusion" and body["target"] == "sad"
    attribution = np.array(body["attribution"])
    assert attribution.shape == np.array(body["log_mel"]).shape == (64, len(body["frame_times"]))
    assert np.isfinite(attribution).all() and len(body["mel_frequencies"]) == 64


def test_png_answers_the_picture(client, clip_bytes: bytes):
    response = upload(client, clip_bytes, png="true")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.content[:8] == PNG_MAGIC and len(response.content) > 20_000


@pytest.mark.parametrize(
    ("params", "fragment"),
    [({"target": "boredom"}, "unknown target 'boredom'"), ({"method": "saliency"}, "method")],
)
def test_bad_parameters_are_422(client, clip_bytes: bytes, params: dict, fragment: str):
    response = upload(client, clip_bytes, **params)
    assert response.status_code == 422
    assert fragment in response.text


def test_bad_audio_is_refused_like_predict(client):
    assert upload(client, b"not audio at all" * 100).status_code == 415
    too_long = upload(client, wav_bytes(tone(seconds=31.0, amp=0.1)))
    assert too_long.status_code == 422 and "cut out the one utterance" in too_long.json()["detail"]
    assert upload(client, wav_bytes(np.zeros(SR, dtype=np.float32))).status_code == 422


def test_onnx_recognizer_answers_501(recognizer):
    from voxemo.serving import create_app

    class OnnxLike:
        info = recognizer.info

        def probabilities(self, waveforms):
            return np.full((len(waveforms), len(LABELS)), 0.25)

    from voxemo.inference import Recognizer

    with TestClient(create_app(Recognizer(OnnxLike()))) as onnx_client:
        response = upload(onnx_client, wav_bytes(speechlike(1.0)))
    assert response.status_code == 501 and "torch" in response.json()["detail"]
