"""Fixtures of the serving tests: a small real model bundle (random weights, fitted normaliser),
the recogniser built from it, the app, a test client and a real uvicorn server on loopback."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.conftest import SR, speechlike

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LABELS = ["angry", "happy", "neutral", "sad"]
MODEL_CARD = "# serving-test model\n\nRandom weights; only for the serving tests.\n"


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real bundle of the default architecture; no trained model is needed."""
    from voxemo.models import build_model
    from voxemo.training.checkpoint import save_bundle
    from voxemo.training.config import TrainConfig

    torch.manual_seed(0)
    config = TrainConfig()
    model = build_model(config.model, len(LABELS))
    model.fit_normalizer([speechlike(2.0, seed=seed, f0=120.0 + 30 * seed) for seed in range(4)])
    folder = save_bundle(
        tmp_path_factory.mktemp("bundle") / "serving-test",
        model.eval(),
        config,
        LABELS,
        metadata={"name": "serving-test"},
    )
    (folder / "MODEL_CARD.md").write_text(MODEL_CARD, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def recognizer(bundle_dir: Path):
    from voxemo.inference import Recognizer

    return Recognizer.from_bundle(bundle_dir)


@pytest.fixture
def make_app(recognizer):
    """``make_app(**config)`` -> a FastAPI app around the test recogniser."""
    from voxemo.serving import ServeConfig, create_app

    def build(**overrides):
        return create_app(recognizer, ServeConfig(**overrides))

    return build


@pytest.fixture
def client(make_app):
    from fastapi.testclient import TestClient

    with TestClient(make_app()) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def example_clip() -> Path:
    return EXAMPLES / "happy_actor01.flac"


def wav_bytes(samples: np.ndarray, rate: int = SR, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(app, timeout: float = 15.0) -> Iterator[str]:
    """Run ``app`` under uvicorn on a free loopback port in a thread; yields the base URL."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws_max_size=1 << 20)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port} within {timeout} s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=timeout)


#: Debian's Chromium, driven by playwright for the page tests (never `playwright install`).
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium tries to reach Google's hosts from an offline machine.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
