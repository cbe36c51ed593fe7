"""Shared fixtures: the real corpora in ../shared/datasets (skipped when absent) and synthetic audio."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

# Tests share 2 cores with each other; keep torch from oversubscribing them.
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("VOXEMO_DATASETS", REPO.parent / "shared" / "datasets"))
SR = 16_000


def dataset_root(name: str) -> Path:
    """Root of one shared corpus; skips the test with the reason when it is not there."""
    root = DATASETS / name
    if not root.is_dir():
        pytest.skip(f"corpus {name!r} not found at {root} (set VOXEMO_DATASETS or place ../shared/datasets)")
    return root


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    if not DATASETS.is_dir():
        pytest.skip(f"shared datasets not found at {DATASETS} (set VOXEMO_DATASETS)")
    return DATASETS


@pytest.fixture(scope="session")
def manifest(datasets_dir: Path) -> dict:
    return json.loads((datasets_dir / "MANIFEST.json").read_text())


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test session gets its own feature cache so tests never read a developer's cache."""
    monkeypatch.setenv("VOXEMO_CACHE", str(tmp_path_factory.getbasetemp() / "voxemo-cache"))


def tone(freq: float = 220.0, seconds: float = 1.0, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def speechlike(seconds: float = 2.0, sr: int = SR, f0: float = 150.0, seed: int = 0) -> np.ndarray:
    """A harmonic, syllable-modulated signal with pauses: enough voice-like structure for pitch and VAD."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f = f0 * (1 + 0.05 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f) / sr
    voice = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = (np.sin(2 * np.pi * 3.0 * t) > -0.2).astype(float)
    signal = 0.3 * voice * envelope + 0.003 * rng.standard_normal(t.size)
    return signal.astype(np.float32)


@pytest.fixture
def example_wav(tmp_path: Path) -> Path:
    import soundfile as sf

    path = tmp_path / "speechlike.wav"
    sf.write(path, speechlike(), SR)
    return path
