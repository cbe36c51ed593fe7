"""The pictures exist, decode as PNG and have a sensible size."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from voxemo.errors import VoxemoError
from voxemo.evaluation.plots import plot_confusion, plot_training_curves


def _decoded(path: Path) -> np.ndarray:
    assert path.is_file()
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return mpimg.imread(path)


def test_confusion_png(tmp_path: Path) -> None:
    labels = ["angry", "happy", "neutral", "sad", "fear", "disgust", "boredom"]
    matrix = np.random.default_rng(0).integers(0, 30, size=(7, 7))
    matrix[3] = 0  # a class absent from the test set must not divide by zero
    out = plot_confusion(matrix, labels, tmp_path / "c.png", title="test")
    image = _decoded(out)
    height, width = image.shape[:2]
    assert 300 < height < 2000 and 300 < width < 2500
    assert image[..., :3].std() > 0.05  # not a blank canvas
    raw = plot_confusion(matrix, labels, tmp_path / "raw.png", normalize=False)
    assert _decoded(raw).shape[0] > 300


def test_confusion_shape_mismatch_raises(tmp_path: Path) -> None:
    with pytest.raises(VoxemoError, match="does not match"):
        plot_confusion(np.eye(3), ["a", "b"], tmp_path / "c.png")


def test_training_curves_png(tmp_path: Path) -> None:
    histories = {
        "fold_01": {"train_loss": [1.5, 1.0, 0.7], "val_loss": [1.6, 1.2, 1.3], "val_ua": [0.3, 0.5, 0.45]},
        "fold_02": [  # per-epoch dicts are accepted too
            {"train_loss": 1.4, "val_loss": 1.5, "val_ua": 0.35},
            {"train_loss": 0.9, "val_loss": 1.1, "val_ua": 0.55},
        ],
    }
    out = plot_training_curves(histories, tmp_path / "curves.png")
    image = _decoded(out)
    assert image.shape[1] > image.shape[0] > 300  # two panels side by side
    with pytest.raises(VoxemoError, match="no training histories"):
        plot_training_curves({}, tmp_path / "none.png")
