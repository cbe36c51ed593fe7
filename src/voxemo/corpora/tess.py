"""TESS, Toronto emotional speech set (Dupuis & Pichora-Fuller 2010): 2 speakers, 7 emotions, English.

Layout ``<SPK>_<emotion>/<SPK>_<word>_<emotion>.wav|flac`` (e.g. ``OAF_angry/OAF_back_angry.wav``);
the label is the last name field: angry, disgust, fear, happy, neutral, sad, ps (pleasant
surprise -> surprise). Speakers OAF (older, 64 years) and YAF (younger, 26 years), both female,
each saying "Say the word _" with 200 target words. Folder names vary between copies
(``OAF_Pleasant_surprise``, ``YAF_pleasant_surprised``), so only the file name is read.
"""

from __future__ import annotations

import re
from typing import Any

from voxemo.corpora import labels
from voxemo.corpora.base import FEMALE, CorpusLoader, register_corpus

_NAME = re.compile(r"^(OAF|YAF)_([a-z]+)_(angry|disgust|fear|happy|neutral|sad|ps)$", re.IGNORECASE)


@register_corpus("tess")
class TessLoader(CorpusLoader):
    language = "en"
    description = "TESS: 2 female speakers (OAF older, YAF younger), 7 emotions, 200 words, English"
    layout = "<SPK>_<emotion>/<SPK>_<word>_<emotion>.wav|flac, e.g. OAF_angry/OAF_back_angry.wav"
    label_map = labels.TESS
    max_depth = 3

    def parse(self, parts: tuple[str, ...], stem: str) -> dict[str, Any] | None:
        match = _NAME.match(stem)
        if match is None:
            return None
        speaker, word, emotion = match.group(1).upper(), match.group(2).lower(), match.group(3).lower()
        return {
            "speaker": speaker,
            "gender": FEMALE,
            "label_raw": labels.TESS_CODES[emotion],
            "label_code": emotion,
            "word": word,
            "key": f"{speaker}_{word}_{emotion}",
        }
