"""Audio input and preprocessing: decoding, resampling, normalisation, speech activity, DSP."""

from voxemo.audio.io import (
    DEFAULT_MAX_DURATION,
    DEFAULT_SAMPLE_RATE,
    AudioInfo,
    iter_blocks,
    load_audio,
    load_audio_with_rate,
    probe,
    resample,
    to_mono,
    validate,
)

__all__ = [
    "DEFAULT_MAX_DURATION",
    "DEFAULT_SAMPLE_RATE",
    "AudioInfo",
    "iter_blocks",
    "load_audio",
    "load_audio_with_rate",
    "probe",
    "resample",
    "to_mono",
    "validate",
]
