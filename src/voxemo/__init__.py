"""voxemo: speech emotion recognition with neural networks."""

from voxemo.errors import (
    AudioError,
    ConfigError,
    CorpusError,
    FeatureError,
    ModelError,
    VoxemoError,
)

__version__ = "0.1.0"

__all__ = [
    "AudioError",
    "ConfigError",
    "CorpusError",
    "FeatureError",
    "ModelError",
    "VoxemoError",
    "__version__",
]
