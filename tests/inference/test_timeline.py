"""Timelines of long recordings: segments where the speech was put, a smoothed curve, flat memory."""

from __future__ import annotations

import itertools
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import speechlike
from tests.inference.bundles import SR, clip, silence
from voxemo.errors import AudioError, ConfigError
from voxemo.inference import Recognizer, SpeechSegmenter

#: (start s, label, repeats) of the speech placed in the synthetic recording; the one at 9.0 s
#: straddles the 10 s analysis block used below.
PLACED = [(2.0, "high", 2), (9.0, "low", 3), (21.0, "glide", 2), (31.5, "high", 4)]
DURATION = 40.0


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, list[tuple[float, float]]]:
    """A 40 s file of faint noise with speech at known places; returns (path, samples, spans)."""
    samples = silence(DURATION, seed=5)
    spans = []
    for i, (start, label, repeats) in enumerate(PLACED):
        speech = clip(label, seed=i, repeats=repeats)
        first = int(start * SR)
        samples[first : first + speech.size] += speech
        spans.append((start, start + speech.size / SR))
    path = tmp_path_factory.mktemp("timeline") / "meeting.wav"
    sf.write(path, samples, SR, subtype="FLOAT")
    return path, samples, spans


def test_segments_line_up_with_the_placed_speech(recognizer: Recognizer, recording):
    path, samples, spans = recording
    timeline = recognizer.timeline(path, window=2.0, hop=1.0, block_seconds=10.0)
    assert timeline.duration == pytest.approx(DURATION)
    assert len(timeline.segments) == len(spans)
    for segment, (start, end) in zip(timeline.segments, spans, strict=True):
        assert segment.start == pytest.approx(start, abs=0.1)
        assert segment.end == pytest.approx(end, abs=0.1)
        # The segment's scores are those of exactly that stretch of the original recording.
        piece = samples[round(segment.start * SR) : round(segment.end * SR)]
        assert np.allclose(list(segment.scores.values()), recognizer.scores([piece])[0], atol=1e-3)
        assert sum(segment.scores.values()) == pytest.approx(1.0)
    assert timeline.summary["segments"] == len(spans)
    speech = sum(end - start for start, end in spans)
    assert timeline.summary["speech_seconds"] == pytest.approx(speech, abs=0.5)


def test_block_size_does_not_change_the_segments(recognizer: Recognizer, recording):
    path, _, _ = recording
    a = recognizer.timeline(path, block_seconds=7.0)
    b = recognizer.timeline(path, block_seconds=60.0)
    bounds = np.array([(s.start, s.end) for s in a.segments])
    assert bounds.shape == (len(PLACED), 2)
    assert np.allclose(bounds, [(s.start, s.end) for s in b.segments], atol=0.05)


def test_curve_has_a_window_every_hop_and_gaps_in_silence(recognizer: Recognizer, recording):
    path, samples, _ = recording
    timeline = recognizer.timeline(path, window=2.0, hop=1.0, smooth=3)
    assert timeline.curve_start.tolist() == [float(k) for k in range(int(DURATION) - 1)]
    assert np.allclose(timeline.curve_end - timeline.curve_start, 2.0)
    valid = np.isfinite(timeline.curve_raw).all(axis=1)
    assert np.array_equal(valid, timeline.curve_speech >= 0.25)
    assert not valid[timeline.curve_time < 1.5].any()  # nothing is spoken in the first 2 s
    assert valid[(timeline.curve_time > 10) & (timeline.curve_time < 12)].all()
    assert np.allclose(timeline.curve_smoothed[valid].sum(axis=1), 1.0)
    # Raw window scores are the model's scores of that window.
    k = int(np.flatnonzero(valid)[0])
    window = samples[int(timeline.curve_start[k] * SR) : int(timeline.curve_end[k] * SR)]
    assert np.allclose(timeline.curve_raw[k], recognizer.probabilities(window), atol=1e-5)


def test_bytes_and_arrays_give_the_same_timeline_as_the_file(recognizer: Recognizer, recording):
    path, samples, _ = recording
    from_file = recognizer.timeline(path)
    from_bytes = recognizer.timeline(path.read_bytes())
    from_array = recognizer.timeline(samples, sample_rate=SR)
    for other in (from_bytes, from_array):
        assert [(s.start, s.end, s.emotion) for s in other.segments] == [
            (s.start, s.end, s.emotion) for s in from_file.segments
        ]
        assert np.allclose(
            np.nan_to_num(other.curve_smoothed), np.nan_to_num(from_file.curve_smoothed), atol=1e-6
        )


def test_timeline_serialises_and_tabulates(recognizer: Recognizer, recording):
    path, _, spans = recording
    timeline = recognizer.timeline(path)
    record = json.loads(json.dumps(timeline.to_dict()))
    assert record["path"] == str(path)
    assert len(record["segments"]) == len(spans)
    assert {"start", "end", "emotion", "scores", "confidence"} <= set(record["segments"][0])
    assert record["curve"][0]["scores"] is None  # silence at the start
    frame = timeline.segments_frame()
    assert list(frame.columns[:5]) == ["start", "end", "emotion", "confidence", "uncertain"]
    assert len(frame) == len(spans)
    curve = timeline.curve_frame()
    assert len(curve) == len(timeline.curve_start) and "high" in curve.columns


def test_plot_is_written(recognizer: Recognizer, recording, tmp_path: Path):
    import matplotlib.image

    path, _, _ = recording
    out = recognizer.timeline(path).plot(tmp_path / "plots" / "timeline.png")
    image = matplotlib.image.imread(out)
    assert image.shape[0] > 300 and image.shape[1] > 600
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_a_recording_without_speech(recognizer: Recognizer, tmp_path: Path):
    path = tmp_path / "quiet.wav"
    sf.write(path, silence(5.0), SR)
    timeline = recognizer.timeline(path)
    assert timeline.segments == []
    assert timeline.summary["emotion"] is None
    assert not np.isfinite(timeline.curve_raw).any()
    timeline.plot(tmp_path / "quiet.png")  # an empty chart, not an error


def test_bad_input_and_options(recognizer: Recognizer, tmp_path: Path):
    with pytest.raises(AudioError, match="file not found"):
        recognizer.timeline(tmp_path / "missing.wav")
    with pytest.raises(ConfigError, match="smooth"):
        recognizer.timeline(silence(3.0), sample_rate=SR, smooth=0)
    with pytest.raises(ConfigError, match="hop"):
        recognizer.timeline(silence(3.0), sample_rate=SR, window=1.0, hop=3.0)


def _write_long_file(path: Path, minutes: float) -> None:
    """Speech-like bursts every 20 s in faint noise, written block by block."""
    burst = np.concatenate([clip("high", seed=1, repeats=4), silence(0.5)])
    with sf.SoundFile(path, "w", SR, 1, subtype="PCM_16") as out:
        for block in range(int(minutes * 3)):
            samples = silence(20.0, seed=block)
            samples[SR : SR + burst.size] += burst
            out.write(samples)


def _peak_traced_memory(recognizer: Recognizer, path: Path) -> tuple[int, object]:
    tracemalloc.start()
    try:
        timeline = recognizer.timeline(path, window=2.0, hop=2.0)
        return tracemalloc.get_traced_memory()[1], timeline
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_for_a_ten_minute_file(recognizer: Recognizer, tmp_path: Path):
    short, long = tmp_path / "two_minutes.wav", tmp_path / "ten_minutes.wav"
    _write_long_file(short, 2.0)
    _write_long_file(long, 10.0)
    peak_short, _ = _peak_traced_memory(recognizer, short)
    peak_long, timeline = _peak_traced_memory(recognizer, long)
    assert timeline.duration == pytest.approx(600.0)
    assert len(timeline.segments) == 30
    decoded_bytes = 600 * SR * 4  # what holding the whole file as float32 would take: 38 MB
    assert peak_long < decoded_bytes / 3
    assert peak_long < 1.3 * peak_short + 1_000_000, (peak_short, peak_long)


def test_endless_speech_is_cut_so_memory_stays_bounded():
    speech = speechlike(95.0, seed=3)  # pauses shorter than the VAD bridges: one long utterance
    segmenter = SpeechSegmenter(SR, chunk_seconds=10.0, max_segment_seconds=30.0)
    found, most_pending = [], 0
    for start in range(0, speech.size, 10 * SR):
        found += segmenter.feed(speech[start : start + 10 * SR])
        most_pending = max(most_pending, segmenter._pending_samples)
    found += segmenter.finish()
    assert most_pending <= 41 * SR
    assert len(found) >= 3
    assert found[0][0].start < 0.1 and found[-1][0].end > 94.9
    for (a, samples_a), (b, _) in itertools.pairwise(found):
        assert b.start == pytest.approx(a.end, abs=1e-3)  # contiguous pieces, nothing lost or doubled
        assert a.duration <= 41.0
        assert samples_a.size == pytest.approx(a.duration * SR, abs=2)
