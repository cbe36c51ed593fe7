"""Neural emotion models: a registry of families sharing the log-mel front end.

``build_model(ModelConfig(name="cnn"), num_classes)``; families: ``mlp`` (utterance feature
vectors), ``cnn``, ``crnn`` and ``tcn`` (waveform in, log-mel front end inside), ``pooled-mlp`` and
``attention-pool`` (frames of a frozen frame-level extractor such as ``whisper-encoder``).
"""

# Importing the family modules registers them.
from voxemo.models import cnn, crnn, heads, mlp, tcn
from voxemo.models.base import (
    MODELS,
    EmotionModel,
    ModelConfig,
    SpectrogramModel,
    build_model,
    model_input_kind,
    register_model,
)
from voxemo.models.frontend import FrontendConfig, LogMelFrontend, mask_from_lengths

__all__ = [
    "MODELS",
    "EmotionModel",
    "FrontendConfig",
    "LogMelFrontend",
    "ModelConfig",
    "SpectrogramModel",
    "build_model",
    "cnn",
    "crnn",
    "heads",
    "mask_from_lengths",
    "mlp",
    "model_input_kind",
    "register_model",
    "tcn",
]
