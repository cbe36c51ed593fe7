"""CREMA-D (Cao et al. 2014): 91 actors, 6 emotions, 12 sentences, English.

Layout ``AudioWAV/AAAA_SSS_EEE_LL.wav|flac`` (or the files directly under the root): actor AAAA
(1001..1091), sentence code SSS (e.g. DFA "Don't forget a jacket"), emotion EEE (ANG, DIS, FEA,
HAP, NEU, SAD) and level LL (LO, MD, HI, XX unspecified). Labels are the intended (acted)
emotions, not the crowd-sourced perceived ones. Gender comes from ``VideoDemographics.csv``
(columns ActorID, Sex) in the root when present, otherwise it is ``unknown``.
"""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path
from typing import Any

from voxemo.corpora import labels
from voxemo.corpora.base import FEMALE, MALE, UNKNOWN, CorpusLoader, register_corpus
from voxemo.errors import CorpusError

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_(ANG|DIS|FEA|HAP|NEU|SAD)_(LO|MD|HI|XX|X)$", re.IGNORECASE)
_LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified", "X": "unspecified"}
_SEX = {"male": MALE, "female": FEMALE}
DEMOGRAPHICS = "VideoDemographics.csv"


@register_corpus("cremad")
class CremadLoader(CorpusLoader):
    language = "en"
    description = "CREMA-D: 91 actors (48 male, 43 female), 6 emotions, 4 intensity levels, English"
    layout = "AudioWAV/1001_DFA_ANG_XX.wav|flac (+ optional VideoDemographics.csv for gender)"
    label_map = labels.CREMAD
    max_depth = 1

    def __init__(self) -> None:
        self._genders: dict[str, str] = {}

    def audio_root(self, root: Path) -> Path:
        nested = root / "AudioWAV"
        return nested if nested.is_dir() else root

    def scan(self, root: Path) -> tuple[list[dict[str, Any]], list[str]]:
        self._genders = read_demographics(root / DEMOGRAPHICS)
        return super().scan(root)

    def parse(self, parts: tuple[str, ...], stem: str) -> dict[str, Any] | None:
        match = _NAME.match(stem)
        if match is None:
            return None
        actor, sentence, emotion, level = (group.upper() for group in match.groups())
        return {
            "speaker": actor,
            "gender": self._genders.get(actor, UNKNOWN),
            "label_raw": labels.CREMAD_CODES[emotion],
            "label_code": emotion,
            "sentence": sentence,
            "level": _LEVELS[level],
            "key": stem.upper(),
        }


def read_demographics(path: Path) -> dict[str, str]:
    """Actor id -> gender from CREMA-D's ``VideoDemographics.csv``; empty when the file is absent."""
    if not path.is_file():
        logger.info("cremad: %s not found; gender will be 'unknown'", path)
        return {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        fields = {name.strip() for name in reader.fieldnames or []}
        if not {"ActorID", "Sex"} <= fields:
            raise CorpusError(
                f"{path} lacks the columns ActorID and Sex (has: {', '.join(sorted(fields))}); "
                "use the file shipped with CREMA-D or remove it"
            )
        rows = [{key.strip(): (value or "").strip() for key, value in row.items() if key} for row in reader]
    return {row["ActorID"]: _SEX.get(row["Sex"].lower(), UNKNOWN) for row in rows}
