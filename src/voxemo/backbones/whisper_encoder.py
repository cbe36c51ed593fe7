"""One entry point to the frozen Whisper encoder, whichever backend runs it.

:class:`WhisperEncoderSpec` says which weights and backend to use; :func:`load_encoder` builds the
encoder once per process (worker processes forked from a parent that already loaded one load their
own: CTranslate2's threads do not survive a fork); :func:`encoder_shape` and :func:`weights_identity`
answer "how wide" and "which weights" without loading anything heavy, so listing features and
computing cache keys stay cheap and work even when the optional extra is missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from voxemo.backbones import whisper_ct2, whisper_hf
from voxemo.backbones.whisper_ct2 import EncoderShape
from voxemo.errors import ConfigError, FeatureError
from voxemo.registry import Registry

#: The sizes of the default weights (Whisper tiny.en), used to describe the extractor when they are
#: not installed, so ``voxemo features --list`` works without the optional extra.
TINY_EN_SHAPE = EncoderShape(d_model=384, n_mels=80, n_layers=4, window_frames=3000)


class WhisperEncoderRunner(Protocol):
    """What every backend offers: sizes, ``encode`` of one window and a description of itself."""

    requires_full_window: bool
    weights_sha256: str

    @property
    def d_model(self) -> int: ...

    @property
    def n_mels(self) -> int: ...

    @property
    def window_frames(self) -> int: ...

    def encode(self, log_mel: np.ndarray) -> np.ndarray: ...

    def metadata(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class WhisperEncoderSpec:
    """Which encoder to run: backend (``ctranslate2`` | ``transformers``), weights and run options."""

    backend: str = "ctranslate2"
    model_dir: str | None = None
    compute_type: str = "float32"
    intra_threads: int = 0
    layer: int = -1
    expected_sha256: str | None = None

    def check(self) -> None:
        """ConfigError for values that cannot work, found without loading anything."""
        BACKENDS.get(self.backend)  # RegistryError naming the known backends
        if self.compute_type not in whisper_ct2.COMPUTE_TYPES:
            known = ", ".join(whisper_ct2.COMPUTE_TYPES)
            raise ConfigError(f"compute_type must be one of {known}, got {self.compute_type!r}")
        if self.intra_threads < 0:
            raise ConfigError(f"intra_threads must be >= 0 (0 = automatic), got {self.intra_threads}")
        if self.backend == "ctranslate2" and self.layer != -1:
            raise ConfigError(
                "CTranslate2 gives only the encoder's final output (layer=-1); for other layers use "
                "backend='transformers' with model_dir set to a transformers Whisper checkpoint"
            )


Loader = Callable[[WhisperEncoderSpec], WhisperEncoderRunner]
BACKENDS = Registry[Loader]("Whisper backend")


@BACKENDS.register("ctranslate2")
def _load_ct2(spec: WhisperEncoderSpec) -> WhisperEncoderRunner:
    return whisper_ct2.CT2WhisperEncoder(
        spec.model_dir,
        compute_type=spec.compute_type,
        intra_threads=spec.intra_threads,
        expected_sha256=spec.expected_sha256,
    )


@BACKENDS.register("transformers")
def _load_hf(spec: WhisperEncoderSpec) -> WhisperEncoderRunner:
    return whisper_hf.HFWhisperEncoder(spec.model_dir, layer=spec.layer, expected_sha256=spec.expected_sha256)


_LOADED: dict[tuple[Any, ...], WhisperEncoderRunner] = {}
_INHERITED: list[WhisperEncoderRunner] = []


def load_encoder(spec: WhisperEncoderSpec) -> WhisperEncoderRunner:
    """The encoder ``spec`` describes, loaded once per process and shared by every extractor using it."""
    spec.check()
    pid = os.getpid()
    key = (pid, *astuple(spec))
    if key not in _LOADED:
        for stale in [k for k in _LOADED if k[0] != pid]:
            # Inherited through fork: unusable here, and destroying it would join threads that do
            # not exist in this process (CTranslate2 then hangs). Keep it alive, never call it.
            _INHERITED.append(_LOADED.pop(stale))
        _LOADED[key] = BACKENDS.get(spec.backend)(spec)
    return _LOADED[key]


def encoder_shape(spec: WhisperEncoderSpec) -> EncoderShape:
    """The encoder's sizes read from its files (no ctranslate2 or torch needed)."""
    if spec.backend == "transformers":
        if spec.model_dir is None:
            raise FeatureError(whisper_hf.NEEDS_MODEL_DIR)
        config = whisper_hf.read_hf_config(spec.model_dir)
        return EncoderShape(
            int(config["d_model"]),
            int(config.get("num_mel_bins", 80)),
            int(config["encoder_layers"]),
            2 * int(config["max_source_positions"]),
        )
    if spec.model_dir is None and whisper_ct2.bundled_model_dir() is None:
        return TINY_EN_SHAPE
    return whisper_ct2.read_ct2_encoder_shape(whisper_ct2.resolve_ct2_model_dir(spec.model_dir).path)


def weights_identity(spec: WhisperEncoderSpec) -> tuple[Path, str]:
    """The weight directory ``spec`` resolves to and the sha256 of its weight file (verified if asked)."""
    if spec.backend == "transformers":
        if spec.model_dir is None:
            raise FeatureError(whisper_hf.NEEDS_MODEL_DIR)
        folder = Path(spec.model_dir).expanduser().resolve()
        expected = spec.expected_sha256
    else:
        location = whisper_ct2.resolve_ct2_model_dir(spec.model_dir)
        folder = location.path
        bundled = location.source == "bundled"
        expected = spec.expected_sha256 or (whisper_ct2.BUNDLED_WEIGHTS_SHA256 if bundled else None)
    if expected:
        return folder, whisper_ct2.verify_weights(folder, expected)
    return folder, whisper_ct2.weights_sha256(folder)
