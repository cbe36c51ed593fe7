"""The frozen Whisper encoder from a Hugging Face ``transformers`` checkpoint directory, run by torch.

For users who already have a transformers Whisper checkpoint (``config.json`` + ``model.safetensors``
or ``pytorch_model.bin``, e.g. ``openai/whisper-base`` saved with ``save_pretrained``). Nothing is
downloaded: the directory is loaded with ``local_files_only=True``. ``transformers`` is imported
only when an encoder is built.

Unlike CTranslate2, the transformers encoder accepts only a full window (3000 mel frames for the
released models), so every window is padded with silence and only the frames of real audio are kept.
Any layer can be read: ``layer=0`` is the convolutional stem plus positions, ``1..n-1`` the output of
that transformer block, and ``n`` (or ``-1``) the final, layer-normalised output that CTranslate2 gives.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from voxemo.backbones.whisper_ct2 import verify_weights, weight_file, weights_sha256
from voxemo.errors import ConfigError, FeatureError

NEEDS_MODEL_DIR = "backend='transformers' needs model_dir: a transformers Whisper checkpoint directory"
MISSING_TRANSFORMERS = (
    "reading a transformers Whisper checkpoint needs transformers: pip install transformers"
)


def require_transformers() -> ModuleType:
    """The ``transformers`` module, or FeatureError saying how to install it."""
    try:
        return importlib.import_module("transformers")
    except ImportError:
        raise FeatureError(MISSING_TRANSFORMERS) from None


def read_hf_config(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The checkpoint's ``config.json``; FeatureError unless it describes a Whisper model."""
    path = Path(model_dir).expanduser() / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FeatureError(
            f"{path.parent} is not a transformers checkpoint directory (config.json: {exc})"
        ) from None
    if config.get("model_type") != "whisper":
        raise FeatureError(f"{path.parent} holds a {config.get('model_type')!r} model, not a Whisper one")
    return config


def resolve_layer(layer: int, n_layers: int) -> int:
    """``layer`` as an index 0..n_layers (negative counts from the end: -1 = the final output)."""
    index = layer if layer >= 0 else n_layers + 1 + layer
    if not 0 <= index <= n_layers:
        raise ConfigError(f"layer must be in {-(n_layers + 1)}..{n_layers} for this encoder, got {layer}")
    return index


class HFWhisperEncoder:
    """A transformers Whisper encoder on CPU; ``encode`` maps a full window to the chosen layer's frames."""

    #: The transformers encoder refuses anything but a full window.
    requires_full_window = True

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None,
        *,
        layer: int = -1,
        expected_sha256: str | None = None,
    ) -> None:
        if model_dir is None:
            raise FeatureError(NEEDS_MODEL_DIR)
        self.model_dir = Path(model_dir).expanduser().resolve()
        config = read_hf_config(self.model_dir)
        self.d_model = int(config["d_model"])
        self.n_mels = int(config.get("num_mel_bins", 80))
        self.n_layers = int(config["encoder_layers"])
        self.window_frames = 2 * int(config["max_source_positions"])
        self.layer = resolve_layer(layer, self.n_layers)
        weight_file(self.model_dir)  # a clear error before transformers is even imported
        if expected_sha256:
            self.weights_sha256 = verify_weights(self.model_dir, expected_sha256)
        else:
            self.weights_sha256 = weights_sha256(self.model_dir)
        self._encoder = self._load(require_transformers())

    def _load(self, transformers: ModuleType) -> Any:
        try:
            model = transformers.WhisperModel.from_pretrained(str(self.model_dir), local_files_only=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise FeatureError(
                f"transformers cannot load the Whisper checkpoint in {self.model_dir}: {exc}"
            ) from None
        return model.get_encoder().eval()

    def encode(self, log_mel: np.ndarray) -> np.ndarray:
        """The chosen layer's output ``(window_frames / 2, d_model)`` float32 of one full window."""
        import torch

        if log_mel.shape != (self.n_mels, self.window_frames):
            raise FeatureError(
                f"the transformers Whisper encoder needs ({self.n_mels}, {self.window_frames}) "
                f"mel frames, got {log_mel.shape}"
            )
        captured: list[Any] = []
        hook = self._capture_hook(captured)
        try:
            with torch.inference_mode():
                final = self._encoder(torch.from_numpy(np.ascontiguousarray(log_mel[None]))).last_hidden_state
        finally:
            if hook is not None:
                hook.remove()
        hidden = captured[0] if captured else final
        return hidden[0].float().numpy()

    def _capture_hook(self, captured: list[Any]) -> Any:
        """A torch hook storing the chosen layer's hidden states, or None for the final output."""
        if self.layer == self.n_layers:
            return None
        if self.layer == 0:  # the input of the first block: convolutions plus positions
            return self._encoder.layers[0].register_forward_pre_hook(
                lambda _module, args: captured.append(args[0])
            )

        def keep_output(_module: Any, _args: Any, output: Any) -> None:
            captured.append(output[0] if isinstance(output, tuple) else output)

        return self._encoder.layers[self.layer - 1].register_forward_hook(keep_output)

    def metadata(self) -> dict[str, Any]:
        """What produced the features: backend, checkpoint, its weight hash, layer and sizes."""
        transformers = require_transformers()
        return {
            "backend": "transformers",
            "transformers_version": transformers.__version__,
            "model_dir": str(self.model_dir),
            "weights_sha256": self.weights_sha256,
            "layer": self.layer,
            "d_model": self.d_model,
            "n_layers": self.n_layers,
            "n_mels": self.n_mels,
        }
