"""Small model bundles the inference and export tests build for themselves (no trained default needed).

``train_bundle`` fits a tiny CNN for a few dozen steps on the synthetic task of
``tests.training.synthetic`` (classes ``low``, ``high``, ``glide`` set by pitch and energy
pattern), enough for whole clips of that task to be recognised correctly, so a mix-up of labels
or scores in inference shows. ``untrained_bundle`` serves tests of plumbing and agreement.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.training.synthetic import CLASSES, SR, synthetic_set, utterance
from voxemo.models import ModelConfig, build_model
from voxemo.training import TrainConfig, save_bundle
from voxemo.training.data import pad_waveforms

__all__ = [
    "CLASSES",
    "SR",
    "clip",
    "fit_tiny",
    "shared_trained_bundle",
    "silence",
    "train_bundle",
    "untrained_bundle",
]

TINY_PARAMS = {"cnn": {"channels": [8, 16], "hidden": 16, "dropout": 0.0}}


def clip(label: str, speaker: int = 3, seed: int = 7, repeats: int = 1) -> np.ndarray:
    """``repeats`` utterances of class ``label`` back to back (speaker 3+ was not trained on)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([utterance(label, speaker, rng) for _ in range(repeats)])


def silence(seconds: float, seed: int = 0) -> np.ndarray:
    """Faint noise: what a quiet room sounds like between utterances."""
    return (0.001 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def train_bundle(
    directory: Path,
    family: str = "cnn",
    *,
    steps: int = 50,
    temperature: float = 1.0,
    metadata: dict | None = None,
) -> Path:
    """Train a tiny waveform model on the synthetic task and save it as a bundle."""
    torch.manual_seed(0)
    waves, labels, _ = synthetic_set(speakers=[0, 1, 2], per_class=4, seed=0)
    config = TrainConfig(model=ModelConfig(name=family, params=TINY_PARAMS.get(family, {})))
    model = build_model(config.model, len(CLASSES))
    model.fit_normalizer(waves)
    targets = torch.tensor([CLASSES.index(label) for label in labels])
    x, lengths = pad_waveforms(waves, min_samples=8000)
    fit_tiny(model, x, lengths, targets, steps=steps, batch_size=12, lr=1e-2)
    return save_bundle(directory, model, config, list(CLASSES), metadata, temperature=temperature)


def fit_tiny(
    model: torch.nn.Module,
    x: torch.Tensor,
    lengths: torch.Tensor,
    targets: torch.Tensor,
    *,
    steps: int,
    batch_size: int,
    lr: float,
) -> float:
    """Plain Adam on random batches of an in-memory set; leaves the model in eval mode and returns
    its accuracy on that set (tests check it learned before trusting anything it says)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(0)
    model.train()
    for _ in range(steps):
        batch = torch.from_numpy(rng.choice(len(targets), size=batch_size, replace=False))
        loss = torch.nn.functional.cross_entropy(model(x[batch], lengths[batch]), targets[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        return (model(x, lengths).argmax(dim=1) == targets).float().mean().item()


def shared_trained_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's trained bundle: trained on first use, reused by inference and export tests."""
    folder = tmp_path_factory.getbasetemp() / "trained-cnn-bundle"
    if not (folder / "config.json").is_file():
        train_bundle(folder, "cnn", steps=50)
    return folder


def untrained_bundle(
    directory: Path, family: str, *, params: dict | None = None, input_dim: int = 0, feature: str = ""
) -> Path:
    """A bundle of an untrained model (enough to test plumbing and backend agreement)."""
    torch.manual_seed(0)
    config = TrainConfig(model=ModelConfig(name=family, params=params or {}))
    if family == "mlp":
        config = TrainConfig(model=ModelConfig(name="mlp", params={"input_dim": input_dim, "hidden": [8]}))
        config.inputs.utterance_features = feature
    model = build_model(config.model, len(CLASSES))
    if model.input_kind == "waveform":
        model.fit_normalizer(synthetic_set(speakers=[0], per_class=1, seed=1)[0])
    return save_bundle(directory, model.eval(), config, list(CLASSES))
