"""RAVDESS speech (Livingstone & Russo 2018): 24 actors, 8 emotions, English.

Layout ``Actor_XX/MM-VV-EE-II-SS-RR-AA.wav|flac``; every label sits in the file name:
modality MM (03 = audio only), vocal channel VV (01 = speech, 02 = song), emotion EE (01..08:
neutral, calm, happy, sad, angry, fearful, disgust, surprised), intensity II (01 normal,
02 strong), statement SS (01 "Kids are talking by the door", 02 "Dogs are sitting by the door"),
repetition RR and actor AA (odd male, even female). Only audio-only speech files are loaded;
song and video files are skipped with a warning.
"""

from __future__ import annotations

import re
from typing import Any

from voxemo.corpora import labels
from voxemo.corpora.base import FEMALE, MALE, CorpusLoader, register_corpus

_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
_INTENSITY = {"01": "normal", "02": "strong"}
_STATEMENT = {"01": "kids", "02": "dogs"}
_AUDIO_ONLY, _SPEECH = "03", "01"


@register_corpus("ravdess")
class RavdessLoader(CorpusLoader):
    language = "en"
    description = "RAVDESS speech: 24 actors (12 male, 12 female), 8 emotions, 2 intensities, English"
    layout = "Actor_XX/03-01-EE-II-SS-RR-AA.wav|flac"
    label_map = labels.RAVDESS
    max_depth = 3  # Actor_XX/file, also tolerating one wrapper folder

    def parse(self, parts: tuple[str, ...], stem: str) -> dict[str, Any] | None:
        match = _NAME.match(stem)
        if match is None:
            return None
        modality, channel, emotion, intensity, statement, repetition, actor = match.groups()
        if modality != _AUDIO_ONLY or channel != _SPEECH or emotion not in labels.RAVDESS_CODES:
            return None
        if intensity not in _INTENSITY or statement not in _STATEMENT or actor == "00":
            return None
        return {
            "speaker": actor,
            "gender": MALE if int(actor) % 2 else FEMALE,
            "label_raw": labels.RAVDESS_CODES[emotion],
            "label_code": emotion,
            "intensity": _INTENSITY[intensity],
            "statement": _STATEMENT[statement],
            "repetition": int(repetition),
            "key": stem,
        }
