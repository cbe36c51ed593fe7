"""Pretrained speech encoders used as frozen feature extractors (see docs/backbones.md).

Only light modules are imported here: ``ctranslate2``, ``torch`` and ``transformers`` are imported when
an encoder is actually built, so voxemo works without the optional extra ``voxemo[whisper]``.
"""

from voxemo.backbones.whisper_ct2 import (
    BUNDLED_WEIGHTS_SHA256,
    MISSING_EXTRA,
    CT2WhisperEncoder,
    EncoderShape,
    bundled_model_dir,
    read_ct2_encoder_shape,
    require_ctranslate2,
    verify_weights,
    weights_sha256,
)
from voxemo.backbones.whisper_encoder import (
    BACKENDS,
    WhisperEncoderSpec,
    encoder_shape,
    load_encoder,
    weights_identity,
)
from voxemo.backbones.whisper_frontend import encode_in_windows, log_mel_spectrogram, whisper_mel_filters
from voxemo.backbones.whisper_hf import HFWhisperEncoder

__all__ = [
    "BACKENDS",
    "BUNDLED_WEIGHTS_SHA256",
    "MISSING_EXTRA",
    "CT2WhisperEncoder",
    "EncoderShape",
    "HFWhisperEncoder",
    "WhisperEncoderSpec",
    "bundled_model_dir",
    "encode_in_windows",
    "encoder_shape",
    "load_encoder",
    "log_mel_spectrogram",
    "read_ct2_encoder_shape",
    "require_ctranslate2",
    "verify_weights",
    "weights_identity",
    "weights_sha256",
    "whisper_mel_filters",
]
