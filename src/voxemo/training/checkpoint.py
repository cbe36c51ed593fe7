"""Model bundles and resumable training state, written without pickle.

A bundle is a folder with ``model.safetensors`` (every tensor, normalisation buffers included)
and ``config.json`` (the :class:`TrainConfig`, the label list, training metadata and metrics).
Each file is written atomically and ``config.json`` goes last, carrying the SHA-256 of the
weights: a reader sees a complete, matching pair or a readable :class:`ModelError`.

Training state (``out_dir/last/``) holds model, optimiser, scheduler, RNG states, epoch and
history: tensors in safetensors, everything else in JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from voxemo.config import Config
from voxemo.errors import ConfigError, ModelError
from voxemo.io import atomic_write_bytes, atomic_write_text, file_sha256
from voxemo.models import EmotionModel, build_model
from voxemo.training.config import TrainConfig

BUNDLE_FORMAT = "voxemo-bundle"
BUNDLE_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


@dataclass
class BundleConfig(Config):
    """Everything in a bundle's ``config.json``."""

    train_config: TrainConfig = field(default_factory=TrainConfig)
    labels: list[str] = field(default_factory=list)
    input_kind: str = "waveform"
    #: Softmax temperature from calibration (1.0 = uncalibrated).
    temperature: float = 1.0
    metadata: dict[str, Any] = field(default_factory=dict)
    weights_sha256: str = ""
    format: str = BUNDLE_FORMAT
    version: int = BUNDLE_VERSION


def _state_tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().clone() for k, v in module.state_dict().items()}


def save_bundle(
    directory: str | Path,
    model: EmotionModel,
    config: TrainConfig,
    labels: list[str],
    metadata: dict[str, Any] | None = None,
    *,
    temperature: float = 1.0,
) -> Path:
    """Write ``model.safetensors`` then ``config.json`` into ``directory``; returns the folder."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if len(labels) != model.num_classes:
        raise ModelError(f"{len(labels)} labels for a model with {model.num_classes} outputs")
    weights = safetensors.torch.save(_state_tensors(model), metadata={"format": BUNDLE_FORMAT})
    atomic_write_bytes(directory / WEIGHTS_FILE, weights)
    bundle = BundleConfig(
        train_config=config,
        labels=list(labels),
        input_kind=model.input_kind,
        temperature=float(temperature),
        metadata=_jsonable(metadata or {}),
        weights_sha256=file_sha256(directory / WEIGHTS_FILE),
    )
    atomic_write_text(directory / CONFIG_FILE, bundle.to_json())
    return directory


def read_bundle_config(directory: str | Path) -> BundleConfig:
    """Parse and check ``config.json`` of a bundle (ModelError when missing or corrupt)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelError(f"model bundle {directory} not found (expected a folder with {CONFIG_FILE})")
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise ModelError(f"{directory} is not a model bundle: {CONFIG_FILE} is missing")
    try:
        bundle = BundleConfig.from_json(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, ConfigError) as exc:
        raise ModelError(f"{path} is corrupt or from another version ({exc}); re-export the bundle") from None
    if bundle.format != BUNDLE_FORMAT or bundle.version > BUNDLE_VERSION:
        raise ModelError(
            f"{path}: unsupported bundle format {bundle.format!r} v{bundle.version}; upgrade voxemo"
        )
    return bundle


def load_bundle(directory: str | Path) -> tuple[EmotionModel, BundleConfig]:
    """Rebuild the model of a bundle in eval mode; a missing or corrupt file raises ModelError."""
    directory = Path(directory)
    bundle = read_bundle_config(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelError(f"{directory} is incomplete: {WEIGHTS_FILE} is missing; retrain or re-copy it")
    if bundle.weights_sha256 and file_sha256(weights) != bundle.weights_sha256:
        raise ModelError(
            f"{weights} does not match its {CONFIG_FILE} (corrupt or replaced); re-copy the bundle"
        )
    try:
        state = safetensors.torch.load_file(str(weights))
    except Exception as exc:  # safetensors raises several types for a damaged file
        raise ModelError(
            f"{weights} cannot be read ({type(exc).__name__}: {exc}); re-copy the bundle"
        ) from None
    model = build_model(bundle.train_config.model, len(bundle.labels))
    _load_state(model, state, str(weights))
    return model.eval(), bundle


def _load_state(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0:3]
        raise ModelError(f"{what} does not fit the model in its config: {' '.join(first)}") from None


# ---------------------------------------------------------------- training state (no pickle)


def _jsonable(value: Any) -> Any:
    """Check that metadata is plain JSON (numbers, strings, lists, dicts)."""
    try:
        return json.loads(json.dumps(value, default=_json_default))
    except (TypeError, ValueError) as exc:
        raise ModelError(f"metadata must be JSON-serialisable: {exc}") from None


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def split_tensors(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "t") -> Any:
    """Replace every tensor in a nested structure by a reference; keeps dict key types and tuples."""
    if isinstance(obj, torch.Tensor):
        key = f"{prefix}{len(tensors)}"
        tensors[key] = obj.detach().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        return {"__dict__": [[split_tensors(k, tensors), split_tensors(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [split_tensors(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [split_tensors(v, tensors) for v in obj]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise ModelError(f"cannot store a {type(obj).__name__} in a training checkpoint")


def join_tensors(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`split_tensors`."""
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__tuple__" in obj:
            return tuple(join_tensors(v, tensors) for v in obj["__tuple__"])
        return {join_tensors(k, tensors): join_tensors(v, tensors) for k, v in obj["__dict__"]}
    if isinstance(obj, list):
        return [join_tensors(v, tensors) for v in obj]
    return obj


def save_state(directory: str | Path, state: dict[str, Any]) -> None:
    """Write a nested state (tensors anywhere) as ``state.safetensors`` + ``state.json``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    structure = split_tensors(state, tensors)
    atomic_write_bytes(directory / "state.safetensors", safetensors.torch.save(tensors))
    payload = {"structure": structure, "sha256": file_sha256(directory / "state.safetensors")}
    atomic_write_text(directory / "state.json", json.dumps(payload))


def load_state(directory: str | Path) -> dict[str, Any]:
    """Read what :func:`save_state` wrote; ModelError if it is missing or inconsistent."""
    directory = Path(directory)
    meta, weights = directory / "state.json", directory / "state.safetensors"
    if not meta.is_file() or not weights.is_file():
        raise ModelError(f"no resumable training state in {directory}; start without resume")
    try:
        payload = json.loads(meta.read_text(encoding="utf-8"))
        if file_sha256(weights) != payload["sha256"]:
            raise ModelError(
                f"{weights} does not match {meta}; the checkpoint is corrupt, start without resume"
            )
        tensors = safetensors.torch.load_file(str(weights))
        return join_tensors(payload["structure"], tensors)
    except (json.JSONDecodeError, KeyError, OSError) as exc:
        raise ModelError(f"training state in {directory} is corrupt ({exc}); start without resume") from None
