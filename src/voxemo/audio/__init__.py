"""Audio input and preprocessing: decoding, resampling, normalisation, speech activity, DSP.

Submodules: ``io`` (decoding), ``normalize``, ``vad``, ``denoise``, ``dsp``, ``preprocess``.
The most used names are re-exported here.
"""

from voxemo.audio.denoise import spectral_gate
from voxemo.audio.dsp import (
    amplitude_to_db,
    frame_signal,
    get_window,
    istft,
    power_spectrogram,
    power_to_db,
    pre_emphasis,
    stft,
)
from voxemo.audio.io import (
    DEFAULT_MAX_DURATION,
    DEFAULT_SAMPLE_RATE,
    SUPPORTED_FORMATS,
    AudioInfo,
    check_sample_rate,
    iter_blocks,
    load_audio,
    load_audio_with_rate,
    probe,
    resample,
    to_mono,
    validate,
)
from voxemo.audio.normalize import loudness_dbfs, peak_dbfs, peak_normalize, rms_normalize
from voxemo.audio.preprocess import PreprocessConfig, preprocess, summarize
from voxemo.audio.vad import (
    VAD_BACKENDS,
    Segment,
    speech_ratio,
    speech_segments,
    speech_span,
    split_on_pauses,
    trim_silence,
)

__all__ = [
    "DEFAULT_MAX_DURATION",
    "DEFAULT_SAMPLE_RATE",
    "SUPPORTED_FORMATS",
    "VAD_BACKENDS",
    "AudioInfo",
    "PreprocessConfig",
    "Segment",
    "amplitude_to_db",
    "check_sample_rate",
    "frame_signal",
    "get_window",
    "istft",
    "iter_blocks",
    "load_audio",
    "load_audio_with_rate",
    "loudness_dbfs",
    "peak_dbfs",
    "peak_normalize",
    "power_spectrogram",
    "power_to_db",
    "pre_emphasis",
    "preprocess",
    "probe",
    "resample",
    "rms_normalize",
    "spectral_gate",
    "speech_ratio",
    "speech_segments",
    "speech_span",
    "split_on_pauses",
    "stft",
    "summarize",
    "to_mono",
    "trim_silence",
    "validate",
]
