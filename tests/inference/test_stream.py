"""Streaming sessions: one prediction per hop over the last window, bounded memory, latency."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tests.inference.bundles import SR, clip, silence, untrained_bundle
from voxemo.errors import AudioError, ConfigError, VoxemoError
from voxemo.inference import Recognizer, load_model


def signal(seconds_of_clips: int = 5) -> np.ndarray:
    parts = [clip(label, seed=i) for i, label in enumerate(["high", "low", "glide", "high", "low"])]
    return np.concatenate([silence(0.3), *parts])[: seconds_of_clips * SR]


def feed_in_chunks(session, samples: np.ndarray, chunk: int) -> list:
    out = []
    for start in range(0, samples.size, chunk):
        out += session.feed(samples[start : start + chunk])
    return out


def test_one_prediction_per_completed_hop(recognizer: Recognizer):
    samples = signal(5)
    session = recognizer.stream(window=2.0, hop=0.5)
    predictions = feed_in_chunks(session, samples, 1600)
    # Windows end at 2.0, 2.5, ..., 5.0 s.
    assert [p.end for p in predictions] == [2.0 + 0.5 * k for k in range(7)]
    assert all(p.end - p.start == pytest.approx(2.0) for p in predictions)
    for p in predictions:
        assert sum(p.scores.values()) == pytest.approx(1.0)
        window = samples[int(p.start * SR) : int(p.end * SR)]
        assert np.allclose(list(p.scores.values()), recognizer.probabilities(window), atol=1e-6)


@pytest.mark.parametrize("chunk", [1, 333, 8000, 80_000])
def test_chunking_does_not_change_the_predictions(recognizer: Recognizer, chunk: int):
    samples = signal(4)
    reference = recognizer.stream(window=1.0, hop=0.25).feed(samples)
    if chunk == 1:
        samples = samples[: int(1.6 * SR)]  # sample by sample is slow in Python; check a prefix
        reference = [p for p in reference if p.end <= 1.6]
    got = feed_in_chunks(recognizer.stream(window=1.0, hop=0.25), samples, chunk)
    assert [(p.start, p.end) for p in got] == [(p.start, p.end) for p in reference]
    for a, b in zip(got, reference, strict=True):
        assert np.allclose(list(a.scores.values()), list(b.scores.values()), atol=1e-6)


def test_memory_is_a_fixed_ring_buffer(recognizer: Recognizer):
    session = recognizer.stream(window=1.0, hop=1.0)
    buffer = session._buffer
    chunk = signal(2)
    count = 0
    for _ in range(30):  # one minute of audio
        count += len(session.feed(chunk))
    assert session._buffer is buffer and buffer.size == SR
    assert count == 60
    assert session.seconds == pytest.approx(60.0)


def test_finish_summarises_the_session(recognizer: Recognizer):
    session = recognizer.stream(window=1.0, hop=0.5)
    predictions = session.feed(np.concatenate([clip("high", seed=s) for s in range(4)]))
    summary = session.finish()
    assert summary["windows"] == len(predictions) > 3
    mean = np.mean([list(p.scores.values()) for p in predictions], axis=0)
    assert np.allclose(list(summary["scores"].values()), mean / mean.sum())
    assert summary["emotion"] == max(summary["scores"], key=summary["scores"].get)
    assert sum(summary["top_counts"].values()) == len(predictions)
    with pytest.raises(VoxemoError, match="finished"):
        session.feed(np.zeros(10, np.float32))


def test_session_shorter_than_a_window_scores_what_it_has(recognizer: Recognizer):
    session = recognizer.stream(window=2.0, hop=0.5)
    short = clip("high")[: int(0.8 * SR)]
    assert session.feed(short) == []
    summary = session.finish()
    assert summary["windows"] == 1
    assert np.allclose(list(summary["scores"].values()), recognizer.probabilities(short), atol=1e-6)
    empty = recognizer.stream().finish()
    assert empty["windows"] == 0 and empty["emotion"] is None


def test_integer_pcm_is_scaled(recognizer: Recognizer):
    samples = signal(3)
    pcm = np.round(samples * 32767).astype(np.int16)
    a = recognizer.stream(window=1.0, hop=1.0).feed(samples)
    b = recognizer.stream(window=1.0, hop=1.0).feed(pcm)
    assert np.allclose([list(p.scores.values()) for p in a], [list(p.scores.values()) for p in b], atol=1e-3)


def test_bad_chunks_and_settings(recognizer: Recognizer):
    session = recognizer.stream()
    with pytest.raises(AudioError, match="1-D"):
        session.feed(np.zeros((2, 100), np.float32))
    with pytest.raises(AudioError, match="NaN"):
        session.feed(np.full(100, np.nan, np.float32))
    with pytest.raises(AudioError, match="dtype"):
        session.feed(np.array(["a", "b"]))
    with pytest.raises(ConfigError, match="hop"):
        recognizer.stream(window=1.0, hop=2.0)


def test_latency_per_hop_of_a_default_size_cnn(tmp_path: Path):
    # The registered CNN at its default size (16-128 channels), as a shipped model would be.
    recognizer = load_model(untrained_bundle(tmp_path / "cnn", "cnn"))
    session = recognizer.stream(window=2.0, hop=0.5)
    session.feed(np.zeros(int(1.5 * SR), np.float32) + silence(1.5))
    hop = signal(5)[: SR // 2]
    latencies = []
    for _ in range(12):
        start = time.perf_counter()
        assert len(session.feed(hop)) == 1
        latencies.append(time.perf_counter() - start)
    assert float(np.median(latencies[2:])) < 0.05, f"median latency per hop {np.median(latencies):.3f} s"
