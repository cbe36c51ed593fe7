"""Predictions, model resolution and the small numeric helpers, without a model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from voxemo.errors import AudioError, ModelError
from voxemo.inference import bundles, predictions_to_frame, softmax
from voxemo.inference.prediction import prediction_from_probabilities
from voxemo.inference.timeline import smooth_curve, speech_fraction
from voxemo.inference.windows import window_starts


def test_prediction_takes_top_label_and_renormalises():
    p = prediction_from_probabilities(np.array([0.2, 0.5, 0.3000001]), ["a", "b", "c"], threshold=0.6)
    assert p.emotion == "b"
    assert sum(p.scores.values()) == pytest.approx(1.0, abs=1e-12)
    assert p.confidence == pytest.approx(p.scores["b"])
    assert p.uncertain is True  # 0.5 < 0.6
    record = p.to_dict()
    assert list(record) == ["emotion", "scores", "confidence", "uncertain"]
    assert json.loads(json.dumps(record)) == record


def test_prediction_rejects_wrong_length_and_nan():
    with pytest.raises(ModelError, match="3 labels"):
        prediction_from_probabilities(np.array([0.5, 0.5]), ["a", "b", "c"])
    with pytest.raises(ModelError, match="NaN"):
        prediction_from_probabilities(np.array([np.nan, 0.5]), ["a", "b"])


def test_where_fields_appear_only_when_set():
    p = prediction_from_probabilities(np.array([0.9, 0.1]), ["x", "y"], path="f.wav", start=1.23456, end=2.0)
    assert p.to_dict()["path"] == "f.wav"
    assert (p.start, p.end) == (1.2346, 2.0)


def test_frame_has_a_row_per_result_with_errors():
    good = prediction_from_probabilities(np.array([0.9, 0.1]), ["x", "y"], path="a.wav")
    frame = predictions_to_frame([good, AudioError("b.wav: file not found")], paths=["a.wav", "b.wav"])
    assert list(frame["path"]) == ["a.wav", "b.wav"]
    assert frame.loc[0, "x"] == pytest.approx(0.9)
    assert frame.loc[1, "error"] == "b.wav: file not found"
    assert frame.loc[0, "error"] == ""


def test_softmax_applies_temperature():
    logits = np.array([[2.0, 0.0, -1.0]])
    expected = np.exp(logits / 2.0) / np.exp(logits / 2.0).sum()
    assert np.allclose(softmax(logits, 2.0), expected)
    assert softmax(np.array([[1000.0, 0.0]]))[0, 0] == pytest.approx(1.0)  # no overflow


def test_windows_cover_the_whole_span():
    assert window_starts(100, 40, 20) == [0, 20, 40, 60]
    assert window_starts(105, 40, 20) == [0, 20, 40, 60, 65]
    assert window_starts(30, 40, 20) == [0]


def test_smoothing_ignores_windows_without_speech():
    probs = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.0, 1.0]])
    valid = np.array([True, False, True, True])
    smoothed = smooth_curve(probs, valid, 3)
    assert np.isnan(smoothed[1]).all()
    assert np.allclose(smoothed[0], [1.0, 0.0])  # its only valid neighbour is itself
    assert np.allclose(smoothed[2], [0.25, 0.75])  # mean of rows 2 and 3
    assert np.allclose(np.nansum(smoothed, axis=1)[valid], 1.0)


def test_speech_fraction_of_windows():
    seg = prediction_from_probabilities(np.array([1.0, 0.0]), ["x", "y"], start=1.0, end=2.5)
    fraction = speech_fraction(np.array([0.0, 1.0, 2.0]), np.array([2.0, 3.0, 4.0]), [seg])
    assert np.allclose(fraction, [0.5, 0.75, 0.25])


def test_missing_bundled_default_is_a_clear_model_error(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(bundles, "PRETRAINED_DIR", tmp_path / "pretrained")
    with pytest.raises(ModelError, match=r"no bundled model 'default'.*--model DIR"):
        bundles.resolve_model(None)
    with pytest.raises(ModelError, match="no bundled model 'fast'"):
        bundles.resolve_model("fast")


def test_bundled_names_map_to_pretrained_folders(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(bundles, "PRETRAINED_DIR", tmp_path)
    (tmp_path / "accurate").mkdir()
    (tmp_path / "accurate" / "config.json").write_text("{}")
    assert bundles.resolve_model("accurate") == tmp_path / "accurate"


def test_unknown_model_paths_are_model_errors(tmp_path: Path):
    with pytest.raises(ModelError, match="not found"):
        bundles.resolve_model(tmp_path / "nowhere")
    with pytest.raises(ModelError, match=r"config\.json is missing"):
        bundles.resolve_model(tmp_path)
    stray = tmp_path / "weights.bin"
    stray.write_bytes(b"x")
    with pytest.raises(ModelError, match=r"not an \.onnx model"):
        bundles.resolve_model(stray)


def test_importing_voxemo_and_inference_does_not_import_torch():
    code = (
        "import sys, voxemo, voxemo.inference, voxemo.export; voxemo.load_model; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
