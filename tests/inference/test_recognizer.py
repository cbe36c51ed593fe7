"""The Recognizer on a small trained bundle: files, bytes, arrays, batches, long inputs, bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.inference.bundles import CLASSES, SR, clip, silence, train_bundle, untrained_bundle
from voxemo.errors import AudioError, ModelError, VoxemoError
from voxemo.inference import Prediction, Recognizer, load_model, predictions_to_frame

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def wav_bytes(samples: np.ndarray, rate: int = SR) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype="FLOAT")
    return buffer.getvalue()


def scores(prediction: Prediction) -> np.ndarray:
    return np.array(list(prediction.scores.values()))


@pytest.mark.parametrize("label", CLASSES)
def test_recognises_the_synthetic_classes(recognizer: Recognizer, label: str):
    prediction = recognizer.predict(clip(label, speaker=4), sample_rate=SR)
    assert prediction.emotion == label
    assert set(prediction.scores) == set(CLASSES)
    assert sum(prediction.scores.values()) == pytest.approx(1.0, abs=1e-9)
    assert prediction.confidence == max(prediction.scores.values())


def test_path_bytes_and_array_give_the_same_scores(recognizer: Recognizer, tmp_path: Path):
    samples = clip("high")
    path = tmp_path / "high.wav"
    sf.write(path, samples, SR, subtype="FLOAT")
    from_path = recognizer.predict(path)
    from_bytes = recognizer.predict(wav_bytes(samples))
    from_array = recognizer.predict(samples, sample_rate=SR)
    assert from_path.path == str(path) and from_bytes.path is None
    assert np.allclose(scores(from_path), scores(from_array), atol=1e-9)
    assert np.allclose(scores(from_bytes), scores(from_array), atol=1e-9)


def test_other_sample_rates_are_resampled(recognizer: Recognizer):
    import soxr

    samples = clip("low")
    at_44k = soxr.resample(samples, SR, 44_100).astype(np.float32)
    a = recognizer.predict(samples, sample_rate=SR)
    b = recognizer.predict(at_44k, sample_rate=44_100)
    assert a.emotion == b.emotion == "low"
    assert np.allclose(scores(a), scores(b), atol=0.02)


def test_batch_matches_single_predictions_and_isolates_failures(recognizer: Recognizer, tmp_path: Path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEjunk" * 10)
    sources = [
        EXAMPLES / "angry_actor01.flac",
        tmp_path / "missing.wav",
        clip("high", seed=1, repeats=3),  # ~3 s next to 1 s clips: different padding in the batch
        broken,
        clip("glide", seed=2),
        np.zeros(SR, dtype=np.float32),  # silent
        EXAMPLES / "sad_actor02.flac",
    ]
    results = recognizer.predict_batch(sources, sample_rate=SR)
    assert len(results) == len(sources)
    assert isinstance(results[1], AudioError) and "file not found" in str(results[1])
    assert isinstance(results[3], AudioError) and "not a readable audio file" in str(results[3])
    assert isinstance(results[5], AudioError) and "silent" in str(results[5])
    for index in (0, 2, 4, 6):
        single = recognizer.predict(sources[index], sample_rate=SR)
        assert isinstance(results[index], Prediction)
        assert results[index].emotion == single.emotion
        assert np.allclose(scores(results[index]), scores(single), atol=1e-6)
    assert results[0].path == str(EXAMPLES / "angry_actor01.flac")
    frame = predictions_to_frame(
        results, paths=[str(s) if isinstance(s, Path) else "<array>" for s in sources]
    )
    assert len(frame) == len(sources)
    assert (frame["error"] != "").sum() == 3


def test_batches_bigger_than_one_chunk_keep_order(trained_bundle: Path):
    small = load_model(trained_bundle, batch_size=2, workers=2)  # chunks of 8 sources
    waves = [clip(CLASSES[i % 3], seed=i) for i in range(19)]
    results = small.predict_batch(waves, sample_rate=SR)
    assert [r.emotion for r in results] == [CLASSES[i % 3] for i in range(19)]


def test_scores_are_softmax_of_logits_over_temperature(tmp_path: Path):
    plain = load_model(train_bundle(tmp_path / "t1", steps=5))
    hot = load_model(train_bundle(tmp_path / "t3", steps=5, temperature=3.0))
    samples = clip("glide")
    logits = plain.backend.logits([samples])[0]
    for recognizer, temperature in ((plain, 1.0), (hot, 3.0)):
        expected = np.exp(logits / temperature) / np.exp(logits / temperature).sum()
        assert np.allclose(scores(recognizer.predict(samples, sample_rate=SR)), expected, atol=1e-6)


def test_uncertainty_threshold_from_bundle_and_override(tmp_path: Path):
    bundle = train_bundle(tmp_path / "b", steps=5, metadata={"uncertainty_threshold": 0.999})
    strict = load_model(bundle)
    assert strict.threshold == 0.999
    prediction = strict.predict(clip("glide"), sample_rate=SR)
    assert prediction.uncertain == (prediction.confidence < 0.999)
    assert prediction.uncertain  # five training steps never reach 99.9 %
    relaxed = load_model(bundle, uncertainty_threshold=0.0)
    assert relaxed.predict(clip("glide"), sample_rate=SR).uncertain is False


def test_long_input_averages_windows_over_speech(recognizer: Recognizer):
    from voxemo.audio import speech_segments

    parts = [silence(3.0)]
    for seed in range(6):
        parts += [clip("high", seed=seed, repeats=3), silence(3.0, seed)]
    long_clip = np.concatenate(parts)
    assert long_clip.size / SR > recognizer.config.max_whole_seconds
    prediction = recognizer.predict(long_clip, sample_rate=SR)
    assert sum(prediction.scores.values()) == pytest.approx(1.0)
    # Every speech segment is shorter than a window here, so the result is the length-weighted
    # mean of the segments' own scores; the silence between them plays no part.
    segments = speech_segments(long_clip, SR)
    assert len(segments) == 6
    pieces = [long_clip[int(s.start * SR) : int(np.ceil(s.end * SR))] for s in segments]
    weights = np.array([p.size for p in pieces], dtype=float)
    expected = weights @ recognizer.probabilities_batch(pieces) / weights.sum()
    assert np.allclose(scores(prediction), expected, atol=1e-6)
    whole = recognizer.probabilities_batch(
        [long_clip[i : i + 6 * SR] for i in range(0, long_clip.size, 6 * SR)]
    )
    assert not np.allclose(scores(prediction), whole.mean(axis=0), atol=1e-3)


def test_very_short_clips_are_padded_like_in_training(recognizer: Recognizer):
    short = clip("high")[: SR // 5]  # 0.2 s, below the bundle's 0.5 s minimum
    padded = np.pad(short, (0, SR // 2 - short.size))
    assert np.allclose(recognizer.probabilities(short), recognizer.probabilities(padded), atol=1e-9)


@pytest.mark.parametrize(
    ("source", "rate", "message"),
    [
        (np.zeros(SR, np.float32), SR, "silent"),
        (np.ones(SR, np.float32), None, "sample_rate"),
        (np.full(SR, np.nan, np.float32), SR, "NaN"),
        (b"", None, "empty"),
        (12345, None, "cannot load audio from a int"),
    ],
)
def test_bad_input_raises_audio_error(recognizer: Recognizer, source, rate, message: str):
    with pytest.raises(AudioError, match=message):
        recognizer.predict(source, sample_rate=rate)


def test_bad_options_and_models_raise_voxemo_errors(trained_bundle: Path, tmp_path: Path):
    with pytest.raises(VoxemoError, match="uncertainty_threshold"):
        load_model(trained_bundle, uncertainty_threshold=1.5)
    with pytest.raises(VoxemoError, match="valid keys"):
        load_model(trained_bundle, windw=3)
    with pytest.raises(VoxemoError, match="unknown inference backend 'tensorflow'"):
        load_model(trained_bundle, backend="tensorflow")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match="corrupt"):
        load_model(broken)


def test_model_facts_and_card(recognizer: Recognizer, trained_bundle: Path):
    assert recognizer.labels == list(CLASSES)
    assert recognizer.sample_rate == SR
    card = recognizer.model_card()
    assert "low, high, glide" in card
    (trained_bundle / "MODEL_CARD.md").write_text("# Tiny test model\n")
    try:
        assert recognizer.model_card() == "# Tiny test model\n"
    finally:
        (trained_bundle / "MODEL_CARD.md").unlink()


def test_top_level_load_model_is_the_inference_one(trained_bundle: Path):
    import voxemo

    recognizer = voxemo.load_model(trained_bundle)
    assert isinstance(recognizer, voxemo.Recognizer)
    assert isinstance(recognizer.predict(clip("low"), sample_rate=SR), voxemo.Prediction)


def test_feature_vector_models_extract_their_features(tmp_path: Path):
    from voxemo.features import get_extractor

    extractor = get_extractor("mfcc-stats")
    bundle = untrained_bundle(tmp_path / "mlp", "mlp", input_dim=extractor.dim, feature="mfcc-stats")
    recognizer = load_model(bundle)
    assert recognizer.info.input_kind == "features"
    samples = clip("high")
    prediction = recognizer.predict(samples, sample_rate=SR)
    assert sum(prediction.scores.values()) == pytest.approx(1.0)
    # Same numbers as the model fed the extractor's vector directly.
    import torch

    vector = torch.from_numpy(extractor.extract(samples, SR).astype(np.float32)[None])
    with torch.no_grad():
        expected = torch.softmax(recognizer.backend.model(vector, None), dim=1)[0].numpy()
    assert np.allclose(scores(prediction), expected, atol=1e-6)
    results = recognizer.predict_batch([samples, clip("low")], sample_rate=SR)
    assert np.allclose(scores(results[0]), expected, atol=1e-6)
