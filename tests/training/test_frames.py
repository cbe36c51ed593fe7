"""Heads on frame features through the training loop, inference and export (cheap ``mfcc`` frames).

The synthetic task: harmonic tones whose class is set by their pitch, with random level, length
and harmonic roll-off, so both heads must learn pitch from MFCC frames and generalise to new clips.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from voxemo.errors import ConfigError, FeatureError, ModelError
from voxemo.features.registry import FEATURES
from voxemo.features.spectral import MFCC
from voxemo.models import ModelConfig
from voxemo.training import augment
from voxemo.training.config import AugmentConfig, InputConfig, OptimConfig, TrainConfig
from voxemo.training.data import augmented_frame_copies, build_dataset, pad_frames
from voxemo.training.loop import predict_logits, predict_proba, train

SR = 16_000
PITCHES = {"low": (110.0, 150.0), "mid": (260.0, 340.0), "high": (600.0, 760.0)}
LIGHT_MFCC = {"n_mfcc": 13, "delta_order": 0}


def tone_clip(label: str, rng: np.random.Generator) -> np.ndarray:
    seconds = rng.uniform(0.7, 1.3)
    t = np.arange(int(seconds * SR)) / SR
    f0 = rng.uniform(*PITCHES[label])
    rolloff = rng.uniform(0.7, 1.5)
    voice = sum(np.sin(2 * np.pi * k * f0 * t) / k**rolloff for k in range(1, 6))
    level = rng.uniform(0.05, 0.3)
    return (level * voice / 2 + 0.002 * rng.standard_normal(t.size)).astype(np.float32)


def write_clips(folder: Path, per_class: int, seed: int, split: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for label in PITCHES:
        for i in range(per_class):
            path = folder / f"{split}-{label}-{i}.wav"
            sf.write(path, tone_clip(label, rng), SR)
            rows.append(
                {"path": str(path), "emotion": label, "speaker": f"{split}{i % 3}", "corpus": "tones"}
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame | Path]:
    folder = tmp_path_factory.mktemp("tones")
    return {
        "train": write_clips(folder, 10, 0, "train"),
        "val": write_clips(folder, 3, 1, "val"),
        "test": write_clips(folder, 6, 2, "test"),
        "cache": folder / "cache",
    }


def frames_config(model: str, cache: Path, **changes) -> TrainConfig:
    params = {"hidden": [32], "dropout": 0.1}
    if model == "attention-pool":
        params |= {"projection": 16, "attention_heads": 2, "attention_hidden": 16}
    config = TrainConfig(
        model=ModelConfig(name=model, params=params),
        inputs=InputConfig(frame_features="mfcc", feature_params=LIGHT_MFCC, cache_dir=str(cache), n_jobs=1),
        augment=AugmentConfig(time_masks=2, time_mask_width=10, mixup_alpha=0.2, mixup_prob=0.3),
        optim=OptimConfig(lr=3e-3),
        epochs=12,
        batch_size=8,
        patience=0,
        num_threads=1,
        tensorboard=False,
    )
    return config.replace(**changes)


def unweighted_accuracy(labels: list[str], probs: np.ndarray, classes: list[str]) -> float:
    predicted = np.asarray(classes)[probs.argmax(axis=1)]
    truth = np.asarray(labels)
    return float(np.mean([np.mean(predicted[truth == c] == c) for c in classes]))


@pytest.fixture(scope="module", params=["pooled-mlp", "attention-pool"])
def trained(request, tones, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp(request.param)
    config = frames_config(request.param, tones["cache"])
    result = train(config, tones["train"], tones["val"], out, progress=False)
    return result, out


def test_both_heads_learn_pitch_classes_on_held_out_clips(trained, tones) -> None:
    result, _ = trained
    test = build_dataset(tones["test"], result.config, labels=result.labels)
    probs = predict_proba(result.model, test)
    assert unweighted_accuracy(test.labels, probs, result.labels) >= 0.9


def test_training_fills_in_frame_shape_from_the_data(trained) -> None:
    result, _ = trained
    params = result.config.model.params
    assert params["input_dim"] == 13 and params["frame_rate"] == 100.0 and params["sample_rate"] == SR
    assert result.model.input_kind == "frames"


def test_bundle_round_trip_gives_the_in_memory_probabilities(trained, tones) -> None:
    import voxemo

    result, out = trained
    paths = list(tones["test"]["path"][:4])
    test = build_dataset(tones["test"].iloc[:4], result.config, labels=result.labels)
    logits = predict_logits(result.model, test)
    expected = torch.softmax(torch.from_numpy(logits) / result.temperature, dim=1).numpy()
    recognizer = voxemo.load_model(out)
    assert recognizer.info.input_kind == "frames"
    for path, want in zip(paths, expected, strict=True):
        prediction = recognizer.predict(path)
        got = np.array([prediction.scores[label] for label in result.labels])
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_streaming_and_timeline_work_with_a_frames_bundle(trained, tones) -> None:
    import voxemo
    from voxemo.audio import load_audio

    result, out = trained
    recognizer = voxemo.load_model(out)
    audio = np.concatenate([load_audio(p) for p in tones["test"]["path"][:3]])
    session = recognizer.stream(window=1.0, hop=0.5)
    predictions = session.feed(audio)
    assert predictions and all(p.emotion in result.labels for p in predictions)
    timeline = recognizer.timeline(audio, sample_rate=SR, window=1.0, hop=0.5)
    assert timeline.to_dict()


def test_onnx_export_of_a_frames_model_says_to_use_the_torch_backend(trained, tmp_path: Path) -> None:
    from voxemo.export.onnx_export import export_onnx

    _, out = trained
    with pytest.raises(ModelError, match="torch backend"):
        export_onnx(out, tmp_path / "model.onnx")


def test_a_frames_model_is_explained_over_time(trained, tones) -> None:
    import voxemo

    _, out = trained
    explanation = voxemo.load_model(out).explain(tones["test"]["path"][0], method="occlusion")
    assert explanation.kind == "frames" and explanation.attribution.shape == explanation.frame_times.shape


def test_frames_models_refuse_an_utterance_level_extractor(tones) -> None:
    config = frames_config("pooled-mlp", tones["cache"])
    config = config.replace(inputs=config.inputs.replace(frame_features="mfcc-stats", feature_params={}))
    with pytest.raises(ConfigError, match="utterance-level"):
        build_dataset(tones["val"], config)


def test_pad_frames_zero_pads_and_returns_lengths() -> None:
    batch, lengths = pad_frames([np.ones((3, 2), np.float32), np.full((5, 2), 2.0, np.float32)])
    assert batch.shape == (2, 5, 2) and lengths.tolist() == [3, 5]
    assert batch[0, 3:].abs().sum() == 0 and float(batch[1].mean()) == 2.0


def test_evaluation_centre_crops_frames_to_eval_max_seconds(trained) -> None:
    result, _ = trained
    model = result.model
    rng = np.random.default_rng(0)
    long = rng.standard_normal((300, 13)).astype(np.float32)
    cropped = predict_logits(model, [long], max_samples=SR)  # 1 s of audio = 100 frames
    direct = predict_logits(model, [long[100:200]])
    np.testing.assert_allclose(cropped, direct, atol=1e-5)


# ---------------------------------------------------------------- augmentation of frames


def test_frame_time_masks_drop_spans_and_shorten_lengths() -> None:
    frames = torch.arange(2 * 40 * 3, dtype=torch.float32).reshape(2, 40, 3) + 1
    lengths = torch.tensor([40, 24])
    frames[1, 24:] = 0
    config = AugmentConfig(time_masks=2, time_mask_width=6)
    out, new_lengths = augment.frame_time_masks(frames, lengths, config, np.random.default_rng(3))
    assert (new_lengths <= lengths).all() and (new_lengths >= lengths - 12).all()
    assert (new_lengths < lengths).any()
    for i in range(2):
        kept = out[i, : new_lengths[i], 0]
        assert torch.all(kept[1:] > kept[:-1])  # the remaining frames, in order, none invented
        assert set(kept.tolist()) <= set(frames[i, : lengths[i], 0].tolist())
        assert out[i, new_lengths[i] :].abs().sum() == 0
    unchanged, same = augment.frame_time_masks(
        frames, lengths, AugmentConfig(time_masks=0), np.random.default_rng(0)
    )
    assert unchanged is frames and same is lengths


def test_mixup_handles_frames_with_lengths() -> None:
    frames = torch.randn(4, 10, 3)
    lengths = torch.tensor([10, 4, 7, 2])
    mixed, new_lengths, partner, lam = augment.mixup(frames, lengths, 0.4, np.random.default_rng(1))
    assert mixed.shape == frames.shape and 0.5 <= lam <= 1.0
    torch.testing.assert_close(mixed, lam * frames + (1 - lam) * frames[partner])
    assert torch.equal(new_lengths, torch.maximum(lengths, lengths[partner]))


def test_random_and_centre_crops_cut_frames_along_time() -> None:
    frames = np.arange(50 * 2, dtype=np.float32).reshape(50, 2)
    crop = augment.random_crop(frames, 20, np.random.default_rng(0))
    assert crop.shape == (20, 2) and crop[0, 0] % 2 == 0
    np.testing.assert_array_equal(augment.center_crop(frames, 10), frames[20:30])


def test_augment_copies_are_cached_different_and_deterministic(tones, tmp_path: Path) -> None:
    paths = list(tones["val"]["path"][:3])
    inputs = InputConfig(
        frame_features="mfcc", feature_params=LIGHT_MFCC, cache_dir=str(tmp_path), augment_copies=2
    )
    recipe = AugmentConfig(speed_prob=1.0, noise_prob=1.0, gain_prob=1.0, snr_db=(10.0, 15.0))
    first = augmented_frame_copies(paths, inputs, recipe, seed=0)
    assert first.computed == 6 and first.cache_hits == 0
    originals = build_dataset(tones["val"].iloc[:3], frames_config("pooled-mlp", tmp_path)).inputs
    for original, (copy0, copy1) in zip(originals, first.arrays, strict=True):
        assert copy0.shape[1] == original.shape[1] == 13
        assert copy0.shape != original.shape or not np.allclose(copy0, original)
        assert copy0.shape != copy1.shape or not np.allclose(copy0, copy1)
    second = augmented_frame_copies(paths, inputs, recipe, seed=0)
    assert second.computed == 0 and second.cache_hits == 6
    for a, b in zip(first.arrays, second.arrays, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    other_seed = augmented_frame_copies(paths, inputs, recipe, seed=1)
    assert other_seed.computed == 6


def test_training_with_augment_copies_uses_them(tones, monkeypatch: pytest.MonkeyPatch) -> None:
    from voxemo.training import loop

    config = frames_config("pooled-mlp", tones["cache"], epochs=2)
    config = config.replace(inputs=config.inputs.replace(augment_copies=1))
    seen: list[int] = []
    real = loop._frame_copies

    def spy(cfg, data):
        copies = real(cfg, data)
        seen.append(len(copies))
        return copies

    monkeypatch.setattr(loop, "_frame_copies", spy)
    result = train(config, tones["train"], tones["val"], None, progress=False)
    assert seen == [len(tones["train"])]  # copies of the training clips only
    assert len(result.history) == 2


# ---------------------------------------------------------------- pinned extractor params


@dataclasses.dataclass
class _FakeWeightsConfig(MFCC.Config):
    expected_sha256: str | None = None


class FakeWeightsFrames(MFCC):
    """MFCC frames that pretend to run a weight file, like the Whisper extractor."""

    name = "fake-weights-frames"
    Config = _FakeWeightsConfig
    weights = "a" * 64

    def pinned_params(self) -> dict:
        expected = self.config.expected_sha256
        if expected and expected != self.weights:
            raise FeatureError(f"the weights have sha256 {self.weights}, expected {expected}")
        return {"expected_sha256": self.weights}


@pytest.fixture
def fake_extractor(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(FEATURES._entries, FakeWeightsFrames.name, FakeWeightsFrames)
    return FakeWeightsFrames


def test_pinned_params_go_into_the_bundle_and_other_weights_are_refused(
    fake_extractor, tones, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import voxemo

    config = frames_config("pooled-mlp", tones["cache"], epochs=1)
    config = config.replace(inputs=config.inputs.replace(frame_features=fake_extractor.name))
    result = train(config, tones["val"], None, tmp_path, progress=False)
    assert result.config.inputs.feature_params == {**LIGHT_MFCC, "expected_sha256": "a" * 64}
    assert voxemo.load_model(tmp_path).predict(tones["val"]["path"][0]).emotion in result.labels
    monkeypatch.setattr(fake_extractor, "weights", "b" * 64)
    with pytest.raises(FeatureError, match="expected " + "a" * 64):
        voxemo.load_model(tmp_path)


def test_whisper_extractor_pins_the_sha256_of_its_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    from voxemo.features import whisper

    monkeypatch.setattr(whisper, "weights_identity", lambda spec: (Path("/weights"), "c" * 64))
    extractor = whisper.WhisperEncoderFeatures()
    assert extractor.pinned_params() == {"expected_sha256": "c" * 64}
    assert MFCC().pinned_params() == {}


# ---------------------------------------------------------------- recipes and cross-validation

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.mark.parametrize(
    ("recipe", "family"), [("whisper-mlp", "pooled-mlp"), ("whisper-attn", "attention-pool")]
)
def test_whisper_recipes_are_frames_models_on_whisper_encoder_frames(recipe: str, family: str) -> None:
    from voxemo.models import build_model

    config = TrainConfig.load(RECIPES / f"{recipe}.yaml")
    assert config.model.name == family and config.inputs.frame_features == "whisper-encoder"
    assert config.inputs.feature_params == {} and config.num_threads == 1
    model = build_model(config.model.replace(params={**config.model.params, "input_dim": 384}), 7)
    assert model.input_kind == "frames" and sum(p.numel() for p in model.parameters()) < 500_000


def test_cross_validation_runs_a_frames_recipe(tones, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from voxemo.evaluation.crossval import cross_validate

    config = TrainConfig.load(RECIPES / "whisper-mlp.yaml")
    inputs = config.inputs.replace(
        frame_features="mfcc", feature_params=LIGHT_MFCC, cache_dir=str(tones["cache"])
    )
    config = config.replace(
        inputs=inputs, epochs=6, tensorboard=False, min_epochs=0, optim=OptimConfig(lr=3e-3)
    )
    table = pd.concat([tones["train"], tones["val"], tones["test"]], ignore_index=True)
    rows = {split: np.flatnonzero(table["path"].str.contains(f"/{split}-").to_numpy()) for split in tones}
    fold = SimpleNamespace(name="tones", train=rows["train"], val=rows["val"], test=rows["test"])
    results = cross_validate(table, [fold], config, tmp_path, progress=False, model_name="whisper-mlp")
    assert (tmp_path / "results.json").is_file()
    assert results["n"] == len(rows["test"]) and results["ua"] >= 0.9


def test_whisper_statistics_pin_the_same_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    from voxemo.features import get_extractor, whisper

    monkeypatch.setattr(whisper, "weights_identity", lambda spec: (Path("/weights"), "d" * 64))
    stats = get_extractor("whisper-encoder-stats")
    assert stats.pinned_params() == {"expected_sha256": "d" * 64}
    # The pin routes back to the frame extractor's config, where the check happens.
    pinned = get_extractor("whisper-encoder-stats", **stats.pinned_params())
    assert pinned.frame_extractor.config.expected_sha256 == "d" * 64


def test_feature_models_get_their_extractor_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    from voxemo.features.base import FeatureExtractor
    from voxemo.training.loop import _pin_extractor

    monkeypatch.setattr(FeatureExtractor, "pinned_params", lambda self: {"n_mfcc": 13})
    inputs = TrainConfig().inputs.replace(utterance_features="mfcc-stats")
    assert _pin_extractor(inputs, "mfcc-stats").feature_params == {"n_mfcc": 13}
