"""Explanations over time of heads on frame embeddings (``kind == "frames"``).

Two small heads are trained here on cheap ``mfcc`` frames (never the Whisper encoder: it is slow):

- a synthetic task whose class is set only by a short tone burst (``low`` or ``high``; ``none``
  without one) at a random moment of a voice-like background, so the explanation must point at the
  burst's time span (and removing that span must take the evidence away: it turns into ``none``);
- RAVDESS angry vs sad (4 actors, 64 clips, skipped without ``../shared/datasets``) for the
  faithfulness check on real speech: dropping the most-attributed 20 % of the frames must cost the
  predicted emotion more than dropping as many random frames.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import SR, dataset_root, speechlike
from tests.inference.bundles import fit_tiny
from voxemo.errors import ConfigError
from voxemo.inference import Recognizer, load_model
from voxemo.inference.explain import Explanation, deletion_check, explain_waveform
from voxemo.inference.explain_frames import frame_view

TONE_CLASSES = ["none", "low", "high"]
BURSTS = ["low", "high"]
TONE_HZ = {"low": 700.0, "high": 3500.0}
BURST_SECONDS = 0.3
MFCC = {"n_mfcc": 20, "delta_order": 0}


def tone_clip(label: str, seed: int) -> tuple[np.ndarray, tuple[float, float]]:
    """A voice-like background with a ``BURST_SECONDS`` tone at a random moment (none for ``none``);
    returns the clip and the burst's span."""
    rng = np.random.default_rng(seed)
    seconds = rng.uniform(1.6, 2.4)
    background = speechlike(seconds, f0=rng.uniform(100.0, 220.0), seed=seed) * rng.uniform(0.5, 1.5)
    start = rng.uniform(0.2, seconds - BURST_SECONDS - 0.2)
    if label == "none":
        return background, (0.0, 0.0)
    t = np.arange(int(BURST_SECONDS * SR)) / SR
    burst = 0.3 * np.sin(2 * np.pi * TONE_HZ[label] * t) * np.hanning(t.size) ** 0.2
    first = int(start * SR)
    background[first : first + t.size] += burst.astype(np.float32)
    return background, (start, start + BURST_SECONDS)


def train_frames_bundle(
    folder: Path, waves: list[np.ndarray], targets: list[int], labels: list[str], head: str, steps: int
) -> Path:
    """Fit a small frames head on the waves' mfcc frames and save it as a bundle."""
    from voxemo.features import get_extractor
    from voxemo.models import ModelConfig, build_model
    from voxemo.training import TrainConfig, save_bundle
    from voxemo.training.config import InputConfig
    from voxemo.training.data import pad_frames

    extractor = get_extractor("mfcc", **MFCC)
    frames = [extractor.extract(wave) for wave in waves]
    params = {"input_dim": extractor.dim, "frame_rate": extractor.frame_rate, "hidden": [32], "dropout": 0.0}
    if head == "attention-pool":
        params |= {"projection": 32, "attention_heads": 2, "attention_hidden": 16}
    config = TrainConfig(
        model=ModelConfig(name=head, params=params),
        inputs=InputConfig(frame_features="mfcc", feature_params=MFCC),
    )
    torch.manual_seed(0)
    model = build_model(config.model, len(labels))
    model.fit_normalizer(frames)
    x, lengths = pad_frames(frames)
    accuracy = fit_tiny(model, x, lengths, torch.tensor(targets), steps=steps, batch_size=16, lr=3e-3)
    # Explanations of a model that learned nothing would prove nothing.
    assert accuracy >= 0.95, f"the test head did not learn its training clips (accuracy {accuracy:.2f})"
    return save_bundle(folder, model, config, labels)


@pytest.fixture(scope="module")
def tone_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    waves, targets = [], []
    for seed in range(48):
        label = TONE_CLASSES[seed % 3]
        waves.append(tone_clip(label, seed)[0])
        targets.append(seed % 3)
    folder = tmp_path_factory.mktemp("explain-frames") / "tones"
    return train_frames_bundle(folder, waves, targets, TONE_CLASSES, "pooled-mlp", steps=150)


@pytest.fixture(scope="module")
def tone_recognizer(tone_bundle: Path) -> Recognizer:
    return load_model(tone_bundle)


@pytest.fixture(scope="module")
def held_out() -> list[tuple[str, np.ndarray, tuple[float, float]]]:
    """Clips the head never saw (seeds 100+), two of each class."""
    return [(label, *tone_clip(label, 100 + i)) for i, label in enumerate(BURSTS * 2)]


@pytest.fixture(scope="module")
def tone_explanation(tone_recognizer: Recognizer, held_out) -> Explanation:
    return tone_recognizer.explain(held_out[1][1], method="occlusion", sample_rate=SR)


# ---------------------------------------------------------------------- the synthetic task


@pytest.mark.parametrize("method", ["occlusion", "integrated-gradients"])
def test_top_region_is_the_tone_burst_that_sets_the_class(tone_recognizer, held_out, method: str):
    for label, wave, (start, end) in held_out:
        e = tone_recognizer.explain(wave, method=method, sample_rate=SR)
        assert (e.kind, e.method, e.emotion, e.target) == ("frames", method, label, label)
        assert e.regions, "no region pushes towards the predicted class"
        top = e.regions[0]
        assert top.start_s < end and start < top.end_s, (label, method, top, (start, end))
        # Most of the support sits on the burst, not spread over the background.
        inside = (e.frame_times >= start - 0.05) & (e.frame_times <= end + 0.05)
        positive = np.clip(e.attribution, 0.0, None)
        assert positive[inside].sum() > 0.5 * positive.sum(), (label, method)
        assert top.effect > 0.2 and top.pushes_towards == label


def test_explanation_over_time_has_consistent_axes(tone_explanation: Explanation, tone_recognizer, held_out):
    e = tone_explanation
    wave = held_out[1][1]
    frames = tone_recognizer.backend.feature_extractor.extract(wave)
    assert e.attribution.shape == e.frame_times.shape == (frames.shape[0],)
    assert e.frame_times[1] == pytest.approx(0.01)  # mfcc: 100 frames per second
    assert e.scores == pytest.approx(tone_recognizer.predict(wave, sample_rate=SR).scores, abs=1e-6)
    assert e.log_mel.shape == (64, e.log_mel_times.size) and np.isfinite(e.log_mel).all()
    assert e.log_mel_times[-1] == pytest.approx(e.duration_s, abs=0.02)
    assert np.all(np.diff(e.mel_frequencies) > 0) and e.mel_frequencies.size == 64
    for first, region in enumerate(e.regions):
        assert region.low_hz is None and region.high_hz is None
        assert 0 <= region.start_s < region.end_s <= e.duration_s
        assert region.end_s - region.start_s == pytest.approx(0.3, abs=0.011)
        for other in e.regions[first + 1 :]:
            assert region.end_s <= other.start_s or other.end_s <= region.start_s, "regions overlap"
    assert [r.weight for r in e.regions] == sorted((r.weight for r in e.regions), reverse=True)


def test_dropping_frames_is_the_head_on_the_shorter_sequence(tone_recognizer, held_out):
    """Removal means the recording without those frames: the head run on the remaining ones."""
    wave = held_out[0][1]
    view = frame_view(tone_recognizer, wave)
    keep = np.ones((2, view.length), dtype=bool)
    keep[1, 40:90] = False
    scores = view.scores_keeping(keep)
    prediction = tone_recognizer.predict(wave, sample_rate=SR)
    assert scores[0] == pytest.approx([prediction.scores[c] for c in TONE_CLASSES], abs=1e-6)
    shorter = torch.cat([view.frames[:40], view.frames[90:]]).unsqueeze(0)
    with torch.no_grad():
        direct = view.model(shorter, None).softmax(dim=-1)[0].double().numpy()
    np.testing.assert_allclose(scores[1], direct, atol=1e-6)
    with pytest.raises(ConfigError, match="every frame removed"):
        view.scores_keeping(np.zeros((1, view.length), dtype=bool))


def test_occlusion_is_the_measured_drop_of_each_window(tone_recognizer, held_out):
    """Frames only the first window covers carry exactly its drop spread over its frames."""
    wave = held_out[2][1]
    e = tone_recognizer.explain(wave, method="occlusion", sample_rate=SR, patch_seconds=0.2)
    view = frame_view(tone_recognizer, wave)
    target = TONE_CLASSES.index(e.target)
    without = view.scores_keeping(view.keep_all_but([(0, 20)]))[0, target]
    np.testing.assert_allclose(e.attribution[:10], (e.target_score - without) / 20, atol=1e-9)
    region = e.regions[0]
    removed = view.scores_keeping(view.keep_all_but([region.frames]))[0]
    assert region.effect == pytest.approx(e.target_score - removed[target], abs=1e-9)


def test_integrated_gradients_over_time_are_complete(tone_recognizer, held_out):
    e = tone_recognizer.explain(held_out[0][1], method="integrated-gradients", sample_rate=SR)
    difference = e.target_score - e.baseline_score
    assert abs(difference) > 0.1
    assert e.attribution.sum() == pytest.approx(difference, abs=0.02 + 0.05 * abs(difference))


def test_removing_top_frames_hurts_more_than_random_frames_on_the_tones(tone_recognizer, held_out):
    for method in ("occlusion", "integrated-gradients"):
        drops = []
        for _, wave, _ in held_out:
            e = tone_recognizer.explain(wave, method=method, sample_rate=SR)
            drops.append(deletion_check(tone_recognizer, wave, e, fraction=0.2, draws=8, seed=1))
        top = np.mean([d["top_drop"] for d in drops])
        random = np.mean([d["random_drop"] for d in drops])
        assert top > random + 0.2, (method, top, random)


# ---------------------------------------------------------------------- defaults, errors, output


def test_frames_default_method_is_occlusion_and_unsupported_ones_are_config_errors(tone_recognizer, held_out):
    wave = held_out[0][1]
    assert explain_waveform(tone_recognizer, wave).method == "occlusion"
    with pytest.raises(ConfigError, match="supported: integrated-gradients, occlusion"):
        tone_recognizer.explain(wave, method="saliency", sample_rate=SR)


def test_occlusion_of_long_recordings_is_allowed_for_frames(tone_recognizer):
    """The extractor runs once; only the head reruns, so the spectrogram models' 10 s guard is moot."""
    wave = np.concatenate([tone_clip("high", seed)[0] for seed in range(200, 206)])
    assert wave.size / SR > 10.0
    e = tone_recognizer.explain(wave, method="occlusion", sample_rate=SR)
    assert e.kind == "frames" and np.isfinite(e.attribution).all()


def test_to_dict_leaves_out_the_frequencies_and_adds_time_arrays(tone_explanation: Explanation):
    small = json.loads(json.dumps(tone_explanation.to_dict()))
    assert small["kind"] == "frames" and "attribution" not in small
    assert set(small["regions"][0]) == {"rank", "start_s", "end_s", "weight", "effect", "pushes_towards"}
    full = json.loads(json.dumps(tone_explanation.to_dict(full=True)))
    assert len(full["attribution"]) == len(full["frame_times"]) == tone_explanation.attribution.size
    assert np.array(full["log_mel"]).shape == (64, len(full["log_mel_times"]))
    assert len(full["mel_frequencies"]) == 64


def test_picture_shows_spectrogram_and_time_curve(tone_explanation: Explanation, tmp_path: Path):
    import matplotlib.image

    image = matplotlib.image.imread(tone_explanation.plot(tmp_path / "why.png"))
    assert image.shape[0] > 500 and image.shape[1] > 1000
    assert image[..., :3].std() > 0.1
    # The attribution curve is drawn in the explanation's red (pushes towards the target).
    red = (image[..., 0] > 0.75) & (image[..., 1] < 0.25) & (image[..., 2] < 0.25)
    assert red.sum() > 200


def test_cli_explains_a_frames_bundle(capsys, tone_bundle: Path, held_out, tmp_path: Path):
    import soundfile as sf

    from voxemo.cli import main

    label, wave, (start, end) = held_out[1]
    clip = tmp_path / "burst.wav"
    sf.write(clip, wave, SR)
    out = tmp_path / "why.png"
    code = main(["explain", str(clip), "--model", str(tone_bundle), "--out", str(out), "--json"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    record = json.loads(stdout)
    assert record["kind"] == "frames" and record["method"] == "occlusion" and record["emotion"] == label
    assert record["regions"][0]["start_s"] < end and start < record["regions"][0]["end_s"]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code = main(["explain", str(clip), "--model", str(tone_bundle), "--method", "integrated-gradients"])
    stdout, _ = capsys.readouterr()
    assert code == 0 and "stretches of the recording" in stdout and "frequency" not in stdout
    code = main(["explain", str(clip), "--model", str(tone_bundle), "--method", "saliency"])
    _, stderr = capsys.readouterr()
    assert code == 2 and "supported: integrated-gradients, occlusion" in stderr


def test_http_explain_answers_a_frames_explanation(tone_recognizer, held_out):
    import io

    import soundfile as sf
    from fastapi.testclient import TestClient

    from voxemo.serving import ServeConfig, create_app

    label, wave, (start, end) = held_out[0]
    buffer = io.BytesIO()
    sf.write(buffer, wave, SR, format="WAV", subtype="FLOAT")
    files = {"file": ("burst.wav", buffer.getvalue(), "application/octet-stream")}
    with TestClient(create_app(tone_recognizer, ServeConfig())) as client:
        body = client.post("/v1/explain", params={"method": "occlusion"}, files=files).json()
        picture = client.post("/v1/explain", params={"png": "true"}, files=files)
    assert body["kind"] == "frames" and body["emotion"] == label, body
    assert "low_hz" not in body["regions"][0]
    assert body["regions"][0]["start_s"] < end and start < body["regions"][0]["end_s"]
    assert picture.status_code == 200 and picture.content[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------- real speech


@pytest.fixture(scope="module")
def ravdess_clips() -> dict[str, list]:
    """Angry (05) and sad (04) clips cut to their speech: actors 1-4 for training, 5-6 held out."""
    from voxemo.audio import load_audio
    from voxemo.audio.vad import trim_silence

    root = dataset_root("ravdess")
    codes = {"05": 0, "04": 1}
    clips: dict[str, list] = {"train": [], "train_y": [], "test": []}
    for actor in range(1, 7):
        for path in sorted((root / f"Actor_{actor:02d}").glob("*.flac")):
            emotion = path.name.split("-")[2]
            if emotion not in codes:
                continue
            wave = np.ascontiguousarray(trim_silence(load_audio(path), SR))
            if actor <= 4:
                clips["train"].append(wave)
                clips["train_y"].append(codes[emotion])
            elif len(clips["test"]) < 2 * 8 and int(path.name.split("-")[4]) == 1:  # one statement
                clips["test"].append(wave)
    return clips


@pytest.fixture(scope="module")
def ravdess_recognizer(ravdess_clips, tmp_path_factory: pytest.TempPathFactory) -> Recognizer:
    folder = tmp_path_factory.mktemp("explain-frames") / "ravdess"
    bundle = train_frames_bundle(
        folder, ravdess_clips["train"], ravdess_clips["train_y"], ["angry", "sad"], "attention-pool", 150
    )
    return load_model(bundle)


@pytest.mark.parametrize("method", ["occlusion", "integrated-gradients"])
def test_removing_top_frames_hurts_more_than_random_frames_on_real_speech(
    ravdess_recognizer, ravdess_clips, method: str
):
    """FAITHFULNESS on real clips (held-out actors and training clips): dropping the 20 % most-
    attributed frames lowers the predicted emotion's probability more than dropping 20 % random
    frames, on average over the clips and 8 random draws each, and for most clips one by one."""
    waves = ravdess_clips["test"] + ravdess_clips["train"][::8]
    top, random = [], []
    for wave in waves:
        e = ravdess_recognizer.explain(wave, method=method, sample_rate=SR)
        assert e.target == e.emotion
        drops = deletion_check(ravdess_recognizer, wave, e, fraction=0.2, draws=8, seed=1)
        top.append(drops["top_drop"])
        random.append(drops["random_drop"])
    top_mean, random_mean = float(np.mean(top)), float(np.mean(random))
    print(f"{method}: top-20% frames drop p by {top_mean:.3f}, random 20% by {random_mean:.3f}")
    assert top_mean > random_mean + 0.1
    assert np.mean(np.array(top) > np.array(random)) >= 0.75
