"""Inference backends: what turns 16 kHz waveforms into class probabilities.

``torch`` runs the bundle's ``EmotionModel``; ``onnx`` (in :mod:`voxemo.export.runtime`) runs an
exported graph with onnxruntime and never touches torch. Both apply the bundle's calibration
temperature, so they return the same probabilities. torch is imported only when the torch
backend is built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from voxemo.errors import ModelError
from voxemo.inference.bundles import BundleInfo, is_ensemble
from voxemo.registry import Registry


class InferenceBackend(Protocol):
    """Loaded model: ``info`` describes it; ``probabilities`` scores a batch of waveforms."""

    info: BundleInfo

    def probabilities(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        """(B, C) calibrated probabilities for float32 mono waveforms at ``info.sample_rate``."""
        ...


#: name -> factory(location: Path) -> InferenceBackend
BACKENDS: Registry[Callable[[Path], InferenceBackend]] = Registry("inference backend")


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` in float64 (stable for large logits)."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def pad_batch(waveforms: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pad mono waveforms into (B, max N) float32 plus their lengths (int64)."""
    lengths = np.array([w.size for w in waveforms], dtype=np.int64)
    batch = np.zeros((len(waveforms), int(lengths.max())), dtype=np.float32)
    for row, wave in zip(batch, waveforms, strict=True):
        row[: wave.size] = wave
    return batch, lengths


#: Model input kind -> the InputConfig field naming the extractor that computes its inputs.
_EXTRACTOR_FIELD = {"features": "utterance_features", "frames": "frame_features"}


class TorchBackend:
    """A bundle's :class:`~voxemo.models.EmotionModel` in eval mode."""

    def __init__(self, model: Any, info: BundleInfo, feature_extractor: Any = None) -> None:
        self.model = model
        self.info = info
        self.feature_extractor = feature_extractor

    @classmethod
    def from_path(cls, location: Path) -> TorchBackend:
        if location.suffix.lower() == ".onnx":
            raise ModelError(f"{location} is an ONNX file; load it with backend='onnx'")
        from voxemo.training.checkpoint import load_bundle

        model, bundle = load_bundle(location)
        info = BundleInfo.from_bundle_config(bundle, str(location))
        extractor = None
        extractor_field = _EXTRACTOR_FIELD.get(info.input_kind)
        if extractor_field is not None:
            from voxemo.features import get_extractor

            inputs = bundle.train_config.inputs
            extractor = get_extractor(getattr(inputs, extractor_field), **inputs.feature_params)
            # Check now what the extractor runs (e.g. the Whisper weights' sha256 against the one the
            # model was trained on), so a mismatch fails at load and not at the first prediction.
            extractor.pinned_params()
        return cls(model, info, extractor)

    def _inputs(self, waveforms: Sequence[np.ndarray]) -> tuple[Any, Any]:
        import torch

        if self.info.input_kind == "frames":
            from voxemo.training.data import pad_frames

            return pad_frames([self._extract(w) for w in waveforms])
        if self.feature_extractor is not None:
            vectors = [self._extract(w).reshape(-1) for w in waveforms]
            return torch.from_numpy(np.stack(vectors)), None
        batch, lengths = pad_batch(waveforms)
        return torch.from_numpy(batch), torch.from_numpy(lengths)

    def _extract(self, waveform: np.ndarray) -> np.ndarray:
        return np.asarray(self.feature_extractor.extract(waveform, self.info.sample_rate), np.float32)

    def logits(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        x, lengths = self._inputs(waveforms)
        with torch.inference_mode():
            return self.model(x, lengths).float().numpy()

    def probabilities(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        return softmax(self.logits(waveforms), self.info.temperature)


@BACKENDS.register("torch")
def _torch_backend(location: Path) -> InferenceBackend:
    from voxemo.inference.ensemble import EnsembleBackend

    return EnsembleBackend.from_path(location) if is_ensemble(location) else TorchBackend.from_path(location)


@BACKENDS.register("onnx")
def _onnx_backend(location: Path) -> InferenceBackend:
    if is_ensemble(location):
        raise ModelError(f"{location} is an ensemble of torch bundles; load it with backend='torch'")
    # voxemo.export sits downstream of inference; import it only when asked for.
    from voxemo.export.runtime import OnnxBackend

    return OnnxBackend.from_path(location)
