"""Named acoustic cues: which group (pitch level, loudness, voice quality...) each input feature is.

Feature models (e.g. an MLP on eGeMAPS) are explained per input feature; 88 signed numbers say
little to a reader, so they are summed into a handful of cue groups that phoneticians and
emotion researchers talk about. The table is a list of (group, pattern) pairs tried in order:
the first pattern that matches a feature name decides its group, so more specific patterns
(loudness *peaks per second* is a rate cue) come before general ones (loudness).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

PITCH_LEVEL = "pitch level"
PITCH_VARIATION = "pitch range & variability"
LOUDNESS = "loudness & energy"
RATE = "speaking rate, pauses & duration"
VOICE_QUALITY = "voice quality"
FORMANTS = "formants (articulation)"
SPECTRUM = "spectral balance & MFCC"
OTHER = "other"

#: Every group in display order; OTHER collects names no pattern knows (e.g. learned embeddings).
CUE_GROUPS = (PITCH_LEVEL, PITCH_VARIATION, LOUDNESS, RATE, VOICE_QUALITY, FORMANTS, SPECTRUM, OTHER)

# Names from the `egemaps` (openSMILE eGeMAPSv02), `prosody` and `<frame>-stats` extractors.
_TABLE: tuple[tuple[str, str], ...] = (
    # Rates and timing first: "loudnessPeaksPerSec" is a syllable-rate proxy, not loudness.
    (RATE, r"PerSec$|SegmentLength|^duration_s$|^voiced_ratio$|syllable_rate|articulation_rate|^pause_"),
    # Pitch: spread, slopes and ranges are variability; means, percentiles and extremes are level.
    (PITCH_VARIATION, r"^F0.*(stddevNorm|pctlrange|Slope)|^f0_(hz|st)_(std|range|slope)$"),
    (PITCH_LEVEL, r"^F0|^f0_(hz|st)_"),
    (LOUDNESS, r"^loudness|equivalentSoundLevel|^intensity_db_|^rms_dbfs$|^energy|^rms"),
    # Periodicity perturbation, noise and the source-spectrum tilt measures of eGeMAPS.
    (
        VOICE_QUALITY,
        r"jitter|shimmer|HNR|hnr_db|H1-H2|H1-A3|alphaRatio|hammarberg|^slope(V|UV)",
    ),
    (FORMANTS, r"^F[1-3](frequency|bandwidth|amplitude)"),
    (SPECTRUM, r"mfcc|spectralFlux|^logmel_|^contrast_|^chroma_|^spectral"),
)
_COMPILED = tuple((group, re.compile(pattern, re.IGNORECASE)) for group, pattern in _TABLE)


def cue_group(feature_name: str) -> str:
    """The cue group of one feature name (:data:`OTHER` when no pattern matches)."""
    for group, pattern in _COMPILED:
        if pattern.search(feature_name):
            return group
    return OTHER


def group_features(feature_names: Sequence[str]) -> dict[str, list[int]]:
    """Group name -> indices of its features, groups in :data:`CUE_GROUPS` order, empty ones left out.

    Every index appears in exactly one group, so group sums add up to the total attribution.
    """
    members: dict[str, list[int]] = {group: [] for group in CUE_GROUPS}
    for index, name in enumerate(feature_names):
        members[cue_group(name)].append(index)
    return {group: indices for group, indices in members.items() if indices}
