"""Explanations: attribution maps, regions, cue groups, the picture, the CLI and faithfulness.

The faithfulness test needs a model that has learned something from real speech: a small CNN
is trained here for ~120 steps on the committed RAVDESS examples of four emotions plus 20 EmoDB
clips (skipped when EmoDB is absent), which it fits completely.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import SR, dataset_root, speechlike
from tests.inference.bundles import fit_tiny, untrained_bundle
from voxemo.cli import main
from voxemo.errors import AudioError, ModelError, RegistryError, VoxemoError
from voxemo.inference import Recognizer, load_model
from voxemo.inference.cues import CUE_GROUPS, OTHER, cue_group, group_features
from voxemo.inference.explain import (
    Explanation,
    deletion_check,
    model_view,
    remove_cells,
    top_boxes,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LABELS = ["angry", "happy", "neutral", "sad"]
EMODB_CODES = {"W": "angry", "F": "happy", "N": "neutral", "T": "sad"}


def _trimmed(recognizer: Recognizer, path: Path) -> np.ndarray:
    """The clip cut to its speech: the RAVDESS examples open and close with ~1 s of silence."""
    from voxemo.audio.vad import trim_silence

    return np.ascontiguousarray(trim_silence(recognizer.load(path), SR))


def _real_training_set() -> tuple[list[np.ndarray], list[int]]:
    from voxemo.audio import load_audio
    from voxemo.audio.vad import trim_silence

    emodb = dataset_root("emodb") / "wav"
    waves, targets = [], []
    for label in LABELS:
        example = next(EXAMPLES.glob(f"{label}_*.flac"))
        waves.append(np.ascontiguousarray(trim_silence(load_audio(example), SR)))
        targets.append(LABELS.index(label))
        # EmoDB names are SSTTTEV: the emotion code is the 6th character.
        clips = sorted(p for p in emodb.glob("*.flac") if EMODB_CODES.get(p.name[5]) == label)[:5]
        waves += [load_audio(p) for p in clips]
        targets += [LABELS.index(label)] * len(clips)
    return waves, targets


@pytest.fixture(scope="module")
def real_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CNN fitted on real emotional speech (28 clips, 4 emotions)."""
    from voxemo.models import ModelConfig, build_model
    from voxemo.training import TrainConfig, save_bundle
    from voxemo.training.data import pad_waveforms

    waves, targets = _real_training_set()
    torch.manual_seed(0)
    config = TrainConfig(
        model=ModelConfig(name="cnn", params={"channels": [8, 16, 32], "hidden": 32, "dropout": 0.0})
    )
    model = build_model(config.model, len(LABELS))
    model.fit_normalizer(waves)
    x, lengths = pad_waveforms(waves)
    accuracy = fit_tiny(model, x, lengths, torch.tensor(targets), steps=120, batch_size=12, lr=3e-3)
    # Faithfulness of explanations of a model that learned nothing would prove nothing.
    assert accuracy >= 0.9, f"the test model did not learn its training clips (accuracy {accuracy:.2f})"
    return save_bundle(tmp_path_factory.mktemp("explain") / "real-cnn", model, config, LABELS)


@pytest.fixture(scope="module")
def real_recognizer(real_bundle: Path) -> Recognizer:
    return load_model(real_bundle)


@pytest.fixture(scope="module")
def happy_explanation(real_recognizer: Recognizer) -> Explanation:
    return real_recognizer.explain(EXAMPLES / "happy_actor01.flac")


# ---------------------------------------------------------------------- spectrogram models


def test_spectrogram_explanation_shapes_axes_and_regions(happy_explanation: Explanation, real_recognizer):
    e = happy_explanation
    prediction = real_recognizer.predict(EXAMPLES / "happy_actor01.flac")
    assert (e.kind, e.method, e.emotion, e.target) == (
        "spectrogram",
        "integrated-gradients",
        *[prediction.emotion] * 2,
    )
    assert e.scores == pytest.approx(prediction.scores, abs=1e-5)
    n_mels, frames = e.log_mel.shape
    assert n_mels == 64 and e.attribution.shape == (n_mels, frames)
    assert np.isfinite(e.attribution).all() and np.isfinite(e.log_mel).all()
    assert frames == e.frame_times.size == int(e.duration_s * SR) // 160 + 1
    assert e.frame_times[1] == pytest.approx(0.01)
    assert np.all(np.diff(e.mel_frequencies) > 0) and 20 < e.mel_frequencies[0] < e.mel_frequencies[-1] < 8000
    assert 1 <= len(e.regions) <= 5
    for first, region in enumerate(e.regions):
        assert 0 <= region.start_s < region.end_s <= e.duration_s + 0.01
        assert 20 <= region.low_hz < region.high_hz <= 8000
        assert 0 < region.weight <= 1 and region.pushes_towards in LABELS
        for other in e.regions[first + 1 :]:
            apart_in_time = region.end_s <= other.start_s or other.end_s <= region.start_s
            apart_in_frequency = region.bands[1] <= other.bands[0] or other.bands[1] <= region.bands[0]
            assert apart_in_time or apart_in_frequency, "reported regions overlap"
    assert [r.weight for r in e.regions] == sorted((r.weight for r in e.regions), reverse=True)


def test_integrated_gradients_are_complete(happy_explanation: Explanation, real_recognizer):
    """Attributions sum to p(input) - p(baseline), the defining property of integrated gradients."""
    e = happy_explanation
    difference = e.target_score - e.baseline_score
    assert abs(difference) > 0.1  # a meaningful gap to check against
    assert e.attribution.sum() == pytest.approx(difference, abs=0.02 + 0.05 * abs(difference))
    # The same holds when explaining an emotion the model did not pick.
    other = next(label for label in LABELS if label != e.emotion)
    e2 = real_recognizer.explain(EXAMPLES / "happy_actor01.flac", target=other, steps=16)
    assert e2.target == other and e2.emotion == e.emotion
    assert e2.attribution.sum() == pytest.approx(e2.target_score - e2.baseline_score, abs=0.03)


def test_region_effects_are_what_removing_them_does(happy_explanation: Explanation, real_recognizer):
    e = happy_explanation
    view = model_view(real_recognizer, real_recognizer.load(EXAMPLES / "happy_actor01.flac"))
    region = e.regions[0]
    without = view.scores(remove_cells(view.inputs, [(slice(*region.bands), slice(*region.frames))]))[0]
    target = LABELS.index(e.target)
    assert region.effect == pytest.approx(e.target_score - without[target], abs=1e-5)
    assert region.pushes_towards == LABELS[int(np.argmax(np.array(list(e.scores.values())) - without))]


def test_occlusion_attribution_is_the_drop_of_each_patch(real_recognizer):
    path = EXAMPLES / "sad_actor02.flac"
    e = real_recognizer.explain(path, method="occlusion", patch_seconds=0.2, patch_bands=8)
    assert e.method == "occlusion" and np.isfinite(e.attribution).all()
    band, frame = np.unravel_index(np.argmax(e.attribution), e.attribution.shape)
    lo_band, lo_frame = band - band % 8, frame - frame % 20
    patch = (slice(lo_band, lo_band + 8), slice(lo_frame, lo_frame + 20))
    view = model_view(real_recognizer, real_recognizer.load(path))
    without = view.scores(remove_cells(view.inputs, [patch]))[0]
    target = LABELS.index(e.target)
    assert e.attribution[patch].sum() == pytest.approx(e.target_score - without[target], abs=1e-5)
    assert np.allclose(e.attribution[patch], e.attribution[band, frame])  # spread evenly over the patch


def test_removing_top_attributed_cells_hurts_more_than_random_cells(real_recognizer):
    """FAITHFULNESS on real clips: deleting the 2% (5%) most-attributed time-frequency cells (setting
    them to the baseline) lowers the predicted emotion's probability more than deleting as many
    random cells, on average over the 8 example clips and 8 random draws each.

    Clips are cut to their speech: the baseline is the training set's mean spectrum, so random
    cells "deleted" in a silence become loud blips that mislead the model for reasons of their own.
    """
    waves = [_trimmed(real_recognizer, path) for path in sorted(EXAMPLES.glob("*.flac"))]
    explanations = [real_recognizer.explain(wave, sample_rate=SR) for wave in waves]
    for fraction, margin in ((0.02, 0.1), (0.05, 0.05)):
        drops = [
            deletion_check(real_recognizer, wave, explanation, fraction=fraction, draws=8, seed=1)
            for wave, explanation in zip(waves, explanations, strict=True)
        ]
        top = np.mean([d["top_drop"] for d in drops])
        random = np.mean([d["random_drop"] for d in drops])
        print(f"faithfulness at {fraction:.0%}: p drops by {top:.3f} (top cells), {random:.3f} (random)")
        # Per clip it can go either way (deleted cells interact); on average it must not.
        assert top > random + margin, fraction


def test_reported_regions_matter_more_than_random_boxes(real_recognizer):
    """The top region of each clip (either method) costs the target more than a random box of its size."""
    rng = np.random.default_rng(0)
    for method in ("integrated-gradients", "occlusion"):
        region_effects, random_effects = [], []
        for path in sorted(EXAMPLES.glob("*.flac"))[:4]:
            wave = _trimmed(real_recognizer, path)
            e = real_recognizer.explain(wave, method=method, sample_rate=SR)
            view = model_view(real_recognizer, wave)
            height, width = np.diff(e.regions[0].bands)[0], np.diff(e.regions[0].frames)[0]
            n_mels, frames = e.attribution.shape
            bands = rng.integers(0, n_mels - height + 1, 8)
            starts = rng.integers(0, frames - width + 1, 8)
            boxes = [(slice(b, b + height), slice(t, t + width)) for b, t in zip(bands, starts, strict=True)]
            without = view.scores(remove_cells(view.inputs, boxes))[:, LABELS.index(e.target)]
            region_effects.append(e.regions[0].effect)
            random_effects.append(e.target_score - without.mean())
        assert np.mean(region_effects) > np.mean(random_effects) + 0.05, method


def test_top_boxes_find_planted_regions_without_overlap():
    attribution = np.zeros((64, 300))
    attribution[40:52, 100:130] = 1.0
    attribution[5:17, 200:230] = 0.5
    attribution[5:10, 10:20] = -3.0  # pushes away: never a region
    boxes = top_boxes(attribution, height=12, width=30, count=5)
    assert (boxes[0].band_lo, boxes[0].frame_lo) == (40, 100)
    assert (boxes[1].band_lo, boxes[1].frame_lo) == (5, 200)
    assert all(box.total > 0 for box in boxes)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_to_dict_is_json_and_arrays_only_when_full(happy_explanation: Explanation):
    small = happy_explanation.to_dict()
    json.dumps(small)
    assert "attribution" not in small and "log_mel" not in small
    assert set(small["regions"][0]) == {
        "rank", "start_s", "end_s", "low_hz", "high_hz", "weight", "effect", "pushes_towards"
    }  # fmt: skip
    full = happy_explanation.to_dict(full=True)
    assert np.array(full["attribution"]).shape == happy_explanation.attribution.shape
    assert len(full["frame_times"]) == happy_explanation.attribution.shape[1]
    assert len(full["mel_frequencies"]) == 64


def test_picture_is_written(happy_explanation: Explanation, tmp_path: Path):
    import matplotlib.image

    out = happy_explanation.plot(tmp_path / "sub" / "why.png")
    image = matplotlib.image.imread(out)
    assert image.shape[0] > 400 and image.shape[1] > 1000
    assert image[..., :3].std() > 0.1  # not blank
    with pytest.raises(VoxemoError, match=r"\.png, \.svg or \.pdf"):
        happy_explanation.plot(tmp_path / "why.txt")


# ---------------------------------------------------------------------- errors


def test_bad_requests_raise_readable_errors(real_recognizer: Recognizer):
    wave = speechlike(2.0)
    with pytest.raises(ModelError, match="this model knows angry, happy, neutral, sad"):
        real_recognizer.explain(wave, target="boredom", sample_rate=SR)
    with pytest.raises(RegistryError, match="integrated-gradients, occlusion"):
        real_recognizer.explain(wave, method="saliency", sample_rate=SR)
    with pytest.raises(AudioError, match="at most 1 s"):
        real_recognizer.explain(wave, sample_rate=SR, max_seconds=1.0)


def test_onnx_backend_cannot_be_explained(real_recognizer: Recognizer):
    class OnnxLike:
        info = real_recognizer.info

        def probabilities(self, waveforms):
            return np.full((len(waveforms), len(LABELS)), 0.25)

    with pytest.raises(ModelError, match="torch backend"):
        Recognizer(OnnxLike()).explain(speechlike(1.0), sample_rate=SR)


# ---------------------------------------------------------------------- feature models


@pytest.mark.parametrize(("feature", "group_count"), [("egemaps", 7), ("prosody", 5)])
def test_cue_groups_cover_every_feature(feature: str, group_count: int):
    from voxemo.features import get_extractor

    names = get_extractor(feature).feature_names()
    unnamed = [name for name in names if cue_group(name) == OTHER]
    assert unnamed == []
    groups = group_features(names)
    assert sorted(i for indices in groups.values() for i in indices) == list(range(len(names)))
    assert set(groups) <= set(CUE_GROUPS) and len(groups) == group_count


def test_cue_table_examples():
    assert cue_group("F0semitoneFrom27.5Hz_sma3nz_amean") == "pitch level"
    assert cue_group("F0semitoneFrom27.5Hz_sma3nz_pctlrange0-2") == "pitch range & variability"
    assert cue_group("f0_hz_std") == "pitch range & variability"
    assert cue_group("loudnessPeaksPerSec") == "speaking rate, pauses & duration"
    assert cue_group("loudness_sma3_amean") == "loudness & energy"
    assert cue_group("hammarbergIndexV_sma3nz_amean") == "voice quality"
    assert cue_group("hnr_db") == "voice quality"
    assert cue_group("F2frequency_sma3nz_amean") == "formants (articulation)"
    assert cue_group("mfcc_03_mean") == "spectral balance & MFCC"
    assert cue_group("whisper_017_mean") == OTHER


@pytest.fixture(scope="module")
def prosody_recognizer(tmp_path_factory: pytest.TempPathFactory) -> Recognizer:
    """An MLP on the 38 prosody features (random weights), standardised on the example clips."""
    from voxemo.audio import load_audio
    from voxemo.features import get_extractor
    from voxemo.training.checkpoint import load_bundle, save_bundle

    folder = untrained_bundle(tmp_path_factory.mktemp("mlp") / "b", "mlp", input_dim=38, feature="prosody")
    model, bundle = load_bundle(folder)
    extractor = get_extractor("prosody")
    vectors = [extractor.extract(load_audio(path)) for path in sorted(EXAMPLES.glob("*.flac"))]
    model.fit_normalizer(vectors)
    save_bundle(folder, model.eval(), bundle.train_config, bundle.labels)
    return load_model(folder)


@pytest.mark.parametrize("method", ["integrated-gradients", "occlusion"])
def test_feature_model_explained_by_cues(prosody_recognizer: Recognizer, method: str, tmp_path: Path):
    e = prosody_recognizer.explain(EXAMPLES / "angry_actor01.flac", method=method, top_cues=10)
    assert e.kind == "features" and e.attribution.shape == (38,) and len(e.feature_names) == 38
    assert np.isfinite(e.attribution).all() and np.isfinite(e.feature_values).all()
    by_group = {cue.name: cue for cue in e.cues}
    assert "pitch level" in by_group and "voice quality" in by_group
    # Groups partition the features, so their sums add up to the whole attribution.
    assert sum(cue.attribution for cue in e.cues) == pytest.approx(e.attribution.sum(), abs=1e-9)
    for cue in e.cues:
        assert cue.direction == ("raises" if cue.attribution >= 0 else "lowers")
        assert all(cue_group(feature["name"]) == cue.name for feature in cue.features)
    if method == "integrated-gradients":
        assert e.attribution.sum() == pytest.approx(e.target_score - e.baseline_score, abs=0.01)
    assert json.loads(json.dumps(e.to_dict()))["cues"][0]["name"] == e.cues[0].name
    assert len(e.to_dict(full=True)["features"]) == 38
    e.plot(tmp_path / "cues.png")
    assert (tmp_path / "cues.png").stat().st_size > 10_000


def test_feature_values_are_the_raw_features_even_when_the_model_clips(tmp_path: Path):
    from voxemo.audio import load_audio
    from voxemo.features import get_extractor
    from voxemo.models import ModelConfig, build_model
    from voxemo.training import TrainConfig
    from voxemo.training.checkpoint import save_bundle

    params = {"input_dim": 38, "hidden": [8], "clip": 0.5}
    config = TrainConfig(model=ModelConfig(name="mlp", params=params))
    config.inputs.utterance_features = "prosody"
    model = build_model(config.model, 3)
    extractor = get_extractor("prosody")
    vectors = [extractor.extract(load_audio(path)) for path in sorted(EXAMPLES.glob("*.flac"))]
    model.fit_normalizer(vectors)
    recognizer = load_model(save_bundle(tmp_path / "b", model.eval(), config, ["angry", "happy", "sad"]))
    e = recognizer.explain(EXAMPLES / "angry_actor01.flac", method="occlusion")
    raw = extractor.extract(load_audio(EXAMPLES / "angry_actor01.flac"))
    np.testing.assert_allclose(e.feature_values, raw, rtol=1e-5)  # not the clipped model inputs


# ---------------------------------------------------------------------- command line


def test_cli_writes_picture_and_json(capsys, real_bundle: Path, tmp_path: Path):
    out = tmp_path / "why.png"
    args = ["explain", EXAMPLES / "angry_actor01.flac", "--out", out, "--json", "--model", real_bundle]
    code = main([str(a) for a in [*args, "--method", "occlusion", "--target", "sad"]])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    record = json.loads(stdout)
    assert record["method"] == "occlusion" and record["target"] == "sad"
    assert record["path"].endswith("angry_actor01.flac") and "attribution" not in record
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote picture" in stderr


def test_cli_table_and_errors(capsys, real_bundle: Path):
    code = main(["explain", str(EXAMPLES / "sad_actor02.flac"), "--model", str(real_bundle)])
    stdout, _ = capsys.readouterr()
    assert code == 0 and "pushes towards" in stdout and "regions that drove it" in stdout
    code = main(["explain", str(EXAMPLES / "sad_actor02.flac"), "--model", str(real_bundle), "-t", "calm"])
    _, stderr = capsys.readouterr()
    assert code == 2 and "cannot explain 'calm'" in stderr and "Traceback" not in stderr


# ---------------------------------------------------------------------- the bundled fast CNN


@pytest.mark.slow
def test_bundled_cnn_is_faithful_on_examples():
    """Spectrogram explanations of a bundled CNN: the fast model (the default may be a Whisper head)."""
    from voxemo.inference.bundles import PRETRAINED_DIR

    if not (PRETRAINED_DIR / "fast" / "config.json").is_file():
        pytest.skip("no bundled fast model installed")
    recognizer = load_model("fast")
    top, random = [], []
    for path in sorted(EXAMPLES.glob("*.flac")):
        wave = _trimmed(recognizer, path)
        explanation = recognizer.explain(wave, sample_rate=SR)
        drops = deletion_check(recognizer, wave, explanation, fraction=0.02, draws=8, seed=1)
        top.append(drops["top_drop"])
        random.append(drops["random_drop"])
    print(f"fast model faithfulness: top-2% drop {np.mean(top):.3f}, random {np.mean(random):.3f}")
    assert np.mean(top) > np.mean(random)
