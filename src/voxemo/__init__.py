"""voxemo: speech emotion recognition with neural networks."""

from typing import TYPE_CHECKING, Any

from voxemo.errors import (
    AudioError,
    ConfigError,
    CorpusError,
    FeatureError,
    ModelError,
    VoxemoError,
)

__version__ = "0.1.0"

# Inference names load on first use, so `import voxemo` stays cheap (no torch, no audio stack).
_LAZY = {"load_model", "Recognizer", "Prediction"}
if TYPE_CHECKING:
    from voxemo.inference import Prediction, Recognizer, load_model


def __getattr__(name: str) -> Any:  # PEP 562 module attribute
    if name in _LAZY:
        from voxemo import inference

        return getattr(inference, name)
    raise AttributeError(f"module 'voxemo' has no attribute {name!r}")


__all__ = [
    "AudioError",
    "ConfigError",
    "CorpusError",
    "FeatureError",
    "ModelError",
    "Prediction",
    "Recognizer",
    "VoxemoError",
    "__version__",
    "load_model",
]
