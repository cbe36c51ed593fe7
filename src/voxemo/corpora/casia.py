"""CASIA Chinese emotional speech (public subset): 4 speakers, 6 emotions, Mandarin.

Layout ``<speaker>/<emotion>/NNN.wav|flac``: the label is the emotion folder name (angry, fear,
happy, neutral, sad, surprise), NNN the text number. Genders of the four public speakers:
liuchanhg and zhaoquanyin female, wangzhe and ZhaoZuoxiang male; any other speaker folder
loads with gender ``unknown``.
"""

from __future__ import annotations

from typing import Any

from voxemo.corpora import labels
from voxemo.corpora.base import FEMALE, MALE, UNKNOWN, CorpusLoader, register_corpus

GENDERS = {"liuchanhg": FEMALE, "zhaoquanyin": FEMALE, "wangzhe": MALE, "ZhaoZuoxiang": MALE}


@register_corpus("casia")
class CasiaLoader(CorpusLoader):
    language = "zh"
    description = "CASIA Chinese emotional speech, public subset: 4 speakers, 6 emotions, Mandarin"
    layout = "<speaker>/<emotion>/NNN.wav|flac with emotion in angry, fear, happy, neutral, sad, surprise"
    label_map = labels.CASIA
    max_depth = 3

    def parse(self, parts: tuple[str, ...], stem: str) -> dict[str, Any] | None:
        if len(parts) != 3:
            return None
        speaker, emotion = parts[0], parts[1].lower()
        if emotion not in labels.CASIA:
            return None
        return {
            "speaker": speaker,
            "gender": GENDERS.get(speaker, UNKNOWN),
            "label_raw": emotion,
            "label_code": parts[1],
            "sentence": stem,
        }
