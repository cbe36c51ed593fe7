"""EMOVO (Costantini et al. 2014): 6 actors, 7 emotions, Italian.

Layout ``<speaker>/<emo>-<speaker>-<sentence>.wav|flac`` with emo in dis (disgust), gio (joy),
neu (neutral), pau (fear), rab (anger), sor (surprise), tri (sadness); speakers f1..f3 female,
m1..m3 male; sentence codes b1..b3, d1, d2, l1..l4, n1..n5.
"""

from __future__ import annotations

import re
from typing import Any

from voxemo.corpora import labels
from voxemo.corpora.base import FEMALE, MALE, CorpusLoader, register_corpus

_NAME = re.compile(r"^(dis|gio|neu|pau|rab|sor|tri)-([fm]\d+)-([a-z]+\d+)$", re.IGNORECASE)


@register_corpus("emovo")
class EmovoLoader(CorpusLoader):
    language = "it"
    description = "EMOVO: 6 actors (3 male, 3 female), 7 emotions, Italian"
    layout = "<speaker>/<emo>-<speaker>-<sentence>.wav|flac, e.g. f1/rab-f1-b1.wav"
    label_map = labels.EMOVO
    max_depth = 3

    def parse(self, parts: tuple[str, ...], stem: str) -> dict[str, Any] | None:
        match = _NAME.match(stem)
        if match is None:
            return None
        emotion, speaker, sentence = (group.lower() for group in match.groups())
        return {
            "speaker": speaker,
            "gender": FEMALE if speaker.startswith("f") else MALE,
            "label_raw": labels.EMOVO_CODES[emotion],
            "label_code": emotion,
            "sentence": sentence,
            "key": stem.lower(),
        }
