"""Berlin EmoDB (Burkhardt et al. 2005): 10 actors, 7 emotions, German.

File names ``SSTTTEV``: speaker SS (03, 08..16), text code TTT (a01..b10), emotion letter E
(W anger, L boredom, E disgust, A fear, F happiness, T sadness, N neutral), version V.
The corpus ships its audio in ``wav/``; a flat folder of the same files loads too.
Genders come from the corpus documentation: male 03, 10, 11, 12, 15; female 08, 09, 13, 14, 16.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from voxemo.corpora import labels
from voxemo.corpora.base import FEMALE, MALE, UNKNOWN, CorpusLoader, register_corpus

_NAME = re.compile(r"^(\d\d)([ab]\d\d)([WLEAFTN])([a-z])$")
GENDERS = {
    **dict.fromkeys(("03", "10", "11", "12", "15"), MALE),
    **dict.fromkeys(("08", "09", "13", "14", "16"), FEMALE),
}


@register_corpus("emodb")
class EmodbLoader(CorpusLoader):
    language = "de"
    description = "Berlin EmoDB: 10 actors (5 male, 5 female), 7 emotions incl. boredom, German"
    layout = "wav/SSTTTEV.wav|flac (or the same files directly under the root)"
    label_map = labels.EMODB
    max_depth = 1  # files sit directly in wav/ (or in the root)

    def audio_root(self, root: Path) -> Path:
        nested = root / "wav"
        return nested if nested.is_dir() else root

    def parse(self, parts: tuple[str, ...], stem: str) -> dict[str, Any] | None:
        match = _NAME.match(stem)
        if match is None:
            return None
        speaker, text, emotion, version = match.groups()
        return {
            "speaker": speaker,
            "gender": GENDERS.get(speaker, UNKNOWN),
            "label_raw": labels.EMODB_CODES[emotion],
            "label_code": emotion,
            "text": text,
            "version": version,
            "key": stem,
        }
