"""Feature extractors (spectral, prosody, eGeMAPS, statistics), parallel extraction and the disk cache.

Importing this package registers every built-in extractor in :data:`FEATURES`::

    from voxemo.features import extract_many, get_extractor

    mfcc = get_extractor("mfcc", n_mfcc=20)
    frames = mfcc.extract(samples, 16000)           # (T, 60)
    vectors = extract_many(paths, "egemaps")        # list of (88,) arrays, cached on disk
"""

from voxemo.features import combined, egemaps, prosody, spectral, whisper  # noqa: F401  (registers the built-ins)
from voxemo.features.base import FeatureExtractor
from voxemo.features.egemaps import EGeMAPS
from voxemo.features.extract import (
    ExtractionResult,
    default_cache_dir,
    extract_many,
    extract_with_report,
    load_features,
    save_features,
)
from voxemo.features.prosody import Prosody, pitch_contour, semitones
from voxemo.features.registry import FEATURES, FeatureInfo, get_extractor, list_features, register_feature
from voxemo.features.spectral import MFCC, Chroma, LogMel, SpectralContrast, deltas, mel_filterbank
from voxemo.features.stats import FUNCTIONALS, StatsExtractor, summarise

__all__ = [
    "FEATURES",
    "FUNCTIONALS",
    "MFCC",
    "Chroma",
    "EGeMAPS",
    "ExtractionResult",
    "FeatureExtractor",
    "FeatureInfo",
    "LogMel",
    "Prosody",
    "SpectralContrast",
    "StatsExtractor",
    "default_cache_dir",
    "deltas",
    "extract_many",
    "extract_with_report",
    "get_extractor",
    "list_features",
    "load_features",
    "mel_filterbank",
    "pitch_contour",
    "register_feature",
    "save_features",
    "semitones",
    "summarise",
]
